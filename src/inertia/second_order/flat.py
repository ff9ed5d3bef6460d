"""View all parameters of an optimizer, across every param group, as one flat vector."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

# Hyperparameters that must be the same in every group: the groups form one vector and share one step.
_SHARED_KEYS_ERROR = (
    "{cls} treats all param groups as one vector, so '{key}' must be the same in every group; "
    "got {values}"
)


def to_float(value: object) -> float:
    """A loss returned by a closure (tensor or number) as a Python float."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"the closure must return a scalar loss, got a tensor of shape {tuple(value.shape)}")
        return float(value.detach().item())
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"the closure must return a scalar loss, got {type(value).__name__}") from None


def check_shared_hyperparameters(cls_name: str, groups: Sequence[dict], keys: Iterable[str] | None = None) -> None:
    """Raise ValueError if a hyperparameter (of ``keys``; default: every key but "params") differs between groups."""
    if keys is None:
        keys = {key for group in groups for key in group if key != "params"}
    for key in sorted(keys):
        values = [group.get(key) for group in groups]
        if any(value != values[0] for value in values[1:]):
            raise ValueError(_SHARED_KEYS_ERROR.format(cls=cls_name, key=key, values=values))


class FlatParams:
    """The parameters of all groups, in order, seen as a single vector ``x`` of ``numel`` entries.

    Every parameter must be a dense, real, floating tensor; all must share a dtype and device.
    """

    def __init__(self, groups: Sequence[dict], cls_name: str) -> None:
        self.params: list[torch.Tensor] = [p for group in groups for p in group["params"]]
        if not self.params:
            raise ValueError(f"{cls_name} got an empty parameter list")
        first = self.params[0]
        for index, p in enumerate(self.params):
            if not p.is_floating_point() or p.is_complex() or p.is_sparse:
                raise ValueError(
                    f"{cls_name} needs dense real floating-point params; param {index} has dtype {p.dtype}"
                    f"{' (sparse)' if p.is_sparse else ''}"
                )
            if p.dtype != first.dtype or p.device != first.device:
                raise ValueError(
                    f"{cls_name} needs every param on one dtype and device; param {index} is "
                    f"{p.dtype} on {p.device}, param 0 is {first.dtype} on {first.device}"
                )
        self.numel = sum(p.numel() for p in self.params)
        self.dtype = first.dtype
        self.device = first.device

    def get(self) -> torch.Tensor:
        """Return a copy of the current parameters as one vector."""
        return torch.cat([p.detach().reshape(-1) for p in self.params])

    def set_(self, x: torch.Tensor) -> None:
        """Overwrite the parameters with the entries of ``x``."""
        offset = 0
        with torch.no_grad():
            for p in self.params:
                n = p.numel()
                p.copy_(x[offset : offset + n].view_as(p))
                offset += n

    def add_(self, direction: torch.Tensor, step: float) -> None:
        """In place: ``x += step * direction`` (same rounding as torch.optim.LBFGS)."""
        offset = 0
        with torch.no_grad():
            for p in self.params:
                n = p.numel()
                p.add_(direction[offset : offset + n].view_as(p), alpha=step)
                offset += n

    def grad(self) -> torch.Tensor:
        """Return the gradients stored in ``.grad`` as one vector (zeros where a grad is None)."""
        parts = []
        for p in self.params:
            if p.grad is None:
                parts.append(p.new_zeros(p.numel()))
            elif p.grad.is_sparse:
                raise ValueError("second-order optimizers do not support sparse gradients")
            else:
                parts.append(p.grad.reshape(-1))
        return torch.cat(parts)

    def split(self, vector: torch.Tensor) -> list[torch.Tensor]:
        """Cut a flat vector into pieces shaped like the parameters."""
        pieces, offset = [], 0
        for p in self.params:
            n = p.numel()
            pieces.append(vector[offset : offset + n].view_as(p))
            offset += n
        return pieces
