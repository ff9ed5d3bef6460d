"""The ``precision="...+8bit-state"`` option of Adam and AdamW: the quantised step, checkpoints, refusals."""

from __future__ import annotations

import copy

import pytest
import torch

import inertia
from inertia.optim.adam_8bit import QUANTIZED_KEYS, import_state, init_quantized_state, quantized_adam_update

STEPS = 3

BIG = (64, 80)  # at least MIN_8BIT_SIZE values: 8-bit moments


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_8bit_state_steps_as_the_quantised_reference(name: str) -> None:
    """``native+8bit-state`` with ``impl="reference"``: a large tensor is stepped by ``quantized_adam_update``
    (the same bits); a small one keeps float32 moments and steps as without the option. (The default fused
    step is compared with this path in test_adam_8bit_fused.py.)"""
    kwargs = dict(lr=0.01, weight_decay=0.1, impl="reference")
    big, small = torch.randn(BIG, requires_grad=True), torch.randn(7, requires_grad=True)
    plain_small = small.detach().clone().requires_grad_()
    optimizer = getattr(inertia, name)([big, small], precision="native+8bit-state", **kwargs)
    plain = getattr(inertia, name)([plain_small], **kwargs)
    manual, manual_state = big.detach().clone(), init_quantized_state(big)
    for step in range(1, STEPS + 1):
        grad_big, grad_small = torch.randn(BIG), torch.randn(7)
        big.grad, small.grad, plain_small.grad = grad_big, grad_small, grad_small.clone()
        optimizer.step()
        plain.step()
        quantized_adam_update(manual, grad_big, manual_state, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8,
                              weight_decay=0.1, decoupled=name == "AdamW", maximize=False, step=step)
    assert torch.equal(big.detach(), manual)
    for key in QUANTIZED_KEYS:
        assert torch.equal(optimizer.state[big][key], manual_state[key]), key
    assert torch.equal(small.detach(), plain_small.detach())
    assert optimizer.state[small]["exp_avg"].dtype == torch.float32


@pytest.mark.parametrize("precision", ["master+8bit-state", "stochastic+8bit-state"])
def test_8bit_state_resumes_bit_exactly_and_round_trips_through_torch(precision: str) -> None:
    """The checkpoint holds torch's float32 moments beside the codes: inertia resumes from the codes bit for
    bit; torch.optim.AdamW loads the moments and steps on; inertia loading torch's checkpoint (codes now stale)
    quantises torch's moments."""
    def params() -> list[torch.Tensor]:
        generator = torch.Generator().manual_seed(3)
        return [torch.randn(BIG, generator=generator).bfloat16().requires_grad_()]

    def step(optimizer: torch.optim.Optimizer, tensors: list[torch.Tensor], index: int) -> None:
        tensors[0].grad = torch.randn(BIG, generator=torch.Generator().manual_seed(index)).bfloat16()
        optimizer.step()

    torch.manual_seed(9)
    straight_params = params()
    straight = inertia.AdamW(straight_params, lr=0.01, precision=precision)
    for index in range(4):
        step(straight, straight_params, index)
    torch.manual_seed(9)
    first_params = params()
    first = inertia.AdamW(first_params, lr=0.01, precision=precision)
    for index in range(2):
        step(first, first_params, index)
    checkpoint = copy.deepcopy(first.state_dict())
    assert checkpoint["state"][0]["exp_avg"].dtype == torch.float32
    second_params = [p.detach().clone().requires_grad_() for p in first_params]
    second = inertia.AdamW(second_params, lr=0.01, precision=precision)
    second.load_state_dict(copy.deepcopy(checkpoint))
    for index in range(2, 4):
        step(second, second_params, index)
    assert torch.equal(second_params[0].detach(), straight_params[0].detach())
    for key in QUANTIZED_KEYS:
        assert torch.equal(second.state[second_params[0]][key], straight.state[straight_params[0]][key]), key
    torch_params = [p.detach().clone().requires_grad_() for p in first_params]
    twin = torch.optim.AdamW(torch_params, lr=0.01)
    twin.load_state_dict(copy.deepcopy(checkpoint))
    step(twin, torch_params, 2)
    back_params = [p.detach().clone().requires_grad_() for p in torch_params]
    back = inertia.AdamW(back_params, lr=0.01, precision=precision)
    back.load_state_dict(copy.deepcopy(twin.state_dict()))
    expected = import_state(twin.state[torch_params[0]]["exp_avg"].float(),
                            twin.state[torch_params[0]]["exp_avg_sq"].float())
    for key in QUANTIZED_KEYS:
        assert torch.equal(back.state[back_params[0]][key], expected[key]), key


def test_8bit_state_refusals() -> None:
    param = torch.zeros(BIG, dtype=torch.bfloat16, requires_grad=True)
    with pytest.raises(ValueError, match=r"Invalid amsgrad: True with precision='master\+8bit-state'"):
        inertia.Adam([param], lr=0.1, amsgrad=True, precision="master+8bit-state")
    with pytest.raises(ValueError, match=r"Invalid eps_mode: 'inside' with precision='master\+8bit-state'"):
        inertia.Adam([param], lr=0.1, eps_mode="inside", precision="master+8bit-state")
    with pytest.raises(ValueError, match=r"Invalid precision: 'stochastic\+8bit-state' for inertia.RMSprop"):
        inertia.RMSprop([param], lr=0.1, precision="stochastic+8bit-state")
