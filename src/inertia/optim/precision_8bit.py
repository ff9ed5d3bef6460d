"""``precision="...+8bit-state"`` for Adam and AdamW: the block-wise quantised moments of
:mod:`inertia.optim.adam_8bit`, wired to the optimizers.

A parameter with at least :data:`~inertia.optim.adam_8bit.MIN_8BIT_SIZE` values keeps its moments as the
:data:`~inertia.optim.adam_8bit.QUANTIZED_KEYS` (uint8 codes, float32 absmax per block of 256) and is stepped
on its float32 working tensor by the fused kernel, one call per parameter (numba on CPU, Triton on CUDA:
:func:`~inertia.optim.adam_8bit.fused_tensor_step`), or by the torch reference
:func:`~inertia.optim.adam_8bit.quantized_adam_update` where the group asks for it (``impl="reference"``,
torch's ``fused=False`` or ``foreach=True``) or no kernel can run (see :func:`step_backend`). Both store
the same codes and absmax; the parameters agree to float32 rounding (the kernels take IEEE square roots,
torch's vectorised CPU ``sqrt`` is not always correctly rounded). A smaller parameter keeps float32
``exp_avg``/``exp_avg_sq`` and takes the rule's own step. ``state_dict`` keeps torch.optim's keys:
the moments are exported dequantised (float32 ``exp_avg``, ``exp_avg_sq``) beside the codes. Loading takes
the codes while they still give the saved moments, else quantises the saved moments (a torch.optim
checkpoint; requantising is not exact in general: a block's largest value need not sit on a code).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from inertia.kernels.cpu import numba_available
from inertia.kernels.low_precision import Precision
from inertia.kernels.triton_steps import triton_available
from inertia.optim.adam_8bit import (
    QUANTIZED_KEYS,
    check_8bit_options,
    export_state,
    fused_tensor_step,
    import_state,
    init_quantized_state,
    quantized_adam_update,
    uses_8bit_state,
)
from inertia.optim.fused_dispatch import resolve_impl

__all__ = ["EIGHT_BIT_CLASSES", "check_8bit_group", "export_8bit_state", "import_8bit_state", "step_8bit",
           "step_backend"]

#: The classes whose update the quantised step is.
EIGHT_BIT_CLASSES = ("Adam", "AdamW")
MOMENTS = ("exp_avg", "exp_avg_sq")


def check_8bit_group(group: Mapping[str, Any], precision: Precision, optimizer_name: str) -> None:
    """ValueError naming ``precision`` (and the option) where 8-bit state cannot be honoured."""
    if optimizer_name not in EIGHT_BIT_CLASSES:
        raise ValueError(f"Invalid precision: {str(precision)!r} for inertia.{optimizer_name} (8-bit state is "
                         f"offered for {' and '.join(EIGHT_BIT_CLASSES)} only; use 'fp32-state' or 'bf16-state')")
    check_8bit_options(bool(group.get("amsgrad")), str(precision))
    for key, default in (("eps_mode", "outside"), ("bias_correction", True)):
        if group.get(key, default) != default:
            raise ValueError(f"Invalid {key}: {group[key]!r} with precision={str(precision)!r} (the 8-bit step "
                             f"is torch.optim.Adam's, {key}={default!r})")


def quantized(param: Tensor, state: Mapping[str, Any]) -> bool:
    """Whether ``param`` keeps (or will keep) 8-bit moments."""
    return QUANTIZED_KEYS[0] in state if state else uses_8bit_state(param)


def step_backend(group: Mapping[str, Any], work: Tensor, state: Mapping[str, Any]) -> str | None:
    """The fused kernel that steps ``work`` (a float32 working tensor) and its quantised ``state``:
    ``"numba"`` on CPU where numba imports, ``"triton"`` on CUDA where Triton is installed; None (the torch
    reference) under ``impl="reference"`` (torch's ``fused=False`` included) or ``foreach=True``, for
    codes that are not contiguous, on other devices or without the kernel's package."""
    if resolve_impl(dict(group)) == "reference" or group.get("foreach"):
        return None
    if not all(state[key].is_contiguous() and state[key].device == work.device for key in QUANTIZED_KEYS):
        return None
    if work.device.type == "cpu":
        return "numba" if numba_available() else None
    if work.device.type == "cuda":
        return "triton" if triton_available() else None
    return None


def step_8bit(state: dict[str, Any], param: Tensor, work: Tensor, group: Mapping[str, Any], layout: Any) -> None:
    """One quantised Adam(W) step of ``work`` (``param``'s float32 working tensor) and ``state``, with the
    fused kernel :func:`step_backend` chooses, else the torch reference."""
    if not state:
        state["step"] = layout.step_view(param).zero_()
        state.update(init_quantized_state(param))
    state["step"] += 1
    beta1, beta2 = group["betas"]
    lr = group["lr"].item() if isinstance(group["lr"], Tensor) else group["lr"]
    hyper = dict(lr=lr, beta1=beta1, beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"],
                 decoupled=bool(group["decoupled_weight_decay"]), maximize=bool(group["maximize"]),
                 step=int(state["step"].item()))
    backend = step_backend(group, work, state)
    if backend is None:
        quantized_adam_update(work, work.grad, state, **hyper)
    else:
        fused_tensor_step(work, work.grad, state, backend=backend, **hyper)


def export_8bit_state(state: Mapping[str, Any]) -> dict[str, Any]:
    """``state`` with torch's dequantised float32 ``exp_avg``/``exp_avg_sq`` added beside the quantised
    moments (which a resumed inertia run reloads as they are, bit for bit)."""
    if QUANTIZED_KEYS[0] not in state:
        return dict(state)
    return {**state, **export_state(dict(state))}


def import_8bit_state(state: dict[str, Any], saved: Mapping[str, Any], param: Tensor) -> None:
    """The 8-bit moments of ``param`` from a checkpoint: its saved codes while they still give its saved
    ``exp_avg``/``exp_avg_sq`` (a checkpoint that torch.optim stepped further carries them stale), else the
    saved float32 moments quantised."""
    if not uses_8bit_state(param) or not all(isinstance(saved.get(key), Tensor) for key in MOMENTS):
        return
    moments = [saved[key].detach().to(device=param.device, dtype=torch.float32) for key in MOMENTS]
    codes = {key: saved[key].detach().to(param.device) for key in QUANTIZED_KEYS if isinstance(saved.get(key), Tensor)}
    for key in MOMENTS:
        state.pop(key, None)
    if len(codes) == len(QUANTIZED_KEYS) and _codes_give(codes, moments):
        state.update({key: value.clone() for key, value in codes.items()})
    else:
        state.update(import_state(*moments))


def _codes_give(codes: dict[str, Tensor], moments: list[Tensor]) -> bool:
    try:
        exported = export_state(codes)
    except (RuntimeError, ValueError):
        return False
    return all(exported[key].shape == value.shape and torch.equal(exported[key], value)
               for key, value in zip(MOMENTS, moments, strict=True))
