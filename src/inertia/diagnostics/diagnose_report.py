"""The HTML diagnostic report of ``inertia diagnose``, built with :class:`~inertia.io.report.Report`."""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from inertia.diagnostics.density import density_figure
from inertia.diagnostics.diagnose import DiagnosisRun
from inertia.diagnostics.monitor import OptimizerMonitor
from inertia.diagnostics.pathologies import recent
from inertia.io.atomic import check_output_directory
from inertia.io.json_files import write_json
from inertia.io.report import Report

_MONITOR_PANELS = (
    ("update_ratio", "update-to-weight ratio", True),
    ("grad_norm", "gradient norm", True),
    ("update_cos", "cosine of successive updates", False),
    ("step_fraction", "adaptive step in units of lr", True),
)


def monitor_figure(monitor: OptimizerMonitor) -> Figure:
    """Per-layer time series of the monitored statistics, with the warning thresholds drawn in."""
    fig = Figure(figsize=(9, 6))
    thresholds = monitor.thresholds
    for index, (metric, label, log) in enumerate(_MONITOR_PANELS):
        ax = fig.add_subplot(2, 2, index + 1)
        for layer in monitor.layers:
            steps, values = monitor.series(layer, metric)
            keep = np.isfinite(values)
            if keep.any():
                ax.plot(steps[keep], values[keep], lw=1.0, label=layer)
        if metric == "update_ratio":
            ax.axhline(1e-3, color="grey", ls=":", lw=0.8, label="rule of thumb 1e-3")
        if metric == "update_cos":
            ax.axhline(thresholds.zigzag_cos, color="tab:red", ls="--", lw=0.8, label="zig-zag threshold")
            ax.set_ylim(-1.05, 1.05)
        if metric == "step_fraction":
            ax.axhline(thresholds.collapse_step_fraction, color="tab:red", ls="--", lw=0.8, label="collapse threshold")
        if log and ax.lines and any(np.nanmin(line.get_ydata()) > 0 for line in ax.lines):
            ax.set_yscale("log")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        if ax.lines:
            ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def _loss_figure(run: DiagnosisRun) -> Figure:
    fig = Figure(figsize=(9, 3.2))
    ax = fig.add_subplot(1, 2, 1)
    ax.plot(np.arange(1, len(run.losses) + 1), run.losses, lw=0.8)
    if all(v > 0 for v in run.losses):
        ax.set_yscale("log")
    ax.set_title("mini-batch training loss", fontsize=9)
    ax.set_xlabel("step", fontsize=8)
    ax = fig.add_subplot(1, 2, 2)
    steps, values = zip(*run.sharpness, strict=True)
    ax.plot(steps, values, marker="o", lw=1.2, label="lambda_max (full training loss)")
    if run.stability is not None:
        ax.axhline(run.stability.threshold, color="tab:red", ls="--", lw=1.0,
                   label=f"stability limit {run.stability.threshold:.3g}")
    ax.set_title("sharpness during training", fontsize=9)
    ax.set_xlabel("step", fontsize=8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _layer_rows(run: DiagnosisRun) -> list[list[object]]:
    rows = []
    for layer in run.monitor.layers:
        history = run.monitor.history(layer)
        window = recent(history, "grad_norm", run.monitor.thresholds) or history[-1:]
        ratios = [s.update_ratio for s in window if s.update_ratio is not None]
        cosines = [s.update_cos for s in window if s.update_cos is not None]
        adaptive = next((s for s in reversed(history) if s.step_fraction is not None), None)
        rows.append([layer, window[-1].num_params, window[-1].grad_norm,
                     statistics.median(ratios) if ratios else None, statistics.median(cosines) if cosines else None,
                     adaptive.eff_lr if adaptive else None, adaptive.step_fraction if adaptive else None,
                     adaptive.eps_share if adaptive else None, sum(s.nonfinite for s in history)])
    return rows


def _verdict(run: DiagnosisRun) -> str:
    if not run.diagnoses:
        return (f"No pathology crossed its threshold in {run.settings['steps']} steps "
                f"({len(run.monitor.samples)} samples).")
    kinds = sorted({d.pathology for d in run.diagnoses})
    return f"{len(run.diagnoses)} warning(s): {', '.join(kinds)}. First: {run.diagnoses[0].message}"


def build_report(run: DiagnosisRun) -> Report:
    """Assemble the diagnostic report: summary, warnings, monitor curves, curvature and spectrum."""
    s = run.settings
    report = Report(f"Optimizer diagnosis: {s.get('optimizer', '?')} at lr {s.get('lr', '?')}",
                    intro=(f"{s.get('steps')} steps of {s.get('optimizer')} (lr {s.get('lr')}) on "
                           f"{s.get('dataset')} with model {s.get('model')}, batch size {s.get('batch_size')}, "
                           f"seed {s.get('seed')}; monitors sampled every {s.get('interval')} steps."))
    final = run.losses[-1] if run.losses else float("nan")
    report.add_section("Summary", "\n\n".join(run.notes), tables=[(
        ["final mini-batch loss", "test accuracy", "warnings", "samples"],
        [[final, run.test_accuracy, len(run.diagnoses), len(run.monitor.samples)]])], verdict=_verdict(run))
    report.add_section(
        "Warnings", "Each warning names the pathology, the layer, the measured number and a remedy. "
        f"Thresholds: {run.monitor.thresholds}.",
        tables=[(["step", "layer", "pathology", "value", "message"],
                 [[d.step, d.layer, d.pathology, d.value, d.message] for d in run.diagnoses])]
        if run.diagnoses else [])
    report.add_section(
        "Monitors per layer", "Update-to-weight ratio (rule of thumb about 1e-3), gradient norm, cosine between "
        "successive updates (strongly negative means zig-zag), and for adaptive methods the step in units of lr "
        "(AdaGrad's collapse shows as a steady fall). Table values are medians over the last monitor window; the "
        "adaptive columns come from the latest sample that read the optimizer state.",
        figures=[monitor_figure(run.monitor)],
        tables=[(["layer", "params", "grad norm", "update ratio", "update cos", "eff. lr", "step/lr",
                  "eps share", "non-finite"], _layer_rows(run))])
    curvature_rows = [[name, c.train_loss, c.lambda_max, c.lambda_min, c.trace, c.trace_stderr, c.hvp_count]
                      for name, c in (("start", run.start), ("end", run.end)) if c is not None]
    stability = run.stability
    report.add_section(
        "Curvature", "Extreme eigenvalues (Lanczos) and trace (Hutchinson) of the Hessian of the full training "
        "loss, at the optimizer's evaluation point (Schedule-Free: its averaged weights). A negative smallest "
        "eigenvalue means a saddle direction.",
        figures=[_loss_figure(run)],
        tables=[(["point", "training loss", "lambda_max", "lambda_min", "trace", "trace stderr", "HVPs"],
                 curvature_rows)],
        verdict=(f"lambda_max {stability.lambda_max:.4g} vs limit {stability.threshold:.4g} "
                 f"(ratio {stability.ratio:.2f}): {stability.verdict}." if stability else None))
    if run.density is not None:
        report.add_section(
            "Spectral density", "Stochastic Lanczos quadrature with Gaussian smoothing; the estimated mass of "
            f"negative eigenvalues is {run.density.negative_mass():.3g}.",
            figures=[density_figure(run.density, limit=stability.threshold if stability else None)])
    if run.layers:
        report.add_section("Curvature per layer", "Each layer's diagonal block of the Hessian.", tables=[(
            ["layer", "params", "lambda_max", "lambda_min", "trace", "trace stderr"],
            [[c.layer, c.num_params, c.lambda_max, c.lambda_min, c.trace, c.trace_stderr] for c in run.layers])])
    return report


def write_diagnosis(run: DiagnosisRun, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``index.html`` and ``summary.json`` into ``out_dir`` atomically; return their paths."""
    if not isinstance(run, DiagnosisRun):
        raise TypeError(f"run: must be the DiagnosisRun of run_diagnosis, got {type(run).__name__}")
    out = check_output_directory(out_dir)  # refused before the report is built
    html_path = build_report(run).write(out)
    summary_path = out / "summary.json"
    # numpy scalars to floats, then non-finite values to null (strict JSON), written atomically
    write_json(summary_path, json.loads(json.dumps(run.summary(), default=float)))
    return html_path, summary_path
