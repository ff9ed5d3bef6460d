"""Live optimizer monitors: attach to any torch optimizer through its step hooks.

Every ``interval`` steps (every ``warmup_interval`` steps during the first ``warmup_steps``,
where step-size problems show first) the monitor samples one pair of consecutive steps: it copies the
weights before both into two persistent parameter-sized buffers (so a monitor holds two copies
of the parameters), so it knows both updates and their cosine, and computes per layer and per
param group the gradient norm, the update-to-weight ratio, the cosine between the two successive
updates and the count of non-finite entries. Every ``adaptive_every``-th sample also reads an
adaptive method's state: effective step sizes, the step in units of lr and the eps share. Between
samples the hooks only count steps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from inertia.checks import STYLE_FIELD, check_non_negative, check_positive
from inertia.diagnostics._params import optimizer_param_layers
from inertia.diagnostics.adaptive import AdaptiveTerms, adaptive_terms
from inertia.diagnostics.optimizer_parts import group_parts
from inertia.diagnostics.pathologies import Diagnosis, WarningGate, detect
from inertia.diagnostics.stats import Sample, bucket_rows, make_sample
from inertia.diagnostics.thresholds import MonitorThresholds

LOGGER = logging.getLogger("inertia.diagnostics")
DEFAULT_INTERVAL = 50
DEFAULT_ADAPTIVE_EVERY = 3
DEFAULT_WARMUP_STEPS = 50
DEFAULT_WARMUP_INTERVAL = 10

BucketKey = tuple[Any, ...]
Members = list[tuple[int, Tensor]]  # (param group index, parameter)


class SampleHistory:
    """Read access to monitor samples kept as ``self._history[(kind, scope)] -> [Sample, ...]``.

    Shared by the live :class:`OptimizerMonitor` and by a finished run's samples read back from
    disk, so figures (:func:`inertia.diagnostics.diagnose_report.monitor_figure`) take either.
    """

    _history: dict[tuple[str, str], list[Sample]]

    @property
    def layers(self) -> list[str]:
        """Names of the layers sampled so far, in first-seen order."""
        return [name for kind, name in self._history if kind == "layer"]

    @property
    def groups(self) -> list[str]:
        """Names (``group{g}``) of the param groups sampled so far."""
        return [name for kind, name in self._history if kind == "group"]

    def history(self, scope: str) -> list[Sample]:
        """All samples of one layer, or else of one param group (``"group0"``), oldest first."""
        for kind in ("layer", "group"):
            if (kind, scope) in self._history:
                return list(self._history[(kind, scope)])
        known = ", ".join(name for _, name in self._history) or "none"
        raise KeyError(f"scope: no samples for {scope!r}; known: {known}")

    def series(self, scope: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, values)`` of one :class:`Sample` field for one scope; missing values are NaN."""
        samples = self.history(scope)
        if samples and not hasattr(samples[0], metric):
            raise KeyError(f"metric: unknown field {metric!r} of Sample")
        values = [getattr(s, metric) for s in samples]
        return (np.array([s.step for s in samples]),
                np.array([np.nan if v is None else float(v) for v in values], dtype=float))


