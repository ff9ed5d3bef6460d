"""The ``lr-find`` and ``diagnose`` commands over :mod:`inertia.diagnostics` (registered by the command line)."""

from __future__ import annotations

import math
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from inertia.cli_checks import (
    MAX_BATCH_SIZE,
    MAX_HVP,
    MAX_STEPS,
    MAX_SWEEPS,
    check_count,
    check_seed,
    output_path,
)
from inertia.diagnostics.diagnose import run_diagnosis
from inertia.diagnostics.diagnose_report import write_diagnosis
from inertia.diagnostics.lr_find import lr_find, write_lr_find
from inertia.diagnostics.workload import make_workload
from inertia.errors import UserInputError
from inertia.lab.optimizer_setup import build_optimizer, refusal
from inertia.optim import OPTIMIZERS
from inertia.problems import MODELS


def _check_positive(flag: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise UserInputError(f"{flag}: must be a positive number, got {value!r}")


def _check_names(optimizer: str, dataset: str, model: str) -> str:
    """The optimizer's lowercase name, once it, the model and their pairing are known to the lab."""
    name = optimizer.lower()
    if name not in OPTIMIZERS:
        raise UserInputError(f"--optimizer: unknown optimizer {optimizer!r}; choose from {', '.join(OPTIMIZERS)}")
    if model not in MODELS:
        raise UserInputError(f"--model: unknown model {model!r}; choose from {', '.join(MODELS)}")
    refused = refusal(name, "training", dataset, model)
    if refused is not None:
        raise UserInputError(f"--optimizer: {refused}")
    return name


def _setup(optimizer: str, dataset: str, model: str, seed: int, batch_size: int,
           lr: float | None) -> tuple[Any, Any]:
    """Build the workload and the optimizer, turning bad names into errors that name the flag."""
    name = _check_names(optimizer, dataset, model)
    check_count("--batch-size", batch_size, 1, MAX_BATCH_SIZE)
    check_seed("--seed", seed)
    try:
        workload = make_workload(dataset, model, seed=seed, batch_size=batch_size)
    except (ValueError, OSError) as exc:  # unknown spec, missing or malformed files
        raise UserInputError(f"--data: {exc}") from exc
    hyper = {} if lr is None else {"lr": lr}
    return workload, build_optimizer(name, workload.model.named_parameters(), **hyper)


def _print_table(title: str, rows: list[tuple[str, str]]) -> None:
    table = Table(title=title, show_header=False)
    table.add_column("quantity", style="bold")
    table.add_column("value")
    for key, value in rows:
        table.add_row(key, value)
    Console().print(table)


def lr_find_command(
    optimizer: str = typer.Option("sgd", "--optimizer", help="Optimizer name (sgd, momentum, adam, ...)."),
    dataset: str = typer.Option("digits", "--data", "--dataset", help="digits, teacher, mnist:PATH or cifar10:PATH."),
    model: str = typer.Option("mlp", "--model", help="softmax, mlp or cnn."),
    lr_min: float = typer.Option(1e-5, "--lr-min", help="First learning rate of the sweep."),
    lr_max: float = typer.Option(10.0, "--lr-max", help="Last learning rate of the sweep."),
    steps: int = typer.Option(100, "--steps", help="Training steps per sweep."),
    seeds: int = typer.Option(3, "--seeds", help="Number of sweeps (mini-batch orders 0..seeds-1)."),
    batch_size: int = typer.Option(64, "--batch-size", help="Mini-batch size."),
    seed: int = typer.Option(0, "--seed", help="Seed of the data split and the initial weights."),
    curvature: bool = typer.Option(True, "--curvature/--no-curvature",
                                   help="Cross-check against 2/lambda_max of the initial training loss."),
    out: str = typer.Option("lr-find", "--out", help="Output folder for lr_find.png and summary.json."),
) -> None:
    """Learning-rate range test: exponential sweep over several seeds; writes a plot and summary.json."""
    _check_positive("--lr-min", lr_min)
    _check_positive("--lr-max", lr_max)
    if lr_max <= lr_min:
        raise UserInputError(f"--lr-max: must exceed --lr-min={lr_min}, got {lr_max!r}")
    check_count("--steps", steps, 10, MAX_STEPS)
    check_count("--seeds", seeds, 1, MAX_SWEEPS)
    _check_names(optimizer, dataset, model)  # before the output folder is made
    folder = output_path("--out", out, directory=True)
    workload, opt = _setup(optimizer, dataset, model, seed, batch_size, None)
    result = lr_find(workload.model, opt, workload.batch_loss, lr_min=lr_min, lr_max=lr_max, num_steps=steps,
                     seeds=range(seeds), curvature_loss=workload.train_loss if curvature else None)
    result.settings.update(optimizer=optimizer.lower(), dataset=dataset, model=model, batch_size=batch_size,
                           seed=seed, curvature=curvature)
    plot_path, summary_path = write_lr_find(result, folder)
    rows = [("suggested lr", f"{result.suggested_lr:.4g}"), ("confidence", f"{result.confidence:.2f}"),
            ("rule", result.rule), ("steepest .. minimum", f"{result.steepest_lr:.3g} .. {result.minimum_lr:.3g}"),
            ("per seed", ", ".join(f"{c.suggestion:.3g} ({c.stop_reason})" for c in result.curves))]
    if result.lambda_max is not None:
        rows.append(("lambda_max at start", f"{result.lambda_max:.4g}"))
    rows += [("note", note) for note in result.notes]
    rows += [("plot", str(plot_path)), ("summary", str(summary_path))]
    _print_table(f"lr-find: {optimizer} on {dataset}/{model}", rows)


def diagnose_command(
    optimizer: str = typer.Option("sgd", "--optimizer", help="Optimizer name (sgd, momentum, adam, ...)."),
    lr: float = typer.Option(None, "--lr", help="Learning rate (default: the optimizer's default)."),
    dataset: str = typer.Option("digits", "--data", "--dataset", help="digits, teacher, mnist:PATH or cifar10:PATH."),
    model: str = typer.Option("mlp", "--model", help="softmax, mlp or cnn."),
    steps: int = typer.Option(300, "--steps", help="Training steps."),
    interval: int = typer.Option(10, "--interval", help="Monitor sampling interval in steps."),
    batch_size: int = typer.Option(64, "--batch-size", help="Mini-batch size."),
    seed: int = typer.Option(0, "--seed", help="Seed of the data, the initial weights and the batch order."),
    max_hvp: int = typer.Option(40, "--max-hvp", help="Hessian-vector products per eigenvalue estimate."),
    out: str = typer.Option("diagnose-report", "--out", help="Output folder for index.html and summary.json."),
) -> None:
    """Short training under the optimizer monitors plus Hessian diagnostics; writes an HTML report."""
    if lr is not None:
        _check_positive("--lr", lr)
    check_count("--steps", steps, 2, MAX_STEPS)
    check_count("--interval", interval, 1, MAX_STEPS)
    check_count("--max-hvp", max_hvp, 2, MAX_HVP)
    _check_names(optimizer, dataset, model)  # before the output folder is made
    folder = output_path("--out", out, directory=True)
    workload, opt = _setup(optimizer, dataset, model, seed, batch_size, lr)
    used_lr = float(opt.param_groups[0]["lr"])
    settings = {"optimizer": optimizer, "lr": used_lr, "dataset": dataset, "model": model,
                "batch_size": batch_size, "seed": seed}
    run = run_diagnosis(workload, opt, steps=steps, interval=interval, max_hvp=max_hvp, seed=seed,
                        settings=settings)
    html_path, summary_path = write_diagnosis(run, folder)
    rows = [("final mini-batch loss", f"{run.losses[-1]:.4g}"), ("test accuracy", f"{run.test_accuracy:.3f}"),
            ("warnings", str(len(run.diagnoses)))]
    rows += [(f"step {d.step}", d.message) for d in run.diagnoses[:10]]
    if run.stability is not None:
        rows.append(("edge of stability", f"lambda_max {run.stability.lambda_max:.4g} vs "
                                          f"{run.stability.threshold:.4g}: {run.stability.verdict}"))
    rows += [("note", note) for note in run.notes]
    rows += [("report", str(html_path)), ("summary", str(summary_path))]
    _print_table(f"diagnose: {optimizer} (lr {used_lr:g}) on {dataset}/{model}", rows)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the inertia app."""
    app.command("lr-find")(lr_find_command)
    app.command("diagnose")(diagnose_command)
