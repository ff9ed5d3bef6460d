"""The one table of inertia's first-order optimizers, in the manner of torch's ``OptimizerInfo``.

Each :class:`OptimizerInfo` row holds, for one class: the configurations that torch.optim accepts
too (parity, state dicts, non-finite policies, kernels), the configurations of options only inertia
has (kernels and the fused path), whether a fused path exists, and the class's error inputs (each a
bad call, its exception type and a regex naming the argument and the value). ``COMMON_ERROR_INPUTS``
apply to every class. A new rule is one row here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from error_cases import ErrorCase

import inertia

E = ErrorCase


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
COMMON_ERROR_INPUTS = PARAMS_CASES + [
    *_value_cases("lr", [-0.1, math.nan, math.inf, "0.1", None, True, 1j, torch.tensor([0.1, 0.2]), torch.tensor(1)]),
    *_value_cases("weight_decay", [-1.0, math.nan, math.inf, "x"]),
    *_value_cases("maximize", ["yes", 2, None]),
    *_value_cases("nonfinite", ["warn", None]),
    *_value_cases("impl", ["cuda", None]),
    *_value_cases("foreach", ["x", 2]),
    *_value_cases("fused", ["x"]),
    E("fused and foreach", lambda c, p: c(p, fused=True, foreach=True), ValueError,
      r"Invalid fused: True with foreach: True"),
    E("unknown option", lambda c, p: c(p, bogus=1), ValueError, r"Unknown option for inertia\.\w+: bogus=1"),
]
#: Refused by the classes whose torch.optim twin has no ``differentiable`` option (no differentiable math).
DIFFERENTIABLE_REFUSED = _value_cases("differentiable", [True])


def common_error_inputs(optimizer_class: type) -> list[ErrorCase]:
    """:data:`COMMON_ERROR_INPUTS`, plus :data:`DIFFERENTIABLE_REFUSED` for a class without a differentiable step."""
    takes_differentiable = "differentiable" in getattr(optimizer_class, "torch_group_flags", ())
    return COMMON_ERROR_INPUTS + ([] if takes_differentiable else DIFFERENTIABLE_REFUSED)


_CLASS_ERRORS = {
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
_CLASS_ERRORS["Adam"] = ADAM_CASES + _value_cases("decoupled_weight_decay", ["x"])
_CLASS_ERRORS["AdamW"] = ADAM_CASES + [
    E("decoupled_weight_decay=False", lambda c, p: c(p, decoupled_weight_decay=False), ValueError,
      r"Invalid decoupled_weight_decay: False"),
    E("group decoupled_weight_decay=False", lambda c, p: c([{"params": p, "decoupled_weight_decay": False}]),
      ValueError, r"Invalid decoupled_weight_decay: False"),
]

SHAMPOO_CASES = [
    E("betas=(0.9, 1.5)", lambda c, p: c(p, betas=(0.9, 1.5)), ValueError, r"Invalid betas: \(0\.9, 1\.5\) \(betas\[1\]"),
    E("betas=(0.9, 0.0)", lambda c, p: c(p, betas=(0.9, 0.0)), ValueError, r"Invalid betas: \(0\.9, 0\.0\) \(betas\[1\]"),
    *_value_cases("epsilon", [0.0, -1e-12, math.nan, math.inf, "x"]),
    *_value_cases("momentum", [-0.1, 1.0, math.nan, "x"]),
    *_value_cases("nesterov", ["yes", 1]),
    *_value_cases("decoupled_weight_decay", ["x", None]),
    *_value_cases("max_precond_dim", [0, -4, 2.5, "8", True]),
    *_value_cases("precondition_frequency", [0, 1.5, None]),
    *_value_cases("start_preconditioning_step", [0, -1, 2.0, "x"]),
    *_value_cases("inv_root_override", [-1, 0.5, None]),
    *_value_cases("grafting", ["adagrad", None, 1]),
    *_value_cases("grafting_beta2", [1.0, -0.1, math.nan]),
    *_value_cases("grafting_epsilon", [-1e-8, math.nan]),
    E("start before the first roots", lambda c, p: c(p, precondition_frequency=10, start_preconditioning_step=5),
      ValueError, r"Invalid start_preconditioning_step: 5 \(must be >= precondition_frequency = 10"),
    E("nesterov without momentum", lambda c, p: c(p, nesterov=True), ValueError,
      r"Invalid nesterov: True with momentum = 0\.0"),
]


@dataclass(frozen=True)
class OptimizerInfo:
    """One optimizer class: its configurations, supported paths and error inputs."""

    name: str
    #: Keyword arguments that torch.optim's class of the same name accepts too.
    torch_configs: tuple[dict[str, Any], ...]
    #: Keyword arguments of options only inertia has (torch would refuse them).
    inertia_configs: tuple[dict[str, Any], ...] = ()
    #: A (key, value) of the class's own hyperparameters that a param group may not hold.
    bad_group_value: tuple[str, Any] = ("lr", -1.0)
    #: Whether the class has a fused path (flat buffers, one kernel per bucket).
    fused: bool = True
    #: Whether torch.optim resumes an inertia checkpoint of float64 parameters bit for bit (NAdam: torch casts
    #: the loaded ``mu_product`` to the parameters' dtype and goes on in float64, so torch itself does not
    #: resume its own float64 NAdam bit for bit either).
    torch_resumes_exactly: bool = True
    error_inputs: tuple[ErrorCase, ...] = field(default=())

    @property
    def optimizer_class(self) -> type:
        """The inertia class."""
        return getattr(inertia, self.name)

    @property
    def torch_class(self) -> type[torch.optim.Optimizer]:
        """torch.optim's class of the same name."""
        return getattr(torch.optim, self.name)


