"""FSDP2 (``fully_shard``), HSDP, tensor parallel and FSDP1 over two gloo processes, against torch.optim.

One pair of processes runs every training case (:func:`fsdp_workers.sharded_rank`), then the
checkpoint round trips (:func:`fsdp_workers.checkpoint_rank`); each test checks its part.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fsdp_workers
import pytest
import torch
import torch.multiprocessing as mp

RTOL = 1e-6


@pytest.fixture(scope="module")
def two_ranks_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fsdp")
    mp.start_processes(fsdp_workers.every_case_rank, args=(2, str(folder)), nprocs=2, join=True,
                       start_method="spawn")
    return folder


@pytest.fixture(scope="module")
def sharded_results(two_ranks_folder: Path) -> dict[str, Any]:
    return torch.load(two_ranks_folder / "sharded.pt", weights_only=True)


@pytest.fixture(scope="module")
def checkpoint_results(two_ranks_folder: Path) -> list[dict[str, Any]]:
    return torch.load(two_ranks_folder / "checkpoint.pt", weights_only=True)


def assert_matches_torch(result: dict[str, Any], impl: str, case: str) -> None:
    run = result[impl]
    assert len(run["got"]) == len(result["want"])
    for got, want in zip(run["got"], result["want"], strict=True):
        scale = float(want.abs().max())
        assert float((got - want).abs().max()) <= RTOL * scale, f"{case} impl={impl}"
    assert run["placed"], f"{case} impl={impl}: a state tensor is not placed like its parameter"


FSDP2_CASES = [f"fsdp2 {name} {kwargs}" for name, kwargs in fsdp_workers.PARITY]


@pytest.mark.parametrize("impl", fsdp_workers.IMPLS)
@pytest.mark.parametrize("case", FSDP2_CASES)
def test_fully_shard_per_layer_and_root_matches_torch_optim(sharded_results: dict, case: str, impl: str) -> None:
    assert_matches_torch(sharded_results[case], impl, case)
    assert sharded_results[case][impl]["fallbacks"] == [], "the fused path must run over the local shards"


@pytest.mark.parametrize("impl", fsdp_workers.IMPLS)
@pytest.mark.parametrize("case", ["hsdp (2, 1)", "hsdp (1, 2)", "tensor parallel"])
def test_adam_on_a_2d_mesh_and_tensor_parallel_matches_torch_optim(sharded_results: dict, case: str,
                                                                   impl: str) -> None:
    assert_matches_torch(sharded_results[case], impl, case)
    assert sharded_results[case][impl]["fallbacks"] == []


@pytest.mark.parametrize("impl", fsdp_workers.IMPLS)
@pytest.mark.parametrize("case", ["mixed Adam", "mixed RMSprop"])
def test_sharded_and_plain_parameters_in_one_optimizer(sharded_results: dict, case: str, impl: str) -> None:
    assert_matches_torch(sharded_results[case], impl, case)
    assert sharded_results[case][impl]["fallbacks"] == []


@pytest.mark.parametrize("use_orig_params", [False, True])
def test_fsdp1_takes_the_reference_path_with_one_warning(sharded_results: dict, use_orig_params: bool) -> None:
    case = f"fsdp1 {use_orig_params}"
    for impl in fsdp_workers.IMPLS:
        assert_matches_torch(sharded_results[case], impl, case)
    assert sharded_results[case]["reference"]["fallbacks"] == []
    fallbacks = sharded_results[case]["fused"]["fallbacks"]
    assert len(fallbacks) == 1 and "FullyShardedDataParallel (FSDP1)" in fallbacks[0], fallbacks


@pytest.mark.parametrize("impl", [*fsdp_workers.IMPLS, "auto"])
def test_nonfinite_skip_agrees_across_ranks(sharded_results: dict, impl: str) -> None:
    """A NaN in one rank's shard skips the step on both ranks (and equals torch.optim without that step)."""
    assert sharded_results["nonfinite skip"][impl]["skipped"] == [1, 1]
    assert_matches_torch(sharded_results["nonfinite skip"], impl, "nonfinite skip")


def test_a_gathered_full_state_dict_loads_into_sharded_state(sharded_results: dict) -> None:
    result = sharded_results["full state load"]
    assert result["fused"]["placed"]
    for got, want in zip(result["fused"]["got"], result["want"], strict=True):
        assert torch.equal(got, want)


@pytest.mark.parametrize("index", range(len(fsdp_workers.CHECKPOINTED)))
def test_dcp_save_fresh_process_group_load_continues_bit_identically(checkpoint_results: list,
                                                                     index: int) -> None:
    result = checkpoint_results[index]
    assert result["saved_kinds"] == ["DTensor"], "DCP must see the state as DTensors"
    assert result["placed"], "loaded state must be placed like the parameters"
    uninterrupted, resumed = result["uninterrupted"], result["resumed"]
    for got, want in zip(resumed["params"], uninterrupted["params"], strict=True):
        assert torch.equal(got, want), result["config"]
    for got, want in zip(resumed["state"], uninterrupted["state"], strict=True):
        assert got.keys() == want.keys()
        for key in want:
            assert torch.equal(got[key], want[key]), (result["config"], key)
