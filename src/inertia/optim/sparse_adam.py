"""SparseAdam: Adam's moments and step applied only where a sparse gradient has values (torch.optim's
masked Adam for ``nn.Embedding(sparse=True)`` and other modules whose backward yields sparse gradients).

No fused kernels: the gradients are sparse, so every step takes the reference path, the rule's math on
the gradient's stored rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from torch import Tensor

from inertia.checks import check_flag, check_real
from inertia.optim.adagrad import sparse_like
from inertia.optim.base import FlatOptimizer, Group, State
from inertia.optim.layout import GroupLayout
from inertia.optim.validation import betas_value, check_betas, lr_value


def sparse_adam_update(
    param: Tensor, grad: Tensor, exp_avg: Tensor, exp_avg_sq: Tensor, *, step: float, lr: float | Tensor,
    beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, maximize: bool = False,
) -> None:
    r"""One SparseAdam step of a dense ``param`` with a sparse COO ``grad``, in place, in torch's order.

    On the coordinates :math:`S` that the coalesced gradient stores (and nowhere else):

    .. math::
        m_S \leftarrow m_S + (1-\beta_1)(g_S - m_S),\qquad
        v_S \leftarrow v_S + (1-\beta_2)(g_S^2 - v_S),\qquad
        p_S \leftarrow p_S - \eta\,\frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}\,\frac{m_S}{\sqrt{v_S} + \epsilon}

    ``step`` is :math:`t \geq 1`. A stored value counts even when it is zero; a gradient storing nothing
    changes nothing. A tensor ``lr`` makes the step size a tensor of its dtype, as in torch.
    """
    if maximize:
        grad = -grad
    grad = grad.coalesce()  # the update is not linear in g: each index once
    values = grad._values()
    if values.numel() == 0:
        return

    old_exp_avg = exp_avg.sparse_mask(grad)._values()
    exp_avg_change = values.sub(old_exp_avg).mul_(1 - beta1)
    exp_avg.add_(sparse_like(grad, exp_avg_change))
    old_exp_avg_sq = exp_avg_sq.sparse_mask(grad)._values()
    exp_avg_sq_change = values.pow(2).sub_(old_exp_avg_sq).mul_(1 - beta2)
    exp_avg_sq.add_(sparse_like(grad, exp_avg_sq_change))
    numerator = exp_avg_change.add_(old_exp_avg)  # the new m_S, without reading exp_avg back
    denominator = exp_avg_sq_change.add_(old_exp_avg_sq).sqrt_().add_(eps)
    step_size = lr * math.sqrt(1 - beta2**step) / (1 - beta1**step)
    param.add_(sparse_like(grad, numerator.div_(denominator).mul_(-step_size)))


def positive(name: str, value: Any) -> float:
    """A finite number > 0 (SparseAdam's ``eps``, as torch.optim.SparseAdam checks it)."""
    return check_real(name, value, above=0.0)


def positive_lr(name: str, value: Any) -> Any:
    """``lr`` as :func:`inertia.optim.validation.lr_value`, and > 0 (torch.optim.SparseAdam refuses 0)."""
    checked = lr_value(name, value)
    number = checked.item() if isinstance(checked, Tensor) else checked
    if not number > 0:
        raise ValueError(f"Invalid lr: {value!r} (SparseAdam needs lr > 0)")
    return checked


def check_dense_real_params(params: Iterable[Any]) -> None:
    """Raise ValueError, naming ``params`` and the indices, for sparse or complex parameters (as torch)."""
    tensors = [param for param in params if isinstance(param, Tensor)]
    sparse = [index for index, param in enumerate(tensors) if param.is_sparse]
    if sparse:
        raise ValueError(f"Invalid params: sparse params at indices {sparse} "
                         "(SparseAdam requires dense parameter tensors; their gradients are the sparse ones)")
    complex_ = [index for index, param in enumerate(tensors) if param.is_complex()]
    if complex_:
        raise ValueError(f"Invalid params: complex params at indices {complex_} "
                         "(SparseAdam does not support complex parameters)")


def _group_index(groups: list[Group], group: Group) -> int:
    return next(index for index, candidate in enumerate(groups) if candidate is group)


class SparseAdam(FlatOptimizer):
    r"""SparseAdam, a drop-in replacement for :class:`torch.optim.SparseAdam`.

    .. math::
        m_S \leftarrow \beta_1 m_S + (1-\beta_1) g_S,\quad
        v_S \leftarrow \beta_2 v_S + (1-\beta_2) g_S^2,\quad
        p_S \leftarrow p_S - \eta\,\frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}\,\frac{m_S}{\sqrt{v_S}+\epsilon}

    Adam masked to the coordinates :math:`S` a sparse gradient stores (:func:`sparse_adam_update`):
    the moments and parameters elsewhere stay as they are. Dense parameters with sparse gradients
    only (``nn.Embedding(sparse=True)``); a dense gradient raises RuntimeError, as torch.optim.
    Arguments and defaults as torch's (``lr=1e-3``, ``betas=(0.9, 0.999)``, ``eps=1e-8``,
    ``maximize=False``); ``lr`` and ``eps`` must be > 0. State keys ``step``, ``exp_avg`` and
    ``exp_avg_sq``; ``step`` is a Python int, as torch.optim.SparseAdam keeps it (so a checkpoint
    continues bit for bit in either library; a tensor ``step`` loaded from elsewhere becomes an int). No fused path: ``impl`` is accepted for a uniform
    interface and every value takes the reference step. Extra option: ``nonfinite`` (on the stored
    gradient values).

    Example:
        >>> import torch, inertia
        >>> table = torch.nn.Embedding(10, 3, sparse=True)
        >>> opt = inertia.SparseAdam(table.parameters(), lr=0.01)
        >>> table(torch.tensor([1, 4, 4])).sum().backward(); opt.step()
        >>> opt.state[table.weight]["step"]
        1

    Reference: Kingma & Ba (2015), "Adam: A Method for Stochastic Optimization"; torch.optim.SparseAdam.
    """

    state_keys = ("exp_avg", "exp_avg_sq")
    rule = None
    supports_sparse_grads = True
    group_checks = (("lr", positive_lr), ("betas", betas_value), ("eps", positive), ("maximize", check_flag))

    def __init__(
        self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8, maximize: bool = False, *, nonfinite: str = "ignore", impl: str = "auto",
        **options: Any,
    ) -> None:
        betas = check_betas(betas)
        defaults = dict(lr=lr, betas=betas, eps=eps, maximize=maximize, nonfinite=nonfinite, impl=impl)
        super().__init__(params, defaults, options)

    def _check_group(self, group: dict[str, Any]) -> None:
        """The hyperparameter checks, and every parameter dense and real."""
        super()._check_group(group)
        check_dense_real_params(group.get("params", ()))

    def init_state(self, param: Tensor, state: State, group: Group, layout: GroupLayout) -> None:
        """``step`` 0 (an int) and ``exp_avg``, ``exp_avg_sq`` zero, as torch.optim.SparseAdam on a first step."""
        state["step"] = 0
        for key in self.state_keys:
            state[key] = layout.fresh(key, param)

    def _adopt_state(self, group: dict[str, Any], layout: GroupLayout) -> None:
        """The base's adoption of state into flat buffers, with an int ``step`` kept an int (as torch's)."""
        steps = {param: self.state[param].pop("step") for param in group["params"]
                 if param in self.state and isinstance(self.state[param].get("step"), int)}
        super()._adopt_state(group, layout)
        for param, step in steps.items():
            self.state[param]["step"] = step

    def update_params(self, group: Group, params: list[Tensor]) -> None:
        """Refuse a dense gradient (RuntimeError, as torch, before any parameter of the group moves),
        then step each parameter with a gradient (a tensor ``lr`` is used as it is, as torch does)."""
        for index, param in enumerate(params):
            if param.grad is not None and not param.grad.is_sparse:
                raise RuntimeError(
                    "SparseAdam does not support dense gradients, please consider Adam instead "
                    f"(param group {_group_index(self.param_groups, group)}, index {index}: a dense grad of shape "
                    f"{tuple(param.grad.shape)})")
        layout = self.layout_of(group)
        for param in params:
            if param.grad is None:
                continue
            state = self.state[param]
            if not state:
                self.init_state(param, state, group, layout)
            self._update_param(param, param.grad, state, group, layout)

    def _update_param(self, param: Tensor, grad: Tensor, state: State, group: Group, layout: GroupLayout) -> None:
        state["step"] = int(state["step"]) + 1
        beta1, beta2 = group["betas"]
        sparse_adam_update(
            param, grad, state["exp_avg"], state["exp_avg_sq"], step=state["step"], lr=group["lr"],
            beta1=beta1, beta2=beta2, eps=group["eps"], maximize=group["maximize"],
        )
