// Canvas drawing: the contour map of a surface (cached as an image), trajectories, and small line plots.
"use strict";
(function (root) {
  const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e"];

  function toPixel(win, w, h, x, y) {
    return [(x - win[0][0]) / (win[0][1] - win[0][0]) * w, (1 - (y - win[1][0]) / (win[1][1] - win[1][0])) * h];
  }

  function toPoint(win, w, h, px, py) {
    return [win[0][0] + px / w * (win[0][1] - win[0][0]), win[1][0] + (1 - py / h) * (win[1][1] - win[1][0])];
  }

  // Banded contour map: quantile levels (denser near the minimum), band edges drawn dark.
  function contourImage(surf, params, win, w, h) {
    const z = new Float64Array(w * h);
    for (let j = 0; j < h; j++) {
      for (let i = 0; i < w; i++) {
        const [x, y] = toPoint(win, w, h, i + 0.5, j + 0.5);
        z[j * w + i] = surf.f(x, y, params);
      }
    }
    const sorted = Array.from(z).filter(Number.isFinite).sort((a, b) => a - b);
    const levels = [];
    for (let k = 1; k < 25; k++) levels.push(sorted[Math.floor((k / 25) ** 2 * (sorted.length - 1))]);
    const band = new Uint8Array(w * h);
    for (let p = 0; p < w * h; p++) {
      let b = 0;
      while (b < levels.length && z[p] > levels[b]) b++;
      band[p] = b;
    }
    const canvas = document.createElement("canvas");
    canvas.width = w; canvas.height = h;
    const ctx = canvas.getContext("2d"), img = ctx.createImageData(w, h);
    for (let p = 0; p < w * h; p++) {
      const edge = (p % w < w - 1 && band[p + 1] !== band[p]) || (p + w < w * h && band[p + w] !== band[p]);
      const shade = edge ? 120 : 255 - Math.round(band[p] * 4.2);
      img.data.set([shade, shade, edge ? shade : Math.min(255, shade + 6), 255], 4 * p);
    }
    ctx.putImageData(img, 0, 0);
    return canvas;
  }

  function drawMap(ctx, background, win, minima, runs, start) {
    const w = ctx.canvas.width, h = ctx.canvas.height;
    ctx.drawImage(background, 0, 0);
    runs.forEach((run, k) => {
      ctx.strokeStyle = COLORS[k]; ctx.fillStyle = COLORS[k]; ctx.lineWidth = 1.6;
      ctx.beginPath();
      let drawn = 0, last = null;
      for (const [x, y] of run.xs) {
        if (!Number.isFinite(x) || !Number.isFinite(y) || Math.abs(x) > 1e6 || Math.abs(y) > 1e6) break;
        const [px, py] = toPixel(win, w, h, x, y);
        if (drawn++ === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
        last = [px, py];
      }
      ctx.stroke();
      if (last) ctx.fillRect(last[0] - 3, last[1] - 3, 6, 6);
    });
    for (const [mx, my] of minima) star(ctx, ...toPixel(win, w, h, mx, my));
    const [sx, sy] = toPixel(win, w, h, start[0], start[1]);
    ctx.beginPath(); ctx.arc(sx, sy, 5, 0, 2 * Math.PI); ctx.fillStyle = "#000"; ctx.fill();
  }

  function star(ctx, x, y) {
    ctx.beginPath();
    for (let k = 0; k < 10; k++) {
      const r = k % 2 ? 3.5 : 8, a = -Math.PI / 2 + k * Math.PI / 5;
      ctx.lineTo(x + r * Math.cos(a), y + r * Math.sin(a));
    }
    ctx.closePath(); ctx.fillStyle = "gold"; ctx.strokeStyle = "#000"; ctx.lineWidth = 1; ctx.fill(); ctx.stroke();
  }

  // Line plot of series [{values, color, dash}] against their index, log10 y when `log`.
  function linePlot(ctx, series, title, log) {
    const w = ctx.canvas.width, h = ctx.canvas.height, left = 46, bottom = 18, top = 16;
    ctx.clearRect(0, 0, w, h);
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, h);
    const tf = (v) => (log ? (v > 0 ? Math.log10(v) : NaN) : v);
    let lo = Infinity, hi = -Infinity, n = 1;
    for (const s of series) {
      n = Math.max(n, s.values.length - 1);
      for (const v of s.values) {
        const t = tf(v);
        if (Number.isFinite(t) && Math.abs(t) < 1e300) { lo = Math.min(lo, t); hi = Math.max(hi, t); }
      }
    }
    if (!(lo < hi)) { lo = Number.isFinite(lo) ? lo - 1 : 0; hi = lo + 2; }
    const X = (i) => left + i / n * (w - left - 6), Y = (t) => top + (1 - (t - lo) / (hi - lo)) * (h - top - bottom);
    ctx.strokeStyle = "#bbb"; ctx.lineWidth = 1; ctx.strokeRect(left, top, w - left - 6, h - top - bottom);
    ctx.fillStyle = "#333"; ctx.font = "11px InertiaHangul, sans-serif";
    ctx.fillText(title, left, 11);
    ctx.fillText(axisLabel(hi, log), 2, top + 8);
    ctx.fillText(axisLabel(lo, log), 2, h - bottom);
    ctx.fillText(String(n), w - 30, h - 4);
    for (const s of series) {
      ctx.strokeStyle = s.color; ctx.setLineDash(s.dash ? [4, 3] : []); ctx.lineWidth = 1.3;
      ctx.beginPath();
      let pen = false;
      s.values.forEach((v, i) => {
        const t = tf(v);
        if (!Number.isFinite(t)) { pen = false; return; }
        if (pen) ctx.lineTo(X(i), Y(t)); else ctx.moveTo(X(i), Y(t));
        pen = true;
      });
      ctx.stroke();
    }
    ctx.setLineDash([]);
  }

  function axisLabel(t, log) {
    return log ? `1e${Math.round(t)}` : Number(t.toPrecision(3)).toString();
  }

  root.InertiaPlots = {COLORS, contourImage, drawMap, linePlot, toPixel, toPoint};
})(typeof window !== "undefined" ? window : globalThis);
