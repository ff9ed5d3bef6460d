"""lr-find's suggestion against the best learning rate of a grid search, on the digits MLP.

For each optimizer: ``inertia.diagnostics.lr_find`` (default settings: 100 steps from 1e-5 to 10,
seeds 0-2) on the MLP at its initial weights, then a grid of learning rates spaced by a factor
of 2, each trained from the same initial weights for ``--epochs`` epochs with two batch orders.
The grid's best lr minimises the mean final training loss; the best by test accuracy is printed
too. The ratio suggestion / best must lie within [1/3, 3]. The lrs that other common rules would
have picked from the same sweep (minimum/10, steepest point, minimum) are printed for comparison.

With ``--sweep-steps`` it also prints the suggestion for other sweep lengths: the range test
trains while it sweeps, so longer sweeps reach a lower, sharper loss before the lr gets large.

    python benchmarks/lr_find_vs_grid.py [--optimizers sgd momentum adam] [--epochs 10]
        [--sweep-steps 50 100 200]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from inertia.diagnostics import lr_find
from inertia.diagnostics.workload import make_workload
from inertia.optim import OPTIMIZERS


def train_once(optimizer_name: str, lr: float, epochs: int, order_seed: int) -> tuple[float, float]:
    """Final full training loss and test accuracy after ``epochs`` epochs at a constant ``lr``."""
    workload = make_workload("digits", "mlp", seed=0)
    optimizer = OPTIMIZERS[optimizer_name](workload.model.parameters(), lr=lr)
    for step in range(epochs * workload.batches_per_epoch):
        optimizer.zero_grad()
        loss = workload.batch_loss(step, 100 + order_seed)
        if not torch.isfinite(loss):
            return math.inf, 0.0
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        final = float(workload.train_loss())
    return (final if math.isfinite(final) else math.inf), workload.test_accuracy()


def grid_search(optimizer_name: str, grid: np.ndarray, epochs: int) -> list[tuple[float, float, float]]:
    """(lr, mean final training loss, mean test accuracy) over two batch orders, for each lr."""
    rows = []
    for lr in grid:
        results = [train_once(optimizer_name, float(lr), epochs, seed) for seed in (0, 1)]
        rows.append((float(lr), float(np.mean([r[0] for r in results])), float(np.mean([r[1] for r in results]))))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--optimizers", nargs="+", default=["sgd", "momentum", "adam"], choices=list(OPTIMIZERS))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sweep-steps", type=int, nargs="*", default=[])
    args = parser.parse_args()
    for option in ("epochs", "threads"):
        if getattr(args, option) < 1:
            parser.error(f"--{option} must be at least 1, got {getattr(args, option)}")
    for steps in args.sweep_steps:
        if steps < 10:
            parser.error(f"--sweep-steps must each be at least 10 (as lr_find's num_steps), got {steps}")
    torch.set_num_threads(args.threads)
    grid = 2.0 ** np.arange(-14, 3)  # 6.1e-5 .. 4
    verdicts = []
    for name in args.optimizers:
        start = time.perf_counter()
        workload = make_workload("digits", "mlp", seed=0)
        optimizer = OPTIMIZERS[name](workload.model.parameters(), lr=1e-3)
        result = lr_find(workload.model, optimizer, workload.batch_loss, lr_min=1e-5, lr_max=10.0,
                         curvature_loss=workload.train_loss)
        rows = grid_search(name, grid, args.epochs)
        finite = [r for r in rows if math.isfinite(r[1])]
        best_loss = min(finite, key=lambda r: r[1])
        best_acc = max(finite, key=lambda r: (r[2], -r[1]))
        print(f"\n== {name}: digits MLP, batch {workload.batch_size}, grid of {len(grid)} lrs x 2 batch orders x "
              f"{args.epochs} epochs ({time.perf_counter() - start:.0f}s)")
        print(f"{'lr':>10s} {'train loss':>11s} {'test acc':>9s}")
        for lr, loss, acc in rows:
            mark = " <- best loss" if lr == best_loss[0] else (" <- best acc" if lr == best_acc[0] else "")
            print(f"{lr:10.3g} {loss:11.4g} {acc:9.3f}{mark}")
        ratio = result.suggested_lr / best_loss[0]
        ok = 1 / 3 <= ratio <= 3
        verdicts.append((name, ok))
        print(f"lr-find suggestion {result.suggested_lr:.3g} (confidence {result.confidence:.2f}, seeds "
              f"{', '.join(f'{c.suggestion:.3g}' for c in result.curves)}); grid best by training loss "
              f"{best_loss[0]:.3g}, by test accuracy {best_acc[0]:.3g}")
        print(f"suggestion / best-loss lr = {ratio:.2f} -> within 3x: {'yes' if ok else 'NO'}; "
              f"suggestion / best-accuracy lr = {result.suggested_lr / best_acc[0]:.2f}")
        print(f"other rules on the same sweep: minimum/10 {result.minimum_lr / 10:.3g} "
              f"(ratio {result.minimum_lr / 10 / best_loss[0]:.2f}), steepest {result.steepest_lr:.3g} "
              f"(ratio {result.steepest_lr / best_loss[0]:.2f}), minimum {result.minimum_lr:.3g} "
              f"(ratio {result.minimum_lr / best_loss[0]:.2f})")
        for steps in args.sweep_steps:
            other = make_workload("digits", "mlp", seed=0)
            other_opt = OPTIMIZERS[name](other.model.parameters(), lr=1e-3)
            swept = lr_find(other.model, other_opt, other.batch_loss, lr_min=1e-5, lr_max=10.0, num_steps=steps)
            print(f"sweep of {steps} steps: suggestion {swept.suggested_lr:.3g} "
                  f"(ratio to the best-loss lr {swept.suggested_lr / best_loss[0]:.2f})")
        if result.lambda_max is not None:
            print(f"lambda_max at the initial weights {result.lambda_max:.3g}; notes: {'; '.join(result.notes)}")
    print("\nsummary: " + ", ".join(f"{name} {'within' if ok else 'outside'} 3x" for name, ok in verdicts))


if __name__ == "__main__":
    main()
