"""Shampoo against a small independent float64 implementation of the algorithm, its checkpoints, its
refusals, its state's size, and the rotated valley where per-coordinate Adam slows down and it does not."""

from __future__ import annotations

import io
import itertools
import math

import pytest
import torch

import inertia
from inertia.optim.shampoo import Shampoo, shampoo_state_bytes

LETTERS = "abcdefgh"
SHAPES = [(5, 7), (5,), (3, 4, 2), ()]
CONFIGS = [
    dict(lr=0.05),
    dict(lr=0.05, max_precond_dim=4, momentum=0.9, nesterov=True, weight_decay=0.1, decoupled_weight_decay=False,
         grafting="sgd", epsilon=1e-6),
    dict(lr=0.02, max_precond_dim=2, betas=(0.0, 1.0), precondition_frequency=2, start_preconditioning_step=3,
         inv_root_override=2, weight_decay=0.05, epsilon=1e-8, grafting_beta2=0.99, grafting_epsilon=1e-6),
    dict(lr=0.03, max_precond_dim=3, betas=(0.8, 0.95), momentum=0.5, maximize=True, precondition_frequency=3),
]
DEFAULTS = dict(lr=1e-2, betas=(0.9, 0.999), epsilon=1e-12, momentum=0.0, nesterov=False, weight_decay=0.0,
                decoupled_weight_decay=True, max_precond_dim=1024, precondition_frequency=1,
                start_preconditioning_step=None, inv_root_override=0, grafting="adam", grafting_beta2=0.999,
                grafting_epsilon=1e-8, maximize=False)


# ------------------------------------------------------------------ the independent reference
def ref_blocks(shape: tuple[int, ...], size: int) -> list[tuple[slice, ...]]:
    """Every block of at most ``size`` per dimension, as slices."""
    per_dim = [[slice(start, min(start + size, n)) for start in range(0, n, size)] for n in shape]
    return [tuple(combo) for combo in itertools.product(*per_dim)]


def ref_statistics(block: torch.Tensor, dim: int) -> torch.Tensor:
    """The block contracted with itself over all dimensions but ``dim`` (G G^T, G^T G for a matrix)."""
    if block.ndim == 2:
        return block @ block.T if dim == 0 else block.T @ block
    left = LETTERS[:block.ndim]
    right = left.replace(left[dim], "z")
    return torch.einsum(f"{left},{right}->{left[dim]}z", block, block)


def ref_root(matrix: torch.Tensor, root: int, eps: float) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(matrix + eps * torch.eye(matrix.shape[0], dtype=torch.float64))
    return vectors @ torch.diag(values.clamp(min=eps) ** (-1.0 / root)) @ vectors.T


def ref_precondition(block: torch.Tensor, roots: list[torch.Tensor]) -> torch.Tensor:
    if block.ndim == 2:
        return roots[0] @ block @ roots[1]
    src = LETTERS[:block.ndim]
    out = "".join(chr(ord("p") + k) for k in range(block.ndim))
    spec = ",".join([src] + [src[k] + out[k] for k in range(block.ndim)])
    return torch.einsum(f"{spec}->{out}", block, *roots)


