"""Error-input tables of LBFGS and Newton: every door (constructor, param groups at construction,
add_param_group, load_state_dict, step) with bad values, each refused with the argument named and nothing
changed: the optimizer's state dict and its parameter as they were, no file written."""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable

import pytest
import torch
from error_cases import ErrorCase, case_ids, expect_refused, listing, same_state
from so_problems import backward_closure, rosenbrock

from inertia.second_order import LBFGS, Newton

E = ErrorCase
BAD_NUMBERS = [0, -1.0, math.inf, math.nan, "1", True, None, torch.tensor(1.0)]  # for positive numbers
BAD_COUNTS = [0, -3, 2.5, True, "3", math.inf]  # for positive integers
BAD_TOLERANCES = [-1e-3, math.inf, math.nan, "0", None]  # for finite non-negative numbers
# LBFGS takes any float tolerance but NaN (as torch), and a one-element floating tensor lr
BAD_LBFGS_TOLERANCES = [math.nan, "0", None, True, torch.tensor(0.0)]
BAD_LBFGS_LRS = [*(v for v in BAD_NUMBERS if not isinstance(v, torch.Tensor)), torch.tensor([1.0, 2.0]),
                 torch.tensor(1), torch.tensor(0.0), torch.tensor(-1.0), torch.tensor(math.nan)]


