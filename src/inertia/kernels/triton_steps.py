"""The Triton stepper: launches (or replays from a CUDA graph) one kernel per bucket and step.

Per step the host does O(1) work: compare the hyperparameters with the last ones (the
same tuple of Python numbers: nothing; ``lr`` alone changed: one ``fill_`` launch;
anything else: one small copy), then one kernel launch or one graph replay. The step
counter and ``beta**t`` live on the device (see :mod:`inertia.kernels.triton_kernels`);
the host rewrites them only when the step it is asked for is not the one the device
expects (after a checkpoint load or a step taken by the reference path).
"""

from __future__ import annotations

import functools
import importlib.util
import warnings

import torch
from torch import Tensor

from inertia.kernels.spec import FusedFallbackWarning, StepSpec, plain_numbers

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
        from inertia.kernels import triton_kernels

        param = buffers["param"]
        if cuda_graph and param.device.type != "cuda":
            raise ValueError(f"Invalid cuda_graph: True (buffers are on {param.device}, not CUDA)")
        self.spec = spec
        self.kernel = getattr(triton_kernels, f"{spec.rule}_kernel")
        self.buffers = buffers
        self.n = param.numel()
        self.cuda_graph = cuda_graph
        self.block = block or LAUNCH["block"]
        self.num_warps = num_warps or LAUNCH["num_warps"]
        self.hyper = torch.zeros(8, dtype=torch.float64, device=param.device)
        self.lr_view = self.hyper[:1]
        self.slots = torch.zeros(2, 4, dtype=torch.float64, device=param.device)
        self.slot_views = [self.slots[0], self.slots[1]]
        self.host_hyper: tuple[float, ...] | None = None
        self.plain_hyper: tuple[float, ...] | None = None  # the last ``hyper`` argument, if only numbers
        self.next_step: int | None = None
        self.phase = 0
        self.launched = False
        self.graphs: list[torch.cuda.CUDAGraph] | None = None
        self.constants = self._constants(param.dtype)
        self.pointers = self._pointers()

    def _constants(self, dtype: torch.dtype) -> dict[str, object]:
        import triton.language as tl

        f = dict(self.spec.flags)
        names = {
            "sgd": {"MAXIMIZE": "maximize", "WD": "weight_decay", "MOMENTUM": "momentum",
                    "NESTEROV": "nesterov", "VELOCITY": "velocity"},
            "adagrad": {"MAXIMIZE": "maximize", "WD": "weight_decay", "EPS_INSIDE": "eps_inside"},
            "rmsprop": {"MAXIMIZE": "maximize", "WD": "weight_decay", "CENTERED": "centered",
                        "MOMENTUM": "momentum", "EPS_INSIDE": "eps_inside"},
            "adam": {"MAXIMIZE": "maximize", "WD_MODE": "wd_mode", "AMSGRAD": "amsgrad",
                     "BIAS_CORRECTION": "bias_correction", "EPS_MODE": "eps_mode"},
        }[self.spec.rule]
        wide = dtype == torch.float64
        constants: dict[str, object] = {name: f[key] for name, key in names.items()}
        constants.update(CT=tl.float64 if wide else tl.float32, IEEE=not wide, BLOCK=self.block)
        return constants

    def _pointers(self) -> list[Tensor]:
        b, p = self.buffers, self.buffers["param"]
        state = [b[key] for key in self.spec.state_keys]
        if self.spec.rule == "rmsprop":
            state = [b["square_avg"], b.get("grad_avg", p), b.get("momentum_buffer", p)]
        width = {"sgd": 1, "adagrad": 1, "rmsprop": 3, "adam": 3}[self.spec.rule]
        state += [p] * (width - len(state))
        return [p, b["grad"], *state]

    def _launch(self, phase: int) -> None:
        grid = ((self.n + self.block - 1) // self.block,)
        slots = self.slot_views
        self.kernel[grid](*self.pointers, self.hyper, slots[phase], slots[1 - phase], self.n,
                          num_warps=self.num_warps, **self.constants)

    def _sync_hyper(self, hyper: tuple[float, ...]) -> None:
        if hyper == self.host_hyper:
            return
        if self.host_hyper is not None and hyper[1:] == self.host_hyper[1:]:
            self.lr_view.fill_(hyper[0])
        else:
            self.hyper[: len(hyper)].copy_(torch.tensor(hyper, dtype=torch.float64))
            self.next_step = None  # beta**t must be recomputed with the new betas
        self.host_hyper = hyper

    def _sync_slot(self, done: int) -> None:
        """Write ``[done, beta1**done, beta2**done]`` into the current slot."""
        assert self.host_hyper is not None
        beta1, beta2 = self.host_hyper[1:3] if self.spec.rule == "adam" else (1.0, 1.0)
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

    def __call__(self, hyper: tuple[float, ...], step: int) -> None:
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

    def _step(self, hyper: tuple[float, ...], step: int) -> None:
        if hyper is not self.plain_hyper:  # the same tuple of Python numbers as last step: nothing changed
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
