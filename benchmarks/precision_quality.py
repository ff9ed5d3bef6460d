"""Does each ``precision`` mode of ``inertia.Adam`` train as well as fp32 Adam? (issue 16, "Quality")

Problems, built as ``inertia compare`` builds them (``load_dataset(problem, seed=0)`` and
``make_model(model, ...)`` with the lab's defaults, the model's initialisation seeded by the run's seed):
digits with the MLP, digits with the CNN, and the teacher-student problem with the MLP.

Modes (the model is cast to the mode's parameter dtype before the optimizer is built; the forward runs in
the parameters' dtype, inputs cast to it, no autocast; the logits are upcast to float32 for the loss):

- ``fp32`` the baseline: float32 parameters, ``precision="native"``;
- ``bf16 master``, ``bf16 stochastic``, ``bf16 stochastic+bf16-state``: bfloat16 parameters;
- ``fp32 native+8bit-state``: float32 parameters, 8-bit block-wise moments (tensors of >= 4096 values);
- ``bf16 native``: bfloat16 parameters stepped as torch does (round to nearest), the case the option exists for.

Every mode uses the same lr (1e-3 by default: the lab's Adam default, not tuned per mode), the same seeds
(each seed fixes the initialisation, the batch order and the rounding seed) and batch size 64. Each row gives
the test accuracy's mean and 95% t-interval over the seeds, its difference to fp32's mean in points, whether
that difference is within 0.5 points, and the final training loss (mean over the last epoch's examples).

The stall: an epoch "still improves" when its training loss is below the previous epoch's by more than 1%
(relative; epoch 1 compares with the loss before training); the stall epoch is the last epoch that still
improves. A small-lr run on the teacher problem (``--stall-lr``, 1e-4 by default: Adam's steps of about lr are
then below half the bf16 spacing of most weights, while the fp32 run still improves late) is plotted for fp32,
bf16 native and bf16 stochastic.

Example::

    nice -n 10 python benchmarks/precision_quality.py --epochs 10 --seeds 5
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from scipy import stats

import inertia
from inertia.problems.datasets import Dataset, load_dataset
from inertia.problems.models import make_model


class Mode(NamedTuple):
    """A precision mode: the parameters' dtype and the optimizer's ``precision`` value."""

    dtype: torch.dtype
    precision: str


MODES: dict[str, Mode] = {
    "fp32": Mode(torch.float32, "native"),
    "bf16 master": Mode(torch.bfloat16, "master"),
    "bf16 stochastic": Mode(torch.bfloat16, "stochastic"),
    "bf16 stochastic+bf16-state": Mode(torch.bfloat16, "stochastic+bf16-state"),
    "fp32 native+8bit-state": Mode(torch.float32, "native+8bit-state"),
    "bf16 native": Mode(torch.bfloat16, "native"),
}
BASELINE = "fp32"
PROBLEMS: dict[str, tuple[str, str]] = {
    "digits-mlp": ("digits", "mlp"), "digits-cnn": ("digits", "cnn"), "teacher-mlp": ("teacher", "mlp"),
}
STALL_MODES = ("fp32", "bf16 native", "bf16 stochastic")
TOLERANCE_POINTS = 0.5
STALL_DROP = 0.01  # an epoch improves when its loss is below the previous one by more than this fraction


@dataclass
class RunResult:
    """One training run: the training loss before training and after each epoch, the test accuracy, or the
    error it raised (``"TypeName: message"``)."""

    losses: list[float] = field(default_factory=list)
    test_accuracy: float = math.nan
    error: str | None = None


def epoch_loss(model: torch.nn.Module, optimizer: torch.optim.Optimizer, data: Dataset, dtype: torch.dtype,
               batch_size: int, epoch: int, seed: int) -> float:
    """One epoch of steps; the training loss averaged over the epoch's examples."""
    total, count = 0.0, 0
    for inputs, labels in data.batches(batch_size, epoch=epoch, seed=seed):
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(inputs.to(dtype)).float(), labels)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(labels)
        count += len(labels)
    return total / count


