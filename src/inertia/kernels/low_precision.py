"""Low-precision primitives: the ``precision`` option's grammar, stochastic rounding to bfloat16, and the
counter-based random stream that the fused kernels share.

``precision`` is ``"<param part>[+<state part>]"``:

- param part: ``native`` (torch's behaviour: the parameters' own dtype throughout), ``master`` (bf16/fp16
  parameters, fp32 master weights kept by the optimizer), ``stochastic`` (bf16 parameters updated in place
  with stochastic rounding, no master copy);
- state part: ``fp32-state`` (default), ``bf16-state`` (state stored in bf16 with stochastic rounding),
  ``8bit-state`` (Adam/AdamW moments block-wise quantised: :mod:`inertia.kernels.blockwise_quant`).

Stochastic rounding to bf16 adds a uniform random 16-bit integer to the float32 bit pattern and clears the
low 16 bits, so ``x`` rounds up with probability equal to its distance from the lower neighbour in units
of the bf16 spacing: the rounding is unbiased. Finite inputs stay finite (values beyond the bf16 maximum
saturate to it), infinities stay, NaNs become the quiet NaN of their sign.

The random 16 bits come either from a ``torch.Generator`` or, with ``seed``, from Philox-4x32-10 keyed by
the seed and counted by the element's index: the stream of Triton's ``tl.randint(seed, offsets)``, which
:func:`inertia.kernels.numba_helpers.philox_uint32` and the Triton helper
:func:`inertia.kernels.triton_helpers.stochastic_round_bf16` draw too, so a reference step and a fused
kernel with the same seed round every element the same way.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from inertia.checks import check_int

__all__ = [
    "PARAM_MODES", "STATE_MODES", "Precision", "check_param_dtype", "memory_per_parameter", "parse_precision",
    "philox_random_bits", "round_bits", "state_dtype", "stochastic_round",
]

PARAM_MODES = ("native", "master", "stochastic")
STATE_MODES = ("fp32-state", "bf16-state", "8bit-state")

#: Philox-4x32 constants (Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2, 3").
PHILOX_ROUND_A = 0xD2511F53
PHILOX_ROUND_B = 0xCD9E8D57
PHILOX_KEY_A = 0x9E3779B9
PHILOX_KEY_B = 0xBB67AE85
PHILOX_ROUNDS = 10
MASK32 = 0xFFFFFFFF

#: float32 bit patterns (as int32 values) used by the rounding.
SIGN_BIT = -(2**31)
MAGNITUDE_BITS = 0x7FFFFFFF
INF_BITS = 0x7F800000
BF16_MAX_BITS = 0x7F7F0000  # the largest finite bfloat16, as a float32 pattern
QUIET_NAN_BITS = 0x7FC00000
LOW_HALF_CLEARED = -(2**16)  # 0xFFFF0000 as int32


class Precision(NamedTuple):
    """A parsed ``precision`` option: how parameters are stored and updated, and how state is stored."""

    params: str = "native"
    state: str = "fp32-state"

    def __str__(self) -> str:
        return f"{self.params}+{self.state}"


def _grammar() -> str:
    return (f"must be '<param part>[+<state part>]', param part one of {', '.join(map(repr, PARAM_MODES))}, "
            f"state part one of {', '.join(map(repr, STATE_MODES))}")


def parse_precision(value: str | Precision) -> Precision:
    """The :class:`Precision` that ``value`` names, e.g. ``"stochastic+bf16-state"``; the state part
    defaults to ``fp32-state``. Raises TypeError for a non-string, ValueError for a string off the grammar."""
    if isinstance(value, Precision):
        value = str(value)
    if not isinstance(value, str):
        raise TypeError(f"Invalid precision: {value!r} (a {type(value).__name__}; {_grammar()})")
    params, plus, state = value.strip().partition("+")
    if not plus:
        state = "fp32-state"
    if params not in PARAM_MODES or state not in STATE_MODES:
        raise ValueError(f"Invalid precision: {value!r} ({_grammar()})")
    return Precision(params, state)


def check_param_dtype(precision: Precision, dtype: torch.dtype) -> Precision:
    """``precision`` if parameters of ``dtype`` can be stepped under it, else ValueError.

    ``master`` needs bf16 or fp16 parameters (fp32 ones are their own master copy: use ``native``);
    ``stochastic`` needs bf16 parameters (stochastic rounding to fp16 is not offered: see
    :func:`stochastic_round`).
    """
    if precision.params == "master" and dtype not in (torch.bfloat16, torch.float16):
        raise ValueError(f"Invalid precision: {str(precision)!r} for parameters of dtype {dtype} "
                         "('master' keeps fp32 master weights of bfloat16 or float16 parameters; "
                         "use 'native' for these)")
    if precision.params == "stochastic" and dtype != torch.bfloat16:
        instead = "'master'" if dtype == torch.float16 else "'native'"
        raise ValueError(f"Invalid precision: {str(precision)!r} for parameters of dtype {dtype} "
                         f"('stochastic' updates bfloat16 parameters in place; use {instead} for these)")
    return precision


def state_dtype(precision: Precision, param_dtype: torch.dtype) -> torch.dtype:
    """The dtype state tensors are stored in: the parameters' own (``native`` + ``fp32-state``), float32
    (``fp32-state`` otherwise), bfloat16 (``bf16-state``) or uint8 codes (``8bit-state``)."""
    if precision.state == "bf16-state":
        return torch.bfloat16
    if precision.state == "8bit-state":
        return torch.uint8
    return param_dtype if precision.params == "native" else torch.float32


def memory_per_parameter(precision: Precision, param_dtype: torch.dtype, n_states: int = 2,
                         block_size: int = 256) -> dict[str, float]:
    """Bytes per parameter held between steps: ``params``, ``grads``, ``state`` (``n_states`` tensors;
    8-bit codes count one float32 absmax per ``block_size`` values) and ``master``, plus their ``total``."""
    param_bytes = torch.empty(0, dtype=param_dtype).element_size()
    if precision.state == "8bit-state":
        per_state = 1 + 4 / block_size
    else:
        per_state = torch.empty(0, dtype=state_dtype(precision, param_dtype)).element_size()
    sizes = {"params": float(param_bytes), "grads": float(param_bytes), "state": float(n_states * per_state),
             "master": 4.0 if precision.params == "master" else 0.0}
    sizes["total"] = sum(sizes.values())
    return sizes


def _multiply_high_low(constant: int, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The high and low 32 bits of ``constant * value`` (both below 2**32), exact in int64 arithmetic."""
    high_product = value * (constant >> 16)  # < 2**48
    low_product = value * (constant & 0xFFFF)  # < 2**48
    high = (high_product + (low_product >> 16)) >> 16
    low = (low_product + ((high_product & 0xFFFF) << 16)) & MASK32
    return high, low


