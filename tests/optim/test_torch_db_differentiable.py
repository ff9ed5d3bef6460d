"""torch's "<desc> & differentiable" configurations (``optim_db``), and a gradcheck through one step per class.

1. Each differentiable configuration of ``torch_db_cases.REFERENCE_CASES`` runs on non-leaf parameters
   (clones of leaves; torch itself refuses the in-place step of a leaf that requires grad): 5 steps, each
   on the gradients of the loss (detached) set as ``.grad``. inertia's reference path and torch's for-loop
   path end at the same parameters, and the gradients of the sum of the final parameters with respect to
   the leaves agree to 1e-12.
2. Per class, ``torch.autograd.gradcheck`` through one float64 step with respect to the parameter, its
   gradient and each floating state tensor, as torch's own optimizer tests do (the state set by the user
   with ``optimizer.state[p].update(...)`` before the step).

Where torch's own backward through the 5 steps fails (its differentiable path saves a state tensor that the
next step changes in place), inertia's must fail the same way.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from torch_db_cases import (
    INFO_BY_NAME,
    REFERENCE_CASES,
    ConfigCase,
    loss_of,
    make_params,
    torch_forloop_kwargs,
)

import inertia

DIFFERENTIABLE_CASES = [case for case in REFERENCE_CASES if case.flag == "differentiable"]

#: torch's own backward through the 5 steps fails here (its differentiable path saves a state tensor that the
#: next step changes in place); inertia, following it operation for operation, must fail the same way.
INPLACE_ERROR = "modified by an inplace operation"


#: Fixed 0-d state without grad, as torch's own gradcheck of ASGD has it: the step reads ``eta`` as a number
#: and overwrites ``eta`` and ``mu`` at its end (after autograd saved ``mu``, unless ``mu`` is 1).
FIXED_STATE = {"ASGD": {"eta": 0.9, "mu": 1.0}}

#: The classes whose torch twin takes ``differentiable`` (Muon, SparseAdam, Adafactor and LBFGS do not).
GRADCHECK_CLASSES = sorted(name for name, info in INFO_BY_NAME.items() if "differentiable" in info.supported_impls)


def params_of(cases: list[ConfigCase]) -> list[Any]:
    """pytest params for ``cases``, each with its class and description as id."""
    return [pytest.param(case, id=f"{case.name}-{case.desc}") for case in cases]


def run_on_non_leaves(cls: type, kwargs: dict[str, Any], steps: int = 5) -> tuple[list[torch.Tensor], ...]:
    """The leaves, and the parameters (clones of them) after ``steps`` steps of ``cls``, graph attached."""
    leaves = make_params(torch.float64)
    params = [leaf.clone() for leaf in leaves]
    optimizer = cls(params, **copy.deepcopy(kwargs))
    for _ in range(steps):
        grads = torch.autograd.grad(loss_of(params), params, retain_graph=True)
        for param, grad in zip(params, grads, strict=True):
            param.grad = grad.detach()
        optimizer.step()
    return leaves, params


def both_sides(case: ConfigCase) -> tuple[tuple[list[torch.Tensor], ...], tuple[list[torch.Tensor], ...]]:
    """:func:`run_on_non_leaves` of inertia's reference path and of torch's for-loop path."""
    ours = run_on_non_leaves(getattr(inertia, case.name), {**case.kwargs, "impl": "reference"})
    return ours, run_on_non_leaves(getattr(torch.optim, case.name), torch_forloop_kwargs(case))


@pytest.mark.parametrize("case", params_of(DIFFERENTIABLE_CASES))
def test_differentiable_config_values_match_torch(case: ConfigCase) -> None:
    (_, ours), (_, theirs) = both_sides(case)
    for index, (got, want) in enumerate(zip(ours, theirs, strict=True)):
        assert got.requires_grad, f"param {index}: the steps were not recorded by autograd"
        torch.testing.assert_close(got.detach(), want.detach(), rtol=0.0, atol=0.0,
                                   msg=lambda m, i=index: f"param {i}: {m}")


def leaf_gradients(leaves: list[torch.Tensor], params: list[torch.Tensor]) -> tuple[torch.Tensor, ...] | str:
    """The gradients of the sum of ``params`` with respect to ``leaves``, or the autograd error's message."""
    try:
        return torch.autograd.grad(sum(param.sum() for param in params), leaves)
    except RuntimeError as error:
        return str(error)


