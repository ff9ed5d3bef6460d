"""Adam/AdamW with 8-bit block-wise moments (Dettmers et al. 2022, "8-bit Optimizers via Block-wise
Quantization", the algorithm of bitsandbytes' ``Adam8bit`` with block-wise state).

Each moment is kept as one uint8 code per value and one float32 absmax per block of ``block_size`` (256)
values (:mod:`inertia.kernels.blockwise_quant`): the first moment in the signed dynamic code, the second
in the unsigned one, whose values are twice as dense per decade. A step dequantises both moments, applies
Adam's (or AdamW's) update in float32 in torch.optim's order, updates the parameters with the new
moments before they are rounded, and requantises each block with its new absmax. The state takes
``2 + 8 / block_size`` bytes per parameter (2.03 B at 256) instead of 8.

Small tensors keep float32 state: bitsandbytes quantises only tensors of at least 4096 values
(``min_8bit_size``; biases and norms cost little and are sensitive), see :func:`uses_8bit_state`.
amsgrad has no 8-bit form (its running maximum would be a third moment): :func:`check_8bit_options`
refuses it.

- :func:`quantized_adam_update`: the reference path in torch ops, in place on a parameter and its state;
- :func:`fused_quantized_adam_step`: the same over flat buffers in one pass per block, a numba kernel
  (blocks split between threads) or a Triton kernel (:mod:`inertia.optim.adam_8bit_kernels`);
- :func:`fused_tensor_step`: one tensor and its state through those kernels (the optimizers' step,
  :mod:`inertia.optim.precision_8bit`);
- :func:`export_state` / :func:`import_state`: torch.optim.Adam's ``exp_avg`` and ``exp_avg_sq``, both ways.
"""

from __future__ import annotations

import functools
import math
import threading
from typing import Any

import numpy as np
import torch
from torch import Tensor

from inertia.checks import check_int
from inertia.kernels.blockwise_quant import (
    DEFAULT_BLOCK_SIZE,
    check_code,
    dequantize_blockwise,
    dynamic_code,
    nearest_code_index,
    quantize_blockwise,
)
from inertia.kernels.cpu import shared_pool
from inertia.kernels.jit import compiled
from inertia.optim.adam_8bit_kernels import adam_8bit_blocks, threshold_table

__all__ = [
    "MIN_8BIT_SIZE", "QUANTIZED_KEYS", "check_8bit_options", "export_state", "fused_quantized_adam_step",
    "fused_tensor_step", "import_state", "init_quantized_state", "quantized_adam_update", "state_bytes",
    "uses_8bit_state",
]

QUANTIZED_KEYS = ("exp_avg_codes", "exp_avg_absmax", "exp_avg_sq_codes", "exp_avg_sq_absmax")

#: Tensors with fewer values keep float32 moments (bitsandbytes' ``min_8bit_size``).
MIN_8BIT_SIZE = 4096

#: The module whose kernel sources :func:`inertia.kernels.jit.compiled` compiles.
KERNELS = adam_8bit_blocks.function.__module__
BACKENDS = ("numba", "triton")
#: Blocks per Triton program (each of ``block_size`` values).
TRITON_BLOCKS_PER_PROGRAM = 4


@functools.cache
def default_code(signed: bool, device: torch.device) -> Tensor:
    """The dynamic code on ``device``: signed for ``exp_avg``, unsigned for ``exp_avg_sq``."""
    return dynamic_code(signed).to(device)


def resolve_codes(code_m: Tensor | None, code_v: Tensor | None, device: torch.device) -> tuple[Tensor, Tensor]:
    """The codes of the two moments on ``device`` (the dynamic codes where ``None``)."""
    m = default_code(True, device) if code_m is None else check_code(code_m).to(device)
    v = default_code(False, device) if code_v is None else check_code(code_v).to(device)
    return m, v


