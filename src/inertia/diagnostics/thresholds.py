"""Thresholds of the pathology warnings, in one documented, configurable dataclass."""

from __future__ import annotations

from dataclasses import dataclass, fields

from inertia.checks import STYLE_FIELD, check_non_negative, check_positive, is_number
from inertia.diagnostics.optimizer_roles import ACCUMULATING_KEYS


@dataclass(frozen=True)
class MonitorThresholds:
    """When :class:`~inertia.diagnostics.OptimizerMonitor` warns, and how often.

    A pathology must hold over the samples of a layer from the last ``window_steps`` steps, and
    over at least ``min_samples`` samples (the window reaches further back when samples are
    sparse), before it is reported. A repeated warning for the same pathology and layer waits
    ``repeat_after`` steps, and a monitor emits at most ``max_warnings`` warnings in total.

    Attributes:
        window_steps: steps a condition must persist.
        min_samples: samples a condition must persist.
        zigzag_cos: zig-zag when the median cosine between successive updates over the window
            is at or below this. Gradient descent at ``lr * lambda > 1`` flips the sign of the
            update along that eigenvector every step, so the cosine tends to -1 when that
            direction dominates the update.
        update_ratio_high: the median of ``||delta w|| / ||w||`` over the window above this means
            the steps are too large. CS231n's rule of thumb puts a healthy ratio near 1e-3.
        update_ratio_low: below this the steps are too small to move the weights.
        ratio_min_ndim: the update-ratio checks apply to layers whose largest parameter has at
            least this many dimensions (weights, not biases that start at zero).
        collapse_step_fraction: step-size collapse of a never-decaying accumulator (AdaGrad's
            ``sum``): the step in units of lr, ``|g| / (sqrt(sum) + eps)`` as an RMS weighted by
            gradient energy, is at most this (it is 1 on AdaGrad's first step and decays like
            ``1/sqrt(t)`` while the gradient keeps its size) ...
        collapse_grad_fraction: ... while the gradient norm is still at least this fraction of the
            RMS of the gradients accumulated so far (so the steps shrank although the slope did not;
            on convergence the gradient falls far below its history instead) ...
        collapse_min_cos: ... and successive updates still agree: their mean cosine is at least this
            (a steady drift the shrinking steps slow down; when the updates are mostly noise, with
            cosines near 0, shrinking steps anneal the noise and are not reported).
        collapse_state_keys: state keys of accumulators that only grow (default: those marked so in
            :data:`~inertia.diagnostics.optimizer_roles.ROLES`, AdaGrad's ``sum``).
        eps_share: eps dominates the denominator of an adaptive method in at least this
            fraction of a layer's coordinates, on average over the window.

    The adaptive statistics (collapse, eps share) are read on every ``adaptive_every``-th sample
    only, so their windows extend over ``min_samples`` of those.
        grad_growth: exploding gradients when the gradient norm grows by at least this factor
            from the smallest value in the window to the latest, and exceeds its first sampled value.
        repeat_after: steps before the same pathology in the same layer is reported again.
        max_warnings: total warnings per monitor; non-finite warnings are exempt from this cap.
    """

    window_steps: int = 50
    min_samples: int = 3
    zigzag_cos: float = -0.5
    update_ratio_high: float = 1e-1
    update_ratio_low: float = 1e-6
    ratio_min_ndim: int = 2
    collapse_step_fraction: float = 0.1
    collapse_grad_fraction: float = 0.25
    collapse_min_cos: float = 0.2
    collapse_state_keys: tuple[str, ...] = ACCUMULATING_KEYS
    eps_share: float = 0.5
    grad_growth: float = 100.0
    repeat_after: int = 500
    max_warnings: int = 50

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "collapse_state_keys":
                if not isinstance(value, tuple) or not all(isinstance(key, str) for key in value):
                    raise ValueError(f"collapse_state_keys: must be a tuple of strings, got {value!r}")
                continue
            if f.name in ("window_steps", "min_samples", "ratio_min_ndim", "repeat_after", "max_warnings"):
                positive = f.name in ("window_steps", "min_samples")
                (check_positive if positive else check_non_negative)(f.name, value, integer=True, style=STYLE_FIELD)
            elif not is_number(value):
                raise ValueError(f"{f.name}: must be a number, got {value!r}")
            elif f.name in ("zigzag_cos", "collapse_min_cos"):
                if not -1 <= value <= 1:
                    raise ValueError(f"{f.name}: must lie in [-1, 1], got {value!r}")
            elif not value > 0:
                raise ValueError(f"{f.name}: must be positive, got {value!r}")
        if self.update_ratio_low >= self.update_ratio_high:
            raise ValueError(f"update_ratio_low: must be below update_ratio_high={self.update_ratio_high}, "
                             f"got {self.update_ratio_low!r}")
