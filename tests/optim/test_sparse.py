"""Sparse gradients: SGD, Adagrad and SparseAdam against torch.optim on ``nn.Embedding(sparse=True)``.

Float64 trajectories (parameters and state) equal torch.optim's bit for bit; the bad calls raise the
exception type torch raises, with a message naming the argument; state dicts load both ways.
"""

from __future__ import annotations

import copy
import re
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch

import inertia
from inertia.kernels.rule_info import FusedFallbackWarning

pytestmark = pytest.mark.filterwarnings("ignore:Sparse invariant checks:UserWarning")

#: (class name, constructor keywords torch accepts too) for every configuration compared.
CONFIGS = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "maximize": True}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.1, "momentum": 0.5, "foreach": True}),
    ("SGD", {"lr": torch.tensor(0.02), "momentum": 0.9}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.05, "maximize": True, "initial_accumulator_value": 0.2, "eps": 1e-6}),
    ("Adagrad", {"lr": 0.1, "foreach": True}),
    ("SparseAdam", {}),
    ("SparseAdam", {"lr": 0.04}),
    ("SparseAdam", {"lr": torch.tensor(0.01)}),
    ("SparseAdam", {"maximize": True}),
    ("SparseAdam", {"lr": 0.02, "betas": (0.5, 0.7), "eps": 1e-3}),
]


def config_id(config: tuple[str, dict[str, Any]]) -> str:
    name, kwargs = config
    return f"{name}-" + (",".join(kwargs) or "defaults")


