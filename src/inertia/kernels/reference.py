"""The reference step over flat buffers: one :mod:`inertia.rules` call, driven by a param group.

This is what every fused kernel is tested against, and the function the benchmark hands
to ``torch.compile`` when it compares CPU backends.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from inertia.rules import adagrad_update, adam_update, rmsprop_update, sgd_update


def rule_step(rule: str, group: dict[str, Any], buffers: dict[str, Tensor], step: int) -> None:
    """Apply step ``step`` (>= 1) of ``rule`` with ``group``'s hyperparameters to flat ``buffers``.

    ``buffers`` holds ``param``, ``grad`` and the state keys of the rule (missing optional
    state, such as ``max_exp_avg_sq`` without amsgrad, may be absent).
    """
    p, g, b = buffers["param"], buffers["grad"], buffers
    if rule == "sgd":
        key = "velocity" if group["momentum_form"] == "velocity" else "momentum_buffer"
        sgd_update(p, g, b.get(key), lr=group["lr"], momentum=group["momentum"], dampening=group["dampening"],
                   nesterov=group["nesterov"], weight_decay=group["weight_decay"], maximize=group["maximize"],
                   first_step=step == 1, momentum_form=group["momentum_form"])
    elif rule == "adagrad":
        adagrad_update(p, g, b["sum"], step=step, lr=group["lr"], lr_decay=group["lr_decay"],
                       weight_decay=group["weight_decay"], eps=group["eps"], maximize=group["maximize"],
                       eps_inside_sqrt=group["eps_inside_sqrt"])
    elif rule == "rmsprop":
        rmsprop_update(p, g, b["square_avg"], b.get("grad_avg"), b.get("momentum_buffer"), lr=group["lr"],
                       alpha=group["alpha"], eps=group["eps"], weight_decay=group["weight_decay"],
                       momentum=group["momentum"], centered=group["centered"], maximize=group["maximize"],
                       eps_inside_sqrt=group["eps_inside_sqrt"])
    elif rule == "adam":
        beta1, beta2 = group["betas"]
        adam_update(p, g, b["exp_avg"], b["exp_avg_sq"], b.get("max_exp_avg_sq"), step=step, lr=group["lr"],
                    beta1=beta1, beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"],
                    decoupled_weight_decay=group["decoupled_weight_decay"], amsgrad=group["amsgrad"],
                    bias_correction=group["bias_correction"], maximize=group["maximize"],
                    eps_mode=group["eps_mode"])
    else:
        raise ValueError(f"Invalid rule: {rule!r} (choose from sgd, adagrad, rmsprop, adam)")
