"""Adam/AdamW with 8-bit block-wise state (``inertia.optim.adam_8bit``): the reference step against a
float64 implementation of bitsandbytes' block-wise 8-bit Adam written here (dequantise, update, requantise
with each block's new absmax), the state's layout and size, the moments exported to and imported from
torch.optim.Adam, the refusals, and training runs that track float32 Adam."""

from __future__ import annotations

import math
import re

import pytest
import torch

from inertia.kernels.blockwise_quant import dynamic_code
from inertia.optim.adam import adam_update
from inertia.optim.adam_8bit import (
    MIN_8BIT_SIZE,
    QUANTIZED_KEYS,
    check_8bit_options,
    export_state,
    import_state,
    init_quantized_state,
    quantized_adam_update,
    state_bytes,
    uses_8bit_state,
)

FLOAT32_EPS = torch.finfo(torch.float32).eps
CODE_M, CODE_V = dynamic_code(True).double(), dynamic_code(False).double()
CONFIGS = {
    "adam": dict(weight_decay=0.0, decoupled=False, maximize=False),
    "adam, L2 decay": dict(weight_decay=0.05, decoupled=False, maximize=False),
    "adamw, maximize": dict(weight_decay=0.1, decoupled=True, maximize=True),
}


# ---- bitsandbytes' algorithm in float64


def blocks_of(values: torch.Tensor, block_size: int) -> torch.Tensor:
    """``values`` (1-D) padded with zeros to whole blocks, one row per block."""
    padded = torch.zeros(math.ceil(values.numel() / block_size) * block_size, dtype=values.dtype)
    padded[:values.numel()] = values
    return padded.view(-1, block_size)


def per_element(block_values: torch.Tensor, n: int, block_size: int) -> torch.Tensor:
    return block_values.repeat_interleave(block_size)[:n]


