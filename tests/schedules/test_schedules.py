"""inertia.schedules against closed forms, torch.optim.lr_scheduler, and its laws."""

from __future__ import annotations

import io
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.optim import lr_scheduler as tls

from inertia import schedules as S
from inertia.schedule_checks import state_of

BASE_LRS = (0.1, 0.03)
N_STEPS = 300


def _sgd(lrs: tuple[float, ...] = BASE_LRS) -> torch.optim.SGD:
    groups = [{"params": [torch.zeros(2, dtype=torch.float64, requires_grad=True)], "lr": lr} for lr in lrs]
    return torch.optim.SGD(groups, lr=lrs[0])


def _lrs(scheduler: tls.LRScheduler) -> list[float]:
    return [float(group["lr"]) for group in scheduler.optimizer.param_groups]


def _run(scheduler: tls.LRScheduler, n: int, metrics: list[float] | None = None) -> list[list[float]]:
    """lr of every group at steps 0..n-1 (optimizer.step before scheduler.step, as torch asks)."""
    history = [_lrs(scheduler)]
    for t in range(n - 1):
        scheduler.optimizer.step()
        scheduler.step() if metrics is None else scheduler.step(metrics[t])
        history.append(_lrs(scheduler))
    return history


def _assert_close(ours: list[list[float]], ref: list[list[float]], rel: float = 1e-12) -> None:
    assert len(ours) == len(ref)
    for t, (a, b) in enumerate(zip(ours, ref, strict=True)):
        assert a == pytest.approx(b, rel=rel, abs=1e-15), f"step {t}: {a} != {b}"


