"""Learning-rate schedules: callables ``schedule(step) -> multiplier`` and a torch driver.

Each schedule maps a step index (counted from 0) to a non-negative multiplier of the base learning
rate. :func:`attach` turns any schedule into a ``torch.optim.lr_scheduler.LRScheduler`` that sets
``lr = base_lr * schedule(step)`` on every param group of any torch optimizer.

The schedules follow the CS231n notes on annealing the learning rate (step decay, exponential decay,
1/t decay, and "decay only when it is needed", here :func:`plateau`), plus cosine decay
(Loshchilov & Hutter, "SGDR", 2017) and linear warmup (Goyal et al., "Accurate, Large Minibatch SGD", 2017).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch.optim.lr_scheduler import LRScheduler

from inertia.schedule_checks import (
    Schedule,
    check_count,
    check_in_range,
    check_last_epoch,
    check_multiplier,
    check_plateau_settings,
    check_plateau_state,
    check_schedule,
    check_scheduler_state,
    check_segments,
    check_state_keys,
    check_step,
    load_state,
    set_fields,
    state_of,
    takes_metric,
)

__all__ = [
    "Schedule", "Constant", "StepDecay", "ExponentialDecay", "InverseTimeDecay", "CosineDecay",
    "LinearWarmup", "Sequential", "Plateau", "ScheduleLR", "constant", "step_decay", "exponential_decay",
    "inverse_time_decay", "cosine_decay", "linear_warmup", "sequence", "plateau", "attach",
]


# ----------------------------------------------------------------------------- closed-form schedules
@dataclass(frozen=True)
class Constant:
    """``m(t) = 1``: keep the base learning rate."""

    def __call__(self, step: int) -> float:
        check_step(step)
        return 1.0


@dataclass(frozen=True)
class StepDecay:
    """``m(t) = gamma ** floor(t / every)``: multiply by gamma every ``every`` steps (torch ``StepLR``)."""

    every: int
    gamma: float

    def __post_init__(self) -> None:
        set_fields(self, every=check_count("every", self.every, 1),
                   gamma=check_in_range("gamma", self.gamma, 0.0, 1.0, low_open=True))

    def __call__(self, step: int) -> float:
        return self.gamma ** (check_step(step) // self.every)


@dataclass(frozen=True)
class ExponentialDecay:
    """``m(t) = gamma ** t`` (torch ``ExponentialLR``)."""

    gamma: float

    def __post_init__(self) -> None:
        set_fields(self, gamma=check_in_range("gamma", self.gamma, 0.0, 1.0, low_open=True))

    def __call__(self, step: int) -> float:
        return self.gamma ** check_step(step)


@dataclass(frozen=True)
class InverseTimeDecay:
    """``m(t) = 1 / (1 + k t)``: the notes' 1/t decay."""

    k: float

    def __post_init__(self) -> None:
        set_fields(self, k=check_in_range("k", self.k, 0.0, math.inf, high_open=True))

    def __call__(self, step: int) -> float:
        return 1.0 / (1.0 + self.k * check_step(step))


@dataclass(frozen=True)
class CosineDecay:
    """``m(t) = final + (1 - final) (1 + cos(pi min(t, T) / T)) / 2`` with ``T = total_steps``.

    Half a cosine from 1 at t = 0 down to ``final`` at t = T, then constant at ``final``
    (Loshchilov & Hutter 2017, without restarts; torch ``CosineAnnealingLR`` for t <= T).
    """

    total_steps: int
    final: float = 0.0

    def __post_init__(self) -> None:
        set_fields(self, total_steps=check_count("total_steps", self.total_steps, 1),
                   final=check_in_range("final", self.final, 0.0, 1.0))

    def __call__(self, step: int) -> float:
        progress = min(check_step(step), self.total_steps) / self.total_steps
        return self.final + (1.0 - self.final) * (1.0 + math.cos(math.pi * progress)) / 2.0


