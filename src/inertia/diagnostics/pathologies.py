"""Rules that turn a layer's recent samples into plain-language warnings, and their rate limit."""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from typing import Any

from inertia.diagnostics.optimizer_roles import OPTIMIZER_OF_KEY
from inertia.diagnostics.stats import Sample
from inertia.diagnostics.thresholds import MonitorThresholds

PATHOLOGIES = ("nonfinite", "zigzag", "update_ratio_high", "update_ratio_low", "step_collapse",
               "eps_dominance", "exploding_gradient", "zero_gradient")


@dataclass
class Diagnosis:
    """One warning: which pathology, where, when, the measured number, and the sentence shown."""

    step: int
    layer: str
    pathology: str
    value: float
    message: str

    def as_dict(self) -> dict[str, Any]:
        """Plain-dict view (for JSON and tables)."""
        return asdict(self)


def describe(scope: str) -> str:
    """How a layer is named in messages: ``fc1`` stays, a bare index such as ``1`` becomes ``layer 1``."""
    return f"layer {scope}" if scope.replace(".", "").isdigit() else scope


def _span(window: list[Sample]) -> int:
    """Steps a window of samples covers, counting one sampling gap before its first sample."""
    return window[-1].step - window[0].step + (window[1].step - window[0].step if len(window) > 1 else 1)


def recent(history: list[Sample], field: str, thresholds: MonitorThresholds) -> list[Sample]:
    """The samples a rule on ``field`` looks at, oldest first; empty when there are too few.

    Only samples that carry ``field`` count, the latest sample must carry it, and the window
    covers the last ``window_steps`` steps but at least ``min_samples`` samples.
    """
    if not history or getattr(history[-1], field) is None:
        return []
    last_step, out = history[-1].step, []
    for sample in reversed(history):
        if getattr(sample, field) is None:
            continue
        if len(out) >= thresholds.min_samples and sample.step <= last_step - thresholds.window_steps:
            break
        out.append(sample)
    return out[::-1] if len(out) >= thresholds.min_samples else []


def _zigzag(window: list[Sample], t: MonitorThresholds) -> tuple[float, str] | None:
    median = statistics.median(s.update_cos for s in window)  # type: ignore[type-var]
    if median > t.zigzag_cos:
        return None
    return median, (f"zig-zag in {describe(window[-1].scope)}: successive updates point opposite ways "
                    f"(cos {median:.2f} over {_span(window)} steps) - lower lr or add momentum")


def _update_ratio(window: list[Sample], t: MonitorThresholds, high: bool) -> tuple[float, str] | None:
    ratios = [s.update_ratio for s in window if s.update_ratio is not None and s.grad_norm > 0]
    if len(ratios) < t.min_samples or window[-1].max_ndim < t.ratio_min_ndim:
        return None
    median = statistics.median(ratios)
    span, name = _span(window), describe(window[-1].scope)
    if high and median > t.update_ratio_high:
        return median, (f"large steps in {name}: update-to-weight ratio {median:.2g} (median over {span} steps), "
                        "rule of thumb ~1e-3 - lower lr")
    if not high and median < t.update_ratio_low:
        return median, (f"tiny steps in {name}: update-to-weight ratio {median:.2g} (median over {span} steps), "
                        "rule of thumb ~1e-3 - raise lr")
    return None


def _collapse(window: list[Sample], t: MonitorThresholds) -> tuple[float, str] | None:
    last = window[-1]
    if last.state_key not in t.collapse_state_keys:
        return None
    fractions = [s.step_fraction for s in window if s.step_fraction is not None]
    history = [s.grad_to_history for s in window if s.grad_to_history is not None]
    cosines = [s.update_cos for s in window if s.update_cos is not None]
    if min(len(fractions), len(history), len(cosines)) < t.min_samples:
        return None
    if max(fractions) > t.collapse_step_fraction or min(history) < t.collapse_grad_fraction:
        return None
    agreement = statistics.fmean(cosines)
    if agreement < t.collapse_min_cos:
        return None
    name = OPTIMIZER_OF_KEY.get(last.state_key or "", "adaptive")
    return fractions[-1], (
        f"{name} collapse in {describe(last.scope)}: steps are {fractions[-1]:.1%} of lr per normalised gradient "
        f"(100% on the first step) although the gradient is still {history[-1]:.0%} of its past RMS and "
        f"successive updates agree (cos {agreement:.2f} over {_span(window)} steps) - the growing sum "
        "of squared gradients stalls progress; switch to RMSprop or Adam, or raise lr")


