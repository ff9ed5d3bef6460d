"""Adam and AdamW: momentum plus an RMSprop cache, with bias correction."""

from __future__ import annotations

from torch import Tensor


def adam_update(
    param: Tensor,
    grad: Tensor,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
    max_exp_avg_sq: Tensor | None,
    *,
    step: float,
    lr: float,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    decoupled_weight_decay: bool = False,
    amsgrad: bool = False,
    bias_correction: bool = True,
    maximize: bool = False,
    eps_mode: str = "outside",
) -> None:
    r"""One Adam step (Kingma & Ba, 2015), in place. ``step`` is :math:`t \geq 1`.

    .. math::
        m \leftarrow \beta_1 m + (1-\beta_1) g,\qquad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2,\qquad
        p \leftarrow p - \frac{\eta}{1-\beta_1^t}\,
            \frac{m}{\sqrt{v}/\sqrt{1-\beta_2^t} + \epsilon}

    - ``bias_correction=False`` drops both :math:`1-\beta^t` factors: the notes'
      uncorrected Adam. Because :math:`m` and :math:`v` start at 0, its first update is
      :math:`\eta(1-\beta_1)/\sqrt{1-\beta_2} \approx 3.16\,\eta` per coordinate with the
      default betas, instead of :math:`\eta`: the first steps are too large.
    - ``amsgrad`` (Reddi et al., 2018) uses the running maximum of :math:`v`.
    - ``weight_decay``: L2 (added to :math:`g`), or decoupled (AdamW, Loshchilov &
      Hutter, 2019): :math:`p \leftarrow p(1 - \eta\lambda)` before the update.
    - ``eps_mode``: ``"outside"`` as above (torch); ``"inside"``:
      :math:`\hat m / \sqrt{\hat v + \epsilon}` (optax's ``eps_root``);
      ``"hat"``: TF/Keras "epsilon hat",
      :math:`p \leftarrow p - \eta\frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}\frac{m}{\sqrt{v}+\epsilon}`.
    """
    if maximize:
        grad = -grad
    if weight_decay != 0:
        if decoupled_weight_decay:
            param.mul_(1 - lr * weight_decay)
        else:
            grad = grad.add(param, alpha=weight_decay)
    exp_avg.lerp_(grad, 1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    if bias_correction:
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
    else:
        bias_correction1 = bias_correction2 = 1.0
    second_moment = exp_avg_sq
    if amsgrad:
        assert max_exp_avg_sq is not None, "amsgrad needs max_exp_avg_sq"
        max_exp_avg_sq.copy_(max_exp_avg_sq.maximum(exp_avg_sq))
        second_moment = max_exp_avg_sq
    step_size = lr / bias_correction1
    bias_correction2_sqrt = bias_correction2**0.5
    if eps_mode == "hat":
        denom = second_moment.sqrt().add_(eps)
        step_size = step_size * bias_correction2_sqrt
    elif eps_mode == "inside":
        denom = (second_moment / bias_correction2).add_(eps).sqrt_()
    else:
        denom = (second_moment.sqrt() / bias_correction2_sqrt).add_(eps)
    param.addcdiv_(exp_avg, denom, value=-step_size)
