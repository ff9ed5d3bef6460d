"""Error inputs of the first-order optimizers' constructors, per-group values and ``add_param_group``.

One table per door (in the manner of torch's ``OptimizerInfo`` error inputs): each case is a bad call,
the exception type it raises and a regex naming the argument and the value. Every case also checks
that nothing changed: the parameters (and, for ``add_param_group``, the optimizer's state dict) are
equal before and after, and no file or directory was created.
"""

from __future__ import annotations

import copy
import math
import warnings

import pytest
import torch
from error_cases import ErrorCase, case_ids, expect_refused, listing, same_state

import inertia

CLASSES = {"SGD": inertia.SGD, "Adagrad": inertia.Adagrad, "RMSprop": inertia.RMSprop, "Adam": inertia.Adam,
           "AdamW": inertia.AdamW}
E = ErrorCase


def _params() -> list[torch.nn.Parameter]:
    generator = torch.Generator().manual_seed(0)
    return [torch.nn.Parameter(torch.randn(3, generator=generator)), torch.nn.Parameter(torch.randn(2, 2))]


def _value_cases(argument: str, values: list, group: bool = True) -> list[ErrorCase]:
    """``argument=value`` refused by the constructor (and, with ``group``, as a per-group value)."""
    cases = []
    for value in values:
        text = repr(value)
        pattern = rf"Invalid {argument}: {_escape(text)}"
        cases.append(E(f"{argument}={text}", lambda c, p, v=value: c(p, **{argument: v}), ValueError, pattern))
        if group:
            cases.append(E(f"group {argument}={text}",
                           lambda c, p, v=value: c([{"params": p[:1]}, {"params": p[1:], argument: v}]),
                           ValueError, pattern))
    return cases


def _escape(text: str) -> str:
    return "".join("\\" + ch if ch in r"\.^$*+?{}[]|()" else ch for ch in text)


