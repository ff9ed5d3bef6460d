"""The optimizer step benchmark behind ``benchmarks/step_speed.py`` and ``inertia bench``.

For each size, optimizer and implementation (inertia fused, inertia reference, torch
loop, torch foreach, torch fused; on CUDA also inertia fused replayed from a CUDA graph)
it times ``optimizer.step()`` and reports it against the bandwidth floor measured in the
same run: floor = bytes moved (read p, g and the state, write p and the state;
:func:`inertia.bench.step_bytes.step_bytes`) / bandwidth of an in-place
``x.add_(y)`` over a large buffer (12 bytes per element). Each row also carries the state bytes per
parameter measured from its optimizer after a step.

With ``precisions`` (``--precision``), each optimizer is timed once per mode: inertia's rows with that
``precision`` option over parameters of the mode's dtype (:func:`inertia.bench.step_bytes.mode_dtype`),
torch.optim's rows in torch's own way over float32 parameters and, for a mode with bfloat16 parameters, the
``-bf16`` rows over bfloat16 ones; each row's floor counts its own dtypes.

On CUDA each row is timed on its own with CUDA events (3 batches of at least ``steps``
steps and about 20 ms each, median). On CPU, where other processes share the cores, the
implementations of one optimizer are timed in turns (one step each per round, ``steps`` rounds, medians), with an
``x.add_(y)`` bandwidth probe in every round; the floor of that optimizer uses the median
probe of its own rounds.
"""

from __future__ import annotations

import gc
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

import torch

import inertia
from inertia.bench.step_bytes import (
    BF16_SUFFIX,
    NATIVE,
    PRECISION_IMPLS,
    impl_mode,
    line_impls,
    measured_state_bytes,
    step_bytes,
)
from inertia.kernels.rule_info import FusedFallbackWarning

# name -> (class name, keyword arguments shared by inertia and torch.optim, rule)
OPTIMIZERS: dict[str, tuple[str, dict[str, Any]]] = {
    "sgd_momentum": ("SGD", dict(lr=1e-3, momentum=0.9)),
    "sgd_nesterov": ("SGD", dict(lr=1e-3, momentum=0.9, nesterov=True)),
    "adagrad": ("Adagrad", dict(lr=1e-2)),
    "rmsprop": ("RMSprop", dict(lr=1e-3)),
    "rmsprop_centered": ("RMSprop", dict(lr=1e-3, centered=True)),
    "adam": ("Adam", dict(lr=1e-3)),
    "adamw": ("AdamW", dict(lr=1e-3)),
    "adamax": ("Adamax", dict(lr=2e-3)),
    "nadam": ("NAdam", dict(lr=2e-3)),
    "radam": ("RAdam", dict(lr=1e-3)),
    "adadelta": ("Adadelta", dict(lr=1.0)),
    "rprop": ("Rprop", dict(lr=1e-2)),
    "asgd": ("ASGD", dict(lr=1e-2)),
    "lion": ("Lion", dict(lr=1e-4)),
    "schedule_free_adamw": ("AdamWScheduleFree", dict(lr=2.5e-3)),
}
IMPLS = ("inertia-fused", "inertia-reference", "torch-loop", "torch-foreach", "torch-fused")
TORCH_IMPLS = ("torch-loop", "torch-foreach", "torch-fused")


def gpt2_medium_shapes() -> list[tuple[int, ...]]:
    """GPT-2-medium-like parameter list: 355M parameters in 290 tensors (no final layer norm)."""
    width, layers = 1024, 24
    shapes: list[tuple[int, ...]] = [(50257, width), (1024, width)]
    block = [(width,), (width,), (width, 3 * width), (3 * width,), (width, width), (width,),
             (width,), (width,), (width, 4 * width), (4 * width,), (4 * width, width), (width,)]
    return shapes + block * layers


def size_table(device: str, scale: float = 1.0) -> dict[str, list[tuple[int, ...]]]:
    """The parameter lists benchmarked on ``device``; ``scale`` < 1 shrinks every tensor (smoke runs)."""
    if device == "cuda":
        sizes = {"355M/290": gpt2_medium_shapes(), "10M/100": [(100_000,)] * 100}
    else:
        sizes = {"40M/40": [(1_000_000,)] * 40, "10M/1000": [(10_000,)] * 1000}
    if scale == 1.0:
        return sizes
    return {name: [(max(1, int(_numel(s) * scale)),) for s in shapes] for name, shapes in sizes.items()}


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


