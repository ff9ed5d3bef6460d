"""Error inputs of inertia.schedules: every schedule's arguments, its calls, the torch driver and the
saved states it loads.

Each case is a bad call, the exception type and a regex naming the argument and the value. Each
test also checks that nothing changed: the optimizer's (and the scheduler's) state dict is equal
before and after, and no file or directory was created.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from error_cases import ErrorCase, case_ids, expect_refused, listing, same_state

import inertia
from inertia import schedules as S
from inertia.schedule_checks import takes_metric

E = ErrorCase
C = S.constant()


def _sgd() -> torch.optim.Optimizer:
    return inertia.SGD([torch.nn.Parameter(torch.ones(2))], lr=0.1, momentum=0.9)


def _factory(name: str, values: list, make) -> list[ErrorCase]:
    """``make(value)`` refused with a ValueError naming ``name`` and the value."""
    return [E(f"{name}={value!r} ({make.__name__})", lambda o, v=value: make(v), ValueError,
              rf"{name} must be .*, got {_escape(repr(value))}") for value in values]


def _escape(text: str) -> str:
    return "".join("\\" + ch if ch in r"\.^$*+?{}[]|()" else ch for ch in text)


def step_decay_every(value):
    return S.step_decay(value, 0.5)


def step_decay_gamma(value):
    return S.step_decay(3, value)


def StepDecay_every(value):  # noqa: N802 - named after the class it builds
    return S.StepDecay(value, 0.5)


def cosine_final(value):
    return S.cosine_decay(10, final=value)


def CosineDecay_total_steps(value):  # noqa: N802
    return S.CosineDecay(value)


def plateau_with(name):
    def make(value):
        return S.plateau(**{name: value})
    make.__name__ = f"plateau_{name}"
    return make


CONSTRUCTION = [
    *_factory("every", [0, -1, 2.5, True, "3", None], step_decay_every),
    *_factory("every", [0, "a"], StepDecay_every),
    *_factory("gamma", [-0.1, 0, 1.5, math.nan, math.inf, True, "0.5", None], step_decay_gamma),
    *_factory("gamma", [1.5, math.nan, 0, None, "x"], S.exponential_decay),
    *_factory("gamma", [-1.0, "x"], S.ExponentialDecay),
    *_factory("k", [-1.0, math.inf, math.nan, "x", True], S.inverse_time_decay),
    *_factory("k", [-1.0], S.InverseTimeDecay),
    *_factory("total_steps", [0, -3, 10.0, True, None], S.cosine_decay),
    *_factory("total_steps", [0], CosineDecay_total_steps),
    *_factory("final", [1.5, -0.1, math.nan, "0"], cosine_final),
    E("CosineDecay final=2.0", lambda o: S.CosineDecay(10, 2.0), ValueError, r"final must be .*, got 2\.0"),
    *_factory("steps", [0, True, 1.5, "2"], S.linear_warmup),
    *_factory("steps", [0], S.LinearWarmup),
    E("linear_warmup then=3", lambda o: S.linear_warmup(5, then=3), ValueError, r"then must be a callable.*got 3"),
    E("LinearWarmup then=3", lambda o: S.LinearWarmup(2, then=3), ValueError, r"then must be a callable.*got 3"),
    E("sequence []", lambda o: S.sequence([]), ValueError, r"segments must be .*got \[\]"),
    E("sequence 'ab'", lambda o: S.sequence("ab"), ValueError, r"segments must be .*got 'ab'"),
    E("sequence None", lambda o: S.sequence(None), ValueError, r"segments must be .*got None"),
    E("sequence n_steps 0", lambda o: S.sequence([(C, 0), (C, None)]), ValueError, r"segments\[0\] n_steps .*got 0"),
    E("sequence n_steps 'x'", lambda o: S.sequence([(C, "x"), (C, None)]), ValueError,
      r"segments\[0\] n_steps .*got 'x'"),
    E("sequence open middle", lambda o: S.sequence([(C, None), (C, None)]), ValueError,
      r"segments\[0\] n_steps .*got None"),
    E("sequence schedule 'x'", lambda o: S.sequence([("x", 2), (C, None)]), ValueError,
      r"segments\[0\] schedule .*got 'x'"),
    E("sequence segment not a pair", lambda o: S.sequence([(C,)]), ValueError, r"segments\[0\] must be a .*pair"),
    E("Sequential no schedules", lambda o: S.Sequential((), ()), ValueError, r"schedules must be .*got \(\)"),
    E("Sequential missing length", lambda o: S.Sequential((C, C), ()), ValueError, r"lengths must hold 1 .*got \(\)"),
    E("Sequential length 0", lambda o: S.Sequential((C, C), (0,)), ValueError, r"lengths\[0\] must be .*got 0"),
    E("Sequential schedule 'x'", lambda o: S.Sequential(("x",), ()), ValueError, r"schedules\[0\] must be .*'x'"),
    *_factory("factor", [1.0, 0.0, -1, "x", math.nan], plateau_with("factor")),
    *_factory("patience", [-1, 1.5, True], plateau_with("patience")),
    *_factory("mode", ["up", None], plateau_with("mode")),
    *_factory("cooldown", [-2, 1.5], plateau_with("cooldown")),
    *_factory("min_multiplier", [2.0, -0.1], plateau_with("min_multiplier")),
    *_factory("threshold", [-1e-3, math.nan, 1.0], plateau_with("threshold")),
    *_factory("threshold_mode", ["x"], plateau_with("threshold_mode")),
    *_factory("eps", [-1, math.nan], lambda value: S.Plateau(eps=value)),
    E("Plateau.update metric 'high'", lambda o: S.plateau().update("high"), ValueError, r"metric .*got 'high'"),
    E("Plateau.update metric None", lambda o: S.plateau().update(None), ValueError, r"metric .*got None"),
    E("Plateau.update metric vector", lambda o: S.plateau().update(torch.ones(2)), ValueError, r"metric .*tensor"),
    E("Plateau.update step 'x'", lambda o: S.plateau().update(1.0, step="x"), ValueError, r"step .*got 'x'"),
    E("Plateau.update step -1", lambda o: S.plateau().update(1.0, step=-1), ValueError, r"step .*got -1"),
    *[E(f"{type(s).__name__}({step!r})", lambda o, s=s, step=step: s(step), ValueError,
        rf"step must be an integer >= 0, got {_escape(repr(step))}")
      for s in (C, S.step_decay(2, 0.5), S.cosine_decay(10), S.linear_warmup(2), S.plateau(),
                S.sequence([(C, 2), (C, None)]))
      for step in (-1, 1.5, "1", True, None)],
    E("attach schedule=0.5", lambda o: S.attach(o, 0.5), ValueError, r"schedule must be a callable.*got 0\.5"),
    E("attach optimizer='sgd'", lambda o: S.attach("sgd", C), ValueError, r"optimizer must be .*got 'sgd'"),
    E("attach returns -1", lambda o: S.attach(o, lambda t: -1.0), ValueError, r"schedule returned -1\.0 at step 0"),
    E("attach returns nan", lambda o: S.attach(o, lambda t: math.nan), ValueError, r"schedule returned nan"),
    E("attach returns 'x'", lambda o: S.attach(o, lambda t: "x"), ValueError, r"schedule returned 'x'"),
    *[E(f"ScheduleLR last_epoch={value!r}", lambda o, v=value: S.ScheduleLR(o, C, last_epoch=v), ValueError,
        rf"last_epoch.* {_escape(repr(value))}") for value in ("x", -2, 1.5, True, None)],
    E("ScheduleLR last_epoch=5 without initial_lr", lambda o: S.ScheduleLR(o, C, last_epoch=5), ValueError,
      r"last_epoch=5 resumes a schedule, but param_groups\[0\] has no 'initial_lr'"),
]


@pytest.mark.parametrize("case", CONSTRUCTION, ids=case_ids(CONSTRUCTION))
def test_schedule_arguments_are_refused_by_name(case, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    optimizer = _sgd()
    before = copy.deepcopy(optimizer.state_dict())
    expect_refused(case, optimizer)
    assert same_state(optimizer.state_dict(), before)
    assert listing(tmp_path) == []


def _driven(make) -> S.ScheduleLR:
    scheduler = S.attach(_sgd(), make())
    for metric in (3.0, 2.0, 2.5, 2.5):
        scheduler.optimizer.step()
        scheduler.step(metric) if takes_metric(scheduler.schedule) else scheduler.step()
    return scheduler


def _with(key, value):
    return lambda good: {**good, key: value}


def _schedule_state(key, value):
    return lambda good: {**good, "schedule_state": {**good["schedule_state"], key: value}}


COSINE, PLATEAU = (lambda: S.cosine_decay(30)), (lambda: S.plateau(patience=0))
LOADS = [
    ("a list", COSINE, lambda good: [1, 2], TypeError, r"state_dict must be a dict .*got \[1, 2\]"),
    ("None", COSINE, lambda good: None, TypeError, r"state_dict must be a dict .*got None"),
    ("empty", COSINE, lambda good: {}, ValueError, r"state_dict: missing keys \['base_lrs', 'last_epoch'"),
    ("no last_epoch", COSINE, lambda good: {k: v for k, v in good.items() if k != "last_epoch"}, ValueError,
     r"state_dict: missing keys \['last_epoch'\]"),
    ("optimizer key", COSINE, _with("optimizer", 3), ValueError, r"state_dict: unknown keys \['optimizer'\]"),
    ("unknown key", COSINE, _with("bogus", 3), ValueError, r"state_dict: unknown keys \['bogus'\]"),
    ("last_epoch 'x'", COSINE, _with("last_epoch", "x"), ValueError, r"state_dict\['last_epoch'\] .*got 'x'"),
    ("last_epoch -2", COSINE, _with("last_epoch", -2), ValueError, r"state_dict\['last_epoch'\] .*got -2"),
    ("last_epoch True", COSINE, _with("last_epoch", True), ValueError, r"state_dict\['last_epoch'\] .*got True"),
    ("_step_count -1", COSINE, _with("_step_count", -1), ValueError, r"state_dict\['_step_count'\] .*got -1"),
    ("base_lrs too many", COSINE, _with("base_lrs", [0.1, 0.2]), ValueError,
     r"state_dict\['base_lrs'\] must hold one finite lr >= 0 per param group \(1\), got \[0\.1, 0\.2\]"),
    ("base_lrs 'x'", COSINE, _with("base_lrs", ["x"]), ValueError, r"state_dict\['base_lrs'\] .*got \['x'\]"),
    ("base_lrs -1", COSINE, _with("base_lrs", [-1.0]), ValueError, r"state_dict\['base_lrs'\] .*got \[-1\.0\]"),
    ("base_lrs a number", COSINE, _with("base_lrs", 0.1), ValueError, r"state_dict\['base_lrs'\] .*got 0\.1"),
    ("_last_lr nan", COSINE, _with("_last_lr", [math.nan]), ValueError, r"state_dict\['_last_lr'\] .*got \[nan\]"),
    ("_is_initial 'x'", COSINE, _with("_is_initial", "x"), ValueError, r"state_dict\['_is_initial'\] .*got 'x'"),
    ("plateau state into cosine", COSINE, lambda good: _driven(PLATEAU).state_dict(), ValueError,
     r"state_dict\['schedule_state'\]: a saved dict does not fit schedule CosineDecay"),
    ("no schedule state for plateau", PLATEAU, _with("schedule_state", None), ValueError,
     r"state_dict\['schedule_state'\]: no saved state does not fit schedule Plateau"),
    ("plateau state a list", PLATEAU, _with("schedule_state", [1]), ValueError,
     r"state_dict\['schedule_state'\]: state_dict: expected a state with keys"),
    ("plateau extra key", PLATEAU, _schedule_state("bogus", 1), ValueError,
     r"state_dict\['schedule_state'\]: state_dict: expected a state with keys"),
    *[(f"plateau {key}={value!r}", PLATEAU, _schedule_state(key, value), ValueError,
       rf"state_dict\['schedule_state'\]: state_dict: {key} .*{_escape(repr(value))}")
      for key, value in [("multiplier", "x"), ("multiplier", 2.0), ("factor", 5.0), ("patience", -1),
                         ("num_updates", -1), ("num_bad_updates", 1.5), ("cooldown_counter", None),
                         ("decay_steps", 3), ("decay_steps", ["a"]), ("best", math.nan), ("best", "x"),
                         ("mode", "up"), ("threshold_mode", "x"), ("eps", -1.0), ("min_multiplier", 2.0),
                         ("threshold", 1.5)]],
]
LOAD_TABLE = [E(label, (make, bad), error, match) for label, make, bad, error, match in LOADS]


@pytest.mark.parametrize("case", LOAD_TABLE, ids=case_ids(LOAD_TABLE))
def test_scheduler_load_state_dict_refuses_by_name_and_changes_nothing(case, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    make, bad = case.call
    scheduler = _driven(make)
    good, optimizer_before = copy.deepcopy(scheduler.state_dict()), copy.deepcopy(scheduler.optimizer.state_dict())
    expect_refused(E(case.id, scheduler.load_state_dict, case.error, case.match), bad(copy.deepcopy(good)))
    assert same_state(scheduler.state_dict(), good)
    assert same_state(scheduler.optimizer.state_dict(), optimizer_before)
    assert listing(tmp_path) == []
    scheduler.load_state_dict(copy.deepcopy(good))  # still loads a good state
    assert same_state(scheduler.state_dict(), good)


STEP_CASES = [
    E("metric for a metricless schedule", lambda s: s.step(1.0), ValueError, r"metric given \(1\.0\)"),
    E("metric 'x' for plateau", lambda s: s.step("x"), ValueError, r"metric must be a real number, got 'x'"),
    E("metric None-like tensor", lambda s: s.step(torch.ones(3)), ValueError, r"metric must be a real number"),
]


@pytest.mark.parametrize("case", STEP_CASES, ids=case_ids(STEP_CASES))
def test_scheduler_step_refuses_a_bad_metric_and_changes_nothing(case) -> None:
    scheduler = _driven(COSINE if case.id.startswith("metric for") else PLATEAU)
    before = (copy.deepcopy(scheduler.state_dict()), copy.deepcopy(scheduler.optimizer.state_dict()))
    expect_refused(case, scheduler)
    assert same_state((scheduler.state_dict(), scheduler.optimizer.state_dict()), before)