def bnb_quantize(x: torch.Tensor, code: torch.Tensor, block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """float64: each block's absmax, and per value the index of the code value nearest value / absmax."""
    absmax = blocks_of(x.abs(), block_size).amax(dim=1)
    scale = per_element(torch.where(absmax > 0, absmax, torch.ones_like(absmax)), x.numel(), block_size)
    return (x / scale)[:, None].sub(code[None, :]).abs().argmin(dim=1), absmax


def bnb_adam_8bit(p: torch.Tensor, g: torch.Tensor, state: dict[str, torch.Tensor], *, lr: float, beta1: float,
                  beta2: float, eps: float, weight_decay: float, decoupled: bool, maximize: bool, step: int,
                  block_size: int) -> dict[str, torch.Tensor]:
    """One step of bitsandbytes' block-wise 8-bit Adam in float64 (its ``kOptimizerStatic8bit2StateBlockwise``
    form: p += -lr sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + eps sqrt(1 - beta2^t))), with the
    moments it updates from and to."""
    n = p.numel()
    m = CODE_M[state["exp_avg_codes"].reshape(-1).long()] * per_element(state["exp_avg_absmax"].double(), n, block_size)
    v = CODE_V[state["exp_avg_sq_codes"].reshape(-1).long()] * per_element(state["exp_avg_sq_absmax"].double(), n,
                                                                            block_size)
    p64, g64 = p.double().reshape(-1).clone(), g.double().reshape(-1)
    g64 = -g64 if maximize else g64
    if weight_decay and decoupled:
        p64 = p64 * (1 - lr * weight_decay)
    elif weight_decay:
        g64 = g64 + weight_decay * p64
    new_m = beta1 * m + (1 - beta1) * g64
    new_v = beta2 * v + (1 - beta2) * g64 * g64
    correction2 = math.sqrt(1 - beta2**step)
    p64 = p64 - lr * correction2 / (1 - beta1**step) * new_m / (new_v.sqrt() + eps * correction2)
    m_codes, m_absmax = bnb_quantize(new_m, CODE_M, block_size)
    v_codes, v_absmax = bnb_quantize(new_v, CODE_V, block_size)
    return {"param": p64, "exp_avg": new_m, "exp_avg_sq": new_v, "old_exp_avg": m, "old_exp_avg_sq": v,
            "grad": g64, "exp_avg_codes": m_codes, "exp_avg_absmax": m_absmax, "exp_avg_sq_codes": v_codes,
            "exp_avg_sq_absmax": v_absmax}


def assert_codes_agree(got_codes: torch.Tensor, got_absmax: torch.Tensor, value: torch.Tensor,
                       error: torch.Tensor, expected_codes: torch.Tensor, expected_absmax: torch.Tensor,
                       code: torch.Tensor, block_size: int) -> None:
    """The float32 step's absmax within its rounding ``error`` of float64's; its codes equal except where
    the float64 value / absmax lies within that rounding of the midpoint between the two choices."""
    n = value.numel()
    block_error = blocks_of(error, block_size).amax(dim=1)
    assert bool(((got_absmax.double() - expected_absmax).abs() <= block_error).all())
    got = got_codes.reshape(-1).long()
    differ = got != expected_codes
    scale = per_element(torch.where(expected_absmax > 0, expected_absmax, torch.ones_like(expected_absmax)), n,
                        block_size)
    normalized = value / scale
    gap = ((normalized - code[got]).abs() - (normalized - code[expected_codes]).abs()).abs()
    allowed = 2 * (error + per_element(block_error, n, block_size)) / scale + 4 * FLOAT32_EPS
    assert bool((gap[differ] <= allowed[differ]).all()), f"{int(differ.sum())} codes differ beyond rounding"


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize(("n", "block_size"), [(1, 256), (257, 256), (1500, 256), (700, 64)])
def test_the_reference_step_is_bitsandbytes_8bit_adam(name: str, n: int, block_size: int) -> None:
    generator = torch.Generator().manual_seed(n)
    param = torch.randn(n, generator=generator)
    state = init_quantized_state(param, block_size)
    lr, config = 1e-2, CONFIGS[name]
    for step in range(1, 6):
        g = torch.randn(n, generator=generator) * torch.exp2(torch.randint(-6, 3, (n,), generator=generator)).float()
        expected = bnb_adam_8bit(param, g, state, lr=lr, beta1=0.9, beta2=0.999, eps=1e-8, step=step,
                                 block_size=block_size, **config)
        quantized_adam_update(param, g, state, lr=lr, beta1=0.9, beta2=0.999, eps=1e-8, step=step,
                              block_size=block_size, **config)
        g_abs = expected["grad"].abs()
        m_error = 4 * FLOAT32_EPS * (expected["old_exp_avg"].abs() + g_abs + expected["exp_avg"].abs())
        v_error = 4 * FLOAT32_EPS * (expected["old_exp_avg_sq"] + g_abs * g_abs)
        assert_codes_agree(state["exp_avg_codes"], state["exp_avg_absmax"], expected["exp_avg"], m_error,
                           expected["exp_avg_codes"], expected["exp_avg_absmax"], CODE_M, block_size)
        assert_codes_agree(state["exp_avg_sq_codes"], state["exp_avg_sq_absmax"], expected["exp_avg_sq"], v_error,
                           expected["exp_avg_sq_codes"], expected["exp_avg_sq_absmax"], CODE_V, block_size)
        denom = expected["exp_avg_sq"].sqrt() + 1e-8
        update = lr / (1 - 0.9**step) * (expected["exp_avg"].abs() + m_error) / denom
        bound = 8 * FLOAT32_EPS * (expected["param"].abs() + update) + lr / (1 - 0.9**step) * m_error / denom
        assert bool(((param.double() - expected["param"]).abs() <= bound).all()), f"step {step}"


# ---- the state


def test_a_new_state_holds_zero_moments_of_the_parameters_shape() -> None:
    param = torch.randn(3, 500)
    state = init_quantized_state(param)
    assert set(state) == set(QUANTIZED_KEYS)
    assert state["exp_avg_codes"].shape == param.shape and state["exp_avg_codes"].dtype == torch.uint8
    assert state["exp_avg_absmax"].shape == (math.ceil(param.numel() / 256),)
    assert state["exp_avg_sq_absmax"].dtype == torch.float32
    for value in export_state(state).values():
        assert value.shape == param.shape and not bool(value.any())


@pytest.mark.parametrize("block_size", [64, 256])
def test_the_state_takes_two_bytes_and_two_absmax_per_block_per_parameter(block_size: int) -> None:
    param = torch.zeros(block_size * 64)
    measured = state_bytes(init_quantized_state(param, block_size)) / param.numel()
    uint8, float32 = torch.uint8.itemsize, torch.float32.itemsize
    assert measured == 2 * uint8 + 2 * float32 / block_size
    fp32_state = 2 * torch.zeros_like(param).element_size()  # torch.optim.Adam's exp_avg and exp_avg_sq
    assert measured / fp32_state == pytest.approx(1 / 4 + 1 / block_size)


def test_small_tensors_keep_float32_state_as_bitsandbytes_does() -> None:
    assert not uses_8bit_state(torch.zeros(MIN_8BIT_SIZE - 1))
    assert uses_8bit_state(torch.zeros(MIN_8BIT_SIZE))
    assert uses_8bit_state(torch.zeros(10), min_8bit_size=10)
    with pytest.raises(ValueError, match=re.escape("Invalid min_8bit_size: -1")):
        uses_8bit_state(torch.zeros(10), min_8bit_size=-1)


def test_amsgrad_is_refused_with_8bit_state_by_name() -> None:
    check_8bit_options(False)
    with pytest.raises(ValueError, match=r"Invalid amsgrad: True with precision='fp32\+8bit-state'"):
        check_8bit_options(True, precision="fp32+8bit-state")


def test_moments_of_another_shape_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match=re.escape("Invalid exp_avg_sq: shape (3,) (must match exp_avg's (4,))")):
        import_state(torch.zeros(4), torch.zeros(3))