def uses_8bit_state(param: Tensor, min_8bit_size: int = MIN_8BIT_SIZE) -> bool:
    """Whether ``param`` gets 8-bit moments: it has at least ``min_8bit_size`` values (bitsandbytes'
    rule; smaller tensors keep float32 ``exp_avg`` and ``exp_avg_sq``)."""
    return param.numel() >= check_int("min_8bit_size", min_8bit_size, low=0)


def check_8bit_options(amsgrad: bool, precision: str = "8bit-state") -> None:
    """ValueError when options that 8-bit state cannot hold are asked for (amsgrad)."""
    if amsgrad:
        raise ValueError(f"Invalid amsgrad: {amsgrad!r} with precision={precision!r} (8-bit state keeps no "
                         "max_exp_avg_sq; use amsgrad=False or a precision without 8-bit state)")


def init_quantized_state(param: Tensor, block_size: int = DEFAULT_BLOCK_SIZE) -> dict[str, Tensor]:
    """Zero moments for ``param``: uint8 codes of ``param``'s shape holding the index of 0 in each code,
    and a float32 absmax of 0 per block of ``block_size`` values."""
    check_int("block_size", block_size, low=1)
    blocks = math.ceil(param.numel() / block_size)
    code_m, code_v = resolve_codes(None, None, param.device)
    zero = torch.zeros(1, device=param.device)

    def codes(code: Tensor) -> Tensor:
        index = int(nearest_code_index(zero, code).item())
        return torch.full(param.shape, index, dtype=torch.uint8, device=param.device)

    absmax = functools.partial(torch.zeros, blocks, dtype=torch.float32, device=param.device)
    return {"exp_avg_codes": codes(code_m), "exp_avg_absmax": absmax(),
            "exp_avg_sq_codes": codes(code_v), "exp_avg_sq_absmax": absmax()}


def state_bytes(state: dict[str, Tensor]) -> int:
    """Bytes held by the quantised state tensors of one parameter."""
    return sum(state[key].numel() * state[key].element_size() for key in QUANTIZED_KEYS)


