"""Learning-rate range test (Smith, "Cyclical learning rates for training neural networks", WACV 2017).

The learning rate grows exponentially from ``lr_min`` to ``lr_max`` over ``num_steps`` training
steps while the loss is recorded; a run stops once an exponential moving average of the loss
exceeds ``diverge_factor`` times its best value (rises above it by ``(diverge_factor - 1) |best|``, which
also holds for a negative loss) or the loss turns non-finite. The sweep is
repeated for several seeds (different mini-batch orders, same initial weights), and the model,
the optimizer and the RNG streams are restored exactly afterwards, so later training is
bit-identical to training without the test.

For the suggestion each seed's losses are smoothed with a *centred* moving average (an EMA
lags, which shifts the curve towards larger learning rates by several-fold at 100 steps per six
decades), and the seeds are combined by their median. Suggestion rule ("valley midpoint"): the
geometric mean of the lr where the median loss falls fastest per unit of log lr (Smith 2017's
steepest point) and the lr at its minimum, where it stops falling (fastai's "valley" rule also
picks a point between the two). Confidence: the share of seeds whose own suggestion (the same
rule on their own curve) lies within a factor 2 of it, halved when the minimum sits at an edge
of the sweep, and halved again when an (S)GD suggestion exceeds the stability limit
``2 (1 + momentum) / lambda_max`` at the initial weights.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from inertia.checks import STYLE_FIELD, check_callable, check_int, check_positive, check_real, is_number
from inertia.diagnostics.arguments import (
    CALLABLE_STYLE,
    check_arity,
    check_module,
    check_optimizer,
    check_scalar_loss,
    check_seeds,
)
from inertia.diagnostics.hessian import edge_of_stability, hessian_eigenvalues, sgd_terms
from inertia.diagnostics.optimizer_parts import group_parts
from inertia.diagnostics.state import TrainingSnapshot
from inertia.io.atomic import atomic_write_bytes, check_output_directory
from inertia.io.json_files import write_json
from inertia.io.report_parts import figure_to_png

BatchLoss = Callable[[int, int], Tensor]
SUGGESTION_RULE = ("valley midpoint: geometric mean of the lr of steepest descent and the lr of the minimum "
                   "of the seed-median smoothed loss")
AGREEMENT_FACTOR = 2.0


@dataclass
class SeedCurve:
    """One sweep: learning rates used, raw and smoothed losses, why it stopped, its own suggestion."""

    seed: int
    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    stop_reason: str
    suggestion: float
    steepest_lr: float
    minimum_lr: float


@dataclass
class LRFindResult:
    """Outcome of :func:`lr_find`: curves per seed, the seed band, the suggestion and its checks."""

    curves: list[SeedCurve]
    lrs: np.ndarray  # common grid, up to the shortest seed's stop
    median: np.ndarray
    low: np.ndarray
    high: np.ndarray
    suggested_lr: float
    steepest_lr: float
    minimum_lr: float
    confidence: float
    rule: str
    lambda_max: float | None
    stability_limit_lr: float | None
    notes: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary (what ``summary.json`` holds)."""
        return {
            "suggested_lr": self.suggested_lr,
            "steepest_lr": self.steepest_lr,
            "minimum_lr": self.minimum_lr,
            "confidence": self.confidence,
            "rule": self.rule,
            "seed_suggestions": {str(c.seed): c.suggestion for c in self.curves},
            "stop_reasons": {str(c.seed): c.stop_reason for c in self.curves},
            "lambda_max": self.lambda_max,
            "stability_limit_lr": self.stability_limit_lr,
            "suggested_over_stability_limit": (self.suggested_lr / self.stability_limit_lr
                                               if self.stability_limit_lr else None),
            "notes": list(self.notes),
            "settings": dict(self.settings),
            "curves": {str(c.seed): {"lr": c.lrs.tolist(), "loss": c.losses.tolist(),
                                     "smoothed": c.smoothed.tolist()} for c in self.curves},
        }


def lr_schedule(lr_min: float, lr_max: float, num_steps: int) -> np.ndarray:
    """Exponential sweep ``lr_i = lr_min (lr_max / lr_min)^(i / (num_steps - 1))``."""
    return lr_min * (lr_max / lr_min) ** (np.arange(num_steps) / (num_steps - 1))


