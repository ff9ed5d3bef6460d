"""Text for the step benchmark: one line per row while it runs, markdown tables at the end."""

from __future__ import annotations

from typing import Any

from inertia.bench.step_bytes import NATIVE
from inertia.bench.steps import Row


def _ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def row_line(row: Row) -> str:
    """A progress line for one finished row."""
    name = row.optimizer if row.precision == NATIVE else f"{row.optimizer} {row.precision}"
    if row.step_ms is None:
        return f"{row.size} {name} {row.impl}: n/a ({row.note})"
    kernels = f" ({row.note})" if row.note else ""
    return (f"{row.size} {name} {row.impl}{kernels}: {_ms(row.step_ms)} ms, {row.percent_of_floor:.0f}% "
            f"of floor, {_ratio(row.ratio_to_torch_best)} torch's best; {_bytes(row.bytes_per_param)} B/param "
            f"moved, {_bytes(row.state_bytes_per_param)} B/param state")


def markdown_tables(result: dict[str, Any]) -> str:
    """One markdown table per parameter list: step time (% of floor) per implementation, ratios and bytes per
    parameter; with ``precisions``, one line per optimizer and mode."""
    rows = result["rows"]
    impls = list(dict.fromkeys(r["impl"] for r in rows))
    modes = bool(result.get("precisions"))
    lines = [f"{result['machine']['date']}; {result['steps']} timed steps per row (median); bandwidth of "
             f"x.add_(y) at the start: {result['bandwidth_GBps']:.1f} GB/s (the GB/s column: the bandwidth each "
             "row's floor uses, measured alongside it on CPU)."]
    if modes:
        lines.append(PRECISION_NOTE)
    for size in dict.fromkeys(r["size"] for r in rows):
        lines += ["", f"**{size}** — step time in ms (percent of the bandwidth floor); ratio = inertia fused / "
                  "torch's best path", "",
                  f"| optimizer | {'precision | ' if modes else ''}GB/s | floor | " + " | ".join(impls)
                  + " | ratio | B/param moved | state B/param |", "|---" * (len(impls) + 6 + modes) + "|"]
        keys = dict.fromkeys((r["optimizer"], r.get("precision", NATIVE)) for r in rows if r["size"] == size)
        for name, mode in keys:
            cells = {r["impl"]: r for r in rows if r["size"] == size and r["optimizer"] == name
                     and r.get("precision", NATIVE) == mode}
            first = _line_row(list(cells.values()))
            text = [_cell(cells.get(i)) for i in impls]
            fused = cells.get("inertia-fused")
            ratio = fused and fused["ratio_to_torch_best"]
            bandwidth = first.get("bandwidth_GBps") or result["bandwidth_GBps"]  # older rows: the run's
            moved, state = first.get("bytes_per_param"), first.get("state_bytes_per_param")  # older rows: none
            label = f"{name} | {mode}" if modes else name
            lines.append(f"| {label} | {bandwidth:.0f} | {_ms(first['floor_ms'])} | "
                         + " | ".join(text) + f" | {_ratio(ratio)} | {_bytes(moved)} | {_bytes(state)} |")
    lines += _backend_table(result.get("cpu_backends"))
    return "\n".join(lines) + "\n"


PRECISION_NOTE = (
    "Per mode: inertia's rows run with that `precision` over parameters of its dtype (bfloat16 for master and "
    "stochastic, float32 for native); torch.optim's over float32 parameters and, `-bf16`, over bfloat16 ones "
    "(torch's own bf16: state in bf16, no master copy). Floor, B/param moved and state B/param are the line's "
    "inertia row's: moved = 2 P + G + 2 S + 2 M (param read and written, grad read, state S and fp32 master M "
    "read and written; 8-bit state: 1 B code + 4 B absmax per 256 values per moment), state = measured from "
    "the optimizer's state tensors after a step (master included, 0-dim step counts left out). Each cell's "
    "percent is of its own row's floor; torch's best = its fastest row of the line, float32 or bfloat16.")


def _line_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The row whose floor and bytes a line shows: its first inertia row that ran, else its first row."""
    ran = [r for r in rows if r.get("state_bytes_per_param") is not None]
    return next((r for r in ran if r["impl"].startswith("inertia")), ran[0] if ran else rows[0])


def _cell(row: dict[str, Any] | None) -> str:
    if row is None or row["step_ms"] is None:
        return "none"
    return f"{_ms(row['step_ms'])} ({row['percent_of_floor']:.0f}%)"


def _bytes(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def _backend_table(rows: list[dict[str, Any]] | None) -> list[str]:
    if not rows:
        return []
    backends = list(dict.fromkeys(r["backend"] for r in rows))
    lines = ["", f"**CPU backends on flat buffers of {rows[0]['elements']:,} elements** — ms per step "
             "(first call in s)", "", "| optimizer | " + " | ".join(backends) + " |", "|---" * (len(backends) + 1)
             + "|"]
    for name in dict.fromkeys(r["optimizer"] for r in rows):
        cells = {r["backend"]: r for r in rows if r["optimizer"] == name}
        text = [f"{_ms(cells[b]['step_ms'])} ({cells[b]['first_call_s']:.1f} s)" if b in cells else "none"
                for b in backends]
        lines.append(f"| {name} | " + " | ".join(text) + " |")
    return lines
