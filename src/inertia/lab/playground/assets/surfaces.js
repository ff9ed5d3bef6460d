// The 2-D surfaces of `inertia problems` in float64: value, closed-form gradient and Hessian.
// Each expression follows the operation order of inertia/problems/surfaces.py, so that the
// page's gradients equal the library's to the last bit or two.
"use strict";
(function (root) {
  const TWO_PI = 2.0 * Math.PI;
  const RADIANS = Math.PI / 180.0;

  function valleyAxes(p) {
    const a = p.angle_deg * RADIANS;
    return [Math.cos(a), Math.sin(a)];
  }

  function wellTerms(x, y, cx, cy, width) {
    const dx = x - cx, dy = y - cy;
    return Math.exp(-(dx * dx + dy * dy) / (2.0 * (width * width)));
  }

  // narrow_wide: centres, widths and depths of inertia/problems/_stationary.py
  const WELLS = [[1.5, 0.0, 0.2, 2.0], [-1.5, 0.0, 1.0, 1.0]];
  const BOWL = 0.05;

  function beale(x, y) {
    const cs = [1.5, 2.25, 2.625];
    let f = 0.0, gx = 0.0, gy = 0.0, hxx = 0.0, hxy = 0.0, hyy = 0.0;
    for (let k = 0; k < 3; k++) {
      const yk1 = Math.pow(y, k + 1), yk = Math.pow(y, k);
      const t = cs[k] - x + x * yk1;
      f += t * t;
      const a = yk1 - 1.0, b = (k + 1) * x * yk;
      gx = gx + 2.0 * t * a;
      gy = gy + 2.0 * t * (k + 1) * x * yk;
      hxx += 2.0 * a * a;
      hxy += 2.0 * (b * a + t * (k + 1) * yk);
      hyy += 2.0 * (b * b + (k > 0 ? t * (k + 1) * k * x * Math.pow(y, k - 1) : 0.0));
    }
    return {f, g: [gx, gy], h: [hxx, hxy, hyy]};
  }

  const SURFACES = {
    valley: {
      f(x, y, p) {
        const [c, s] = valleyAxes(p), u = c * x + s * y, v = -s * x + c * y;
        return 0.5 * (u * u / p.kappa + v * v);
      },
      grad(x, y, p) {
        const [c, s] = valleyAxes(p), u = c * x + s * y, v = -s * x + c * y;
        const du = u / p.kappa, dv = v;
        return [c * du - s * dv, s * du + c * dv];
      },
      hess(x, y, p) {
        const [c, s] = valleyAxes(p), k = p.kappa;
        return [c * c / k + s * s, c * s / k - c * s, s * s / k + c * c];
      },
      quadratic(p) { return {lmax: Math.max(1.0, 1.0 / p.kappa), lmin: Math.min(1.0, 1.0 / p.kappa)}; },
    },
    long_valley: {
      f: (x, y) => Math.sqrt(1.0 + x * x) - 1.0 + 5.0 * (y * y),
      grad: (x, y) => [x / Math.sqrt(1.0 + x * x), 10.0 * y],
      hess: (x) => [1.0 / Math.pow(1.0 + x * x, 1.5), 0.0, 10.0],
    },
    rosenbrock: {
      f(x, y, p) { const r = y - x * x; return (p.a - x) * (p.a - x) + p.b * (r * r); },
      grad(x, y, p) { const r = y - x * x; return [-2.0 * (p.a - x) - 4.0 * p.b * x * r, 2.0 * p.b * r]; },
      hess(x, y, p) { return [2.0 - 4.0 * p.b * (y - x * x) + 8.0 * p.b * x * x, -4.0 * p.b * x, 2.0 * p.b]; },
      minima: (p) => [[p.a, p.a * p.a]],
    },
    beale: {f: (x, y) => beale(x, y).f, grad: (x, y) => beale(x, y).g, hess: (x, y) => beale(x, y).h},
    saddle: saddleOf(0.0),
    saddle_bounded: saddleOf(1.0),
    monkey_saddle: monkeyOf(0.0),
    monkey_saddle_bounded: monkeyOf(1.0),
    rastrigin: {
      f(x, y, p) {
        const A = p.amplitude;
        return 2.0 * A + x * x + y * y - A * (Math.cos(TWO_PI * x) + Math.cos(TWO_PI * y));
      },
      grad(x, y, p) {
        const c = TWO_PI * p.amplitude;
        return [2.0 * x + c * Math.sin(TWO_PI * x), 2.0 * y + c * Math.sin(TWO_PI * y)];
      },
      hess(x, y, p) {
        const c = TWO_PI * TWO_PI * p.amplitude;
        return [2.0 + c * Math.cos(TWO_PI * x), 0.0, 2.0 + c * Math.cos(TWO_PI * y)];
      },
    },
    himmelblau: {
      f(x, y) { const a = x * x + y - 11.0, b = x + y * y - 7.0; return a * a + b * b; },
      grad(x, y) {
        const a = x * x + y - 11.0, b = x + y * y - 7.0;
        return [4.0 * x * a + 2.0 * b, 2.0 * a + 4.0 * y * b];
      },
      hess(x, y) {
        const a = x * x + y - 11.0, b = x + y * y - 7.0;
        return [4.0 * a + 8.0 * x * x + 2.0, 4.0 * x + 4.0 * y, 2.0 + 4.0 * b + 8.0 * y * y];
      },
    },
    narrow_wide: {
      f(x, y) {
        let f = BOWL * (x * x + y * y);
        for (const [cx, cy, w, depth] of WELLS) f -= depth * wellTerms(x, y, cx, cy, w);
        return f;
      },
      grad(x, y) {
        let gx = 2.0 * BOWL * x, gy = 2.0 * BOWL * y;
        for (const [cx, cy, w, depth] of WELLS) {
          const s = depth * wellTerms(x, y, cx, cy, w) / (w * w);
          gx = gx + s * (x - cx);
          gy = gy + s * (y - cy);
        }
        return [gx, gy];
      },
      hess(x, y) {
        let hxx = 2.0 * BOWL, hxy = 0.0, hyy = 2.0 * BOWL;
        for (const [cx, cy, w, depth] of WELLS) {
          const s = depth * wellTerms(x, y, cx, cy, w) / (w * w), dx = x - cx, dy = y - cy, w2 = w * w;
          hxx += s * (1.0 - dx * dx / w2);
          hxy -= s * dx * dy / w2;
          hyy += s * (1.0 - dy * dy / w2);
        }
        return [hxx, hxy, hyy];
      },
    },
    plateau: {
      f(x, y, p) { return 1.0 - Math.exp(-(x * x + y * y) / (2.0 * (p.width * p.width))); },
      grad(x, y, p) {
        const w2 = p.width * p.width, e = Math.exp(-(x * x + y * y) / (2.0 * w2)) / w2;
        return [x * e, y * e];
      },
      hess(x, y, p) {
        const w2 = p.width * p.width, e = Math.exp(-(x * x + y * y) / (2.0 * w2)) / w2;
        return [e * (1.0 - x * x / w2), -e * x * y / w2, e * (1.0 - y * y / w2)];
      },
    },
  };

  function saddleOf(q) {
    return {
      f: (x, y) => x * x - y * y + q * Math.pow(y, 4) / 4.0,
      grad: (x, y) => [2.0 * x, -2.0 * y + q * Math.pow(y, 3)],
      hess: (x, y) => [2.0, 0.0, -2.0 + 3.0 * q * y * y],
      quadratic: q === 0.0 ? () => ({lmax: 2.0, lmin: -2.0}) : undefined,
    };
  }

  function monkeyOf(q) {
    return {
      f(x, y) { const r2 = x * x + y * y; return Math.pow(x, 3) - 3.0 * x * (y * y) + q * (r2 * r2); },
      grad(x, y) {
        const r2 = 4.0 * q * (x * x + y * y);
        return [3.0 * (x * x) - 3.0 * (y * y) + r2 * x, -6.0 * x * y + r2 * y];
      },
      hess(x, y) {
        const r2 = 4.0 * q * (x * x + y * y);
        return [6.0 * x + r2 + 8.0 * q * x * x, -6.0 * y + 8.0 * q * x * y, -6.0 * x + r2 + 8.0 * q * y * y];
      },
    };
  }

  root.InertiaSurfaces = SURFACES;
})(typeof window !== "undefined" ? window : globalThis);
