// The playground: state -> runs -> drawing, the controls, the URL hash and a test interface.
"use strict";
(function (root) {
  const CONFIG = root.PLAYGROUND_CONFIG, STRINGS = root.PLAYGROUND_STRINGS;
  const {InertiaOptim: Optim, InertiaSurfaces: Surfaces, InertiaPlots: Plots, InertiaState: State,
    InertiaTheory: Theory, InertiaControls: Controls} = root;
  const T = (key) => STRINGS[key] ?? key;
  const $ = (id) => document.getElementById(id);
  let state = State.decode(CONFIG, location.hash);
  let background = null, backgroundKey = "", runs = [], lastRedrawMs = NaN;

  function noise() {
    const steps = Math.max(1, ...state.runs.map((r) => r.steps));
    if (!(state.sigma > 0)) return null;
    return Optim.normalPairs(state.seed, steps).map(([a, b]) => [state.sigma * a, state.sigma * b]);
  }

  function compute() {
    const surf = Surfaces[state.surface], n = noise();
    runs = state.runs.map((run) => Optim.run(run.opt, run.hp, surf, state.params, state.start, run.steps, n));
  }

  function draw() {
    const canvas = $("map"), info = CONFIG.surfaces[state.surface];
    const key = JSON.stringify([state.surface, state.params]);
    if (key !== backgroundKey) {
      background = Plots.contourImage(Surfaces[state.surface], state.params, info.window, canvas.width, canvas.height);
      backgroundKey = key;
    }
    const minima = Surfaces[state.surface].minima ? Surfaces[state.surface].minima(state.params) : info.minima;
    Plots.drawMap(canvas.getContext("2d"), background, info.window, minima, runs, state.start);
    const shift = lossShift(info.min_value ?? null), quad = theoryQuadratic();
    const lossSeries = runs.map((r, k) => ({values: r.losses.map((f) => f - shift), color: Plots.COLORS[k]}));
    if (quad) runs.forEach((r, k) => {
      const rate = Theory.predictedRate(state.runs[k].opt, r.hp, quad);
      if (Number.isFinite(rate)) lossSeries.push({values: r.losses.map((_, t) => r.losses[0] * rate ** (2 * t)),
        color: Plots.COLORS[k], dash: true});
    });
    const lossTitle = info.min_value === null ? `${T("plot.loss")} − (${Controls.show(shift)})` : T("plot.gap");
    Plots.linePlot($("loss").getContext("2d"), lossSeries, lossTitle, true);
    Plots.linePlot($("eff").getContext("2d"), effectiveSeries(), T("plot.effective"), true);
    drawStates();
    drawTheory(quad);
    document.querySelectorAll(".run-panel").forEach((el, k) => { el.style.borderColor = Plots.COLORS[k]; });
  }

  // Subtracted before the log plot: f* when known, else the lowest loss on screen less a hair.
  function lossShift(minValue) {
    if (minValue !== null) return minValue;
    let low = Infinity;
    for (const r of runs) for (const f of r.losses) if (Number.isFinite(f) && f < low) low = f;
    return Number.isFinite(low) ? low - Math.max(1e-12, Math.abs(low) * 1e-6) : 0;
  }

  function effectiveSeries() {
    const series = [];
    runs.forEach((r, k) => [0, 1].forEach((i) => series.push({
      values: r.grads.map((g, t) => Math.abs(r.xs[t + 1][i] - r.xs[t][i]) / Math.abs(g[i])),
      color: Plots.COLORS[k], dash: i === 1,
    })));
    return series;
  }

  function drawStates() {
    const holder = $("states");
    while (holder.children.length < runs.length) {
      const c = document.createElement("canvas"); c.width = 188; c.height = 110; holder.append(c);
    }
    while (holder.children.length > runs.length) holder.lastChild.remove();
    runs.forEach((r, k) => {
      const names = Object.keys(r.states.find((s) => Object.keys(s).length) || {});
      const series = [];
      names.forEach((name, j) => [0, 1].forEach((i) => series.push({
        values: r.states.map((s) => (s[name] ? Math.abs(s[name][i]) : NaN)),
        color: j === 0 ? Plots.COLORS[k] : "#666", dash: i === 1,
      })));
      const title = names.length ? names.map((n) => T(`state.${n}`)).join(" / ") : T("state.none");
      Plots.linePlot(holder.children[k].getContext("2d"), series, title, true);
    });
  }

  function theoryQuadratic() {
    const q = Surfaces[state.surface].quadratic;
    const spectrum = q ? q(state.params) : null;
    return spectrum && spectrum.lmin > 0 ? spectrum : null;
  }

  function drawTheory(quad) {
    const box = $("theory");
    if (!quad) { box.textContent = T("theory.none"); return; }
    const mom = state.runs.find((r) => r.opt === "momentum" || r.opt === "nesterov");
    const lim = Theory.limits(quad, mom ? mom.hp.mu : 0.9), f = Controls.show;
    const rows = [
      [T("theory.lambda"), `${f(quad.lmax)} / ${f(quad.lmin)}`],
      [T("theory.gd_limit"), f(lim.gd)],
      [T("theory.momentum_limit").replace("{mu}", f(mom ? mom.hp.mu : 0.9)), f(lim.momentum)],
      [T("theory.gd_optimal"), `α = ${f(lim.gdOptimalLr)}, ${T("theory.rate")} ${f(lim.gdOptimalRate)}`],
      [T("theory.goh"), `α* = ${f(lim.gohLr)}, β* = ${f(lim.gohMu)}, ${T("theory.rate")} ${f(lim.gohRate)}`],
    ];
    runs.forEach((r, k) => {
      const predicted = Theory.predictedRate(state.runs[k].opt, r.hp, quad);
      if (Number.isFinite(predicted)) rows.push([`${k + 1}. ${T("opt." + state.runs[k].opt)}`,
        `${T("theory.predicted")} ${f(predicted)}, ${T("theory.measured")} ${f(Theory.measuredRate(r.xs))}`]);
    });
    box.replaceChildren(...rows.map(([a, b]) => {
      const row = document.createElement("div"), name = document.createElement("span"), v = document.createElement("b");
      name.textContent = a + ": "; v.textContent = b; row.append(name, v); return row;
    }));
  }

  let hashTimer = null;
  function scheduleHash() {  // at most one history entry rewrite per 150 ms while a slider moves
    if (hashTimer !== null) return;
    hashTimer = setTimeout(() => { hashTimer = null; history.replaceState(null, "", State.encode(state)); }, 150);
  }

  function update() {
    const t0 = performance.now();
    compute();
    draw();
    scheduleHash();
    lastRedrawMs = performance.now() - t0;
  }

  function buildSurfaceControls() {
    const box = $("surface-controls");
    const names = Object.keys(CONFIG.surfaces).map((s) => [s, T("surface." + s)]);
    const chooser = Controls.select(names, state.surface, (s) => {
      state = Object.assign(State.defaultState(CONFIG, s, state.runs.map((r) => r.opt)), {sigma: state.sigma,
        seed: state.seed});
      rebuild();
    });
    chooser.id = "surface";
    const parts = [chooser];
    for (const name of Object.keys(state.params)) {
      parts.push(Controls.control(name, T("param." + name), state.params[name], (v) => { state.params[name] = v; update(); }));
    }
    parts.push(Controls.control("sigma", T("param.sigma"), state.sigma, (v) => { state.sigma = v; update(); }));
    parts.push(Controls.control("seed", T("param.seed"), state.seed, (v) => { state.seed = v; update(); }));
    box.replaceChildren(...parts);
  }

  function buildRunPanel(k) {
    const panel = document.createElement("div");
    panel.className = "run-panel";
    const run = state.runs[k];
    const options = [["", T("run.off")], ...Optim.NAMES.map((n) => [n, T("opt." + n)])];
    const chooser = Controls.select(options, run ? run.opt : "", (opt) => {
      if (!opt) state.runs.splice(k, 1);
      else state.runs[k] = Object.assign(State.defaultRun(CONFIG, state.surface, opt), {steps: run ? run.steps : 100});
      rebuild();
    });
    panel.append(chooser);
    if (!run) return panel;
    for (const name of Object.keys(run.hp)) {
      panel.append(Controls.control(name, T("param." + name), run.hp[name], (v) => { run.hp[name] = v; update(); }));
    }
    panel.append(Controls.control("steps", T("param.steps"), run.steps, (v) => { run.steps = v; update(); }));
    return panel;
  }

  function rebuild() {
    buildSurfaceControls();
    const panels = [];
    for (let k = 0; k < Math.min(State.MAX_RUNS, state.runs.length + 1); k++) panels.push(buildRunPanel(k));
    $("runs").replaceChildren(...panels);
    update();
  }

  function onMapClick(event) {
    const canvas = $("map"), rect = canvas.getBoundingClientRect(), info = CONFIG.surfaces[state.surface];
    const px = (event.clientX - rect.left) * canvas.width / rect.width;
    const py = (event.clientY - rect.top) * canvas.height / rect.height;
    state.start = Plots.toPoint(info.window, canvas.width, canvas.height, px, py).map((v) => Number(v.toPrecision(6)));
    update();
  }

  function init() {
    document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = T(el.dataset.t); });
    $("map").addEventListener("click", onMapClick);
    root.addEventListener("hashchange", () => {
      if (location.hash !== State.encode(state)) { state = State.decode(CONFIG, location.hash); rebuild(); }
    });
    rebuild();
    if (document.fonts) document.fonts.load("11px InertiaHangul", T("title")).then(draw, () => {});
  }

  // For tests and scripting: read and set the view, the runs drawn and the last redraw time.
  root.playground = {
    getState: () => JSON.parse(JSON.stringify(state)),
    setState(next) { state = JSON.parse(JSON.stringify(next)); rebuild(); },
    setHash(hash) { state = State.decode(CONFIG, hash); rebuild(); },
    hash: () => State.encode(state),
    runs: () => runs.map((r, k) => ({opt: state.runs[k].opt, hp: r.hp, xs: r.xs, losses: r.losses})),
    noise,
    lastRedrawMs: () => lastRedrawMs,
  };
  document.addEventListener("DOMContentLoaded", init);
})(window);