# ----------------------------------------------------------------------------- composition
@dataclass(frozen=True)
class LinearWarmup:
    """``m(t) = (t + 1) / steps`` for ``t < steps``, then ``then(t - steps)``.

    The warmup starts at ``1/steps`` (not 0, so no step is wasted at lr 0) and reaches 1 on its last
    step ``t = steps - 1``; ``then`` starts its own count at 0 on step ``steps``.
    """

    steps: int
    then: Schedule = field(default_factory=Constant)

    def __post_init__(self) -> None:
        set_fields(self, steps=check_count("steps", self.steps, 1), then=check_schedule("then", self.then))

    @property
    def takes_metric(self) -> bool:
        return takes_metric(self.then)

    def __call__(self, step: int) -> float:
        step = check_step(step)
        if step < self.steps:
            return (step + 1) / self.steps
        return self.then(step - self.steps)

    def update(self, metric: float, step: int | None = None) -> None:
        """Forward a monitored metric to ``then`` when it takes one."""
        if takes_metric(self.then):
            self.then.update(metric, step)

    def state_dict(self) -> dict[str, Any]:
        return {"then": state_of(self.then)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``then``'s state; nothing changes if the state does not fit."""
        check_state_keys("state_dict", state, {"then"})
        load_state(self.then, state["then"], "state_dict['then']")


@dataclass(frozen=True)
class Sequential:
    """Run ``schedules[i]`` for ``lengths[i]`` steps each; the last one continues for ever.

    With boundaries ``B_i = lengths[0] + ... + lengths[i-1]``: ``m(t) = schedules[i](t - B_i)`` for
    ``B_i <= t < B_{i+1}``; each segment counts its own steps from 0.
    """

    schedules: tuple[Schedule, ...]
    lengths: tuple[int, ...]

    def __post_init__(self) -> None:
        schedules, lengths = check_segments(self.schedules, self.lengths)
        set_fields(self, schedules=schedules, lengths=lengths)

    @property
    def takes_metric(self) -> bool:
        return any(takes_metric(s) for s in self.schedules)

    def __call__(self, step: int) -> float:
        step = check_step(step)
        for schedule, length in zip(self.schedules[:-1], self.lengths, strict=False):
            if step < length:
                return schedule(step)
            step -= length
        return self.schedules[-1](step)

    def update(self, metric: float, step: int | None = None) -> None:
        """Forward a monitored metric to every segment that takes one."""
        for schedule in self.schedules:
            if takes_metric(schedule):
                schedule.update(metric, step)

    def state_dict(self) -> dict[str, Any]:
        return {"schedules": [state_of(s) for s in self.schedules]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore every segment's state; nothing changes if any part does not fit."""
        check_state_keys("state_dict", state, {"schedules"})
        states = state["schedules"]
        if not isinstance(states, Sequence) or len(states) != len(self.schedules):
            raise ValueError(f"state_dict['schedules']: expected {len(self.schedules)} segment states, "
                             f"got {states!r}")
        backups = copy.deepcopy(self.state_dict())["schedules"]
        try:
            for i, (schedule, sub_state) in enumerate(zip(self.schedules, states, strict=True)):
                load_state(schedule, sub_state, f"state_dict['schedules'][{i}]")
        except Exception:
            for schedule, backup in zip(self.schedules, backups, strict=True):
                load_state(schedule, backup, "rollback")
            raise


# ----------------------------------------------------------------------------- plateau
class Plateau:
    """Multiply by ``factor`` when a monitored metric has not improved for more than ``patience`` updates.

    The notes' "decay only when it is needed". Same rule as torch ``ReduceLROnPlateau``: a metric is
    better when ``m < best * (1 - threshold)`` ("min", "rel"), ``m < best - threshold`` ("min", "abs"),
    ``m > best * (1 + threshold)`` ("max", "rel") or ``m > best + threshold`` ("max", "abs"). After more
    than ``patience`` non-improving updates the multiplier becomes ``max(multiplier * factor,
    min_multiplier)`` and ``cooldown`` updates are ignored. A NaN metric never counts as better.
    One difference: a decay smaller than ``eps`` is skipped, and ``eps`` applies to the multiplier
    (torch applies it to the learning rate itself); for torch's cut-off at base rate ``lr``, pass
    ``eps=1e-8 / lr``.
    ``plateau(step)`` returns the current multiplier (the step is only validated); ``decay_steps`` lists
    the steps where the multiplier changed (the ``step`` given to :meth:`update`, else the update count).
    """

    takes_metric = True

    def __init__(self, factor: float = 0.1, patience: int = 10, threshold: float = 1e-4,
                 mode: Literal["min", "max"] = "min", cooldown: int = 0, min_multiplier: float = 0.0,
                 threshold_mode: Literal["rel", "abs"] = "rel", eps: float = 1e-8) -> None:
        settings = check_plateau_settings(dict(factor=factor, patience=patience, threshold=threshold, mode=mode,
                                                cooldown=cooldown, min_multiplier=min_multiplier,
                                                threshold_mode=threshold_mode, eps=eps))
        self.__dict__.update(settings)
        self.multiplier = 1.0
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_updates = 0
        self.cooldown_counter = 0
        self.num_updates = 0
        self.decay_steps: list[int] = []

    def __call__(self, step: int) -> float:
        check_step(step)
        return self.multiplier

    def __repr__(self) -> str:
        return (f"Plateau(factor={self.factor}, patience={self.patience}, multiplier={self.multiplier}, "
                f"decay_steps={self.decay_steps})")

    def _is_better(self, metric: float) -> bool:
        sign = 1.0 if self.mode == "min" else -1.0
        if self.threshold_mode == "rel":
            return sign * metric < sign * self.best * (1.0 - sign * self.threshold)
        return sign * metric < sign * self.best - self.threshold

    def update(self, metric: float | torch.Tensor, step: int | None = None) -> None:
        """Feed one observation of the monitored metric; may decay the multiplier."""
        try:
            value = float(metric)
        except (TypeError, ValueError, RuntimeError):
            raise ValueError(f"metric must be a real number, got {metric!r}") from None
        if step is not None:
            step = check_step(step)
        self.num_updates += 1
        if self._is_better(value):
            self.best, self.num_bad_updates = value, 0
        else:
            self.num_bad_updates += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_updates = 0
        if self.num_bad_updates > self.patience:
            new = max(self.multiplier * self.factor, self.min_multiplier)
            if self.multiplier - new > self.eps:
                self.multiplier = new
                self.decay_steps.append(self.num_updates if step is None else step)
            self.cooldown_counter, self.num_bad_updates = self.cooldown, 0

    def state_dict(self) -> dict[str, Any]:
        return {key: (list(v) if isinstance(v, list) else v) for key, v in vars(self).items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state from :meth:`state_dict`; ValueError, and nothing changes, if its keys differ."""
        check_state_keys("state_dict", state, set(vars(self)))
        check_plateau_state(state)
        self.__dict__.update({key: (list(v) if isinstance(v, list) else v) for key, v in state.items()})


# ----------------------------------------------------------------------------- factories
def constant() -> Constant:
    """``m(t) = 1``."""
    return Constant()


def step_decay(every: int, gamma: float) -> StepDecay:
    """``m(t) = gamma ** (t // every)``, with ``every >= 1`` and ``0 < gamma <= 1``."""
    return StepDecay(every, gamma)


def exponential_decay(gamma: float) -> ExponentialDecay:
    """``m(t) = gamma ** t``, with ``0 < gamma <= 1``."""
    return ExponentialDecay(gamma)


def inverse_time_decay(k: float) -> InverseTimeDecay:
    """``m(t) = 1 / (1 + k t)``, with finite ``k >= 0``."""
    return InverseTimeDecay(k)


def cosine_decay(total_steps: int, final: float = 0.0) -> CosineDecay:
    """``m(t) = final + (1 - final)(1 + cos(pi min(t, T)/T))/2``, ``T = total_steps >= 1``, final in [0, 1]."""
    return CosineDecay(total_steps, final)


def linear_warmup(steps: int, then: Schedule | None = None) -> LinearWarmup:
    """``m(t) = (t + 1)/steps`` for ``t < steps``, then ``then(t - steps)`` (default :func:`constant`)."""
    return LinearWarmup(steps, Constant() if then is None else then)


def sequence(segments: Sequence[tuple[Schedule, int | None]]) -> Sequential:
    """Chain ``[(schedule, n_steps), ...]``: each runs ``n_steps`` steps counted from 0; the last never ends.

    The last segment's ``n_steps`` may be ``None``; a number there is validated but does not end it.
    """
    if isinstance(segments, (str, bytes)) or not isinstance(segments, Sequence) or len(segments) == 0:
        raise ValueError(f"segments must be a non-empty list of (schedule, n_steps) pairs, got {segments!r}")
    schedules, lengths = [], []
    for i, segment in enumerate(segments):
        if not isinstance(segment, (tuple, list)) or len(segment) != 2:
            raise ValueError(f"segments[{i}] must be a (schedule, n_steps) pair, got {segment!r}")
        schedules.append(check_schedule(f"segments[{i}] schedule", segment[0]))
        last = i == len(segments) - 1
        if not (last and segment[1] is None):
            lengths.append(check_count(f"segments[{i}] n_steps", segment[1], 1))
    return Sequential(tuple(schedules), tuple(lengths[: len(schedules) - 1]))


def plateau(factor: float = 0.1, patience: int = 10, threshold: float = 1e-4,
            mode: Literal["min", "max"] = "min", cooldown: int = 0, min_multiplier: float = 0.0,
            threshold_mode: Literal["rel", "abs"] = "rel") -> Plateau:
    """A :class:`Plateau` schedule: decay by ``factor`` when the fed metric stops improving."""
    return Plateau(factor, patience, threshold, mode, cooldown, min_multiplier, threshold_mode)


# ----------------------------------------------------------------------------- torch driver
class ScheduleLR(LRScheduler):
    """``LRScheduler`` that sets ``group["lr"] = base_lr * schedule(last_epoch)`` for every param group.

    ``step()`` advances one step; ``step(metric)`` first feeds ``metric`` to a schedule that takes one
    (:func:`plateau`, or a composite holding one). ``state_dict`` includes the schedule's own state.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, schedule: Schedule, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise ValueError(f"optimizer must be a torch.optim.Optimizer, got {optimizer!r}")
        self.schedule = check_schedule("schedule", schedule)
        check_last_epoch(optimizer, last_epoch)
        check_multiplier(schedule(last_epoch + 1), last_epoch + 1)  # before torch writes initial_lr
        super().__init__(optimizer, last_epoch)

    def _multiplier(self, step: int) -> float:
        return check_multiplier(self.schedule(step), step)

    def get_lr(self) -> list[float | torch.Tensor]:
        multiplier = self.__dict__.pop("_pending_multiplier", None)
        if multiplier is None:
            multiplier = self._multiplier(self.last_epoch)
        return [base_lr * multiplier for base_lr in self.base_lrs]

    def step(self, metric: float | torch.Tensor | None = None) -> None:  # type: ignore[override]
        """Advance one step; feed ``metric`` first if given. A bad multiplier raises before any change."""
        if metric is not None:
            if not takes_metric(self.schedule):
                raise ValueError(f"metric given ({metric!r}) but schedule {self.schedule!r} takes no metric")
            self.schedule.update(metric, self.last_epoch + 1)
        self._pending_multiplier = self._multiplier(self.last_epoch + 1)
        super().step()

    def state_dict(self) -> dict[str, Any]:
        state = {key: v for key, v in self.__dict__.items() if key not in ("optimizer", "schedule")}
        state["schedule_state"] = state_of(self.schedule)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state from :meth:`state_dict`; ValueError or TypeError, and nothing changes, if it
        does not fit (unknown keys, bad counters or learning rates, a schedule state of another kind)."""
        check_scheduler_state(state_dict, self.state_dict(), len(self.optimizer.param_groups))
        state = dict(state_dict)
        load_state(self.schedule, state.pop("schedule_state", None), "state_dict['schedule_state']")
        self.__dict__.update(state)


def attach(optimizer: torch.optim.Optimizer, schedule: Schedule) -> ScheduleLR:
    """Drive ``optimizer`` (inertia's or torch's) with ``schedule``: ``lr = base_lr * schedule(step)``."""
    return ScheduleLR(optimizer, schedule)
