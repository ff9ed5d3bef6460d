"""checkpoint.pt: plain data only, loaded without running code, refused by name when it cannot be loaded."""

from __future__ import annotations

import os
import re

import pytest
import torch

from inertia.lab.checkpoints import load_checkpoint
from inertia.lab.execute import execute
from inertia.lab.optimizer_setup import MUON, SPARSE_ONLY
from inertia.lab.run_config import ConfigError, RunConfig
from inertia.optim import OPTIMIZERS

PLAIN = (torch.Tensor, int, float, str, bool, type(None))


class Planted:
    """Unpickling this creates the file ``executed`` in the working directory."""

    def __reduce__(self) -> tuple:
        return (open, ("executed", "w"))


def leaves(value):
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from leaves(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from leaves(item)
    else:
        yield value


#: Optimizers that step a problem's parameter vector (Muon takes matrices, SparseAdam sparse gradients).
VECTOR_OPTIMIZERS = [name for name in OPTIMIZERS if name != MUON and name not in SPARSE_ONLY]


@pytest.mark.parametrize("optimizer", VECTOR_OPTIMIZERS)
def test_a_checkpoint_holds_plain_tensors_numbers_and_strings(optimizer, tmp_path, one_thread) -> None:
    """What weights_only=True can load: optimizer, schedule and monitor states are plain data."""
    config = RunConfig("rosenbrock", optimizer, lr=1e-3, steps=6, checkpoint_every=2, schedule="warmup:2+cosine")
    execute(config, tmp_path)
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["position"] == 6 and state["scheduler"] is not None and state["monitor"] is not None
    assert all(isinstance(leaf, PLAIN) for leaf in leaves(state))


def test_a_muon_checkpoint_holds_plain_data(tmp_path, one_thread) -> None:
    """Muon (on the hidden matrices, AdamW on the rest) checkpoints plain data too."""
    config = RunConfig("teacher", MUON, model="mlp", lr=1e-3, epochs=2, batch_size=500, checkpoint_every=1)
    execute(config, tmp_path)
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["position"] == 2
    assert all(isinstance(leaf, PLAIN) for leaf in leaves(state))


def test_a_training_checkpoint_resumes_through_the_safe_loader(tmp_path, one_thread) -> None:
    config = RunConfig("teacher", "adam", model="softmax", epochs=3, batch_size=500, checkpoint_every=1,
                       schedule="plateau")

    def stop(row):
        if row["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        execute(config, tmp_path / "run", on_record=stop)
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["position"] == 1
    resumed, reference = execute(config, tmp_path / "run"), execute(config, tmp_path / "reference")
    assert resumed["status"] == "completed" and resumed["resumed_at"] == [1]
    assert resumed["train_loss"] == reference["train_loss"] and resumed["test_loss"] == reference["test_loss"]


def test_a_planted_checkpoint_is_refused_without_running_its_code(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = RunConfig("rosenbrock", "sgd", steps=4)
    execute(config, "run", rerun=True)
    planted = {"position": Planted(), "params": {}, "optimizer": {}, "rows": [], "elapsed_s": 0.0}
    torch.save(planted, "run/checkpoint.pt")
    torch.load("run/checkpoint.pt", weights_only=False)  # the payload is live: an unsafe load runs it
    assert os.path.exists("executed")
    os.unlink("executed")
    (tmp_path / "run" / "summary.json").write_text('{"status": "running"}')
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()}
    with pytest.raises(ConfigError, match=r"^run_dir: 'run/checkpoint.pt' cannot be loaded as a checkpoint") as caught:
        execute(config, "run")
    assert re.search(r"it holds (io|builtins)\.open, which is not plain data, and was not unpickled", str(caught.value))
    assert not os.path.exists("executed")
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()} == before


@pytest.mark.parametrize("content", [b"", b"not a zip", None], ids=["empty", "garbage", "truncated"])
def test_an_unreadable_checkpoint_names_the_run_directory(content, tmp_path) -> None:
    path = tmp_path / "checkpoint.pt"
    if content is None:
        torch.save({"position": 1, "params": {}, "optimizer": {}, "rows": [], "elapsed_s": 0.0}, path)
        content = path.read_bytes()[:-30]
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=r"^run_dir: .*checkpoint.pt' cannot be loaded as a checkpoint"):
        load_checkpoint(path)


def test_a_checkpoint_without_its_entries_is_refused(tmp_path) -> None:
    torch.save({"position": 1}, tmp_path / "checkpoint.pt")
    with pytest.raises(ConfigError, match=r"is not a checkpoint of a run \(it lacks position, params"):
        load_checkpoint(tmp_path / "checkpoint.pt")
    assert load_checkpoint(tmp_path / "missing.pt") is None
