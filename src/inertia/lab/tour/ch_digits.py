"""Chapter 12: a real training comparison, an MLP on scikit-learn's digits with six optimizers."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from inertia.lab import figures
from inertia.lab.tour.context import TourContext, to_figure
from inertia.lab.tour.model import Measurements, Table
from inertia.lab.tour.rules import Finding, Rule, supports
from inertia.lab.tour.runs import ADAGRAD, ADAM, MOMENTUM, NESTEROV, RMSPROP, SGD, OptSpec, log_grid
from inertia.problems import load_digits, make_model

SPECS = (SGD, MOMENTUM, NESTEROV, ADAGRAD, RMSPROP, ADAM)
GRID = log_grid(1e-3, 3.0, 8)  # wide enough that every optimizer's best lr lies inside
HIDDEN = 64
BATCH = 64
TUNE_EPOCHS = 3
EPOCHS = 6
VALIDATION = 0.2
IMAGE_SIDE, CLASSES = 8, 10  # scikit-learn's digits: 8x8 images of 10 classes
DEFAULT_WITHIN = 1.0  # Adam is a sound default if its test accuracy is within 1 point of the best
SETUP = {"side": IMAGE_SIDE, "pixels": IMAGE_SIDE**2, "hidden": HIDDEN, "classes": CLASSES, "batch": BATCH,
         "grid_n": len(GRID), "grid_lo": GRID[0], "grid_hi": GRID[-1], "tune_epochs": TUNE_EPOCHS,
         "validation_pct": 100.0 * VALIDATION, "epochs": EPOCHS}


def _split(ctx: TourContext) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Train / validation (20% of the training split, for tuning) / test tensors of digits."""
    data = load_digits(seed=ctx.seed)
    order = torch.from_numpy(np.random.default_rng([ctx.seed, 12]).permutation(data.n_train))
    cut = int(round(data.n_train * (1 - VALIDATION)))
    x, y = data.X_train[order], data.y_train[order]
    return {"fit": (x[:cut], y[:cut]), "val": (x[cut:], y[cut:]), "train": (data.X_train, data.y_train),
            "test": (data.X_test, data.y_test)}


def _evaluate(forward: Any, params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor
              ) -> tuple[np.ndarray, np.ndarray]:
    """Loss and accuracy on ``(x, y)`` of every stacked copy of the model."""
    with torch.no_grad():
        logits = forward(params, x)
        losses = torch.stack([F.cross_entropy(row, y) for row in logits])
        return losses.numpy(), (logits.argmax(-1) == y).double().mean(-1).numpy()


