"""Muon (Jordan et al., 2024): momentum orthogonalised by a Newton–Schulz iteration, for 2-D parameters.

torch.optim.Muon orthogonalises one matrix at a time. Here the matrices of a param group that share a
shape are stacked into one ``(k, m, n)`` tensor and go through one batched Newton–Schulz chain
(``torch.bmm`` / ``torch.baddbmm``, in bfloat16 as torch does), so each step costs one chain per
shape instead of one per matrix. :func:`muon_update` is the per-matrix reference, in torch's order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from inertia.checks import check_choice, check_flag, check_int, is_number
from inertia.optim.base import FlatOptimizer, Group, State
from inertia.optim.input_checks import refuse_complex_params
from inertia.optim.layout import GroupLayout
from inertia.optim.validation import lr_value, non_negative

#: torch.optim.Muon's Newton–Schulz coefficients (a, b, c), epsilon and number of iterations.
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
NS_EPS = 1e-7
NS_STEPS = 5
#: The accepted ``adjust_lr_fn`` values (None means ``"original"``).
ADJUST_LR_CHOICES = (None, "original", "match_rms_adamw")


def adjust_lr(lr: float | Tensor, adjust_lr_fn: str | None, shape: torch.Size | tuple[int, ...]) -> float | Tensor:
    """``lr`` scaled for a ``(A, B)`` matrix: ``sqrt(max(1, A / B))`` (``"original"`` or None) or
    ``0.2 * sqrt(max(A, B))`` (``"match_rms_adamw"``), as torch.optim.Muon."""
    rows, cols = shape[:2]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        return lr * math.sqrt(max(1, rows / cols))
    if adjust_lr_fn == "match_rms_adamw":
        return lr * 0.2 * math.sqrt(max(rows, cols))
    return lr


def newton_schulz(matrix: Tensor, coefficients: tuple[float, float, float], steps: int, eps: float) -> Tensor:
    """The orthogonalised ``matrix`` (2-D), one matrix at a time: torch.optim.Muon's iteration.

    ``X = bf16(G) / max(||X||_F, eps)`` (transposed first if tall), then ``steps`` times
    ``A = X X^T``, ``X = a X + (b A + c A^2) X``; the result, in bfloat16, has ``matrix``'s orientation.
    """
    a, b, c = coefficients
    tall = matrix.size(0) > matrix.size(1)
    ortho = matrix.bfloat16()
    if tall:
        ortho = ortho.T
    ortho.div_(ortho.norm().clamp(min=eps))
    for _ in range(steps):
        gram = ortho @ ortho.T
        polynomial = torch.addmm(gram, gram, gram, beta=b, alpha=c)
        ortho = torch.addmm(ortho, polynomial, ortho, beta=a)
    return ortho.T if tall else ortho


def newton_schulz_batched(stack: Tensor, coefficients: tuple[float, float, float], steps: int,
                          eps: float) -> Tensor:
    """:func:`newton_schulz` of every matrix of ``stack`` (``(k, m, n)``), as one batched chain.

    Tall matrices (``m > n``) are transposed as a whole stack; each matrix is divided by its own
    Frobenius norm; every product is a ``bmm`` / ``baddbmm`` over the stack.
    """
    a, b, c = coefficients
    tall = stack.size(1) > stack.size(2)
    ortho = stack.bfloat16()
    if tall:
        ortho = ortho.transpose(1, 2)
    norms = torch.linalg.vector_norm(ortho, dim=(1, 2), keepdim=True)
    ortho = ortho.div(norms.clamp(min=eps))
    for _ in range(steps):
        gram = torch.bmm(ortho, ortho.transpose(1, 2))
        polynomial = torch.baddbmm(gram, gram, gram, beta=b, alpha=c)
        ortho = torch.baddbmm(ortho, polynomial, ortho, beta=a)
    return ortho.transpose(1, 2) if tall else ortho


def orthogonalise_by_shape(directions: list[Tensor], coefficients: tuple[float, float, float], steps: int,
                           eps: float) -> list[Tensor]:
    """:func:`newton_schulz` of each of ``directions``, computed as one batched chain per (shape, device)
    (:func:`newton_schulz_batched` over the stacked matrices); the results in ``directions`` order."""
    by_shape: dict[tuple[tuple[int, ...], torch.device], list[int]] = {}
    for index, direction in enumerate(directions):
        by_shape.setdefault((tuple(direction.shape), direction.device), []).append(index)
    orthos: list[Tensor | None] = [None] * len(directions)
    for indices in by_shape.values():
        stack = torch.stack([directions[index] for index in indices])
        for index, ortho in zip(indices, newton_schulz_batched(stack, coefficients, steps, eps).unbind(0),
                                strict=True):
            orthos[index] = ortho
    return orthos  # type: ignore[return-value]


def momentum_direction(grad: Tensor, momentum_buffer: Tensor, momentum: float, nesterov: bool) -> Tensor:
    """Advance ``momentum_buffer`` (``B = mu B + (1 - mu) g``, in place) and return the direction to
    orthogonalise: ``g + mu (B - g)`` with ``nesterov``, else ``B`` itself."""
    momentum_buffer.lerp_(grad, 1 - momentum)
    return grad.lerp(momentum_buffer, momentum) if nesterov else momentum_buffer


def apply_orthogonal_step(param: Tensor, ortho: Tensor, *, lr: float | Tensor, weight_decay: float,
                          adjust_lr_fn: str | None) -> None:
    """Decoupled weight decay, then ``param -= adjust_lr(lr) * ortho``, in place (torch's order)."""
    param.mul_(1 - lr * weight_decay)
    param.add_(ortho, alpha=-adjust_lr(lr, adjust_lr_fn, param.shape))


def muon_update(
    param: Tensor, grad: Tensor, momentum_buffer: Tensor, *, lr: float, weight_decay: float = 0.1,
    momentum: float = 0.95, nesterov: bool = True,
    ns_coefficients: tuple[float, float, float] = NS_COEFFICIENTS, eps: float = NS_EPS,
    ns_steps: int = NS_STEPS, adjust_lr_fn: str | None = None,
) -> None:
    r"""One Muon step of one 2-D parameter, in place, in torch.optim.Muon's operation order.

    .. math::
        B \leftarrow \mu B + (1-\mu) g,\quad
        \tilde B = g + \mu (B - g)\ (\text{nesterov})\ \text{or}\ B,\quad
        \theta \leftarrow (1 - \gamma\lambda)\,\theta - \gamma' \, \mathrm{NS}(\tilde B)

    with :math:`\gamma'` = :func:`adjust_lr` of :math:`\gamma` for the parameter's shape.
    """
    direction = momentum_direction(grad, momentum_buffer, momentum, nesterov)
    ortho = newton_schulz(direction, ns_coefficients, ns_steps, eps)
    apply_orthogonal_step(param, ortho, lr=lr, weight_decay=weight_decay, adjust_lr_fn=adjust_lr_fn)


def coefficients_value(name: str, value: Any) -> tuple[float, float, float]:
    """The group entry ``ns_coefficients``: three real numbers."""
    if not (isinstance(value, (tuple, list)) and len(value) == 3 and all(map(is_number, value))):
        raise ValueError(f"Invalid {name}: {value!r} (must be a tuple of exactly 3 real numbers)")
    return tuple(float(v) for v in value)  # type: ignore[return-value]


def ns_steps_value(name: str, value: Any) -> int:
    """The group entry ``ns_steps``: an integer in [0, 99] (torch refuses 100 or more)."""
    return check_int(name, value, low=0, high=99)


def adjust_lr_fn_value(name: str, value: Any) -> str | None:
    """The group entry ``adjust_lr_fn``: None, ``"original"`` or ``"match_rms_adamw"``."""
    return check_choice(name, value, ADJUST_LR_CHOICES)


def check_matrices(params: Iterable[Any]) -> None:
    """Raise ValueError, naming ``params`` and the size, for a parameter that is not 2-D."""
    for param in params:
        if isinstance(param, Tensor) and param.ndim != 2:
            raise ValueError(f"Invalid params: a parameter of size {tuple(param.shape)} "
                             "(Muon supports 2-D parameters only; optimize the others with e.g. AdamW)")


class Muon(FlatOptimizer):
    r"""Muon, torch.optim.Muon's algorithm, with one batched Newton–Schulz chain per matrix shape.

    .. math::
        B_t = \mu B_{t-1} + (1-\mu) g_t,\quad
        \tilde B_t = \begin{cases} g_t + \mu (B_t - g_t) & \text{nesterov} \\ B_t & \text{else}\end{cases},\quad
        \theta_t = (1 - \gamma\lambda)\,\theta_{t-1} - \gamma'\,\mathrm{NS}^{(a,b,c)}_k(\tilde B_t; \varepsilon)

    :math:`\mathrm{NS}` is ``ns_steps`` quintic Newton–Schulz iterations in bfloat16 (see
    :func:`newton_schulz`); :math:`\gamma'` is :func:`adjust_lr` of ``lr`` for the parameter's shape.
    torch's defaults: ``lr=1e-3``, ``weight_decay=0.1``, ``momentum=0.95``, ``nesterov=True``,
    ``ns_coefficients=(3.4445, -4.7750, 2.0315)``, ``eps=1e-7``, ``ns_steps=5``,
    ``adjust_lr_fn=None``. Extra options: ``nonfinite``, ``impl`` (no fused path: every value
    takes the batched reference step). State: ``momentum_buffer`` (torch's key; no ``step``). Only 2-D
    parameters are accepted (a bias or an embedding goes to another optimizer). Each step, the
    matrices of a group with a gradient are grouped by shape and orthogonalised together with
    :func:`newton_schulz_batched`; the updates equal torch's within bfloat16 rounding.

    Example:
        >>> import torch
        >>> from inertia.optim.muon import Muon
        >>> layer = torch.nn.Linear(8, 4, bias=False)
        >>> opt = Muon(layer.parameters(), lr=0.02)
        >>> layer(torch.randn(16, 8)).pow(2).mean().backward(); opt.step()
        >>> sorted(opt.state[layer.weight])
        ['momentum_buffer']

    References: K. Jordan et al. (2024), "Muon: an optimizer for hidden layers in neural networks",
    kellerjordan.github.io/posts/muon; J. Liu et al. (2025), "Muon is Scalable for LLM Training",
    arXiv:2502.16982 (the ``match_rms_adamw`` adjustment).
    """

    state_keys = ("momentum_buffer",)
    rule = None
    group_checks = (("lr", lr_value), ("weight_decay", non_negative), ("momentum", non_negative),
                    ("nesterov", check_flag), ("ns_coefficients", coefficients_value), ("eps", non_negative),
                    ("ns_steps", ns_steps_value), ("adjust_lr_fn", adjust_lr_fn_value))

    def __init__(
        self, params: Iterable[Any], lr: float = 1e-3, weight_decay: float = 0.1, momentum: float = 0.95,
        nesterov: bool = True, ns_coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
        eps: float = NS_EPS, ns_steps: int = NS_STEPS, adjust_lr_fn: str | None = None, *,
        nonfinite: str = "ignore", impl: str = "auto", **options: Any,
    ) -> None:
        defaults = dict(lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov,
                        ns_coefficients=ns_coefficients, eps=eps, ns_steps=ns_steps,
                        adjust_lr_fn=adjust_lr_fn, nonfinite=nonfinite, impl=impl)
        super().__init__(params, defaults, options)

    def _check_group(self, group: dict[str, Any]) -> None:
        """The hyperparameter checks, and every parameter 2-D."""
        super()._check_group(group)
        check_matrices(group.get("params", ()))

    def init_state(self, param: Tensor, state: State, group: Group, layout: GroupLayout) -> None:
        """``momentum_buffer`` zero, as torch.optim.Muon creates it on a first step."""
        state["momentum_buffer"] = layout.fresh("momentum_buffer", param)

    def update_params(self, group: Group, params: list[Tensor]) -> None:
        """Advance every momentum buffer, orthogonalise the directions with one batched chain per shape,
        then apply weight decay and the step to each parameter (in ``params`` order). A tensor ``lr`` is
        used as it is (the decay factor and the adjusted rate are computed in its dtype, as torch does)."""
        refuse_complex_params(params, "Muon")
        layout = self.layout_of(group)
        lr = group["lr"]
        stepped = [param for param in params if param.grad is not None]
        directions: list[Tensor] = []
        for param in stepped:
            state = self.state.get(param)
            if not state:
                state = {}
                self.init_state(param, state, group, layout)
                self.state[param] = state
            directions.append(momentum_direction(param.grad, state["momentum_buffer"], group["momentum"],
                                                 group["nesterov"]))
        orthos = orthogonalise_by_shape(directions, group["ns_coefficients"], group["ns_steps"], group["eps"])
        for param, ortho in zip(stepped, orthos, strict=True):
            apply_orthogonal_step(param, ortho, lr=lr, weight_decay=group["weight_decay"],
                                  adjust_lr_fn=group["adjust_lr_fn"])