OPTIMIZER_DB: list[OptimizerInfo] = [
    OptimizerInfo(
        "SGD",
        bad_group_value=("momentum", -1.0),
        torch_configs=(
            dict(lr=0.05), dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.9, dampening=0.3),
            dict(lr=0.05, momentum=0.9, nesterov=True), dict(lr=0.05, momentum=0.5, weight_decay=0.1, maximize=True),
            dict(lr=0.05, weight_decay=0.1, maximize=True), dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.05),
            dict(lr=0.05, momentum=0.9, nesterov=True, maximize=True),
        ),
        inertia_configs=(
            dict(lr=0.05, momentum=0.8, momentum_form="velocity"),
            dict(lr=0.05, momentum=0.8, nesterov=True, momentum_form="velocity", weight_decay=0.1),
        ),
        error_inputs=tuple(_CLASS_ERRORS["SGD"]),
    ),
    OptimizerInfo(
        "Adagrad",
        bad_group_value=("lr_decay", -1.0),
        torch_configs=(
            dict(lr=0.1), dict(lr=0.1, lr_decay=0.01, weight_decay=0.05),
            dict(lr=0.1, initial_accumulator_value=0.1, eps=1e-6, maximize=True),
            dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, maximize=True),
        ),
        inertia_configs=(dict(lr=0.1, initial_accumulator_value=0.1, eps=1e-3, eps_inside_sqrt=True),),
        error_inputs=tuple(_CLASS_ERRORS["Adagrad"]),
    ),
    OptimizerInfo(
        "RMSprop",
        bad_group_value=("alpha", 2.0),
        torch_configs=(
            dict(lr=0.01), dict(lr=0.01, alpha=0.9, centered=True), dict(lr=0.01, momentum=0.9),
            dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1, maximize=True),
            dict(lr=0.01, alpha=0.9, centered=True, maximize=True), dict(lr=0.01, momentum=0.9, weight_decay=0.1),
        ),
        inertia_configs=(
            dict(lr=0.01, momentum=0.9, centered=True, eps=1e-4, eps_inside_sqrt=True),
            dict(lr=0.01, alpha=0.9, eps_inside_sqrt=True, maximize=True, weight_decay=0.05),
        ),
        error_inputs=tuple(_CLASS_ERRORS["RMSprop"]),
    ),
    OptimizerInfo(
        "Adam",
        bad_group_value=("betas", (2.0, 0.9)),
        torch_configs=(
            dict(lr=0.01), dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1), dict(lr=0.01, amsgrad=True),
            dict(lr=0.01, amsgrad=True, maximize=True, decoupled_weight_decay=True, weight_decay=0.1),
            dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, maximize=True),
        ),
        inertia_configs=(
            dict(lr=0.01, bias_correction=False, weight_decay=0.1, decoupled_weight_decay=True),
            dict(lr=0.01, eps_mode="inside", eps=1e-6, amsgrad=True),
            dict(lr=0.01, eps_mode="hat", eps=1e-7, maximize=True),
        ),
        error_inputs=tuple(_CLASS_ERRORS["Adam"]),
    ),
    OptimizerInfo(
        "AdamW",
        bad_group_value=("decoupled_weight_decay", False),
        torch_configs=(
            dict(lr=0.01), dict(lr=0.01, weight_decay=0.3, amsgrad=True),
            dict(lr=0.01, weight_decay=0.3, amsgrad=True, maximize=True),
        ),
        error_inputs=tuple(_CLASS_ERRORS["AdamW"]),
    ),
    OptimizerInfo(
        "Adamax",
        bad_group_value=("betas", (2.0, 0.9)),
        torch_configs=(
            dict(lr=0.01), dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
            dict(lr=0.01, weight_decay=0.1, maximize=True),
        ),
        error_inputs=(*ADAM_CASES[:9], *_value_cases("eps", [-1e-8, math.nan])),
    ),
    OptimizerInfo(
        "Lion",
        bad_group_value=("betas", (2.0, 0.9)),
        torch_configs=(),  # torch.optim has no Lion: tests/optim/test_lion.py checks it against the paper's algorithm
        inertia_configs=(
            dict(lr=1e-3), dict(lr=1e-3, betas=(0.95, 0.98), weight_decay=0.5),
            dict(lr=1e-3, weight_decay=0.1, maximize=True),
        ),
        error_inputs=tuple(ADAM_CASES[:9]),
    ),
    OptimizerInfo(
        "Adadelta",
        bad_group_value=("rho", 2.0),
        torch_configs=(
            dict(lr=1.0), dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.1, foreach=False),
            dict(lr=1.0, weight_decay=0.1, maximize=True), dict(lr=2.0, rho=0.95, maximize=True),
        ),
        error_inputs=(*_value_cases("rho", [-0.1, 1.5, math.nan, "x"]), *_value_cases("eps", [-1e-6, math.nan]),
                      *_value_cases("capturable", ["x"])),
    ),
    OptimizerInfo(
        "Rprop",
        bad_group_value=("etas", (2.0, 0.9)),
        torch_configs=(
            dict(lr=0.01), dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-4, 0.1)),
            dict(lr=0.01, maximize=True, foreach=False),
            dict(lr=0.1, etas=(0.6, 1.1), step_sizes=(0.0, 1.0), maximize=True),
        ),
        inertia_configs=(
            dict(lr=0.01, weight_decay=0.1), dict(lr=0.02, weight_decay=0.05, maximize=True, step_sizes=(1e-5, 0.5)),
        ),
        error_inputs=(*_value_cases("etas", [(1.5, 1.2), (0.5, 0.9), 0.5, (0.5,), (math.nan, 1.2), "ab"]),
                      *_value_cases("step_sizes", [(-1.0, 50), (1.0, 0.5), (1e-6, math.inf), 3]),
                      *_value_cases("capturable", ["x"])),
    ),
    OptimizerInfo(
        "NAdam",
        torch_resumes_exactly=False,
        bad_group_value=("betas", (2.0, 0.9)),
        torch_configs=(
            dict(lr=0.01), dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, momentum_decay=0.01),
            dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True),
            dict(lr=0.01, momentum_decay=0.0, maximize=True, foreach=False),
        ),
        error_inputs=(*ADAM_CASES[:9], *_value_cases("eps", [-1e-8, math.nan]),
                      *_value_cases("momentum_decay", [-0.1, math.inf, "x"]),
                      *_value_cases("decoupled_weight_decay", ["x"])),
    ),
    OptimizerInfo(
        "RAdam",
        bad_group_value=("betas", (2.0, 0.9)),
        torch_configs=(
            dict(lr=0.01), dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
            dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True),
            dict(lr=0.01, betas=(0.9, 0.9), maximize=True, foreach=False),
        ),
        error_inputs=(*ADAM_CASES[:9], *_value_cases("eps", [-1e-8, math.nan]),
                      *_value_cases("decoupled_weight_decay", ["x"])),
    ),
    OptimizerInfo(
        "ASGD",
        bad_group_value=("lambd", -1.0),
        torch_configs=(
            dict(lr=0.01), dict(lr=0.05, lambd=1e-3, alpha=0.5, t0=2.0),
            dict(lr=0.02, t0=3, weight_decay=0.1, maximize=True, foreach=False),
            dict(lr=0.01, lambd=0.0, alpha=1.0, t0=0.0, maximize=True),
        ),
        error_inputs=(*_value_cases("lambd", [-1e-4, math.nan, "x"]), *_value_cases("alpha", [-0.5, math.inf]),
                      *_value_cases("t0", [-1.0, math.nan]), *_value_cases("capturable", ["x"])),
    ),
    OptimizerInfo(
        "AdamWScheduleFree",
        bad_group_value=("betas", (2.0, 0.9)),
        torch_configs=(),  # torch.optim has none: tests/optim/test_schedule_free.py checks it against the paper
        inertia_configs=(
            dict(lr=0.01), dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
            dict(lr=0.02, warmup_steps=3, r=0.5, weight_lr_power=1.0, maximize=True),
        ),
        error_inputs=(*ADAM_CASES[:9], *_value_cases("eps", [-1e-8, math.nan]),
                      *_value_cases("warmup_steps", [-1, math.nan]), *_value_cases("r", [-0.5, math.inf]),
                      *_value_cases("weight_lr_power", [-1.0, math.nan])),
    ),
    OptimizerInfo(
        "Adafactor",
        bad_group_value=("d", 0.5),
        fused=False,
        torch_configs=(
            dict(lr=0.01), dict(lr=0.05, beta2_decay=-0.5, eps=(1e-30, 1e-3), d=2.0),
            dict(lr=0.01, weight_decay=0.1, maximize=True, foreach=False),
            dict(lr=0.02, beta2_decay=-1.0, eps=(None, 1e-2), d=1.5, weight_decay=0.05, maximize=True),
        ),
        error_inputs=(*_value_cases("beta2_decay", [0.5, math.nan, "x"]), *_value_cases("d", [0.5, math.inf]),
                      *_value_cases("eps", [(-1e-3, 1e-3), (None, -1.0), (None, None), 1e-3, (None,)])),
    ),
    OptimizerInfo(
        "Shampoo",
        bad_group_value=("betas", (2.0, 0.9)),
        fused=False,
        torch_configs=(),  # torch.optim has none: tests/optim/test_shampoo.py checks it against the paper's algorithm
        error_inputs=(*ADAM_CASES[:2], *ADAM_CASES[3:9], *SHAMPOO_CASES),
    ),
]
INFO = {info.name: info for info in OPTIMIZER_DB}

#: (class name, keyword arguments) accepted by inertia and torch.optim alike.
CONFIGS: list[tuple[str, dict[str, Any]]] = [(i.name, kw) for i in OPTIMIZER_DB for kw in i.torch_configs]
#: Every configuration of every class with a fused path: together they switch on every option of every rule.
CASES: list[tuple[str, dict[str, Any]]] = [
    (i.name, kw) for i in OPTIMIZER_DB if i.fused for kw in i.torch_configs + i.inertia_configs]


def config_id(config: tuple[str, dict[str, Any]]) -> str:
    """A readable test id for ``(class name, kwargs)``."""
    name, kwargs = config
    return name + "-" + "-".join(f"{k}={v}" for k, v in kwargs.items())