PARAMS_CASES = [
    E("params=a tensor", lambda c, p: c(p[0]), TypeError, r"Invalid params: got a single Tensor"),
    E("params=a set", lambda c, p: c(set(p)), TypeError, r"Invalid params: .* of type set"),
    E("params=None", lambda c, p: c(None), TypeError, r"Invalid params: None"),
    E("params=3", lambda c, p: c(3), TypeError, r"Invalid params: 3 of type int"),
    E("params='w'", lambda c, p: c("w"), TypeError, r"Invalid params: 'w'"),
    E("params=a dict", lambda c, p: c({"params": p}), TypeError, r"Invalid params: .* of type dict"),
    E("params=[]", lambda c, p: c([]), ValueError, r"Invalid params: an empty list"),
    E("params entry 1", lambda c, p: c([p[0], 1.5]), TypeError,
      r"Invalid params: entry 1 of param group 0 is 1\.5 of type float"),
    E("params non-leaf", lambda c, p: c([p[0] * 2]), ValueError,
      r"Invalid params: entry 0 of param group 0 is not a leaf tensor"),
    E("params duplicate", lambda c, p: c([p[0], p[1], p[0]]), ValueError,
      r"Invalid params: entries 0 and 2 of param group 0 are the same tensor"),
    E("params duplicate pair", lambda c, p: c([("a", p[0]), ("b", p[0])]), ValueError,
      r"Invalid params: entries 0 and 1 of param group 0 are the same tensor"),
    E("params in two groups", lambda c, p: c([{"params": p}, {"params": p[:1]}]), ValueError,
      r"Invalid params: entry 0 of param group 1 is already in param group 0"),
    E("group without params", lambda c, p: c([{"params": p}, {"lr": 0.1}]), ValueError,
      r"Invalid param_group: param group 1 has no 'params' key"),
    E("group params=None", lambda c, p: c([{"params": None}]), TypeError,
      r"Invalid params: None of type NoneType in param group 0"),
    E("group params=a set", lambda c, p: c([{"params": set(p)}]), TypeError, r"Invalid params: .* in param group 0"),
    E("group mixed with tensors", lambda c, p: c([p[0], {"params": p[1:]}]), TypeError,
      r"Invalid params: entry 1 of param group 0 is \{"),
]
COMMON_CASES = PARAMS_CASES + [
    *_value_cases("lr", [-0.1, math.nan, math.inf, "0.1", None, True, 1j, torch.tensor(0.1)]),
    *_value_cases("weight_decay", [-1.0, math.nan, math.inf, "x"]),
    *_value_cases("maximize", ["yes", 2, None]),
    *_value_cases("nonfinite", ["warn", None]),
    *_value_cases("impl", ["cuda", None]),
    *_value_cases("foreach", ["x", 2]),
    *_value_cases("fused", ["x"]),
    *_value_cases("differentiable", [True]),
    E("fused and foreach", lambda c, p: c(p, fused=True, foreach=True), ValueError,
      r"Invalid fused: True with foreach: True"),
    E("unknown option", lambda c, p: c(p, bogus=1), ValueError, r"Unknown option for inertia\.\w+: bogus=1"),
]
CLASS_CASES = {
    "SGD": [
        *_value_cases("momentum", [-0.5, math.nan, math.inf, "0.9"]),
        *_value_cases("dampening", [-0.1, 1.5, math.nan, None]),
        *_value_cases("momentum_form", ["keras", None]),
        *_value_cases("nesterov", ["yes"]),
        E("nesterov without momentum", lambda c, p: c(p, nesterov=True), ValueError,
          r"Invalid nesterov: True .*momentum=0"),
        E("nesterov with dampening", lambda c, p: c(p, momentum=0.9, dampening=0.1, nesterov=True), ValueError,
          r"Invalid nesterov: True .*dampening=0\.1"),
        E("group nesterov without momentum", lambda c, p: c([{"params": p, "nesterov": True}]), ValueError,
          r"Invalid nesterov: True"),
        E("velocity with dampening", lambda c, p: c(p, momentum=0.9, dampening=0.1, momentum_form="velocity"),
          ValueError, r"Invalid dampening: 0\.1 \(momentum_form='velocity'"),
    ],
    "Adagrad": [
        *_value_cases("lr_decay", [-0.1, math.inf, "x"]),
        *_value_cases("initial_accumulator_value", [-0.1, math.nan]),
        *_value_cases("eps", [-1e-10, math.inf, None]),
        *_value_cases("eps_inside_sqrt", ["x", 3]),
    ],
    "RMSprop": [
        *_value_cases("alpha", [-0.1, 1.5, math.nan, "x"]),
        *_value_cases("eps", [-1e-8, math.nan]),
        *_value_cases("momentum", [-0.9, math.inf]),
        *_value_cases("centered", ["x", 2]),
        *_value_cases("eps_inside_sqrt", ["x"]),
        *_value_cases("capturable", ["x"]),
    ],
}
ADAM_CASES = [
    E("betas=(1.0, 0.999)", lambda c, p: c(p, betas=(1.0, 0.999)), ValueError,
      r"Invalid betas: \(1\.0, 0\.999\) \(betas\[0\]"),
    E("betas=(0.9, -0.1)", lambda c, p: c(p, betas=(0.9, -0.1)), ValueError, r"Invalid betas: .*betas\[1\]"),
    E("betas=(0.9, nan)", lambda c, p: c(p, betas=(0.9, math.nan)), ValueError, r"Invalid betas: \(0\.9, nan\)"),
    E("betas=(True, 0.9)", lambda c, p: c(p, betas=(True, 0.9)), ValueError, r"Invalid betas: \(True, 0\.9\)"),
    E("betas=0.9", lambda c, p: c(p, betas=0.9), ValueError, r"Invalid betas: 0\.9"),
    E("betas=(0.9,)", lambda c, p: c(p, betas=(0.9,)), ValueError, r"Invalid betas: \(0\.9,\)"),
    E("betas=three", lambda c, p: c(p, betas=(0.9, 0.99, 0.9)), ValueError, r"Invalid betas: \(0\.9, 0\.99, 0\.9\)"),
    E("betas='ab'", lambda c, p: c(p, betas="ab"), ValueError, r"Invalid betas: 'ab'"),
    E("group betas", lambda c, p: c([{"params": p, "betas": (1.5, 0.9)}]), ValueError, r"Invalid betas: \(1\.5"),
    *_value_cases("eps", [-1e-8, math.nan]),
    *_value_cases("amsgrad", ["x"]),
    *_value_cases("bias_correction", [None]),
    *_value_cases("eps_mode", ["sqrt", None]),
    E("beta1 keyword", lambda c, p: c(p, beta1=0.9), ValueError, r"Unknown option for inertia\.Adam\w*: beta1=0\.9"),
]
CLASS_CASES["Adam"] = ADAM_CASES + _value_cases("decoupled_weight_decay", ["x"])
CLASS_CASES["AdamW"] = ADAM_CASES + [
    E("decoupled_weight_decay=False", lambda c, p: c(p, decoupled_weight_decay=False), ValueError,
      r"Invalid decoupled_weight_decay: False"),
    E("group decoupled_weight_decay=False", lambda c, p: c([{"params": p, "decoupled_weight_decay": False}]),
      ValueError, r"Invalid decoupled_weight_decay: False"),
]
CONSTRUCTOR_TABLE = [(name, case) for name in CLASSES for case in COMMON_CASES + CLASS_CASES[name]]


