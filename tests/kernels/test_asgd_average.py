"""ASGD's fused kernels while ``mu`` is 1 copy the iterate into ``ax`` without reading ``ax``, as
torch.optim.ASGD does (``ax.copy_(param)``); once ``mu`` falls below 1 they average into it."""

from __future__ import annotations

import math

import pytest
import torch
from kernel_cases import fresh_buffers, spec_of

from inertia.kernels.cpu import NumbaStepper, numba_available
from inertia.kernels.triton_steps import triton_available

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def make_stepper(backend: str, spec, buffers):
    if backend == "numba":
        return NumbaStepper(spec, buffers)
    from inertia.kernels.triton_steps import TritonStepper

    return TritonStepper(spec, buffers, cuda_graph=False, block=256, num_warps=4)


BACKENDS = [
    pytest.param("numba", "cpu", marks=pytest.mark.skipif(not numba_available(), reason="numba is not installed")),
    pytest.param("triton", DEVICE, marks=pytest.mark.skipif(not triton_available(), reason="no Triton here")),
]


def steps_with_nan_average(backend: str, device: str, t0: float, nan_at: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``param`` and ``ax`` after 3 fused steps, ``ax`` filled with NaN just before step ``nan_at``."""
    _, spec, hyper, group = spec_of(("ASGD", dict(lr=0.05, t0=t0)))
    generator = torch.Generator().manual_seed(5)
    buffers = {key: value.to(device) for key, value in fresh_buffers(spec, group, 777, torch.float32, generator).items()}
    stepper = make_stepper(backend, spec, buffers)
    for step in (1, 2, 3):
        buffers["grad"].copy_(torch.randn(777, generator=generator))
        if step == nan_at:
            buffers["ax"].fill_(math.nan)
        stepper(hyper, step)
    return buffers["param"].cpu(), buffers["ax"].cpu()


@pytest.mark.parametrize(("backend", "device"), BACKENDS)
def test_while_mu_is_one_ax_is_the_iterate_whatever_it_held(backend: str, device: str) -> None:
    param, ax = steps_with_nan_average(backend, device, t0=1e6, nan_at=3)
    assert torch.isfinite(param).all()
    assert torch.equal(ax, param)


@pytest.mark.parametrize(("backend", "device"), BACKENDS)
def test_once_mu_is_below_one_ax_is_read(backend: str, device: str) -> None:
    # t0 = 0: step t uses mu = 1 / max(1, t - 1), so step 3 averages (mu = 1/2) into what ax holds
    param, ax = steps_with_nan_average(backend, device, t0=0.0, nan_at=3)
    assert torch.isfinite(param).all()
    assert torch.isnan(ax).all()
