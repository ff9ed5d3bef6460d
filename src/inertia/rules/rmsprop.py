"""RMSprop: AdaGrad with a leaky (exponentially decaying) cache."""

from __future__ import annotations

from torch import Tensor


def rmsprop_update(
    param: Tensor,
    grad: Tensor,
    square_avg: Tensor,
    grad_avg: Tensor | None,
    momentum_buffer: Tensor | None,
    *,
    lr: float,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    centered: bool = False,
    maximize: bool = False,
    eps_inside_sqrt: bool = False,
) -> None:
    r"""One RMSprop step (Tieleman & Hinton, 2012, Lecture 6.5), in place.

    .. math::
        s \leftarrow \alpha s + (1 - \alpha) g^2,\qquad
        d = \sqrt{s - \bar g^2 \text{ if centered else } s} + \epsilon,\qquad
        p \leftarrow p - \eta\, g / d

    Centered (Graves, 2013) keeps :math:`\bar g \leftarrow \alpha \bar g + (1-\alpha) g`.
    With momentum :math:`\mu > 0`: :math:`b \leftarrow \mu b + g/d`, :math:`p \leftarrow p - \eta b`.
    ``eps_inside_sqrt`` puts :math:`\epsilon` under the square root (Keras, optax).
    """
    if maximize:
        grad = -grad
    if weight_decay != 0:
        grad = grad.add(param, alpha=weight_decay)
    square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
    if centered:
        assert grad_avg is not None, "centered RMSprop needs grad_avg"
        grad_avg.lerp_(grad, 1 - alpha)
        variance = square_avg.addcmul(grad_avg, grad_avg, value=-1)
    else:
        variance = square_avg
    if eps_inside_sqrt:
        avg = variance.add(eps).sqrt_()
    else:
        avg = variance.sqrt() if variance is square_avg else variance.sqrt_()
        avg = avg.add_(eps)
    if momentum > 0:
        assert momentum_buffer is not None, "RMSprop with momentum needs momentum_buffer"
        momentum_buffer.mul_(momentum).addcdiv_(grad, avg)
        param.add_(momentum_buffer, alpha=-lr)
    else:
        param.addcdiv_(grad, avg, value=-lr)