@torch.no_grad()
def evaluate(model: torch.nn.Module, inputs: torch.Tensor, labels: torch.Tensor,
             dtype: torch.dtype) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on ``(inputs, labels)``, forward in ``dtype``."""
    logits = model(inputs.to(dtype)).float()
    return float(F.cross_entropy(logits, labels)), float((logits.argmax(dim=1) == labels).float().mean())


def train(problem: str, mode: Mode, seed: int, lr: float, epochs: int, batch_size: int) -> RunResult:
    """Train ``problem``'s model under ``mode``; an exception is recorded in the result, not raised."""
    dataset, model_name = PROBLEMS[problem]
    data = load_dataset(dataset, seed=0)
    model = make_model(model_name, data.input_shape, data.num_classes, seed=seed).to(mode.dtype)
    result = RunResult()
    try:
        torch.manual_seed(seed)  # fixes the rounding seed of a stochastic group
        optimizer = inertia.Adam(model.parameters(), lr=lr, precision=mode.precision)
        result.losses.append(evaluate(model, data.X_train, data.y_train, mode.dtype)[0])
        for epoch in range(epochs):
            result.losses.append(epoch_loss(model, optimizer, data, mode.dtype, batch_size, epoch, seed))
        result.test_accuracy = evaluate(model, data.X_test, data.y_test, mode.dtype)[1]
    except Exception as error:  # noqa: BLE001 - a failing mode is reported, with its message, not hidden
        result.error = f"{type(error).__name__}: {error}"
    return result


def stall_epoch(losses: list[float], drop: float = STALL_DROP) -> int:
    """The last epoch whose loss is below the previous one's by more than ``drop`` (relative).

    ``losses[0]`` is the loss before training, ``losses[e]`` the one after epoch ``e``; 0 when no epoch
    improved that much."""
    improving = [e for e in range(1, len(losses)) if losses[e] < losses[e - 1] * (1.0 - drop)]
    return improving[-1] if improving else 0


def t_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of the two-sided t-interval of ``values`` (half-width nan for one value)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, math.nan
    half = stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, float(half)


@dataclass
class Row:
    """The summary of one (problem, mode) over its seeds."""

    problem: str
    mode: str
    accuracy_mean: float
    accuracy_half_width: float
    difference_points: float
    within_tolerance: bool
    final_loss: float
    stall_epochs: list[int]
    errors: list[str]


def summarise(problem: str, results: dict[str, list[RunResult]]) -> list[Row]:
    """One row per mode; accuracies in percent, differences to the baseline's mean in points."""
    baseline = [100 * r.test_accuracy for r in results[BASELINE] if r.error is None]
    base_mean = statistics.fmean(baseline) if baseline else math.nan
    rows = []
    for mode, runs in results.items():
        good = [r for r in runs if r.error is None]
        accuracies = [100 * r.test_accuracy for r in good]
        mean, half = t_interval(accuracies) if accuracies else (math.nan, math.nan)
        rows.append(Row(problem, mode, mean, half, mean - base_mean, abs(mean - base_mean) <= TOLERANCE_POINTS,
                        statistics.fmean(r.losses[-1] for r in good) if good else math.nan,
                        [stall_epoch(r.losses) for r in good], [r.error for r in runs if r.error]))
    return rows


