"""Checking a :class:`~inertia.lab.run_config.RunConfig` before it runs.

:func:`validate` raises :class:`~inertia.lab.run_config.ConfigError` naming the field and the value;
dataset paths are checked too, so a bad path is reported before a run directory is created.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from inertia.checks import SEED_LIMIT, check_finite_at_least, check_int, check_real, check_seed
from inertia.lab.hyper_spec import check_hyper
from inertia.lab.optimizer_setup import refusal
from inertia.lab.run_config import DATASET_KINDS, ConfigError, RunConfig
from inertia.lab.schedule_spec import parse_schedule
from inertia.optim import OPTIMIZERS
from inertia.optim.validation import check_lr
from inertia.problems.file_formats import find_cifar10_dir, find_mnist_files
from inertia.problems.models import MODELS
from inertia.problems.registry import PROBLEMS, get_problem

DATA_SEED_LIMIT = 2**32  # the digits split's random_state (scikit-learn) takes 32-bit seeds
# Upper bounds of the counts: far above any workload of the lab, below what would overflow torch's
# indices or keep a record per step (problems) or epoch (datasets) the machine cannot hold.
COUNT_LIMITS = {"steps": 1_000_000, "epochs": 100_000, "batch_size": 10_000_000, "checkpoint_every": 1_000_000}
#: The wording of an :mod:`inertia.checks` check inside a :class:`ConfigError`, which puts the field in front.
DETAIL = "{rule}, got {value!r}"


@contextmanager
def config_field(name: str) -> Iterator[None]:
    """Turn the ValueError of a check of field ``name`` into a :class:`ConfigError` (its message the detail)."""
    try:
        yield
    except ValueError as exc:
        raise ConfigError(name, str(exc)) from None


def validate(config: RunConfig) -> None:
    """Check a config before running it; raise :class:`ConfigError` naming the field and the value.

    Dataset paths are checked too (the files must be where ``mnist:PATH``/``cifar10:PATH`` says), so a
    bad path is reported before a run directory is created.
    """
    if config.optimizer not in OPTIMIZERS:
        raise ConfigError("optimizer", f"unknown optimizer {config.optimizer!r} (choose from {', '.join(OPTIMIZERS)})")
    refused = refusal(config.optimizer, config.kind, config.problem, config.model)
    if refused is not None:
        raise ConfigError("optimizer", refused)
    if config.lr is not None:
        with config_field("lr"):
            check_lr(config.lr, style=DETAIL)  # torch.optim's rule, as the optimizers have it
    _check_counts(config)
    with config_field("noise"):
        check_finite_at_least("noise", config.noise, style=DETAIL)
    if config.kind == "training":
        if config.model not in MODELS:
            raise ConfigError("model", f"unknown model {config.model!r} (choose from {', '.join(MODELS)})")
        check_dataset(config.problem)
    elif config.problem not in PROBLEMS:
        raise ConfigError("problem", f"unknown problem {config.problem!r} (choose from {', '.join(PROBLEMS)}, "
                                     f"or a dataset: {', '.join(DATASET_KINDS)})")
    _check_target(config)
    parse_schedule(config.schedule, total_steps=config.epochs if config.kind == "training" else config.steps)
    check_hyper(config.optimizer, config.hyper)


def _check_counts(config: RunConfig) -> None:
    """Seeds in their generators' ranges; step, epoch, batch and checkpoint counts in [1, COUNT_LIMITS]."""
    for name, limit in (("seed", SEED_LIMIT), ("data_seed", DATA_SEED_LIMIT)):
        with config_field(name):
            check_seed(name, getattr(config, name), limit=limit, style=DETAIL)
    for name, limit in COUNT_LIMITS.items():
        value = getattr(config, name)
        if not (name == "checkpoint_every" and value is None):
            with config_field(name):
                check_int(name, value, low=1, high=limit, style=DETAIL)


def check_dataset(spec: str) -> None:
    """Raise :class:`ConfigError` (field ``problem``) unless the dataset ``spec`` can be found.

    ``digits`` and ``teacher`` take no path; ``mnist:PATH`` needs the four IDX files in PATH and
    ``cifar10:PATH`` the six python batches (file contents are read only when the run loads them).
    """
    kind, _, path = spec.partition(":")
    if kind not in DATASET_KINDS:
        raise ConfigError("problem", f"unknown dataset {spec!r} (choose from digits, teacher, mnist:PATH, cifar10:PATH)")
    if kind in ("digits", "teacher"):
        if path:
            raise ConfigError("problem", f"{kind} takes no path, got {spec!r}")
        return
    if not path:
        raise ConfigError("problem", f"{kind} needs a path, as in {kind}:PATH")
    if not Path(path).exists():
        raise ConfigError("problem", f"path {path!r} does not exist")
    try:
        (find_mnist_files if kind == "mnist" else find_cifar10_dir)(Path(path))
    except FileNotFoundError as exc:
        raise ConfigError("problem", str(exc)) from None


def _check_target(config: RunConfig) -> None:
    """A target is a finite number: for datasets a test accuracy, a fraction in (0, 1]; for problems
    with a known minimum ``f*`` a gap ``f - f*`` > 0 (where ``f*`` is unknown it is a loss, any sign)."""
    target = config.target
    if target is None:
        return
    with config_field("target"):
        check_real("target", target, style=DETAIL)
    if config.kind == "training":
        if not 0 < target <= 1:
            raise ConfigError("target", f"the test accuracy to reach must be a fraction in (0, 1], got {target!r}")
    elif target <= 0 and _min_value(config) is not None:
        raise ConfigError("target", f"the gap f - f* to reach must be > 0 ({config.problem} has a known "
                                    f"minimum f*), got {target!r}")


def _min_value(config: RunConfig) -> float | None:
    """The problem's minimum ``f*`` (None when unknown)."""
    try:
        return get_problem(config.problem, **config.problem_params).min_value
    except (TypeError, ValueError) as exc:
        raise ConfigError("problem_params", f"{dict(config.problem_params)!r} rejected by {config.problem}: "
                                            f"{' '.join(str(exc).split())}") from None

