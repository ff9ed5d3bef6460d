"""torch's "<desc> & differentiable" configurations (``optim_db``), and a gradcheck through one step per class.

1. Each differentiable configuration of ``torch_db_cases.REFERENCE_CASES`` runs on non-leaf parameters
   (clones of leaves; torch itself refuses the in-place step of a leaf that requires grad): 5 steps, each
   on the gradients of the loss (detached) set as ``.grad``. inertia's reference path and torch's for-loop
   path end at the same parameters, and the gradients of the sum of the final parameters with respect to
   the leaves agree to 1e-12.
2. Per class, ``torch.autograd.gradcheck`` through one float64 step with respect to the parameter, its
   gradient and each floating state tensor, as torch's own optimizer tests do (the state set by the user
   with ``optimizer.state[p].update(...)`` before the step).

A configuration that does not pass is listed in :data:`DIFFERENTIABLE_KNOWN` with the reason and runs
as a strict xfail; ``test_torch_optim_db`` merges that table into its counts.
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

TORCH_BACKWARD_FAILS = ("torch.optim's differentiable {name} path, which inertia follows operation for operation, "
                        "saves a state tensor for autograd that the next step changes in place: the backward "
                        "through 5 steps raises 'modified by an inplace operation' in torch.optim as in inertia "
                        "(the parameters agree bit for bit)")
#: The differentiable configurations whose gradients cannot be compared, with why (strict xfails of the
#: gradient test; the table can only shrink). Their values are compared by the value test all the same.
DIFFERENTIABLE_KNOWN: dict[tuple[str, str], str] = {
    (name, f"reference: {desc} & differentiable"): TORCH_BACKWARD_FAILS.format(name=name)
    for name, descs in {
        "Adam": ("amsgrad",),
        "Adamax": ("default", "non-default lr", "nonzero weight_decay", "maximize", "maximize, weight_decay"),
        "RMSprop": ("centered", "momentum", "maximize, centered, weight_decay, w/ momentum"),
    }.items() for desc in descs
}

#: Fixed 0-d state without grad, as torch's own gradcheck of ASGD has it: the step reads ``eta`` as a number
#: and overwrites ``eta`` and ``mu`` at its end (after autograd saved ``mu``, unless ``mu`` is 1).
FIXED_STATE = {"ASGD": {"eta": 0.9, "mu": 1.0}}

#: The classes whose torch twin takes ``differentiable`` (Muon, SparseAdam, Adafactor and LBFGS do not).
GRADCHECK_CLASSES = sorted(name for name, info in INFO_BY_NAME.items() if "differentiable" in info.supported_impls)


def params_of(cases: list[ConfigCase], known: dict[tuple[str, str], str]) -> list[Any]:
    """pytest params for ``cases``, those in ``known`` marked strict xfail with their reason."""
    result = []
    for case in cases:
        reason = known.get(case.key)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        result.append(pytest.param(case, id=f"{case.name}-{case.desc}", marks=marks))
    return result


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


@pytest.mark.parametrize("case", params_of(DIFFERENTIABLE_CASES, {}))
def test_differentiable_config_values_match_torch(case: ConfigCase) -> None:
    (_, ours), (_, theirs) = both_sides(case)
    for index, (got, want) in enumerate(zip(ours, theirs, strict=True)):
        assert got.requires_grad, f"param {index}: the steps were not recorded by autograd"
        torch.testing.assert_close(got.detach(), want.detach(), rtol=0.0, atol=0.0,
                                   msg=lambda m, i=index: f"param {i}: {m}")


@pytest.mark.parametrize("case", params_of(DIFFERENTIABLE_CASES, DIFFERENTIABLE_KNOWN))
def test_differentiable_config_gradients_match_torch(case: ConfigCase) -> None:
    (our_leaves, ours), (their_leaves, theirs) = both_sides(case)
    our_grads = torch.autograd.grad(sum(param.sum() for param in ours), our_leaves)
    their_grads = torch.autograd.grad(sum(param.sum() for param in theirs), their_leaves)
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
