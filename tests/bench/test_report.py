"""The step benchmark's markdown tables."""

from __future__ import annotations


def test_markdown_of_rows_without_their_own_bandwidth_shows_the_run_bandwidth() -> None:
    """Rows saved before the per-row bandwidth existed (benchmarks/results/step_speed_cuda_h200.json)
    show the run's bandwidth in the GB/s column, not an invented 0."""
    from inertia.bench.report import markdown_tables

    row = {"size": "10M/100", "optimizer": "adam", "impl": "inertia-fused", "step_ms": 0.104, "floor_ms": 0.064,
           "percent_of_floor": 61.5, "ratio_to_torch_best": None, "note": ""}
    result = {"machine": {"date": "2026-11-27 22:49 UTC"}, "steps": 10, "bandwidth_GBps": 4352.8, "rows": [row]}
    assert "| adam | 4353 | 0.064 | 0.104 (62%) | n/a |" in markdown_tables(result)
