"""The ``precision`` grammar and stochastic rounding to bfloat16 (``inertia.kernels.low_precision``).

Stochastic rounding is tested for its laws (one of the two neighbouring bf16 values, unbiased, exact on
representable values, non-finite values kept, saturation below infinity) on the torch path with a
generator and with a seed. The torch, numba and Triton (interpreter) paths share one counter-based stream
(Philox-4x32-10 of (seed, index)), so with the same seed they are compared bit for bit.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from inertia.kernels.jit import compiled, numba_source, tl, triton_source
from inertia.kernels.low_precision import (
    PARAM_MODES,
    STATE_MODES,
    Precision,
    check_param_dtype,
    memory_per_parameter,
    parse_precision,
    philox_random_bits,
    stochastic_round,
)
from inertia.kernels.numba_helpers import (  # noqa: F401 (compiled with the kernels below)
    bf16_bits_to_float,
    multiply_high_low,
    philox_uint32,
    stochastic_round_bf16_bits,
)
from inertia.kernels.triton_helpers import stochastic_round_bf16  # noqa: F401 (compiled with the kernel below)

BF16_MAX = torch.finfo(torch.bfloat16).max
DOCS = Path(__file__).resolve().parents[2] / "docs" / "conventions.md"


@numba_source()
def numba_round_loop(x, out_bits, words, seed, offset):
    """Round each of ``x`` with the numba helper; also keep the raw Philox word of each index."""
    for i in range(x.size):
        out_bits[i] = stochastic_round_bf16_bits(x[i], seed, offset + i)
        words[i] = philox_uint32(seed, offset + i)


@numba_source()
def numba_bits_to_float_loop(bits, out):
    for i in range(bits.size):
        out[i] = bf16_bits_to_float(bits[i])


@triton_source
def triton_round_kernel(x_ptr, out_ptr, seed, offset, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    x = tl.load(x_ptr + offsets, mask=mask)
    rounded = stochastic_round_bf16(x, seed, offset + offsets.to(tl.int64))
    tl.store(out_ptr + offsets, rounded, mask=mask)


def neighbours(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The bf16 values either side of float32 ``x`` (toward zero, away from zero), from its bit pattern."""
    bits = x.view(torch.int32)
    toward_zero = (bits & -(2**16)).view(torch.float32)
    away = ((bits & -(2**16)) + 2**16).view(torch.float32)
    return toward_zero.to(torch.bfloat16), away.to(torch.bfloat16)


def awkward_values(n: int, generator: torch.Generator) -> torch.Tensor:
    """Random float32 values over many binades, with special values at the front."""
    x = torch.randn(n, generator=generator) * torch.exp2(torch.randint(-30, 30, (n,), generator=generator)).float()
    specials = torch.tensor([float("nan"), float("inf"), -float("inf"), 0.0, -0.0, 3.4e38, -3.4e38, 1e-40, 1.5])
    x[:specials.numel()] = specials
    return x


# ---- the grammar


@pytest.mark.parametrize("params", PARAM_MODES)
@pytest.mark.parametrize("state", STATE_MODES)
def test_every_pair_parses(params: str, state: str) -> None:
    assert parse_precision(f"{params}+{state}") == Precision(params, state)
    assert parse_precision(Precision(params, state)) == Precision(params, state)
    assert str(Precision(params, state)) == f"{params}+{state}"


@pytest.mark.parametrize("params", PARAM_MODES)
def test_the_state_part_defaults_to_fp32(params: str) -> None:
    assert parse_precision(params) == Precision(params, "fp32-state")


@pytest.mark.parametrize("value", ["", "bf16", "master+", "+bf16-state", "master+8bit", "native+fp32-state+x",
                                   "Master", "stochastic+int8-state"])
def test_a_string_off_the_grammar_is_refused_naming_it_and_the_choices(value: str) -> None:
    with pytest.raises(ValueError, match="precision") as caught:
        parse_precision(value)
    message = str(caught.value)
    assert repr(value) in message
    assert all(choice in message for choice in PARAM_MODES + STATE_MODES)


