"""Command-line commands of inertia.lab (registered by the command line): train, compare, problems, tour.

Bad user input raises ``inertia.errors.UserInputError`` (or ValueError/FileNotFoundError) with a
message naming the argument and its value; the command line's ``main`` prints it on one line and exits 2.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import typer
from rich.console import Console
from rich.table import Table

from inertia.checks import is_number
from inertia.cli_checks import MAX_THREADS, check_count, check_seed, output_path
from inertia.errors import UserInputError
from inertia.lab.compare import MAX_GRID_POINTS, log_grid
from inertia.lab.compare import compare as run_comparison
from inertia.lab.compare_report import write_comparison
from inertia.lab.execute import execute, open_run
from inertia.lab.hyper_spec import check_hyper, parse_hyper
from inertia.lab.optimizer_setup import OPTIMIZER_NOTES
from inertia.lab.preflight import check_training_data
from inertia.lab.run_config import ConfigError, RunConfig, is_dataset_spec
from inertia.lab.run_monitors import MonitorOptions
from inertia.lab.run_validation import validate
from inertia.lab.tour import run_tour
from inertia.lab.train_progress import (
    RunsProgress,
    TrainingProgress,
    print_failures,
    print_leaderboard,
    print_summary,
)
from inertia.optim import OPTIMIZERS
from inertia.problems.models import MODELS
from inertia.problems.registry import PROBLEMS, get_problem, list_problems

# Config fields whose flag is not ``--`` + the field name with dashes (see :func:`flag_of`).
TRAIN_FLAGS = {"problem": "--data", "run_dir": "--out"}
COMPARE_FLAGS = {"optimizer": "--optimizers", "out_dir": "--out", "lrs": "--lr"}


def flag_of(field: str, renamed: Mapping[str, str]) -> str:
    """The command-line flag of a config field: ``renamed[field]``, else ``batch_size`` -> ``--batch-size``."""
    return renamed.get(field, "--" + field.replace("_", "-"))


@contextmanager
def flags_for_fields(renamed: Mapping[str, str]) -> Iterator[None]:
    """Report a :class:`~inertia.lab.run_config.ConfigError` raised inside under the flag of its field."""
    try:
        yield
    except ConfigError as exc:
        raise UserInputError(f"{flag_of(exc.field, renamed)}: {exc.detail}") from exc


def _set_threads(threads: int | None, small: bool) -> None:
    """Torch threads: the given number (checked by :func:`check_count` first); else 1 for small models,
    where threads only add overhead."""
    if threads is not None:
        torch.set_num_threads(threads)
    elif small:
        torch.set_num_threads(1)


def parse_grid(text: str) -> tuple[float, ...]:
    """``LOW:HIGH:POINTS`` (log-spaced) or a comma list of learning rates."""
    try:
        if ":" in text:
            low, high, points = text.split(":")
            spec = (float(low), float(high), int(points))
        else:
            values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise UserInputError(f"--grid: expected LOW:HIGH:POINTS or a comma list of numbers, got {text!r}") from None
    if ":" in text:
        try:
            return log_grid(*spec)
        except ValueError as exc:
            raise UserInputError(f"--grid: {text!r}: {exc}") from None
    if not 2 <= len(values) <= MAX_GRID_POINTS or not all(math.isfinite(v) and v > 0 for v in values):
        raise UserInputError(f"--grid: need 2 to {MAX_GRID_POINTS} positive learning rates, got {text!r}")
    return values


def train(
    data: str = typer.Option("digits", help="digits | teacher | mnist:PATH | cifar10:PATH"),
    model: str = typer.Option("mlp", help="softmax | mlp | cnn"),
    optimizer: str = typer.Option("adam", help=", ".join(OPTIMIZERS)),
    lr: float | None = typer.Option(None, help="learning rate (default: the optimizer's)"),
    schedule: str | None = typer.Option(None, help="per-epoch schedule, e.g. step:every=10,gamma=0.5"),
    epochs: int = typer.Option(30, help="number of epochs"),
    batch_size: int = typer.Option(64, help="mini-batch size"),
    seed: int = typer.Option(0, help="model initialisation and batch order"),
    out: str | None = typer.Option(None, help="run directory (default ./inertia-runs/<run id>)"),
    restart: bool = typer.Option(False, help="discard a previous run in --out and start again"),
    checkpoint_every: int | None = typer.Option(None, help="checkpoint every N epochs (default: every 10 s)"),
    threads: int | None = typer.Option(None, help="torch threads (default: 1 for digits/teacher)"),
    hyper: str | None = typer.Option(None, help="optimizer settings KEY=VALUE[,...], e.g. "
                                                "momentum=0.9,betas=0.9:0.99,weight_decay=1e-4"),
    no_monitor: bool = typer.Option(False, "--no-monitor", help="do not run the optimizer pathology monitors"),
) -> int:
    """Train a classifier; resumes from the run directory's checkpoint when run again.

    Pathology monitors watch the optimizer: warnings are shown live and kept in summary.json.
    """
    if not is_dataset_spec(data):
        raise UserInputError(f"--data: unknown dataset {data!r}; use digits, teacher, mnist:PATH or cifar10:PATH")
    config = RunConfig(problem=data, optimizer=optimizer.lower(), lr=lr, schedule=schedule, seed=seed,
                       model=model, epochs=epochs, batch_size=batch_size, checkpoint_every=checkpoint_every,
                       hyper=parse_hyper(hyper))
    with flags_for_fields(TRAIN_FLAGS):
        validate(config.replace(hyper={}))  # the data path included: a bad one leaves no run directory
        check_hyper(config.optimizer, config.hyper, flag="--hyper")
        if threads is not None:
            check_count("--threads", threads, 1, MAX_THREADS)
        run_dir = output_path("--out", out if out is not None else Path("inertia-runs") / config.run_id(),
                              directory=True)
        check_training_data(config)  # the files' contents and the model's fit: refused before the run directory
        open_run(config, run_dir, restart)  # an existing run directory's files must be readable
        _set_threads(threads, small=data.partition(":")[0] in ("digits", "teacher"))
        return _train_in(config, run_dir, restart, no_monitor)


def _train_in(config: RunConfig, run_dir: Path, restart: bool, no_monitor: bool) -> int:
    """Execute a validated training config in ``run_dir`` with live progress; print the summary."""
    with TrainingProgress(config) as progress:
        monitor = False if no_monitor else MonitorOptions(on_warning=progress.on_warning)
        summary = execute(config, run_dir, on_record=progress.on_epoch, on_batch=progress.on_batch, rerun=restart,
                          monitor=monitor)
    return print_summary(summary, run_dir)


def compare(
    problem: str = typer.Option(..., help="a problem (see `inertia problems`) or a dataset spec"),
    optimizers: str = typer.Option(..., help="comma-separated optimizer names, e.g. sgd,momentum,adam"),
    tune: bool = typer.Option(False, help="fair log-grid lr search per optimizer before the seeds"),
    seeds: int = typer.Option(3, help="seeds per optimizer"),
    out: str = typer.Option("inertia-compare", help="output directory"),
    steps: int = typer.Option(200, help="optimizer steps per run (problems)"),
    epochs: int = typer.Option(10, help="epochs per run (datasets)"),
    model: str = typer.Option("mlp", help="model for datasets"),
    lr: str | None = typer.Option(None, help="learning rate for every optimizer when not tuning, or "
                                           "NAME=LR[,NAME=LR...] per optimizer (others keep their default)"),
    grid: str = typer.Option("1e-4:1:9", help="lr grid for --tune: LOW:HIGH:POINTS or a comma list"),
    tune_seed: int = typer.Option(1_000_000, help="seed of the --tune search runs (held out from the reported "
                                                    "seeds 0..seeds-1 unless it is one of them)"),
    noise: float = typer.Option(0.0, help="gradient-noise standard deviation (problems)"),
    target: float | None = typer.Option(None, help="target gap/loss (problems) or test accuracy (datasets)"),
    schedule: str | None = typer.Option(None, help="schedule SPEC applied to every run"),
    jobs: int = typer.Option(1, help="parallel worker processes"),
    problem_params: str | None = typer.Option(None, help="problem settings KEY=VALUE[,...], e.g. kappa=100"),
    no_monitor: bool = typer.Option(False, "--no-monitor", help="do not run the optimizer pathology monitors"),
) -> int:
    """Compare optimizers on one problem and write a leaderboard and an HTML report.

    Pathology monitors watch every run (unless --no-monitor); the report lists what each showed.
    """
    names = [name.strip().lower() for name in optimizers.split(",") if name.strip()]
    if not names:
        raise UserInputError(f"--optimizers: expected a comma-separated list, got {optimizers!r}")
    common_lr, lrs = parse_lrs(lr, names, tune)
    params = _problem_params(problem, problem_params)
    base = RunConfig(problem=problem, optimizer=names[0], lr=common_lr, steps=steps, epochs=epochs, model=model,
                     noise=noise, target=target, schedule=schedule, problem_params=params)
    with flags_for_fields(COMPARE_FLAGS):
        for name in names:
            validate(base.replace(optimizer=name, lr=lrs.get(name, common_lr)))  # data paths included
        lr_grid = parse_grid(grid) if tune else ()
        out_dir = output_path("--out", out, directory=True)
        with RunsProgress() as progress:
            def on_phase(name: str, runs: int) -> None:  # the first phase starts once every check passed
                _set_threads(None, small=True)
                progress.on_phase(name, runs)

            result = run_comparison(base, names, out_dir, tune=tune, seeds=seeds, grid=lr_grid, jobs=jobs,
                                    on_done=progress.on_done, on_phase=on_phase, lrs=lrs,
                                    monitor=not no_monitor, tune_seed=tune_seed)
    page = write_comparison(result)
    print_leaderboard(result, page)
    return print_failures(result)


def parse_lrs(text: str | None, names: list[str], tune: bool) -> tuple[float | None, dict[str, float]]:
    """``--lr`` of compare: one rate for all (``0.1``) or ``NAME=LR,...`` per optimizer."""
    if text is None or not text.strip():
        return None, {}
    if "=" not in text:
        try:
            rate = float(text)
        except ValueError:
            raise UserInputError(f"--lr: expected a number or NAME=LR[,NAME=LR...], got {text!r}") from None
        if tune:
            raise UserInputError(f"--lr: {text} cannot be combined with --tune (the search picks every rate)")
        return rate, {}
    lrs = parse_hyper(text, flag="--lr")
    for name, value in lrs.items():
        if name not in names:
            raise UserInputError(f"--lr: {name}={value} names no optimizer of --optimizers ({', '.join(names)})")
        if not is_number(value):
            raise UserInputError(f"--lr: {name}={value} is not a number")
    if tune:
        raise UserInputError(f"--lr: per-optimizer rates ({text}) cannot be combined with --tune")
    return None, {name: float(value) for name, value in lrs.items()}


def _problem_params(problem: str, text: str | None) -> dict[str, Any]:
    """``--problem-params`` parsed and tried on the problem (one-line error naming the bad setting)."""
    params = parse_hyper(text, flag="--problem-params")
    if params and (is_dataset_spec(problem) or problem not in PROBLEMS):
        raise UserInputError(f"--problem-params: {text!r} needs a problem from `inertia problems`, got {problem!r}")
    if params:
        try:
            get_problem(problem, **params)
        except (TypeError, ValueError) as exc:
            raise UserInputError(f"--problem-params: {text!r} rejected by {problem}: "
                              f"{' '.join(str(exc).split())}") from None
    return params


def problems() -> int:
    """List the problems and datasets (and the optimizers and models they can be used with)."""
    table = Table(title="inertia problems")
    for column in ("name", "kind", "description"):
        table.add_column(column)
    for name, kind, description in list_problems():
        table.add_row(name, kind, description)
    console = Console()
    console.print(table)
    console.print(f"optimizers: {', '.join(OPTIMIZERS)}")
    for name, note in OPTIMIZER_NOTES.items():
        if name in OPTIMIZERS:
            console.print(f"  {name}: {note}")
    console.print(f"models (datasets): {', '.join(MODELS)}")
    return 0


def tour(
    out: str = typer.Option("inertia-report", help="output directory for index.html"),
    lang: str = typer.Option("en", help="language of the text: en or ko"),
    seed: int = typer.Option(0, help="seed of the tour's random choices"),
) -> int:
    """Walk the optimization notes chapter by chapter and write an HTML report."""
    if lang not in ("en", "ko"):
        raise UserInputError(f"--lang: must be 'en' or 'ko', got {lang!r}")
    check_seed("--seed", seed)  # [0, 2**32), as run_tour checks, but before the output directory is made
    page = run_tour(output_path("--out", out, directory=True), lang=lang, seed=seed)
    print(f"report: {page}")
    return 0


def register(app: typer.Typer) -> None:
    """Add this area's commands to the inertia app."""
    app.command("train")(train)
    app.command("compare")(compare)
    app.command("problems")(problems)
    app.command("tour")(tour)
