"""A one-element tensor ``lr``, as torch.optim accepts it: the same steps as the number, read afresh every
step on both paths (so an in-place change applies at once), and refused when it is not one number."""

from __future__ import annotations

import pytest
import torch
from optimizer_db import OPTIMIZER_DB

import inertia

FUSED = [(info.name, (info.torch_configs + info.inertia_configs)[0]) for info in OPTIMIZER_DB if info.fused]


def _train(name: str, kwargs: dict, lr: float | torch.Tensor, impl: str, steps: int = 4,
           change: float | None = None) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(shape, generator=generator, dtype=torch.float64))
              for shape in ((5, 3), (7,))]
    optimizer = getattr(inertia, name)(params, **dict(kwargs, lr=lr), impl=impl)
    for step in range(steps):
        if change is not None and step == steps // 2:
            if isinstance(lr, torch.Tensor):
                lr.fill_(change)  # in place: the group still holds the same tensor
            else:
                optimizer.param_groups[0]["lr"] = change
        optimizer.zero_grad()
        sum((p.sin() * (i + 1)).sum() for i, p in enumerate(params)).backward()
        optimizer.step()
    return [p.detach().clone() for p in params]


@pytest.mark.parametrize("impl", ["reference", "fused"])
@pytest.mark.parametrize(("name", "kwargs"), FUSED, ids=[name for name, _ in FUSED])
def test_a_tensor_lr_steps_as_the_number_and_follows_in_place_changes(name: str, kwargs: dict, impl: str) -> None:
    rate = float(kwargs.get("lr", 0.01))
    number = _train(name, kwargs, rate, impl, change=rate / 4)
    tensor = _train(name, kwargs, torch.tensor(rate, dtype=torch.float64), impl, change=rate / 4)
    for a, b in zip(tensor, number, strict=True):
        torch.testing.assert_close(a, b, rtol=0 if impl == "reference" else 1e-12, atol=0 if impl == "reference" else 1e-14)


@pytest.mark.parametrize("bad", [torch.tensor([0.1, 0.2]), torch.tensor(1), torch.tensor(-0.1)], ids=str)
def test_a_tensor_lr_that_is_not_one_non_negative_float_is_refused_by_name(bad: torch.Tensor) -> None:
    with pytest.raises(ValueError, match=r"Invalid lr: tensor\("):
        inertia.Adam([torch.nn.Parameter(torch.zeros(2))], lr=bad)


def test_a_tensor_lr_round_trips_through_torch_state_dicts() -> None:
    params = [torch.nn.Parameter(torch.zeros(3))]
    ours = inertia.Adam(params, lr=torch.tensor(0.01))
    theirs = torch.optim.Adam([torch.nn.Parameter(torch.zeros(3))], lr=torch.tensor(0.01))
    theirs.load_state_dict(ours.state_dict())
    ours.load_state_dict(theirs.state_dict())
    assert isinstance(ours.param_groups[0]["lr"], torch.Tensor) and float(ours.param_groups[0]["lr"]) == torch.tensor(0.01).item()