class Model:
    """An embedding table (sparse gradients) feeding a linear layer (dense gradients), in float64."""

    def __init__(self, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.table = torch.nn.Parameter(torch.randn(12, 3, generator=generator, dtype=torch.float64))
        self.weight = torch.nn.Parameter(torch.randn(1, 3, generator=generator, dtype=torch.float64))
        self.batches = [torch.randint(0, 12, (4, 5), generator=generator) for _ in range(6)]

    def groups(self, dense_too: bool) -> list[dict[str, Any]]:
        """The table in one group; the linear weight in a second one if ``dense_too``."""
        return [{"params": [self.table]}] + ([{"params": [self.weight]}] if dense_too else [])

    def backward(self, step: int) -> None:
        """Gradients of step ``step``: an embedding lookup with repeated rows (an uncoalesced sparse gradient)."""
        rows = torch.nn.functional.embedding(self.batches[step % len(self.batches)], self.table, sparse=True)
        (torch.sin(rows @ self.weight.T).sum() + 0.37 * rows.pow(2).sum()).backward()


def train(make: Callable[[list[dict[str, Any]]], torch.optim.Optimizer], steps: int = 6,
          dense_too: bool = True) -> tuple[Model, torch.optim.Optimizer]:
    model = Model()
    optimizer = make(model.groups(dense_too))
    for step in range(steps):
        optimizer.zero_grad()
        model.backward(step)
        optimizer.step()
    return model, optimizer


def dense(value: Any) -> Any:
    return value.to_dense() if isinstance(value, torch.Tensor) and value.is_sparse else value


def assert_same_state(ours: torch.optim.Optimizer, theirs: torch.optim.Optimizer) -> None:
    """Every state entry of ``ours`` equals ``theirs``'s (sparse buffers compared as their dense values)."""
    for mine, reference in zip(ours.state_dict()["state"].values(), theirs.state_dict()["state"].values(),
                               strict=True):
        assert set(mine) == set(reference)
        for key, value in reference.items():
            assert torch.equal(torch.as_tensor(dense(mine[key])).double(), torch.as_tensor(dense(value)).double()), key


def uses_dense_grads(name: str) -> bool:
    return name != "SparseAdam"


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_float64_trajectory_equals_torch(config: tuple[str, dict[str, Any]]) -> None:
    name, kwargs = config
    dense_too = uses_dense_grads(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FusedFallbackWarning)  # sparse gradients take the reference path quietly
        ours, opt_ours = train(lambda groups: getattr(inertia, name)(groups, **copy.deepcopy(kwargs)),
                               dense_too=dense_too)
    theirs, opt_theirs = train(lambda groups: getattr(torch.optim, name)(groups, **copy.deepcopy(kwargs)),
                               dense_too=dense_too)
    assert torch.equal(ours.table, theirs.table)
    assert torch.equal(ours.weight, theirs.weight)
    assert_same_state(opt_ours, opt_theirs)


def test_sgd_momentum_buffer_is_sparse_as_torch() -> None:
    ours, opt_ours = train(lambda groups: inertia.SGD(groups, lr=0.1, momentum=0.9))
    theirs, opt_theirs = train(lambda groups: torch.optim.SGD(groups, lr=0.1, momentum=0.9))
    mine, reference = opt_ours.state[ours.table]["momentum_buffer"], opt_theirs.state[theirs.table]["momentum_buffer"]
    assert mine.is_sparse and reference.is_sparse
    assert torch.equal(mine._indices(), reference._indices()) and torch.equal(mine._values(), reference._values())


def test_sgd_velocity_form_takes_sparse_gradients() -> None:
    """The inertia-only velocity form equals the torch form at a constant rate (dense velocity buffer)."""
    velocity, _ = train(lambda groups: inertia.SGD(groups, lr=0.1, momentum=0.9, momentum_form="velocity"))
    torch_form, _ = train(lambda groups: torch.optim.SGD(groups, lr=0.1, momentum=0.9))
    torch.testing.assert_close(velocity.table, torch_form.table, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("config", [CONFIGS[1], CONFIGS[7], CONFIGS[10]], ids=config_id)
def test_state_dict_loads_both_ways_and_continues(config: tuple[str, dict[str, Any]]) -> None:
    """Three steps, a state dict handed to a fresh optimizer of the other library, three more steps:
    the parameters equal six steps of torch.optim's."""
    name, kwargs = config
    dense_too = uses_dense_grads(name)
    want, _ = train(lambda groups: getattr(torch.optim, name)(groups, **kwargs), dense_too=dense_too)
    for first, second in ((inertia, torch.optim), (torch.optim, inertia)):
        model = Model()
        optimizer = getattr(first, name)(model.groups(dense_too), **kwargs)
        for step in range(6):
            if step == 3:
                saved = copy.deepcopy(optimizer.state_dict())
                optimizer = getattr(second, name)(model.groups(dense_too), **kwargs)
                optimizer.load_state_dict(saved)
            optimizer.zero_grad()
            model.backward(step)
            optimizer.step()
        assert torch.equal(model.table, want.table), (first.__name__, second.__name__)


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "SparseAdam"])
def test_deepcopy_keeps_the_state(name: str) -> None:
    model, optimizer = train(lambda groups: getattr(inertia, name)(groups, lr=0.1, **(
        {"momentum": 0.9} if name == "SGD" else {})), dense_too=uses_dense_grads(name))
    clone = copy.deepcopy(optimizer)
    for mine, copied in zip(optimizer.state_dict()["state"].values(), clone.state_dict()["state"].values(),
                            strict=True):
        assert {key: torch.as_tensor(dense(value)).tolist() for key, value in mine.items()} == {
            key: torch.as_tensor(dense(value)).tolist() for key, value in copied.items()}


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "SparseAdam"])
@pytest.mark.parametrize("policy", ["raise", "skip"])
def test_nonfinite_policy_reads_the_stored_values(name: str, policy: str) -> None:
    table = torch.nn.Parameter(torch.ones(5, 2, dtype=torch.float64))
    optimizer = getattr(inertia, name)([table], lr=0.1, nonfinite=policy)
    table.grad = torch.sparse_coo_tensor([[1, 3]], torch.tensor([[1.0, float("nan")], [2.0, 3.0]],
                                                                dtype=torch.float64), (5, 2))
    if policy == "raise":
        with pytest.raises(inertia.NonFiniteGradientError, match="param group 0, index 0"):
            optimizer.step()
    else:
        optimizer.step()
        assert optimizer.skipped_steps == 1
    assert torch.equal(table.detach(), torch.ones(5, 2, dtype=torch.float64))


def sparse_step(optimizer_cls: type, kwargs: dict[str, Any], dense_grad: bool = False) -> BaseException | None:
    """What one step of ``optimizer_cls`` on an embedding raises (None: nothing)."""
    table = torch.nn.Parameter(torch.ones(5, 2))
    try:
        optimizer = optimizer_cls([table], **kwargs)
        rows = torch.nn.functional.embedding(torch.tensor([1, 1, 3]), table, sparse=not dense_grad)
        rows.sum().backward()
        optimizer.step()
    except Exception as exc:  # noqa: BLE001  (the exception is the result under test)
        return exc
    return None


