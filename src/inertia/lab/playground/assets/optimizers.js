// The 2-D update rules of inertia (inertia/rules/*.py, inertia/second_order) in float64.
// Each rule keeps the operation order of the Python rule (torch's lerp, addcmul and addcdiv),
// so that a run here matches the library's run from the same start to rounding. Every step makes new
// state arrays, so the states recorded per step are never changed afterwards.
"use strict";
(function (root) {
  const DEFAULTS = {
    sgd: {lr: 0.1},
    momentum: {lr: 0.1, mu: 0.9},
    nesterov: {lr: 0.1, mu: 0.9},
    adagrad: {lr: 0.5, eps: 1e-10},
    rmsprop: {lr: 0.05, alpha: 0.99, eps: 1e-8},
    adam: {lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, bias_correction: 1},
    adamw: {lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01, bias_correction: 1},
    lbfgs: {lr: 1.0, history: 10},
    newton: {lr: 1.0, damping: 0.0},
  };
  const NAMES = Object.keys(DEFAULTS);

  function lerp(a, b, w) {  // torch.lerp: a + w (b - a) for |w| < 0.5, else b - (b - a)(1 - w)
    return Math.abs(w) < 0.5 ? a + w * (b - a) : b - (b - a) * (1 - w);
  }

  function sgdStep(s, x, g, hp, t) {
    if (!hp.mu) return {x: x.map((xi, i) => xi + (-hp.lr) * g[i])};
    s.buf = t === 1 ? g.slice() : s.buf.map((b, i) => b * hp.mu + g[i]);
    const dir = s.nesterov ? g.map((gi, i) => gi + hp.mu * s.buf[i]) : s.buf;
    return {x: x.map((xi, i) => xi + (-hp.lr) * dir[i]), state: {velocity: s.buf}};
  }

  function adagradStep(s, x, g, hp) {
    s.sum = (s.sum || [0, 0]).map((v, i) => v + 1 * g[i] * g[i]);
    const std = s.sum.map((v) => Math.sqrt(v) + hp.eps);
    return {x: x.map((xi, i) => xi + (-hp.lr) * g[i] / std[i]), state: {cache: s.sum}};
  }

  function rmspropStep(s, x, g, hp) {
    s.sq = (s.sq || [0, 0]).map((v, i) => v * hp.alpha + (1 - hp.alpha) * g[i] * g[i]);
    const avg = s.sq.map((v) => Math.sqrt(v) + hp.eps);
    return {x: x.map((xi, i) => xi + (-hp.lr) * g[i] / avg[i]), state: {cache: s.sq}};
  }

  function adamStep(s, x, g, hp, t, decoupled) {
    if (decoupled && hp.weight_decay) x = x.map((xi) => xi * (1 - hp.lr * hp.weight_decay));
    s.m = (s.m || [0, 0]).map((m, i) => lerp(m, g[i], 1 - hp.beta1));
    s.v = (s.v || [0, 0]).map((v, i) => v * hp.beta2 + (1 - hp.beta2) * g[i] * g[i]);
    const bc = Number(hp.bias_correction) !== 0;
    const bc1 = bc ? 1 - Math.pow(hp.beta1, t) : 1.0, bc2 = bc ? 1 - Math.pow(hp.beta2, t) : 1.0;
    const stepSize = hp.lr / bc1, bc2Sqrt = Math.pow(bc2, 0.5);
    const denom = s.v.map((v) => Math.sqrt(v) / bc2Sqrt + hp.eps);
    return {x: x.map((xi, i) => xi + (-stepSize) * s.m[i] / denom[i]),
      state: {velocity: s.m, cache: s.v}};
  }

  const dot = (a, b) => a[0] * b[0] + a[1] * b[1];
  const TOLERANCE_GRAD = 1e-7, TOLERANCE_CHANGE = 1e-9;

  // inertia.LBFGS(line_search=None, max_iter=1): one iteration per step() call.
  function lbfgsDirection(s, g, hp) {
    const restart = s.restart; s.restart = false;
    if (restart || s.nIter === 1 || !s.d) {
      s.dirs = []; s.stps = []; s.ro = []; s.hDiag = 1;
      return g.map((v) => -v);
    }
    const y = g.map((v, i) => v - s.prevGrad[i]), st = s.d.map((v) => v * s.t), ys = dot(y, st);
    if (ys > 1e-10) {
      if (s.dirs.length === hp.history) { s.dirs.shift(); s.stps.shift(); s.ro.shift(); }
      s.dirs.push(y); s.stps.push(st); s.ro.push(1.0 / ys);
      s.hDiag = ys / dot(y, y);
    }
    const alphas = new Array(s.dirs.length);
    let q = g.map((v) => -v);
    for (let i = s.dirs.length - 1; i >= 0; i--) {
      alphas[i] = dot(s.stps[i], q) * s.ro[i];
      q = q.map((v, j) => v + (-alphas[i]) * s.dirs[i][j]);
    }
    let r = q.map((v) => v * s.hDiag);
    for (let i = 0; i < s.dirs.length; i++) {
      const beta = dot(s.dirs[i], r) * s.ro[i];
      r = r.map((v, j) => v + (alphas[i] - beta) * s.stps[i][j]);
    }
    return r;
  }

  function lbfgsStep(s, x, g, hp, t, loss) {
    const stay = {x, state: {memory: [s.dirs ? s.dirs.length : 0, 0]}};
    if (!Number.isFinite(loss) || !g.every(Number.isFinite)) return stay;
    if (Math.max(Math.abs(g[0]), Math.abs(g[1])) <= TOLERANCE_GRAD) return stay;
    s.nIter = (s.nIter || 0) + 1;
    const fresh = s.restart || s.nIter === 1;
    const d = lbfgsDirection(s, g, hp), gtd = dot(g, d);
    if (!(gtd < 0.0)) { if (!fresh) s.restart = true; return stay; }
    if (gtd > -TOLERANCE_CHANGE) return stay;
    s.prevGrad = g;
    const step = fresh ? Math.min(1.0, 1.0 / (Math.abs(g[0]) + Math.abs(g[1]))) * hp.lr : hp.lr;
    s.d = d; s.t = step;
    return {x: x.map((xi, i) => xi + step * d[i]), state: {memory: [s.dirs.length, s.hDiag]}};
  }

  // inertia.Newton(mode="exact", trust_region=False): x <- x + lr d, (H + damping I) d = -g (LU, pivoting).
  function solve2(h, lam, g) {
    let a = h[0] + lam, b = h[1], c = h[1], e = h[2] + lam, r0 = -g[0], r1 = -g[1];
    if (Math.abs(c) > Math.abs(a)) { [a, b, c, e, r0, r1] = [c, e, a, b, r1, r0]; }
    if (a === 0) return null;
    const l = c * (1 / a), u = e - l * b;
    if (u === 0) return null;
    const x1 = (r1 - l * r0) / u;
    return [(r0 - x1 * b) / a, x1];
  }

  function newtonStep(s, x, g, hp, t, loss, hessian) {
    const h = hessian(x[0], x[1]);
    const stay = {x, state: {curvature: eig2(h)}};
    if (!Number.isFinite(loss) || !g.every(Number.isFinite)) return stay;
    if (Math.max(Math.abs(g[0]), Math.abs(g[1])) <= TOLERANCE_GRAD) return stay;
    const d = solve2(h, hp.damping, g);
    if (d === null || !d.every(Number.isFinite)) return stay;
    return {x: x.map((xi, i) => xi + hp.lr * d[i]), state: {curvature: eig2(h)}};
  }

  function eig2(h) {  // eigenvalues of the symmetric [[h0, h1], [h1, h2]], descending
    const mean = 0.5 * (h[0] + h[2]), radius = Math.hypot(0.5 * (h[0] - h[2]), h[1]);
    return [mean + radius, mean - radius];
  }

  const STEPS = {
    sgd: sgdStep, momentum: sgdStep, nesterov: sgdStep, adagrad: adagradStep, rmsprop: rmspropStep,
    adam: (s, x, g, hp, t) => adamStep(s, x, g, hp, t, false),
    adamw: (s, x, g, hp, t) => adamStep(s, x, g, hp, t, true),
    lbfgs: lbfgsStep, newton: newtonStep,
  };

  // Run `name` with hyperparameters `hp` from `start` for `steps` steps on surface `surf`
  // (an entry of InertiaSurfaces) with params `p`; `noise[t]` (optional) is added to gradient t.
  function run(name, hp, surf, p, start, steps, noise) {
    const full = Object.assign({}, DEFAULTS[name], hp);
    const rule = name === "sgd" ? Object.assign({}, full, {mu: 0}) : full;
    const s = {nesterov: name === "nesterov"};
    const xs = [start.slice()], losses = [surf.f(start[0], start[1], p)], grads = [], states = [];
    const hessian = (a, b) => surf.hess(a, b, p);
    let x = start.slice();
    for (let t = 1; t <= steps; t++) {
      let g = surf.grad(x[0], x[1], p);
      if (noise) g = [g[0] + noise[t - 1][0], g[1] + noise[t - 1][1]];
      const out = STEPS[name](s, x, g, rule, t, losses[losses.length - 1], hessian);
      x = out.x;
      xs.push(x);
      grads.push(g);
      states.push(out.state || {});
      losses.push(surf.f(x[0], x[1], p));
    }
    return {xs, losses, grads, states, hp: full};
  }

  // Deterministic standard normal pairs (mulberry32 + Box-Muller): the same seed, the same noise.
  function normalPairs(seed, count) {
    let a = seed >>> 0;
    const uniform = () => {
      a = (a + 0x6D2B79F5) >>> 0;
      let r = Math.imul(a ^ (a >>> 15), 1 | a);
      r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
      return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
    };
    const out = [];
    for (let i = 0; i < count; i++) {
      const u1 = 1 - uniform(), u2 = uniform(), radius = Math.sqrt(-2 * Math.log(u1));
      out.push([radius * Math.cos(2 * Math.PI * u2), radius * Math.sin(2 * Math.PI * u2)]);
    }
    return out;
  }

  root.InertiaOptim = {DEFAULTS, NAMES, run, normalPairs, eig2};
})(typeof window !== "undefined" ? window : globalThis);
