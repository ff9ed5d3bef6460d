"""Muon: parity with torch.optim.Muon, the batched Newton–Schulz chain, error inputs and state_dict.

Muon accepts 2-D parameters only, so it has no row in the shared table (whose parameters include
vectors and 3-D tensors); these tests cover the same ground on matrices.
"""

from __future__ import annotations

import copy

import pytest
import torch

from inertia.optim.muon import Muon, newton_schulz, newton_schulz_batched, orthogonalise_by_shape

#: Same-shape pairs (one batched chain each), a tall and a wide matrix, a square one and a lone shape.
SHAPES = [(8, 4), (4, 8), (16, 16), (8, 4), (4, 8), (5, 3), (16, 16), (1, 6)]
CONFIGS = [
    {},
    {"lr": 0.02, "momentum": 0.9, "nesterov": False},
    {"lr": 0.05, "weight_decay": 0.0, "adjust_lr_fn": "match_rms_adamw"},
    {"lr": 0.01, "adjust_lr_fn": "original", "ns_steps": 3, "eps": 1e-5, "ns_coefficients": (3.0, -4.0, 2.0)},
]


def matrices(dtype: torch.dtype = torch.float32, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=generator, dtype=dtype).requires_grad_() for shape in SHAPES]


def train(optimizer: torch.optim.Optimizer, params: list[torch.Tensor], steps: int, seed: int = 1) -> None:
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        for param in params:
            param.grad = torch.randn(param.shape, generator=generator, dtype=param.dtype)
        optimizer.step()


@pytest.mark.parametrize("kwargs", CONFIGS, ids=lambda kwargs: ",".join(kwargs) or "defaults")
def test_matches_torch_muon_in_float32(kwargs: dict) -> None:
    ours, theirs = matrices(), matrices()
    opt_ours, opt_theirs = Muon(ours, **kwargs), torch.optim.Muon(theirs, **kwargs)
    train(opt_ours, ours, 6)
    train(opt_theirs, theirs, 6)
    for mine, reference in zip(ours, theirs, strict=True):
        torch.testing.assert_close(mine, reference, atol=2e-3, rtol=2e-3)  # bfloat16 Newton–Schulz rounding
    for mine, reference in zip(ours, theirs, strict=True):
        torch.testing.assert_close(opt_ours.state[mine]["momentum_buffer"],
                                   opt_theirs.state[reference]["momentum_buffer"], atol=2e-3, rtol=2e-3)


def test_param_groups_and_tensor_lr_match_torch() -> None:
    ours, theirs = matrices(), matrices()
    groups = lambda params: [{"params": params[:4]}, {"params": params[4:], "lr": 0.03, "momentum": 0.8}]  # noqa: E731
    opt_ours = Muon(groups(ours), lr=torch.tensor(0.01))
    opt_theirs = torch.optim.Muon(groups(theirs), lr=torch.tensor(0.01))
    train(opt_ours, ours, 3)
    train(opt_theirs, theirs, 3)
    for mine, reference in zip(ours, theirs, strict=True):
        torch.testing.assert_close(mine, reference, atol=2e-3, rtol=2e-3)


def test_the_batched_chain_equals_the_per_matrix_chain() -> None:
    generator = torch.Generator().manual_seed(3)
    for shape in [(12, 5), (5, 12), (9, 9)]:
        stack = torch.randn(6, *shape, generator=generator)
        batched = newton_schulz_batched(stack, (3.4445, -4.7750, 2.0315), 5, 1e-7)
        assert batched.dtype == torch.bfloat16 and batched.shape == stack.shape
        for index in range(6):
            alone = newton_schulz_batched(stack[index:index + 1], (3.4445, -4.7750, 2.0315), 5, 1e-7)[0]
            assert torch.equal(batched[index], alone)  # same dtype, same order: bit-equal
            single = newton_schulz(stack[index], (3.4445, -4.7750, 2.0315), 5, 1e-7)
            torch.testing.assert_close(batched[index].float(), single.float(), atol=2e-2, rtol=2e-2)


def test_grouping_by_shape_keeps_the_order_and_batches_equal_singles() -> None:
    generator = torch.Generator().manual_seed(4)
    directions = [torch.randn(*shape, generator=generator) for shape in SHAPES]
    grouped = orthogonalise_by_shape(directions, (3.4445, -4.7750, 2.0315), 5, 1e-7)
    for direction, ortho in zip(directions, grouped, strict=True):
        assert ortho.shape == direction.shape
        assert torch.equal(ortho, orthogonalise_by_shape([direction], (3.4445, -4.7750, 2.0315), 5, 1e-7)[0])


