"""Optimizer monitors around the lab's runs (:class:`inertia.diagnostics.OptimizerMonitor`).

A monitored run keeps its monitor's samples in every checkpoint and replays them on resume, so the
rate limit and the detection windows continue where they stopped, and the sampling schedule counts
optimizer steps from the start of the run (a sampled pair of steps that straddles a checkpoint is
lost on resume). The monitor only reads parameters, gradients and optimizer state: a monitored run
records exactly the numbers of an unmonitored one.

Outputs: ``summary.json`` gets ``warnings`` (step, layer, pathology, value, message; ``null`` when
the run was not monitored) and ``monitor`` (settings and counts); ``monitor.json`` in the run
directory holds every sample, from which :func:`load_monitor` rebuilds the curves of
:func:`inertia.diagnostics.diagnose_report.monitor_figure`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from torch import Tensor
from torch.optim import Optimizer

from inertia.diagnostics.monitor import DEFAULT_INTERVAL, OptimizerMonitor, SampleHistory
from inertia.diagnostics.pathologies import Diagnosis
from inertia.diagnostics.stats import Sample
from inertia.diagnostics.thresholds import MonitorThresholds
from inertia.io.atomic import atomic_write_text

MONITOR_FILE = "monitor.json"
WarningRecord = dict[str, Any]
OnWarning = Callable[[WarningRecord], None]


@dataclass(frozen=True)
class MonitorOptions:
    """How a run is monitored: sampling interval (None: the monitor's default, sparse), thresholds,
    and a live callback per warning."""

    interval: int | None = None
    thresholds: MonitorThresholds | None = None
    on_warning: OnWarning | None = None


class RunMonitor:
    """An :class:`OptimizerMonitor` over one run whose samples survive checkpoints.

    Args:
        optimizer: the run's optimizer (its state already restored).
        named_parameters: names of the parameters, for layer names.
        first_step: optimizer steps already taken (the checkpoint's position in steps).
        saved: the ``monitor`` entry of the checkpoint, or None.
        options: sampling interval, thresholds and the live warning callback.
    """

    def __init__(self, optimizer: Optimizer, named_parameters: Iterable[tuple[str, Tensor]],
                 first_step: int = 0, saved: Mapping[str, Any] | None = None,
                 options: MonitorOptions | None = None) -> None:
        options = options or MonitorOptions()
        self._live = options.on_warning
        self.monitor = OptimizerMonitor(optimizer, named_parameters, interval=options.interval or DEFAULT_INTERVAL,
                                        thresholds=options.thresholds, on_warning=lambda d: None)
        self.monitor.restore([Sample(**entry) for entry in saved["samples"]] if saved else [], first_step)
        self.monitor.on_warning = self._emit
        self.from_step = int(saved["from_step"]) if saved else first_step

    def _emit(self, diagnosis: Diagnosis) -> None:
        if self._live is not None:
            self._live(diagnosis.as_dict())

    def __enter__(self) -> RunMonitor:
        self.monitor.attach()
        return self

    def __exit__(self, *exc: object) -> None:
        self.monitor.detach()

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps: every sample so far and the step monitoring started at."""
        return {"from_step": self.from_step, "samples": [s.as_dict() for s in self.monitor.samples]}

    def warnings(self) -> list[WarningRecord]:
        """The warnings emitted so far, oldest first."""
        return [d.as_dict() for d in self.monitor.diagnoses]

    def summary(self) -> dict[str, Any]:
        """The ``monitor`` entry of ``summary.json``."""
        m = self.monitor
        return {"enabled": True, "interval": m.interval, "warmup_steps": m.warmup_steps,
                "warmup_interval": m.warmup_interval, "from_step": self.from_step, "samples": len(m.samples),
                "warnings": len(m.diagnoses), "suppressed": m.gate.suppressed,
                "pathologies": sorted({d.pathology for d in m.diagnoses}), "layers": m.layers}

    def write(self, run_dir: Path) -> None:
        """Write ``monitor.json`` (thresholds, samples, warnings) atomically."""
        record = {"thresholds": asdict(self.monitor.thresholds), **self.state(), "warnings": self.warnings()}
        atomic_write_text(Path(run_dir) / MONITOR_FILE, json.dumps(record, default=float) + "\n")


def start_monitor(options: MonitorOptions | None, optimizer: Optimizer,
                  named_parameters: Iterable[tuple[str, Tensor]], first_step: int,
                  checkpoint: Mapping[str, Any] | None) -> RunMonitor | None:
    """A :class:`RunMonitor` for a run (None when ``options`` is None: not monitored)."""
    if options is None:
        return None
    saved = checkpoint.get("monitor") if checkpoint else None
    return RunMonitor(optimizer, named_parameters, first_step, saved, options)


def summary_fields(monitor: RunMonitor | None) -> dict[str, Any]:
    """``warnings`` and ``monitor`` entries for ``summary.json`` (``warnings`` is None when unmonitored)."""
    if monitor is None:
        return {"warnings": None, "monitor": {"enabled": False}}
    return {"warnings": monitor.warnings(), "monitor": monitor.summary()}


class RecordedMonitor(SampleHistory):
    """The samples of a finished run read back from ``monitor.json``.

    It offers what :func:`inertia.diagnostics.diagnose_report.monitor_figure` reads from an
    :class:`OptimizerMonitor`: ``thresholds``, ``layers``, ``groups``, ``history`` and ``series``.
    """

    def __init__(self, samples: Iterable[Sample], thresholds: MonitorThresholds) -> None:
        self.samples = list(samples)
        self.thresholds = thresholds
        self._history: dict[tuple[str, str], list[Sample]] = {}
        for sample in self.samples:
            self._history.setdefault((sample.kind, sample.scope), []).append(sample)


def load_monitor(run_dir: str | Path) -> RecordedMonitor | None:
    """The recorded monitor of a run directory, or None when the run was not monitored."""
    path = Path(run_dir) / MONITOR_FILE
    if not path.exists():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    thresholds = dict(record.get("thresholds", {}))
    if "collapse_state_keys" in thresholds:
        thresholds["collapse_state_keys"] = tuple(thresholds["collapse_state_keys"])
    return RecordedMonitor((Sample(**entry) for entry in record["samples"]), MonitorThresholds(**thresholds))
