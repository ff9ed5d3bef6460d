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
bootstrap interval.

A shared VM also slows whole seconds down by 10-25%, so the paired ratios scatter by several
percent. The second measurement does not depend on that: it runs the lab loop with timers around
the work a bare loop also does (dataset and model setup, every epoch's mini-batch steps, every
test evaluation) and around the lab's own callbacks inside it (progress updates, monitor hooks),
and reports the rest of the run's CPU time (run directory, records, checkpoints, progress,
per-epoch bookkeeping; with monitors, their hooks and files too) as a fraction of that work. The
verdict compares the accounted overhead of the loop itself (monitors off: they are diagnostics
with their own cost, printed beside it) with the 5% bar; the paired ratios cross-check it.

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
from inertia.lab.run_config import RunConfig
from inertia.lab.run_validation import validate
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


class Accounting:
    """CPU-time accounting of one lab run: the work a bare loop also does, and the lab's callbacks inside it.

    While active, :mod:`inertia.lab.loops`' ``load_training``, ``_make_optimizer``, ``_epoch`` and
    ``evaluate`` count as shared work, and the progress bar's ``on_batch`` and the monitor's step
    hooks (called from inside ``_epoch``) are taken back out of it. The per-step closure of the lab's
    epoch stays in the shared work (a function object and a ``detach`` per step).
    """

    def __init__(self) -> None:
        self.shared = 0.0
        self.evaluation = 0.0
        self._saved: list[tuple[object, str, object]] = []

    def _timed(self, owner: object, name: str, sign: float, evaluation: bool = False) -> None:
        original = getattr(owner, name)

        def timed(*args: object, **kwargs: object) -> object:
            start = time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                spent = time.process_time() - start
                self.shared += sign * spent
                if evaluation:
                    self.evaluation += spent

        self._saved.append((owner, name, original))
        setattr(owner, name, timed)

    def __enter__(self) -> Accounting:
        from inertia.diagnostics.monitor import OptimizerMonitor
        from inertia.lab import loops

        for name in ("load_training", "_make_optimizer", "_epoch"):
            self._timed(loops, name, +1.0)
        self._timed(loops, "evaluate", +1.0, evaluation=True)
        self._timed(TrainingProgress, "on_batch", -1.0)
        for name in ("_pre_step", "_post_step"):
            self._timed(OptimizerMonitor, name, -1.0)
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)


def accounted(config: RunConfig, monitor: bool, repeats: int) -> list[tuple[float, float, float]]:
    """``(total CPU, shared-work CPU, evaluation CPU)`` seconds of ``repeats`` lab runs."""
    out = []
    for _ in range(repeats + 1):  # the first run warms up
        with Accounting() as account:
            (_, cpu), _ = lab_loop(config, monitor)
        out.append((cpu, account.shared, account.evaluation))
    return out[1:]


def report_accounting(config: RunConfig, repeats: int) -> None:
    """Print the accounted overhead of the lab loop, without and with monitors, and the verdict."""
    evaluations = config.epochs
    print(f"\naccounted CPU time, median of {repeats} runs: the lab's own work as a fraction of the work a bare "
          "loop also does")
    for monitor, what in ((False, "lab (records, progress, checkpoints)"), (True, "lab + default monitors")):
        runs = accounted(config, monitor, repeats)
        overhead = statistics.median((total - shared) / shared for total, shared, _ in runs)
        # a bare loop that evaluates only at the end does one of the run's evaluations
        skipped = [evaluation * (evaluations - 1) / evaluations for _, _, evaluation in runs]
        bare = statistics.median((total - shared + skip) / (shared - skip)
                                 for (total, shared, _), skip in zip(runs, skipped, strict=True))
        own_ms = statistics.median(total - shared for total, shared, _ in runs) * 1e3
        verdict = f" ({'within' if overhead <= BAR else 'above'} the {BAR:.0%} bar)" if not monitor else ""
        print(f"{what}: {own_ms:.1f} ms of its own, {100 * overhead:+.1f}% over bare+eval{verdict}; "
              f"{100 * bare:+.1f}% over a bare loop without per-epoch test evaluation")


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
    for option in ("repeats", "threads"):
        if getattr(args, option) < 1:
            parser.error(f"--{option} must be at least 1, got {getattr(args, option)}")
    config = RunConfig(args.data, args.optimizer, model=args.model, epochs=args.epochs)
    try:
        validate(config)
        load_dataset(config.problem, seed=config.data_seed)
    except ValueError as exc:
        parser.error(str(exc))
    torch.set_num_threads(args.threads)
    times, accuracy = measure(config, args.repeats, args.seed)
    print(f"{args.data}/{args.model}/{args.optimizer}, {args.epochs} epochs, {args.threads} torch thread(s), "
          f"{args.repeats} shuffled repeats; lab run test accuracy {100 * accuracy:.2f}%")
    report(times, 0)
    ratios = report(times, 1)
    for name in ("lab", "lab+monitors"):
        median, low, high = ratios[name]
        print(f"paired ratio {name} / bare+eval: {100 * (median - 1):+.1f}% CPU time "
              f"(95% CI {100 * (low - 1):+.1f}% to {100 * (high - 1):+.1f}%)")
    report_accounting(config, args.repeats)


if __name__ == "__main__":
    main()