def stacked_forward(model: torch.nn.Module, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Logits ``(k, batch, classes)`` of ``k`` stacked copies of a Flatten/Linear/ReLU ``nn.Sequential``.

    ``params[f"{i}.weight"]`` has shape ``(k, out, in)``: each Linear layer becomes one batched
    matrix product ``h W^T + b`` over the copies.
    """
    k = next(iter(params.values())).shape[0]
    h = x.flatten(1).expand(k, -1, -1)
    for index, layer in enumerate(model):
        if isinstance(layer, torch.nn.Linear):
            h = torch.baddbmm(params[f"{index}.bias"].unsqueeze(1), h, params[f"{index}.weight"].transpose(1, 2))
        elif isinstance(layer, torch.nn.ReLU):
            h = torch.relu(h)
        elif not isinstance(layer, torch.nn.Flatten):
            raise ValueError(f"model: layer {layer!r} is not Flatten, Linear or ReLU")
    return h


def train_grid(spec: OptSpec, lrs: list[float], x: torch.Tensor, y: torch.Tensor, epochs: int, seed: int
               ) -> dict[str, Any]:
    """Train one copy of the MLP per lr (same init, same batches) with mini-batches of 64.

    The copies are separate parameter sets in separate param groups of one optimizer, so each
    follows exactly the run it would have alone; their forward passes are batched
    (:func:`stacked_forward`). Records every copy's train loss per epoch.
    """
    model = make_model("mlp", tuple(x.shape[1:]), CLASSES, seed=seed, hidden=HIDDEN)
    names = [name for name, _ in model.named_parameters()]
    copies = [[p.detach().clone().requires_grad_(True) for p in model.parameters()] for _ in lrs]
    optimizer = spec.make([{"params": c, "lr": lr} for c, lr in zip(copies, lrs, strict=True)], lrs[0])

    def forward(params: dict[str, torch.Tensor], inputs: torch.Tensor) -> torch.Tensor:
        return stacked_forward(model, params, inputs)

    def stacked() -> dict[str, torch.Tensor]:
        return {name: torch.stack([c[i] for c in copies]) for i, name in enumerate(names)}

    rng = np.random.default_rng([seed, 13])
    losses, times, start = [_evaluate(forward, stacked(), x, y)[0]], [0.0], time.perf_counter()
    for _ in range(epochs):
        order = torch.from_numpy(rng.permutation(len(y)))
        for begin in range(0, len(y), BATCH):
            idx = order[begin:begin + BATCH]
            optimizer.zero_grad()
            logits = forward(stacked(), x[idx])
            F.cross_entropy(logits.flatten(0, 1), y[idx].repeat(len(lrs)), reduction="sum").div(len(idx)).backward()
            optimizer.step()
        times.append((time.perf_counter() - start) / len(lrs))
        losses.append(_evaluate(forward, stacked(), x, y)[0])
    return {"forward": forward, "params": stacked(), "losses": np.array(losses), "times": np.array(times)}


def compute_digits(ctx: TourContext) -> Measurements:
    """Tune each optimizer's lr on a validation split (same grid, same epochs), retrain on the whole
    training split, report test accuracy and loss."""
    data = _split(ctx)
    measured: dict[str, Any] = {"epochs": EPOCHS, "tune_epochs": TUNE_EPOCHS, "grid": GRID, "runs": {}}
    rows, curves, times = [], {}, {}
    for spec in SPECS:
        fitted = train_grid(spec, GRID, *data["fit"], TUNE_EPOCHS, ctx.seed)
        val_loss, val_acc = _evaluate(fitted["forward"], fitted["params"], *data["val"])
        best = min(range(len(GRID)), key=lambda i: (-val_acc[i], np.nan_to_num(val_loss[i], nan=np.inf)))
        lr = GRID[best]
        run = train_grid(spec, [lr], *data["train"], EPOCHS, ctx.seed)
        test_loss, test_acc = (float(v[0]) for v in _evaluate(run["forward"], run["params"], *data["test"]))
        record = {"lr": lr, "val_acc": float(val_acc[best]), "test_acc": test_acc, "test_loss": test_loss,
                  "train_loss": float(run["losses"][-1, 0]), "seconds": float(run["times"][-1])}
        measured["runs"][spec.label] = record
        rows.append([spec.label, lr, 100.0 * record["val_acc"], 100.0 * test_acc, test_loss, record["train_loss"],
                     record["seconds"]])
        curves[spec.label], times[spec.label] = run["losses"][:, 0], run["times"]
    table = Table(["col.optimizer", "col.tuned_lr", "col.val_acc", "col.test_acc", "col.test_loss",
                   "col.train_loss", "col.seconds"], rows)
    labels = list(measured["runs"])
    accuracy = figures.bar_chart(labels, [100.0 * measured["runs"][k]["test_acc"] for k in labels],
                                 ylabel="test accuracy (%)")
    accuracy.axes[0].set_ylim(80.0, 100.0)
    figs = [to_figure(figures.loss_curves(curves, times=times, steps={k: np.arange(EPOCHS + 1) for k in curves},
                                          ylabel="train loss"), "digits.fig.loss"),
            to_figure(accuracy, "digits.fig.accuracy")]
    return Measurements([table], figs, measured)


def sgd_slower(m: Mapping[str, Any]) -> Finding:
    """Plain SGD is slower if its final train loss is above both Momentum's and Adam's."""
    sgd, mom, adam = (m["runs"][k] for k in ("SGD", "Momentum", "Adam"))
    return Finding(supports(sgd["train_loss"] > max(mom["train_loss"], adam["train_loss"])),
                   {"epochs": m["epochs"], "sgd": sgd["train_loss"], "momentum": mom["train_loss"],
                    "adam": adam["train_loss"]})


def adam_good_default(m: Mapping[str, Any]) -> Finding:
    """Adam is a good default if its test accuracy is within one point of the best (case "best": it is the best)."""
    runs = m["runs"]
    adam = runs["Adam"]
    best = max(runs, key=lambda k: runs[k]["test_acc"])
    gap = 100.0 * (runs[best]["test_acc"] - adam["test_acc"])
    if gap <= 0.0:
        return Finding("supports", {"adam_acc": 100.0 * adam["test_acc"]}, case="best")
    return Finding(supports(gap <= DEFAULT_WITHIN), {"best": best, "best_acc": 100.0 * runs[best]["test_acc"],
                                                     "adam_acc": 100.0 * adam["test_acc"], "gap": gap})


RULES = (Rule("digits.sgd", sgd_slower), Rule("digits.adam", adam_good_default))
