"""Error inputs of the first-order optimizers' constructors, per-group values and ``add_param_group``.

The constructor's cases come from the one optimizer table (``optimizer_db``, in the manner of torch's
``OptimizerInfo`` error inputs); the other doors have a table here. Each case is a bad call,
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
from optimizer_db import INFO, OPTIMIZER_DB, common_error_inputs

import inertia

CLASSES = {info.name: info.optimizer_class for info in OPTIMIZER_DB}
E = ErrorCase


def _params() -> list[torch.nn.Parameter]:
    generator = torch.Generator().manual_seed(0)
    return [torch.nn.Parameter(torch.randn(3, generator=generator)), torch.nn.Parameter(torch.randn(2, 2))]


CONSTRUCTOR_TABLE = [(name, case) for name in CLASSES for case in
                     common_error_inputs(CLASSES[name]) + list(INFO[name].error_inputs)]


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


BAD_HYPERPARAMETER = {info.optimizer_class: info.bad_group_value for info in OPTIMIZER_DB}
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
      ValueError, r"Invalid (momentum: -1\.0|lr_decay: -1\.0|alpha: 2\.0|betas: \(2\.0|decoupled_weight_decay"
                  r"|rho: 2\.0|etas: \(2\.0|lambd: -1\.0|d: 0\.5)"),
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
    if hasattr(torch.optim, name):  # a class torch.optim has too (Lion is inertia's alone)
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
    E("make_optimizer name='adamq'", lambda o: inertia.make_optimizer("adamq", o.param_groups[0]["params"]),
      ValueError, r"Unknown optimizer: 'adamq'"),
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
