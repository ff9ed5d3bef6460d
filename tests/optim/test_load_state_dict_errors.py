"""Error inputs of ``load_state_dict`` for every first-order optimizer.

Each case turns a good state dict (of a trained optimizer) into a bad one; loading it must raise the
given type with a message naming what is wrong, leave the optimizer's state dict exactly as it was,
create no file, and leave the optimizer able to load the good state dict afterwards.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
from error_cases import ErrorCase, case_ids, expect_refused, listing, same_state

import inertia

CLASSES = {"SGD": inertia.SGD, "Adagrad": inertia.Adagrad, "RMSprop": inertia.RMSprop, "Adam": inertia.Adam,
           "AdamW": inertia.AdamW}
#: A state tensor each optimizer keeps for every parameter (SGD and RMSprop run with momentum).
TENSOR_KEY = {"SGD": "momentum_buffer", "Adagrad": "sum", "RMSprop": "square_avg", "Adam": "exp_avg",
              "AdamW": "exp_avg_sq"}
BAD_HYPERPARAMETER = {"SGD": ("momentum", -1.0, r"Invalid momentum: -1\.0"),
                      "Adagrad": ("initial_accumulator_value", math.inf, r"Invalid initial_accumulator_value: inf"),
                      "RMSprop": ("alpha", 1.5, r"Invalid alpha: 1\.5"),
                      "Adam": ("betas", (0.9, 1.0), r"Invalid betas: \(0\.9, 1\.0\)"),
                      "AdamW": ("eps_mode", "sqrt", r"Invalid eps_mode: 'sqrt'")}


def _trained(name: str) -> inertia.optim.FlatOptimizer:
    generator = torch.Generator().manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(3, generator=generator)), torch.nn.Parameter(torch.randn(2, 2))]
    optimizer = CLASSES[name](params, **({"momentum": 0.9} if name in ("SGD", "RMSprop") else {}))
    for _ in range(2):
        optimizer.zero_grad()
        sum((p ** 2).sum() for p in params).backward()
        optimizer.step()
    return optimizer


def _edit(change: Callable[[dict, str], Any]) -> Callable[[dict, str], Any]:
    """A case maker: ``change(state_dict, name)`` edits a copy of the good state dict in place."""
    def make(good: dict, name: str) -> Any:
        state_dict = copy.deepcopy(good)
        change(state_dict, name)
        return state_dict
    return make


def _replace(value: Any) -> Callable[[dict, str], Any]:
    """A case maker that loads ``value`` instead of a state dict."""
    return lambda good, name: value


def _set_state(key: str | None, value: Any) -> Callable[[dict, str], Any]:
    return _edit(lambda sd, name: sd["state"][0].__setitem__(TENSOR_KEY[name] if key is None else key, value))


def _set_group(key: str, value: Any) -> Callable[[dict, str], Any]:
    return _edit(lambda sd, name: sd["param_groups"][0].__setitem__(key, value))


SD = r"Invalid state_dict"
STRUCTURE = [
    ("a list", _replace([1, 2]), TypeError, rf"{SD}: \[1, 2\] of type list"),
    ("None", _replace(None), TypeError, rf"{SD}: None of type NoneType"),
    ("a string", _replace("state"), TypeError, rf"{SD}: 'state' of type str"),
    ("no state", _edit(lambda sd, name: sd.pop("state")), ValueError, rf"{SD}: no 'state' key"),
    ("no param_groups", _edit(lambda sd, name: sd.pop("param_groups")), ValueError,
     rf"{SD}: no 'param_groups' key"),
    ("empty dict", _replace({}), ValueError, rf"{SD}: no 'state' and no 'param_groups' key"),
    ("state a list", _edit(lambda sd, name: sd.__setitem__("state", [1])), TypeError,
     rf"{SD}\['state'\]: \[1\] of type list"),
    ("param_groups a string", _edit(lambda sd, name: sd.__setitem__("param_groups", "ab")), TypeError,
     rf"{SD}\['param_groups'\]: 'ab' of type str"),
    ("param_groups a dict", _edit(lambda sd, name: sd.__setitem__("param_groups", {"params": [0, 1]})), TypeError,
     rf"{SD}\['param_groups'\]: .* of type dict"),
    ("two groups", _edit(lambda sd, name: sd["param_groups"].append(dict(sd["param_groups"][0]))), ValueError,
     rf"{SD}\['param_groups'\]: 2 groups, but the optimizer has 1"),
    ("no groups", _edit(lambda sd, name: sd.__setitem__("param_groups", [])), ValueError,
     rf"{SD}\['param_groups'\]: 0 groups"),
    ("group a list", _edit(lambda sd, name: sd["param_groups"].__setitem__(0, [0, 1])), TypeError,
     rf"{SD}\['param_groups'\]\[0\]: \[0, 1\] of type list"),
    ("group without params", _edit(lambda sd, name: sd["param_groups"][0].pop("params")), ValueError,
     rf"{SD}\['param_groups'\]\[0\]: no 'params' key"),
    ("group params a string", _set_group("params", "ab"), TypeError,
     rf"{SD}\['param_groups'\]\[0\]\['params'\]: 'ab' of type str"),
    ("group params None", _set_group("params", None), TypeError,
     rf"{SD}\['param_groups'\]\[0\]\['params'\]: None"),
    ("group params too many", _set_group("params", [0, 1, 2]), ValueError,
     rf"{SD}\['param_groups'\]\[0\]\['params'\]: 3 parameters, but param group 0 of the optimizer has 2"),
    ("group lr=-1", _set_group("lr", -1), ValueError, rf"{SD}\['param_groups'\]\[0\]: Invalid lr: -1"),
    ("group lr='x'", _set_group("lr", "x"), ValueError, rf"{SD}\['param_groups'\]\[0\]: Invalid lr: 'x'"),
    ("group weight_decay=nan", _set_group("weight_decay", math.nan), ValueError, r"Invalid weight_decay: nan"),
    ("group nonfinite='x'", _set_group("nonfinite", "x"), ValueError, r"Invalid nonfinite: 'x'"),
    ("group maximize=None", _set_group("maximize", None), ValueError, r"Invalid maximize: None"),
    ("group class hyperparameter",
     _edit(lambda sd, name: sd["param_groups"][0].__setitem__(*BAD_HYPERPARAMETER[name][:2])), ValueError,
     r"Invalid (momentum|initial_accumulator_value|alpha|betas|eps_mode): "),
    ("param state a list", _edit(lambda sd, name: sd["state"].__setitem__(0, [1])), TypeError,
     rf"{SD}\['state'\]\[0\]: \[1\] of type list .*param group 0, index 0"),
    ("param state None", _edit(lambda sd, name: sd["state"].__setitem__(1, None)), TypeError,
     rf"{SD}\['state'\]\[1\]: None .*param group 0, index 1"),
    ("stray state not a dict", _edit(lambda sd, name: sd["state"].__setitem__(99, 3)), TypeError,
     rf"{SD}\['state'\]\[99\]: 3 of type int"),
    ("state tensor a string", _set_state(None, "x"), TypeError,
     rf"{SD}\['state'\]\[0\]\['\w+'\]: 'x' of type str \(expected a Tensor\)"),
    ("state tensor a list", _set_state(None, [0.0, 0.0, 0.0]), TypeError, rf"{SD}\['state'\]\[0\]\['\w+'\]: \[0\.0"),
    ("state tensor wrong size", _set_state(None, torch.zeros(4)), ValueError,
     r"state '\w+' of param group 0, index 0 has shape \(4,\), but the parameter has shape \(3,\)"),
    ("state tensor complex", _set_state(None, torch.zeros(3, dtype=torch.complex64)), ValueError,
     rf"{SD}\['state'\]\[0\]\['\w+'\]: a torch.complex64 tensor for a torch.float32 parameter"),
]
STEPPED = [name for name in CLASSES if name != "SGD"]  # SGD keeps no step counter
STEPS = [
    ("step='x'", "x", r"'x' of type str"),
    ("step=None", None, r"None of type NoneType"),
    ("step=nan", math.nan, r"nan of type float"),
    ("step=inf", torch.tensor(math.inf), r"tensor\(inf\) of type Tensor"),
    ("step=True", True, r"True of type bool"),
    ("step=1j", 1j, r"1j of type complex"),
    ("step=a vector", torch.ones(2), r"tensor\(\[1\., 1\.\]\) of type Tensor"),
    ("step=a bool tensor", torch.tensor(True), r"tensor\(True\) of type Tensor"),
]
TABLE = [(name, ErrorCase(f"{name}: {label}", make, error, match))
         for name in CLASSES for label, make, error, match in STRUCTURE]
TABLE += [(name, ErrorCase(f"{name}: {label}", _set_state("step", value), ValueError,
                           rf"{SD}\['state'\]\[0\]\['step'\]: {match}.*param group 0, index 0"))
          for name in STEPPED for label, value, match in STEPS]


@pytest.mark.parametrize(("name", "case"), TABLE, ids=case_ids(case for _, case in TABLE))
def test_load_state_dict_refuses_by_name_and_changes_nothing(name, case, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    optimizer = _trained(name)
    good = copy.deepcopy(optimizer.state_dict())
    bad = case.call(good, name)
    expect_refused(ErrorCase(case.id, optimizer.load_state_dict, case.error, case.match), bad)
    assert same_state(optimizer.state_dict(), good)
    assert listing(tmp_path) == []
    optimizer.load_state_dict(copy.deepcopy(good))  # the refusal left a working optimizer
    assert same_state(optimizer.state_dict(), good)


@pytest.mark.parametrize("name", STEPPED)
def test_a_python_number_step_still_loads(name: str) -> None:
    """The step checks keep torch < 1.12 checkpoints (Python-number steps) and float steps loadable."""
    optimizer = _trained(name)
    state_dict = copy.deepcopy(optimizer.state_dict())
    state_dict["state"][0]["step"], state_dict["state"][1]["step"] = 2, 2.0
    optimizer.load_state_dict(state_dict)
    assert [float(optimizer.state_dict()["state"][i]["step"]) for i in (0, 1)] == [2.0, 2.0]