@pytest.mark.parametrize("case", params_of(DIFFERENTIABLE_CASES))
def test_differentiable_config_gradients_match_torch(case: ConfigCase) -> None:
    """Same gradients to 1e-12; where torch's backward fails (a state tensor changed in place after autograd
    saved it: Adam's amsgrad, Adamax, RMSprop centered or with momentum), inertia's fails the same way."""
    (our_leaves, ours), (their_leaves, theirs) = both_sides(case)
    our_grads, their_grads = leaf_gradients(our_leaves, ours), leaf_gradients(their_leaves, theirs)
    if isinstance(their_grads, str):
        assert INPLACE_ERROR in their_grads, their_grads
        assert isinstance(our_grads, str) and INPLACE_ERROR in our_grads, "torch's backward fails, inertia's not"
        return
    assert not isinstance(our_grads, str), our_grads
    for index, (got, want) in enumerate(zip(our_grads, their_grads, strict=True)):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12, msg=lambda m, i=index: f"leaf {i}: {m}")


def gradcheck_kwargs(name: str) -> dict[str, Any]:
    """A differentiable configuration of class ``name`` that exercises every state key (amsgrad, momentum)."""
    extra = {"Adam": {"amsgrad": True}, "AdamW": {"amsgrad": True}, "SGD": {"momentum": 0.9},
             "RMSprop": {"momentum": 0.9, "centered": True}}
    return {"lr": 0.9 if name not in ("Adadelta", "Rprop") else 0.1, "differentiable": True, **extra.get(name, {})}


def state_template(name: str, kwargs: dict[str, Any], param: torch.Tensor) -> dict[str, Any]:
    """Random float64 state of class ``name`` for ``param``: the keys one step creates, ``step`` set to 10
    (a plain tensor, as torch's tests have it), :data:`FIXED_STATE`, the others requiring grad."""
    probe = param.detach().clone()
    optimizer = getattr(inertia, name)([probe], **kwargs)
    probe.grad = torch.ones_like(probe)
    optimizer.step()
    generator = torch.Generator().manual_seed(3)
    state: dict[str, Any] = {}
    for key, value in optimizer.state[probe].items():
        if not (isinstance(value, torch.Tensor) and value.is_floating_point()):
            continue
        if key == "step":
            state[key] = torch.tensor(10.0, dtype=torch.float64)
            continue
        fixed = FIXED_STATE.get(name, {})
        if key in fixed:
            state[key] = torch.tensor(fixed[key], dtype=torch.float64)
            continue
        noise = torch.rand(value.shape, generator=generator, dtype=torch.float64)
        # a centered RMSprop's grad_avg stays below sqrt(square_avg): the variance under the root is positive
        state[key] = (noise * 0.5 if key == "grad_avg" else noise + 1.0).requires_grad_(True)
    return state


def one_step(param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], name: str,
             kwargs: dict[str, Any], *state_values: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """torch's ``_diff_fn``: a step of a fresh optimizer on a clone of ``param`` with ``grad`` and cloned
    ``state``; returns the new parameter and the state tensors that require grad (``state_values``:
    the state tensors again, so that gradcheck sees them as inputs)."""
    param = param.clone()
    param.grad = grad
    optimizer = getattr(inertia, name)([param], **kwargs)
    optimizer.state[param].update({k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in state.items()})
    optimizer.step()
    new_state = optimizer.state[param].values()
    return (param, *(v for v in new_state if isinstance(v, torch.Tensor) and v.requires_grad))


@pytest.mark.parametrize("name", GRADCHECK_CLASSES)
def test_one_step_passes_gradcheck(name: str) -> None:
    generator = torch.Generator().manual_seed(2)
    param = torch.rand(10, generator=generator, dtype=torch.float64).requires_grad_(True)
    grad = torch.rand(10, generator=generator, dtype=torch.float64).requires_grad_(True)
    kwargs = gradcheck_kwargs(name)
    state = state_template(name, kwargs, param)
    inputs = (param, grad, state, name, kwargs, *state.values())
    assert torch.autograd.gradcheck(one_step, inputs)


@pytest.mark.parametrize("name", GRADCHECK_CLASSES)
def test_step_requiring_grad_is_refused(name: str) -> None:
    param = torch.rand(4, dtype=torch.float64).requires_grad_(True).clone()
    param.grad = torch.ones_like(param)
    optimizer = getattr(inertia, name)([param], **gradcheck_kwargs(name))
    optimizer.step()
    if "step" not in optimizer.state[param]:
        pytest.skip(f"{name} keeps no step counter (as torch.optim's)")
    optimizer.state[param]["step"] = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="`requires_grad` is not supported for `step` in differentiable mode"):
        optimizer.step()