# ---- torch.optim.Adam's moments, both ways


def nearest_code_distance(x: torch.Tensor, code: torch.Tensor, block_size: int) -> torch.Tensor:
    """float64: |x - nearest code value * absmax| for each value."""
    absmax = per_element(blocks_of(x.abs().reshape(-1), block_size).amax(dim=1), x.numel(), block_size)
    normalized = x.reshape(-1) / torch.where(absmax > 0, absmax, torch.ones_like(absmax))
    return (normalized[:, None] - code[None, :]).abs().amin(dim=1) * absmax


def test_torch_moments_come_back_within_the_codes_resolution() -> None:
    generator = torch.Generator().manual_seed(2)
    exp_avg = torch.randn(4, 300, generator=generator) * 1e-3
    exp_avg_sq = exp_avg.square() + torch.rand(4, 300, generator=generator) * 1e-6
    back = export_state(import_state(exp_avg, exp_avg_sq))
    for key, original, code in (("exp_avg", exp_avg, CODE_M), ("exp_avg_sq", exp_avg_sq, CODE_V)):
        assert back[key].shape == original.shape and back[key].dtype == torch.float32
        distance = nearest_code_distance(original.double(), code, 256)
        error = (back[key].double() - original.double()).abs().reshape(-1)
        assert bool((error <= distance + 4 * FLOAT32_EPS * original.double().abs().reshape(-1)).all()), key


def test_an_exported_state_continues_in_torch_optim_adam() -> None:
    generator = torch.Generator().manual_seed(5)
    param = torch.nn.Parameter(torch.randn(600, generator=generator))
    state = init_quantized_state(param)
    hyper = dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, decoupled=False, maximize=False)
    for step in (1, 2, 3):
        quantized_adam_update(param.data, torch.randn(600, generator=generator), state, step=step, **hyper)
    torch_adam = torch.optim.Adam([param], lr=1e-2)
    torch_state = {"step": torch.tensor(3.0), **export_state(state)}
    torch_adam.load_state_dict({"state": {0: torch_state}, "param_groups": torch_adam.state_dict()["param_groups"]})
    expected = param.detach().clone()
    g = torch.randn(600, generator=generator)
    quantized_adam_update(expected, g, state, step=4, **hyper)
    param.grad = g
    torch_adam.step()
    update = (expected - param.detach()).abs()
    assert bool((update <= 4 * FLOAT32_EPS * param.detach().abs() + 1e-9).all())  # the same moments, one step
    reloaded = import_state(torch_adam.state[param]["exp_avg"], torch_adam.state[param]["exp_avg_sq"])
    for key in ("exp_avg_absmax", "exp_avg_sq_absmax"):
        torch.testing.assert_close(reloaded[key], state[key], rtol=4 * FLOAT32_EPS, atol=0)