class ReferenceShampoo:
    """The algorithm, written out per parameter and block, in float64."""

    def __init__(self, params: list[torch.Tensor], **kwargs) -> None:
        self.hp = dict(DEFAULTS, **kwargs)
        self.params = params
        self.t = 0
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.buf = [torch.zeros_like(p) for p in params]
        self.factors, self.roots = {}, {}
        for i, p in enumerate(params):
            for b, slices in enumerate(ref_blocks(tuple(p.shape), self.hp["max_precond_dim"]) if p.ndim >= 2 else []):
                for k, s in enumerate(slices):
                    n = s.stop - s.start
                    self.factors[i, b, k] = torch.zeros(n, n, dtype=torch.float64)
                    self.roots[i, b, k] = torch.eye(n, dtype=torch.float64)

    def step(self, grads: list[torch.Tensor]) -> None:
        hp, self.t = self.hp, self.t + 1
        t, (beta1, beta2) = self.t, hp["betas"]
        start = hp["start_preconditioning_step"] or hp["precondition_frequency"]
        for i, (p, g) in enumerate(zip(self.params, grads, strict=True)):
            g = -g if hp["maximize"] else g
            if not hp["decoupled_weight_decay"]:
                g = g + hp["weight_decay"] * p
            blocks = ref_blocks(tuple(p.shape), hp["max_precond_dim"]) if p.ndim >= 2 else []
            for b, slices in enumerate(blocks):
                for k in range(p.ndim):
                    stats = ref_statistics(g[slices], k)
                    old = self.factors[i, b, k]
                    self.factors[i, b, k] = old + stats if beta2 == 1.0 else beta2 * old + (1 - beta2) * stats
            self.v[i] = hp["grafting_beta2"] * self.v[i] + (1 - hp["grafting_beta2"]) * g * g
            self.m[i] = beta1 * self.m[i] + (1 - beta1) * g
            filtered = self.m[i] / (1 - beta1**t) if beta1 > 0 else g
            if hp["grafting"] == "adam":
                graft = filtered / ((self.v[i] / (1 - hp["grafting_beta2"] ** t)).sqrt() + hp["grafting_epsilon"])
            else:
                graft = filtered
            root = hp["inv_root_override"] or 2 * p.ndim
            correction = 1.0 if beta2 == 1.0 else 1 - beta2**t
            if t % hp["precondition_frequency"] == 0:
                for b in range(len(blocks)):
                    for k in range(p.ndim):
                        self.roots[i, b, k] = ref_root(self.factors[i, b, k] / correction, root, hp["epsilon"])
            direction = graft.clone()
            if p.ndim >= 2 and t >= start:
                for b, slices in enumerate(blocks):
                    pre = ref_precondition(filtered[slices], [self.roots[i, b, k] for k in range(p.ndim)])
                    direction[slices] = pre * (graft[slices].norm() / pre.norm())
            if hp["decoupled_weight_decay"]:
                direction = direction + hp["weight_decay"] * p
            if hp["momentum"] > 0:
                self.buf[i] = hp["momentum"] * self.buf[i] + direction
                direction = direction + hp["momentum"] * self.buf[i] if hp["nesterov"] else self.buf[i]
            self.params[i] = p - hp["lr"] * direction


# ------------------------------------------------------------------ problems
def make_problem(dtype=torch.float64, seed: int = 0, coupled: bool = True):
    """Parameters of :data:`SHAPES` and a smooth loss (coupling them unless not ``coupled``)."""
    gen = torch.Generator().manual_seed(seed)
    start = [torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype) for shape in SHAPES]
    weights = [torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype) for shape in SHAPES]
    x = torch.randn(7, generator=gen, dtype=torch.float64).to(dtype)

    def loss(params: list[torch.Tensor]) -> torch.Tensor:
        total = sum(((p * w).sin().sum() + 0.5 * (p * p * w.abs()).sum()) for p, w in zip(params, weights, strict=True))
        if not coupled:
            return total
        return total + ((params[0] @ x) * params[1]).sum() + params[3] * params[2].sum()

    return start, loss


def run_inertia(start, loss, steps: int, **kwargs) -> tuple[list[torch.nn.Parameter], Shampoo]:
    params = [torch.nn.Parameter(p.clone()) for p in start]
    optimizer = Shampoo(params, **kwargs)
    advance(optimizer, params, loss, steps)
    return params, optimizer


def advance(optimizer, params, loss, steps: int) -> None:
    for _ in range(steps):
        optimizer.zero_grad()
        loss(params).backward()
        optimizer.step()


def run_reference(start, loss, steps: int, **kwargs) -> list[torch.Tensor]:
    reference = ReferenceShampoo([p.clone() for p in start], **kwargs)
    for _ in range(steps):
        current = [p.clone().requires_grad_(True) for p in reference.params]
        grads = torch.autograd.grad(loss(current), current)
        reference.step(list(grads))
    return reference.params


# ------------------------------------------------------------------ parity
@pytest.mark.parametrize("config", CONFIGS, ids=range(len(CONFIGS)))
def test_steps_equal_the_independent_reference_in_float64(config: dict) -> None:
    start, loss = make_problem()
    params, optimizer = run_inertia(start, loss, 7, **config)
    expected = run_reference(start, loss, 7, **config)
    for param, want in zip(params, expected, strict=True):
        torch.testing.assert_close(param.detach(), want, rtol=1e-9, atol=1e-11)
    assert optimizer.state[params[0]]["step"] == 7


