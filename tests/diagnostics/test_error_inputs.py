"""Error inputs of the diagnostics' Python API: the Hessian tools, lr_find and diagnose.

Each case is a bad call, the exception type and a regex naming the argument and the value. Each
test also checks that nothing changed (parameters, model and optimizer state dicts, and torch's
RNG state equal before and after) and that no file or directory was created.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from error_cases import ErrorCase, case_ids, expect_refused, listing, same_state
from torch import nn

import inertia
from inertia.diagnostics import (
    MonitorThresholds,
    OptimizerMonitor,
    TrainingSnapshot,
    edge_of_stability,
    hessian_eigenvalues,
    hessian_trace,
    layer_curvature,
    lr_find,
    spectral_density,
    write_lr_find,
)
from inertia.diagnostics.diagnose import run_diagnosis
from inertia.diagnostics.diagnose_report import write_diagnosis
from inertia.diagnostics.workload import make_workload

E = ErrorCase


def _escape(text: str) -> str:
    return "".join("\\" + ch if ch in r"\.^$*+?{}[]|()" else ch for ch in text)


def _values(name: str, values: list, call, message: str = "must be") -> list[ErrorCase]:
    """``call(value)`` refused with a ValueError naming ``name`` and the value."""
    return [E(f"{call.__name__} {name}={value!r}", lambda *a, v=value: call(*a, v), ValueError,
              rf"{name}: {message}.*got {_escape(repr(value))}") for value in values]


# ----------------------------------------------------------------------------- Hessian tools
def _named(function, name, **fixed):
    def call(loss_fn, params, value):
        return function(loss_fn, params, **fixed, **{name: value})
    call.__name__ = function.__name__
    return call


HESSIAN = [
    E("loss_fn=3", lambda f, p: hessian_eigenvalues(3, p), TypeError, r"loss_fn: must be a callable.*got 3"),
    E("loss_fn=None", lambda f, p: hessian_eigenvalues(None, p), TypeError, r"loss_fn: must be a callable.*None"),
    E("loss_fn returns a float", lambda f, p: hessian_eigenvalues(lambda: 1.0, p), TypeError,
      r"loss_fn: must return a scalar tensor, got 1\.0 of type float"),
    E("loss_fn returns a vector", lambda f, p: hessian_eigenvalues(lambda: p[0] ** 2, p), ValueError,
      r"loss_fn: must return a scalar tensor, got Tensor with shape \(3,\)"),
    E("loss_fn without a graph", lambda f, p: hessian_eigenvalues(lambda: torch.tensor(1.0), p), ValueError,
      r"loss_fn: the returned loss does not depend on any parameter"),
    E("params a tensor", lambda f, p: hessian_eigenvalues(f, p[0]), TypeError, r"params: .*got one tensor"),
    E("params=3", lambda f, p: hessian_eigenvalues(f, 3), TypeError, r"params: expected .*got 3 of type int"),
    E("params=None", lambda f, p: hessian_eigenvalues(f, None), TypeError, r"params: expected .*got None"),
    E("params='w'", lambda f, p: hessian_eigenvalues(f, "w"), TypeError, r"params: expected .*got 'w'"),
    E("params entry 3", lambda f, p: hessian_eigenvalues(f, [3]), TypeError, r"params: entry 0 is int"),
    E("params without grad", lambda f, p: hessian_eigenvalues(f, [torch.ones(2)]), ValueError,
      r"params: no tensor that requires grad"),
    *_values("k", [True, 0, -1, 1.5, "2", None], _named(hessian_eigenvalues, "k")),
    *_values("which", ["middle", None, "Largest"], _named(hessian_eigenvalues, "which")),
    *_values("max_hvp", [True, 10.5, 0, "x"], _named(hessian_eigenvalues, "max_hvp")),
    E("max_hvp below k", lambda f, p: hessian_eigenvalues(f, p, k=5, max_hvp=3), ValueError,
      r"max_hvp: must be an integer at least k=5, got 3"),
    *_values("tol", [-1.0, math.nan, 0, 1, True, "x"], _named(hessian_eigenvalues, "tol")),
    *_values("seed", ["x", -1, 1.5, True, None, 2**64], _named(hessian_eigenvalues, "seed")),
    *_values("return_vectors", ["yes", None, 1], _named(hessian_eigenvalues, "return_vectors")),
    E("hessian_trace loss_fn=3", lambda f, p: hessian_trace(3, p), TypeError, r"loss_fn: must be a callable"),
    *_values("num_samples", [True, 1, "x", 2.5], _named(hessian_trace, "num_samples")),
    *_values("seed", ["x", -1], _named(hessian_trace, "seed")),
    *_values("max_hvp", [0, True], _named(layer_curvature, "max_hvp")),
    *_values("trace_samples", [1, "x"], _named(layer_curvature, "trace_samples")),
    *_values("seed", ["x"], _named(layer_curvature, "seed")),
    *_values("num_probes", [0, True, 1.5], _named(spectral_density, "num_probes")),
    *_values("lanczos_steps", [1, "x"], _named(spectral_density, "lanczos_steps")),
    *_values("grid_size", [1, None], _named(spectral_density, "grid_size")),
    *_values("sigma", [-1.0, "x", math.nan], _named(spectral_density, "sigma")),
    *_values("seed", ["x", -1], _named(spectral_density, "seed")),
    E("spectral_density loss_fn=3", lambda f, p: spectral_density(3, p), TypeError, r"loss_fn: must be a callable"),
    *[E(f"edge_of_stability {name}={value!r}", lambda f, p, n=name, v=value: edge_of_stability(
        **{"lambda_max": 1.0, "lr": 0.1, n: v}), ValueError, rf"{name}: must .*got {_escape(repr(value))}")
      for name, value in [("lambda_max", "x"), ("lambda_max", math.nan), ("lr", "x"), ("lr", 0.0), ("lr", math.inf),
                          ("lr", math.nan), ("momentum", "x"), ("momentum", 1.0), ("dampening", -0.1),
                          ("nesterov", "x"), ("margin", -1), ("margin", "x")]],
]


@pytest.mark.parametrize("case", HESSIAN, ids=case_ids(HESSIAN))
def test_hessian_tools_refuse_by_name_and_change_nothing(case, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    params = [torch.tensor([1.0, 2.0, 3.0], requires_grad=True), torch.tensor([0.5], requires_grad=True)]
    before = copy.deepcopy([(p.detach(), p.grad) for p in params])
    expect_refused(case, lambda: (params[0] ** 2).sum() * params[1].sum(), params)
    assert same_state([(p.detach(), p.grad) for p in params], before)
    assert listing(tmp_path) == []


# ----------------------------------------------------------------------------- lr_find
def _lr(name):
    def call(model, optimizer, batch_loss, value):
        return lr_find(model, optimizer, batch_loss, **{"num_steps": 10, "seeds": (0,), name: value})
    call.__name__ = "lr_find"
    return call


def _returning(value):
    return lambda model, optimizer, batch_loss: lr_find(model, optimizer, lambda step, seed: value(model),
                                                        num_steps=10, seeds=(0,))


LR_FIND = [
    E("model=3", lambda m, o, b: lr_find(3, o, b), TypeError, r"model: must be a torch\.nn\.Module, got 3"),
    E("optimizer='sgd'", lambda m, o, b: lr_find(m, "sgd", b), TypeError,
      r"optimizer: must be a torch\.optim\.Optimizer, got 'sgd'"),
    E("batch_loss=3", lambda m, o, b: lr_find(m, o, 3), TypeError, r"batch_loss: must be a callable.*got 3"),
    E("batch_loss takes no arguments", lambda m, o, b: lr_find(m, o, lambda: 1.0), TypeError,
      r"batch_loss: must accept \(step, seed\)"),
    E("batch_loss returns a float", _returning(lambda m: 1.0), TypeError,
      r"batch_loss: must return a scalar tensor, got 1\.0 of type float"),
    E("batch_loss returns None", _returning(lambda m: None), TypeError, r"batch_loss: must return a scalar tensor"),
    E("batch_loss returns a vector", _returning(lambda m: m(torch.ones(4, 2)).squeeze(1)), ValueError,
      r"batch_loss: must return a scalar tensor, got Tensor with shape \(4,\)"),
    E("batch_loss returns no graph", _returning(lambda m: torch.tensor(1.0)), ValueError,
      r"batch_loss: the returned loss does not depend"),
    E("curvature_loss=3", lambda m, o, b: lr_find(m, o, b, curvature_loss=3), TypeError,
      r"curvature_loss: must be None or a callable.*got 3"),
    E("curvature_loss returns a float", lambda m, o, b: lr_find(m, o, b, num_steps=10, seeds=(0,),
                                                              curvature_loss=lambda: 1.0), TypeError,
      r"curvature_loss: loss_fn: must return a scalar tensor, got 1\.0"),
    *_values("lr_min", [True, 0, -1.0, math.nan, math.inf, "1e-3", None, 1j], _lr("lr_min")),
    *_values("lr_max", [True, 1e-7, math.inf, math.nan, "x", None], _lr("lr_max")),
    *_values("num_steps", [3, True, 10.5, "100", None, 10**12], _lr("num_steps")),
    *[E(f"seeds={value!r}", lambda m, o, b, v=value: lr_find(m, o, b, seeds=v), TypeError,
        rf"seeds: must be a list of distinct integer seeds, got {_escape(repr(value))}")
      for value in ("ab", 3, None, {1, 2}, {"a": 1}, 2.5)],
    *[E(f"seeds={value!r}", lambda m, o, b, v=value: lr_find(m, o, b, seeds=v), ValueError,
        rf"seeds: .*{_escape(repr(value[0] if value else value))}")
      for value in ([1.5], [True], [-1], ["0"], [2**64], [0, 1.0])],
    E("seeds=[]", lambda m, o, b: lr_find(m, o, b, seeds=[]), ValueError, r"seeds: must be a non-empty list"),
    E("seeds repeated", lambda m, o, b: lr_find(m, o, b, seeds=(1, 1)), ValueError,
      r"seeds: must be a non-empty list of distinct integers, got \[1, 1\]"),
    *_values("smoothing", ["0.9", None, 1j, 1.0, -0.1, math.nan, True], _lr("smoothing")),
    *_values("diverge_factor", ["4", None, 2j, 1.0, math.nan, True, 0.5], _lr("diverge_factor")),
    *_values("max_hvp", [0, True, "x"], _lr("max_hvp")),
]


def _tiny():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1))
    optimizer = inertia.SGD(model.parameters(), lr=0.05, momentum=0.9)
    inputs = torch.randn(16, 2, generator=torch.Generator().manual_seed(1))

    def batch_loss(step: int, seed: int) -> torch.Tensor:
        return model(inputs).pow(2).mean()

    batch_loss(0, 0).backward()
    optimizer.step()  # some optimizer state to keep
    return model, optimizer, batch_loss


@pytest.mark.parametrize("case", LR_FIND, ids=case_ids(LR_FIND))
def test_lr_find_refuses_by_name_and_changes_nothing(case, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    model, optimizer, batch_loss = _tiny()
    before = copy.deepcopy((model.state_dict(), optimizer.state_dict(), torch.get_rng_state()))
    expect_refused(case, model, optimizer, batch_loss)
    assert same_state((model.state_dict(), optimizer.state_dict(), torch.get_rng_state()), before)
    assert listing(tmp_path) == []


# ----------------------------------------------------------------------------- diagnose
@pytest.fixture(scope="module")
def workload():
    return make_workload("digits", "softmax", batch_size=32)


def _diag(name):
    def call(workload, optimizer, value):
        return run_diagnosis(workload, optimizer, **{"steps": 2, "max_hvp": 4, "trace_samples": 2, name: value})
    call.__name__ = "run_diagnosis"
    return call


DIAGNOSE = [
    E("workload=3", lambda w, o: run_diagnosis(3, o), TypeError, r"workload: must be .*Workload.*got int"),
    E("optimizer=3", lambda w, o: run_diagnosis(w, 3), TypeError, r"optimizer: must be a torch\.optim\.Optimizer"),
    E("optimizer of other params", lambda w, o: run_diagnosis(w, inertia.SGD([nn.Parameter(torch.ones(2))])),
      ValueError, r"optimizer: holds none of workload\.model's parameters"),
    *_values("steps", [1, True, 2.5, "10", None, 10**8], _diag("steps")),
    *_values("interval", [0, True, 1.5], _diag("interval")),
    E("thresholds='x'", lambda w, o: run_diagnosis(w, o, thresholds="x"), TypeError,
      r"thresholds: must be None or a MonitorThresholds, got str"),
    *_values("sharpness_points", [0, 1.5], _diag("sharpness_points")),
    *_values("max_hvp", [1, True, "x"], _diag("max_hvp")),
    *_values("trace_samples", [1, "x"], _diag("trace_samples")),
    *_values("seed", [-1, "x", 1.5, True], _diag("seed")),
    E("settings=[1]", lambda w, o: run_diagnosis(w, o, settings=[1]), TypeError,
      r"settings: must be None or a dict, got list"),
    E("make_workload dataset=3", lambda w, o: make_workload(3), TypeError, r"dataset: must be a name .*got 3"),
    E("make_workload dataset='nope'", lambda w, o: make_workload("nope"), ValueError, r"dataset 'nope'"),
    E("make_workload model=None", lambda w, o: make_workload("digits", None), TypeError, r"model: .*got None"),
    E("make_workload model='nope'", lambda w, o: make_workload("digits", "nope"), ValueError, r"model 'nope'"),
    *[E(f"make_workload batch_size={value!r}", lambda w, o, v=value: make_workload("digits", batch_size=v),
        ValueError, rf"batch_size: must be a positive integer, got {_escape(repr(value))}")
      for value in (0, True, "x", 2.5)],
    E("make_workload seed='x'", lambda w, o: make_workload("digits", seed="x"), ValueError, r"seed .*got 'x'"),
    E("OptimizerMonitor optimizer=3", lambda w, o: OptimizerMonitor(3), TypeError, r"optimizer: expected .*int"),
    E("OptimizerMonitor thresholds='x'", lambda w, o: OptimizerMonitor(o, thresholds="x"), TypeError,
      r"thresholds: must be None or a MonitorThresholds, got str"),
    E("OptimizerMonitor on_warning=3", lambda w, o: OptimizerMonitor(o, on_warning=3), TypeError,
      r"on_warning: must be None or a callable.*got 3"),
    E("OptimizerMonitor named_parameters=3", lambda w, o: OptimizerMonitor(o, named_parameters=3), TypeError,
      r"named_parameters: must be None, a mapping .*got 3"),
    *[E(f"OptimizerMonitor {name}={value!r}", lambda w, o, n=name, v=value: OptimizerMonitor(o, **{n: v}),
        ValueError, rf"{name}: must be a .*integer, got {_escape(repr(value))}")
      for name, value in [("interval", 0), ("interval", True), ("warmup_steps", -1), ("adaptive_every", 1.5)]],
    *[E(f"MonitorThresholds {name}={value!r}", lambda w, o, n=name, v=value: MonitorThresholds(**{n: v}),
        ValueError, rf"{name}: must .*got {_escape(repr(value))}")
      for name, value in [("zigzag_cos", "x"), ("zigzag_cos", 2.0), ("eps_share", -1.0), ("grad_growth", None),
                          ("window_steps", 0), ("collapse_state_keys", ["sum"]), ("collapse_state_keys", (1,))]],
    E("TrainingSnapshot model=3", lambda w, o: TrainingSnapshot(3, o), TypeError, r"model: must be a torch\.nn"),
    E("TrainingSnapshot optimizer=3", lambda w, o: TrainingSnapshot(w.model, 3), TypeError,
      r"optimizer: must be a torch\.optim\.Optimizer, got 3"),
    E("write_diagnosis run='x'", lambda w, o: write_diagnosis("x", "out"), TypeError,
      r"run: must be the DiagnosisRun of run_diagnosis, got str"),
    E("write_lr_find result='x'", lambda w, o: write_lr_find("x", "out"), TypeError,
      r"result: must be the LRFindResult of lr_find, got str"),
]


@pytest.mark.parametrize("case", DIAGNOSE, ids=case_ids(DIAGNOSE))
def test_diagnose_refuses_by_name_and_changes_nothing(case, workload, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    optimizer = inertia.SGD(workload.model.parameters(), lr=0.1)
    before = copy.deepcopy((workload.model.state_dict(), optimizer.state_dict(), torch.get_rng_state()))
    expect_refused(case, workload, optimizer)
    assert same_state((workload.model.state_dict(), optimizer.state_dict(), torch.get_rng_state()), before)
    assert listing(tmp_path) == []


def test_reports_refuse_an_output_path_that_is_a_file_or_none(workload, tmp_path) -> None:
    run = run_diagnosis(workload, inertia.SGD(workload.model.parameters(), lr=0.1), steps=2, max_hvp=4,
                        trace_samples=2, sharpness_points=1)
    (tmp_path / "file").write_text("kept")
    for out, error, match in [(tmp_path / "file", ValueError, r"out_dir: .*file' exists and is not a directory"),
                              (None, TypeError, r"out_dir: must be a non-empty path, got None"),
                              ("", TypeError, r"out_dir: must be a non-empty path, got ''")]:
        with pytest.raises(error, match=match):
            write_diagnosis(run, out)
    assert listing(tmp_path) == ["file"] and (tmp_path / "file").read_text() == "kept"


def test_lr_find_with_momentum_above_one_notes_the_missing_limit_instead_of_failing_after_the_sweep() -> None:
    model, _, batch_loss = _tiny()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=1.5)
    result = lr_find(model, optimizer, batch_loss, lr_min=1e-6, lr_max=1e-3, num_steps=10, seeds=(0,),
                     curvature_loss=lambda: batch_loss(0, 0))
    assert result.stability_limit_lr is None
    assert any(note.startswith("momentum = 1.5 >= 1") for note in result.notes)
