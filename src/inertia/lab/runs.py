"""Runs: one problem x optimizer x hyperparameters x schedule x seed, recorded in a run directory.

A run directory holds

- ``config.json``   the :class:`RunConfig` (what was asked for);
- ``summary.json``  status (``running``, ``completed``, ``diverged``, ``failed``), message, final
  and target metrics, wall time;
- ``metrics.csv``   one row per optimizer step (problems) or per epoch (training);
- ``checkpoint.pt`` the latest good state (parameters, optimizer, schedule, records so far; see
  :mod:`inertia.lab.checkpoints`).

Every file is replaced atomically (temporary file + ``os.replace``), so a run killed at any moment
leaves complete files behind, and :func:`execute` on the same directory resumes from the
checkpoint and ends with exactly the records of an uninterrupted run (wall times aside).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from inertia.io.atomic import atomic_write_text, unwritable_reason
from inertia.io.json_files import json_safe, read_json, write_json

DATASET_KINDS = ("digits", "teacher", "mnist", "cifar10")
STATUSES = ("running", "completed", "diverged", "failed")
Record = dict[str, Any]
OnRecord = Callable[[Record], None]


class ConfigError(ValueError):
    """A bad setting of a run or comparison, as the Python API names it.

    ``field`` is the argument's name (``batch_size``, ``run_dir``, ...), ``detail`` what is wrong with
    its value; ``str()`` is ``"field: detail"``. A command line reports ``detail`` under its own flag.
    """

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail

    def __reduce__(self) -> tuple[type, tuple[str, str]]:  # picklable across worker processes
        return type(self), (self.field, self.detail)


def is_dataset_spec(problem: str) -> bool:
    """Whether ``problem`` names a dataset (``digits``, ``teacher``, ``mnist:PATH``, ``cifar10:PATH``)."""
    return problem.partition(":")[0] in DATASET_KINDS


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run; equal configs give identical records.

    Args:
        problem: an optimization problem name (``inertia problems``: a surface or ``quadratic``) or
            a dataset spec (``digits``, ``teacher``, ``mnist:PATH``, ``cifar10:PATH``).
        optimizer: a name from :data:`inertia.optim.OPTIMIZERS`.
        lr: learning rate; None keeps the optimizer's default.
        hyper: other optimizer keyword arguments (``momentum``, ``betas``, ...).
        schedule: a schedule SPEC (:mod:`inertia.lab.schedule_spec`); its unit is the step for
            problems and the epoch for datasets.
        seed: seeds the gradient noise (problems) or the model initialisation and batch order (datasets).
        steps: optimizer steps (problems).
        problem_params: keyword arguments of the problem (e.g. ``{"kappa": 50}``).
        noise: gradient-noise standard deviation (problems).
        start: starting point (problems); None uses the problem's.
        model, epochs, batch_size, data_seed: training settings (datasets); ``data_seed`` fixes
            the train/test split independently of ``seed``.
        target: problems: the suboptimality ``f - f*`` (or the loss when ``f*`` is unknown) to reach;
            datasets: the test accuracy to reach. None: problems use 1e-3 of the initial gap.
        checkpoint_every: checkpoint every this many steps (problems) or epochs (datasets);
            None checkpoints every ``checkpoint_interval_s`` seconds of wall time.
    """

    problem: str
    optimizer: str
    lr: float | None = None
    hyper: Mapping[str, Any] = field(default_factory=dict)
    schedule: str | None = None
    seed: int = 0
    steps: int = 200
    problem_params: Mapping[str, Any] = field(default_factory=dict)
    noise: float = 0.0
    start: tuple[float, ...] | None = None
    model: str = "mlp"
    epochs: int = 30
    batch_size: int = 64
    data_seed: int = 0
    target: float | None = None
    checkpoint_every: int | None = None
    checkpoint_interval_s: float = 10.0

    @property
    def kind(self) -> str:
        """``"training"`` for datasets, ``"optimization"`` for problems."""
        return "training" if is_dataset_spec(self.problem) else "optimization"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples as lists); :meth:`from_dict` inverts it."""
        data = asdict(self)
        data["hyper"] = dict(self.hyper)
        data["problem_params"] = dict(self.problem_params)
        data["start"] = list(self.start) if self.start is not None else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunConfig:
        """Build from :meth:`to_dict` output; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known - {"kind"})
        if unknown:
            raise ValueError(f"config: unknown field(s) {', '.join(unknown)}")
        values = {k: v for k, v in data.items() if k in known}
        if values.get("start") is not None:
            values["start"] = tuple(values["start"])
        if values.get("hyper"):  # JSON has lists where the optimizer was given tuples (betas)
            values["hyper"] = {k: tuple(v) if isinstance(v, list) else v for k, v in values["hyper"].items()}
        return cls(**values)

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with some fields changed."""
        return RunConfig.from_dict({**self.to_dict(), **changes})

    def digest(self) -> str:
        """Short stable hash of the config (8 hex digits)."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()[:8]

    def run_id(self) -> str:
        """A readable, unique directory name: ``problem-optimizer-lrX-sN-hash``."""
        lr = "default" if self.lr is None else f"{self.lr:.3g}"
        slug = re.sub(r"[^A-Za-z0-9_.]+", "_", self.problem.partition(":")[0])
        return f"{slug}-{self.optimizer}-lr{lr}-s{self.seed}-{self.digest()}"

    def optimizer_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the optimizer factory (``lr`` included when set)."""
        kwargs = dict(self.hyper)
        if self.lr is not None:
            kwargs["lr"] = self.lr
        return kwargs


SEED_LIMIT = 2**63  # seeds feed torch.manual_seed and numpy's SeedSequence
DATA_SEED_LIMIT = 2**32  # the digits split's random_state (scikit-learn) takes 32-bit seeds
# Upper bounds of the counts: far above any workload of the lab, below what would overflow torch's
# indices or keep a record per step (problems) or epoch (datasets) the machine cannot hold.
COUNT_LIMITS = {"steps": 1_000_000, "epochs": 100_000, "batch_size": 10_000_000, "checkpoint_every": 1_000_000}


def _is_count(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def validate(config: RunConfig) -> None:
    """Check a config before running it; raise :class:`ConfigError` naming the field and the value.

    Dataset paths are checked too (the files must be where ``mnist:PATH``/``cifar10:PATH`` says), so a
    bad path is reported before a run directory is created.
    """
    from inertia.lab.hyper_spec import check_hyper
    from inertia.lab.schedule_spec import parse_schedule
    from inertia.optim import OPTIMIZERS

    if config.optimizer not in OPTIMIZERS:
        raise ConfigError("optimizer", f"unknown optimizer {config.optimizer!r} (choose from {', '.join(OPTIMIZERS)})")
    if config.lr is not None and not (isinstance(config.lr, (int, float)) and math.isfinite(config.lr)
                                      and config.lr > 0):
        raise ConfigError("lr", f"must be a finite number > 0, got {config.lr!r}")
    _check_counts(config)
    if not (isinstance(config.noise, (int, float)) and math.isfinite(config.noise) and config.noise >= 0):
        raise ConfigError("noise", f"must be a finite number >= 0, got {config.noise!r}")
    if config.kind == "training":
        from inertia.problems.models import MODELS

        if config.model not in MODELS:
            raise ConfigError("model", f"unknown model {config.model!r} (choose from {', '.join(MODELS)})")
        check_dataset(config.problem)
    else:
        from inertia.problems.registry import PROBLEMS

        if config.problem not in PROBLEMS:
            raise ConfigError("problem", f"unknown problem {config.problem!r} (choose from {', '.join(PROBLEMS)}, "
                                         f"or a dataset: {', '.join(DATASET_KINDS)})")
    _check_target(config)
    parse_schedule(config.schedule, total_steps=config.epochs if config.kind == "training" else config.steps)
    check_hyper(config.optimizer, config.hyper)


def _check_counts(config: RunConfig) -> None:
    """Seeds in their generators' ranges; step, epoch, batch and checkpoint counts in [1, COUNT_LIMITS]."""
    for name, limit in (("seed", SEED_LIMIT), ("data_seed", DATA_SEED_LIMIT)):
        value = getattr(config, name)
        if not (_is_count(value, 0) and value < limit):
            raise ConfigError(name, f"must be an integer in [0, 2**{limit.bit_length() - 1}), got {value!r}")
    for name, limit in COUNT_LIMITS.items():
        value = getattr(config, name)
        if not (name == "checkpoint_every" and value is None) and not (_is_count(value, 1) and value <= limit):
            raise ConfigError(name, f"must be an integer in [1, {limit}], got {value!r}")