def test_one_optimizer_over_many_matrices_equals_one_optimizer_per_matrix() -> None:
    together, apart = matrices(seed=5), matrices(seed=5)
    train(Muon(together, lr=0.02), together, 3)
    generator = torch.Generator().manual_seed(1)
    singles = [Muon([param], lr=0.02) for param in apart]
    for _ in range(3):
        for param in apart:
            param.grad = torch.randn(param.shape, generator=generator, dtype=param.dtype)
        for optimizer in singles:
            optimizer.step()
    # The same bf16 chain per matrix; a BLAS may block a batch of k matrices differently from a batch of one
    # (with MKL's SSE4.2 kernels it does), so the check is bf16 rounding, as against torch.optim.Muon.
    for batched, single in zip(together, apart, strict=True):
        torch.testing.assert_close(batched, single, rtol=0, atol=2e-3)


def test_defaults_and_state_keys_are_torchs() -> None:
    param = torch.zeros(3, 2, requires_grad=True)
    ours, theirs = Muon([param]), torch.optim.Muon([param])
    assert {k: v for k, v in ours.defaults.items() if k not in ("nonfinite", "impl")} == theirs.defaults
    param.grad = torch.ones(3, 2)
    ours.step()
    assert sorted(ours.state[param]) == ["momentum_buffer"]


@pytest.mark.parametrize("shape", [(4,), (2, 2, 2), ()])
def test_non_matrix_parameters_are_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"Invalid params: .*size \(") as caught:
        Muon([torch.zeros(shape, requires_grad=True)])
    assert str(tuple(shape)) in str(caught.value)
    optimizer = Muon([torch.zeros(2, 2, requires_grad=True)])
    with pytest.raises(ValueError, match="Invalid params"):
        optimizer.add_param_group({"params": [torch.zeros(shape, requires_grad=True)]})
    assert len(optimizer.param_groups) == 1


@pytest.mark.parametrize(("name", "value"), [
    ("lr", -1.0), ("lr", float("nan")), ("momentum", -0.5), ("weight_decay", -0.1), ("eps", -1.0),
    ("ns_steps", 100), ("ns_steps", -1), ("ns_steps", 2.5), ("nesterov", 1), ("adjust_lr_fn", "cubic"),
    ("ns_coefficients", (1.0, 2.0)), ("ns_coefficients", "abc"),
])
def test_bad_hyperparameters_name_the_argument_and_value(name: str, value: object) -> None:
    param = torch.zeros(2, 2, requires_grad=True)
    with pytest.raises(ValueError, match=f"Invalid {name}") as caught:
        Muon([param], **{name: value})
    assert repr(value) in str(caught.value) or str(value) in str(caught.value)
    optimizer = Muon([param])
    with pytest.raises(ValueError, match=name):
        optimizer.add_param_group({"params": [torch.zeros(2, 2, requires_grad=True)], name: value})


def test_complex_parameters_are_refused_at_step() -> None:
    param = torch.zeros(2, 2, dtype=torch.complex64, requires_grad=True)
    optimizer = Muon([param])
    param.grad = torch.ones(2, 2, dtype=torch.complex64)
    with pytest.raises(RuntimeError, match="complex"):
        optimizer.step()


@pytest.mark.parametrize("direction", ["torch_to_inertia", "inertia_to_torch"])
def test_state_dict_round_trip_with_torch(direction: str) -> None:
    first, second = (torch.optim.Muon, Muon) if direction == "torch_to_inertia" else \
        (Muon, torch.optim.Muon)
    params = matrices(seed=6)
    source = first(params, lr=0.02, momentum=0.9)
    train(source, params, 3)
    state = copy.deepcopy(source.state_dict())
    resumed_params = [p.detach().clone().requires_grad_() for p in params]
    target = second(resumed_params, lr=0.02, momentum=0.9)
    target.load_state_dict(state)
    for param, resumed in zip(params, resumed_params, strict=True):
        assert torch.equal(source.state[param]["momentum_buffer"], target.state[resumed]["momentum_buffer"])
    train(source, params, 2, seed=7)
    train(target, resumed_params, 2, seed=7)
    for param, resumed in zip(params, resumed_params, strict=True):
        torch.testing.assert_close(param, resumed, atol=2e-3, rtol=2e-3)
    assert sorted(target.state_dict()["state"][0]) == ["momentum_buffer"]