# ----------------------------------------------------------------------------- closed forms
CLOSED_FORMS = [
    (S.constant(), lambda t: 1.0),
    (S.step_decay(7, 0.5), lambda t: 0.5 ** (t // 7)),
    (S.exponential_decay(0.97), lambda t: 0.97**t),
    (S.inverse_time_decay(0.3), lambda t: 1.0 / (1.0 + 0.3 * t)),
    (S.cosine_decay(50, final=0.1), lambda t: 0.1 + 0.9 * (1 + math.cos(math.pi * min(t, 50) / 50)) / 2),
    (S.linear_warmup(4), lambda t: min(t + 1, 4) / 4),
]


@pytest.mark.parametrize(("schedule", "formula"), CLOSED_FORMS, ids=lambda x: type(x).__name__)
def test_schedule_matches_closed_form(schedule, formula):
    for t in range(N_STEPS):
        assert schedule(t) == pytest.approx(formula(t), rel=1e-14, abs=1e-15), t


def test_cosine_endpoints_and_tail():
    cos = S.cosine_decay(10, final=0.25)
    assert cos(0) == 1.0 and cos(5) == pytest.approx(0.625) and cos(10) == pytest.approx(0.25)
    assert all(cos(t) == cos(10) for t in range(10, 40))


# ----------------------------------------------------------------------------- torch parity
TORCH_PAIRS = [
    ("StepLR", lambda: S.step_decay(13, 0.3), lambda o: tls.StepLR(o, step_size=13, gamma=0.3)),
    ("ExponentialLR", lambda: S.exponential_decay(0.98), lambda o: tls.ExponentialLR(o, gamma=0.98)),
    ("CosineAnnealingLR", lambda: S.cosine_decay(N_STEPS - 1), lambda o: tls.CosineAnnealingLR(o, N_STEPS - 1)),
    ("LinearLR", lambda: S.linear_warmup(20, then=S.constant()),
     lambda o: tls.LinearLR(o, start_factor=1 / 20, end_factor=1.0, total_iters=19)),
    ("LambdaLR", lambda: S.inverse_time_decay(0.05), lambda o: tls.LambdaLR(o, lambda t: 1 / (1 + 0.05 * t))),
]


@pytest.mark.parametrize(("name", "ours", "theirs"), TORCH_PAIRS, ids=[p[0] for p in TORCH_PAIRS])
def test_attach_matches_torch_scheduler(name, ours, theirs):
    _assert_close(_run(S.attach(_sgd(), ours()), N_STEPS), _run(theirs(_sgd()), N_STEPS), rel=1e-10)


def test_cosine_with_final_matches_torch_eta_min():
    ours = _run(S.attach(_sgd((0.1,)), S.cosine_decay(80, final=0.2)), 81)
    ref = _run(tls.CosineAnnealingLR(_sgd((0.1,)), T_max=80, eta_min=0.02), 81)
    _assert_close(ours, ref, rel=1e-10)


def test_warmup_then_cosine_matches_torch_sequential():
    ours = S.linear_warmup(10, then=S.cosine_decay(100, final=0.0))
    opt = _sgd()
    ref = tls.SequentialLR(opt, [tls.LinearLR(opt, 1 / 10, 1.0, total_iters=9),
                                 tls.CosineAnnealingLR(opt, T_max=100)], milestones=[10])
    _assert_close(_run(S.attach(_sgd(), ours), 111), _run(ref, 111), rel=1e-10)


def test_sequence_segments_count_from_zero_and_last_is_open_ended():
    seq = S.sequence([(S.constant(), 3), (S.exponential_decay(0.5), 2), (S.step_decay(2, 0.1), None)])
    assert [seq(t) for t in range(9)] == pytest.approx([1, 1, 1, 1, 0.5, 1, 1, 0.1, 0.1])
    same = S.sequence([(S.constant(), 3), (S.exponential_decay(0.5), 2), (S.step_decay(2, 0.1), 1)])
    assert [same(t) for t in range(40)] == [seq(t) for t in range(40)]


# ----------------------------------------------------------------------------- plateau
def _metric_walk(n: int, seed: int) -> list[float]:
    g = torch.Generator().manual_seed(seed)
    steps = torch.randn(n, generator=g, dtype=torch.float64) * 0.05 - 0.01
    return (1.0 + steps.cumsum(0)).abs().tolist()


PLATEAU_CONFIGS = [
    dict(factor=0.5, patience=3, threshold=1e-3, mode="min", cooldown=0),
    dict(factor=0.1, patience=0, threshold=0.0, mode="max", cooldown=2),
    dict(factor=0.3, patience=5, threshold=1e-2, mode="min", cooldown=4, threshold_mode="abs"),
    dict(factor=0.5, patience=1, threshold=1e-4, mode="max", cooldown=1, threshold_mode="abs"),
]


@pytest.mark.parametrize("config", PLATEAU_CONFIGS, ids=str)
@pytest.mark.parametrize("seed", [0, 1])
def test_plateau_matches_reduce_lr_on_plateau(config, seed):
    metrics = _metric_walk(200, seed)
    schedule = S.plateau(min_multiplier=0.01, **config)
    ref = tls.ReduceLROnPlateau(_sgd(), min_lr=[0.1 * 0.01, 0.03 * 0.01], **config)
    ours_lrs = _run(S.attach(_sgd(), schedule), 201, metrics)
    ref_lrs = _run(ref, 201, metrics)
    _assert_close(ours_lrs, ref_lrs, rel=1e-12)
    ref_decays = [t for t in range(1, 201) if ref_lrs[t][0] < ref_lrs[t - 1][0]]
    assert schedule.decay_steps == ref_decays and len(ref_decays) >= 2


@settings(max_examples=40, deadline=None)
@given(metrics=st.lists(st.floats(-10, 10, allow_nan=False), min_size=1, max_size=40),
       patience=st.integers(0, 4), cooldown=st.integers(0, 3), mode=st.sampled_from(["min", "max"]))
def test_plateau_decay_points_match_torch_property(metrics, patience, cooldown, mode):
    ours = S.plateau(factor=0.5, patience=patience, cooldown=cooldown, mode=mode, threshold_mode="abs",
                     threshold=0.1)
    ref = tls.ReduceLROnPlateau(_sgd((1.0,)), factor=0.5, patience=patience, cooldown=cooldown, mode=mode,
                                threshold_mode="abs", threshold=0.1)
    for step, metric in enumerate(metrics, start=1):
        ours.update(metric, step)
        ref.step(metric)
        assert ours(step) == pytest.approx(ref.optimizer.param_groups[0]["lr"], rel=1e-15)


def test_plateau_standalone_counts_updates_and_respects_floor():
    schedule = S.plateau(factor=0.1, patience=1, min_multiplier=0.005)
    for metric in [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]:
        schedule.update(metric)
    assert schedule.decay_steps == [3, 5] and schedule(0) == pytest.approx(0.01)
    schedule.update(torch.tensor(1.0))
    assert schedule.decay_steps == [3, 5, 7] and schedule(100) == 0.005
    for _ in range(4):
        schedule.update(1.0)
    assert schedule.decay_steps == [3, 5, 7] and schedule(100) == 0.005


def test_plateau_inside_warmup_receives_metric_through_attach():
    schedule = S.linear_warmup(2, then=S.plateau(factor=0.5, patience=0))
    scheduler = S.attach(_sgd((1.0,)), schedule)
    lrs = _run(scheduler, 6, [1.0, 0.5, 0.5, 0.5, 0.5])
    assert [lr[0] for lr in lrs] == pytest.approx([0.5, 1.0, 1.0, 0.5, 0.25, 0.125])
    assert schedule.then.decay_steps == [3, 4, 5]


# ----------------------------------------------------------------------------- attach, state
def test_attach_drives_inertia_sgd():
    import inertia

    p = torch.ones(3, dtype=torch.float64, requires_grad=True)
    opt = inertia.SGD([p], lr=0.2, momentum=0.9)
    scheduler = S.attach(opt, S.step_decay(2, 0.5))
    ref_p = torch.ones(3, dtype=torch.float64, requires_grad=True)
    ref_opt = torch.optim.SGD([ref_p], lr=0.2, momentum=0.9)
    ref = tls.StepLR(ref_opt, step_size=2, gamma=0.5)
    for _ in range(7):
        for param, o, s in ((p, opt, scheduler), (ref_p, ref_opt, ref)):
            o.zero_grad()
            (param**2).sum().backward()
            o.step()
            s.step()
    assert torch.equal(p, ref_p) and scheduler.get_last_lr() == pytest.approx(ref.get_last_lr())


@pytest.mark.parametrize("make", [lambda: S.cosine_decay(30, 0.1),
                                  lambda: S.linear_warmup(3, then=S.plateau(factor=0.5, patience=1)),
                                  lambda: S.sequence([(S.constant(), 4), (S.plateau(patience=0), None)])])
def test_state_dict_round_trip_resumes_identically(make):
    metrics = _metric_walk(40, 3)
    feed = getattr(make(), "takes_metric", False)
    full = _run(S.attach(_sgd(), make()), 41, metrics if feed else None)

    first = S.attach(_sgd(), make())
    _run(first, 21, metrics[:20] if feed else None)
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    opt = _sgd()
    resumed = S.attach(opt, make())
    resumed.load_state_dict(torch.load(buffer, weights_only=False))
    for group, lr in zip(opt.param_groups, first.get_last_lr(), strict=True):
        group["lr"] = lr  # the optimizer's own state_dict would restore this
    assert _run(resumed, 21, metrics[20:] if feed else None) == full[20:]


def test_attach_with_metric_on_metricless_schedule_raises():
    scheduler = S.attach(_sgd(), S.constant())
    with pytest.raises(ValueError, match="metric"):
        scheduler.step(0.5)


def test_attach_rejects_bad_multiplier_without_touching_lr():
    scheduler = S.attach(_sgd(), lambda t: 1.0 if t < 2 else -1.0)
    scheduler.optimizer.step()
    scheduler.step()
    with pytest.raises(ValueError, match="-1.0 at step 2"):
        scheduler.step()
    assert _lrs(scheduler) == list(BASE_LRS) and scheduler.last_epoch == 1


# ----------------------------------------------------------------------------- laws
steps = st.integers(0, 10_000)


@given(t=steps, every=st.integers(1, 50), gamma=st.floats(1e-3, 1.0), k=st.floats(0, 10))
def test_decays_are_non_negative_and_non_increasing(t, every, gamma, k):
    for schedule in (S.step_decay(every, gamma), S.exponential_decay(gamma), S.inverse_time_decay(k)):
        assert 0.0 <= schedule(t + 1) <= schedule(t) <= 1.0


@given(t=steps, total=st.integers(1, 5000), final=st.floats(0.0, 1.0), warm=st.integers(1, 100))
def test_cosine_bounded_and_warmup_non_negative(t, total, final, warm):
    cos = S.cosine_decay(total, final)
    assert final - 1e-12 <= cos(t) <= 1.0 and cos(t + 1) <= cos(t) + 1e-12
    warmup = S.linear_warmup(warm, then=cos)
    assert 0.0 <= warmup(t) <= 1.0 and (t >= warm or warmup(t) > 0.0)


# bad input: see test_error_inputs.py


# ----------------------------------------------------------------------------- state that does not fit
def _plateau_run_state() -> dict:
    scheduler = S.attach(_sgd(), S.linear_warmup(2, then=S.plateau(patience=0)))
    _run(scheduler, 6, [1.0, 2.0, 3.0, 3.0, 3.0])
    return scheduler.state_dict()


@pytest.mark.parametrize("make", [lambda: S.plateau(patience=0), lambda: S.cosine_decay(30),
                                  lambda: S.sequence([(S.plateau(), 2), (S.plateau(), None)])],
                         ids=["plateau", "cosine", "sequence"])
def test_loading_a_state_saved_from_another_schedule_raises_and_changes_nothing(make):
    schedule = make()
    scheduler = S.attach(_sgd(), schedule)
    before, schedule_before = scheduler.state_dict(), state_of(schedule)
    with pytest.raises(ValueError, match=r"state_dict\['schedule_state'\]"):
        scheduler.load_state_dict(_plateau_run_state())
    assert scheduler.state_dict() == before and state_of(schedule) == schedule_before


def test_sequence_load_is_all_or_nothing():
    seq = S.sequence([(S.plateau(patience=0), 2), (S.plateau(patience=0), 2), (S.plateau(), None)])
    good = [S.plateau(factor=0.5).state_dict() for _ in range(3)]
    for plateau_, state in zip(seq.schedules, good, strict=True):
        state["multiplier"] = 0.25
        plateau_.load_state_dict(state)
    saved = seq.state_dict()
    with pytest.raises(ValueError, match=r"expected 3 segment states"):
        seq.load_state_dict({"schedules": [S.plateau().state_dict()]})
    with pytest.raises(ValueError, match=r"state_dict\['schedules'\]\[2\].*no saved state"):
        seq.load_state_dict({"schedules": [S.plateau().state_dict(), S.plateau().state_dict(), None]})
    assert seq.state_dict() == saved and [s.multiplier for s in seq.schedules] == [0.25] * 3
    with pytest.raises(ValueError, match=r"state_dict: expected a state with keys \['then'\]"):
        S.linear_warmup(3, then=S.plateau()).load_state_dict({"schedules": [None]})


def test_factories_accept_numpy_scalars():
    np = pytest.importorskip("numpy")
    ours = S.step_decay(np.int64(3), np.float32(0.5))
    assert [ours(t) for t in range(7)] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25] and type(ours.every) is int
    assert S.cosine_decay(np.int32(10), final=np.float64(0.1))(10) == pytest.approx(0.1)
    assert S.plateau(factor=np.float32(0.5), patience=np.int64(2)).patience == 2