# ---- training runs that track float32 Adam


class EightBitAdam:
    """Adam whose parameters of at least MIN_8BIT_SIZE values step with 8-bit moments (the rest fp32)."""

    def __init__(self, params: list[torch.Tensor], lr: float) -> None:
        self.params, self.lr, self.step_count = params, lr, 0
        self.states = [init_quantized_state(p) if uses_8bit_state(p) else (torch.zeros_like(p), torch.zeros_like(p))
                       for p in params]

    def step(self) -> None:
        self.step_count += 1
        for param, state in zip(self.params, self.states, strict=True):
            if isinstance(state, dict):
                quantized_adam_update(param.data, param.grad, state, lr=self.lr, beta1=0.9, beta2=0.999, eps=1e-8,
                                      weight_decay=0.0, decoupled=False, maximize=False, step=self.step_count)
            else:
                adam_update(param.data, param.grad, state[0], state[1], None, step=self.step_count, lr=self.lr)


def quadratic_loss(kind: str, lr: float, steps: int, curvature_decades: float, seed: int = 0) -> float:
    """Loss after ``steps`` steps on 0.5 sum h x^2, h log-uniform over ±``curvature_decades`` decades."""
    generator = torch.Generator().manual_seed(seed)
    log_span = curvature_decades * math.log(10)
    h = torch.empty(MIN_8BIT_SIZE).uniform_(-log_span, log_span, generator=generator).exp()
    x = torch.nn.Parameter(torch.randn(MIN_8BIT_SIZE, generator=generator))
    optimizer = EightBitAdam([x], lr) if kind == "8bit" else torch.optim.Adam([x], lr=lr)
    for _ in range(steps):
        x.grad = h * x.detach()
        optimizer.step()
    return float(0.5 * (h * x.detach().square()).sum())


def mlp_loss(kind: str, lr: float, steps: int, seed: int = 0) -> float:
    """Full-batch loss of a 32-256-8 tanh MLP fitting a tanh teacher after ``steps`` steps (its two weight
    matrices take 8-bit state, its biases float32)."""
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(256, 32, generator=generator)
    targets = torch.tanh(inputs @ torch.randn(32, 8, generator=generator))
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(32, 256), torch.nn.Tanh(), torch.nn.Linear(256, 8))
    params = list(model.parameters())
    optimizer = EightBitAdam(params, lr) if kind == "8bit" else torch.optim.Adam(params, lr=lr)
    for _ in range(steps):
        loss = (model(inputs) - targets).square().mean()
        for param in params:
            param.grad = None
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return float((model(inputs) - targets).square().mean())


def deviation_in_lr_units(run: object, lr: float, *args: object) -> float:
    """|loss(8-bit) - loss(fp32)| over |loss(fp32, 1.1 lr) - loss(fp32)|: the 8-bit state's effect on the
    loss measured against a 10% change of the learning rate."""
    fp32 = run("fp32", lr, *args)  # type: ignore[operator]
    return abs(run("8bit", lr, *args) - fp32) / abs(run("fp32", 1.1 * lr, *args) - fp32)  # type: ignore[operator]


def test_on_a_quadratic_8bit_state_moves_the_loss_less_than_a_tenth_more_lr() -> None:
    # curvatures within one decade: the block's second moments span 1e2 (x^2 apart)
    assert deviation_in_lr_units(quadratic_loss, 1e-2, 100, 0.5) < 0.25


def test_on_a_quadratic_the_8bit_error_grows_with_the_blocks_dynamic_range() -> None:
    # the unsigned code resolves about 7 decades below a block's absmax: second moments spread over more
    # round to zero, and their updates grow (1.5 decades of curvature: 6 decades of h^2)
    narrow = deviation_in_lr_units(quadratic_loss, 1e-2, 100, 0.5)
    wide = deviation_in_lr_units(quadratic_loss, 1e-2, 100, 1.5)
    assert wide > 10 * narrow and wide > 1


def test_on_a_tiny_mlp_8bit_state_moves_the_loss_less_than_a_tenth_more_lr() -> None:
    assert deviation_in_lr_units(mlp_loss, 1e-2, 100) < 0.5
