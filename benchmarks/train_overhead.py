"""Overhead of the lab's training loop against a bare torch loop on the same model and batches.

Both sides load the dataset, build the same model (same seed), take the same mini-batches with
the same optimizer for the same number of epochs and end with a test evaluation. The lab side is
``inertia.lab.execute.execute`` with its default cadence: per-epoch records and test evaluation,
metrics.csv/summary.json/config.json, checkpoints every 10 s and at the end, and the rich progress
bar of ``inertia train`` rendered to an in-memory terminal. Runs alternate (bare, lab, bare, ...)
and the medians are compared.

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


def bare_loop(config: RunConfig) -> tuple[float, float]:
    """(wall, CPU) seconds of the plain loop: data, model, optimizer, epochs of steps, a final evaluation."""
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
    test_loss, test_accuracy = evaluate(model, data.X_test, data.y_test)
    elapsed = time.perf_counter() - start, time.process_time() - cpu
    assert test_loss == test_loss and test_accuracy > 0
    return elapsed


def lab_loop(config: RunConfig) -> tuple[tuple[float, float], float]:
    """(wall, CPU) seconds of execute() with records, checkpoints and a rendered progress bar; accuracy."""
    from rich.console import Console

    with tempfile.TemporaryDirectory() as run_dir:
        start, cpu = time.perf_counter(), time.process_time()
        progress = TrainingProgress(config, Console(file=io.StringIO(), force_terminal=True, width=120))
        with progress:
            summary = execute(config, run_dir, on_record=progress.on_epoch, on_batch=progress.on_batch)
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
    bare_loop(config), lab_loop(config)  # warm-up: imports, first optimizer construction
    bare, lab = [], []
    for _ in range(args.repeats):
        bare.append(bare_loop(config))
        seconds, accuracy = lab_loop(config)
        lab.append(seconds)
    print(f"{args.data}/{args.model}/{args.optimizer}, {args.epochs} epochs, {args.threads} thread(s), "
          f"{args.repeats} alternating repeats (lab run test accuracy {100 * accuracy:.2f}%)")
    for index, clock in enumerate(("wall", "CPU")):
        bare_times, lab_times = [b[index] for b in bare], [b[index] for b in lab]
        bare_median, lab_median = statistics.median(bare_times), statistics.median(lab_times)
        print(f"{clock:>4} time  bare torch loop {bare_median:.3f} s (min {min(bare_times):.3f})  "
              f"lab loop {lab_median:.3f} s (min {min(lab_times):.3f})  "
              f"ratio {lab_median / bare_median:.3f} (overhead {100 * (lab_median / bare_median - 1):+.1f}%)")


if __name__ == "__main__":
    main()
