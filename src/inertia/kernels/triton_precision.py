"""The Triton stepper of one parameter of a ``precision`` group: the rule's kernel with stochastic or
master stores (:func:`inertia.kernels.triton_helpers.store_rounded`, :func:`~.store_param`).

The kernel runs as on the native path (:class:`inertia.kernels.triton_steps.TritonStepper`: the math in
float32 in registers, the step counter on the device) over one parameter's flat tensors: the parameter,
or its float32 master with ``out`` the low-precision parameter written rounded to nearest (``MASTER``),
the gradient and the state. With ``SR_PARAM`` the parameter, with ``SR_STATE`` every bfloat16 state
tensor, is stored rounded stochastically: element ``i`` of slot ``s`` with the Philox word of
(seed, offset[s] + i), the seed and offsets of a small int64 table on the device that
:meth:`PrecisionTritonStepper.set_streams` writes before each step. Slot 0 is the parameter, slot
1 + k the kernel's state argument k (the rule's ``state_slots`` order).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from inertia.kernels.rule_info import StepSpec
from inertia.kernels.triton_steps import TritonStepper

__all__ = ["PrecisionTritonStepper"]


class PrecisionTritonStepper(TritonStepper):
    """Applies ``spec`` to one parameter's flat ``buffers`` (``param`` the parameter or its float32 master)
    with stochastic stores where asked and, given ``out``, the parameter written from the master."""

    def __init__(self, spec: StepSpec, buffers: dict[str, Tensor], *, sr_param: bool, sr_state: bool,
                 out: Tensor | None = None) -> None:
        param = buffers["param"]
        if out is not None and (out.shape != param.shape or out.device != param.device):
            raise ValueError(f"Invalid out: {tuple(out.shape)} on {out.device} (must match the master, "
                             f"{tuple(param.shape)} on {param.device})")
        self.rng = torch.zeros(2 + len(spec.rule.state_slots), dtype=torch.int64, device=param.device)
        self.out = out
        self.precision_flags = {"SR_PARAM": bool(sr_param), "SR_STATE": bool(sr_state), "MASTER": out is not None}
        super().__init__(spec, buffers)

    def _constants(self, dtype: torch.dtype) -> dict[str, object]:
        constants = super()._constants(dtype)
        constants.update(self.precision_flags)
        return constants

    def set_streams(self, seed: int, offsets: Sequence[int]) -> None:
        """Write the step's Philox ``seed`` (below 2**64) and the first element index of each slot (one per
        slot: the parameter, then the kernel's state arguments; below 2**64) into the table, each as the int64
        of its 64 bits (the kernel's counters take the low and high words of those bits)."""
        if len(offsets) != self.rng.numel() - 1:
            raise ValueError(f"Invalid offsets: {len(offsets)} values (the kernel has {self.rng.numel() - 1} slots)")
        values = [int(seed), *map(int, offsets)]
        if not all(0 <= value < 2**64 for value in values):
            raise ValueError(f"Invalid seed/offsets: {seed!r}, {list(offsets)!r} (the Philox key and counters "
                             "are 64-bit: 0 <= value < 2**64)")
        signed = [value - 2**64 if value >= 2**63 else value for value in values]
        self.rng.copy_(torch.tensor(signed, dtype=torch.int64))

    def _launch(self, phase: int) -> None:
        if self.n == 0:
            return
        grid = ((self.n + self.block - 1) // self.block,)
        slots = self.slot_views
        self.kernel[grid](*self.pointers, slots[phase], slots[1 - phase], self.n, rng_ptr=self.rng,
                          out_ptr=self.out, num_warps=self.num_warps, **self.constants)
