"""The schedules' own checks (steps, schedules, segments, plateau settings, saved states) and helpers
for :mod:`inertia.schedules`; the generic checks come from :mod:`inertia.checks`. Errors read
``"<name> must be ..., got <value>"``."""

from __future__ import annotations

import copy
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from inertia.checks import STYLE_SENTENCE, check_int, check_real, is_flag, is_number

Schedule = Callable[[int], float]

__all__ = [
    "Schedule", "check_count", "check_in_range", "check_last_epoch", "check_multiplier", "check_plateau_settings",
    "check_plateau_state", "check_schedule", "check_scheduler_state", "check_segments", "check_state_keys",
    "check_step", "load_state", "set_fields", "state_of", "takes_metric",
]


def check_count(name: str, value: Any, minimum: int) -> int:
    """An integer (Python or numpy, not a bool) ``>= minimum``."""
    return check_int(name, value, low=minimum, style=STYLE_SENTENCE)


def check_in_range(name: str, value: Any, low: float, high: float, low_open: bool = False,
                   high_open: bool = False) -> float:
    """A finite number between ``low`` and ``high`` (each end open or closed; an infinite end is no bound)."""
    lower = None if math.isinf(low) else low
    upper = None if math.isinf(high) else high
    return check_real(name, value, above=lower if low_open else None, at_least=None if low_open else lower,
                      below=upper if high_open else None, at_most=None if high_open else upper, style=STYLE_SENTENCE)


def check_schedule(name: str, value: Any) -> Schedule:
    """A schedule: any callable ``step -> multiplier``."""
    if not callable(value):
        raise ValueError(f"{name} must be a callable step -> multiplier, got {value!r}")
    return value


def check_step(step: Any) -> int:
    """A step index: an integer ``>= 0`` (anything with ``__index__``, never a bool), as an ``int``."""
    try:
        if is_flag(step):
            raise TypeError
        step = operator.index(step)
    except TypeError:
        raise ValueError(f"step must be an integer >= 0, got {step!r}") from None
    if step < 0:
        raise ValueError(f"step must be an integer >= 0, got {step!r}")
    return step


def state_of(schedule: Schedule) -> Any:
    """The schedule's ``state_dict()``, or None for a stateless schedule."""
    return schedule.state_dict() if hasattr(schedule, "state_dict") else None


def load_state(schedule: Schedule, state: Any, where: str) -> None:
    """Load ``state`` into ``schedule``, all or nothing; ValueError (naming ``where``) if it does not fit."""
    current = state_of(schedule)
    if state is None and current is None:
        return
    if state is None or not hasattr(schedule, "load_state_dict"):
        saved = "no saved state" if state is None else f"a saved {type(state).__name__}"
        raise ValueError(f"{where}: {saved} does not fit schedule {type(schedule).__name__}; "
                         "load a state saved from the same schedule")
    backup = copy.deepcopy(current)
    try:
        schedule.load_state_dict(state)
    except Exception as exc:
        if backup is not None:
            schedule.load_state_dict(backup)
        raise (ValueError(f"{where}: {exc}") if isinstance(exc, ValueError) else exc) from exc


def check_state_keys(where: str, state: Any, keys: set[str]) -> None:
    """``state`` must be a mapping with exactly ``keys``; ValueError naming ``where`` otherwise."""
    if not isinstance(state, Mapping) or set(state) != keys:
        found = sorted(state) if isinstance(state, Mapping) else type(state).__name__
        raise ValueError(f"{where}: expected a state with keys {sorted(keys)}, got {found}")


def takes_metric(schedule: Schedule) -> bool:
    """Whether the schedule is stepped with a metric (as :class:`~inertia.schedules.Plateau`)."""
    return bool(getattr(schedule, "takes_metric", False))


def set_fields(instance: Any, **values: Any) -> None:
    """Store checked (normalised) values on a frozen dataclass from its ``__post_init__``."""
    for key, value in values.items():
        object.__setattr__(instance, key, value)


def check_segments(schedules: Any, lengths: Any) -> tuple[tuple[Schedule, ...], tuple[int, ...]]:
    """The schedules and lengths of a ``Sequential``: one length fewer than schedules, each >= 1."""
    if not isinstance(schedules, Sequence) or isinstance(schedules, str) or len(schedules) == 0:
        raise ValueError(f"schedules must be a non-empty tuple of schedules, got {schedules!r}")
    if not isinstance(lengths, Sequence) or isinstance(lengths, str) or len(lengths) != len(schedules) - 1:
        raise ValueError(f"lengths must hold {len(schedules) - 1} segment lengths (one per schedule but the "
                         f"last), got {lengths!r}")
    checked = tuple(check_schedule(f"schedules[{i}]", schedule) for i, schedule in enumerate(schedules))
    return checked, tuple(check_count(f"lengths[{i}]", length, 1) for i, length in enumerate(lengths))