@pytest.mark.parametrize("value", [None, 8, ("master", "bf16-state")])
def test_a_non_string_is_a_type_error(value: object) -> None:
    with pytest.raises(TypeError, match=re.escape(f"Invalid precision: {value!r}")):
        parse_precision(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(("params", "dtype", "accepted"), [
    ("native", torch.float32, True), ("native", torch.bfloat16, True), ("master", torch.bfloat16, True),
    ("master", torch.float16, True), ("master", torch.float32, False), ("stochastic", torch.bfloat16, True),
    ("stochastic", torch.float16, False), ("stochastic", torch.float32, False)])
def test_param_dtypes_each_mode_takes(params: str, dtype: torch.dtype, accepted: bool) -> None:
    precision = parse_precision(params)
    if accepted:
        assert check_param_dtype(precision, dtype) is precision
    else:
        with pytest.raises(ValueError, match=rf"precision.*{params}.*{dtype}"):
            check_param_dtype(precision, dtype)


def test_the_docs_byte_table_is_what_memory_per_parameter_counts() -> None:
    """Each row of the Adam byte table in docs/conventions.md: params, grads, state, master, total."""
    rows = re.findall(r"^\| `([a-z0-9+-]+)` \| (\w+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|",
                      DOCS.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert len(rows) >= len(PARAM_MODES) * len(STATE_MODES)
    for value, dtype_name, *figures in rows:
        counted = memory_per_parameter(parse_precision(value), getattr(torch, dtype_name))
        listed = dict(zip(("params", "grads", "state", "master", "total"), map(float, figures), strict=True))
        assert listed == pytest.approx({key: counted[key] for key in listed}, abs=0.01), value


# ---- stochastic rounding: the laws


def test_the_result_is_one_of_the_two_neighbours() -> None:
    generator = torch.Generator().manual_seed(0)
    x = awkward_values(4096, generator)
    x = x[x.isfinite() & (x.abs() <= BF16_MAX)]
    low, high = neighbours(x)
    for rounded in (stochastic_round(x, generator=generator), stochastic_round(x, seed=7)):
        assert bool(((rounded == low) | (rounded == high)).all())
        assert bool((torch.signbit(rounded) == torch.signbit(x)).all())


def test_representable_values_come_back_unchanged() -> None:
    generator = torch.Generator().manual_seed(1)
    exact = awkward_values(4096, generator).to(torch.bfloat16).float()
    for rounded in (stochastic_round(exact, generator=generator), stochastic_round(exact, seed=3, offset=11)):
        torch.testing.assert_close(rounded.float(), exact, rtol=0, atol=0, equal_nan=True)
        assert torch.equal(torch.signbit(rounded), torch.signbit(exact))


def test_nonfinite_values_are_kept_and_finite_ones_never_become_infinite() -> None:
    x = torch.tensor([float("nan"), -float("nan"), float("inf"), -float("inf"), 3.40282e38, -3.40282e38,
                      BF16_MAX, torch.finfo(torch.float32).max])
    for seed in range(20):
        rounded = stochastic_round(x, seed=seed)
        assert bool(rounded[:2].isnan().all())
        assert rounded[2].item() == float("inf") and rounded[3].item() == -float("inf")
        assert bool(rounded[4:].isfinite().all())
        assert rounded[4:].abs().max().item() == BF16_MAX


def rounding_mean_error(value: float, draws: int, seed: int, seeded: bool) -> tuple[float, float]:
    """|mean of ``draws`` roundings of ``value`` - value| and the standard error of that mean; the random
    bits come from the seeded Philox stream (``seeded``) or a torch generator."""
    x = torch.full((draws,), value, dtype=torch.float32)
    low, high = (v.double()[0].item() for v in neighbours(x[:1]))
    if low == float(x[0]):  # representable: never rounded (its upper neighbour may be infinite)
        high = low
    p_away = (float(x[0]) - low) / (high - low) if high != low else 0.0
    rounded = stochastic_round(x, seed=seed) if seeded else stochastic_round(
        x, generator=torch.Generator().manual_seed(seed))
    return abs(rounded.double().mean().item() - float(x[0])), abs(high - low) * (p_away * (1 - p_away) / draws) ** 0.5


@settings(max_examples=60, deadline=None)
@given(st.floats(min_value=-BF16_MAX, max_value=BF16_MAX, width=32), st.integers(0, 2**31), st.booleans())
def test_stochastic_rounding_is_unbiased(value: float, seed: int, seeded: bool) -> None:
    error, standard_error = rounding_mean_error(value, 4096, seed, seeded)
    assert error <= 5 * standard_error + 1e-12 * abs(value)


def test_the_seeded_stream_is_unbiased_over_indices() -> None:
    value = 1.0 + 2.0**-9  # a quarter of the way from 1 to the next bf16 value
    x = torch.full((1 << 16,), value)
    rounded = stochastic_round(x, seed=12345).double()
    spacing = 2.0**-7
    assert abs(rounded.mean().item() - value) <= 5 * spacing * (0.25 * 0.75 / x.numel()) ** 0.5
    assert set(rounded.unique().tolist()) == {1.0, 1.0 + spacing}


def test_the_seeded_stream_depends_on_seed_and_offset_only() -> None:
    x = torch.randn(3000, generator=torch.Generator().manual_seed(2))
    assert torch.equal(stochastic_round(x, seed=5, offset=9), stochastic_round(x, seed=5, offset=9))
    assert torch.equal(stochastic_round(x, seed=5, offset=9)[1000:], stochastic_round(x[1000:], seed=5, offset=1009))
    assert not torch.equal(stochastic_round(x, seed=5), stochastic_round(x, seed=6))
    assert torch.equal(stochastic_round(x.view(30, 100), seed=5).reshape(-1), stochastic_round(x, seed=5))


@pytest.mark.parametrize(("kwargs", "error", "pattern"), [
    ({"x": torch.zeros(2, dtype=torch.float64)}, TypeError, "Invalid x: torch.float64"),
    ({"x": [1.0]}, TypeError, "Invalid x: list"),
    ({"dtype": torch.float16}, ValueError, "Invalid dtype: torch.float16"),
    ({"dtype": torch.int8}, ValueError, "Invalid dtype: torch.int8"),
    ({"seed": 1, "generator": torch.Generator()}, ValueError, "Invalid generator"),
    ({"seed": -1}, ValueError, "Invalid seed: -1"),
    ({"seed": 1.5}, ValueError, "Invalid seed: 1.5"),
    ({"seed": 1, "offset": -2}, ValueError, "Invalid offset: -2"),
])
def test_bad_arguments_are_refused_by_name(kwargs: dict[str, object], error: type[Exception], pattern: str) -> None:
    arguments: dict[str, object] = {"x": torch.zeros(2)} | kwargs
    with pytest.raises(error, match=re.escape(pattern)):
        stochastic_round(**arguments)  # type: ignore[arg-type]


# ---- one stream for torch, numba and Triton


def test_philox_matches_the_published_known_answer() -> None:
    """Random123's known-answer vector for Philox-4x32-10, counter 0 and key 0: first word 0x6627e8d5."""
    assert philox_random_bits(0, torch.zeros(1, dtype=torch.int64)).item() == 0x6627E8D5


def test_numba_rounds_as_torch_does_with_the_same_seed() -> None:
    pytest.importorskip("numba")
    x = awkward_values(2000, torch.Generator().manual_seed(4))
    seed, offset = 2**40 + 17, 2**33 - 5  # both words of key and counter in use
    out_bits, words = np.zeros(x.numel(), np.uint16), np.zeros(x.numel(), np.uint64)
    compiled(__name__, "numba_round_loop", "numba")(x.numpy(), out_bits, words, seed, offset)
    expected_words = philox_random_bits(seed, torch.arange(offset, offset + x.numel()))
    assert torch.equal(torch.from_numpy(words.astype(np.int64)), expected_words)
    from_numba = torch.from_numpy(out_bits.view(np.int16)).view(torch.bfloat16)
    torch.testing.assert_close(from_numba, stochastic_round(x, seed=seed, offset=offset), rtol=0, atol=0,
                               equal_nan=True)
    back = np.zeros(x.numel(), np.float32)
    compiled(__name__, "numba_bits_to_float_loop", "numba")(out_bits, back)
    torch.testing.assert_close(torch.from_numpy(back), from_numba.float(), rtol=0, atol=0, equal_nan=True)


def test_triton_rounds_as_torch_does_with_the_same_seed() -> None:
    pytest.importorskip("triton")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    x = awkward_values(1000, torch.Generator().manual_seed(5)).to(device)
    seed, offset = 2**40 + 17, 2**33 - 5
    out = torch.empty(x.numel(), dtype=torch.bfloat16, device=device)
    kernel = compiled(__name__, "triton_round_kernel", "triton")
    kernel[(triton_blocks(x.numel(), 256),)](x, out, seed, offset, x.numel(), BLOCK=256)
    torch.testing.assert_close(out.cpu(), stochastic_round(x.cpu(), seed=seed, offset=offset), rtol=0, atol=0,
                               equal_nan=True)


def triton_blocks(n: int, block: int) -> int:
    return -(-n // block)