def fresh(dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.tensor([-1.2, 1.0], dtype=dtype, requires_grad=True)


def closure_for(opt: torch.optim.Optimizer, x: torch.Tensor) -> Callable[[], torch.Tensor]:
    if isinstance(opt, Newton):
        return lambda: rosenbrock(x)

    return backward_closure(opt, lambda: rosenbrock(x))


def stepped(cls: type) -> tuple[torch.optim.Optimizer, torch.Tensor]:
    """An optimizer with state: 3 iterations (Newton-CG: products only, no dense factorisations to wait on)."""
    x = fresh()
    opt = cls([x], max_iter=3, on_failure="ignore", **({"mode": "cg"} if cls is Newton else {}))
    opt.step(closure_for(opt, x))
    return opt, x


def loaded(change: Callable[[dict], object]) -> Callable:
    """A case that loads the optimizer's own state dict after ``change`` edited a copy of it."""

    def call(opt, x):
        saved = copy.deepcopy(opt.state_dict())
        change(saved)
        opt.load_state_dict(saved)

    return call


def _set(path: tuple, value: object) -> Callable[[dict], None]:
    def change(saved: dict) -> None:
        target = saved
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def value_cases(cls: type, name: str, values: list, *, constructor: bool = True) -> list[ErrorCase]:
    """``name=value`` refused in the constructor, in a group at construction, by add_param_group and in a
    loaded group; the message names the argument and the value."""
    cases = []
    for value in values:
        shown = re.escape(repr(value))
        named = rf"{name}\b.*{shown}"  # c1 and c2 share one message: the name may come second
        if constructor and not (value is None and name in ("max_eval", "krylov_dim", "cg_max_iter", "cg_rtol")):
            cases.append(E(f"{name}={value!r}", lambda o, x, v=value: cls([fresh()], **{name: v}), ValueError,
                           rf"^(c1 and )?{named}"))  # fmt: skip
        if value is None and name in ("krylov_dim", "cg_max_iter", "cg_rtol"):
            continue  # None is a valid group value there
        cases += [
            E(f"group {name}={value!r}", lambda o, x, v=value: cls([{"params": [fresh()], name: v}]), ValueError,
              rf"param group 0: (c1 and )?{named}"),
            E(f"add_param_group {name}={value!r}", lambda o, x, v=value: o.add_param_group(
                {"params": [torch.zeros(1, dtype=torch.float64, requires_grad=True)], name: v}),
              ValueError, rf"param group 1: (c1 and )?{named}"),
            E(f"loaded group {name}={value!r}", loaded(_set(("param_groups", 0, name), value)), ValueError,
              rf"param group 0: (c1 and )?{named}"),
        ]  # fmt: skip
    return cases


def common_cases(cls: type) -> list[ErrorCase]:
    """The doors both classes share: params, add_param_group, load_state_dict's structure, step."""
    label = cls.__name__
    return [
        E("params=[]", lambda o, x: cls([]), ValueError, rf"{label} got an empty parameter list"),
        E("params=a tensor", lambda o, x: cls(fresh()), TypeError, r"Invalid params: got a single Tensor"),
        E("params=None", lambda o, x: cls(None), TypeError, r"Invalid params: None"),
        E("params=3", lambda o, x: cls(3), TypeError, r"Invalid params: 3"),
        E("params=[x, x]", lambda o, x: cls([x, x]), ValueError, r"params: entries 0 and 1 of param group 0 are the same"),
        E("params non-leaf", lambda o, x: cls([fresh() * 2]), ValueError, r"params: entry 0 .* not a leaf"),
        E("params entry 1.5", lambda o, x: cls([fresh(), 1.5]), TypeError, r"params: entry 1 of param group 0 is 1\.5"),
        E("params int64", lambda o, x: cls([torch.zeros(2, dtype=torch.int64)]), ValueError, r"param 0 has dtype torch\.int64"),
        E("params sparse", lambda o, x: cls([torch.zeros(2, dtype=torch.float64).to_sparse()]), ValueError,
          r"param 0 has dtype torch\.float64 \(sparse\)"),
        E("params mixed dtypes", lambda o, x: cls([fresh(), fresh(torch.float32)]), ValueError,
          r"param 1 is torch\.float32 on cpu, param 0 is torch\.float64"),
        E("group without params", lambda o, x: cls([{"lr": 0.5}]), ValueError, r"param group 0 has no 'params' key"),
        E("on_failure='explode'", lambda o, x: cls([fresh()], on_failure="explode"), ValueError,
          r"on_failure must be one of .* got 'explode'"),
        E("group on_failure", lambda o, x: cls([{"params": [fresh()], "on_failure": "raise"}]), ValueError,
          r"param group 0: on_failure='raise' is an argument of the optimizer, not of a param group"),
        E("add_param_group on_failure", lambda o, x: o.add_param_group({"params": [fresh()], "on_failure": "raise"}),
          ValueError, r"param group 1: on_failure='raise' is an argument of the optimizer"),
        E("add_param_group([p])", lambda o, x: o.add_param_group([fresh()]), TypeError, r"Invalid param_group"),
        E("add_param_group no params", lambda o, x: o.add_param_group({"lr": 1.0}), ValueError, r"no 'params' key"),
        E("add_param_group x again", lambda o, x: o.add_param_group({"params": [x]}), ValueError,
          r"params: entry 0 of param group 1 is already in param group 0"),
        E("add_param_group float32", lambda o, x: o.add_param_group({"params": [fresh(torch.float32)]}), ValueError,
          r"param 1 is torch\.float32"),
        E("add_param_group lr=0.5", lambda o, x: o.add_param_group({"params": [fresh()], "lr": 0.5}), ValueError,
          r"'lr' must be the same in every group"),
        E("load [1, 2]", lambda o, x: o.load_state_dict([1, 2]), TypeError, r"state_dict must be a dict, got list"),
        E("load {}", lambda o, x: o.load_state_dict({}), ValueError, r"state_dict lacks \['state', 'param_groups'\]"),
        E("load no state", loaded(lambda s: s.pop("state")), ValueError, r"state_dict lacks \['state'\]"),
        E("load no param_groups", loaded(lambda s: s.pop("param_groups")), ValueError,
          r"state_dict lacks \['param_groups'\]"),
        E("load state=[]", loaded(_set(("state",), [])), TypeError, r"state_dict\['state'\] must be a dict, got list"),
        E("load param_groups='ab'", loaded(_set(("param_groups",), "ab")), TypeError,
          r"state_dict\['param_groups'\] must be a list, got str"),
        E("load group=3", loaded(_set(("param_groups", 0), 3)), ValueError, r"param_groups\[0\] must be a dict"),
        E("load group without params", loaded(lambda s: s["param_groups"][0].pop("params")), ValueError,
          r"param_groups\[0\] must be a dict with a 'params' list"),
        E("load params=7", loaded(_set(("param_groups", 0, "params"), 7)), ValueError,
          r"param_groups\[0\] must be a dict with a 'params' list"),
        E("load two groups", loaded(lambda s: s["param_groups"].append(dict(s["param_groups"][0], params=[5]))),
          ValueError, r"different number of parameter groups"),
        E("load two params", loaded(_set(("param_groups", 0, "params"), [0, 1])), ValueError,
          r"parameter group that doesn't match the size"),
        E("load state key 99", loaded(_set(("state", 99), {})), ValueError, r"state key 99 names no parameter"),
        E("load state[0]=3", loaded(_set(("state", 0), 3)), TypeError, r"state\[0\] must be a dict, got int"),
        E("load func_evals='x'", loaded(_set(("state", 0, "func_evals"), "x")), ValueError,
          r"state\[0\]\['func_evals'\] must be a non-negative integer, got 'x'"),
        E("load n_iter=-1", loaded(_set(("state", 0, "n_iter"), -1)), ValueError, r"\['n_iter'\] .* got -1"),
        E("load hvp_evals=1.5", loaded(_set(("state", 0, "hvp_evals"), 1.5)), ValueError, r"\['hvp_evals'\] .* got 1\.5"),
        E("load grad_evals=None", loaded(_set(("state", 0, "grad_evals"), None)), ValueError,
          r"\['grad_evals'\] .* got None"),
        E("load group lacks lr", loaded(lambda s: s["param_groups"][0].pop("lr")), ValueError,
          r"param group 0 lacks \['lr'\]"),
        E("load torch.optim.LBFGS's", lambda o, x: o.load_state_dict(torch.optim.LBFGS([fresh()]).state_dict()),
          ValueError, r"param group 0 lacks \["),
        E("step(None)", lambda o, x: o.step(None), ValueError, r"needs a closure .* closure=None"),
        E("step(3)", lambda o, x: o.step(3), TypeError, r"closure must be callable, got int"),
        E("step callback=3", lambda o, x: o.step(closure_for(o, x), callback=3), TypeError,
          r"callback must be callable or None, got int"),
    ]  # fmt: skip


def _lbfgs_closure(body: Callable[[torch.Tensor], object]) -> Callable:
    def call(opt, x):
        def closure():
            opt.zero_grad()
            return body(x)

        opt.step(closure)

    return call


def _backward_and(result: Callable[[torch.Tensor], object]) -> Callable[[torch.Tensor], object]:
    def body(x):
        rosenbrock(x).backward()
        return result(x)

    return body


LBFGS_CASES = [
    *value_cases(LBFGS, "lr", BAD_LBFGS_LRS),
    *value_cases(LBFGS, "max_iter", [*BAD_COUNTS, None]),
    *value_cases(LBFGS, "max_eval", [*BAD_COUNTS, None]),
    *value_cases(LBFGS, "history_size", BAD_COUNTS),
    *value_cases(LBFGS, "max_ls", BAD_COUNTS),
    *value_cases(LBFGS, "tolerance_grad", BAD_LBFGS_TOLERANCES),
    *value_cases(LBFGS, "tolerance_change", BAD_LBFGS_TOLERANCES),
    *value_cases(LBFGS, "line_search", ["armijo", 1, True]),
    *value_cases(LBFGS, "c1", [0.0, 0.95, -0.1, math.nan, "0.1"]),
    *value_cases(LBFGS, "c2", [1.0, 1e-4, math.inf, None]),
    E("line_search_fn='armijo'", lambda o, x: LBFGS([fresh()], line_search_fn="armijo"), ValueError,
      r"line_search must be 'strong_wolfe' or None, got 'armijo'"),
    E("line_search/line_search_fn disagree", lambda o, x: LBFGS([fresh()], line_search=None, line_search_fn="strong_wolfe"),
      ValueError, r"line_search=None and line_search_fn='strong_wolfe' disagree"),
    E("group line_search_fn", lambda o, x: LBFGS([{"params": [fresh()], "line_search_fn": None}]), ValueError,
      r"param group 0: line_search_fn=None is an argument of the optimizer"),
    E("closure without backward", _lbfgs_closure(rosenbrock), ValueError,
      r"closure left every param without a gradient: it must call loss\.backward\(\)"),
    E("closure returns 'abc'", _lbfgs_closure(_backward_and(lambda x: "abc")), ValueError,
      r"closure must return a scalar loss, got str"),
    E("closure returns a vector", _lbfgs_closure(_backward_and(lambda x: x * 1.0)), ValueError,
      r"closure must return a scalar loss, got a tensor of shape \(2,\)"),
    E("load d='x'", loaded(_set(("state", 0, "d"), "x")), TypeError, r"state\[0\]\['d'\] must be a tensor, got str"),
    E("load prev_flat_grad=[]", loaded(_set(("state", 0, "prev_flat_grad"), [])), TypeError, r"\['prev_flat_grad'\]"),
    E("load old_dirs=3", loaded(_set(("state", 0, "old_dirs"), 3)), TypeError, r"\['old_dirs'\] must be a list, got int"),
    E("load t='x'", loaded(_set(("state", 0, "t"), "x")), TypeError, r"\['t'\] must be a number, got 'x'"),
    E("load prev_loss=None", loaded(_set(("state", 0, "prev_loss"), None)), TypeError, r"\['prev_loss'\] .* got None"),
]  # fmt: skip

NEWTON_CASES = [
    E("params complex", lambda o, x: Newton([torch.zeros(2, dtype=torch.complex64)]), ValueError,
      r"param 0 has dtype torch\.complex64"),
    *value_cases(Newton, "mode", ["bogus", None, 3, "EXACT"]),
    *value_cases(Newton, "lr", BAD_NUMBERS),
    *value_cases(Newton, "damping", [-1.0, math.inf, math.nan, "0", None, True]),
    *value_cases(Newton, "trust_region", ["yes", 1, None]),
    *value_cases(Newton, "check_curvature", ["yes", 0, None]),
    *value_cases(Newton, "trust_radius", [0, -1.0, math.inf, math.nan, "1", True]),
    *value_cases(Newton, "max_iter", [*BAD_COUNTS, None]),
    *value_cases(Newton, "max_eval", [*BAD_COUNTS, None]),
    *value_cases(Newton, "max_exact_params", [0, 2.5, None]),
    *value_cases(Newton, "krylov_dim", [0, 2.5, "4", None]),
    *value_cases(Newton, "cg_max_iter", [0, -1, True]),
    *value_cases(Newton, "cg_rtol", [0.0, 1.0, 1.5, -0.1, math.nan, "0.1"]),
    *value_cases(Newton, "tolerance_grad", BAD_TOLERANCES),
    *value_cases(Newton, "tolerance_change", BAD_TOLERANCES),
    E("mode='exact' above max_exact_params", lambda o, x: Newton([fresh()], max_exact_params=1), ValueError,
      r"n=2 entries, above max_exact_params=1\. Use mode='cg'"),
    E("closure calls backward", lambda o, x: o.step(lambda: (rosenbrock(x).backward(), rosenbrock(x))[1]), ValueError,
      r"closure must return the loss without calling backward"),
    E("closure returns a float", lambda o, x: o.step(lambda: 3.0), ValueError,
      r"closure must return a scalar loss tensor computed from the params"),
    E("closure returns a vector", lambda o, x: o.step(lambda: x * 2.0), ValueError,
      r"closure must return a scalar loss, got a tensor of shape \(2,\)"),
    E("load lam=-1", loaded(_set(("state", 0, "lam"), -1.0)), ValueError, r"state\[0\]: lam must be a non-negative number, got -1\.0"),
    E("load lam=inf", loaded(_set(("state", 0, "lam"), math.inf)), ValueError, r"lam must be finite, got inf"),
    E("load lam='x'", loaded(_set(("state", 0, "lam"), "x")), ValueError, r"lam must be a non-negative number, got 'x'"),
]  # fmt: skip

TABLE = [(LBFGS, case) for case in common_cases(LBFGS) + LBFGS_CASES] + [
    (Newton, case) for case in common_cases(Newton) + NEWTON_CASES
]


@pytest.mark.parametrize("cls", [LBFGS, Newton])
def test_every_hyperparameter_is_tried_at_every_door(cls):
    """Each of the class's own hyperparameters has bad values in the constructor (or, for those only groups
    hold, like max_eval=None), in a group at construction, in add_param_group and in a loaded group."""
    ids = [case.id for owner, case in TABLE if owner is cls]
    for name in cls([fresh()])._hyperparameters:
        for door in ("group ", "add_param_group ", "loaded group "):
            assert any(i.startswith(f"{door}{name}=") for i in ids), (door, name)
        assert any(i.startswith(f"{name}=") for i in ids) or name in ("c1", "c2"), name


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """One empty directory for the whole table: every refusal runs in it and must leave it empty."""
    return tmp_path_factory.mktemp("refusals")


@pytest.mark.parametrize(("cls", "case"), TABLE,
                         ids=case_ids(E(f"{c.__name__}: {case.id}", case.call, case.error, case.match) for c, case in TABLE))  # fmt: skip
def test_refused_by_name_and_nothing_changed(cls, case, workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    opt, x = stepped(cls)
    before, x_before = copy.deepcopy(opt.state_dict()), x.detach().clone()
    expect_refused(case, opt, x)
    assert same_state(opt.state_dict(), before), case.id
    assert torch.equal(x.detach(), x_before) and len(opt.param_groups) == 1
    assert listing(workdir) == []
    opt.step(closure_for(opt, x))  # still usable after the refusal
    assert opt.nit > before["state"][0]["n_iter"] or opt.status.success
