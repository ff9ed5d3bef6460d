"""``inertia diagnose``: a short training run under the monitors, then the Hessian tools, as a report."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from inertia.checks import STYLE_FIELD, check_int, check_seed
from inertia.diagnostics.arguments import check_optimizer
from inertia.diagnostics.density import SpectralDensity, spectral_density
from inertia.diagnostics.hessian import (
    LayerCurvature,
    StabilityCheck,
    edge_of_stability,
    hessian_eigenvalues,
    hessian_trace,
    layer_curvature,
    sgd_terms,
)
from inertia.diagnostics.monitor import DEFAULT_INTERVAL, OptimizerMonitor
from inertia.diagnostics.optimizer_parts import evaluation_point, group_parts
from inertia.diagnostics.optimizer_roles import OptimizerRoles
from inertia.diagnostics.pathologies import Diagnosis
from inertia.diagnostics.thresholds import MonitorThresholds
from inertia.diagnostics.workload import Workload


@dataclass
class CurvatureSnapshot:
    """The full training loss and its curvature at one step (at the optimizer's evaluation point)."""

    step: int
    train_loss: float
    lambda_max: float
    lambda_min: float
    trace: float
    trace_stderr: float
    hvp_count: int


@dataclass
class DiagnosisRun:
    """Everything ``inertia diagnose`` measured; :func:`build_report` turns it into HTML."""

    settings: dict[str, Any]
    losses: list[float]
    monitor: OptimizerMonitor
    sharpness: list[tuple[int, float]]
    start: CurvatureSnapshot
    end: CurvatureSnapshot | None  # None when the weights became non-finite
    stability: StabilityCheck | None
    density: SpectralDensity | None
    layers: list[LayerCurvature]
    test_accuracy: float
    notes: list[str] = field(default_factory=list)

    @property
    def diagnoses(self) -> list[Diagnosis]:
        """Warnings the monitor emitted."""
        return self.monitor.diagnoses

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary of the run (``summary.json``)."""
        return {
            "settings": self.settings,
            "final_train_loss": self.losses[-1] if self.losses else None,
            "test_accuracy": self.test_accuracy,
            "warnings": [d.as_dict() for d in self.diagnoses],
            "curvature_start": vars(self.start),
            "curvature_end": vars(self.end) if self.end else None,
            "sharpness": [{"step": s, "lambda_max": v} for s, v in self.sharpness],
            "edge_of_stability": vars(self.stability) if self.stability else None,
            "negative_eigenvalue_mass": self.density.negative_mass() if self.density else None,
            "layers": [vars(layer) for layer in self.layers],
            "notes": self.notes,
        }


def _curvature(workload: Workload, step: int, max_hvp: int, trace_samples: int, seed: int) -> CurvatureSnapshot:
    params = [p for p in workload.model.parameters() if p.requires_grad]
    top = hessian_eigenvalues(workload.train_loss, params, which="largest", max_hvp=max_hvp, seed=seed)
    bottom = hessian_eigenvalues(workload.train_loss, params, which="smallest", max_hvp=max_hvp, seed=seed)
    trace = hessian_trace(workload.train_loss, params, num_samples=trace_samples, seed=seed)
    with torch.no_grad():
        loss = float(workload.train_loss())
    return CurvatureSnapshot(step, loss, top.values[0], bottom.values[0], trace.value, trace.stderr,
                             top.hvp_count + bottom.hvp_count + trace.hvp_count)


_ADAPTIVE_NOTE = ("The edge-of-stability check (lambda_max against 2/lr) applies to (S)GD; adaptive methods "
                  "rescale each coordinate, so it is skipped for this optimizer.")
_ORTHOGONALISED_NOTE = ("Muon's update is the orthogonalised momentum of each matrix, whose size the gradient's "
                        "scale does not set, so the (S)GD bound 2/lr does not apply and no edge-of-stability "
                        "bound is computed for it.")


def _part_groups(optimizer: torch.optim.Optimizer) -> list[tuple[int, dict[str, Any], OptimizerRoles | None, str]]:
    """``(index, group, roles, part's class name)`` of the first param group of each part of ``optimizer``."""
    seen: set[int] = set()
    firsts = []
    for index, (group, part) in enumerate(zip(optimizer.param_groups, group_parts(optimizer), strict=True)):
        if id(part.optimizer) not in seen:
            seen.add(id(part.optimizer))
            firsts.append((index, group, part.roles, type(part.optimizer).__name__))
    return firsts


def _skip_note(roles: OptimizerRoles | None) -> str:
    return _ORTHOGONALISED_NOTE if roles is not None and roles.orthogonalised else _ADAPTIVE_NOTE


def _sgd_stability(group: dict[str, Any], terms: dict[str, Any], lambda_max: float) -> tuple[StabilityCheck | None,
                                                                                                str | None]:
    if terms["dampening"] >= 1:
        return None, "dampening = 1: SGD takes no gradient steps, so the edge-of-stability check is skipped."
    if terms["momentum"] >= 1:
        return None, (f"momentum = {terms['momentum']:.3g} >= 1: heavy-ball momentum is unstable at every lr, so "
                      "the edge-of-stability check is skipped.")
    return edge_of_stability(lambda_max, float(group["lr"]), **terms), None


def _stability(optimizer: torch.optim.Optimizer, lambda_max: float, notes: list[str]) -> StabilityCheck | None:
    """The (S)GD stability verdict of the first (S)GD part, and a note for every part it does not apply to.

    Each part (see :mod:`~inertia.diagnostics.optimizer_parts`) is read at its first param group; with
    several parts each note names its part and group.
    """
    firsts = _part_groups(optimizer)
    check = None
    for index, group, roles, name in firsts:
        terms = sgd_terms(group, roles)
        verdict, note = (None, _skip_note(roles)) if terms is None else _sgd_stability(group, terms, lambda_max)
        check = check or verdict
        if note is not None and len(firsts) > 1:
            note = f"Param group {index} ({name}): {note}"
        if note is not None:
            notes.append(note)
    return check


#: The longest training run :func:`run_diagnosis` accepts.
MAX_STEPS = 10_000_000


def _check_run_arguments(workload: Any, optimizer: Any, steps: Any, interval: Any, thresholds: Any,
                         sharpness_points: Any, max_hvp: Any, trace_samples: Any, seed: Any, settings: Any) -> None:
    """Refuse bad arguments of :func:`run_diagnosis` by name, before any work is done."""
    if not isinstance(workload, Workload):
        raise TypeError(f"workload: must be an inertia.diagnostics.workload.Workload (see make_workload), got "
                        f"{type(workload).__name__}")
    check_optimizer("optimizer", optimizer)
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    if not any(id(p) in held for p in workload.model.parameters()):
        raise ValueError("optimizer: holds none of workload.model's parameters; build it on "
                         "workload.model.parameters()")
    check_int("steps", steps, low=2, high=MAX_STEPS, style=STYLE_FIELD)
    check_int("interval", interval, low=1, style=STYLE_FIELD)
    if thresholds is not None and not isinstance(thresholds, MonitorThresholds):
        raise TypeError(f"thresholds: must be None or a MonitorThresholds, got {type(thresholds).__name__}")
    check_int("sharpness_points", sharpness_points, low=1, style=STYLE_FIELD)
    check_int("max_hvp", max_hvp, low=2, style=STYLE_FIELD)
    check_int("trace_samples", trace_samples, low=2, style=STYLE_FIELD)
    check_seed("seed", seed, style=STYLE_FIELD)
    if settings is not None and not isinstance(settings, dict):
        raise TypeError(f"settings: must be None or a dict, got {type(settings).__name__}")


def _sharpness_now(workload: Workload, optimizer: torch.optim.Optimizer, max_hvp: int, seed: int) -> float | None:
    """``lambda_max`` of the full training loss at the optimizer's evaluation point; None if it overflowed."""
    params = [p for p in workload.model.parameters() if p.requires_grad]
    with evaluation_point(optimizer):
        try:
            return hessian_eigenvalues(workload.train_loss, params, max_hvp=max_hvp, seed=seed).values[0]
        except FloatingPointError:
            return None


def _final_curvature(workload: Workload, steps: int, max_hvp: int, trace_samples: int,
                     seed: int) -> CurvatureSnapshot | None:
    """The curvature after training; None when the weights or the curvature are non-finite."""
    if not all(bool(torch.isfinite(p).all()) for p in workload.model.parameters() if p.requires_grad):
        return None
    try:
        return _curvature(workload, steps, max_hvp, trace_samples, seed)
    except FloatingPointError:
        return None


def run_diagnosis(workload: Workload, optimizer: torch.optim.Optimizer, *, steps: int = 300,
                  interval: int = DEFAULT_INTERVAL, thresholds: MonitorThresholds | None = None,
                  sharpness_points: int = 5, max_hvp: int = 40, trace_samples: int = 16,
                  seed: int = 0, settings: dict[str, Any] | None = None) -> DiagnosisRun:
    """Train ``workload.model`` for ``steps`` mini-batches under an :class:`OptimizerMonitor`.

    Measures the curvature of the full training loss before and after (extreme eigenvalues,
    Hutchinson trace, SLQ density, per-layer blocks) and the sharpness ``lambda_max`` at
    ``sharpness_points`` steps during training, and compares it with the (S)GD stability limit.
    Every measurement is taken at the optimizer's evaluation point
    (:func:`~inertia.diagnostics.optimizer_parts.evaluation_point`: Schedule-Free's averaged
    weights), training steps at its training point.
    """
    _check_run_arguments(workload, optimizer, steps, interval, thresholds, sharpness_points, max_hvp,
                         trace_samples, seed, settings)
    model = workload.model
    with evaluation_point(optimizer):
        start = _curvature(workload, 0, max_hvp, trace_samples, seed)
    checkpoints = {int(round(x)) for x in np.linspace(0, steps, sharpness_points + 1)[1:]}
    sharpness = [(0, start.lambda_max)]
    losses: list[float] = []
    monitor = OptimizerMonitor(optimizer, model.named_parameters(), interval=interval, thresholds=thresholds,
                               on_warning=lambda d: None)
    params = [p for p in model.parameters() if p.requires_grad]
    torch.manual_seed(seed)
    model.train()
    with monitor:
        for step in range(steps):
            optimizer.zero_grad()
            loss = workload.batch_loss(step, seed)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            if step + 1 in checkpoints and step + 1 < steps and math.isfinite(losses[-1]):
                lam = _sharpness_now(workload, optimizer, max_hvp, seed)
                if lam is not None:  # else the curvature overflowed here; the curve skips this point
                    sharpness.append((step + 1, lam))
    notes: list[str] = []
    run_settings = dict(settings or {}, steps=steps, interval=interval)
    with evaluation_point(optimizer):
        end = _final_curvature(workload, steps, max_hvp, trace_samples, seed)
        test_accuracy = workload.test_accuracy()
        if end is None:
            notes.append("The weights, the training loss or its curvature became non-finite during training, so "
                         "the curvature after training was not measured; lower the learning rate.")
            return DiagnosisRun(settings=run_settings, losses=losses, monitor=monitor, sharpness=sharpness,
                                start=start, end=None, stability=None, density=None, layers=[],
                                test_accuracy=test_accuracy, notes=notes)
        sharpness.append((steps, end.lambda_max))
        density = spectral_density(workload.train_loss, params, num_probes=3, lanczos_steps=max_hvp, seed=seed)
        layers = layer_curvature(workload.train_loss, model.named_parameters(), max_hvp=max(10, max_hvp // 2),
                                 trace_samples=max(2, trace_samples // 2), seed=seed)
    stability = _stability(optimizer, end.lambda_max, notes)
    return DiagnosisRun(settings=run_settings, losses=losses,
                        monitor=monitor, sharpness=sharpness, start=start, end=end, stability=stability,
                        density=density, layers=layers, test_accuracy=test_accuracy, notes=notes)
