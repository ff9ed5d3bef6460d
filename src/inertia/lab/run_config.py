"""What a run is: :class:`RunConfig` (problem x optimizer x hyperparameters x schedule x seed) and its defaults.

Also the error every lab setting raises (:class:`ConfigError`) and the small text helpers the
config readers share. Checking a config is :mod:`inertia.lab.run_validation`; its run directory is
:mod:`inertia.lab.run_storage`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

DATASET_KINDS = ("digits", "teacher", "mnist", "cifar10")


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