def check_plateau_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings of a ``Plateau`` (factor, patience, threshold, mode, cooldown, min_multiplier,
    threshold_mode, eps), checked and normalised; ValueError naming the first bad one."""
    mode, threshold_mode = settings["mode"], settings["threshold_mode"]
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    if threshold_mode not in ("rel", "abs"):
        raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
    threshold = check_in_range("threshold", settings["threshold"], 0.0, math.inf, high_open=True)
    if threshold_mode == "rel" and threshold >= 1.0:
        raise ValueError(f"threshold must be < 1 when threshold_mode is 'rel', got {settings['threshold']!r}")
    return dict(factor=check_in_range("factor", settings["factor"], 0.0, 1.0, low_open=True, high_open=True),
                patience=check_count("patience", settings["patience"], 0), threshold=threshold, mode=mode,
                cooldown=check_count("cooldown", settings["cooldown"], 0),
                min_multiplier=check_in_range("min_multiplier", settings["min_multiplier"], 0.0, 1.0),
                threshold_mode=threshold_mode, eps=check_in_range("eps", settings["eps"], 0.0, math.inf, high_open=True))


def check_plateau_state(state: Mapping[str, Any]) -> None:
    """The values of a ``Plateau`` state (its keys are checked already); ValueError naming the key."""
    try:
        check_plateau_settings(dict(state))
        for key in ("num_bad_updates", "cooldown_counter", "num_updates"):
            check_count(key, state[key], 0)
        check_in_range("multiplier", state["multiplier"], 0.0, 1.0)
        if not is_number(state["best"]) or math.isnan(state["best"]):
            raise ValueError(f"best must be a number (inf before the first metric), got {state['best']!r}")
        steps = state["decay_steps"]
        if not isinstance(steps, (list, tuple)) or not all(is_number(t, integer=True) for t in steps):
            raise ValueError(f"decay_steps must be a list of integers, got {steps!r}")
    except ValueError as exc:
        raise ValueError(f"state_dict: {exc}; nothing was loaded") from None


def check_multiplier(multiplier: Any, step: int) -> float:
    """What a schedule returned at ``step``: a finite number >= 0."""
    if not (is_number(multiplier) and math.isfinite(multiplier) and multiplier >= 0):
        raise ValueError(f"schedule returned {multiplier!r} at step {step}; a multiplier must be a finite number >= 0")
    return float(multiplier)


def check_last_epoch(optimizer: Any, last_epoch: Any) -> None:
    """``last_epoch`` of a scheduler: -1 (a fresh start), or a step to resume from when every group
    holds the ``initial_lr`` a previous scheduler stored."""
    check_count("last_epoch", last_epoch, -1)
    if last_epoch >= 0:
        for index, group in enumerate(optimizer.param_groups):
            if "initial_lr" not in group:
                raise ValueError(f"last_epoch={last_epoch!r} resumes a schedule, but param_groups[{index}] has "
                                 "no 'initial_lr'; create the scheduler with last_epoch=-1 and load its state_dict")


def check_scheduler_state(state: Any, current: Mapping[str, Any], num_groups: int) -> None:
    """A saved ``ScheduleLR`` state: the keys its ``state_dict`` has, counters and one lr per group."""
    if not isinstance(state, Mapping):
        raise TypeError(f"state_dict must be a dict as ScheduleLR.state_dict() returns, got {state!r} of type "
                        f"{type(state).__name__}")
    unknown = sorted(map(str, set(state) - set(current)))
    missing = sorted({"base_lrs", "last_epoch", "schedule_state"} - set(state))
    if unknown or missing:
        problem = " and ".join(f"{what} keys {keys}" for what, keys in (("unknown", unknown), ("missing", missing))
                               if keys)
        raise ValueError(f"state_dict: {problem} (expected the keys {sorted(current)}); nothing was loaded")
    check_count("state_dict['last_epoch']", state["last_epoch"], -1)
    if "_step_count" in state:
        check_count("state_dict['_step_count']", state["_step_count"], 0)
    for key in ("base_lrs", "_last_lr"):
        lrs = state.get(key, [0.0] * num_groups)
        if (not isinstance(lrs, (list, tuple)) or len(lrs) != num_groups
                or not all(is_number(lr) and math.isfinite(lr) and lr >= 0 for lr in lrs)):
            raise ValueError(f"state_dict['{key}'] must hold one finite lr >= 0 per param group ({num_groups}), "
                             f"got {lrs!r}")
    for key in ("_is_initial", "_get_lr_called_within_step"):
        if key in state and not is_flag(state[key]):
            raise ValueError(f"state_dict['{key}'] must be True or False, got {state[key]!r}")