def smooth(losses: Sequence[float], half_width: int) -> np.ndarray:
    """Centred moving average over ``2 half_width + 1`` points (shrinking at the ends): no lag."""
    values = np.asarray(losses, dtype=float)
    sums = np.concatenate([[0.0], np.cumsum(values)])
    idx = np.arange(len(values))
    low, high = np.maximum(idx - half_width, 0), np.minimum(idx + half_width + 1, len(values))
    return (sums[high] - sums[low]) / (high - low)


def valley_point(lrs: np.ndarray, smoothed: np.ndarray) -> tuple[float, float, float]:
    """``(suggestion, steepest_lr, minimum_lr)`` of one smoothed curve by the valley-midpoint rule."""
    best = int(np.argmin(smoothed))
    if best == 0:
        return float(lrs[0]), float(lrs[0]), float(lrs[0])
    slope = np.gradient(smoothed[: best + 1], np.log(lrs[: best + 1]))
    steepest = float(lrs[int(np.argmin(slope))])
    minimum = float(lrs[best])
    return math.sqrt(steepest * minimum), steepest, minimum


#: The longest sweep :func:`lr_find` runs (its learning rates and losses are held in memory).
MAX_STEPS = 1_000_000


def _check_arguments(model: Any, optimizer: Any, batch_loss: Any, curvature_loss: Any, max_hvp: Any) -> None:
    check_module("model", model)
    check_optimizer("optimizer", optimizer)
    check_callable("batch_loss", batch_loss, "a callable batch_loss(step, seed) returning a scalar tensor",
                   style=CALLABLE_STYLE)
    check_arity("batch_loss", batch_loss, "step", "seed")
    if curvature_loss is not None:
        check_callable("curvature_loss", curvature_loss, "None or a callable loss() returning a scalar tensor",
                       style=CALLABLE_STYLE)
    check_int("max_hvp", max_hvp, low=1, style=STYLE_FIELD)


def _check_settings(lr_min: Any, lr_max: Any, num_steps: Any, seeds: Any, smoothing: Any,
                    diverge_factor: Any) -> list[int]:
    """Check the sweep's settings; return the seeds as a list of ints."""
    check_positive("lr_min", lr_min, style=STYLE_FIELD)
    if not (is_number(lr_max) and math.isfinite(lr_max) and lr_max > lr_min):
        raise ValueError(f"lr_max: must be a finite number above lr_min={lr_min}, got {lr_max!r}")
    if not is_number(num_steps, integer=True) or not 10 <= num_steps <= MAX_STEPS:
        raise ValueError(f"num_steps: must be an integer >= 10 and <= {MAX_STEPS}, got {num_steps!r}")
    seed_list = check_seeds("seeds", seeds)
    check_real("smoothing", smoothing, at_least=0.0, below=1.0, style=STYLE_FIELD)
    check_real("diverge_factor", diverge_factor, above=1.0, finite=False, style=STYLE_FIELD)
    return seed_list


def _sweep(model: nn.Module, optimizer: torch.optim.Optimizer, batch_loss: BatchLoss, seed: int,
           lrs: np.ndarray, smoothing: float, diverge_factor: float, half_width: int) -> SeedCurve:
    base = [float(g["lr"]) for g in optimizer.param_groups]
    scale = [b / base[0] if base[0] else 1.0 for b in base]
    torch.manual_seed(seed)
    losses: list[float] = []
    reason, best, avg = "completed", math.inf, 0.0
    model.train()
    for step, lr in enumerate(lrs):
        for group, factor in zip(optimizer.param_groups, scale, strict=True):
            group["lr"] = float(lr) * factor
        optimizer.zero_grad()
        loss = batch_loss(step, seed)
        check_scalar_loss("batch_loss", loss)
        value = float(loss.detach())
        if not math.isfinite(value):
            reason = "non-finite loss"
            break
        losses.append(value)
        avg = smoothing * avg + (1 - smoothing) * value
        smoothed = avg / (1 - smoothing ** (step + 1))
        best = min(best, smoothed)
        if smoothed - best > (diverge_factor - 1) * abs(best):  # smoothed > factor * best, also for best < 0
            reason = "diverged"
            break
        loss.backward()
        optimizer.step()
    curve_lrs = lrs[: len(losses)]
    smoothed_curve = smooth(losses, half_width)
    point = valley_point(curve_lrs, smoothed_curve) if losses else (math.nan,) * 3
    return SeedCurve(seed, curve_lrs, np.array(losses), smoothed_curve, reason, *point)


