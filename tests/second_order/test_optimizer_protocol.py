"""LBFGS and Newton as torch.optim.Optimizer objects: torch's argument order, numpy scalars, param groups
added later, load_state_dict validation, deepcopy and pickling."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch
from so_problems import backward_closure, rosenbrock

from inertia.second_order import LBFGS, Newton, Status


def make(cls=LBFGS, **kwargs):
    x = torch.tensor([-1.2, 1.0], dtype=torch.float64, requires_grad=True)
    opt = cls([x], **kwargs)
    return x, opt, (lambda: rosenbrock(x)) if cls is Newton else backward_closure(opt, lambda: rosenbrock(x))


def test_positional_arguments_follow_torch():
    """torch.optim.LBFGS(params, lr, max_iter, max_eval, tolerance_grad, tolerance_change, history_size, ...)."""
    opt = LBFGS([torch.zeros(2, requires_grad=True)], 0.5, 7, 9, 1e-6, 1e-8, 4, None)
    group = opt.param_groups[0]
    assert (group["lr"], group["max_iter"], group["max_eval"], group["history_size"]) == (0.5, 7, 9, 4)
    assert (group["tolerance_grad"], group["tolerance_change"], group["line_search"]) == (1e-6, 1e-8, None)


@pytest.mark.parametrize("value", [None, "strong_wolfe"])
def test_torch_keyword_line_search_fn(value):
    opt = LBFGS([torch.zeros(2, requires_grad=True)], line_search_fn=value)
    assert opt.param_groups[0]["line_search"] == value
    with pytest.raises(ValueError, match="line_search=None and line_search_fn='strong_wolfe' disagree"):
        LBFGS([torch.zeros(2, requires_grad=True)], line_search=None, line_search_fn="strong_wolfe")


@pytest.mark.parametrize("max_iter", [1, 2, 3])
def test_fixed_step_default_max_eval_is_torch_s(max_iter):
    """With line_search=None the default max_eval is torch's max_iter * 5 // 4, so few-iteration steps match."""
    x, opt, closure = make(lr=0.1, line_search=None, max_iter=max_iter)
    xt = torch.tensor([-1.2, 1.0], dtype=torch.float64, requires_grad=True)
    topt = torch.optim.LBFGS([xt], lr=0.1, max_iter=max_iter)
    torch_closure = backward_closure(topt, lambda: rosenbrock(xt))
    for _ in range(3):
        opt.step(closure)
        topt.step(torch_closure)
    assert torch.equal(x.detach(), xt.detach())
    assert opt.nfev == topt.state[xt]["func_evals"] and opt.nit == topt.state[xt]["n_iter"]


def test_numpy_scalars_are_numbers():
    opt = LBFGS([torch.zeros(2, requires_grad=True)], lr=np.float32(0.5), max_iter=np.int64(3), history_size=np.int32(4))
    group = opt.param_groups[0]
    assert (group["lr"], group["max_iter"], group["history_size"]) == (0.5, 3, 4)
    assert type(group["lr"]) is float and type(group["max_iter"]) is int
    newton = Newton([torch.zeros(2, requires_grad=True)], lr=np.float64(0.5), damping=np.float32(0.25))
    assert newton.param_groups[0]["damping"] == 0.25 and type(newton.param_groups[0]["damping"]) is float


@pytest.mark.parametrize("group, match", [
    ({"lr": 0.5}, "'lr' must be the same in every group"),
    ({}, "param 1 is torch.float32 on cpu, param 0 is torch.float64"),
])  # fmt: skip
def test_failing_add_param_group_changes_nothing(group, match):
    x, opt, closure = make(max_iter=3, max_eval=100)
    new = torch.zeros(2, dtype=torch.float64 if group else torch.float32, requires_grad=True)
    with pytest.raises(ValueError, match=match):
        opt.add_param_group({"params": [new], **group})
    assert len(opt.param_groups) == 1 and opt._flat.numel == 2
    opt.step(closure)
    assert opt.nit == 3


