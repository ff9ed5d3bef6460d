// The playground's view as plain data, and its URL hash: a URL reproduces a view exactly.
// Hash: #surface=valley&kappa=25&angle_deg=0&sigma=0&seed=1&x=-8&y=2&run1=adam,lr:0.1,steps:100&run2=...
"use strict";
(function (root) {
  const MAX_RUNS = 4;
  const ADAPTIVE = ["adagrad", "rmsprop", "adam", "adamw"];

  function defaultRun(config, surface, opt) {
    const rates = config.surfaces[surface].lr;
    const lr = ADAPTIVE.includes(opt) ? rates.adaptive : ["lbfgs", "newton"].includes(opt) ? 1.0 : rates.sgd;
    return {opt, hp: Object.assign({}, root.InertiaOptim.DEFAULTS[opt], {lr}), steps: 100};
  }

  function defaultState(config, surface, opts) {
    const info = config.surfaces[surface];
    return {
      surface, params: Object.assign({}, info.params), sigma: 0, seed: 1, start: info.start.slice(),
      runs: (opts || ["momentum", "adam"]).map((opt) => defaultRun(config, surface, opt)),
    };
  }

  function encodeRun(run) {
    const keys = Object.keys(run.hp).sort();
    return [run.opt, ...keys.map((k) => `${k}:${run.hp[k]}`), `steps:${run.steps}`].join(",");
  }

  function encode(state) {
    const parts = [["surface", state.surface]];
    for (const k of Object.keys(state.params).sort()) parts.push([k, String(state.params[k])]);
    parts.push(["sigma", String(state.sigma)], ["seed", String(state.seed)],
      ["x", String(state.start[0])], ["y", String(state.start[1])]);
    state.runs.forEach((run, i) => parts.push([`run${i + 1}`, encodeRun(run)]));
    return "#" + parts.map(([k, v]) => `${k}=${encodeURIComponent(v).replace(/%2C/g, ",").replace(/%3A/g, ":")}`)
      .join("&");
  }

  function number(text, fallback) {
    const v = Number(text);
    return text !== undefined && text !== "" && Number.isFinite(v) ? v : fallback;
  }

  function decodeRun(config, surface, text) {
    const [opt, ...pairs] = text.split(",");
    if (!(opt in root.InertiaOptim.DEFAULTS)) return null;
    const run = defaultRun(config, surface, opt);
    for (const pair of pairs) {
      const [k, v] = pair.split(":");
      if (k === "steps") run.steps = Math.max(1, Math.min(1000, Math.round(number(v, run.steps))));
      else if (k in run.hp) run.hp[k] = number(v, run.hp[k]);
    }
    return run;
  }

  // The state of `hash`; anything missing or unreadable takes its default.
  function decode(config, hash) {
    const query = new URLSearchParams((hash || "").replace(/^#/, ""));
    const surface = config.surfaces[query.get("surface")] ? query.get("surface") : "valley";
    const state = defaultState(config, surface);
    for (const k of Object.keys(state.params)) state.params[k] = number(query.get(k) ?? undefined, state.params[k]);
    state.sigma = Math.max(0, number(query.get("sigma") ?? undefined, 0));
    state.seed = Math.round(number(query.get("seed") ?? undefined, 1));
    state.start = [number(query.get("x") ?? undefined, state.start[0]), number(query.get("y") ?? undefined, state.start[1])];
    const runs = [];
    for (let i = 1; i <= MAX_RUNS; i++) {
      const text = query.get(`run${i}`);
      const run = text ? decodeRun(config, surface, text) : null;
      if (run) runs.push(run);
    }
    if (runs.length || query.has("surface")) state.runs = runs;
    return state;
  }

  root.InertiaState = {MAX_RUNS, defaultState, defaultRun, encode, decode};
})(typeof window !== "undefined" ? window : globalThis);
