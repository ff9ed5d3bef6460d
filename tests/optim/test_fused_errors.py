"""torch.optim's errors for ``fused=True``, on the classes whose torch twin takes ``fused``.

Each case builds (and steps) torch's class and inertia's on the same input: both raise the same type,
inertia's message holds torch's words and names the arguments involved. inertia raises when the
optimizer is built, torch (for the params check) at the first step.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import torch

import inertia
from inertia.optim.input_checks import FusedOptionError

FUSED_CLASSES = ("SGD", "Adam", "AdamW", "Adagrad")


def float_params() -> list[torch.nn.Parameter]:
    return [torch.nn.Parameter(torch.randn(3, 2)), torch.nn.Parameter(torch.randn(2))]


def complex_params() -> list[torch.nn.Parameter]:
    """A complex parameter first: torch's SGD and Adagrad check only the first parameter (their fused
    kernels then raise NotImplementedError on a later one); inertia checks each."""
    return [torch.nn.Parameter(torch.randn(3, dtype=torch.complex64)), torch.nn.Parameter(torch.randn(2))]


#: (case id, the params, the keywords, the arguments inertia's message must name).
CASES: list[tuple[str, Callable[[], list[torch.nn.Parameter]], dict[str, Any], tuple[str, ...]]] = [
    ("fused with differentiable", float_params, dict(fused=True, differentiable=True), ("fused", "differentiable")),
    ("fused with foreach", float_params, dict(fused=True, foreach=True), ("fused", "foreach")),
    ("fused with a complex param", complex_params, dict(fused=True), ("params", "fused")),
]


def raised(cls: type, params: list[torch.nn.Parameter], kwargs: dict[str, Any]) -> BaseException | None:
    """What building ``cls`` and taking one step raises (None if nothing)."""
    try:
        optimizer = cls(params, lr=0.1, **kwargs)
        for param in params:
            param.grad = torch.ones_like(param)
        optimizer.step()
    except Exception as exc:  # noqa: BLE001  (the exception is the result under test)
        return exc
    return None


@pytest.mark.parametrize("name", FUSED_CLASSES)
@pytest.mark.parametrize(("desc", "make_params", "kwargs", "arguments"), CASES, ids=[case[0] for case in CASES])
def test_fused_error_matches_torch(name: str, desc: str, make_params: Callable[[], list[torch.nn.Parameter]],
                                   kwargs: dict[str, Any], arguments: tuple[str, ...]) -> None:
    theirs = raised(getattr(torch.optim, name), make_params(), kwargs)
    ours = raised(getattr(inertia, name), make_params(), kwargs)
    assert type(theirs) is RuntimeError, theirs
    assert isinstance(ours, RuntimeError), f"{desc}: expected RuntimeError, got {ours!r}"
    assert str(theirs) in str(ours), (str(theirs), str(ours))
    for argument in arguments:
        assert re.search(rf"\b{argument}\b", str(ours)), (argument, str(ours))


@pytest.mark.parametrize("name", FUSED_CLASSES)
def test_fused_error_refuses_an_added_group_and_adds_nothing(name: str) -> None:
    optimizer = getattr(inertia, name)(float_params(), lr=0.1)
    with pytest.raises(FusedOptionError, match=re.escape("`fused` and `foreach` cannot be `True` together.")):
        optimizer.add_param_group({"params": float_params(), "fused": True, "foreach": True})
    with pytest.raises(FusedOptionError, match="requires all the params to be floating point Tensors"):
        optimizer.add_param_group({"params": complex_params(), "fused": True})
    assert len(optimizer.param_groups) == 1


def test_fused_option_error_is_also_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"Invalid fused: True with foreach: True"):
        inertia.Adam(float_params(), fused=True, foreach=True)


def test_impl_fused_with_differentiable_names_both() -> None:
    with pytest.raises(ValueError, match=r"Invalid impl: 'fused' with differentiable: True"):
        inertia.Adam(float_params(), impl="fused", differentiable=True)


@pytest.mark.parametrize("name", FUSED_CLASSES)
def test_impl_auto_with_differentiable_steps_on_the_reference_path(name: str) -> None:
    leaves = float_params()
    params = [leaf.clone() for leaf in leaves]
    optimizer = getattr(inertia, name)(params, lr=0.1, differentiable=True)
    for param in params:
        param.grad = param.detach() * 0.5
    optimizer.step()
    assert not optimizer.fused_groups
    assert all(param.grad_fn is not None for param in params)