@dataclass
class Row:
    """One timing: an implementation of an optimizer on a parameter list."""

    size: str
    optimizer: str
    impl: str
    step_ms: float | None
    floor_ms: float
    percent_of_floor: float | None = None
    ratio_to_torch_best: float | None = None
    note: str = ""
    bandwidth_GBps: float = 0.0  # the x.add_(y) bandwidth the floor was computed from
    bytes_per_param: float = 0.0  # bytes one step moves per parameter (the floor's count)
    state_bytes_per_param: float | None = None  # optimizer state per parameter, measured after a step
    precision: str = NATIVE  # the line's mode (inertia's ``precision`` option)
    param_dtype: str = "float32"  # the dtype of this row's parameters


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


#: CUDA batches last at least this long: the first call of a batch waits for the host alone (the
#: GPU has nothing queued yet), and that fill time is spread over the batch (at most ``MAX_BATCH``).
MIN_BATCH_SECONDS = 0.02
MAX_BATCH = 2000


def time_call(fn: Callable[[], Any], device: torch.device, steps: int, warmup: int) -> float:
    """Median seconds per call: per call on CPU; per batch on CUDA (3 batches of at least ``steps``
    calls, lengthened to last about :data:`MIN_BATCH_SECONDS`, divided by their length)."""
    for _ in range(warmup):
        fn()
    _sync(device)
    if device.type == "cuda":
        per_call = _cuda_batch(fn, steps)
        length = min(MAX_BATCH, max(steps, int(MIN_BATCH_SECONDS / max(per_call, 1e-9))))
        return statistics.median(_cuda_batch(fn, length) for _ in range(3))
    samples = []
    for _ in range(steps):
        begin = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - begin)
    return statistics.median(samples)


def _cuda_batch(fn: Callable[[], Any], length: int) -> float:
    """Seconds per call of ``length`` calls in a row, timed with CUDA events."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(length):
        fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1e3 / length


def probe_elements(device: torch.device, scale: float = 1.0) -> int:
    """Length of the bandwidth probe buffers: far above the caches (1 GiB each on CUDA, 256 MiB on CPU)."""
    return max(2**20, int((256 if device.type == "cuda" else 64) * 2**20 * scale))


def measure_bandwidth(device: torch.device, steps: int, scale: float = 1.0) -> float:
    """Bytes per second of an in-place ``x.add_(y)`` (read x, y, write x: 12 B/element in float32)."""
    n = probe_elements(device, scale)
    x = torch.randn(n, device=device)
    y = torch.randn(n, device=device)
    return 12 * n / time_call(lambda: x.add_(y, alpha=1e-6), device, steps, warmup=2)


def build_optimizer(name: str, impl: str, params: list[torch.nn.Parameter],
                    precision: str = NATIVE) -> torch.optim.Optimizer:
    """The optimizer ``name`` in implementation ``impl`` (ValueError if torch has no such path); inertia's
    with the ``precision`` option ``precision``."""
    class_name, kwargs = OPTIMIZERS[name]
    if impl.startswith("inertia"):
        extra: dict[str, Any] = {"impl": "reference" if impl == "inertia-reference" else "fused"}
        if impl == "inertia-fused-graph":
            extra["capturable"] = True
        if precision != NATIVE:
            extra["precision"] = precision
        return getattr(inertia, class_name)(params, **kwargs, **extra)
    flags = {"torch-loop": dict(foreach=False), "torch-foreach": dict(foreach=True),
             "torch-fused": dict(fused=True)}[impl.removesuffix(BF16_SUFFIX)]
    if not hasattr(torch.optim, class_name):
        raise ValueError(f"torch.optim has no {class_name}")
    return getattr(torch.optim, class_name)(params, **kwargs, **flags)


def _spec(name: str) -> Any:
    class_name, kwargs = OPTIMIZERS[name]
    optimizer_class = getattr(inertia, class_name)
    group = optimizer_class([torch.nn.Parameter(torch.zeros(1))], **kwargs).param_groups[0]
    found = optimizer_class.rule.spec(group)
    assert found is not None
    return found[0]


def floor_bytes_per_element(name: str) -> int:
    """Bytes per float32 parameter a single pass of optimizer ``name`` moves (ANCHORS section 1)."""
    return _spec(name).floor_bytes(4)


def state_bytes_per_element(name: str) -> int:
    """Bytes of optimizer state per float32 parameter that optimizer ``name`` keeps between steps."""
    return 4 * len(_spec(name).state_keys)


def row_bytes(name: str, impl: str, precision: str, numels: list[int]) -> tuple[float, torch.dtype]:
    """Bytes per parameter one step of this row moves (:func:`~inertia.bench.step_bytes.step_bytes` of its
    mode and dtype), and its parameters' dtype."""
    mode, dtype = impl_mode(impl, precision)
    return step_bytes(mode, dtype, len(_spec(name).state_keys), numels).moved, dtype