@pytest.mark.parametrize(("name", "case"), CONSTRUCTOR_TABLE,
                         ids=case_ids(E(f"{n}: {c.id}", c.call, c.error, c.match) for n, c in CONSTRUCTOR_TABLE))
def test_constructor_refuses_by_name_and_changes_nothing(name, case, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    params = _params()
    for p in params:
        p.grad = torch.ones_like(p)
    before = copy.deepcopy([(p.detach(), p.grad) for p in params])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a refusal, not a warning and a silent acceptance
        expect_refused(case, CLASSES[name], params)
    assert same_state([(p.detach(), p.grad) for p in params], before)
    assert listing(tmp_path) == []


def _trained(name: str) -> tuple[torch.optim.Optimizer, list[torch.nn.Parameter]]:
    params = _params()
    optimizer = CLASSES[name](params, **({"momentum": 0.9} if name in ("SGD", "RMSprop") else {}))
    sum((p ** 2).sum() for p in params).backward()
    optimizer.step()
    return optimizer, params


BAD_HYPERPARAMETER = {inertia.SGD: ("momentum", -1.0), inertia.Adagrad: ("lr_decay", -1.0),
                      inertia.RMSprop: ("alpha", 2.0), inertia.Adam: ("betas", (2.0, 0.9)),
                      inertia.AdamW: ("decoupled_weight_decay", False)}
ADD_GROUP_CASES = [
    E("param_group=a list", lambda o, q: o.add_param_group([q]), TypeError,
      r"Invalid param_group: \[.* of type list"),
    E("param_group=None", lambda o, q: o.add_param_group(None), TypeError, r"Invalid param_group: None"),
    E("no params key", lambda o, q: o.add_param_group({"lr": 0.1}), ValueError,
      r"Invalid param_group: param group 1 has no 'params' key \(keys: \['lr'\]\)"),
    E("params=None", lambda o, q: o.add_param_group({"params": None}), TypeError,
      r"Invalid params: None .* in param group 1"),
    E("params=a set", lambda o, q: o.add_param_group({"params": {q}}), TypeError,
      r"Invalid params: .* of type set in param group 1"),
    E("params=7", lambda o, q: o.add_param_group({"params": 7}), TypeError, r"Invalid params: 7 of type int"),
    E("entry not a tensor", lambda o, q: o.add_param_group({"params": [q, "w"]}), TypeError,
      r"Invalid params: entry 1 of param group 1 is 'w'"),
    E("non-leaf", lambda o, q: o.add_param_group({"params": [q * 2]}), ValueError,
      r"Invalid params: entry 0 of param group 1 is not a leaf"),
    E("duplicate", lambda o, q: o.add_param_group({"params": [q, q]}), ValueError,
      r"Invalid params: entries 0 and 1 of param group 1 are the same tensor"),
    E("already in group 0", lambda o, q: o.add_param_group({"params": [q, o.param_groups[0]["params"][1]]}),
      ValueError, r"Invalid params: entry 1 of param group 1 is already in param group 0"),
    E("lr=-1", lambda o, q: o.add_param_group({"params": [q], "lr": -1}), ValueError, r"Invalid lr: -1"),
    E("lr='x'", lambda o, q: o.add_param_group({"params": [q], "lr": "x"}), ValueError, r"Invalid lr: 'x'"),
    E("weight_decay=nan", lambda o, q: o.add_param_group({"params": [q], "weight_decay": math.nan}), ValueError,
      r"Invalid weight_decay: nan"),
    E("nonfinite='x'", lambda o, q: o.add_param_group({"params": [q], "nonfinite": "x"}), ValueError,
      r"Invalid nonfinite: 'x'"),
    E("impl='x'", lambda o, q: o.add_param_group({"params": [q], "impl": "x"}), ValueError, r"Invalid impl: 'x'"),
    E("maximize=2", lambda o, q: o.add_param_group({"params": [q], "maximize": 2}), ValueError,
      r"Invalid maximize: 2"),
    E("class hyperparameter", lambda o, q: o.add_param_group(
        {"params": [q], BAD_HYPERPARAMETER[type(o)][0]: BAD_HYPERPARAMETER[type(o)][1]}),
      ValueError, r"Invalid (momentum: -1\.0|lr_decay: -1\.0|alpha: 2\.0|betas: \(2\.0|decoupled_weight_decay)"),
]
ADD_GROUP_TABLE = [(name, case) for name in CLASSES for case in ADD_GROUP_CASES]


@pytest.mark.parametrize(("name", "case"), ADD_GROUP_TABLE,
                         ids=case_ids(E(f"{n}: {c.id}", c.call, c.error, c.match) for n, c in ADD_GROUP_TABLE))
def test_add_param_group_refuses_by_name_and_adds_nothing(name, case, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    optimizer, _ = _trained(name)
    before = copy.deepcopy(optimizer.state_dict())
    extra = torch.nn.Parameter(torch.zeros(4))
    expect_refused(case, optimizer, extra)
    assert same_state(optimizer.state_dict(), before)
    assert all(p is not extra for group in optimizer.param_groups for p in group["params"])
    assert listing(tmp_path) == []
    optimizer.add_param_group({"params": [extra]})  # still usable: a good group is added
    assert len(optimizer.param_groups) == 2


@pytest.mark.parametrize("impl", ["reference", "fused", "auto"])
@pytest.mark.parametrize("name", list(CLASSES))
def test_duplicate_parameters_are_refused_where_torch_warns_and_steps_them_twice(name: str, impl: str) -> None:
    """torch.optim warns about a tensor listed twice in a group and then updates it twice per step
    (with shared state); inertia refuses the group instead of following some other trajectory."""
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64))
    with pytest.warns(UserWarning, match="duplicate parameters"):
        reference = getattr(torch.optim, name)([p, p], lr=0.1)
    p.sin().pow(2).sum().backward()
    start, grad = p.detach().clone(), p.grad.clone()
    reference.step()
    if name == "SGD":  # plain SGD shows the double update: two steps with the same gradient
        torch.testing.assert_close(p.detach(), start - 0.2 * grad, rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match=r"Invalid params: entries 0 and 1 of param group 0 are the same tensor"):
        CLASSES[name]([p, p], lr=0.1, impl=impl)
    with pytest.raises(ValueError, match=r"Invalid params: entries 0 and 1 of param group 0 are the same tensor"):
        CLASSES[name]([{"params": [p, p]}], lr=0.1, impl=impl)


