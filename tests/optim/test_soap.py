"""SOAP: parity with an independent float64 implementation of the paper's algorithm, state dicts, resume,
error inputs, memory, and the rotated valley where it beats Adam.

SOAP has no torch.optim twin of its name, so it has no row in the shared table; these tests cover that
ground on their own.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

import inertia
from inertia.optim.soap import SOAP, soap_state_bytes
from inertia.optim.soap_basis import merged_shape, rotate

#: A square matrix (both sides preconditioned), a wide one whose 6 columns exceed max_precond_dim=4
#: (right side identity), a 3-D tensor (a factor per mode), a vector and a scalar (plain Adam).
SHAPES = [(4, 4), (3, 6), (2, 3, 4), (5,), ()]
SMALL = dict(lr=0.01, max_precond_dim=4, precondition_frequency=3)
CONFIGS = [
    SMALL,
    dict(SMALL, betas=(0.9, 0.99), shampoo_beta=0.8, eps=1e-6, weight_decay=0.0, normalize_grads=True,
         correct_bias=False),
]
STEPS = 8  # Adam steps 1..7 after the factor-only first step: bases refreshed at Adam steps 3 and 6


class PaperSOAP:
    """The paper's algorithm for one tensor, in numpy float64: for a matrix, Adam on ``Q_L^T G Q_R`` with
    ``L``, ``R`` moving averages of ``G G^T`` and ``G^T G`` (for a tensor, one factor per mode, of the
    gradient unfolded along it); the first call fills the factors and takes ``eigh``; every
    ``frequency``-th Adam step re-sorts each basis by ``diag(Q^T F Q)`` and takes ``qr(F Q)``. A vector or
    a scalar keeps no factor (plain Adam)."""

    def __init__(self, shape: tuple[int, ...], *, lr: float, betas=(0.95, 0.95), shampoo_beta: float = -1,
                 eps: float = 1e-8, weight_decay: float = 0.01, precondition_frequency: int = 10,
                 max_precond_dim: int = 10000, normalize_grads: bool = False, correct_bias: bool = True) -> None:
        self.lr, (self.beta1, self.beta2), self.eps, self.decay = lr, betas, eps, weight_decay
        self.factor_beta = shampoo_beta if shampoo_beta >= 0 else betas[1]
        self.frequency, self.normalize, self.correct = precondition_frequency, normalize_grads, correct_bias
        self.factors = [np.zeros((size, size)) if len(shape) > 1 and size <= max_precond_dim else None
                        for size in shape]
        self.bases: list = [None] * len(shape)
        self.m, self.v, self.t, self.started = np.zeros(shape), np.zeros(shape), 0, False

    @staticmethod
    def unfold(x: np.ndarray, mode: int) -> np.ndarray:
        return np.moveaxis(x, mode, 0).reshape(x.shape[mode], -1)

    @staticmethod
    def mode_product(x: np.ndarray, matrix: np.ndarray, mode: int) -> np.ndarray:
        return np.moveaxis(np.tensordot(matrix, np.moveaxis(x, mode, 0), axes=1), 0, mode)

    def into(self, x: np.ndarray) -> np.ndarray:
        for mode, basis in enumerate(self.bases):
            x = x if basis is None else self.mode_product(x, basis.T, mode)
        return x

    def out_of(self, x: np.ndarray) -> np.ndarray:
        for mode, basis in enumerate(self.bases):
            x = x if basis is None else self.mode_product(x, basis, mode)
        return x

    def accumulate(self, g: np.ndarray) -> None:
        b = self.factor_beta
        for mode, factor in enumerate(self.factors):
            if factor is not None:
                unfolded = self.unfold(g, mode)
                self.factors[mode] = b * factor + (1 - b) * (unfolded @ unfolded.T)

    def step(self, w: np.ndarray, g: np.ndarray) -> np.ndarray:
        if not self.started:
            self.accumulate(g)
            self.bases = [None if f is None else np.linalg.eigh(f)[1][:, ::-1] for f in self.factors]
            self.started = True
            return w
        rotated = self.into(g)
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * rotated
        self.v = self.beta2 * self.v + (1 - self.beta2) * rotated**2
        u = self.out_of(self.m / (np.sqrt(self.v) + self.eps))
        if self.normalize:
            u = u / (1e-30 + np.sqrt(np.mean(u**2)))
        size = self.lr * math.sqrt(1 - self.beta2**self.t) / (1 - self.beta1**self.t) if self.correct else self.lr
        w = w - size * u
        w = w - self.lr * self.decay * w
        self.accumulate(g)
        if self.t % self.frequency == 0:
            self.refresh()
        return w

    def refresh(self) -> None:
        first = self.out_of(self.m)
        for mode, (factor, basis) in enumerate(zip(self.factors, self.bases, strict=True)):
            if factor is None:
                continue
            order = np.argsort(-np.diag(basis.T @ factor @ basis), kind="stable")
            self.v = np.take(self.v, order, axis=mode)
            self.bases[mode] = np.linalg.qr(factor @ basis[:, order])[0]
        self.m = self.into(first)


def make_params(shapes, seed: int = 0, dtype=torch.float64) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=generator, dtype=dtype).requires_grad_() for shape in shapes]


def gradients(shapes, steps: int, seed: int = 1, dtype=torch.float64) -> list[list[torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    return [[torch.randn(shape, generator=generator, dtype=dtype) for shape in shapes] for _ in range(steps)]


def run(optimizer: torch.optim.Optimizer, params: list[torch.Tensor], grads: list[list[torch.Tensor]]) -> None:
    for step_grads in grads:
        for param, grad in zip(params, step_grads, strict=True):
            param.grad = grad.clone()
        optimizer.step()


@pytest.mark.parametrize("config", CONFIGS, ids=["small", "options"])
def test_matches_the_papers_algorithm_in_float64_across_basis_refreshes(config: dict) -> None:
    params, grads = make_params(SHAPES), gradients(SHAPES, STEPS)
    references = [PaperSOAP(shape, **config) for shape in SHAPES]
    weights = [param.detach().numpy().copy() for param in params]
    optimizer = SOAP(params, **config)
    run(optimizer, params, grads)
    for step_grads in grads:
        weights = [ref.step(w, g.numpy()) for ref, w, g in zip(references, weights, step_grads, strict=True)]
    for param, weight, reference in zip(params, weights, references, strict=True):
        np.testing.assert_allclose(param.detach().numpy(), weight, rtol=1e-10, atol=1e-12)
        state = optimizer.state[param]
        assert state["step"].item() == reference.t == STEPS - 1
        first = rotate(state["exp_avg"].view(param.shape), state["eigenbases"], back=True)
        np.testing.assert_allclose(first.numpy(), reference.out_of(reference.m), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(state["exp_avg_sq"].numpy(), reference.v, rtol=1e-9, atol=1e-12)
    wide = optimizer.state[params[1]]
    assert wide["factors"][1] is None and wide["eigenbases"][1] is None  # 6 > max_precond_dim: identity
    assert [tuple(f.shape) for f in optimizer.state[params[2]]["factors"]] == [(2, 2), (3, 3), (4, 4)]


def test_merge_dims_preconditions_the_merged_matrix() -> None:
    shape, limit = (2, 3, 4), 6
    merged = merged_shape(shape, limit)
    assert merged == (shape[0] * shape[1], shape[2])
    params, grads = make_params([shape]), gradients([shape], STEPS)
    flat = [params[0].detach().reshape(merged).clone().requires_grad_()]
    config = dict(lr=0.01, max_precond_dim=limit, precondition_frequency=3)
    run(SOAP(params, merge_dims=True, **config), params, grads)
    run(SOAP(flat, **config), flat, [[g.reshape(merged) for g in step] for step in grads])
    torch.testing.assert_close(params[0].detach().reshape(merged), flat[0].detach(), rtol=1e-12, atol=1e-12)


def test_a_vector_is_plain_adam_unless_precondition_1d() -> None:
    shapes = [(5,)]
    plain, rotated = make_params(shapes), make_params(shapes)
    grads = gradients(shapes, STEPS)
    run(SOAP(plain, lr=0.01), plain, grads)
    optimizer = SOAP(rotated, lr=0.01, precondition_1d=True, precondition_frequency=3)
    run(optimizer, rotated, grads)
    reference = PaperSOAP(shapes[0], lr=0.01)
    weight = make_params(shapes)[0].detach().numpy()
    for step_grads in grads:
        weight = reference.step(weight, step_grads[0].numpy())
    np.testing.assert_allclose(plain[0].detach().numpy(), weight, rtol=1e-10, atol=1e-12)
    assert tuple(optimizer.state[rotated[0]]["factors"][0].shape) == (5, 5)
    assert not torch.allclose(plain[0], rotated[0])


def test_param_groups_take_their_own_values() -> None:
    shapes = [(4, 4), (3, 3)]
    params, alone = make_params(shapes), make_params(shapes)
    grads = gradients(shapes, STEPS)
    run(SOAP([{"params": params[:1]}, {"params": params[1:], "lr": 0.05, "betas": (0.9, 0.9)}], lr=0.01),
        params, grads)
    run(SOAP(alone[1:], lr=0.05, betas=(0.9, 0.9)), alone[1:], [step[1:] for step in grads])
    torch.testing.assert_close(params[1], alone[1], rtol=0, atol=0)


def test_state_dict_round_trips_and_resume_is_bit_exact() -> None:
    shapes = [(4, 4), (3, 6), (5,)]
    grads = gradients(shapes, 12, dtype=torch.float32)
    straight = make_params(shapes, dtype=torch.float32)
    config = dict(lr=0.01, max_precond_dim=4, precondition_frequency=3)
    run(SOAP(straight, **config), straight, grads)
    first = make_params(shapes, dtype=torch.float32)
    optimizer = SOAP(first, **config)
    run(optimizer, first, grads[:5])
    saved = copy.deepcopy(optimizer.state_dict())
    resumed = [param.detach().clone().requires_grad_() for param in first]
    fresh = SOAP(resumed, **config)
    fresh.load_state_dict(saved)
    again = fresh.state_dict()
    for key, value in saved["state"].items():
        assert again["state"][key].keys() == value.keys()
        for name in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(again["state"][key][name], value[name])
        for name in ("factors", "eigenbases"):
            for mine, theirs in zip(again["state"][key][name], value[name], strict=True):
                assert (mine is None and theirs is None) or torch.equal(mine, theirs)
    run(fresh, resumed, grads[5:])
    for param, reference in zip(resumed, straight, strict=True):
        assert torch.equal(param, reference)


def test_state_bytes_counts_the_state_it_keeps() -> None:
    shapes = [(4, 4), (3, 6), (5,)]
    params = make_params(shapes, dtype=torch.float32)
    optimizer = SOAP(params, max_precond_dim=4)
    run(optimizer, params, gradients(shapes, 2, dtype=torch.float32))
    kept = 0
    for param in params:
        state = optimizer.state[param]
        tensors = [state["step"], state["exp_avg"], state["exp_avg_sq"],
                   *(t for t in (*state["factors"], *state["eigenbases"]) if t is not None)]
        kept += sum(t.numel() * t.element_size() for t in tensors)
    assert optimizer.state_bytes() == kept
    rows, cols = 7, 9
    matrix = soap_state_bytes((rows, cols)) - soap_state_bytes(())
    assert matrix == 4 * (2 * rows * cols + 2 * rows**2 + 2 * cols**2) - 4 * 2


@pytest.mark.parametrize("policy", ["raise", "skip"])
def test_nonfinite_gradients_leave_everything_untouched(policy: str) -> None:
    shapes = [(4, 4), (5,)]
    params = make_params(shapes)
    optimizer = SOAP(params, lr=0.01, nonfinite=policy)
    run(optimizer, params, gradients(shapes, 3))
    before = copy.deepcopy(optimizer.state_dict()), [param.detach().clone() for param in params]
    params[0].grad = torch.full((4, 4), float("nan"), dtype=torch.float64)
    params[1].grad = torch.ones(5, dtype=torch.float64)
    if policy == "raise":
        with pytest.raises(inertia.NonFiniteGradientError, match="param group 0, index 0"):
            optimizer.step()
    else:
        optimizer.step()
        assert optimizer.skipped_steps == 1
    for param, value in zip(params, before[1], strict=True):
        assert torch.equal(param.detach(), value)
    assert torch.equal(optimizer.state_dict()["state"][0]["exp_avg"], before[0]["state"][0]["exp_avg"])


BAD_ARGUMENTS = [
    ({"lr": -1.0}, "Invalid lr: -1.0"),
    ({"betas": (1.0, 0.9)}, r"Invalid betas: \(1.0, 0.9\)"),
    ({"shampoo_beta": 1.0}, "Invalid shampoo_beta: 1.0"),
    ({"shampoo_beta": float("nan")}, "Invalid shampoo_beta: nan"),
    ({"eps": -1e-8}, "Invalid eps: -1e-08"),
    ({"weight_decay": -0.1}, "Invalid weight_decay: -0.1"),
    ({"precondition_frequency": 0}, "Invalid precondition_frequency: 0"),
    ({"precondition_frequency": 2.5}, "Invalid precondition_frequency: 2.5"),
    ({"max_precond_dim": 0}, "Invalid max_precond_dim: 0"),
    ({"merge_dims": 1}, "Invalid merge_dims: 1"),
    ({"precondition_1d": "no"}, "Invalid precondition_1d: 'no'"),
    ({"normalize_grads": None}, "Invalid normalize_grads: None"),
    ({"correct_bias": 0}, "Invalid correct_bias: 0"),
    ({"nonfinite": "warn"}, "nonfinite"),
    ({"data_format": "channels_last"}, "data_format='channels_last'"),
    ({"differentiable": True}, "Invalid differentiable: True"),
]


@pytest.mark.parametrize("kwargs, message", BAD_ARGUMENTS, ids=[next(iter(k)) for k, _ in BAD_ARGUMENTS])
def test_bad_arguments_are_refused_by_name(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SOAP(make_params([(2, 2)]), **kwargs)
    optimizer = SOAP(make_params([(2, 2)]))
    if next(iter(kwargs)) not in ("data_format",):
        with pytest.raises(ValueError, match=message):
            optimizer.add_param_group({"params": make_params([(3,)]), **kwargs})
        assert len(optimizer.param_groups) == 1


def test_complex_parameters_and_changed_factor_settings_are_refused() -> None:
    param = torch.zeros(2, 2, dtype=torch.complex64, requires_grad=True)
    param.grad = torch.ones_like(param)
    with pytest.raises(RuntimeError, match="Invalid params: entry 0 is a torch.complex64 tensor"):
        SOAP([param]).step()
    params = make_params([(4, 4)])
    optimizer = SOAP(params)
    run(optimizer, params, gradients([(4, 4)], 1))
    optimizer.param_groups[0]["max_precond_dim"] = 3
    with pytest.raises(ValueError, match="Invalid max_precond_dim: 3"):
        run(optimizer, params, gradients([(4, 4)], 1))
    with pytest.raises(ValueError, match="Invalid shape: -2"):
        soap_state_bytes((3, -2))


def steps_to_target(angle: float, make, lr: float, limit: int = 300) -> int:
    """Steps until ``0.5 sum_j w_j^T A w_j`` over the 8 columns of a 2 x 8 parameter falls below 1e-4 of its
    start (``limit`` if never), ``A`` the valley ``diag(1, 100)`` rotated by ``angle``."""
    cos, sin = math.cos(angle), math.sin(angle)
    rotation = torch.tensor([[cos, -sin], [sin, cos]], dtype=torch.float64)
    curvature = rotation @ torch.diag(torch.tensor([1.0, 100.0], dtype=torch.float64)) @ rotation.T
    weight = torch.randn(2, 8, generator=torch.Generator().manual_seed(3), dtype=torch.float64).requires_grad_()
    optimizer = make([weight], lr)
    start = None
    for step in range(limit):
        optimizer.zero_grad()
        loss = 0.5 * (weight * (curvature @ weight)).sum()
        start = loss.item() if start is None else start
        if loss.item() < 1e-4 * start:
            return step
        loss.backward()
        optimizer.step()
    return limit


def tuned_steps(angle: float, make) -> int:
    """The fewest steps to the target over a grid of learning rates."""
    return min(steps_to_target(angle, make, lr) for lr in (1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1))


def test_on_a_rotated_valley_soap_beats_adam() -> None:
    adam = lambda params, lr: inertia.Adam(params, lr=lr)  # noqa: E731
    # The basis is refreshed every step: with a refresh every 5 steps, the aligned run's count depends on the
    # BLAS's rounding (29 or 57 steps under MKL's SSE4.2 or AVX-512 kernels), the tilted one's does not.
    soap = lambda params, lr: SOAP(params, lr=lr, betas=(0.9, 0.999), weight_decay=0.0,  # noqa: E731
                                   precondition_frequency=1)
    tilted = math.pi / 4
    adam_aligned, adam_tilted = tuned_steps(0.0, adam), tuned_steps(tilted, adam)
    soap_aligned, soap_tilted = tuned_steps(0.0, soap), tuned_steps(tilted, soap)
    assert adam_tilted > adam_aligned  # the premise: rotation slows the diagonal method
    assert soap_tilted < adam_tilted
    assert soap_tilted / soap_aligned < adam_tilted / adam_aligned  # and SOAP loses less to the rotation


def test_eigh_that_does_not_converge_is_retried_in_float64(monkeypatch) -> None:
    original, calls = torch.linalg.eigh, []

    def float32_fails(matrix: torch.Tensor):
        calls.append(matrix.dtype)
        if matrix.dtype == torch.float32:
            raise torch.linalg.LinAlgError("did not converge")
        return original(matrix)

    params = make_params([(3, 3)], dtype=torch.float32)
    optimizer = SOAP(params)
    monkeypatch.setattr(torch.linalg, "eigh", float32_fails)
    run(optimizer, params, gradients([(3, 3)], 1, dtype=torch.float32))
    assert calls == [torch.float32, torch.float64, torch.float32, torch.float64]
    bases = optimizer.state[params[0]]["eigenbases"]
    assert all(basis.dtype == torch.float32 for basis in bases)
    eye = torch.eye(3)
    for basis in bases:
        torch.testing.assert_close(basis.T @ basis, eye)


def test_bfloat16_parameters_keep_bfloat16_state_and_decompose_in_float32() -> None:
    shapes = [(4, 3)]
    params = make_params(shapes, dtype=torch.bfloat16)
    optimizer = SOAP(params, lr=0.01, precondition_frequency=2)
    run(optimizer, params, gradients(shapes, 6, dtype=torch.bfloat16))
    state = optimizer.state[params[0]]
    assert state["step"].item() == 5
    assert all(t.dtype == torch.bfloat16 for t in (*state["factors"], *state["eigenbases"], state["exp_avg"]))
    assert torch.isfinite(params[0]).all()
