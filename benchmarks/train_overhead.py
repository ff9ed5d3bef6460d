"""Overhead of the lab's training loop against a bare torch loop on the same model and batches.

Both sides load the dataset, build the same model (same seed), take the same mini-batches with
the same optimizer for the same number of epochs and end with a test evaluation. The lab side is
``inertia.lab.execute.execute`` with its default cadence: per-epoch records and test evaluation,
metrics.csv/summary.json/config.json, checkpoints every 10 s and at the end, and the rich progress
bar of ``inertia train`` rendered to an in-memory terminal. A second bare loop also computes the
per-epoch test loss and accuracy that the lab records, which separates the cost of those numbers
from the lab's bookkeeping. The lab loop is timed twice: without
the optimizer monitors (the loop's own overhead) and with them at their default sampling (what
``inertia train`` does by default). Runs alternate (bare, bare+eval, lab, lab+monitor, bare, ...) and the
medians are compared.

    python benchmarks/train_overhead.py [--data digits] [--model mlp] [--epochs 30] [--repeats 7]
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F

from inertia.lab.execute import execute
from inertia.lab.loops import evaluate
from inertia.lab.runs import RunConfig
from inertia.lab.train_progress import TrainingProgress
from inertia.optim import make_optimizer
from inertia.problems.datasets import load_dataset
from inertia.problems.models import make_model


def bare_loop(config: RunConfig, evaluate_each_epoch: bool = False) -> tuple[float, float]:
    """(wall, CPU) seconds of the plain loop: data, model, optimizer, epochs of steps, a final evaluation.

    With ``evaluate_each_epoch`` it also computes the test loss and accuracy after every epoch,
    the numbers the lab records, so that the difference to the lab loop is the lab's bookkeeping.
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


def lab_loop(config: RunConfig, monitor: bool) -> tuple[tuple[float, float], float]:
    """(wall, CPU) seconds of execute() with records, checkpoints and a rendered progress bar; accuracy."""
    from rich.console import Console

    with tempfile.TemporaryDirectory() as run_dir:
        start, cpu = time.perf_counter(), time.process_time()
        progress = TrainingProgress(config, Console(file=io.StringIO(), force_terminal=True, width=120))
        with progress:
            summary = execute(config, run_dir, on_record=progress.on_epoch, on_batch=progress.on_batch,
                              monitor=monitor)
        elapsed = time.perf_counter() - start, time.process_time() - cpu
    return elapsed, summary["test_accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits")
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--optimizer", default="adam")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = RunConfig(args.data, args.optimizer, model=args.model, epochs=args.epochs)
    bare_loop(config), lab_loop(config, False), lab_loop(config, True)  # warm-up: imports, first build
    times: dict[str, list[tuple[float, float]]] = {
        "bare torch loop": [], "bare loop + per-epoch test eval": [], "lab loop": [], "lab loop + monitors": []}
    for _ in range(args.repeats):
        times["bare torch loop"].append(bare_loop(config))
        times["bare loop + per-epoch test eval"].append(bare_loop(config, evaluate_each_epoch=True))
        times["lab loop"].append(lab_loop(config, False)[0])
        seconds, accuracy = lab_loop(config, True)
        times["lab loop + monitors"].append(seconds)
    print(f"{args.data}/{args.model}/{args.optimizer}, {args.epochs} epochs, {args.threads} thread(s), "
          f"{args.repeats} alternating repeats (lab run test accuracy {100 * accuracy:.2f}%)")
    for index, clock in enumerate(("wall", "CPU")):
        for label, reduce in (("median", statistics.median), ("min", min)):
            values = {name: reduce(t[index] for t in runs) for name, runs in times.items()}
            bare = values["bare torch loop"]
            print(f"{clock} time, {label}: " + ", ".join(
                f"{name} {seconds:.3f} s (ratio {seconds / bare:.3f}, overhead {100 * (seconds / bare - 1):+.1f}%)"
                for name, seconds in values.items()))


if __name__ == "__main__":
    main()
