"""How the lab turns an optimizer name into the optimizer of a run.

Most names build one optimizer over every parameter (:func:`inertia.optim.make_optimizer`). Two
names need more than a name:

* ``muon``: Muon only takes 2-D matrices, and torch's documentation recommends it for the weight
  matrices of hidden layers, with AdamW for everything else. The lab builds exactly that: Muon on
  the hidden layers' 2-D weights, AdamW on the biases, convolution kernels and the output layer
  (when a model's only matrix is its output layer, as the softmax model's, that matrix goes to
  Muon, so ``muon`` still means Muon). Both sit behind one ``step`` (:class:`MuonWithAdamW`). Muon
  uses ``adjust_lr_fn="match_rms_adamw"`` (Liu et al., 2025), with which Muon's update has AdamW's
  RMS, so the one ``--lr`` of the run serves both; ``--hyper`` settings go to Muon.
* ``sparse_adam``: it takes sparse gradients only, and every model and problem of the lab has
  dense gradients, so the lab refuses it (:func:`refusal`) instead of failing at the first step.

Schedule-Free optimizers keep the point to evaluate apart from the point where gradients are
taken: :func:`inertia.diagnostics.optimizer_parts.evaluation_point` switches them to it around an evaluation.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from inertia.optim import AdamW, make_optimizer
from inertia.optim.muon import Muon

SPARSE_ONLY = ("sparse_adam",)  # optimizers that take sparse gradients only
MUON = "muon"
MUON_ADJUST_LR = "match_rms_adamw"  # Muon's lr adjustment that lets it share AdamW's learning rate

#: What the lab does with a name beyond building its optimizer (shown by ``inertia problems`` and the reports).
OPTIMIZER_NOTES: dict[str, str] = {
    MUON: ("Muon (adjust_lr_fn=match_rms_adamw) on the hidden layers' 2-D weights and AdamW on everything else "
           "(biases, convolution kernels, the output layer), as torch's documentation recommends; one lr "
           "drives both, --hyper settings go to Muon"),
    "sparse_adam": ("sparse gradients only (e.g. nn.Embedding(sparse=True)); every model and problem of the "
                    "lab has dense gradients, so the lab refuses it"),
}

NamedParameters = Iterable[tuple[str, Tensor]]


def refusal(optimizer: str, kind: str, problem: str, model: str) -> str | None:
    """Why the lab cannot run ``optimizer`` on this problem (``kind``: training or optimization), or None."""
    where = f"model {model!r} on {problem!r}" if kind == "training" else f"problem {problem!r}"
    if optimizer in SPARSE_ONLY:
        return (f"{optimizer} takes sparse gradients only (such as those of nn.Embedding(sparse=True)), and "
                f"{where} has dense gradients; use adam, the same rule for dense gradients")
    if optimizer == MUON and kind != "training":
        return (f"{optimizer} optimizes 2-D weight matrices, and {where} has a single parameter vector; "
                "use a dataset such as digits, or another optimizer")
    return None


def split_for_muon(named_parameters: NamedParameters) -> tuple[list[tuple[str, Tensor]], list[tuple[str, Tensor]]]:
    """``(Muon's, AdamW's)`` named parameters: Muon gets every 2-D weight but the output layer's
    (the last 2-D parameter), which it gets only when it is the only matrix; AdamW gets the rest."""
    named = [(name, p) for name, p in named_parameters if p.requires_grad]
    matrices = [index for index, (_, p) in enumerate(named) if p.ndim == 2]
    for_muon = set(matrices[:-1] if len(matrices) > 1 else matrices)
    return ([entry for i, entry in enumerate(named) if i in for_muon],
            [entry for i, entry in enumerate(named) if i not in for_muon])


class _CombinedState(Mapping):
    """Read-only view of the states of several optimizers, by parameter."""

    def __init__(self, parts: list[Optimizer]) -> None:
        self.parts = parts

    def __getitem__(self, param: Tensor) -> Any:
        for part in self.parts:
            if param in part.state:
                return part.state[param]
        raise KeyError(param)

    def __iter__(self) -> Iterator[Tensor]:
        return (param for part in self.parts for param in part.state)

    def __len__(self) -> int:
        return sum(len(part.state) for part in self.parts)


class MuonWithAdamW(Optimizer):
    """Muon on some parameters and AdamW on the others, behind one ``step``.

    ``param_groups`` are the two optimizers' own group dicts (Muon's first), so a scheduler or the
    learning-rate range test that sets ``group["lr"]`` sets it for both; ``state`` reads both states;
    ``state_dict`` holds both optimizers' state dicts. ``defaults`` are Muon's (the keys ``--hyper`` takes).

    Args:
        muon_params: the 2-D matrices for Muon (at least one).
        adamw_params: the other parameters (may be empty: no AdamW then).
        lr: learning rate of both (None: each optimizer's default).
        muon_hyper: Muon's other settings; ``adjust_lr_fn`` defaults to :data:`MUON_ADJUST_LR`.
    """

    def __init__(self, muon_params: list[Tensor], adamw_params: list[Tensor], lr: float | None = None,
                 **muon_hyper: Any) -> None:
        shared = {} if lr is None else {"lr": lr}
        self.muon = Muon(muon_params, **shared, **{"adjust_lr_fn": MUON_ADJUST_LR, **muon_hyper})
        self.adamw = AdamW(adamw_params, **shared) if adamw_params else None
        self.parts: list[Optimizer] = [self.muon] + ([self.adamw] if self.adamw is not None else [])
        super().__init__([group for part in self.parts for group in part.param_groups], {})
        self.defaults = dict(self.muon.defaults)
        self.state = _CombinedState(self.parts)  # type: ignore[assignment]

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        """Evaluate ``closure`` (with gradients) if given, then step Muon and AdamW; returns its loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for part in self.parts:
            part.step()
        return loss

    def state_dict(self) -> dict[str, Any]:
        """``{"muon": ..., "adamw": ...}``: the two optimizers' state dicts (``adamw`` None without one)."""
        return {"muon": self.muon.state_dict(), "adamw": None if self.adamw is None else self.adamw.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load what :meth:`state_dict` returned."""
        if set(state_dict) != {"muon", "adamw"}:
            raise ValueError(f"state_dict: expected the keys 'muon' and 'adamw', got {sorted(state_dict)!r}")
        self.muon.load_state_dict(state_dict["muon"])
        if self.adamw is not None:
            self.adamw.load_state_dict(state_dict["adamw"])


def build_optimizer(name: str, named_parameters: NamedParameters, **hyper: Any) -> Optimizer:
    """The optimizer the lab runs for ``name`` over ``named_parameters`` (see the module docstring)."""
    named = list(named_parameters)
    if name != MUON:
        return make_optimizer(name, [p for _, p in named], **hyper)
    for_muon, for_adamw = split_for_muon(named)
    if not for_muon:
        shapes = ", ".join(f"{n} {tuple(p.shape)}" for n, p in named) or "none"
        raise ValueError(f"optimizer: muon needs at least one 2-D weight matrix, got the parameters {shapes}")
    lr = hyper.pop("lr", None)
    return MuonWithAdamW([p for _, p in for_muon], [p for _, p in for_adamw], lr=lr, **hyper)


def describe_setup(name: str, named_parameters: NamedParameters) -> str:
    """Which optimizer each parameter gets, in words (``muon``: the split; otherwise one optimizer for all)."""
    named = list(named_parameters)
    if name != MUON:
        return f"{name} on every parameter ({len(named)})"
    for_muon, for_adamw = split_for_muon(named)
    muon_part = f"Muon (adjust_lr_fn={MUON_ADJUST_LR}) on {', '.join(n for n, _ in for_muon) or 'nothing'}"
    return f"{muon_part}; AdamW on {', '.join(n for n, _ in for_adamw) or 'nothing'}"

