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
        return float(value.item())
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


def real_view(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` itself if it is real, else its real view (a trailing dimension of 2: real, imaginary)."""
    return torch.view_as_real(tensor) if tensor.is_complex() else tensor


class FlatParams:
    """The parameters of all groups, in order, seen as a single vector ``x`` of ``numel`` real entries.

    Every parameter must be a dense floating tensor; all must share a device and a real dtype. With
    ``allow_complex``, a complex parameter is seen as its real view (``torch.view_as_real``: real and
    imaginary parts interleaved), as torch.optim.LBFGS sees it, so it counts twice its ``numel``.
    """

    def __init__(self, groups: Sequence[dict], cls_name: str, *, allow_complex: bool = False) -> None:
        self.params: list[torch.Tensor] = [p for group in groups for p in group["params"]]
        if not self.params:
            raise ValueError(f"{cls_name} got an empty parameter list")
        first = self.params[0]
        for index, p in enumerate(self.params):
            if not (p.is_floating_point() or (allow_complex and p.is_complex())) or p.is_sparse:
                kind = "floating-point (real or complex)" if allow_complex else "real floating-point"
                raise ValueError(
                    f"{cls_name} needs dense {kind} params; param {index} has dtype {p.dtype}"
                    f"{' (sparse)' if p.is_sparse else ''}"
                )
            if p.dtype.to_real() != first.dtype.to_real() or p.device != first.device:
                raise ValueError(
                    f"{cls_name} needs every param on one dtype and device; param {index} is "
                    f"{p.dtype} on {p.device}, param 0 is {first.dtype} on {first.device}"
                )
        self.numel = sum(p.numel() * (2 if p.is_complex() else 1) for p in self.params)
        self.dtype = first.dtype.to_real()
        self.device = first.device

    def real_params(self) -> list[torch.Tensor]:
        """What the flat vector is cut into: each param, or its real view if it is complex (taken afresh)."""
        return [real_view(p) for p in self.params]

    def get(self) -> torch.Tensor:
        """Return a copy of the current parameters as one vector."""
        return torch.cat([p.detach().reshape(-1) for p in self.real_params()])

    def set_(self, x: torch.Tensor) -> None:
        """Overwrite the parameters with the entries of ``x``."""
        offset = 0
        with torch.no_grad():
            for p in self.real_params():
                n = p.numel()
                p.copy_(x[offset : offset + n].view_as(p))
                offset += n

    def add_(self, direction: torch.Tensor, step: float) -> None:
        """In place: ``x += step * direction`` (same rounding as torch.optim.LBFGS)."""
        offset = 0
        with torch.no_grad():
            for p in self.real_params():
                n = p.numel()
                p.add_(direction[offset : offset + n].view_as(p), alpha=step)
                offset += n

    def grad(self) -> torch.Tensor:
        """Return the gradients stored in ``.grad`` as one vector (zeros where a grad is None)."""
        parts = []
        for p, real in zip(self.params, self.real_params(), strict=True):
            if p.grad is None:
                parts.append(real.new_zeros(real.numel()))
            elif p.grad.is_sparse:
                raise ValueError("second-order optimizers do not support sparse gradients")
            else:
                parts.append(real_view(p.grad).reshape(-1))
        return torch.cat(parts)

    def split(self, vector: torch.Tensor) -> list[torch.Tensor]:
        """Cut a flat vector into pieces shaped like the parameters (like the real view of a complex one)."""
        pieces, offset = [], 0
        for p in self.real_params():
            n = p.numel()
            pieces.append(vector[offset : offset + n].view_as(p))
            offset += n
        return pieces