class OptimizerMonitor(SampleHistory):
    """Measure an optimizer's steps and warn about pathologies, per layer and per param group.

    Example::

        monitor = OptimizerMonitor(optimizer, model.named_parameters())
        with monitor:                      # attaches the hooks; detaches on exit
            for batch in data:
                ...; loss.backward(); optimizer.step(); optimizer.zero_grad()
        print(monitor.diagnoses)           # warnings, also sent to ``on_warning``

    Args:
        optimizer: any ``torch.optim.Optimizer``.
        named_parameters: optional ``model.named_parameters()`` (or a name->tensor mapping) so
            layers get their module names; otherwise each parameter is a layer ``group{g}.param{i}``.
        interval: sample a pair of steps every ``interval`` steps (1 = every step) ...
        warmup_steps, warmup_interval: ... and every ``min(warmup_interval, interval)`` steps
            during the first ``warmup_steps`` steps after attaching (0 turns this off).
        adaptive_every: read adaptive-method state on every ``adaptive_every``-th sample.
        thresholds: warning thresholds (:class:`MonitorThresholds`).
        on_warning: called with each :class:`Diagnosis` let through the rate limit; by default
            the message is logged at WARNING level on the ``inertia.diagnostics`` logger.
    """

    def __init__(self, optimizer: torch.optim.Optimizer,
                 named_parameters: Iterable[tuple[str, Tensor]] | Mapping[str, Tensor] | None = None, *,
                 interval: int = DEFAULT_INTERVAL, warmup_steps: int = DEFAULT_WARMUP_STEPS,
                 warmup_interval: int = DEFAULT_WARMUP_INTERVAL, adaptive_every: int = DEFAULT_ADAPTIVE_EVERY,
                 thresholds: MonitorThresholds | None = None,
                 on_warning: Callable[[Diagnosis], None] | None = None) -> None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer: expected a torch.optim.Optimizer, got {type(optimizer).__name__}")
        for name, value, low in (("interval", interval, 1), ("warmup_steps", warmup_steps, 0),
                                 ("warmup_interval", warmup_interval, 1), ("adaptive_every", adaptive_every, 1)):
            (check_positive if low else check_non_negative)(name, value, integer=True, style=STYLE_FIELD)
        if thresholds is not None and not isinstance(thresholds, MonitorThresholds):
            raise TypeError(f"thresholds: must be None or a MonitorThresholds, got {type(thresholds).__name__}")
        if on_warning is not None and not callable(on_warning):
            raise TypeError(f"on_warning: must be None or a callable taking a Diagnosis, got {on_warning!r}")
        if named_parameters is not None and (isinstance(named_parameters, (str, bytes))
                                             or not isinstance(named_parameters, (Mapping, Iterable))):
            raise TypeError(f"named_parameters: must be None, a mapping or (name, tensor) pairs such as "
                            f"model.named_parameters(), got {named_parameters!r}")
        self.optimizer = optimizer
        self.interval = interval
        self.warmup_steps = warmup_steps
        self.warmup_interval = warmup_interval
        self.adaptive_every = adaptive_every
        self.thresholds = thresholds if thresholds is not None else MonitorThresholds()
        self.on_warning = on_warning if on_warning is not None else (lambda d: LOGGER.warning(d.message))
        self._named = dict(named_parameters) if named_parameters is not None else None
        self.samples: list[Sample] = []
        self.diagnoses: list[Diagnosis] = []
        self.gate = WarningGate(self.thresholds)
        self.steps = 0
        self._sample_count = 0
        self._history: dict[tuple[str, str], list[Sample]] = {}
        self._before: dict[BucketKey, Members] | None = None
        self._buffers: dict[BucketKey, tuple[tuple[int, ...], list[list[Tensor]]]] = {}
        self._slot = 0
        self._prev_slot: int | None = None
        self._handles: list[Any] = []
        self._layers: dict[int, str] = {}
        self._scope_plan: tuple[tuple[int, ...], list[tuple[str, str, list[int], int, int]]] | None = None

    # ------------------------------------------------------------------ hooks
    def attach(self) -> OptimizerMonitor:
        """Register the step hooks (idempotent); returns self."""
        if not self._handles:
            self._handles = [self.optimizer.register_step_pre_hook(self._pre_step),
                             self.optimizer.register_step_post_hook(self._post_step)]
        return self

    def detach(self) -> None:
        """Remove the hooks; the collected samples and warnings stay."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._before, self._prev_slot, self._buffers = None, None, {}

    def __enter__(self) -> OptimizerMonitor:
        return self.attach()

    def __exit__(self, *exc: object) -> None:
        self.detach()

    def _buckets(self) -> dict[BucketKey, Members]:
        """Parameters grouped by (device, dtype), each bucket in optimizer order."""
        buckets: dict[BucketKey, Members] = {}
        for g, group in enumerate(self.optimizer.param_groups):
            for p in group["params"]:
                buckets.setdefault((p.device, p.dtype), []).append((g, p))
        return buckets

    def _is_lead(self, index: int) -> bool:
        """Whether step ``index`` (0-based since attaching) opens a sampled pair."""
        if index < self.warmup_steps:
            return index % min(self.warmup_interval, self.interval) == 0
        return (index - self.warmup_steps) % self.interval == 0

    def _is_follow(self, index: int) -> bool:
        return index > 0 and self._is_lead(index - 1)

    def _slots_for(self, key: BucketKey, members: Members) -> list[list[Tensor]]:
        """Two persistent parameter-sized buffer sets of a bucket (reallocated if its parameters change)."""
        ids = tuple(id(p) for _, p in members)
        entry = self._buffers.get(key)
        if entry is None or entry[0] != ids:
            entry = (ids, [[torch.empty_like(p) for _, p in members] for _ in range(2)])
            self._buffers[key] = entry
            self._prev_slot = None
        return entry[1]

    def _pre_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if not (self._is_lead(self.steps) or self._is_follow(self.steps)):
            return
        buckets = self._buckets()
        slots = {key: self._slots_for(key, members) for key, members in buckets.items()}
        self._slot = 0 if self._prev_slot is None else 1 - self._prev_slot
        for key, members in buckets.items():
            torch._foreach_copy_(slots[key][self._slot], [p.detach() for _, p in members])
        self._before = buckets

    def _post_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        index, buckets = self.steps, self._before
        self.steps += 1
        self._before = None
        if buckets is None:
            return
        slot, prev_slot = self._slot, self._prev_slot
        for key, members in buckets.items():
            torch._foreach_sub_(self._buffers[key][1][slot], [p.detach() for _, p in members])  # before - after
        if self._is_follow(index) and prev_slot is not None:
            self._record(index + 1, buckets, slot, prev_slot)
        self._prev_slot = slot if self._is_lead(index) else None

    # ------------------------------------------------------------ statistics
    def _param_layers(self, members: Members) -> dict[int, str]:
        if any(id(p) not in self._layers for _, p in members):
            self._layers = optimizer_param_layers(self.optimizer, self._named)
        return self._layers

    def _scopes(self, members: Members) -> list[tuple[str, str, list[int], int, int]]:
        """``(kind, name, member indices, parameter count, max ndim)`` of every layer, then every group."""
        ids = tuple(id(p) for _, p in members)
        if self._scope_plan is None or self._scope_plan[0] != ids:
            layer_names = self._param_layers(members)
            index: dict[tuple[str, str], list[int]] = {}
            for kind in ("layer", "group"):
                for i, (g, p) in enumerate(members):
                    index.setdefault((kind, layer_names[id(p)] if kind == "layer" else f"group{g}"), []).append(i)
            plan = [(kind, name, idx, sum(members[i][1].numel() for i in idx), max(members[i][1].dim() for i in idx))
                    for (kind, name), idx in index.items()]
            self._scope_plan = (ids, plan)
        return self._scope_plan[1]

    def _record(self, step: int, buckets: dict[BucketKey, Members], slot: int, prev_slot: int) -> None:
        with_adaptive = self._sample_count % self.adaptive_every == 0
        self._sample_count += 1
        groups, parts = self.optimizer.param_groups, group_parts(self.optimizer)
        members_all: Members = []
        rows: list[list[float]] = []
        terms_all: list[AdaptiveTerms | None] = []
        for key, members in buckets.items():
            minus_update, minus_prev = self._buffers[key][1][slot], self._buffers[key][1][prev_slot]
            terms = ([adaptive_terms(parts[g].state(p), groups[g], parts[g].roles) for g, p in members]
                     if with_adaptive else [None] * len(members))
            rows += bucket_rows([p for _, p in members], [p.grad for _, p in members], minus_update, minus_prev,
                                terms if with_adaptive else None)
            members_all += members
            terms_all += terms
        table = np.array(rows)
        for kind, name, idx, count, ndim in self._scopes(members_all):
            state_key = next((terms_all[i].key for i in idx if terms_all[i] is not None), None)  # type: ignore[union-attr]
            self._add(make_sample(step, name, kind, table[idx].sum(axis=0).tolist(), count, ndim, state_key))

    def _add(self, sample: Sample) -> None:
        self.samples.append(sample)
        history = self._history.setdefault((sample.kind, sample.scope), [])
        history.append(sample)
        if sample.kind != "layer":
            return
        for pathology, value, message in detect(history, self.thresholds):
            if self.gate.allow(pathology, sample.scope, sample.step):
                diagnosis = Diagnosis(step=sample.step, layer=sample.scope, pathology=pathology,
                                      value=value, message=message)
                self.diagnoses.append(diagnosis)
                self.on_warning(diagnosis)

    def restore(self, samples: Iterable[Sample], steps: int) -> None:
        """Bring this fresh monitor to where one that recorded ``samples`` stood after ``steps`` steps.

        For a resumed run: feeding the saved samples through detection again rebuilds the history,
        the rate limit and the warnings exactly (detection is deterministic; ``on_warning`` is called
        for each warning again, so pass a silent one and set the real one afterwards); the count of
        sampled steps fixes which later samples read the adaptive state, and ``steps`` puts the
        sampling schedule on the run's steps. A sampled pair that straddles the checkpoint is lost.
        """
        check_non_negative("steps", steps, integer=True, style=STYLE_FIELD)
        samples = list(samples)
        for sample in samples:
            self._add(sample)
        self._sample_count = len({sample.step for sample in samples})
        self.steps = steps

    def warned(self, pathology: str, layer: str | None = None) -> bool:
        """Whether a warning for ``pathology`` (optionally in ``layer``) was emitted."""
        return any(d.pathology == pathology and (layer is None or d.layer == layer) for d in self.diagnoses)
