"""What the tests of the fused ``precision`` steps share (CPU: test_precision_fused; Triton:
tests/kernels/test_triton_precision): the modes, the tolerances against the reference path, how an
optimizer is built and stepped, and the state comparison."""

from __future__ import annotations

from typing import Any

import torch

import inertia
from inertia.optim.precision import MASTER_KEY

PRECISIONS = ("master+fp32-state", "master+bf16-state", "stochastic+fp32-state", "stochastic+bf16-state")
#: The native fused-vs-reference tolerance (tests/optim/test_fused_optimizer.py) for float32 values; bf16
#: values may differ by one bf16 spacing (relative 2**-7) where the two float32 values straddle a rounding point.
FP32_TOLERANCE = dict(rtol=1e-4, atol=1e-5)
BF16_TOLERANCE = dict(rtol=2**-7, atol=1e-5)


def build(name: str, params: list[torch.Tensor], kwargs: dict[str, Any], impl: str, precision: str,
          seed: int = 7) -> torch.optim.Optimizer:
    """``inertia.<name>`` over two groups of ``params`` (the second at half the lr), rounding seeds fixed."""
    kwargs = {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in kwargs.items()}
    groups = [{"params": params[:2]}, {"params": params[2:], "lr": kwargs["lr"] / 2}]
    torch.manual_seed(seed)  # the groups' rounding seeds
    return getattr(inertia, name)(groups, impl=impl, precision=precision, **kwargs)


def run(optimizer: torch.optim.Optimizer, params: list[torch.Tensor], steps: range) -> None:
    """One step per entry of ``steps``, with gradients drawn from the step's seed (bf16-representable)."""
    for step in steps:
        generator = torch.Generator().manual_seed(100 + step)
        for param in params:
            param.grad = torch.randn(param.shape, generator=generator).bfloat16().to(param.dtype)
        optimizer.step()


def assert_close_state(got_params: list[torch.Tensor], want_params: list[torch.Tensor], got: torch.optim.Optimizer,
                       want: torch.optim.Optimizer) -> None:
    """Parameters and state of a fused run (``got``) against the reference run (``want``): the same keys and
    dtypes, counts equal, float32 values within :data:`FP32_TOLERANCE`, bf16 ones within one spacing on at
    most 2% of the elements."""
    for a, b in zip(got_params, want_params, strict=True):
        torch.testing.assert_close(a.detach().float(), b.detach().float(), **BF16_TOLERANCE)
        assert (a.detach() != b.detach()).float().mean() <= 0.02  # nearly every element rounds alike
        got_state, want_state = got.state[a], want.state[b]
        assert got_state.keys() == want_state.keys()
        for key, value in want_state.items():
            if not isinstance(value, torch.Tensor):
                assert got_state[key] == value, key
                continue
            assert got_state[key].dtype == value.dtype, key
            if key == "step":
                assert torch.equal(got_state[key], value)
            elif value.dtype == torch.bfloat16:
                torch.testing.assert_close(got_state[key].float(), value.float(), **BF16_TOLERANCE)
                assert (got_state[key] != value).float().mean() <= 0.02, key
            elif key == MASTER_KEY or value.shape == a.shape:
                torch.testing.assert_close(got_state[key], value, **FP32_TOLERANCE)
            else:  # 0-d derived state (NAdam's mu_product, ASGD's eta and mu)
                torch.testing.assert_close(got_state[key], value, rtol=1e-6, atol=1e-7)
