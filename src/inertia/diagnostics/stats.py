"""Per-parameter statistics of one optimizer step, and their aggregation per layer or group.

Every statistic is a sum over coordinates, so a layer's (or a param group's) value is the sum
of its parameters' values. Sums are taken as squared norms with ``torch._foreach_norm`` (one
dispatch per quantity for all parameters), and all reductions of one sample are fetched with a
single host sync.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from inertia.diagnostics.adaptive import AdaptiveTerms, adaptive_terms
from inertia.diagnostics.optimizer_roles import FALLBACK_SECOND_MOMENT_KEYS

# Column order of the per-parameter statistics row.
COLUMNS = ("grad_sq", "weight_sq", "update_sq", "prev_update_sq", "update_dot", "nonfinite",
           "inv_eff_sum", "adaptive_coords", "eps_coords", "eff_grad_sq", "adaptive_grad_sq",
           "step_in_lr_sq", "mean_sq_sum")
__all__ = ["ADAPTIVE_KEYS", "COLUMNS", "AdaptiveTerms", "Sample", "adaptive_terms", "bucket_rows", "make_sample"]
ADAPTIVE_KEYS = FALLBACK_SECOND_MOMENT_KEYS


def _norms_sq(tensors: list[Tensor]) -> Tensor:
    """Squared L2 norm of each tensor, stacked (one foreach dispatch)."""
    return torch.stack(torch._foreach_norm(tensors)) ** 2


def _adaptive_columns(grads: list[Tensor], terms: list[AdaptiveTerms]) -> Tensor:
    """Per-parameter sums of an adaptive method, stacked as rows (denominator ``d``, statistic ``S``):
    ``sum d``, ``#(eps dominates)``, ``sum (g/d)^2``, ``sum S``, ``sum (g^2/d)^2``.

    About ten passes over the state, each one foreach dispatch for all parameters.
    """
    dtype = grads[0].dtype
    stat = list(torch._foreach_clamp_min([t.stat.to(dtype) for t in terms], 0.0))
    stat_sum = torch.stack(torch._foreach_norm(stat, 1)) * grads[0].new_tensor([t.scale for t in terms])
    torch._foreach_sqrt_(stat)
    if any(t.scale != 1.0 for t in terms):
        torch._foreach_mul_(stat, [math.sqrt(t.scale) for t in terms])
    root = stat  # sqrt(S)
    # eps dominates where sqrt(S) < eps (outside) or S < eps (inside): count via -sign(min(root - c, 0))
    below = torch._foreach_sub(root, [t.eps if not t.inside else math.sqrt(t.eps) for t in terms])
    torch._foreach_clamp_max_(below, 0.0)
    torch._foreach_sign_(below)
    inside = [i for i, t in enumerate(terms) if t.inside]
    if inside:
        squared = torch._foreach_mul([root[i] for i in inside], [root[i] for i in inside])
        torch._foreach_add_(squared, [terms[i].eps for i in inside])
        torch._foreach_sqrt_(squared)
        for i, d in zip(inside, squared, strict=True):
            root[i] = d
    outside = [i for i, t in enumerate(terms) if not t.inside]
    if outside:
        torch._foreach_add_([root[i] for i in outside], [terms[i].eps for i in outside])
    denom = root  # now d, in place
    scaled = torch._foreach_div(grads, denom)
    scaled_sq = _norms_sq(scaled)
    torch._foreach_mul_(scaled, grads)  # g^2 / d
    return torch.stack([torch.stack(torch._foreach_norm(denom, 1)), torch.stack(torch._foreach_norm(below, 1)),
                        scaled_sq, stat_sum, _norms_sq(scaled)])


def bucket_rows(params: list[Tensor], grads: list[Tensor | None], minus_update: list[Tensor],
                minus_prev: list[Tensor] | None, terms: list[AdaptiveTerms | None] | None) -> list[list[float]]:
    """Rows of :data:`COLUMNS` for parameters that share device and dtype (one host sync).

    ``minus_update`` and ``minus_prev`` hold ``before - after`` of this step and of the previous
    one per parameter (the sign cancels in every statistic); ``minus_prev`` is overwritten.
    ``terms`` (None: skip the adaptive statistics) comes from :func:`adaptive_terms`.
    """
    weights = [p.detach() for p in params]
    grad_list = [g.detach() if g is not None else torch.zeros_like(w) for w, g in zip(weights, grads, strict=True)]
    if weights[0].dtype in (torch.float16, torch.bfloat16):
        weights, grad_list = [w.float() for w in weights], [g.float() for g in grad_list]
        minus_update = [u.float() for u in minus_update]
        minus_prev = [u.float() for u in minus_prev] if minus_prev is not None else None
    n = len(params)
    lists = [*grad_list, *weights, *minus_update]
    if minus_prev is not None:
        lists += minus_prev
    parts = [torch.stack(torch._foreach_norm(lists))]  # one dispatch for these norms
    if minus_prev is not None:
        torch._foreach_add_(minus_prev, minus_update)  # in place: the previous update is not needed again
        parts[0] = torch.cat([parts[0], torch.stack(torch._foreach_norm(minus_prev))])
        lists += minus_prev
    adaptive_idx = [i for i, t in enumerate(terms or []) if t is not None]
    if adaptive_idx and terms is not None:
        parts.append(_adaptive_columns([grad_list[i] for i in adaptive_idx],
                                       [terms[i] for i in adaptive_idx]).reshape(-1))  # type: ignore[misc]
    values = torch.cat(parts).double().tolist() if len(parts) > 1 else parts[0].double().tolist()  # one sync
    squares = [v * v for v in values[:len(lists)]]
    if minus_prev is not None:
        # polarisation: u . v = (|u + v|^2 - |u|^2 - |v|^2) / 2
        squares += [(squares[4 * n + i] - squares[2 * n + i] - squares[3 * n + i]) / 2 for i in range(n)]
        squares = squares[:4 * n] + squares[5 * n:]
    else:
        squares += [0.0] * (2 * n)
    values = squares + values[len(lists):]
    n_adaptive = len(adaptive_idx)
    rows = []
    for i, param in enumerate(params):
        grad_sq, weight_sq, update_sq, prev_sq, dot = (values[k * n + i] for k in range(5))
        nonfinite = 0.0
        if not (math.isfinite(grad_sq) and math.isfinite(weight_sq)):
            g = grads[i]
            nonfinite = float((~torch.isfinite(param.detach())).sum()) + (
                float((~torch.isfinite(g)).sum()) if g is not None else 0.0)
        row = [grad_sq, weight_sq, update_sq, prev_sq, dot, nonfinite] + [0.0] * 7
        if i in adaptive_idx and terms is not None:
            term, j = terms[i], adaptive_idx.index(i)
            assert term is not None
            denom_sum, eps_count, scaled_sq, stat_sum, weighted_sq = (
                values[5 * n + k * n_adaptive + j] for k in range(5))
            g_sq = grad_sq
            row[6:] = [denom_sum / term.numerator if term.numerator > 0 else math.inf, float(param.numel()),
                       eps_count, term.numerator**2 * scaled_sq, g_sq, weighted_sq, term.mean_scale * stat_sum]
        rows.append(row)
    return rows


@dataclass
class Sample:
    """The statistics of one layer (``kind="layer"``) or param group (``kind="group"``) at one step.

    - ``update_ratio = ||delta w|| / ||w||`` (None when ``w = 0``);
    - ``update_cos``: cosine between this update and the previous step's;
    - ``eff_lr = ||eff * g|| / ||g||``: the effective learning rate of an adaptive method along
      the gradient; ``eff_step_hmean``: harmonic mean of its per-coordinate effective steps
      ``eff = numerator / d`` (``d`` the denominator);
    - ``step_fraction = sqrt(sum g^2 (g/d)^2 / sum g^2)``: the step in units of the numerator
      (the learning rate), an RMS weighted by gradient energy; 1 on AdaGrad's first step;
    - ``grad_to_history = ||g|| / sqrt(sum mean_sq)``: the gradient now relative to the RMS of the
      gradients the statistic has seen (near 1 when the slope has not flattened);
    - ``eps_share``: fraction of coordinates where eps dominates the denominator.
    """

    step: int
    scope: str
    kind: str
    num_params: int
    max_ndim: int
    grad_norm: float
    weight_norm: float
    update_norm: float
    update_ratio: float | None
    update_cos: float | None
    nonfinite: int
    eff_lr: float | None
    eff_step_hmean: float | None
    step_fraction: float | None
    grad_to_history: float | None
    eps_share: float | None
    state_key: str | None

    def as_dict(self) -> dict[str, Any]:
        """Plain-dict view (for JSON and tables); every field is a scalar, so a shallow copy is whole."""
        return dict(self.__dict__)


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


def _sqrt(value: float | None) -> float | None:
    return math.sqrt(max(value, 0.0)) if value is not None else None


def make_sample(step: int, scope: str, kind: str, totals: list[float], num_params: int, max_ndim: int,
                state_key: str | None) -> Sample:
    """Turn summed statistics (ordered as :data:`COLUMNS`) into a :class:`Sample`."""
    col = dict(zip(COLUMNS, totals, strict=True))
    weight_norm, update_norm = _sqrt(col["weight_sq"]) or 0.0, _sqrt(col["update_sq"]) or 0.0
    cos = _ratio(col["update_dot"], math.sqrt(col["update_sq"] * col["prev_update_sq"]))
    cos = max(-1.0, min(1.0, cos)) if cos is not None else None
    adaptive = col["adaptive_coords"] > 0
    grad_sq = col["adaptive_grad_sq"]
    eff_lr = _sqrt(_ratio(col["eff_grad_sq"], grad_sq)) if adaptive else None
    history = _ratio(grad_sq, col["mean_sq_sum"]) if adaptive else None
    return Sample(step=step, scope=scope, kind=kind, num_params=num_params, max_ndim=max_ndim,
                  grad_norm=math.sqrt(col["grad_sq"]) if col["grad_sq"] >= 0 else math.nan,
                  weight_norm=weight_norm, update_norm=update_norm, update_ratio=_ratio(update_norm, weight_norm),
                  update_cos=cos, nonfinite=int(col["nonfinite"]) if math.isfinite(col["nonfinite"]) else -1,
                  eff_lr=eff_lr,
                  eff_step_hmean=_ratio(col["adaptive_coords"], col["inv_eff_sum"]) if adaptive else None,
                  step_fraction=_sqrt(_ratio(col["step_in_lr_sq"], grad_sq)) if adaptive else None,
                  grad_to_history=math.sqrt(history) if history is not None else None,
                  eps_share=col["eps_coords"] / col["adaptive_coords"] if adaptive else None,
                  state_key=state_key if adaptive else None)
