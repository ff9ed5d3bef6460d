"""The two run loops: optimizer steps on a problem, and mini-batch training on a dataset.

Both record one row per step (problems) or per epoch (training), checkpoint at the configured
cadence, stop cleanly on a non-finite loss (keeping the last good checkpoint), and restore the
complete state from a checkpoint so that a resumed run repeats an uninterrupted one exactly.
The gradient noise depends on ``(seed, step)`` and the batch order on ``(seed, epoch)``
(see :mod:`inertia.problems`), so no random-generator state has to be carried.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from inertia.diagnostics.optimizer_parts import evaluation_point
from inertia.lab.checkpoints import save_checkpoint
from inertia.lab.optimizer_setup import build_optimizer, describe_setup
from inertia.lab.run_config import RunConfig
from inertia.lab.run_monitors import MonitorOptions, RunMonitor, start_monitor
from inertia.lab.run_storage import OnRecord, Record, RunDir, write_metrics
from inertia.lab.schedule_spec import parse_schedule, takes_metric
from inertia.problems.datasets import load_dataset
from inertia.problems.models import make_model
from inertia.problems.registry import get_problem
from inertia.schedules import Constant, attach


@dataclass
class LoopState:
    """What a loop hands back: records, where it stopped, and why."""

    rows: list[Record]
    status: str = "completed"
    message: str = ""
    elapsed_s: float = 0.0
    checkpoint_step: int | None = None
    resumed_at: list[int] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    monitor: RunMonitor | None = None


class Cadence:
    """Decides when to checkpoint: every ``every`` units, else every ``interval_s`` seconds."""

    def __init__(self, every: int | None, interval_s: float) -> None:
        self.every, self.interval_s = every, interval_s
        self.last = time.perf_counter()

    def due(self, unit: int) -> bool:
        if self.every is not None:
            return unit % self.every == 0
        now = time.perf_counter()
        if now - self.last >= self.interval_s:
            self.last = now
            return True
        return False


def _make_optimizer(config: RunConfig, named_params: list[tuple[str, torch.Tensor]]
                    ) -> tuple[torch.optim.Optimizer, Any, Any]:
    """Optimizer (:func:`~inertia.lab.optimizer_setup.build_optimizer`), schedule and its LR scheduler
    (None for a constant schedule: nothing to drive)."""
    optimizer = build_optimizer(config.optimizer, named_params, **config.optimizer_kwargs())
    total = config.epochs if config.kind == "training" else config.steps
    schedule = parse_schedule(config.schedule, total_steps=total)
    return optimizer, schedule, None if isinstance(schedule, Constant) else attach(optimizer, schedule)


def _advance(scheduler: Any, feed_metric: bool, metric: float) -> None:
    if scheduler is not None:
        scheduler.step(metric) if feed_metric else scheduler.step()


def needs_closure(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``step`` must be given a closure (L-BFGS and optimizers that declare it)."""
    return isinstance(optimizer, torch.optim.LBFGS) or bool(getattr(optimizer, "requires_closure", False))


def build_problem(config: RunConfig) -> Any:
    """The :mod:`inertia.problems` problem of a config, with its gradient noise."""
    return get_problem(config.problem, noise_scale=config.noise, noise_seed=config.seed,
                       **dict(config.problem_params))


