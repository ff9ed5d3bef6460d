"""Drop-in details: positional arguments, param-group keys, complex parameters, group checks."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch
from optim_cases import loss_of, make_params

import inertia
from inertia.kernels.rule_info import FusedFallbackWarning

NAMES = ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"]

# torch.optim's positional arguments after ``params``, each non-default, with the group keys they set.
POSITIONAL = {
    "SGD": ((0.05, 0.9, 0.0, 1e-3, True), ("lr", "momentum", "dampening", "weight_decay", "nesterov")),
    "Adagrad": ((0.1, 0.01, 1e-3, 0.2, 1e-6, False),
                ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps", "foreach")),
    "RMSprop": ((0.01, 0.9, 1e-6, 1e-3, 0.5, True, False, False, True),
                ("lr", "alpha", "eps", "weight_decay", "momentum", "centered", "capturable", "foreach",
                 "maximize")),
    "Adam": ((0.01, (0.8, 0.99), 1e-6, 1e-3, True), ("lr", "betas", "eps", "weight_decay", "amsgrad")),
    "AdamW": ((0.01, (0.8, 0.99), 1e-6, 1e-3, True), ("lr", "betas", "eps", "weight_decay", "amsgrad")),
}


def trained(module: object, name: str, params: list, *args, steps: int = 4, **kwargs) -> torch.optim.Optimizer:
    optimizer = getattr(module, name)(params, *args, **kwargs)
    for _ in range(steps):
        optimizer.zero_grad()
        loss_of(params).backward()
        optimizer.step()
    return optimizer


@pytest.mark.parametrize("name", NAMES)
def test_positional_arguments_mean_what_they_mean_in_torch(name: str) -> None:
    args, keys = POSITIONAL[name]
    runs = {}
    for module in (torch.optim, inertia):
        params = make_params(torch.float64)
        optimizer = trained(module, name, params, *args)
        assert {key: optimizer.param_groups[0][key] for key in keys} == dict(zip(keys, args, strict=True))
        runs[module] = params
    for got, want in zip(runs[inertia], runs[torch.optim], strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_param_group_keys_include_all_of_torchs(name: str) -> None:
    groups = {}
    for module in (torch.optim, inertia):
        optimizer = getattr(module, name)(make_params(torch.float32), lr=0.01)
        groups[module] = optimizer.state_dict()["param_groups"][0]
    missing = set(groups[torch.optim]) - set(groups[inertia])
    assert not missing
    shared = set(groups[torch.optim]) - {"params"}
    assert {k: groups[inertia][k] for k in shared} == {k: groups[torch.optim][k] for k in shared}


COMPLEX_CONFIGS = [
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1, maximize=True)),
    ("AdamW", dict(lr=0.01)),
]


@pytest.mark.parametrize("name, kwargs", COMPLEX_CONFIGS, ids=[c[0] for c in COMPLEX_CONFIGS])
def test_complex_parameters_follow_torch(name: str, kwargs: dict) -> None:
    """torch.optim steps a complex parameter as its real view (real and imaginary parts independently).

    torch adds weight decay to the complex gradient before taking the real view (a complex multiply-add,
    rounded differently), so the comparison allows float64 rounding."""
    runs = {}
    for module in (torch.optim, inertia):
        generator = torch.Generator().manual_seed(3)
        params = [torch.nn.Parameter(torch.randn(5, dtype=torch.complex128, generator=generator)),
                  torch.nn.Parameter(torch.randn(3, dtype=torch.float64, generator=generator))]
        optimizer = getattr(module, name)(params, **kwargs)
        for _ in range(5):
            optimizer.zero_grad()
            (params[0].abs().pow(3).sum() + params[0].real.sin().sum() + params[1].pow(2).sum()).backward()
            optimizer.step()
        runs[module] = (params, optimizer.state_dict()["state"])
    for got, want in zip(runs[inertia][0], runs[torch.optim][0], strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(runs[inertia][1], runs[torch.optim][1], rtol=1e-12, atol=1e-14)


BAD_GROUPS = [
    ("SGD", dict(lr=-1.0), "lr", "-1.0"),
    ("SGD", dict(momentum=-0.5), "momentum", "-0.5"),
    ("SGD", dict(nesterov=True), "nesterov", "True"),
    ("SGD", dict(maximize="False"), "maximize", "'False'"),
    ("Adagrad", dict(lr_decay=-0.1), "lr_decay", "-0.1"),
    ("RMSprop", dict(alpha=1.5), "alpha", "1.5"),
    ("RMSprop", dict(centered="yes"), "centered", "'yes'"),
    ("Adam", dict(betas=(2.0, 0.9)), "betas", "2.0"),
    ("Adam", dict(eps_mode="sqrt"), "eps_mode", "'sqrt'"),
    ("Adam", dict(amsgrad=None), "amsgrad", "None"),
    ("AdamW", dict(weight_decay=float("nan")), "weight_decay", "nan"),
    ("Adam", dict(nonfinite="warn"), "nonfinite", "'warn'"),
    ("Adam", dict(impl="cuda"), "impl", "'cuda'"),
    ("Adam", dict(fused="yes"), "fused", "'yes'"),
    ("Adam", dict(fused=True, foreach=True), "fused", "True"),
    ("SGD", dict(fused=True, foreach=True), "foreach", "True"),
    ("Lion", dict(differentiable=True), "differentiable", "True"),
]


@pytest.mark.parametrize("name, group, argument, value", BAD_GROUPS,
                         ids=[f"{n}-{a}-{v}" for n, _, a, v in BAD_GROUPS])
def test_bad_group_values_are_rejected_and_nothing_is_added(name: str, group: dict, argument: str,
                                                            value: str) -> None:
    optimizer = getattr(inertia, name)(make_params(torch.float32)[:2], lr=0.01)
    with pytest.raises(ValueError) as error:
        optimizer.add_param_group({"params": make_params(torch.float32, seed=1)[2:], **group})
    assert argument in str(error.value) and value in str(error.value)
    assert len(optimizer.param_groups) == 1
    with pytest.raises(ValueError, match=argument):
        getattr(inertia, name)([{"params": make_params(torch.float32)[:2], **group}], lr=0.01)


@pytest.mark.parametrize("impl", ["reference", "fused"])
def test_numpy_scalars_act_as_the_python_numbers_they_hold(impl: str) -> None:
    numpy_values = dict(lr=np.float32(0.01), betas=(np.float32(0.9), np.float64(0.99)), eps=np.float64(1e-8),
                        weight_decay=np.float32(0.1), amsgrad=np.bool_(True))
    python_values = dict(lr=float(np.float32(0.01)), betas=(float(np.float32(0.9)), 0.99), eps=1e-8,
                         weight_decay=float(np.float32(0.1)), amsgrad=True)
    params = make_params(torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FusedFallbackWarning)
        optimizer = trained(inertia, "Adam", params, impl=impl, **numpy_values)
    assert optimizer.param_groups[0]["amsgrad"] is True
    assert type(optimizer.param_groups[0]["lr"]) is float
    reference = make_params(torch.float64)
    trained(torch.optim, "Adam", reference, **python_values)
    for got, want in zip(params, reference, strict=True):
        torch.testing.assert_close(got, want, **({} if impl == "fused" else dict(rtol=0, atol=0)))


def test_tensor_lr_error_says_what_to_do() -> None:
    """A 0-d tensor lr is accepted, as torch does (tests/optim/test_tensor_lr.py); one of two numbers is not."""
    with pytest.raises(ValueError, match=r"Invalid lr: tensor\(\[0\.0100, 0\.0200\]\).*one element"):
        inertia.Adam(make_params(torch.float32), lr=torch.tensor([0.01, 0.02]))


@pytest.mark.parametrize("name", NAMES)
def test_failing_load_state_dict_names_the_entry_and_changes_nothing(name: str) -> None:
    params = make_params(torch.float32)
    optimizer = trained(inertia, name, params, lr=0.01, **({"momentum": 0.9} if name == "SGD" else {}))
    before = copy.deepcopy(optimizer.state_dict())
    bad = copy.deepcopy(before)
    key = next(k for k in bad["state"][2] if k != "step")
    bad["state"][2][key] = torch.zeros(5)
    with pytest.raises(ValueError, match=rf"{key}.*group 0, index 2.*\(5,\).*\(3, 2, 2\)"):
        optimizer.load_state_dict(bad)
    after = optimizer.state_dict()
    assert after["param_groups"] == before["param_groups"]
    torch.testing.assert_close(after["state"], before["state"], rtol=0, atol=0)
    optimizer.zero_grad()
    loss_of(params).backward()
    optimizer.step()


@pytest.mark.parametrize("option", ["momentum", "centered"])
def test_rmsprop_option_switched_on_mid_run_starts_its_buffer_at_zero(option: str) -> None:
    runs = []
    for impl in ("reference", "fused"):
        params = make_params(torch.float64)
        optimizer = trained(inertia, "RMSprop", params, lr=0.01, impl=impl, steps=2)
        optimizer.param_groups[0][option] = 0.9 if option == "momentum" else True
        for _ in range(3):
            optimizer.zero_grad()
            loss_of(params).backward()
            optimizer.step()
        key = "momentum_buffer" if option == "momentum" else "grad_avg"
        assert all(key in optimizer.state[p] for p in params)
        runs.append(params)
    for got, want in zip(*runs, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
