"""The problem registry: `inertia problems` lists exactly what the registry and the data loaders accept."""

from __future__ import annotations

import pytest

from inertia.lab.run_config import DATASET_KINDS, is_dataset_spec
from inertia.problems import PROBLEMS, SURFACES, get_problem, list_problems


def test_listing_is_the_registry_plus_the_datasets() -> None:
    rows = list_problems()
    names = [name for name, _, _ in rows]
    assert len(names) == len(set(names))
    problems = [name for name, kind, _ in rows if kind != "dataset"]
    datasets = [name for name, kind, _ in rows if kind == "dataset"]
    assert problems == list(PROBLEMS) == [*SURFACES, "quadratic"]
    assert sorted(spec.partition(":")[0] for spec in datasets) == sorted(DATASET_KINDS)
    assert all(is_dataset_spec(spec) and spec not in PROBLEMS for spec in datasets)


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_every_listed_problem_builds_with_its_listed_kind_and_description(name: str) -> None:
    kind, description = next((k, d) for n, k, d in list_problems() if n == name)
    problem = get_problem(name)
    assert problem.name == name and problem.kind == kind
    assert problem.dim == len(problem.start) and all(len(m) == problem.dim for m in problem.minima)
    if kind == "surface":
        assert description == problem.description


def test_problems_command_prints_every_row_models_and_optimizers(capsys, monkeypatch) -> None:
    from inertia.cli import main
    from inertia.optim import OPTIMIZERS
    from inertia.problems import MODELS

    monkeypatch.setenv("COLUMNS", "400")  # one table line per row
    assert main(["problems"]) == 0
    lines = capsys.readouterr().out.splitlines()
    listed = [line.split("│")[1].strip() for line in lines if line.count("│") == 4]
    assert listed == [name for name, _, _ in list_problems()]
    assert f"optimizers: {', '.join(OPTIMIZERS)}" in lines and f"models (datasets): {', '.join(MODELS)}" in lines
