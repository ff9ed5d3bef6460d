"""The parts of a combined optimizer: which optimizer steps each param group, and its evaluation point.

A combined optimizer steps several optimizers behind one ``step`` (the lab's Muon on the hidden
matrices with AdamW on the rest). It shows them to the diagnostics through one optional attribute,
``parts``: a sequence of ``torch.optim.Optimizer`` whose ``param_groups`` are the very dicts of the
combined optimizer's ``param_groups``. Each group is then read with the roles
(:func:`~inertia.diagnostics.optimizer_roles.roles_of`) and the state of the part that steps it. An
optimizer without ``parts`` is its own single part.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

import torch

from inertia.diagnostics.optimizer_roles import OptimizerRoles, roles_of


class GroupPart(NamedTuple):
    """The optimizer that steps one param group, and the roles of its state.

    Attributes:
        optimizer: the part (the optimizer itself when it has no ``parts``).
        roles: ``roles_of(optimizer)``; None for an optimizer the roles table does not know.
    """

    optimizer: torch.optim.Optimizer
    roles: OptimizerRoles | None

    def state(self, param: torch.Tensor) -> dict[str, Any]:
        """The part's state of ``param`` (empty before its first step)."""
        return self.optimizer.state.get(param, {})


def optimizer_parts(optimizer: torch.optim.Optimizer) -> list[torch.optim.Optimizer]:
    """The optimizers that step ``optimizer``'s groups: its ``parts`` (flattened), else ``[optimizer]``."""
    parts = getattr(optimizer, "parts", None)
    if parts is None:
        return [optimizer]
    if (not isinstance(parts, Sequence) or not parts
            or not all(isinstance(part, torch.optim.Optimizer) and part is not optimizer for part in parts)):
        raise TypeError(f"optimizer.parts: must be a non-empty sequence of other torch.optim.Optimizer objects, "
                        f"got {parts!r}")
    return [leaf for part in parts for leaf in optimizer_parts(part)]


def group_parts(optimizer: torch.optim.Optimizer) -> list[GroupPart]:
    """One :class:`GroupPart` per entry of ``optimizer.param_groups``, in order.

    A group is matched to the part holding the same dict; a group no part holds is read with the
    roles and state of ``optimizer`` itself.
    """
    owner = {id(group): part for part in optimizer_parts(optimizer) for group in part.param_groups}
    return [GroupPart(part, roles_of(part))
            for part in (owner.get(id(group), optimizer) for group in optimizer.param_groups)]


def _switches(optimizer: torch.optim.Optimizer) -> bool:
    return callable(getattr(optimizer, "eval", None)) and callable(getattr(optimizer, "train", None))


@contextmanager
def evaluation_point(optimizer: torch.optim.Optimizer) -> Iterator[None]:
    """Inside, every optimizer with ``eval()``/``train()`` (Schedule-Free) holds its evaluation point.

    ``optimizer``'s own methods are used when it has them, else those of each of its parts; on leaving,
    ``train()`` moves the weights back to where the next step takes its gradient.
    """
    switching = [optimizer] if _switches(optimizer) else [p for p in optimizer_parts(optimizer) if _switches(p)]
    for part in switching:
        part.eval()  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for part in switching:
            part.train()  # type: ignore[attr-defined]