def _prepare(name: str, impl: str, masters: list[torch.Tensor], grads: list[torch.Tensor],
             precision: str = NATIVE) -> tuple[torch.optim.Optimizer | None, str]:
    """The optimizer of one row on fresh copies of the parameters (in the row's dtype), after its first step
    (None: unavailable)."""
    dtype = impl_mode(impl, precision)[1]
    params = [torch.nn.Parameter(m.to(dtype, copy=True)) for m in masters]
    for param, grad in zip(params, grads, strict=True):
        param.grad = grad.to(dtype, copy=True)
    try:
        with warnings.catch_warnings():  # the note says which path the fused row ran
            warnings.simplefilter("ignore", FusedFallbackWarning)
            optimizer = build_optimizer(name, impl, params, precision)
            optimizer.step()
    except (RuntimeError, ValueError, TypeError) as exc:
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:80]}"
    return optimizer, fused_backends(optimizer) if impl.startswith("inertia-fused") else ""


#: One timed row: seconds per step (None: unavailable), note, measured state bytes per parameter.
Timed = tuple[float | None, str, float | None]


BACKEND_NAMES = {"numba": "numba kernel", "torch": "torch's fused op", "triton": "Triton kernel"}


def fused_backends(optimizer: torch.optim.Optimizer) -> str:
    """Which kernels an inertia optimizer's last step chose, for example "numba kernel" or "reference path: why"."""
    used = set()
    for fused_group in getattr(optimizer, "fused_groups", {}).values():
        for backend, why in fused_group.choices:
            used.add(BACKEND_NAMES.get(backend, backend) if backend else f"reference path: {why or 'small bucket'}")
    return ", ".join(sorted(used)) or "reference path"


def _state(optimizer: torch.optim.Optimizer | None) -> float | None:
    return None if optimizer is None else measured_state_bytes(optimizer)


def time_rows_sequential(name: str, impls: list[str], masters: list[torch.Tensor], grads: list[torch.Tensor],
                         device: torch.device, steps: int, precision: str = NATIVE) -> dict[str, Timed]:
    """Seconds per step of each implementation, one after the other (CUDA: event-timed batches)."""
    timed: dict[str, Timed] = {}
    for impl in impls:
        optimizer, note = _prepare(name, impl, masters, grads, precision)
        seconds = None if optimizer is None else time_call(optimizer.step, device, steps, warmup=2)
        timed[impl] = (seconds, note, _state(optimizer))
        del optimizer
        gc.collect()
    return timed


def time_rows_interleaved(name: str, impls: list[str], masters: list[torch.Tensor], grads: list[torch.Tensor],
                          bandwidth_probe: Callable[[], float], steps: int, precision: str = NATIVE
                          ) -> tuple[dict[str, Timed], float]:
    """CPU: every implementation built at once and timed in turns, one step each per round, with an
    ``x.add_(y)`` probe in every round, so that load from other processes hits all of them alike.
    Returns the median seconds per step of each, and the median bandwidth of the probes."""
    prepared = {impl: _prepare(name, impl, masters, grads, precision) for impl in impls}
    live = {impl: opt for impl, (opt, _) in prepared.items() if opt is not None}
    samples: dict[str, list[float]] = {impl: [] for impl in live}
    probes = []
    for opt in live.values():
        opt.step()
    for _ in range(steps):
        for impl, opt in live.items():
            begin = time.perf_counter()
            opt.step()
            samples[impl].append(time.perf_counter() - begin)
        probes.append(bandwidth_probe())
    timed = {impl: (statistics.median(samples[impl]) if impl in live else None, note, _state(opt))
             for impl, (opt, note) in prepared.items()}
    del live, prepared
    gc.collect()
    return timed, statistics.median(probes)


