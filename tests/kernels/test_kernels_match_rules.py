"""Every fast path matches its rule's torch reference within float32 rounding, for every option.

One table (kernel_cases.CASES) times every backend available here: numba and torch's
fused ops on CPU, and the Triton kernels (compiled on CUDA, else through the Triton
interpreter on CPU, plus CUDA-graph replay on CUDA). Each run starts from fresh random
parameters, feeds fresh random gradients, and jumps from step 3 to step 8 as a loaded
checkpoint would.

"Within rounding" is checked per element and per step: starting from the kernel's own
state, the reference step is computed in float64 (the exact answer, for float32 buffers)
and again from inputs perturbed by one unit roundoff; the kernel may differ from the exact
answer by a few ulps plus a multiple of that perturbation's effect. The second term is
the conditioning of the element (for example ``g + wd*p`` cancelling), where float32
evaluations that round in a different order legitimately disagree.
"""

from __future__ import annotations

import zlib

import pytest
import torch
from kernel_cases import CASES, case_id, fresh_buffers, reference_step, spec_of

from inertia.kernels.cpu import NumbaStepper, TorchFusedStepper, numba_available, torch_supports
from inertia.kernels.triton_steps import triton_available

CUDA = torch.cuda.is_available()
STEPS = (1, 2, 3, 8, 9)
ROUNDOFF = {torch.float32: 2.0**-24, torch.float64: 2.0**-53}
ULPS, CONDITION_FACTOR = 8, 32


def make_stepper(backend: str, spec, buffers):
    if backend == "numba":
        return NumbaStepper(spec, buffers)
    if backend == "torch":
        return TorchFusedStepper(spec, buffers)
    from inertia.kernels.triton_steps import TritonStepper

    return TritonStepper(spec, buffers, cuda_graph=backend == "triton-graph", block=1024, num_warps=4)


def backends() -> list[tuple[str, str]]:
    found = [("numba", "cpu")] if numba_available() else []
    found.append(("torch", "cpu"))
    if triton_available():
        found.append(("triton", "cuda" if CUDA else "cpu"))
    if triton_available() and CUDA:
        found.append(("triton-graph", "cuda"))
    return found


PARAMS = [
    pytest.param(case, backend, device, id=f"{backend}-{case_id(case)}")
    for case in CASES
    for backend, device in backends()
    if backend != "torch" or torch_supports(spec_of(case)[1])
]


def exact_step(rule, group: dict, start: dict, step: int, roundoff: float,
               generator: torch.Generator | None) -> dict[str, torch.Tensor]:
    """The reference step in float64 from ``start`` (perturbed by +-roundoff relative if a generator is given)."""
    wide = {}
    for key, value in start.items():
        value = value.double()
        if generator is not None:
            signs = torch.randint(0, 2, value.shape, generator=generator, dtype=torch.float64) * 2 - 1
            value = value * (1 + roundoff * signs)
        wide[key] = value
    reference_step(rule, group, wide, step)
    return wide


def assert_within_rounding(got: torch.Tensor, exact: torch.Tensor, perturbed: torch.Tensor, roundoff: float,
                           what: str) -> None:
    got = got.double()
    tolerance = ULPS * roundoff * exact.abs() + CONDITION_FACTOR * (perturbed - exact).abs()
    tolerance += ULPS * roundoff * float(exact.abs().max())
    error = (got - exact).abs()
    bad = ~(error <= tolerance)
    assert not bad.any(), (f"{what}: {int(bad.sum())} elements off; worst at {int((error - tolerance).argmax())}: "
                           f"got {got[bad][:3].tolist()} want {exact[bad][:3].tolist()}")


def run_and_compare(case, backend: str, device: str, dtype: torch.dtype, n: int) -> None:
    rule, spec, hyper, group = spec_of(case)
    generator = torch.Generator().manual_seed(zlib.crc32(f"{case_id(case)}/{backend}/{dtype}".encode()))
    got = {key: value.to(device) for key, value in fresh_buffers(spec, group, n, dtype, generator).items()}
    stepper = make_stepper(backend, spec, got)
    roundoff = ROUNDOFF[dtype]
    for step in STEPS:
        got["grad"].copy_(torch.randn(n, generator=generator, dtype=dtype))
        start = {key: value.cpu().clone() for key, value in got.items()}
        exact = exact_step(rule, group, start, step, roundoff, None)
        perturbed = exact_step(rule, group, start, step, roundoff, generator)
        stepper(hyper, step)
        for key in start:
            assert_within_rounding(got[key].cpu(), exact[key], perturbed[key], roundoff, f"{key} at step {step}")


@pytest.mark.parametrize(("case", "backend", "device"), PARAMS)
def test_fast_path_matches_reference_float32(case, backend: str, device: str) -> None:
    run_and_compare(case, backend, device, torch.float32, n=3001)


FLOAT64 = [p for p in PARAMS if p.values[0] in (CASES[3], CASES[8], CASES[13], CASES[19])]


@pytest.mark.parametrize(("case", "backend", "device"), FLOAT64)
def test_fast_path_matches_reference_float64(case, backend: str, device: str) -> None:
    run_and_compare(case, backend, device, torch.float64, n=517)


def test_parallel_chunks_match_one_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Above PARALLEL_MIN the numba stepper splits the buffers across threads: same result."""
    from inertia.kernels import cpu

    case = CASES[-1]
    rule, spec, hyper, group = spec_of(case)
    buffers = fresh_buffers(spec, group, cpu.PARALLEL_MIN + 37, torch.float32, torch.Generator().manual_seed(3))
    buffers["grad"].normal_()
    twin = {key: value.clone() for key, value in buffers.items()}
    split = NumbaStepper(spec, buffers)
    monkeypatch.setattr(cpu, "PARALLEL_MIN", 1 << 62)
    whole = NumbaStepper(spec, twin)
    assert len(split.chunks) == max(1, torch.get_num_threads()) and len(whole.chunks) == 1
    for step in (1, 2):
        split(hyper, step)
        whole(hyper, step)
    for key in buffers:
        torch.testing.assert_close(buffers[key], twin[key], rtol=0, atol=0)