def export_state(state: dict[str, Tensor], block_size: int = DEFAULT_BLOCK_SIZE, *, code_m: Tensor | None = None,
                 code_v: Tensor | None = None) -> dict[str, Tensor]:
    """The dequantised float32 moments under torch.optim.Adam's keys ``exp_avg`` and ``exp_avg_sq``."""
    code_m, code_v = resolve_codes(code_m, code_v, state["exp_avg_codes"].device)
    exp_avg = dequantize_blockwise(state["exp_avg_codes"], state["exp_avg_absmax"], code_m,
                                   state["exp_avg_codes"].shape, block_size)
    exp_avg_sq = dequantize_blockwise(state["exp_avg_sq_codes"], state["exp_avg_sq_absmax"], code_v,
                                      state["exp_avg_sq_codes"].shape, block_size)
    return {"exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}


def import_state(exp_avg: Tensor, exp_avg_sq: Tensor, block_size: int = DEFAULT_BLOCK_SIZE, *,
                 code_m: Tensor | None = None, code_v: Tensor | None = None) -> dict[str, Tensor]:
    """torch.optim.Adam's moments quantised block-wise (codes of their shape, absmax per block)."""
    if exp_avg.shape != exp_avg_sq.shape:
        raise ValueError(f"Invalid exp_avg_sq: shape {tuple(exp_avg_sq.shape)} (must match exp_avg's "
                         f"{tuple(exp_avg.shape)})")
    code_m, code_v = resolve_codes(code_m, code_v, exp_avg.device)
    m_codes, m_absmax = quantize_blockwise(exp_avg, code_m, block_size)
    v_codes, v_absmax = quantize_blockwise(exp_avg_sq, code_v, block_size)
    return {"exp_avg_codes": m_codes.reshape(exp_avg.shape), "exp_avg_absmax": m_absmax,
            "exp_avg_sq_codes": v_codes.reshape(exp_avg.shape), "exp_avg_sq_absmax": v_absmax}


def check_step(step: int) -> int:
    """``step`` if it is an int >= 1 (the step being taken)."""
    return check_int("step", step, low=1)


def quantized_adam_update(param: Tensor, grad: Tensor, state: dict[str, Tensor], *, lr: float, beta1: float,
                          beta2: float, eps: float, weight_decay: float, decoupled: bool, maximize: bool, step: int,
                          block_size: int = DEFAULT_BLOCK_SIZE, code_m: Tensor | None = None,
                          code_v: Tensor | None = None) -> None:
    """One Adam (AdamW when ``decoupled``) step of ``param`` with 8-bit moments, in place on ``param`` and
    ``state`` (the :data:`QUANTIZED_KEYS`): dequantise, torch.optim's update in float32, requantise.

    The operations are torch.optim.Adam's, in its order, but each multiply and add is rounded on its own
    (torch's CPU ``lerp_``, ``addcmul_`` and ``add(alpha=)`` may fuse a multiply-add; the kernels do not),
    so the fused steps store the codes this step stores. The parameters are updated with the moments
    before requantisation, as bitsandbytes does."""
    check_step(step)
    code_m, code_v = resolve_codes(code_m, code_v, param.device)
    moments = export_state(state, block_size, code_m=code_m, code_v=code_v)
    exp_avg, exp_avg_sq = moments["exp_avg"], moments["exp_avg_sq"]
    same_dtype = param.dtype == torch.float32
    work = param.detach() if same_dtype else param.detach().float()
    grad = grad.float()
    if maximize:
        grad = -grad
    if weight_decay != 0:
        if decoupled:
            work.mul_(1 - lr * weight_decay)
        else:
            grad = grad.add(work.mul(weight_decay))  # add(work, alpha=weight_decay), each operation rounded
    exp_avg.add_(grad.sub(exp_avg).mul_(1 - beta1))  # lerp_(grad, 1 - beta1), each operation rounded
    exp_avg_sq.mul_(beta2).add_(grad.mul(1 - beta2).mul_(grad))  # addcmul_(grad, grad, value=1 - beta2)
    step_size = lr / (1 - beta1**step)
    bias_correction2_sqrt = (1 - beta2**step) ** 0.5
    denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
    work.addcdiv_(exp_avg, denom, value=-step_size)
    if not same_dtype:
        param.detach().copy_(work)
    for key, value in import_state(exp_avg, exp_avg_sq, block_size, code_m=code_m, code_v=code_v).items():
        state[key].copy_(value)


def host_scalars(*, lr: float, beta1: float, beta2: float, eps: float, weight_decay: float, decoupled: bool,
                 step: int) -> dict[str, float]:
    """The kernels' per-step scalars (computed in float64, passed as float32)."""
    wd_mode = 0 if weight_decay == 0 else (2 if decoupled else 1)
    return {"omb1": 1 - beta1, "beta2": beta2, "omb2": 1 - beta2, "eps": eps, "wd": weight_decay,
            "decay": 1 - lr * weight_decay, "step_size": lr / (1 - beta1**step),
            "denom_scale": (1 - beta2**step) ** 0.5, "wd_mode": wd_mode}


def check_flat(params_flat: Tensor, grads_flat: Tensor, state_flat: dict[str, Tensor], block_size: int) -> None:
    """ValueError unless the buffers are 1-D, contiguous, of matching sizes and dtypes, on one device."""
    n = params_flat.numel()
    blocks = math.ceil(n / block_size)
    expected = {"params_flat": (params_flat, torch.float32, n), "grads_flat": (grads_flat, torch.float32, n),
                "exp_avg_codes": (state_flat["exp_avg_codes"], torch.uint8, n),
                "exp_avg_sq_codes": (state_flat["exp_avg_sq_codes"], torch.uint8, n),
                "exp_avg_absmax": (state_flat["exp_avg_absmax"], torch.float32, blocks),
                "exp_avg_sq_absmax": (state_flat["exp_avg_sq_absmax"], torch.float32, blocks)}
    for name, (tensor, dtype, size) in expected.items():
        if (tensor.dtype != dtype or tensor.dim() != 1 or tensor.numel() != size or not tensor.is_contiguous()
                or tensor.device != params_flat.device):
            raise ValueError(f"Invalid {name}: {tensor.dtype} tensor of shape {tuple(tensor.shape)} on "
                             f"{tensor.device} (must be a contiguous 1-D {dtype} tensor of {size} values on "
                             f"{params_flat.device})")


def fused_quantized_adam_step(params_flat: Tensor, grads_flat: Tensor, state_flat: dict[str, Tensor], *, lr: float,
                              beta1: float, beta2: float, eps: float, weight_decay: float, decoupled: bool,
                              maximize: bool, step: int, block_size: int = DEFAULT_BLOCK_SIZE,
                              code_m: Tensor | None = None, code_v: Tensor | None = None,
                              backend: str = "numba") -> None:
    """:func:`quantized_adam_update` over flat float32 buffers in one pass per block, in place.

    ``state_flat`` holds the :data:`QUANTIZED_KEYS` as 1-D tensors (codes of ``params_flat.numel()``
    values, absmax per block). Blocks are cut from the flat buffer, so a tensor's values match the
    reference of that tensor alone when its segment starts on a multiple of ``block_size`` (pad between
    tensors with zeros: zero parameters with zero gradients stay zero). ``backend``: ``"numba"`` (CPU) or
    ``"triton"`` (CUDA, or the interpreter under ``TRITON_INTERPRET=1``).
    """
    check_step(step)
    check_int("block_size", block_size, low=1)
    if backend not in BACKENDS:
        raise ValueError(f"Invalid backend: {backend!r} (must be one of {', '.join(map(repr, BACKENDS))})")
    check_flat(params_flat, grads_flat, state_flat, block_size)
    code_m, code_v = resolve_codes(code_m, code_v, params_flat.device)
    scalars = host_scalars(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                           decoupled=decoupled, step=step)
    buffers = (params_flat, grads_flat, state_flat["exp_avg_codes"], state_flat["exp_avg_absmax"],
               state_flat["exp_avg_sq_codes"], state_flat["exp_avg_sq_absmax"], code_m, code_v)
    if backend == "numba":
        numba_step(buffers, scalars, maximize, block_size)
    else:
        triton_step(buffers, scalars, maximize, block_size)


def fused_tensor_step(param: Tensor, grad: Tensor, state: dict[str, Tensor], *, lr: float, beta1: float,
                      beta2: float, eps: float, weight_decay: float, decoupled: bool, maximize: bool, step: int,
                      backend: str, block_size: int = DEFAULT_BLOCK_SIZE) -> None:
    """:func:`quantized_adam_update` of one float32 tensor and its state with the fused kernel of
    ``backend`` (its blocks are the reference's: they start at the tensor's first value). The state's
    codes must be contiguous (as :func:`init_quantized_state` makes them); a strided ``param`` is
    stepped through a contiguous copy, a strided ``grad`` read through one."""
    if param.dtype != torch.float32 or grad.shape != param.shape:
        raise ValueError(f"Invalid param: {param.dtype} tensor of shape {tuple(param.shape)} with a gradient of "
                         f"shape {tuple(grad.shape)} (must be float32, its gradient of the same shape)")
    flat_param = param.detach().contiguous().view(-1)  # param itself, or a copy of a strided one
    flat_state = {key: state[key].view(-1) for key in QUANTIZED_KEYS}
    fused_quantized_adam_step(flat_param, grad.detach().float().reshape(-1), flat_state, lr=lr, beta1=beta1,
                              beta2=beta2, eps=eps, weight_decay=weight_decay, decoupled=decoupled, maximize=maximize,
                              step=step, block_size=block_size, backend=backend)
    if not param.is_contiguous():
        param.detach().copy_(flat_param.view(param.shape))


#: Below this many blocks the numba kernel runs on the calling thread alone (and no chunk is smaller).
PARALLEL_MIN_BLOCKS = 256
#: Chunks of blocks per thread, taken in turn: a thread that the machine slows down takes fewer.
CHUNKS_PER_THREAD = 4


def block_chunks(arrays: tuple[np.ndarray, ...], block_size: int, count: int) -> list[tuple[np.ndarray, ...]]:
    """The kernel's arrays cut into ``count`` runs of whole blocks (codes and absmax stay in step)."""
    p, g, m_codes, m_absmax, v_codes, v_absmax, *shared = arrays
    blocks = m_absmax.size
    edges = [blocks * k // count for k in range(count + 1)]
    chunks = []
    for first, last in zip(edges[:-1], edges[1:], strict=True):
        lo, hi = first * block_size, min(last * block_size, p.size)
        chunks.append((p[lo:hi], g[lo:hi], m_codes[lo:hi], m_absmax[first:last], v_codes[lo:hi],
                       v_absmax[first:last], *shared))
    return chunks


@functools.lru_cache(maxsize=8)
def cached_code_table(code_bytes: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The code whose float32 bytes are given and its
    :func:`~inertia.optim.adam_8bit_kernels.threshold_table` (built once per code)."""
    code = np.frombuffer(code_bytes, dtype=np.float32).copy()
    return (code, *threshold_table(code))


def numba_step(buffers: tuple[Tensor, ...], scalars: dict[str, float], maximize: bool, block_size: int) -> None:
    """Run the numba kernel, the blocks split between ``torch.get_num_threads()`` threads (in
    :data:`CHUNKS_PER_THREAD` chunks per thread, each taken by the next thread free)."""
    kernel = compiled(KERNELS, "adam_8bit_blocks", "numba")
    code_m, buckets_m, thresholds_m, steps_m = cached_code_table(buffers[6].detach().cpu().numpy().tobytes())
    code_v, buckets_v, thresholds_v, steps_v = cached_code_table(buffers[7].detach().cpu().numpy().tobytes())
    arrays = (*(tensor.detach().numpy() for tensor in buffers[:6]), code_m, code_v, buckets_m, thresholds_m,
              buckets_v, thresholds_v)
    f32 = np.float32
    tail = (f32(scalars["omb1"]), f32(scalars["beta2"]), f32(scalars["omb2"]), f32(scalars["eps"]),
            f32(scalars["wd"]), f32(scalars["decay"]), f32(scalars["step_size"]), f32(scalars["denom_scale"]),
            f32(-1.0 if maximize else 1.0), scalars["wd_mode"], block_size, steps_m, steps_v)
    blocks = arrays[3].size
    threads = max(1, min(torch.get_num_threads(), blocks // PARALLEL_MIN_BLOCKS))
    if threads == 1:
        kernel(*arrays, *tail)
        return
    pending = iter(block_chunks(arrays, block_size, min(CHUNKS_PER_THREAD * threads, blocks // PARALLEL_MIN_BLOCKS)))
    lock = threading.Lock()

    def work() -> None:  # each thread takes the next chunk until none is left
        while True:
            with lock:
                chunk = next(pending, None)
            if chunk is None:
                return
            kernel(*chunk, *tail)

    futures = [shared_pool(threads).submit(work) for _ in range(threads - 1)]
    work()
    for future in futures:
        future.result()


def triton_step(buffers: tuple[Tensor, ...], scalars: dict[str, Any], maximize: bool, block_size: int) -> None:
    """Launch the Triton kernel: one program per :data:`TRITON_BLOCKS_PER_PROGRAM` blocks."""
    if block_size & (block_size - 1):
        raise ValueError(f"Invalid block_size: {block_size} (the Triton kernel needs a power of two)")
    kernel = compiled(KERNELS, "adam_8bit_kernel", "triton")
    n = buffers[0].numel()
    program_block = block_size * TRITON_BLOCKS_PER_PROGRAM
    names = ("omb1", "beta2", "omb2", "eps", "wd", "decay", "step_size", "denom_scale")
    kernel[(max(1, -(-n // program_block)),)](*buffers, *(float(np.float32(scalars[k])) for k in names), n,
                                               MAXIMIZE=bool(maximize), WD_MODE=scalars["wd_mode"],
                                               BLOCK=program_block, QBLOCK=block_size, enable_fp_fusion=False)