def _restore(checkpoint: dict[str, Any] | None, optimizer: Any, scheduler: Any,
             load_params: Callable[[Any], None]) -> LoopState:
    if checkpoint is None:
        return LoopState(rows=[])
    load_params(checkpoint["params"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
    state = LoopState(rows=list(checkpoint["rows"]), elapsed_s=checkpoint["elapsed_s"],
                      checkpoint_step=checkpoint["position"], resumed_at=list(checkpoint.get("resumed_at", [])))
    state.resumed_at.append(checkpoint["position"])
    return state


def _checkpoint(paths: RunDir, state: LoopState, position: int, params: Any, optimizer: Any,
                scheduler: Any, elapsed_s: float) -> None:
    save_checkpoint(paths.checkpoint, {
        "position": position, "params": params, "optimizer": optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(), "rows": state.rows, "elapsed_s": elapsed_s,
        "resumed_at": state.resumed_at, "monitor": None if state.monitor is None else state.monitor.state(),
    })
    write_metrics(paths.metrics, state.rows)
    state.checkpoint_step = position


def _kept(state: LoopState, unit: str = "step") -> str:
    """Which checkpoint a diverged run keeps; its position is counted in ``unit`` (step or epoch)."""
    if state.checkpoint_step is None:
        return "no checkpoint had been written yet"
    return f"last good checkpoint ({unit} {state.checkpoint_step}) kept"


def run_optimization(config: RunConfig, paths: RunDir, checkpoint: dict[str, Any] | None,
                     on_record: OnRecord | None = None, monitor: MonitorOptions | None = None) -> LoopState:
    """``config.steps`` optimizer steps on a problem; row ``t`` describes the iterate ``x_t``.

    Columns: step, loss (exact f), gap (f - f*, when known), grad_norm (of the gradient the
    optimizer saw, noise included), lr, time_s, and x, y for 2D problems. The last row is
    ``x_steps`` (no update), so a completed run has ``steps + 1`` rows. With ``monitor`` the
    steps run under a :class:`~inertia.lab.run_monitors.RunMonitor` (the iterate is layer ``x``).
    """
    problem = build_problem(config)
    x = problem.init_params(config.start)
    optimizer, schedule, scheduler = _make_optimizer(config, [("x", x)])
    state = _restore(checkpoint, optimizer, scheduler, lambda saved: x.data.copy_(saved))
    first = checkpoint["position"] if checkpoint else 0
    state.monitor = start_monitor(monitor, optimizer, [("x", x)], first, checkpoint)
    with state.monitor or nullcontext():
        _optimization_steps(config, paths, problem, x, optimizer, schedule, scheduler, state, first, on_record)
    return state


def _optimization_steps(config: RunConfig, paths: RunDir, problem: Any, x: torch.Tensor, optimizer: Any,
                        schedule: Any, scheduler: Any, state: LoopState, first: int,
                        on_record: OnRecord | None) -> None:
    min_value, two_d = problem.min_value, problem.dim == 2
    feed_metric = takes_metric(schedule)
    cadence, started = Cadence(config.checkpoint_every, config.checkpoint_interval_s), time.perf_counter()
    for step in range(first, config.steps + 1):
        elapsed = state.elapsed_s + time.perf_counter() - started
        if step > first and cadence.due(step):
            _checkpoint(paths, state, step, x.detach().clone(), optimizer, scheduler, elapsed)
        row: Record = {"step": step}
        if two_d:
            row["x"], row["y"] = (float(v) for v in x.detach())
        lr = optimizer.param_groups[0]["lr"]
        if step < config.steps:
            loss = float(optimizer.step(problem.closure(x, step)))
            grad_norm = float(x.grad.norm())
        else:  # the final iterate: a Schedule-Free optimizer's average
            with torch.no_grad(), evaluation_point(optimizer):
                loss, grad_norm = float(problem.loss(x)), float(problem.grad(x.detach()).norm())
        row.update(loss=loss, gap=None if min_value is None else loss - min_value, grad_norm=grad_norm,
                   lr=float(lr), time_s=elapsed)
        state.rows.append(row)
        if on_record is not None:
            on_record(row)
        if not math.isfinite(loss):
            state.status = "diverged"
            state.message = f"non-finite loss ({loss}) at step {step}; {_kept(state)}"
            break
        if step < config.steps:
            _advance(scheduler, feed_metric, loss)
    state.elapsed_s += time.perf_counter() - started


def evaluate(model: torch.nn.Module, inputs: torch.Tensor, labels: torch.Tensor,
             chunk: int = 4096) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on a labelled set (in chunks, no gradients)."""
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    with torch.no_grad():
        for begin in range(0, len(labels), chunk):
            logits = model(inputs[begin:begin + chunk])
            target = labels[begin:begin + chunk]
            total_loss += float(F.cross_entropy(logits, target, reduction="sum"))
            correct += int((logits.argmax(dim=1) == target).sum())
    model.train(was_training)
    count = max(1, len(labels))
    return total_loss / count, correct / count


def load_training(config: RunConfig) -> tuple[Any, torch.nn.Module]:
    """The dataset and the freshly initialised model of a training config."""
    data = load_dataset(config.problem, seed=config.data_seed)
    return data, make_model(config.model, data.input_shape, data.num_classes, seed=config.seed)


def _epoch(model: torch.nn.Module, optimizer: Any, data: Any, config: RunConfig, epoch: int,
           on_batch: Callable[[int], None] | None) -> torch.Tensor:
    """One epoch of mini-batch steps; returns the per-batch losses (detached, unsynchronised)."""
    losses: list[torch.Tensor] = []
    with_closure = needs_closure(optimizer)
    for index, (inputs, labels) in enumerate(data.batches(config.batch_size, epoch=epoch, seed=config.seed)):
        def closure(inputs: torch.Tensor = inputs, labels: torch.Tensor = labels) -> torch.Tensor:
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(inputs), labels)
            loss.backward()
            return loss

        if with_closure:
            losses.append(optimizer.step(closure).detach())
        else:
            losses.append(closure().detach())
            optimizer.step()
        if on_batch is not None and index % 16 == 15:
            on_batch(index + 1)
    return torch.stack(losses)


def run_training(config: RunConfig, paths: RunDir, checkpoint: dict[str, Any] | None,
                 on_record: OnRecord | None = None, on_batch: Callable[[int], None] | None = None,
                 monitor: MonitorOptions | None = None) -> LoopState:
    """``config.epochs`` epochs of mini-batch training; one row per epoch.

    Columns: epoch (1-based), step (optimizer steps so far), train_loss (mean over the epoch's
    examples, accumulated in float64), test_loss, test_accuracy, lr (during the epoch), time_s.
    Plateau schedules are fed the epoch's training loss. A non-finite training loss ends the run
    (status ``diverged``) without recording that epoch; a non-finite test loss ends it after
    recording the epoch. Either way the last checkpoint written before stays. With ``monitor`` the
    steps run under a :class:`~inertia.lab.run_monitors.RunMonitor` with the model's layer names.
    """
    data, model = load_training(config)
    optimizer, schedule, scheduler = _make_optimizer(config, list(model.named_parameters()))
    state = _restore(checkpoint, optimizer, scheduler, model.load_state_dict)
    first = checkpoint["position"] if checkpoint else 0
    batches_per_epoch = data.num_batches(config.batch_size)
    state.monitor = start_monitor(monitor, optimizer, model.named_parameters(), first * batches_per_epoch,
                                  checkpoint)
    with state.monitor or nullcontext():
        _training_epochs(config, paths, data, model, optimizer, schedule, scheduler, state, first,
                         on_record, on_batch)
    state.extra["dataset"] = data.summary()
    state.extra["optimizer_setup"] = describe_setup(config.optimizer, model.named_parameters())
    return state


def _training_epochs(config: RunConfig, paths: RunDir, data: Any, model: torch.nn.Module, optimizer: Any,
                     schedule: Any, scheduler: Any, state: LoopState, first: int, on_record: OnRecord | None,
                     on_batch: Callable[[int], None] | None) -> None:
    batches_per_epoch = data.num_batches(config.batch_size)
    batch_sizes = torch.tensor([min(config.batch_size, data.n_train - b * config.batch_size)
                                for b in range(batches_per_epoch)], dtype=torch.float64)
    feed_metric = takes_metric(schedule)
    cadence, started = Cadence(config.checkpoint_every, config.checkpoint_interval_s), time.perf_counter()
    model.train()
    for epoch in range(first, config.epochs):
        lr = float(optimizer.param_groups[0]["lr"])
        losses = _epoch(model, optimizer, data, config, epoch, on_batch)
        if not bool(torch.isfinite(losses).all()):
            bad = int((~torch.isfinite(losses)).nonzero()[0])
            step = epoch * batches_per_epoch + bad + 1
            state.status = "diverged"
            state.message = (f"non-finite training loss ({float(losses[bad])}) at step {step} "
                             f"(epoch {epoch + 1}, batch {bad + 1}); {_kept(state, 'epoch')}")
            break
        train_loss = float((losses.double() * batch_sizes).sum() / data.n_train)  # float64, as loss.item() sums
        with evaluation_point(optimizer):  # Schedule-Free: the averaged weights are the model
            test_loss, test_accuracy = evaluate(model, data.X_test, data.y_test)
        elapsed = state.elapsed_s + time.perf_counter() - started
        row = {"epoch": epoch + 1, "step": (epoch + 1) * batches_per_epoch, "train_loss": train_loss,
               "test_loss": test_loss, "test_accuracy": test_accuracy, "lr": lr, "time_s": elapsed}
        state.rows.append(row)
        if on_record is not None:
            on_record(row)
        if not math.isfinite(test_loss):  # the last update overflowed the model: its state is not a good one
            state.status = "diverged"
            state.message = f"non-finite test loss ({test_loss}) after epoch {epoch + 1}; {_kept(state, 'epoch')}"
            break
        _advance(scheduler, feed_metric, train_loss)
        if epoch + 1 < config.epochs and cadence.due(epoch + 1):
            _checkpoint(paths, state, epoch + 1, model.state_dict(), optimizer, scheduler, elapsed)
    state.elapsed_s += time.perf_counter() - started
    if state.status == "completed":
        _checkpoint(paths, state, config.epochs, model.state_dict(), optimizer, scheduler, state.elapsed_s)
