"""Overhead of the lab's training loop against a bare torch loop on the same model and batches.

Every variant loads the dataset, builds the same model (same seed), takes the same mini-batches
with the same optimizer for the same number of epochs and ends with a test evaluation:

- ``bare``: the plain loop (train, then one final evaluation);
- ``bare+eval``: the plain loop that also evaluates the test set after every epoch, as the
  canonical PyTorch example loop does. It computes exactly the numbers the lab records and shows
  each epoch, so the difference to the lab loop is the lab's own work;
- ``lab``: ``inertia.lab.execute.execute`` at its default cadence: per-epoch records, run
  directory with config.json/summary.json/metrics.csv, checkpoints every 10 s and at the end, and
  the rich progress bar of ``inertia train`` drawn to an in-memory terminal; monitors off;
- ``lab+monitors``: the same with the optimizer monitors of :mod:`inertia.diagnostics` at their
  default sampling (what ``inertia train`` runs unless ``--no-monitor``).

Each repeat runs every variant once, in a shuffled order. Timings on a shared VM drift by 10%
and more between seconds, so each repeat's times are divided by that repeat's ``bare+eval`` time
(paired ratios, taken within seconds of each other) and the median ratio is reported with a 95%
bootstrap interval. The verdict compares the lab loop with ``bare+eval`` against the 5% bar.

    python benchmarks/train_overhead.py [--data digits] [--model mlp] [--epochs 30] [--repeats 21]
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import tempfile
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from inertia.lab.execute import execute
from inertia.lab.loops import evaluate
from inertia.lab.runs import RunConfig
from inertia.lab.train_progress import TrainingProgress
from inertia.optim import make_optimizer
from inertia.problems.datasets import load_dataset
from inertia.problems.models import make_model

BAR = 0.05
Timing = tuple[float, float]  # (wall, CPU) seconds


def bare_loop(config: RunConfig, evaluate_each_epoch: bool = False) -> Timing:
    """The plain loop: data, model, optimizer, epochs of steps, a final evaluation.

    With ``evaluate_each_epoch`` it also computes the test loss and accuracy after every epoch.
    """
    start, cpu = time.perf_counter(), time.process_time()
    data = load_dataset(config.problem, seed=config.data_seed)
    model = make_model(config.model, data.input_shape, data.num_classes, seed=config.seed)
    optimizer = make_optimizer(config.optimizer, model.parameters(), **config.optimizer_kwargs())
    for epoch in range(config.epochs):
        for inputs, labels in data.batches(config.batch_size, epoch=epoch, seed=config.seed):
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(inputs), labels)
            loss.backward()
            optimizer.step()
        if evaluate_each_epoch and epoch + 1 < config.epochs:
            evaluate(model, data.X_test, data.y_test)
    test_loss, test_accuracy = evaluate(model, data.X_test, data.y_test)
    elapsed = time.perf_counter() - start, time.process_time() - cpu
    assert test_loss == test_loss and test_accuracy > 0
    return elapsed


def lab_loop(config: RunConfig, monitor: bool) -> tuple[Timing, float]:
    """(wall, CPU) seconds of execute() with records, checkpoints and a drawn progress bar; accuracy."""
    from rich.console import Console

    with tempfile.TemporaryDirectory() as run_dir:
        start, cpu = time.perf_counter(), time.process_time()
        progress = TrainingProgress(config, Console(file=io.StringIO(), force_terminal=True, width=120))
        with progress:
            summary = execute(config, run_dir, on_record=progress.on_epoch, on_batch=progress.on_batch,
                              monitor=monitor)
        elapsed = time.perf_counter() - start, time.process_time() - cpu
    return elapsed, summary["test_accuracy"]


def bootstrap_median(values: list[float], rounds: int = 4000, seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the median of ``values``."""
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(rounds))
    return medians[int(0.025 * rounds)], medians[int(0.975 * rounds) - 1]


def measure(config: RunConfig, repeats: int, seed: int) -> tuple[dict[str, list[Timing]], float]:
    """Times of every variant over ``repeats`` shuffled rounds, and the lab run's test accuracy."""
    accuracy: list[float] = []

    def lab(monitor: bool) -> Timing:
        elapsed, acc = lab_loop(config, monitor)
        accuracy.append(acc)
        return elapsed

    variants: dict[str, Callable[[], Timing]] = {
        "bare": lambda: bare_loop(config), "bare+eval": lambda: bare_loop(config, evaluate_each_epoch=True),
        "lab": lambda: lab(False), "lab+monitors": lambda: lab(True)}
    for run in variants.values():  # warm-up: imports, first builds, allocator
        run()
    times: dict[str, list[Timing]] = {name: [] for name in variants}
    order, rng = list(variants), random.Random(seed)
    for _ in range(repeats):
        rng.shuffle(order)
        for name in order:
            times[name].append(variants[name]())
    return times, accuracy[-1]


def report(times: dict[str, list[Timing]], clock: int) -> dict[str, tuple[float, float, float]]:
    """Print one table (``clock`` 0: wall, 1: CPU); return name -> (median ratio, low, high) vs bare+eval."""
    reference = [t[clock] for t in times["bare+eval"]]
    bare = [t[clock] for t in times["bare"]]
    print(f"\n{('wall', 'CPU')[clock]} time       median     min   ratio to bare+eval [95% CI]   ratio to bare")
    ratios = {}
    for name, runs in times.items():
        values = [t[clock] for t in runs]
        paired = [v / r for v, r in zip(values, reference, strict=True)]
        low, high = bootstrap_median(paired)
        ratios[name] = (statistics.median(paired), low, high)
        to_bare = statistics.median(v / b for v, b in zip(values, bare, strict=True))
        print(f"{name:14s} {statistics.median(values):7.3f} s {min(values):7.3f} s   "
              f"{ratios[name][0]:.3f} [{low:.3f}, {high:.3f}]          {to_bare:.3f}")
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits")
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--optimizer", default="adam")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0, help="seed of the run order")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = RunConfig(args.data, args.optimizer, model=args.model, epochs=args.epochs)
    times, accuracy = measure(config, args.repeats, args.seed)
    print(f"{args.data}/{args.model}/{args.optimizer}, {args.epochs} epochs, {args.threads} torch thread(s), "
          f"{args.repeats} shuffled repeats; lab run test accuracy {100 * accuracy:.2f}%")
    report(times, 0)
    ratios = report(times, 1)
    for name, what in (("lab", "the lab loop's own overhead (records, progress, checkpoints)"),
                       ("lab+monitors", "with the default optimizer monitors as well")):
        median, low, high = ratios[name]
        verdict = "within" if high <= 1 + BAR else ("above" if low > 1 + BAR else "not separable from")
        print(f"{what}: {100 * (median - 1):+.1f}% CPU time over bare+eval "
              f"(95% CI {100 * (low - 1):+.1f}% to {100 * (high - 1):+.1f}%): {verdict} the {BAR:.0%} bar")


if __name__ == "__main__":
    main()