#: (class name, keywords, dense gradient?, the argument our message names).
ERROR_CASES = [
    ("SGD", {"lr": 0.1, "weight_decay": 0.1}, False, "weight_decay"),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.1}, False, "weight_decay"),
    ("SGD", {"lr": 0.1, "fused": True}, False, "fused"),
    ("Adagrad", {"lr": 0.1, "weight_decay": 0.1}, False, "weight_decay"),
    ("Adagrad", {"lr": 0.1, "fused": True}, False, "fused"),
    ("SparseAdam", {}, True, "dense gradients"),
    ("SparseAdam", {"lr": 0.0}, False, "lr"),
    ("SparseAdam", {"lr": -1e-3}, False, "lr"),
    ("SparseAdam", {"eps": 0.0}, False, "eps"),
    ("SparseAdam", {"betas": (0.9, 1.0)}, False, "betas"),
]


@pytest.mark.parametrize("case", ERROR_CASES, ids=lambda case: f"{case[0]}-{','.join(case[1]) or 'dense grad'}")
def test_errors_have_torch_types(case: tuple[str, dict[str, Any], bool, str]) -> None:
    name, kwargs, dense_grad, argument = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FusedFallbackWarning)
        ours = sparse_step(getattr(inertia, name), kwargs, dense_grad)
    theirs = sparse_step(getattr(torch.optim, name), kwargs, dense_grad)
    assert theirs is not None and type(ours) is type(theirs), (ours, theirs)
    assert re.search(rf"\b{re.escape(argument)}\b", str(ours)), str(ours)


@pytest.mark.parametrize("params", [
    [torch.zeros(3, layout=torch.sparse_coo)],
    [{"params": [torch.zeros(3, layout=torch.sparse_coo)]}],
    [torch.rand(2, 3, dtype=torch.complex64)],
], ids=["sparse param", "sparse param in a group", "complex param"])
def test_sparse_adam_refuses_sparse_or_complex_params(params: list[Any]) -> None:
    with pytest.raises(ValueError):
        torch.optim.SparseAdam(params)
    with pytest.raises(ValueError, match=r"Invalid params: (sparse|complex) params at indices \[0\]"):
        inertia.SparseAdam(params)


def test_sparse_adam_moves_only_the_stored_rows() -> None:
    table = torch.nn.Parameter(torch.ones(6, 2, dtype=torch.float64))
    optimizer = inertia.SparseAdam([table], lr=0.1)
    torch.nn.functional.embedding(torch.tensor([2, 4, 4]), table, sparse=True).sum().backward()
    optimizer.step()
    moved = (table.detach() != 1).any(dim=1)
    assert moved.tolist() == [False, False, True, False, True, False]
    assert sorted(optimizer.state[table]) == ["exp_avg", "exp_avg_sq", "step"]
    assert optimizer.state[table]["step"] == 1 and isinstance(optimizer.state[table]["step"], int)  # as torch


def test_sparse_adam_is_registered() -> None:
    table = torch.nn.Parameter(torch.ones(3, 2))
    assert isinstance(inertia.make_optimizer("sparse_adam", [table]), inertia.SparseAdam)
    assert "SparseAdam" in inertia.__all__


def test_classes_without_sparse_support_still_refuse_sparse_grads() -> None:
    assert sparse_step(inertia.Adam, {}).__class__ is RuntimeError
    assert "does not support sparse gradients" in str(sparse_step(inertia.RMSprop, {}))


def test_fused_path_says_sparse_gradients_take_the_reference_path() -> None:
    table = torch.nn.Parameter(torch.randn(10, 3, dtype=torch.float64))
    optimizer = inertia.SGD([table], lr=0.1, impl="fused")
    torch.nn.functional.embedding(torch.tensor([1, 4]), table, sparse=True).sum().backward()
    expected = table.detach() - 0.1 * table.grad.to_dense()
    with pytest.warns(FusedFallbackWarning, match="sparse gradients"):
        optimizer.step()
    assert torch.equal(table.detach(), expected)