def philox_random_bits(seed: int, offsets: torch.Tensor) -> torch.Tensor:
    """The first 32-bit word of Philox-4x32-10 with key ``seed`` (low word, high word) and counter
    (offset low word, offset high word, 0, 0), as int64 values in ``[0, 2**32)``: the stream of Triton's
    ``tl.randint(seed, offsets)``."""
    seed = check_int("seed", seed, low=0, high=2**64 - 1)
    if offsets.dtype != torch.int64 or (offsets.numel() and int(offsets.min()) < 0):
        raise ValueError(f"Invalid offsets: {offsets.dtype} tensor (must be int64 values >= 0)")
    c0, c1 = offsets & MASK32, offsets >> 32
    c2 = c3 = torch.zeros_like(offsets)
    k0, k1 = seed & MASK32, seed >> 32
    for _ in range(PHILOX_ROUNDS):
        high_b, low_b = _multiply_high_low(PHILOX_ROUND_B, c2)
        high_a, low_a = _multiply_high_low(PHILOX_ROUND_A, c0)
        c0, c1, c2, c3 = high_b ^ c1 ^ k0, low_b, high_a ^ c3 ^ k1, low_a
        k0, k1 = (k0 + PHILOX_KEY_A) & MASK32, (k1 + PHILOX_KEY_B) & MASK32
    return c0


def round_bits(bits: torch.Tensor, random16: torch.Tensor) -> torch.Tensor:
    """Stochastic rounding on float32 bit patterns (int32): ``random16`` in ``[0, 2**16)`` added to the
    magnitude, the low 16 bits cleared, finite results saturated below infinity, NaNs made quiet."""
    sign = bits & SIGN_BIT
    magnitude = bits & MAGNITUDE_BITS
    rounded = (magnitude + random16) & LOW_HALF_CLEARED
    rounded = torch.where(rounded >= INF_BITS, BF16_MAX_BITS, rounded)
    rounded = torch.where(magnitude == INF_BITS, INF_BITS, rounded)
    rounded = torch.where(magnitude > INF_BITS, QUIET_NAN_BITS, rounded)
    return rounded | sign


def _check_round_arguments(x: torch.Tensor, dtype: torch.dtype) -> None:
    if not isinstance(x, torch.Tensor) or x.dtype != torch.float32:
        what = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
        raise TypeError(f"Invalid x: {what} (stochastic rounding takes a float32 tensor)")
    if dtype == torch.float16:
        raise ValueError("Invalid dtype: torch.float16 (stochastic rounding is offered for bfloat16 only: "
                         "float16's subnormal range would need more random bits than 16 to stay unbiased; "
                         "keep float16 parameters with precision='master')")
    if dtype != torch.bfloat16:
        raise ValueError(f"Invalid dtype: {dtype} (stochastic rounding rounds float32 to torch.bfloat16)")


def stochastic_round(x: torch.Tensor, dtype: torch.dtype = torch.bfloat16, generator: torch.Generator | None = None,
                     *, seed: int | None = None, offset: int = 0) -> torch.Tensor:
    """``x`` (float32) rounded to ``dtype`` (bfloat16) stochastically: to the upper neighbour with probability
    equal to the distance from the lower one over their spacing, so the mean of the result is ``x``.

    The random bits come from ``generator`` (torch's default one if None) or, with ``seed``, from the Philox
    stream keyed by ``seed`` at element index ``offset + i`` (``i`` in ``x``'s row-major order): the stream
    the fused kernels draw. Representable values, infinities and zeros come back unchanged; NaNs stay NaN.
    """
    _check_round_arguments(x, dtype)
    if seed is not None and generator is not None:
        raise ValueError(f"Invalid generator: {generator!r} (give a generator or a seed, not both)")
    if seed is not None:
        offset = check_int("offset", offset, low=0)
        flat = x.contiguous().reshape(-1)
        index = torch.arange(offset, offset + flat.numel(), dtype=torch.int64, device=x.device)
        random16 = (philox_random_bits(seed, index) & 0xFFFF).to(torch.int32).reshape(x.shape)
        x = flat.reshape(x.shape)
    else:
        random16 = torch.randint(0, 2**16, x.shape, generator=generator, dtype=torch.int32, device=x.device)
    rounded = round_bits(x.contiguous().view(torch.int32), random16)
    return rounded.view(torch.float32).to(dtype)
