"""The steppers' cache of hyperparameter arguments: reused while the same tuple of Python numbers comes back,
reread when a new tuple comes, or when a tensor argument was written in place. Compared against the
reference rule after the change."""

from __future__ import annotations

import pytest
import torch
from kernel_cases import CASES, fresh_buffers, reference_step, spec_of

from inertia.kernels.cpu import NumbaStepper, TorchFusedStepper, numba_available, torch_supports
from inertia.kernels.triton_steps import triton_available


def _steppers() -> list[tuple[str, int]]:
    found = []
    for index in (2, 8, 12, 16):  # SGD momentum, AdaGrad lr_decay, RMSprop momentum, Adam
        if torch_supports(spec_of(CASES[index])[1]):
            found.append(("torch", index))
        if numba_available():
            found.append(("numba", index))
        if triton_available():  # through the interpreter on CPU
            found.append(("triton", index))
    return found


def _stepper(backend: str, spec, buffers: dict) -> object:
    if backend == "triton":
        from inertia.kernels.triton_steps import TritonStepper

        return TritonStepper(spec, buffers)
    return (NumbaStepper if backend == "numba" else TorchFusedStepper)(spec, buffers)


@pytest.mark.parametrize(("backend", "index"), _steppers(), ids=lambda v: str(v))
@pytest.mark.parametrize("lr_kind", ["new-tuple", "tensor-in-place"])
def test_steppers_reread_changed_hyperparameters(backend: str, index: int, lr_kind: str) -> None:
    rule, spec, hyper, group = spec_of(CASES[index])
    generator = torch.Generator().manual_seed(index)
    got = fresh_buffers(spec, group, 37, torch.float64, generator)
    want = {key: value.clone() for key, value in got.items()}
    stepper = _stepper(backend, spec, got)
    lr = torch.tensor(float(hyper[0]), dtype=torch.float64)
    arguments = (lr, *hyper[1:]) if lr_kind == "tensor-in-place" else hyper
    for step in (1, 2, 3, 4):
        if step == 3:  # a new learning rate, as a new tuple or written into the same tensor
            group = dict(group, lr=float(hyper[0]) * 4)
            if lr_kind == "tensor-in-place":
                lr.fill_(group["lr"])
            else:
                arguments = (group["lr"], *hyper[1:])
        grad = torch.randn(37, generator=generator, dtype=torch.float64)
        got["grad"].copy_(grad)
        want["grad"].copy_(grad)
        stepper(arguments, step)
        reference_step(rule, group, want, step)
        for key in want:
            torch.testing.assert_close(got[key], want[key], rtol=1e-12, atol=1e-12, msg=f"{key} at step {step}")
