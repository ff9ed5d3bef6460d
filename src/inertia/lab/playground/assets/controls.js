// Slider definitions and the DOM helpers that build the controls of a run or a surface.
"use strict";
(function (root) {
  // kind "log": the slider moves log10(value); "lin": the value; "int": an integer; "check": 0/1.
  const SLIDERS = {
    lr: {kind: "log", min: -5, max: 1, step: 0.01},
    mu: {kind: "lin", min: 0, max: 0.999, step: 0.001},
    beta1: {kind: "lin", min: 0, max: 0.999, step: 0.001},
    beta2: {kind: "lin", min: 0.5, max: 0.9999, step: 0.0001},
    alpha: {kind: "lin", min: 0.5, max: 0.9999, step: 0.0001},
    eps: {kind: "log", min: -12, max: 0, step: 0.1},
    weight_decay: {kind: "lin", min: 0, max: 0.2, step: 0.001},
    damping: {kind: "lin", min: 0, max: 10, step: 0.01},
    history: {kind: "int", min: 1, max: 20, step: 1},
    bias_correction: {kind: "check"},
    steps: {kind: "int", min: 1, max: 1000, step: 1},
    kappa: {kind: "log", min: 0, max: 3, step: 0.01},
    angle_deg: {kind: "lin", min: 0, max: 90, step: 1},
    a: {kind: "lin", min: -2, max: 2, step: 0.05},
    b: {kind: "log", min: 0, max: 2.5, step: 0.01},
    amplitude: {kind: "lin", min: 0.5, max: 20, step: 0.1},
    width: {kind: "lin", min: 0.2, max: 3, step: 0.05},
    sigma: {kind: "lin", min: 0, max: 2, step: 0.01},
    seed: {kind: "int", min: 1, max: 100, step: 1},
  };

  function show(value) {
    if (value === 0) return "0";
    const a = Math.abs(value);
    return a >= 1e-3 && a < 1e4 ? Number(value.toPrecision(4)).toString() : value.toExponential(2);
  }

  function sliderPosition(def, value) {
    return def.kind === "log" ? Math.log10(value) : value;
  }

  function sliderValue(def, position) {
    const v = Number(position);
    if (def.kind === "log") return Number(Math.pow(10, v).toPrecision(6));
    return def.kind === "int" ? Math.round(v) : v;
  }

  // A labelled control for `name` showing `value`; `onChange(newValue)` on every input event.
  function control(name, label, value, onChange) {
    const def = SLIDERS[name];
    const row = document.createElement("label");
    row.className = "control";
    const text = document.createElement("span");
    text.className = "name";
    text.textContent = label;
    const input = document.createElement("input");
    input.dataset.param = name;
    const out = document.createElement("span");
    out.className = "value";
    if (def.kind === "check") {
      input.type = "checkbox";
      input.checked = Number(value) !== 0;
      input.addEventListener("input", () => onChange(input.checked ? 1 : 0));
      row.append(text, input);
      return row;
    }
    input.type = "range";
    Object.assign(input, {min: def.min, max: def.max, step: def.step});
    input.value = String(sliderPosition(def, value));
    out.textContent = show(value);
    input.addEventListener("input", () => {
      const v = sliderValue(def, input.value);
      out.textContent = show(v);
      onChange(v);
    });
    row.append(text, input, out);
    return row;
  }

  function select(options, value, onChange) {
    const el = document.createElement("select");
    for (const [key, label] of options) {
      const option = document.createElement("option");
      option.value = key; option.textContent = label;
      el.append(option);
    }
    el.value = value;
    el.addEventListener("change", () => onChange(el.value));
    return el;
  }

  root.InertiaControls = {SLIDERS, control, select, show};
})(typeof window !== "undefined" ? window : globalThis);
