"""Stochastic gradient descent with momentum and Nesterov momentum."""

from __future__ import annotations

from torch import Tensor


def sgd_update(
    param: Tensor,
    grad: Tensor,
    momentum_buffer: Tensor | None,
    *,
    lr: float,
    momentum: float = 0.0,
    dampening: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    maximize: bool = False,
    first_step: bool = False,
    momentum_form: str = "torch",
) -> None:
    r"""One SGD step, in place on ``param`` and ``momentum_buffer``.

    Plain SGD (Robbins & Monro, 1951): :math:`p \leftarrow p - \eta g`, with
    :math:`g \leftarrow g + \lambda p` when ``weight_decay`` is :math:`\lambda > 0`.

    ``momentum_form="torch"`` (the default, as torch.optim; Sutskever et al., 2013):

    .. math::
        b \leftarrow \mu b + (1 - \tau) g \quad (b = g \text{ on the first step}),\qquad
        p \leftarrow p - \eta\,(g + \mu b \text{ if Nesterov else } b).

    ``momentum_form="velocity"`` (CS231n / Keras): the buffer holds a velocity
    :math:`v \leftarrow \mu v - \eta g`, then :math:`p \leftarrow p + v`, or for Nesterov
    :math:`p \leftarrow p - \mu v_{prev} + (1 + \mu) v`. Both forms give the same
    trajectory while :math:`\eta` is constant; under a schedule the torch form rescales the
    whole accumulated buffer by the new rate and the velocity form does not.
    """
    if maximize:
        grad = -grad
    if weight_decay != 0:
        grad = grad.add(param, alpha=weight_decay)
    if momentum == 0 or momentum_buffer is None:
        param.add_(grad, alpha=-lr)
        return
    if momentum_form == "velocity":
        previous = momentum_buffer.clone() if nesterov else None
        momentum_buffer.mul_(momentum).add_(grad, alpha=-lr)
        if previous is None:
            param.add_(momentum_buffer)
        else:
            param.add_(previous, alpha=-momentum).add_(momentum_buffer, alpha=1 + momentum)
        return
    if first_step:
        momentum_buffer.copy_(grad)
    else:
        momentum_buffer.mul_(momentum).add_(grad, alpha=1 - dampening)
    direction = grad.add(momentum_buffer, alpha=momentum) if nesterov else momentum_buffer
    param.add_(direction, alpha=-lr)
