"""Exact snapshots of a training state: model tensors, gradients, optimizer state and RNG streams.

Used by the learning-rate range test, which trains on the user's model and optimizer and must
leave them bit-for-bit as they were.
"""

from __future__ import annotations

import copy
import random
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from inertia.diagnostics.arguments import check_module, check_optimizer

_SCALAR_TYPES = (bool, int, float, str, type(None))


class TrainingSnapshot:
    """Everything later training reads, copied so that :meth:`restore` can put it back exactly.

    Covers every parameter and buffer (persistent or not, copied in place so references held
    elsewhere stay valid), each parameter's ``.grad`` (or its absence), every module's
    ``training`` flag, the optimizer's ``state_dict()`` and its plain scalar attributes (such as
    counters), and the torch (CPU and CUDA), NumPy and Python RNG states.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        check_module("model", model)
        check_optimizer("optimizer", optimizer)
        self.model = model
        self.optimizer = optimizer
        tensors = _model_tensors(model) + _all_params(model, optimizer)
        self._tensors = {id(t): (t, t.detach().clone()) for t in tensors}
        self._grads = {id(p): (p, None if p.grad is None else p.grad.detach().clone())
                       for p in _all_params(model, optimizer)}
        self._modes = [(m, m.training) for m in model.modules()]
        self._optimizer_state = copy.deepcopy(optimizer.state_dict())
        self._optimizer_attrs = {k: v for k, v in vars(optimizer).items() if isinstance(v, _SCALAR_TYPES)}
        self._torch_rng = torch.get_rng_state()
        self._cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
        self._numpy_rng = np.random.get_state()
        self._python_rng = random.getstate()

    def restore_model_and_optimizer(self) -> None:
        """Put back tensors, gradients, module modes and optimizer state (not the RNG streams)."""
        with torch.no_grad():
            for tensor, saved in self._tensors.values():
                tensor.copy_(saved)
        for param, grad in self._grads.values():
            if grad is None:
                param.grad = None
            elif param.grad is None or param.grad.shape != grad.shape:
                param.grad = grad.clone()
            else:
                param.grad.copy_(grad)
        for module, mode in self._modes:
            module.training = mode
        self.optimizer.load_state_dict(copy.deepcopy(self._optimizer_state))
        for key, value in self._optimizer_attrs.items():
            setattr(self.optimizer, key, value)

    def restore(self) -> None:
        """Put back everything, RNG streams included."""
        self.restore_model_and_optimizer()
        torch.set_rng_state(self._torch_rng)
        if self._cuda_rng is not None:
            torch.cuda.set_rng_state_all(self._cuda_rng)
        np.random.set_state(self._numpy_rng)
        random.setstate(self._python_rng)


def _model_tensors(model: nn.Module) -> list[Tensor]:
    seen: dict[int, Tensor] = {}
    for tensor in list(model.parameters()) + list(model.buffers()):
        seen.setdefault(id(tensor), tensor)
    return list(seen.values())


def _all_params(model: nn.Module, optimizer: torch.optim.Optimizer) -> list[Tensor]:
    seen: dict[int, Any] = {id(p): p for p in model.parameters()}
    for group in optimizer.param_groups:
        for p in group["params"]:
            seen.setdefault(id(p), p)
    return list(seen.values())
