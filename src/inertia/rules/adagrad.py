"""AdaGrad: per-coordinate step sizes from the sum of squared gradients."""

from __future__ import annotations

from torch import Tensor


def adagrad_update(
    param: Tensor,
    grad: Tensor,
    state_sum: Tensor,
    *,
    step: float,
    lr: float,
    lr_decay: float = 0.0,
    weight_decay: float = 0.0,
    eps: float = 1e-10,
    maximize: bool = False,
    eps_inside_sqrt: bool = False,
) -> None:
    r"""One AdaGrad step (Duchi, Hazan & Singer, 2011), in place.

    .. math::
        \eta_t = \frac{\eta}{1 + (t - 1)\,\delta},\qquad
        G \leftarrow G + g^2,\qquad
        p \leftarrow p - \eta_t \frac{g}{\sqrt{G} + \epsilon}

    ``step`` is :math:`t`, already incremented (1 on the first step). With
    ``eps_inside_sqrt`` the denominator is :math:`\sqrt{G + \epsilon}` (optax, Keras).
    Because :math:`G` only grows, each coordinate's effective step never grows: the rule
    can stop learning too early, which RMSprop's leaky average fixes.
    """
    if maximize:
        grad = -grad
    if weight_decay != 0:
        grad = grad.add(param, alpha=weight_decay)
    clr = lr / (1 + (step - 1) * lr_decay)
    state_sum.addcmul_(grad, grad, value=1)
    if eps_inside_sqrt:
        std = state_sum.add(eps).sqrt_()
    else:
        std = state_sum.sqrt().add_(eps)
    param.addcdiv_(grad, std, value=-clr)