def markdown_table(rows: list[Row], epochs: int) -> str:
    """The rows as a markdown table; the stall column lists each seed's stall epoch for bf16 native."""
    lines = ["| problem | mode | test acc. % (mean ± 95% t) | Δ vs fp32 (pts) | within 0.5 | final train loss "
             f"| stall epoch (of {epochs}) per seed |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        stall = ", ".join(map(str, row.stall_epochs)) if row.mode == "bf16 native" else ""
        within = "yes" if row.within_tolerance else "**no**"
        if row.errors:
            within = f"error in {len(row.errors)} run(s)"
        lines.append(f"| {row.problem} | {row.mode} | {row.accuracy_mean:.2f} ± {row.accuracy_half_width:.2f} | "
                     f"{row.difference_points:+.2f} | {within} | {row.final_loss:.4f} | {stall} |")
    return "\n".join(lines)


def stall_figure(curves: dict[str, list[float]], lr: float, path: Path) -> None:
    """Training loss against epoch for each mode in ``curves``, stall epochs marked, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 4.0))
    for mode, losses in curves.items():
        axes.plot(range(len(losses)), losses, linestyle="--" if mode == BASELINE else "-", zorder=3 if mode == BASELINE else 2,
                  label=f"{mode} (last epoch falling > 1%: {stall_epoch(losses)})")
    axes.set(xlabel="epoch", ylabel="training loss (log scale)", yscale="log",
             title=f"teacher-student MLP, Adam lr={lr:g}, seed 0\nbf16 native vs bf16 stochastic vs fp32")
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1, the value named otherwise."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0, the value named otherwise."""
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {value}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; bad values stop with exit code 2, the value named."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=positive_int, default=10, help="epochs per run (compare's default: 10)")
    parser.add_argument("--batch-size", type=positive_int, default=64)
    parser.add_argument("--lr", type=positive_float, default=1e-3)
    parser.add_argument("--seeds", type=positive_int, default=5)
    parser.add_argument("--problems", nargs="+", choices=list(PROBLEMS), default=list(PROBLEMS))
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    parser.add_argument("--stall-lr", type=positive_float, default=1e-4)
    parser.add_argument("--stall-epochs", type=positive_int, default=40, help="epochs of the figure's runs (0: none)")
    parser.add_argument("--figure", type=Path, default=Path("benchmarks/results/precision_stall.png"))
    parser.add_argument("--no-figure", action="store_true", help="skip the small-lr runs and the figure")
    args = parser.parse_args(argv)
    if BASELINE not in args.modes:
        parser.error(f"--modes must include the baseline {BASELINE!r}, got {args.modes}")
    return args


def run_table(args: argparse.Namespace) -> list[Row]:
    """Every (problem, mode, seed) run, summarised per (problem, mode)."""
    rows: list[Row] = []
    for problem in args.problems:
        results = {mode: [train(problem, MODES[mode], seed, args.lr, args.epochs, args.batch_size)
                          for seed in range(args.seeds)] for mode in args.modes}
        rows += summarise(problem, results)
    return rows


def run_stall(args: argparse.Namespace) -> dict[str, RunResult]:
    """The figure's runs: the teacher problem at ``--stall-lr``, seed 0, for :data:`STALL_MODES`."""
    return {mode: train("teacher-mlp", MODES[mode], 0, args.stall_lr, args.stall_epochs, args.batch_size)
            for mode in STALL_MODES}


def main(argv: list[str] | None = None) -> None:
    """Run the table (and the stall figure) and print them as markdown."""
    args = parse_args(argv)
    torch.set_num_threads(1)
    started = time.perf_counter()
    rows = run_table(args)
    print(f"## Precision modes: quality ({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, torch {torch.__version__})")
    print(f"\nAdam lr={args.lr:g} for every mode, {args.epochs} epochs, batch {args.batch_size}, "
          f"seeds 0-{args.seeds - 1}; forward in the parameters' dtype.\n")
    print(markdown_table(rows, args.epochs))
    for row in rows:
        for error in row.errors:
            print(f"\nERROR {row.problem} / {row.mode}: {error}\n  reproduce: python benchmarks/precision_quality.py "
                  f"--problems {row.problem} --modes fp32 '{row.mode}' --seeds {args.seeds} --epochs {args.epochs}")
    if not args.no_figure:
        stall = run_stall(args)
        curves = {mode: r.losses for mode, r in stall.items() if r.error is None}
        stall_figure(curves, args.stall_lr, args.figure)
        print(f"\nStall runs (teacher-mlp, seed 0, lr {args.stall_lr:g}, {args.stall_epochs} epochs): figure {args.figure}")
        for mode, result in stall.items():
            detail = result.error or (f"stall epoch {stall_epoch(result.losses)}, loss {result.losses[0]:.4f} -> "
                                      f"{result.losses[-1]:.4f}, test acc {100 * result.test_accuracy:.2f}%")
            print(f"- {mode}: {detail}")
    print(f"\nwall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
