"""The timed rows of the step benchmark: CUDA batches long enough that the fill weighs little, and the kernel
each fused row ran."""

from __future__ import annotations

import pytest
import torch

from inertia.bench.steps import OPTIMIZERS, _prepare


class _FakeEvent:
    """Stands in for a CUDA event: each batch costs its calls plus one step's fill (``FILL`` seconds)."""

    FILL = 50e-6
    now = 0.0

    def __init__(self, enable_timing: bool = True) -> None:
        self.at = 0.0

    def record(self) -> None:
        self.at = _FakeEvent.now

    def synchronize(self) -> None:
        pass

    def elapsed_time(self, end: _FakeEvent) -> float:
        return (end.at - self.at + self.FILL) * 1e3  # milliseconds, as CUDA events report


def test_cuda_batches_are_lengthened_so_the_fill_weighs_little(monkeypatch: pytest.MonkeyPatch) -> None:
    from inertia.bench import steps as bench

    per_call, calls = 50e-6, []

    def step() -> None:
        calls.append(1)
        _FakeEvent.now += per_call

    monkeypatch.setattr(torch.cuda, "Event", _FakeEvent)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)
    seconds = bench.time_call(step, torch.device("cuda"), steps=10, warmup=2)
    length = int(bench.MIN_BATCH_SECONDS / (per_call + _FakeEvent.FILL / 10))
    assert len(calls) == 2 + 10 + 3 * length
    # One step's fill spread over `length` steps instead of 10: within 1% of the per-call time.
    assert seconds == pytest.approx(per_call + _FakeEvent.FILL / length) and seconds < 1.01 * per_call


def test_fused_rows_name_the_kernel_each_rule_ran() -> None:
    """With numba installed (a regular dependency), every rule's fused row runs a CPU kernel, and says which."""
    pytest.importorskip("numba")
    masters, grads = [torch.randn(300), torch.randn(200)], [torch.randn(300), torch.randn(200)]
    for name in OPTIMIZERS:
        optimizer, note = _prepare(name, "inertia-fused", masters, grads)
        assert optimizer is not None and note in ("numba kernel", "torch's fused op"), (name, note)
    _, reference_note = _prepare("adam", "inertia-reference", masters, grads)
    assert reference_note == ""