def check_dataset(spec: str) -> None:
    """Raise :class:`ConfigError` (field ``problem``) unless the dataset ``spec`` can be found.

    ``digits`` and ``teacher`` take no path; ``mnist:PATH`` needs the four IDX files in PATH and
    ``cifar10:PATH`` the six python batches (file contents are read only when the run loads them).
    """
    from inertia.problems.file_formats import find_cifar10_dir, find_mnist_files

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
    if isinstance(target, bool) or not isinstance(target, (int, float)) or not math.isfinite(target):
        raise ConfigError("target", f"must be a finite number, got {target!r}")
    if config.kind == "training":
        if not 0 < target <= 1:
            raise ConfigError("target", f"the test accuracy to reach must be a fraction in (0, 1], got {target!r}")
    elif target <= 0 and _min_value(config) is not None:
        raise ConfigError("target", f"the gap f - f* to reach must be > 0 ({config.problem} has a known "
                                    f"minimum f*), got {target!r}")


def _min_value(config: RunConfig) -> float | None:
    """The problem's minimum ``f*`` (None when unknown)."""
    from inertia.problems.registry import get_problem

    try:
        return get_problem(config.problem, **config.problem_params).min_value
    except (TypeError, ValueError) as exc:
        raise ConfigError("problem_params", f"{dict(config.problem_params)!r} rejected by {config.problem}: "
                                            f"{' '.join(str(exc).split())}") from None