def bench_size(size: str, shapes: list[tuple[int, ...]], device: torch.device, optimizers: list[str],
               impls: list[str], bandwidth: float, steps: int, report: Callable[[Row], None],
               scale: float = 1.0, precisions: list[str] | None = None) -> list[Row]:
    """Every (optimizer, mode, impl) row for one parameter list, with floor percentages and ratios to torch's
    best row of the line (any of torch.optim's rows timed beside it, float32 or bfloat16)."""
    generator = torch.Generator(device=device).manual_seed(0)
    masters = [torch.randn(s, device=device, generator=generator) for s in shapes]
    grads = [torch.randn(s, device=device, generator=generator) * 1e-2 for s in shapes]
    numels = [m.numel() for m in masters]
    probe = _bandwidth_probe(device, scale) if device.type == "cpu" else None
    rows = []
    for name in optimizers:
        for precision in precisions or [None]:
            chosen = line_impls(OPTIMIZERS[name][0], impls, precision)
            mode = precision or NATIVE
            if not chosen:
                continue
            if probe is None:
                timed = time_rows_sequential(name, chosen, masters, grads, device, steps, mode)
            else:
                timed, bandwidth = time_rows_interleaved(name, chosen, masters, grads, probe, steps, mode)
            torch_best = min((t[0] for i, t in timed.items() if not i.startswith("inertia") and t[0]), default=None)
            for impl, (seconds, note, state) in timed.items():
                moved, dtype = row_bytes(name, impl, mode, numels)
                floor = moved * sum(numels) / bandwidth
                row = Row(size, name, impl, None if seconds is None else seconds * 1e3, floor * 1e3, note=note,
                          bandwidth_GBps=bandwidth / 1e9, bytes_per_param=moved, state_bytes_per_param=state,
                          precision=mode, param_dtype=str(dtype).removeprefix("torch."))
                if seconds is not None:
                    row.percent_of_floor = 100 * floor / seconds
                    row.ratio_to_torch_best = seconds / torch_best if torch_best else None
                rows.append(row)
                report(row)
    return rows


def _bandwidth_probe(device: torch.device, scale: float) -> Callable[[], float]:
    """One timed in-place ``x.add_(y)`` over buffers larger than the cache, as bytes per second."""
    n = probe_elements(device, scale)
    x = torch.randn(n, device=device)
    y = torch.randn(n, device=device)

    def probe() -> float:
        begin = time.perf_counter()
        x.add_(y, alpha=1e-6)
        return 12 * n / (time.perf_counter() - begin)

    return probe


def machine_info(device: torch.device) -> dict[str, Any]:
    """Where the run happened: CPU, threads, GPU, library versions and date."""
    info: dict[str, Any] = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "platform": platform.platform(), "processor": _cpu_name(), "threads": torch.get_num_threads(),
        "torch": torch.__version__, "python": platform.python_version(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        import triton

        info["triton"] = triton.__version__
    return info


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run_benchmark(device: str, sizes: list[str] | None = None, optimizers: list[str] | None = None,
                  impls: list[str] | None = None, steps: int = 7, scale: float = 1.0,
                  report: Callable[[Row], None] = lambda row: None,
                  precisions: list[str] | None = None) -> dict[str, Any]:
    """Run the step benchmark on ``device`` (with ``precisions``: once per mode, see the module) and return
    the JSON-ready result."""
    dev = torch.device(device)
    if impls and "inertia-fused-graph" in impls and dev.type != "cuda":
        raise ValueError(f"Invalid --impl: 'inertia-fused-graph' (a CUDA graph replay needs --device cuda, "
                         f"not {device!r})")
    table = size_table(dev.type, scale)
    chosen_impls = list(impls or (PRECISION_IMPLS if precisions else IMPLS))
    chosen_impls += ["inertia-fused-graph"] if dev.type == "cuda" and not impls else []
    bandwidth = measure_bandwidth(dev, steps, scale)
    rows: list[Row] = []
    for size in sizes or list(table):
        rows += bench_size(size, table[size], dev, optimizers or list(OPTIMIZERS), chosen_impls, bandwidth,
                           steps, report, scale, precisions)
    result = {"machine": machine_info(dev), "device": device, "bandwidth_GBps": bandwidth / 1e9,
              "steps": steps, "scale": scale, "rows": [asdict(r) for r in rows]}
    return result | ({"precisions": list(precisions)} if precisions else {})
