"""The Triton stepper: launches (or replays from a CUDA graph) one kernel per bucket and step.

Per step the host does O(1) work: compare the hyperparameters with the last ones (the
same tuple of Python numbers: nothing; ``lr`` alone changed: one ``fill_`` launch;
anything else: one small copy), then one kernel launch or one graph replay. The step
counter and ``beta**t`` live on the device; the host rewrites them only when the step it is
asked for is not the one the device expects (after a checkpoint load or a step taken by the
reference path).

Every rule's Triton kernel takes ``(param, grad, *state slots, *hyperparameters, slot_in,
slot_out, n)`` and its constexpr options: one float64 device pointer per field of the rule's
``Hyper`` tuple (views into one small tensor, so a new ``lr`` is one ``fill_``), and two
float64 "slots" ``[t, b1**t, b2**t, 0]`` (``b1, b2`` are the rule's ``device_powers``, or 1).
Program 0 writes the next slot into the other buffer, so a step needs no host to device copy
and the same launch can be captured once in a CUDA graph and replayed (the stepper alternates
the two slots). Scalars are derived in float64 as the reference does and cast once to the
compute type, float32 (float64 for float64 buffers); IEEE-rounded division and square root
keep the results within float32 rounding of the reference.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import warnings
from typing import Any

import torch
from torch import Tensor

from inertia.kernels.cpu import kernel_arrays
from inertia.kernels.jit import compiled
from inertia.kernels.rule_info import FusedFallbackWarning, StepSpec, plain_numbers

#: Launch configuration of every kernel: elements per program and warps per program.
LAUNCH = {"block": 1024, "num_warps": 4}
TRITON_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


@functools.cache
def triton_available() -> bool:
    """Whether Triton is installed (the ``fast`` extra)."""
    return importlib.util.find_spec("triton") is not None


class TritonStepper:
    """Applies ``spec`` to a bucket's flat buffers with one Triton kernel per step.

    With ``cuda_graph=True`` (CUDA only) the first call launches eagerly (compiling the
    kernel), the second captures both slot phases in two CUDA graphs, and every later
    call replays one: the whole step is then one graph launch.
    """

    def __init__(self, spec: StepSpec, buffers: dict[str, Tensor], *, cuda_graph: bool = False,
                 block: int | None = None, num_warps: int | None = None) -> None:
        param = buffers["param"]
        if cuda_graph and param.device.type != "cuda":
            raise ValueError(f"Invalid cuda_graph: True (buffers are on {param.device}, not CUDA)")
        self.spec = spec
        self.kernel = compiled(type(spec.rule).__module__, spec.rule.triton_kernel, "triton")
        self.buffers = buffers
        self.n = param.numel()
        self.cuda_graph = cuda_graph
        self.block = block or LAUNCH["block"]
        self.num_warps = num_warps or LAUNCH["num_warps"]
        fields = spec.rule.Hyper._fields
        self.hyper = torch.zeros(len(fields), dtype=torch.float64, device=param.device)
        self.hyper_views = [self.hyper[i : i + 1] for i in range(len(fields))]  # lr first
        powers = spec.rule.device_powers
        self.power_index = tuple(fields.index(name) for name in powers) if powers else None
        self.slots = torch.zeros(2, 4, dtype=torch.float64, device=param.device)
        self.slot_views = [self.slots[0], self.slots[1]]
        self.host_hyper: tuple[Any, ...] | None = None
        self.plain_hyper: tuple[Any, ...] | None = None  # the last ``hyper`` argument, if only numbers
        self.next_step: int | None = None
        self.phase = 0
        self.launched = False
        self.graphs: list[torch.cuda.CUDAGraph] | None = None
        self.constants = self._constants(param.dtype)
        self.pointers = self._pointers()

    def _constants(self, dtype: torch.dtype) -> dict[str, object]:
        tl = importlib.import_module("triton.language")
        wide = dtype == torch.float64
        constants: dict[str, object] = {name: self.spec.flag(option) for name, option in self.spec.rule.triton_options}
        constants.update(CT=tl.float64 if wide else tl.float32, IEEE=not wide, BLOCK=self.block)
        return constants

    def _pointers(self) -> list[Tensor]:
        return [*kernel_arrays(self.spec, self.buffers), *self.hyper_views]

    def _launch(self, phase: int) -> None:
        grid = ((self.n + self.block - 1) // self.block,)
        slots = self.slot_views
        self.kernel[grid](*self.pointers, slots[phase], slots[1 - phase], self.n,
                          num_warps=self.num_warps, **self.constants)

    def _sync_hyper(self, hyper: tuple[Any, ...]) -> None:
        if hyper == self.host_hyper:
            return
        if self.host_hyper is not None and hyper[1:] == self.host_hyper[1:]:
            self.hyper_views[0].fill_(hyper[0])
        else:
            self.hyper[: len(hyper)].copy_(torch.tensor(hyper, dtype=torch.float64))
            self.next_step = None  # beta**t must be recomputed with the new betas
        self.host_hyper = hyper

    def _sync_hyper_tensor_lr(self, hyper: tuple[Any, ...]) -> None:
        """``lr`` is a one-element tensor: the other hyperparameters as :meth:`_sync_hyper` does, then one
        device-to-device copy of ``lr`` into its pointer (never read on the host)."""
        rest = tuple(float(h) for h in hyper[1:])
        if self.host_hyper is None or rest != self.host_hyper[1:]:
            self.hyper[1 : len(hyper)].copy_(torch.tensor(rest, dtype=torch.float64))
            self.next_step = None  # beta**t must be recomputed with the new betas
        self.host_hyper = (float("nan"),) + rest  # lr lives on the device only
        self.plain_hyper = None
        self.hyper_views[0].copy_(hyper[0].detach().reshape(1))

    def _sync_slot(self, done: int) -> None:
        """Write ``[done, beta1**done, beta2**done]`` into the current slot."""
        assert self.host_hyper is not None
        index = self.power_index
        beta1, beta2 = (self.host_hyper[index[0]], self.host_hyper[index[1]]) if index else (1.0, 1.0)
        values = torch.tensor([float(done), beta1**done, beta2**done, 0.0], dtype=torch.float64)
        self.slot_views[self.phase].copy_(values)

    def _capture(self) -> None:
        """Capture both slot phases; if capture fails, warn once and keep launching eagerly."""
        torch.cuda.synchronize(self.hyper.device)
        graphs = []
        try:
            for phase in (0, 1):
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    self._launch(phase)
                graphs.append(graph)
        except RuntimeError as exc:
            self.cuda_graph = False
            warnings.warn(f"CUDA-graph capture of the fused step failed ({exc}); launching it eagerly",
                          FusedFallbackWarning, stacklevel=4)
            return
        self.graphs = graphs

    def __call__(self, hyper: tuple[Any, ...], step: int) -> None:
        """Apply step number ``step`` (>= 1) with hyperparameters ``hyper``."""
        if self.graphs is not None and hyper is self.plain_hyper and step == self.next_step:
            # Nothing to write: one replay (CUDAGraph.replay launches on its capture device by itself).
            self.graphs[self.phase].replay()
            self.phase ^= 1
            self.next_step = step + 1
            return
        device = self.hyper.device
        if device.type == "cuda" and device.index != torch.cuda.current_device():
            with torch.cuda.device(device):  # kernels launch on the current device
                self._step(hyper, step)
        else:
            self._step(hyper, step)

    def _step(self, hyper: tuple[Any, ...], step: int) -> None:
        if isinstance(hyper[0], Tensor):  # a tensor lr: copied on the device every step, no host sync
            self._sync_hyper_tensor_lr(hyper)
        elif hyper is not self.plain_hyper:  # the same tuple of Python numbers as last step: nothing changed
            self._sync_hyper(tuple(float(h) for h in hyper))
            self.plain_hyper = hyper if plain_numbers(hyper) else None
        if step != self.next_step:
            self._sync_slot(step - 1)
        if self.cuda_graph and self.graphs is None and self.launched:
            self._capture()
        if self.graphs is not None:
            self.graphs[self.phase].replay()
        else:
            self._launch(self.phase)
        self.launched = True
        self.phase ^= 1
        self.next_step = step + 1
