"""The schedule SPEC grammar against the inertia.schedules objects it names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inertia import schedules
from inertia.lab.schedule_spec import parse_schedule, takes_metric


@given(every=st.integers(1, 50), gamma=st.floats(0.01, 1.0), step=st.integers(0, 500))
def test_step_spec_equals_step_decay(every, gamma, step):
    spec = f"step:every={every},gamma={gamma!r}"
    assert parse_schedule(spec)(step) == schedules.step_decay(every, gamma)(step)


@pytest.mark.parametrize("spec, expected", [
    ("exp:0.9", schedules.exponential_decay(0.9)),
    ("exp:gamma=0.9", schedules.exponential_decay(0.9)),
    ("invtime:k=0.5", schedules.inverse_time_decay(0.5)),
    ("1/t:0.5", schedules.inverse_time_decay(0.5)),
    ("cosine:total=30,final=0.1", schedules.cosine_decay(30, 0.1)),
    ("cosine", schedules.cosine_decay(40)),
    ("warmup:5+cosine", schedules.linear_warmup(5, schedules.cosine_decay(35))),
    ("warmup:4", schedules.linear_warmup(4)),
    ("constant", schedules.constant()),
    ("", schedules.constant()),
])
def test_specs_match_library_schedules(spec, expected):
    parsed = parse_schedule(spec, total_steps=40)
    assert [parsed(t) for t in range(60)] == [expected(t) for t in range(60)]


def test_plateau_spec_takes_metric():
    schedule = parse_schedule("plateau:factor=0.5,patience=2")
    assert takes_metric(schedule) and not takes_metric(parse_schedule("exp:0.9"))
    for _ in range(4):
        schedule.update(1.0)
    assert schedule(0) == 0.5


@pytest.mark.parametrize("spec, fault", [
    ("linear", "unknown schedule 'linear'"),
    ("step:every=10", "step needs gamma"),
    ("step:every=2.5,gamma=0.5", "every='2.5' must be an integer"),
    ("step:10,0.5", "bare value '0.5'"),
    ("exp:gamma=1.5", "gamma must be a finite number"),
    ("exp:rate=0.9", "exp has no parameter 'rate'"),
    ("cosine", "cosine needs total=N"),
    ("exp:0.9+cosine:10", "only warmup:N may come before"),
    ("warmup:1+exp:0.9+exp:0.9", "at most one '+'"),
    ("exp:nan", "gamma='nan' must be finite"),
    ("warmup:0+cosine:10", "steps must be an integer >= 1, got 0"),
    ("warmup:-3+exp:0.9", "steps must be an integer >= 1, got -3"),
])
def test_bad_specs_name_the_spec_and_fault(spec, fault):
    with pytest.raises(ValueError, match="schedule: ") as error:
        parse_schedule(spec)
    assert repr(spec) in str(error.value) and fault in str(error.value)


def test_warmup_longer_than_run_is_refused():
    with pytest.raises(ValueError, match="leaves nothing of a 10-step run"):
        parse_schedule("warmup:10+cosine", total_steps=10)
