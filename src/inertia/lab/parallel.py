"""Run many independent runs, in parallel worker processes when ``jobs > 1``.

Each run goes to ``root / config.run_id()``; a run already finished there is not repeated, and
an interrupted one resumes from its checkpoint. Workers use one torch thread each, so ``jobs``
processes use ``jobs`` cores. Results come back in the order of the configs.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import torch

from inertia.checks import STYLE_FIELD, check_int
from inertia.lab.execute import execute
from inertia.lab.run_config import RunConfig
from inertia.lab.run_validation import validate

OnDone = Callable[[RunConfig, dict[str, Any]], None]
MAX_JOBS = 256  # worker processes


def _preload() -> None:
    """Import what every run needs before forking, so workers do not each pay for it.

    (Constructing a torch optimizer imports ``torch._dynamo`` on first use, several seconds.)
    """
    import torch._dynamo  # noqa: F401


def _worker_init() -> None:
    torch.set_num_threads(1)


def _run_one(config: RunConfig, run_dir: str, monitor: bool = True) -> dict[str, Any]:
    """Execute one run; a failure becomes a ``failed`` summary instead of an exception."""
    try:
        return execute(config, run_dir, monitor=monitor)
    except Exception as exc:  # recorded in summary.json by execute; reported, not raised
        return {"status": "failed", "message": f"{type(exc).__name__}: {exc}", "run_id": config.run_id()}


def run_many(configs: Sequence[RunConfig], root: str | os.PathLike, jobs: int = 1,
             on_done: OnDone | None = None, monitor: bool = True) -> list[dict[str, Any]]:
    """Execute every config under ``root`` with up to ``jobs`` processes; return their summaries.

    All configs are validated first (ValueError before any run starts). Equal configs share one
    run (and one directory). ``on_done(config, summary)`` is called in this process as each
    distinct run finishes. ``jobs=1`` runs in this process. ``monitor`` runs each under a pathology
    monitor (see :func:`inertia.lab.execute.execute`).
    """
    jobs = check_int("jobs", jobs, low=1, high=MAX_JOBS, style=STYLE_FIELD)
    for config in configs:
        validate(config)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    distinct = {config.run_id(): config for config in configs}
    summaries = _run_distinct(distinct, root, jobs, on_done, monitor)
    return [summaries[config.run_id()] for config in configs]


def _run_distinct(distinct: dict[str, RunConfig], root: Path, jobs: int,
                  on_done: OnDone | None, monitor: bool) -> dict[str, dict[str, Any]]:
    summaries: dict[str, dict[str, Any]] = {}
    if jobs == 1 or len(distinct) <= 1:
        for run_id, config in distinct.items():
            summaries[run_id] = _run_one(config, str(root / run_id), monitor)
            if on_done is not None:
                on_done(config, summaries[run_id])
        return summaries
    fork = "fork" in multiprocessing.get_all_start_methods()
    if fork:
        _preload()
    context = multiprocessing.get_context("fork" if fork else "spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(distinct)), mp_context=context,
                             initializer=_worker_init) as pool:
        pending: dict[Future, str] = {pool.submit(_run_one, config, str(root / run_id), monitor): run_id
                                      for run_id, config in distinct.items()}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                run_id = pending.pop(future)
                summaries[run_id] = future.result()
                if on_done is not None:
                    on_done(distinct[run_id], summaries[run_id])
    return summaries
