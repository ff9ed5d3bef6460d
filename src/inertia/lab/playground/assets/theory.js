// Theory on a quadratic with curvatures lmin..lmax (Goh 2017, "Why Momentum Really Works"):
// stability limits, the optimal step and momentum, and the predicted linear rate of a run,
// beside the rate measured on the run drawn on screen.
"use strict";
(function (root) {
  // Spectral radius of the 2x2 companion matrix of z^2 - b z + c = 0.
  function rootRadius(b, c) {
    const disc = b * b - 4 * c;
    if (disc >= 0) {
      const s = Math.sqrt(disc);
      return Math.max(Math.abs((b + s) / 2), Math.abs((b - s) / 2));
    }
    return Math.sqrt(Math.abs(c));
  }

  // Rate of one eigen-direction with curvature lam for the rule `name`.
  function modeRate(name, lr, mu, lam) {
    if (name === "sgd") return Math.abs(1 - lr * lam);
    if (name === "momentum") return rootRadius(1 + mu - lr * lam, mu);
    if (name === "nesterov") return rootRadius((1 + mu) * (1 - lr * lam), mu * (1 - lr * lam));
    return NaN;
  }

  function predictedRate(name, hp, q) {
    const mu = name === "sgd" ? 0 : hp.mu;
    return Math.max(modeRate(name, hp.lr, mu, q.lmax), modeRate(name, hp.lr, mu, q.lmin));
  }

  function limits(q, mu) {
    const sk = Math.sqrt(q.lmax / q.lmin);
    return {
      gd: 2 / q.lmax,
      momentum: 2 * (1 + mu) / q.lmax,
      nesterov: 2 * (1 + mu) / ((1 + 2 * mu) * q.lmax),
      gdOptimalLr: 2 / (q.lmax + q.lmin),
      gdOptimalRate: (q.lmax - q.lmin) / (q.lmax + q.lmin),
      gohLr: Math.pow(2 / (Math.sqrt(q.lmax) + Math.sqrt(q.lmin)), 2),
      gohMu: Math.pow((sk - 1) / (sk + 1), 2),
      gohRate: (sk - 1) / (sk + 1),
    };
  }

  // Measured rate: (|x_T - x*| / |x_T/2 - x*|)^(1 / (T - T/2)), the geometric mean contraction per
  // step over the second half of the run (x* = 0 on the valley).
  function measuredRate(xs) {
    const T = xs.length - 1, half = Math.floor(T / 2);
    if (T < 2) return NaN;
    const dist = (p) => Math.hypot(p[0], p[1]);
    const a = dist(xs[half]), b = dist(xs[T]);
    if (!(a > 0) || !Number.isFinite(b)) return NaN;
    return Math.pow(b / a, 1 / (T - half));
  }

  root.InertiaTheory = {limits, predictedRate, measuredRate, modeRate};
})(typeof window !== "undefined" ? window : globalThis);
