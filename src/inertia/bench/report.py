"""Text for the step benchmark: one line per row while it runs, markdown tables at the end."""

from __future__ import annotations

from typing import Any

from inertia.bench.steps import Row


def _ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def row_line(row: Row) -> str:
    """A progress line for one finished row."""
    if row.step_ms is None:
        return f"{row.size} {row.optimizer} {row.impl}: n/a ({row.note})"
    kernels = f" ({row.note})" if row.note else ""
    return (f"{row.size} {row.optimizer} {row.impl}{kernels}: {_ms(row.step_ms)} ms, {row.percent_of_floor:.0f}% "
            f"of floor, {_ratio(row.ratio_to_torch_best)} torch's best")


def markdown_tables(result: dict[str, Any]) -> str:
    """One markdown table per parameter list: step time (% of floor) per implementation, and ratios."""
    rows = result["rows"]
    impls = list(dict.fromkeys(r["impl"] for r in rows))
    lines = [f"{result['machine']['date']}; {result['steps']} timed steps per row (median); bandwidth of "
             f"x.add_(y) at the start: {result['bandwidth_GBps']:.1f} GB/s (the GB/s column: the bandwidth each "
             "row's floor uses, measured alongside it on CPU)."]
    for size in dict.fromkeys(r["size"] for r in rows):
        lines += ["", f"**{size}** — step time in ms (percent of the bandwidth floor); ratio = inertia fused / "
                  "torch's best path", "",
                  "| optimizer | GB/s | floor | " + " | ".join(impls) + " | ratio | B/param moved | state B/param |",
                  "|---" * (len(impls) + 6) + "|"]
        for name in dict.fromkeys(r["optimizer"] for r in rows if r["size"] == size):
            cells = {r["impl"]: r for r in rows if r["size"] == size and r["optimizer"] == name}
            first = next(iter(cells.values()))
            text = [_cell(cells.get(i)) for i in impls]
            fused = cells.get("inertia-fused")
            ratio = fused and fused["ratio_to_torch_best"]
            bandwidth = first.get("bandwidth_GBps") or result["bandwidth_GBps"]  # older rows: the run's
            moved, state = first.get("bytes_per_param"), first.get("state_bytes_per_param")  # older rows: none
            lines.append(f"| {name} | {bandwidth:.0f} | {_ms(first['floor_ms'])} | "
                         + " | ".join(text) + f" | {_ratio(ratio)} | {_bytes(moved)} | {_bytes(state)} |")
    lines += _backend_table(result.get("cpu_backends"))
    return "\n".join(lines) + "\n"


def _cell(row: dict[str, Any] | None) -> str:
    if row is None or row["step_ms"] is None:
        return "none"
    return f"{_ms(row['step_ms'])} ({row['percent_of_floor']:.0f}%)"


def _bytes(value: float | None) -> str:
    return "n/a" if not value else f"{value:g}"


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
