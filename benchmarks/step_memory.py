"""Peak memory of one training step (forward, backward, step, zero_grad) of a GPT-2-small-shaped model on
the CPU: torch.optim.AdamW and inertia.AdamW, each with the step after backward or fused into it.

The model is GPT-2 small's parameter list (124M parameters: ``wte`` 50257x768, ``wpe`` 1024x768, 12
blocks of attention 768x2304 + 2304 and 768x768 + 768, MLP 768x3072 + 3072 and 3072x768 + 768, two
LayerNorms each, a final LayerNorm; logits through the tied ``wte``) run on a small batch. Each row
copies the model, takes one warm-up step with zero gradients (so that the optimizer state exists, as in a
run), then profiles a training step with ``torch.profiler`` (``profile_memory=True``: torch's CPU allocator
reports every allocation and free). Peak = the bytes alive when the step starts (the distinct storages of parameters, gradients and
optimizer state, flat buffers included) + the highest running sum of the allocations during the step.

Rows: torch.optim.AdamW (``foreach`` and the for-loop), inertia.AdamW (``impl="reference"`` and
``"fused"``), and each of them fused into backward (torch's way: one optimizer per parameter stepped from
its post-accumulate-grad hook; inertia's: :func:`inertia.optim.fuse_into_backward`). ``--precision``
chooses the mode (:data:`PRECISIONS`: the parameters' dtype and inertia's ``precision`` option; torch's rows
keep torch's behaviour over parameters of that dtype: bf16 parameters give it bf16 state), ``all`` measures each
in turn (torch's rows once per parameter dtype: they do not depend on inertia's option).

Besides the peak and what is kept between steps, each row shows the optimizer state alone per parameter
(measured: its state tensors, master weights included, 0-dim step counts left out) and, for reference, the
state bytes per parameter that peer libraries publish for the nearest scheme (:data:`PUBLISHED`): figures from
their documentation, not measured here.

Example::

    python benchmarks/step_memory.py                 # full size, about a minute
    python benchmarks/step_memory.py --scale 0.05    # a few seconds
    python benchmarks/step_memory.py --scale 0.05 --precision all

At full size ``--precision all`` takes over an hour on two cores (extrapolated from 755 s at ``--scale 0.5``,
20.7M parameters), most of it in the reference rows of the stochastic modes.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import itertools
import math
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.profiler import ProfilerActivity, profile

import inertia
from inertia.bench.step_bytes import measured_state_bytes
from inertia.kernels.low_precision import parse_precision, state_dtype
from inertia.kernels.rule_info import FusedFallbackWarning
from inertia.optim import fuse_into_backward

#: Per mode: the dtype of the parameters (and gradients) and inertia's ``precision`` option.
PRECISIONS: dict[str, tuple[torch.dtype, str]] = {
    "fp32": (torch.float32, "native"),
    "fp32+8bit-state": (torch.float32, "native+8bit-state"),
    "bf16+master": (torch.bfloat16, "master"),
    "bf16+master+8bit-state": (torch.bfloat16, "master+8bit-state"),
    "bf16+stochastic": (torch.bfloat16, "stochastic"),
    "bf16+stochastic+bf16-state": (torch.bfloat16, "stochastic+bf16-state"),
    "bf16+stochastic+8bit-state": (torch.bfloat16, "stochastic+8bit-state"),
}
LR = 1e-4

#: Published optimizer-state bytes per parameter of peer schemes (their documentation; not measured here).
PUBLISHED = {
    "fp32 Adam": 8.0,  # two float32 moments
    "bitsandbytes 8-bit Adam": 2.0,  # two 8-bit moments (block-wise absmax aside)
    "torchao 4-bit Adam": 1.0,  # two 4-bit moments
    "HeavyBall ECC bf16+8": 6.0,  # 3 B per state (bf16 + 8-bit error correction), two states
}
#: The published scheme nearest to each dtype the state is kept in.
NEAREST_PUBLISHED = {torch.float32: "fp32 Adam", torch.bfloat16: "HeavyBall ECC bf16+8",
                     torch.uint8: "bitsandbytes 8-bit Adam"}


@dataclass(frozen=True)
class Shape:
    """The sizes of a GPT-2-shaped model."""

    vocab: int
    positions: int
    width: int
    layers: int

    @classmethod
    def scaled(cls, scale: float) -> Shape:
        """GPT-2 small at ``scale`` = 1; smaller scales shrink the vocabulary, width and depth."""
        if not (isinstance(scale, float) and 0 < scale <= 1):
            raise ValueError(f"Invalid scale: {scale!r} (must be a number in (0, 1])")
        width = max(64, round(768 * scale / 64) * 64)
        return cls(vocab=max(256, round(50257 * scale)), positions=1024, width=width,
                   layers=max(1, round(12 * scale)))


class GPT2Shaped(nn.Module):
    """GPT-2's parameters (names with ``_`` for ``.``) and its forward: pre-LN blocks, tied logits."""

    def __init__(self, shape: Shape, dtype: torch.dtype, seed: int = 0) -> None:
        super().__init__()
        self.shape = shape
        generator = torch.Generator().manual_seed(seed)
        params: dict[str, Tensor] = {}

        def add(name: str, *size: int, fill: float | None = None) -> None:
            tensor = torch.empty(size, dtype=dtype)
            params[name] = tensor.fill_(fill) if fill is not None else tensor.normal_(0, 0.02, generator=generator)

        w = shape.width
        add("wte", shape.vocab, w)
        add("wpe", shape.positions, w)
        for layer in range(shape.layers):
            for name, size in (("attn_w", (w, 3 * w)), ("attn_proj_w", (w, w)), ("fc_w", (w, 4 * w)),
                               ("mlp_proj_w", (4 * w, w))):
                add(f"h{layer}_{name}", *size)
            for name, size in (("attn_b", 3 * w), ("attn_proj_b", w), ("fc_b", 4 * w), ("mlp_proj_b", w),
                               ("ln1_b", w), ("ln2_b", w)):
                add(f"h{layer}_{name}", size, fill=0.0)
            add(f"h{layer}_ln1_w", w, fill=1.0)
            add(f"h{layer}_ln2_w", w, fill=1.0)
        add("lnf_w", w, fill=1.0)
        add("lnf_b", w, fill=0.0)
        self.p = nn.ParameterDict({name: nn.Parameter(t) for name, t in params.items()})

    def fresh_copy(self) -> GPT2Shaped:
        """A model with copies of these parameters (cheaper than drawing them again)."""
        copy = GPT2Shaped.__new__(GPT2Shaped)
        nn.Module.__init__(copy)
        copy.shape = self.shape
        copy.p = nn.ParameterDict({name: nn.Parameter(t.detach().clone()) for name, t in self.p.items()})
        return copy

    def forward(self, tokens: Tensor) -> Tensor:
        """The next-token cross-entropy of ``tokens`` (batch x sequence)."""
        p, w = self.p, self.shape.width
        heads = max(1, w // 64)
        inputs, targets = tokens[:, :-1], tokens[:, 1:]
        x = p["wte"][inputs] + p["wpe"][: inputs.shape[1]]
        for layer in range(self.shape.layers):
            q = f"h{layer}_"
            h = F.layer_norm(x, (w,), p[q + "ln1_w"], p[q + "ln1_b"])
            qkv = (h @ p[q + "attn_w"] + p[q + "attn_b"]).unflatten(-1, (3, heads, w // heads))
            query, key, value = (qkv.select(2, i).transpose(1, 2) for i in range(3))
            attended = F.scaled_dot_product_attention(query, key, value, is_causal=True)
            x = x + attended.transpose(1, 2).flatten(2) @ p[q + "attn_proj_w"] + p[q + "attn_proj_b"]
            h = F.layer_norm(x, (w,), p[q + "ln2_w"], p[q + "ln2_b"])
            h = F.gelu(h @ p[q + "fc_w"] + p[q + "fc_b"], approximate="tanh")
            x = x + h @ p[q + "mlp_proj_w"] + p[q + "mlp_proj_b"]
        x = F.layer_norm(x, (w,), p["lnf_w"], p["lnf_b"])
        return F.cross_entropy((x @ p["wte"].T).flatten(0, 1), targets.flatten())


class TorchInBackward:
    """torch's recipe for a step in backward: one torch.optim.AdamW per parameter, stepped (and its
    gradient freed) from the parameter's post-accumulate-grad hook."""

    def __init__(self, params: Iterable[Tensor], foreach: bool) -> None:
        self.optimizers = {p: torch.optim.AdamW([p], lr=LR, foreach=foreach) for p in params}
        self.hooks = [param.register_post_accumulate_grad_hook(self._step) for param in self.optimizers]

    def remove(self) -> None:
        """Remove the hooks (autograd holds them out of the garbage collector's sight: they would keep the
        parameters and optimizers alive)."""
        for hook in self.hooks:
            hook.remove()

    def _step(self, param: Tensor) -> None:
        self.optimizers[param].step()
        self.optimizers[param].zero_grad()

    @property
    def state_tensors(self) -> list[Tensor]:
        """Every tensor of every per-parameter optimizer's state."""
        return [t for opt in self.optimizers.values() for s in opt.state.values() for t in s.values()
                if isinstance(t, Tensor)]

    def state_bytes_per_param(self) -> float:
        """:func:`inertia.bench.step_bytes.measured_state_bytes` over the per-parameter optimizers."""
        held = sum(measured_state_bytes(opt) * sum(p.numel() for p in opt.param_groups[0]["params"])
                   for opt in self.optimizers.values())
        return held / sum(p.numel() for p in self.optimizers)


@dataclass(frozen=True)
class Row:
    """One configuration: a label, how to build its optimizer, whether the step is fused into backward."""

    label: str
    build: Callable[[nn.Module, str], Any]  # (model, inertia's precision option) -> optimizer
    in_backward: bool

    @property
    def is_torch(self) -> bool:
        """Whether the row is torch.optim's (inertia's ``precision`` option does not reach it)."""
        return self.label.startswith("torch")


def _inertia(impl: str, in_backward: bool) -> Callable[[nn.Module, str], Any]:
    def build(model: nn.Module, precision: str) -> Any:
        with warnings.catch_warnings():  # impl="fused" under a non-native precision steps on the reference path
            warnings.simplefilter("ignore", FusedFallbackWarning)
            optimizer = inertia.AdamW(model.parameters(), lr=LR, impl=impl, precision=precision)
        if in_backward:
            fuse_into_backward(model, optimizer)
        return optimizer

    return build


ROWS = (
    Row("torch.optim.AdamW foreach", lambda m, _: torch.optim.AdamW(m.parameters(), lr=LR, foreach=True), False),
    Row("torch.optim.AdamW for-loop", lambda m, _: torch.optim.AdamW(m.parameters(), lr=LR, foreach=False), False),
    Row("inertia.AdamW reference", _inertia("reference", False), False),
    Row("inertia.AdamW fused", _inertia("fused", False), False),
    Row("torch.optim.AdamW foreach", lambda m, _: TorchInBackward(m.parameters(), foreach=True), True),
    Row("torch.optim.AdamW for-loop", lambda m, _: TorchInBackward(m.parameters(), foreach=False), True),
    Row("inertia.AdamW reference", _inertia("reference", True), True),
    Row("inertia.AdamW fused", _inertia("fused", True), True),
)


def live_bytes(model: nn.Module, optimizer: Any) -> int:
    """Bytes of the distinct storages of the parameters, their gradients and the optimizer state."""
    tensors = [t for p in model.parameters() for t in (p, p.grad) if t is not None]
    if isinstance(optimizer, TorchInBackward):
        tensors += optimizer.state_tensors
    else:
        tensors += [t for s in optimizer.state.values() for t in s.values() if isinstance(t, Tensor)]
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}
    return sum(storages.values())


def train_step(model: nn.Module, optimizer: Any, tokens: Tensor, in_backward: bool) -> None:
    """Forward, backward, then (unless fused into backward) step and zero_grad."""
    model(tokens).backward()
    if not in_backward:
        optimizer.step()
        optimizer.zero_grad()


def peak_of_step(model: nn.Module, optimizer: Any, tokens: Tensor, in_backward: bool) -> tuple[int, float]:
    """Peak bytes alive during one profiled training step, and its wall time (profiled) in seconds."""
    start_bytes = live_bytes(model, optimizer)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        start = time.perf_counter()
        train_step(model, optimizer, tokens, in_backward)
        seconds = time.perf_counter() - start
    events = sorted((e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"),
                    key=lambda e: e.start_ns())
    running = itertools.accumulate(e.nbytes() for e in events)
    return start_bytes + max(0, max(running, default=0)), seconds


def warm_up(model: nn.Module, optimizer: Any, in_backward: bool) -> None:
    """One cheap step with zero gradients (no forward of the model), so that the optimizer state exists."""
    (sum(p.sum() for p in model.parameters()) * 0.0).backward()
    if not in_backward:
        optimizer.step()
        optimizer.zero_grad()


def release_freed_memory() -> None:
    """Collect garbage and hand freed heap pages back to the system (glibc), so that rows do not add up."""
    gc.collect()
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def measure(row: Row, template: GPT2Shaped, precision: str, batch: int, sequence: int) -> dict[str, Any]:
    """Copy the model and build the optimizer of ``row``, take a warm-up step, profile a training step."""
    model = template.fresh_copy()
    optimizer = row.build(model, PRECISIONS[precision][1])
    shape = template.shape
    tokens = torch.randint(0, shape.vocab, (batch, sequence + 1), generator=torch.Generator().manual_seed(1))
    warm_up(model, optimizer, row.in_backward)
    peak, seconds = peak_of_step(model, optimizer, tokens, row.in_backward)
    count = sum(p.numel() for p in model.parameters())
    state = optimizer.state_bytes_per_param() if isinstance(optimizer, TorchInBackward) else \
        measured_state_bytes(optimizer)
    dtype, mode = PRECISIONS[precision]
    published = NEAREST_PUBLISHED[state_dtype(parse_precision("native" if row.is_torch else mode), dtype)]
    result = dict(label=row.label, precision=_label(row, precision), in_backward=row.in_backward, params=count,
                  peak=peak, after=live_bytes(model, optimizer), seconds=seconds, state=state, published=published)
    if isinstance(optimizer, TorchInBackward):
        optimizer.remove()
    del model, optimizer
    release_freed_memory()
    return result


def _label(row: Row, precision: str) -> str:
    """The mode a row ran in: torch's rows by their parameters' dtype (torch keeps state in it)."""
    return ("bf16 (torch's own)" if PRECISIONS[precision][0] == torch.bfloat16 else "fp32") if row.is_torch \
        else precision


def table(results: list[dict[str, Any]]) -> str:
    """The markdown table of ``results``, and the published figures the last column quotes."""
    lines = ["| optimizer | precision | step | peak MiB | peak B/param | kept between steps MiB | kept B/param "
             "| state B/param | published state B/param, nearest peer (not measured) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        mib = 2 ** 20
        lines.append(f"| {r['label']} | {r['precision']} | {'in backward' if r['in_backward'] else 'after backward'} "
                     f"| {r['peak'] / mib:.0f} | {r['peak'] / r['params']:.2f} | {r['after'] / mib:.0f} "
                     f"| {r['after'] / r['params']:.2f} | {r['state']:.2f} "
                     f"| {PUBLISHED[r['published']]:g} ({r['published']}) |")
    lines += ["", "Published optimizer-state bytes per parameter (from each library's documentation, not measured "
              "here): " + "; ".join(f"{name} {value:g}" for name, value in PUBLISHED.items()) + "."]
    return "\n".join(lines)


def positive_int(name: str) -> Callable[[str], int]:
    """An argparse type: an int >= 1, refused with the argument's name and value."""
    def parse(text: str) -> int:
        if not text.isdigit() or int(text) < 1:
            raise argparse.ArgumentTypeError(f"Invalid {name}: {text!r} (must be an integer >= 1)")
        return int(text)

    return parse


def scale_value(text: str) -> float:
    """An argparse type: a number in (0, 1]."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"Invalid scale: {text!r} (must be a number in (0, 1])")
    return value


def run(scale: float = 1.0, precision: str = "fp32", batch: int = 1, sequence: int = 64,
        torch_rows: bool = True) -> list[dict[str, Any]]:
    """Measure every row (torch's only with ``torch_rows``); return the results (see :func:`table`)."""
    template = GPT2Shaped(Shape.scaled(scale), PRECISIONS[precision][0])
    return [measure(row, template, precision, batch, sequence) for row in ROWS if torch_rows or not row.is_torch]


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, measure every row and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=scale_value, default=1.0, help="shrink the model (1: GPT-2 small)")
    parser.add_argument("--precision", choices=[*PRECISIONS, "all"], default="fp32")
    parser.add_argument("--batch", type=positive_int("batch"), default=1)
    parser.add_argument("--sequence", type=positive_int("sequence"), default=64)
    args = parser.parse_args(argv)
    modes = list(PRECISIONS) if args.precision == "all" else [args.precision]
    results, dtypes = [], set()
    begin = time.perf_counter()
    for mode in modes:
        dtype = PRECISIONS[mode][0]
        results += run(args.scale, mode, args.batch, args.sequence, torch_rows=dtype not in dtypes)
        dtypes.add(dtype)
    first = results[0]
    print(f"GPT-2-shaped model at scale {args.scale}: {first['params']:,} parameters, batch {args.batch} x "
          f"sequence {args.sequence}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"{len(results)} rows in {time.perf_counter() - begin:.0f} s")
    print(table(results))


if __name__ == "__main__":
    main()