def _zero_gradient(window: list[Sample]) -> tuple[float, str] | None:
    if any(s.grad_norm != 0 for s in window):
        return None
    return 0.0, (f"no gradient reaches {describe(window[-1].scope)}: its gradient was exactly zero for "
                 f"{_span(window)} steps - dead ReLUs after too large steps, or a detached graph; "
                 "lower lr or reinitialise")


def _eps(window: list[Sample], t: MonitorThresholds) -> tuple[float, str] | None:
    mean = statistics.fmean(s.eps_share for s in window)  # type: ignore[misc]
    if mean < t.eps_share:
        return None
    return mean, (f"eps dominates in {describe(window[-1].scope)}: in {mean:.0%} of coordinates eps exceeds the "
                  f"gradient statistic (over {_span(window)} steps), so they take plain SGD steps of "
                  "lr*g/eps - lower eps, or look for dead units with zero gradient")


def _exploding(window: list[Sample], t: MonitorThresholds, first_norm: float) -> tuple[float, str] | None:
    norms = [s.grad_norm for s in window]
    low = min(norms)
    if not low > 0 or not math.isfinite(norms[-1]) or norms[-1] <= first_norm:
        return None
    growth = norms[-1] / low
    if growth < t.grad_growth:
        return None
    return growth, (f"exploding gradients in {describe(window[-1].scope)}: gradient norm grew {growth:.3g}x within "
                    f"{_span(window)} steps (now {norms[-1]:.3g}) - lower lr or clip gradients")


def detect(history: list[Sample], thresholds: MonitorThresholds) -> list[tuple[str, float, str]]:
    """Pathologies present at the latest sample of one layer: ``(pathology, value, message)`` tuples."""
    if not history:
        return []
    last, t = history[-1], thresholds
    found: list[tuple[str, float, str]] = []
    if last.nonfinite != 0:
        count = last.nonfinite if last.nonfinite > 0 else math.inf
        found.append(("nonfinite", float(count), (
            f"non-finite values in {describe(last.scope)}: {count} NaN/inf entries in gradients or weights at step "
            f"{last.step} - lower lr, check the data and the loss, or build the optimizer with nonfinite='skip'")))
    norms, adaptive = recent(history, "grad_norm", t), recent(history, "step_fraction", t)
    cosines = [s for s in norms if s.update_cos is not None]
    ratios = norms if last.max_ndim >= t.ratio_min_ndim else []
    checks = {
        "zigzag": _zigzag(cosines, t) if len(cosines) >= t.min_samples else None,
        "update_ratio_high": _update_ratio(ratios, t, high=True) if ratios else None,
        "update_ratio_low": _update_ratio(ratios, t, high=False) if ratios else None,
        "step_collapse": _collapse(adaptive, t) if adaptive else None,
        "eps_dominance": _eps(adaptive, t) if adaptive else None,
        "exploding_gradient": _exploding(norms, t, history[0].grad_norm) if norms else None,
        "zero_gradient": _zero_gradient(norms) if norms else None,
    }
    found += [(name, value, message) for name, hit in checks.items() if hit is not None for value, message in [hit]]
    return found


class WarningGate:
    """Rate limit: one warning per (pathology, layer) every ``repeat_after`` steps, ``max_warnings`` in all.

    Non-finite warnings are exempt from the total cap.
    """

    def __init__(self, thresholds: MonitorThresholds) -> None:
        self.thresholds = thresholds
        self._last: dict[tuple[str, str], int] = {}
        self.emitted = 0
        self.suppressed = 0

    def allow(self, pathology: str, layer: str, step: int) -> bool:
        """Whether a warning for ``pathology`` in ``layer`` at ``step`` may be shown now."""
        last = self._last.get((pathology, layer))
        recent = last is not None and step - last < self.thresholds.repeat_after
        over_cap = self.emitted >= self.thresholds.max_warnings and pathology != "nonfinite"
        if recent or over_cap:
            self.suppressed += 1
            return False
        self._last[(pathology, layer)] = step
        self.emitted += 1
        return True
