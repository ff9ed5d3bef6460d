"""The shard steppers' pieces of work, and the DTensor helpers on plain tensors (single process)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from inertia.kernels.cpu import PARALLEL_MIN, NumbaStepper, numba_available
from inertia.kernels.steppers import NumbaShardStepper, split_runs
from inertia.optim.rmsprop import RMSPROP_RULE
from inertia.optim.sharded import copy_state, is_dtensor, local_part, share_memory


@given(st.lists(st.integers(0, 5000), min_size=1, max_size=12), st.integers(1, 8))
def test_split_runs_cover_every_element_once_in_order(sizes: list[int], threads: int) -> None:
    runs = split_runs(sizes, threads)
    assert len(runs) == threads
    flat = [(index, start, stop) for run in runs for index, start, stop in run]
    covered = [(index, position) for index, start, stop in flat for position in range(start, stop)]
    assert covered == [(index, position) for index, size in enumerate(sizes) for position in range(size)]
    assert all(start < stop for _, start, stop in flat)  # no empty pieces
    lengths = [sum(stop - start for _, start, stop in run) for run in runs]
    assert max(lengths) - min(lengths) < 32  # each cut lies within 16 elements of an equal split


def test_split_runs_cut_inside_shards_on_multiples_of_16() -> None:
    runs = split_runs([1000, 24], 2)
    assert runs == [[(0, 0, 512)], [(0, 512, 1000), (1, 0, 24)]]


def test_plain_tensors_are_their_own_local_part() -> None:
    tensor = torch.arange(6.0)
    assert not is_dtensor(tensor) and not is_dtensor(torch.nn.Parameter(tensor))
    assert local_part(tensor) is tensor
    view = torch.zeros(6)
    assert copy_state(view, tensor, tensor) is view and torch.equal(view, tensor)
    assert share_memory(view, view[:3]) and not share_memory(view, tensor)


@pytest.mark.skipif(not numba_available(), reason="numba is not installed")
@pytest.mark.parametrize("threads", [1, 2])
def test_numba_shard_stepper_equals_the_flat_stepper(threads: int) -> None:
    """Over a list of shards (one split between threads) the kernel computes what it does over one flat buffer."""
    sizes = [PARALLEL_MIN + 37, 5, 0, 1000]
    spec, hyper = RMSPROP_RULE.spec(dict(lr=1e-2, alpha=0.9, eps=1e-8, weight_decay=0.1, momentum=0.9,
                                         centered=True, maximize=False, eps_inside_sqrt=False))
    generator = torch.Generator().manual_seed(0)
    flat = {key: torch.randn(sum(sizes), generator=generator) for key in ("param", "grad")}
    flat.update({key: torch.rand(sum(sizes), generator=generator) * 0.1 for key in spec.state_keys})
    flat["square_avg"] += 1  # above grad_avg**2: a positive centered variance
    shards = {key: [piece.clone() for piece in value.split(sizes)] for key, value in flat.items()}
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        flat_stepper, shard_stepper = NumbaStepper(spec, flat), NumbaShardStepper(spec, shards)
        for step in (1, 2):
            flat_stepper(hyper, step)
            shard_stepper(hyper, step)
    finally:
        torch.set_num_threads(previous)
    for key, value in flat.items():
        assert torch.equal(torch.cat(shards[key]), value), key
