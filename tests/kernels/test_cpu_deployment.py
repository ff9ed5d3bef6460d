"""The CPU fused kernels as deployed: no writable numba cache, numba missing or broken, dtypes, threads."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from kernel_cases import CASES, case_id
from packaging.requirements import Requirement
from test_fused_optimizer import assert_same, build, make_params, train

import inertia
from inertia.kernels import cpu, jit
from inertia.kernels.rule_info import FusedFallbackWarning
from inertia.optim import fused_dispatch


def fallback_messages(impl: str, name: str = "RMSprop", kwargs: dict | None = None) -> list[str]:
    params = make_params()
    optimizer = build(name, kwargs or dict(lr=0.01), params, impl)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(optimizer, params, 3)
    reference = make_params()
    train(build(name, kwargs or dict(lr=0.01), reference, "reference"), reference, 3)
    assert_same(params, reference, exact=True)
    return [str(w.message) for w in caught if issubclass(w.category, FusedFallbackWarning)]


def test_kernels_load_and_run_without_any_writable_cache_location(monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only install with no writable NUMBA_CACHE_DIR or user cache: compile in memory, no error."""
    from numba.core import caching

    monkeypatch.setattr(caching.CacheImpl, "_locator_classes", [])
    jit.forget_compiled()  # compile again, now without a cache location
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            adagrad_step = jit.compiled("inertia.optim.adagrad", "adagrad_step", "numba")
            p, g, sq = np.linspace(-1, 1, 5), np.linspace(2, -2, 5), np.zeros(5)
            adagrad_step(p, g, sq, 0.1, 1e-10, 0.0, 1.0, False, False)
    finally:
        jit.forget_compiled()  # later tests compile with the on-disk cache again
    np.testing.assert_allclose(p, np.linspace(-1, 1, 5) - 0.1 * np.sign(np.linspace(2, -2, 5)))


def simulate_missing_numba(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if numba were absent, or installed but failing to import (a numpy it does not support)."""
    monkeypatch.setitem(sys.modules, "numba", None)
    cpu.numba_available.cache_clear()
    monkeypatch.setattr(fused_dispatch, "AUTO_CPU_MIN_ELEMENTS", 1)


@pytest.fixture
def numba_cache_restored():
    yield
    cpu.numba_available.cache_clear()


@pytest.mark.usefixtures("numba_cache_restored")
def test_missing_numba_falls_back_with_one_warning_under_fused(monkeypatch: pytest.MonkeyPatch) -> None:
    simulate_missing_numba(monkeypatch)
    messages = fallback_messages("fused")
    assert len(messages) == 1 and "numba" in messages[0] and "reference path" in messages[0]


@pytest.mark.usefixtures("numba_cache_restored")
def test_missing_numba_falls_back_silently_under_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    simulate_missing_numba(monkeypatch)
    assert fallback_messages("auto") == []


@pytest.mark.usefixtures("numba_cache_restored")
def test_numba_that_fails_to_import_counts_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    simulate_missing_numba(monkeypatch)
    assert not cpu.numba_available()
    assert cpu.cpu_backends(inertia.RMSprop.rule.spec(inertia.RMSprop(
        [torch.zeros(1, requires_grad=True)]).param_groups[0])[0], torch.float32) == []


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_float64_buckets_match_the_reference_closely(case) -> None:
    name, kwargs = case
    runs = {}
    for impl in ("reference", "fused"):
        params = make_params(torch.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("error", FusedFallbackWarning)
            optimizer = build(name, kwargs, params, impl)
            train(optimizer, params, 5)
        runs[impl] = params
    assert all(b.stepper is not None for g in optimizer.fused_groups.values() for b in g.buckets)
    for a, b in zip(runs["fused"], runs["reference"], strict=True):
        torch.testing.assert_close(a.detach(), b.detach(), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "Adam"])
def test_half_buckets_fall_back_once_to_the_reference(dtype: torch.dtype, name: str) -> None:
    kwargs = dict(lr=0.01, momentum=0.9) if name in ("SGD", "RMSprop") else dict(lr=0.01)
    runs, messages = {}, {}
    for impl in ("reference", "fused"):
        params = make_params(dtype)
        optimizer = build(name, kwargs, params, impl)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            train(optimizer, params, 3)
        runs[impl] = params
        messages[impl] = [str(w.message) for w in caught if issubclass(w.category, FusedFallbackWarning)]
    assert messages["reference"] == []
    assert len(messages["fused"]) == 1 and str(dtype).split(".")[1] in messages["fused"][0]
    assert_same(runs["fused"], runs["reference"], exact=True)


def test_numba_stepper_follows_torch_thread_count_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu, "PARALLEL_MIN", 64)
    spec, hyper = inertia.RMSprop.rule.spec(inertia.RMSprop(
        [torch.zeros(1, requires_grad=True)], lr=0.01).param_groups[0])
    n = 1000
    buffers = {"param": torch.linspace(-1, 1, n, dtype=torch.float64),
               "grad": torch.linspace(1, -2, n, dtype=torch.float64),
               "square_avg": torch.zeros(n, dtype=torch.float64)}
    expected = {k: v.clone() for k, v in buffers.items()}
    single = cpu.NumbaStepper(spec, expected)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        stepper = cpu.NumbaStepper(spec, buffers)
        assert len(stepper.chunks) == 1
        torch.set_num_threads(3)
        for step in (1, 2):
            stepper(hyper, step)
            single(hyper, step)
        assert len(stepper.chunks) == 3
    finally:
        torch.set_num_threads(before)
    for key in buffers:
        torch.testing.assert_close(buffers[key], expected[key], rtol=0, atol=0)


def test_numba_is_a_regular_dependency_where_it_has_wheels() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    numba = [Requirement(r) for r in pyproject["project"]["dependencies"] if r.startswith("numba")]
    assert len(numba) == 1 and numba[0].marker is not None
    for machine in ("x86_64", "AMD64", "aarch64", "arm64"):
        assert numba[0].marker.evaluate({"platform_machine": machine, "python_version": "3.12"})
    assert not numba[0].marker.evaluate({"platform_machine": "ppc64le", "python_version": "3.12"})