def test_add_param_group_joins_the_vector():
    x, opt, _ = make()
    y = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt.add_param_group({"params": [y]})
    assert opt._flat.numel == 5


def test_load_state_dict_of_another_optimizer_is_refused_without_change():
    xt = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    foreign = torch.optim.LBFGS([xt]).state_dict()
    x, opt, closure = make(max_iter=2, max_eval=100)
    opt.step(closure)
    before = copy.deepcopy(opt.state_dict())
    with pytest.raises(ValueError, match=r"param group 0 lacks \['c1', 'c2', 'line_search', 'max_ls'\]"):
        opt.load_state_dict(foreign)
    assert opt.state_dict()["param_groups"] == before["param_groups"]
    assert torch.equal(opt.state[x]["d"], before["state"][0]["d"])
    opt.step(closure)  # still usable
    assert opt.nit == 4


def test_load_state_dict_with_disagreeing_groups_is_refused():
    a, b = (torch.zeros(2, dtype=torch.float64, requires_grad=True) for _ in range(2))
    opt = LBFGS([{"params": [a]}, {"params": [b]}])
    saved = opt.state_dict()
    saved["param_groups"][1]["lr"] = 0.5
    with pytest.raises(ValueError, match="'lr' must be the same in every group; got \\[1.0, 0.5\\]"):
        opt.load_state_dict(saved)
    assert [group["lr"] for group in opt.param_groups] == [1.0, 1.0]


def test_newton_load_state_dict_takes_the_saved_mode():
    x, exact, closure = make(Newton, mode="exact", max_iter=2)
    exact.step(closure)
    y, cg, _ = make(Newton, mode="cg", max_iter=2)
    cg.load_state_dict(exact.state_dict())  # the saved mode is "exact": the dense Hessian must be used
    with torch.no_grad():
        y.copy_(x)
    cg.step(lambda: rosenbrock(y))
    exact.step(closure)
    assert torch.equal(x.detach(), y.detach()) and cg.nhvp == exact.nhvp


@pytest.mark.parametrize("cls", [LBFGS, Newton])
@pytest.mark.parametrize("clone", [copy.deepcopy, lambda opt: pickle.loads(pickle.dumps(opt))])
def test_copies_keep_working(cls, clone):
    x, opt, closure = make(cls, max_iter=3, max_eval=100, on_failure="raise")
    opt.step(closure)
    twin = clone(opt)
    assert twin.on_failure == "raise" and twin.status == opt.status and twin.nfev == opt.nfev
    (y,) = twin.param_groups[0]["params"]
    if cls is Newton:
        twin.step(lambda: rosenbrock(y))
    else:
        twin.step(backward_closure(twin, lambda: rosenbrock(y)))
    opt.step(closure)
    assert torch.equal(x.detach(), y.detach()) and twin.nit == opt.nit == 6
    assert twin.status in (Status.MAX_ITER, Status.CONVERGED)


def test_repeated_loads_copies_and_added_groups_work_together():
    """torch's load_state_dict adds keys of its own ("differentiable") to defaults: they are not ours to check."""
    x, opt, closure = make(max_iter=2, max_eval=100)
    opt.step(closure)
    saved = opt.state_dict()
    opt.load_state_dict(saved)
    opt.load_state_dict(saved)
    twin = copy.deepcopy(opt)
    twin.load_state_dict(saved)
    opt.add_param_group({"params": [torch.zeros(1, dtype=torch.float64, requires_grad=True)]})
    assert len(opt.param_groups) == 2 and opt._flat.numel == 3
    opt.load_state_dict(opt.state_dict())


def test_second_order_optimizers_declare_that_they_need_a_closure():
    from inertia.lab.loops import needs_closure

    assert needs_closure(make(LBFGS)[1]) and needs_closure(make(Newton)[1])
