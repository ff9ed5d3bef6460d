"""``inertia.AdamW``: Adam with decoupled weight decay (the rule and its kernels are :mod:`inertia.optim.adam`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from inertia.optim.adam import Adam


class AdamW(Adam):
    r"""AdamW: Adam with decoupled weight decay, a drop-in for :class:`torch.optim.AdamW`.

    Before each Adam update, :math:`p \leftarrow p\,(1 - \eta\lambda)` with
    ``weight_decay`` :math:`\lambda` (default 1e-2, as torch). Accepts every option of
    :class:`Adam`.

    Example:
        >>> import torch, inertia
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = inertia.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
        >>> model(torch.randn(8, 4)).pow(2).mean().backward(); opt.step()

    Reference: Loshchilov & Hutter (2019), "Decoupled Weight Decay Regularization".
    """

    #: Values every param group holds, whatever a loaded state dict says (as torch.optim.AdamW).
    forced_group_values: ClassVar[dict[str, Any]] = {"decoupled_weight_decay": True}

    def __init__(
        self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, bias_correction: bool = True,
        maximize: bool = False, **kwargs: Any,
    ) -> None:
        if "decoupled_weight_decay" in kwargs and not kwargs["decoupled_weight_decay"]:
            raise ValueError("Invalid decoupled_weight_decay: False (AdamW always decouples; use Adam)")
        kwargs.pop("decoupled_weight_decay", None)
        super().__init__(
            params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
            bias_correction=bias_correction, decoupled_weight_decay=True, maximize=maximize, **kwargs,
        )

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        if not group["decoupled_weight_decay"]:
            raise ValueError(f"Invalid decoupled_weight_decay: {group['decoupled_weight_decay']!r} "
                             "(AdamW always decouples; use Adam)")

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore (or load) state; every group decouples its weight decay, as in torch.optim.AdamW,
        even when the state was saved by Adam with L2-coupled decay."""
        for group in state.get("param_groups", ()):
            group.update(self.forced_group_values)
        super().__setstate__(state)