STEP_AND_NAME_CASES = [
    E("step closure=3", lambda o: o.step(3), TypeError, r"closure: must be None or a callable.*got 3"),
    E("step closure='loss'", lambda o: o.step("loss"), TypeError, r"closure: must be None or a callable.*'loss'"),
    E("make_optimizer name=3", lambda o: inertia.make_optimizer(3, o.param_groups[0]["params"]), TypeError,
      r"Unknown optimizer: 3"),
    E("make_optimizer name=None", lambda o: inertia.make_optimizer(None, o.param_groups[0]["params"]), TypeError,
      r"Unknown optimizer: None"),
    E("make_optimizer name='adamax'", lambda o: inertia.make_optimizer("adamax", o.param_groups[0]["params"]),
      ValueError, r"Unknown optimizer: 'adamax'"),
]
STEP_TABLE = [(name, case) for name in CLASSES for case in STEP_AND_NAME_CASES]


@pytest.mark.parametrize(("name", "case"), STEP_TABLE,
                         ids=case_ids(E(f"{n}: {c.id}", c.call, c.error, c.match) for n, c in STEP_TABLE))
def test_step_and_make_optimizer_refuse_by_name_and_change_nothing(name, case, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    optimizer, params = _trained(name)
    before = copy.deepcopy((optimizer.state_dict(), [p.detach() for p in params]))
    expect_refused(case, optimizer)
    assert same_state((optimizer.state_dict(), [p.detach() for p in params]), before)
    assert listing(tmp_path) == []
