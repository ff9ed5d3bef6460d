"""What a fused step computes: a rule's static options, its hyperparameters and its scalars.

A :class:`StepSpec` holds the options that select a kernel variant (they change rarely:
``maximize``, which weight decay, ``amsgrad``, where ``eps`` goes, ...); the
hyperparameters (``lr``, betas, ...) are a tuple of floats read from the param group on
every step. :func:`host_scalars` turns both, and the step number, into the per-step
scalars the CPU kernels use, computed in float64 exactly as :mod:`inertia.rules` does.
The Triton kernels derive the same scalars on the device (:mod:`inertia.kernels.triton_steps`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RULES = ("sgd", "adagrad", "rmsprop", "adam")


class FusedFallbackWarning(RuntimeWarning):
    """A fused optimizer step fell back to the (correct, slower) reference path or to copying."""

#: Index of each hyperparameter in the tuple that :func:`spec_from_group` returns.
HYPER_NAMES: dict[str, tuple[str, ...]] = {
    "sgd": ("lr", "momentum", "dampening", "weight_decay"),
    "adagrad": ("lr", "lr_decay", "eps", "weight_decay"),
    "rmsprop": ("lr", "alpha", "eps", "weight_decay", "momentum"),
    "adam": ("lr", "beta1", "beta2", "eps", "weight_decay"),
}

#: The group entries a rule's spec and hyperparameters depend on (with the path options).
GROUP_KEYS: dict[str, tuple[str, ...]] = {
    rule: names + ("impl", "fused", "capturable", "differentiable")
    for rule, names in {
        "sgd": ("lr", "momentum", "dampening", "nesterov", "weight_decay", "maximize", "momentum_form"),
        "adagrad": ("lr", "lr_decay", "weight_decay", "eps", "maximize", "eps_inside_sqrt"),
        "rmsprop": ("lr", "alpha", "eps", "weight_decay", "momentum", "centered", "maximize", "eps_inside_sqrt"),
        "adam": ("lr", "betas", "eps", "weight_decay", "amsgrad", "bias_correction", "decoupled_weight_decay",
                 "maximize", "eps_mode"),
    }.items()
}


@dataclass(frozen=True)
class StepSpec:
    """The static options of one rule: everything that selects a kernel variant.

    ``flags`` maps option names to booleans or small ints, per rule:

    - sgd: ``maximize, weight_decay, momentum, nesterov, velocity``;
    - adagrad: ``maximize, weight_decay, eps_inside, step_dependent`` (lr_decay != 0);
    - rmsprop: ``maximize, weight_decay, centered, momentum, eps_inside, step_dependent`` (0);
    - adam: ``maximize, wd_mode`` (0 none, 1 L2, 2 decoupled), ``amsgrad, bias_correction,
      eps_mode`` (0 outside, 1 inside, 2 hat), ``step_dependent`` (= bias_correction).

    ``step_dependent`` says whether the update depends on the step number, so that every
    parameter of a fused call must have taken the same number of steps.
    """

    rule: str
    flags: tuple[tuple[str, int], ...] = field(default=())

    def flag(self, name: str) -> int:
        """The value of option ``name``."""
        return dict(self.flags)[name]

    @property
    def state_keys(self) -> tuple[str, ...]:
        """The flat state buffers the step reads and writes, in kernel argument order."""
        f = dict(self.flags)
        if self.rule == "sgd":
            return (("velocity",) if f["velocity"] else ("momentum_buffer",)) if f["momentum"] else ()
        if self.rule == "adagrad":
            return ("sum",)
        if self.rule == "rmsprop":
            keys = ["square_avg"]
            keys += ["grad_avg"] if f["centered"] else []
            keys += ["momentum_buffer"] if f["momentum"] else []
            return tuple(keys)
        return ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if f["amsgrad"] else ())

    @property
    def counts_steps(self) -> bool:
        """Whether the rule keeps a ``step`` counter in its state (all but SGD)."""
        return self.rule != "sgd"

    def floor_bytes(self, element_size: int) -> int:
        """Bytes a single pass moves per element: read p, g and the state, write p and the state."""
        return element_size * (3 + 2 * len(self.state_keys))


def _flags(**values: Any) -> tuple[tuple[str, int], ...]:
    return tuple((name, int(value)) for name, value in values.items())


def spec_from_group(rule: str, group: dict[str, Any]) -> tuple[StepSpec, tuple[float, ...]] | None:
    """The static spec and hyperparameters of a param group, or None if no fused kernel covers it."""
    if group.get("differentiable"):
        return None
    wd = float(group["weight_decay"])
    maximize = bool(group["maximize"])
    if rule == "sgd":
        velocity = group.get("momentum_form", "torch") == "velocity"
        spec = StepSpec(rule, _flags(maximize=maximize, weight_decay=wd != 0,
                                     momentum=group["momentum"] != 0, nesterov=group["nesterov"],
                                     velocity=velocity))
        return spec, (group["lr"], group["momentum"], group["dampening"], wd)
    if rule == "adagrad":
        spec = StepSpec(rule, _flags(maximize=maximize, weight_decay=wd != 0,
                                     eps_inside=group.get("eps_inside_sqrt", False),
                                     step_dependent=group["lr_decay"] != 0))
        return spec, (group["lr"], group["lr_decay"], group["eps"], wd)
    if rule == "rmsprop":
        spec = StepSpec(rule, _flags(maximize=maximize, weight_decay=wd != 0, centered=group["centered"],
                                     momentum=group["momentum"] > 0,
                                     eps_inside=group.get("eps_inside_sqrt", False), step_dependent=False))
        return spec, (group["lr"], group["alpha"], group["eps"], wd, group["momentum"])
    if rule == "adam":
        wd_mode = 0 if wd == 0 else (2 if group["decoupled_weight_decay"] else 1)
        eps_mode = ("outside", "inside", "hat").index(group.get("eps_mode", "outside"))
        bias_correction = group.get("bias_correction", True)
        spec = StepSpec(rule, _flags(maximize=maximize, wd_mode=wd_mode, amsgrad=group["amsgrad"],
                                     bias_correction=bias_correction, eps_mode=eps_mode,
                                     step_dependent=bias_correction))
        beta1, beta2 = group["betas"]
        return spec, (group["lr"], beta1, beta2, group["eps"], wd)
    return None


def plain_numbers(hyper: tuple[Any, ...]) -> bool:
    """Whether ``hyper`` holds only Python numbers (immutable: a step may reuse what it computed from
    the same tuple; a tensor ``lr`` may change in place and must be read again)."""
    return all(type(value) in (float, int, bool) for value in hyper)


def host_scalars(spec: StepSpec, hyper: tuple[float, ...], step: int) -> dict[str, float]:
    """Per-step scalars in float64, as :mod:`inertia.rules` computes them (``step`` is t >= 1).

    Returned names: sgd ``lr, wd, momentum, dampening_keep`` (1 - dampening) and
    ``first`` (1.0 on the first step); adagrad ``clr`` = lr / (1 + (t-1) lr_decay), ``eps, wd``;
    rmsprop ``lr, alpha, one_minus_alpha, eps, wd, momentum``; adam ``one_minus_beta1, beta2,
    one_minus_beta2, eps, wd, decay`` (1 - lr wd), ``step_size`` and ``denom_scale``
    (sqrt(bias_correction2), or bias_correction2 itself with eps inside the sqrt).
    """
    values = dict(zip(HYPER_NAMES[spec.rule], hyper, strict=True))
    lr, wd = values["lr"], values["weight_decay"]
    if spec.rule == "sgd":
        return {"lr": lr, "wd": wd, "momentum": values["momentum"],
                "dampening_keep": 1 - values["dampening"], "first": 1.0 if step == 1 else 0.0}
    if spec.rule == "adagrad":
        return {"clr": lr / (1 + (step - 1) * values["lr_decay"]), "eps": values["eps"], "wd": wd}
    if spec.rule == "rmsprop":
        alpha = values["alpha"]
        return {"lr": lr, "alpha": alpha, "one_minus_alpha": 1 - alpha, "eps": values["eps"], "wd": wd,
                "momentum": values["momentum"]}
    beta1, beta2 = values["beta1"], values["beta2"]
    if spec.flag("bias_correction"):
        bias_correction1, bias_correction2 = 1 - beta1**step, 1 - beta2**step
    else:
        bias_correction1 = bias_correction2 = 1.0
    step_size = lr / bias_correction1
    eps_mode = spec.flag("eps_mode")
    if eps_mode == 1:
        denom_scale = bias_correction2
    elif eps_mode == 2:
        step_size, denom_scale = step_size * bias_correction2**0.5, 1.0
    else:
        denom_scale = bias_correction2**0.5
    return {"one_minus_beta1": 1 - beta1, "beta2": beta2, "one_minus_beta2": 1 - beta2,
            "eps": values["eps"], "wd": wd, "decay": 1 - lr * wd, "step_size": step_size,
            "denom_scale": denom_scale}