# ----------------------------------------------------------------------------- run directory I/O
def write_metrics(path: Path, rows: list[Record]) -> None:
    """Write records as CSV atomically; columns are the union of the rows' keys, in first-seen order."""
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _csv_cell(v) for k, v in row.items()} for row in rows)
    atomic_write_text(path, buffer.getvalue())


def _csv_cell(value: Any) -> Any:
    return repr(value) if isinstance(value, float) else value


def read_metrics(path: Path) -> list[Record]:
    """Read ``metrics.csv``: numbers become int/float (exactly, via repr round-trip), blanks None."""
    with open(path, newline="", encoding="utf-8") as handle:
        return [{k: _parse_cell(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def _parse_cell(text: str) -> Any:
    return None if text == "" else number_or_text(text)


def number_or_text(text: str) -> Any:
    """``text`` as an int, else a float, else unchanged."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (at most 160 characters), or its type's name."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def read_run_json(path: Path) -> dict[str, Any]:
    """:func:`read_json` of a run directory's file; :class:`ConfigError` on ``run_dir`` if it is not valid JSON."""
    try:
        data = read_json(path)
    except (OSError, ValueError) as exc:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ConfigError("run_dir", f"{str(path)!r} cannot be read ({one_line(exc)}); choose another "
                                     "directory or remove it") from None
    if not isinstance(data, dict):
        raise ConfigError("run_dir", f"{str(path)!r} holds {type(data).__name__}, not a JSON object")
    return data


@dataclass
class RunDir:
    """Paths of a run directory."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.csv"

    @property
    def checkpoint(self) -> Path:
        return self.root / "checkpoint.pt"


def check_output_dir(path: str | os.PathLike, name: str = "out") -> Path:
    """Return ``path`` if it is, or can be created as, a writable directory; else raise
    :class:`ConfigError` naming ``name`` and the path (so a long job does not fail only when it
    writes its output)."""
    reason = unwritable_reason(path, directory=True)
    if reason is not None:
        raise ConfigError(name, reason)
    return Path(path)


def check_run_dir(config: RunConfig, run_dir: str | os.PathLike) -> RunDir:
    """Check, writing nothing, that ``run_dir`` can be created or holds this same config
    (:class:`ConfigError` on ``run_dir`` if it holds another, or a config that cannot be read)."""
    paths = RunDir(check_output_dir(run_dir, "run_dir"))
    if paths.config.exists():
        existing = read_run_json(paths.config)
        existing.pop("kind", None)
        wanted = json.loads(json.dumps(json_safe(config.to_dict())))
        if existing != wanted:
            changed = sorted(k for k in set(existing) | set(wanted) if existing.get(k) != wanted.get(k))
            raise ConfigError("run_dir", f"{str(paths.root)!r} holds a different run (differs in: "
                                         f"{', '.join(changed) or 'fields'}); choose another directory")
    return paths


def prepare_run_dir(config: RunConfig, run_dir: str | os.PathLike) -> RunDir:
    """Create the run directory, or check that an existing one holds this same config
    (:class:`ConfigError` on ``run_dir`` if it holds another)."""
    paths = check_run_dir(config, run_dir)
    paths.root.mkdir(parents=True, exist_ok=True)
    write_json(paths.config, {**config.to_dict(), "kind": config.kind})
    return paths