def _stability_limit(optimizer: torch.optim.Optimizer, lambda_max: float) -> tuple[float | None, str | None]:
    roles = group_parts(optimizer)[0].roles
    terms = sgd_terms(optimizer.param_groups[0], roles)
    if terms is None and roles is not None and roles.orthogonalised:
        return None, ("2/lambda_max applies to (S)GD; Muon's update is orthogonalised momentum, for which no "
                      "stability limit is computed, so none is compared with its suggestion")
    if terms is None:
        return None, ("2/lambda_max applies to (S)GD; an adaptive method rescales each coordinate, so the "
                      "stability limit is not compared with its suggestion")
    if lambda_max <= 0:
        return None, f"lambda_max = {lambda_max:.3g} <= 0 at the initial weights: no curvature limit on lr"
    if terms["dampening"] >= 1:
        return None, f"dampening = {terms['dampening']:.3g}: SGD takes no gradient steps, so no curvature limit on lr"
    if terms["momentum"] >= 1:
        return None, f"momentum = {terms['momentum']:.3g} >= 1: heavy-ball momentum is unstable at every lr"
    threshold = edge_of_stability(lambda_max, 1.0, **terms).threshold
    return threshold / lambda_max, None


def lr_find(model: nn.Module, optimizer: torch.optim.Optimizer, batch_loss: BatchLoss, *,
            lr_min: float = 1e-6, lr_max: float = 10.0, num_steps: int = 100, seeds: Sequence[int] = (0, 1, 2),
            smoothing: float = 0.9, diverge_factor: float = 4.0,
            curvature_loss: Callable[[], Tensor] | None = None, max_hvp: int = 50) -> LRFindResult:
    """Run the learning-rate range test on ``model`` with ``optimizer``; restore both exactly afterwards.

    Args:
        batch_loss: ``batch_loss(step, seed)`` returns the loss of the model on mini-batch
            ``step`` of the order given by ``seed`` (a scalar tensor with a graph).
        lr_min, lr_max, num_steps: the exponential sweep (see :func:`lr_schedule`). With several
            param groups, every group keeps its lr ratio to the first.
        seeds: one sweep per seed, each from the same initial state.
        smoothing: factor of the bias-corrected EMA of the loss that detects divergence.
        diverge_factor: stop when that EMA exceeds this multiple of its best value.
        curvature_loss: optional ``loss()`` (for example the full training loss) whose top Hessian
            eigenvalue at the initial weights gives the (S)GD stability limit for the cross-check.
        max_hvp: Hessian-vector products for that eigenvalue.

    The suggestion rule and the confidence figure are described in the module docstring.
    """
    _check_arguments(model, optimizer, batch_loss, curvature_loss, max_hvp)
    seeds = _check_settings(lr_min, lr_max, num_steps, seeds, smoothing, diverge_factor)
    lrs = lr_schedule(lr_min, lr_max, num_steps)
    half_width = max(2, round(num_steps / 25))
    snapshot = TrainingSnapshot(model, optimizer)
    try:
        lambda_max = None
        if curvature_loss is not None:
            params = [p for g in optimizer.param_groups for p in g["params"] if p.requires_grad]
            try:
                lambda_max = hessian_eigenvalues(curvature_loss, params, max_hvp=max_hvp).values[0]
            except (TypeError, ValueError) as exc:  # it names loss_fn, which is curvature_loss here
                raise type(exc)(f"curvature_loss: {exc}") from exc
            snapshot.restore_model_and_optimizer()
        curves = []
        for seed in seeds:
            curves.append(_sweep(model, optimizer, batch_loss, seed, lrs, smoothing, diverge_factor, half_width))
            snapshot.restore_model_and_optimizer()
    finally:
        snapshot.restore()
    return _combine(curves, optimizer, lambda_max, settings={
        "lr_min": lr_min, "lr_max": lr_max, "num_steps": num_steps, "seeds": seeds, "smoothing": smoothing,
        "diverge_factor": diverge_factor, "smoothing_half_width": half_width,
        "optimizer": type(optimizer).__name__})