def test_blocking_gives_one_factor_per_block_and_dimension_and_matters() -> None:
    start, loss = make_problem()
    blocked, optimizer = run_inertia(start, loss, 4, lr=0.05, max_precond_dim=4)
    sizes = [tuple(f.shape) for f in optimizer.state[blocked[0]]["factor_matrices"]]
    assert sizes == [(4, 4), (4, 4), (4, 4), (3, 3), (1, 1), (4, 4), (1, 1), (3, 3)]
    assert [tuple(f.shape) for f in optimizer.state[blocked[2]]["factor_matrices"]] == [(3, 3), (4, 4), (2, 2)]
    assert "factor_matrices" not in optimizer.state[blocked[1]] and "factor_matrices" not in optimizer.state[blocked[3]]
    whole, _ = run_inertia(start, loss, 4, lr=0.05)
    assert not torch.allclose(blocked[0], whole[0])
    # the 3-D tensor fits one block either way, and it and the scalar do not depend on the blocked matrix
    assert torch.equal(blocked[2], whole[2]) and torch.equal(blocked[3], whole[3])


def test_vectors_and_scalars_take_adams_step_and_matrices_do_not() -> None:
    start, loss = make_problem(coupled=False)
    params, _ = run_inertia(start, loss, 5, lr=0.05, betas=(0.9, 0.99), grafting_beta2=0.999)
    twins = [torch.nn.Parameter(p.clone()) for p in start]
    advance(inertia.Adam(twins, lr=0.05, betas=(0.9, 0.999), eps=1e-8), twins, loss, 5)
    torch.testing.assert_close(params[1], twins[1], rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(params[3], twins[3], rtol=1e-12, atol=1e-14)
    assert not torch.allclose(params[0], twins[0])


def test_before_start_preconditioning_step_every_parameter_takes_the_grafting_step() -> None:
    start, loss = make_problem()
    params, _ = run_inertia(start, loss, 4, lr=0.05, precondition_frequency=5)
    twins = [torch.nn.Parameter(p.clone()) for p in start]
    advance(inertia.Adam(twins, lr=0.05, eps=1e-8), twins, loss, 4)
    for param, twin in zip(params, twins, strict=True):
        torch.testing.assert_close(param, twin, rtol=1e-12, atol=1e-14)


def test_param_groups_step_with_their_own_settings() -> None:
    start, loss = make_problem(coupled=False)
    params = [torch.nn.Parameter(p.clone()) for p in start]
    optimizer = Shampoo([{"params": params[:2]}, {"params": params[2:], **CONFIGS[2]}], **CONFIGS[1])
    advance(optimizer, params, loss, 5)
    first = run_reference(start, loss, 5, **CONFIGS[1])
    second = run_reference(start, loss, 5, **CONFIGS[1] | CONFIGS[2])  # the group's values over the defaults
    for param, want in zip(params, first[:2] + second[2:], strict=True):
        torch.testing.assert_close(param.detach(), want, rtol=1e-9, atol=1e-11)


def test_a_tensor_lr_steps_as_its_value_and_the_registry_builds_the_class() -> None:
    start, loss = make_problem()
    with_float, _ = run_inertia(start, loss, 3, lr=0.05)
    with_tensor, _ = run_inertia(start, loss, 3, lr=torch.tensor(0.05, dtype=torch.float64))
    assert all(torch.equal(a, b) for a, b in zip(with_float, with_tensor, strict=True))
    assert isinstance(inertia.make_optimizer("shampoo", [torch.nn.Parameter(torch.ones(2, 2))]), inertia.Shampoo)


# ------------------------------------------------------------------ checkpoints
def saved_and_loaded(optimizer: Shampoo, params) -> Shampoo:
    buffer = io.BytesIO()
    torch.save(optimizer.state_dict(), buffer)
    buffer.seek(0)
    fresh = Shampoo(params, **{k: v for k, v in optimizer.defaults.items() if k not in ("nonfinite", "impl")})
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    return fresh


def flat_state(optimizer) -> list[torch.Tensor]:
    out = []
    for state in optimizer.state_dict()["state"].values():
        for key in sorted(state):
            value = state[key]
            out.extend(value if isinstance(value, list) else [value])
    return out


@pytest.mark.parametrize("config", CONFIGS, ids=range(len(CONFIGS)))
def test_state_dict_round_trips(config: dict) -> None:
    start, loss = make_problem()
    params, optimizer = run_inertia(start, loss, 3, **config)
    loaded = saved_and_loaded(optimizer, params)
    for saved, restored in zip(optimizer.state_dict()["param_groups"], loaded.state_dict()["param_groups"],
                               strict=True):
        assert saved == {key: restored[key] for key in saved}  # torch's loading adds differentiable=False
    before, after = flat_state(optimizer), flat_state(loaded)
    assert len(before) == len(after) and all(torch.equal(a, b) for a, b in zip(before, after, strict=True))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("config", CONFIGS, ids=range(len(CONFIGS)))
def test_resume_from_a_checkpoint_is_bit_exact(config: dict, dtype: torch.dtype) -> None:
    start, loss = make_problem(dtype)
    straight, _ = run_inertia(start, loss, 8, **config)
    halfway, optimizer = run_inertia(start, loss, 4, **config)
    resumed = [torch.nn.Parameter(p.detach().clone()) for p in halfway]
    advance(saved_and_loaded(optimizer, resumed), resumed, loss, 4)
    assert all(torch.equal(a, b) for a, b in zip(straight, resumed, strict=True))


# ------------------------------------------------------------------ policies and refusals
def test_nonfinite_raise_changes_nothing_and_skip_counts() -> None:
    start, loss = make_problem()
    params, optimizer = run_inertia(start, loss, 2, lr=0.05, nonfinite="raise")
    before, state_before = [p.detach().clone() for p in params], flat_state(optimizer)
    params[0].grad[1, 2] = math.nan
    with pytest.raises(inertia.NonFiniteGradientError, match="param group 0, index 0"):
        optimizer.step()
    assert all(torch.equal(a, b) for a, b in zip(before, params, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(state_before, flat_state(optimizer), strict=True))
    optimizer.param_groups[0]["nonfinite"] = "skip"
    optimizer.step()
    assert optimizer.skipped_steps == 1 and all(torch.equal(a, b) for a, b in zip(before, params, strict=True))


def test_a_changed_max_precond_dim_and_complex_parameters_are_refused_by_name() -> None:
    start, loss = make_problem()
    params, optimizer = run_inertia(start, loss, 1, lr=0.05)
    optimizer.param_groups[0]["max_precond_dim"] = 3
    with pytest.raises(ValueError, match=r"Invalid max_precond_dim: 3 \(the state of a parameter of size \(5, 7\)"):
        optimizer.step()
    weight = torch.nn.Parameter(torch.randn(2, 2, dtype=torch.complex64))
    weight.grad = torch.ones_like(weight)
    with pytest.raises(RuntimeError, match=r"Invalid params: entry 0 is a torch\.complex64 tensor \(Shampoo"):
        Shampoo([weight]).step()


# ------------------------------------------------------------------ memory
@pytest.mark.parametrize("config", CONFIGS, ids=range(len(CONFIGS)))
def test_state_bytes_is_what_the_state_holds(config: dict) -> None:
    start, loss = make_problem(torch.float32)
    _, optimizer = run_inertia(start, loss, 1, **config)
    held = sum(t.numel() * t.element_size() for t in flat_state(optimizer))
    assert optimizer.state_bytes() == held


def test_state_bytes_of_a_matrix_is_the_documented_formula() -> None:
    rows, cols, element = 6, 5, 4
    step_bytes = torch.empty(()).element_size()
    expected = step_bytes + element * (2 * (rows**2 + cols**2) + 2 * rows * cols)
    assert shampoo_state_bytes((rows, cols), torch.float32) == expected
    assert shampoo_state_bytes((rows,), torch.float32) == step_bytes + element * 2 * rows
    assert shampoo_state_bytes((rows, cols), torch.float32, betas=(0.0, 0.9), grafting="sgd") == (
        step_bytes + element * 2 * (rows**2 + cols**2))


# ------------------------------------------------------------------ the rotated valley
def spd(n: int, condition: float, rotation: torch.Tensor | None) -> torch.Tensor:
    diagonal = torch.diag(torch.logspace(0, math.log10(condition), n, dtype=torch.float64))
    return diagonal if rotation is None else rotation @ diagonal @ rotation.T


def steps_to_target(make, left: torch.Tensor, right: torch.Tensor, start: torch.Tensor, limit: int = 300) -> int:
    """Steps until ``0.5 tr(W^T A W B)`` falls below 1e-6 of its start value (``limit`` if never)."""
    weight = torch.nn.Parameter(start.clone())
    optimizer = make([weight])
    first = None
    for step in range(limit):
        optimizer.zero_grad()
        value = 0.5 * torch.trace(weight.T @ left @ weight @ right)
        first = value.item() if first is None else first
        if value.item() < 1e-6 * first:
            return step
        if not math.isfinite(value.item()) or value.item() > 1e6 * first:
            return limit
        value.backward()
        optimizer.step()
    return limit


def tuned_steps(make, left, right, start) -> int:
    return min(steps_to_target(lambda p, lr=lr: make(p, lr), left, right, start) for lr in (0.1, 10**-0.5, 1.0))


@pytest.mark.parametrize("seed", range(3))
def test_on_a_rotated_valley_shampoo_beats_adam_and_slows_down_less(seed: int) -> None:
    """``0.5 tr(W^T A W B)``, ``A`` and ``B`` of condition 100 each, axis-aligned or randomly rotated."""
    gen = torch.Generator().manual_seed(seed)
    rotations = [torch.linalg.qr(torch.randn(4, 4, generator=gen, dtype=torch.float64))[0] for _ in range(2)]
    start = torch.randn(4, 4, generator=gen, dtype=torch.float64)
    axis = (spd(4, 100.0, None), spd(4, 100.0, None))
    tilted = (spd(4, 100.0, rotations[0]), spd(4, 100.0, rotations[1]))
    makers = {"adam": lambda p, lr: inertia.Adam(p, lr=lr), "shampoo": lambda p, lr: Shampoo(p, lr=lr)}
    steps = {(name, kind): tuned_steps(make, *problem, start) for name, make in makers.items()
             for kind, problem in (("axis", axis), ("tilted", tilted))}
    assert steps["shampoo", "tilted"] < steps["adam", "tilted"], steps
    assert steps["shampoo", "tilted"] / steps["shampoo", "axis"] < steps["adam", "tilted"] / steps["adam", "axis"], steps


def test_with_sgd_grafting_a_rotation_of_the_problem_rotates_the_trajectory() -> None:
    gen = torch.Generator().manual_seed(1)
    rotation = torch.linalg.qr(torch.randn(4, 4, generator=gen, dtype=torch.float64))[0]
    left, right = spd(4, 30.0, None), spd(3, 10.0, None)
    start = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    plain, turned = torch.nn.Parameter(start.clone()), torch.nn.Parameter(rotation.T @ start)
    for weight, matrix in ((plain, left), (turned, rotation.T @ left @ rotation)):
        optimizer = Shampoo([weight], lr=0.1, grafting="sgd", momentum=0.5)
        advance(optimizer, [weight], lambda p, m=matrix: 0.5 * torch.trace(p[0].T @ m @ p[0] @ right), 10)
    # equal up to rounding, amplified by epsilon^(-1/4) along the rank-deficient factor's null space
    torch.testing.assert_close(rotation @ turned.detach(), plain.detach(), rtol=1e-7, atol=1e-9)


def test_a_complex_parameter_is_refused_before_any_parameter_steps() -> None:
    real = torch.nn.Parameter(torch.randn(2, 2))
    complex_ = torch.nn.Parameter(torch.randn(2, 2, dtype=torch.complex64))
    optimizer = inertia.Shampoo([real, complex_], lr=0.1)
    real.grad, complex_.grad = torch.ones_like(real), torch.ones_like(complex_)
    before = real.detach().clone()
    with pytest.raises(RuntimeError, match=r"Invalid params: entry 1 is a torch\.complex64 tensor"):
        optimizer.step()
    assert torch.equal(real.detach(), before) and not optimizer.state[real]
