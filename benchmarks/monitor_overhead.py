"""Overhead of OptimizerMonitor on a training step, measured side by side with the bare step.

The same model (same seed) takes the same mini-batches with the same optimizer, once bare and
once with a monitor attached (default settings unless ``--interval``). One untimed block runs
first, so the timed blocks see the monitor's steady state, after its denser warm-up sampling. Blocks of steps alternate
(bare, monitored, bare again, ...) so that machine load affects all alike; the medians of the
per-step wall and CPU times are compared, and the two bare runs show the noise floor (A/A). A training step is ``zero_grad`` + forward + backward + ``step``.
As a second, less load-sensitive figure, a separate run with instrumented hooks measures the
CPU time spent inside them per step (the A/B runs are not instrumented).

    python benchmarks/monitor_overhead.py [--data digits] [--model mlp] [--optimizer adam]
        [--interval 10] [--blocks 15] [--steps 200] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from inertia.diagnostics import OptimizerMonitor
from inertia.diagnostics.monitor import DEFAULT_INTERVAL
from inertia.optim import make_optimizer
from inertia.problems.datasets import load_dataset
from inertia.problems.models import make_model


def _timed(monitor: OptimizerMonitor, hook):
    """Wrap a hook so that the CPU time spent in it accumulates on ``monitor.hook_cpu``."""
    def wrapper(*args):
        start = time.process_time()
        hook(*args)
        monitor.hook_cpu += time.process_time() - start

    return wrapper


def make_trainer(args: argparse.Namespace, monitored: bool, instrumented: bool = False):
    """A closure that runs ``args.steps`` training steps and returns (wall, CPU) seconds per step."""
    data = load_dataset(args.data, seed=0)
    model = make_model(args.model, data.input_shape, data.num_classes, seed=0)
    optimizer = make_optimizer(args.optimizer, model.parameters(), lr=args.lr)
    batches = [batch for epoch in range(3) for batch in data.batches(args.batch_size, epoch=epoch, seed=0)]
    monitor = None
    if monitored:
        monitor = OptimizerMonitor(optimizer, model.named_parameters(), interval=args.interval,
                                   on_warning=lambda d: None)
        monitor.hook_cpu = 0.0  # type: ignore[attr-defined]
        if instrumented:
            for name in ("_pre_step", "_post_step"):
                setattr(monitor, name, _timed(monitor, getattr(monitor, name)))
        monitor.attach()
    state = {"i": 0}

    def run_block() -> tuple[float, float]:
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(args.steps):
            inputs, labels = batches[state["i"] % len(batches)]
            state["i"] += 1
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(inputs), labels).backward()
            optimizer.step()
        return (time.perf_counter() - start) / args.steps, (time.process_time() - cpu) / args.steps

    return run_block, monitor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits")
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--optimizer", default="adam")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--interval", type=int, default=DEFAULT_INTERVAL)
    parser.add_argument("--blocks", type=int, default=15)
    parser.add_argument("--steps", type=int, default=200, help="steps per timed block")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    for option in ("batch_size", "interval", "blocks", "steps", "threads"):
        if getattr(args, option) < 1:
            parser.error(f"--{option.replace('_', '-')} must be at least 1, got {getattr(args, option)}")
    if not 0 < args.lr < float("inf"):
        parser.error(f"--lr must be a finite number > 0, got {args.lr}")
    try:
        bare, _ = make_trainer(args, monitored=False)
    except ValueError as exc:  # unknown data set, model or optimizer
        parser.error(str(exc))
    torch.set_num_threads(args.threads)
    control, _ = make_trainer(args, monitored=False)  # a second bare run: the A/A noise floor
    monitored, monitor = make_trainer(args, monitored=True)
    timed, timed_monitor = make_trainer(args, monitored=True, instrumented=True)
    bare(), control(), monitored(), timed()  # warm-up
    timed_monitor.hook_cpu, steps_before = 0.0, timed_monitor.steps
    times: dict[str, list[tuple[float, float]]] = {"bare": [], "monitored": [], "bare again": []}
    for _ in range(args.blocks):
        times["bare"].append(bare())
        times["monitored"].append(monitored())
        times["bare again"].append(control())
        timed()
    wall = {k: statistics.median(t[0] for t in v) for k, v in times.items()}
    cpu = {k: statistics.median(t[1] for t in v) for k, v in times.items()}
    print(f"{args.optimizer} on {args.data}/{args.model}, batch {args.batch_size}, monitor interval "
          f"{args.interval} (after a warm-up of {monitor.warmup_steps} steps at interval {monitor.warmup_interval}), "
          f"{args.blocks} alternating blocks of {args.steps} steps, {args.threads} thread(s)")
    print(f"samples taken by the monitor: {len(monitor.samples)} ({len(monitor.layers)} layers + groups)")
    print(f"{'':10s} {'bare':>12s} {'monitored':>12s} {'ratio':>8s} {'bare again':>12s} {'A/A ratio':>10s}")
    for label, v in (("wall/step", wall), ("CPU/step", cpu)):
        print(f"{label:10s} {v['bare'] * 1e3:10.4f}ms {v['monitored'] * 1e3:10.4f}ms {v['monitored'] / v['bare']:8.3f} "
              f"{v['bare again'] * 1e3:10.4f}ms {v['bare again'] / v['bare']:10.3f}")
    hooks = timed_monitor.hook_cpu / (timed_monitor.steps - steps_before)
    print(f"CPU time inside the monitor's hooks: {hooks * 1e3:.4f}ms per step = {hooks / cpu['bare']:.1%} of "
          f"the bare step (budget 5%: {'within' if hooks / cpu['bare'] <= 0.05 else 'over'})")


if __name__ == "__main__":
    main()