def _combine(curves: list[SeedCurve], optimizer: torch.optim.Optimizer, lambda_max: float | None,
             settings: dict[str, Any]) -> LRFindResult:
    length = min(len(c.losses) for c in curves)
    if length < 2:
        raise ValueError("lr_min: the loss diverged or was non-finite within the first steps of the sweep; "
                         f"lower lr_min (got {settings['lr_min']})")
    stack = np.stack([c.smoothed[:length] for c in curves])
    median = np.median(stack, axis=0)
    lrs = curves[0].lrs[:length]
    best = int(np.argmin(median))
    suggested, steepest, minimum = valley_point(lrs, median)
    notes = []
    agree = [c for c in curves if max(c.suggestion / suggested, suggested / c.suggestion) <= AGREEMENT_FACTOR]
    confidence = len(agree) / len(curves)
    all_completed = all(c.stop_reason == "completed" for c in curves)
    if all_completed and best >= length - max(3, length // 20):
        notes.append("the loss was still falling at lr_max: raise lr_max")
        confidence *= 0.5
    if best == 0:
        notes.append("the loss was lowest at the first lr: lower lr_min")
        confidence *= 0.5
    limit = None
    if lambda_max is not None:
        limit, why_not = _stability_limit(optimizer, lambda_max)
        if why_not:
            notes.append(why_not)
        elif limit is not None and suggested > limit:
            notes.append(f"the suggestion is {suggested / limit:.2g}x the (S)GD stability limit "
                         f"{limit:.3g} = 2(1+momentum)/lambda_max at the initial weights")
            confidence *= 0.5
        elif limit is not None:
            notes.append(f"the suggestion is {suggested / limit:.2g}x the (S)GD stability limit {limit:.3g}")
    return LRFindResult(curves=curves, lrs=lrs, median=median, low=stack.min(axis=0), high=stack.max(axis=0),
                        suggested_lr=suggested, steepest_lr=steepest, minimum_lr=minimum,
                        confidence=confidence, rule=SUGGESTION_RULE,
                        lambda_max=lambda_max, stability_limit_lr=limit, notes=notes, settings=settings)


def lr_find_figure(result: LRFindResult, title: str = "Learning-rate range test") -> Figure:
    """The seed curves, their band and median, the suggestion and the (S)GD stability limit."""
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot()
    for curve in result.curves:
        ax.plot(curve.lrs, curve.smoothed, lw=0.8, alpha=0.5, label=f"seed {curve.seed} ({curve.stop_reason})")
    ax.fill_between(result.lrs, result.low, result.high, color="tab:blue", alpha=0.15, label="seed band")
    ax.plot(result.lrs, result.median, color="tab:blue", lw=2.0, label="median (smoothed)")
    ax.axvspan(result.steepest_lr, result.minimum_lr, color="tab:green", alpha=0.08, label="steepest .. minimum")
    ax.axvline(result.suggested_lr, color="tab:green", ls="--",
               label=f"suggested lr {result.suggested_lr:.3g} (confidence {result.confidence:.2f})")
    if result.stability_limit_lr is not None:
        ax.axvline(result.stability_limit_lr, color="tab:red", ls=":",
                   label=f"2(1+mu)/lambda_max = {result.stability_limit_lr:.3g}")
    ax.set_xscale("log")
    start = max(float(c.smoothed[0]) for c in result.curves)
    bottom = float(np.nanmin(result.low))
    ax.set_ylim(bottom - 0.05 * abs(start - bottom), start + 0.5 * abs(start - bottom) + 1e-12)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("smoothed training loss")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def write_lr_find(result: LRFindResult, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``lr_find.png`` and ``summary.json`` into ``out_dir`` (each atomically); return their paths."""
    if not isinstance(result, LRFindResult):
        raise TypeError(f"result: must be the LRFindResult of lr_find, got {type(result).__name__}")
    out = check_output_directory(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    png = figure_to_png(lr_find_figure(result), dpi=110)
    summary = json.loads(json.dumps(result.summary(), default=float))  # numpy scalars to floats
    plot_path, summary_path = out / "lr_find.png", out / "summary.json"
    atomic_write_bytes(plot_path, png)
    write_json(summary_path, summary)  # non-finite values as null (strict JSON)
    return plot_path, summary_path
