"""torch.optim-compatible first-order optimizers over flat state buffers.

Each rule lives in one module, read top to bottom: its math (the ``*_update`` function, in
torch.optim's operation order: the reference every fast path is tested against), its declaration
to the fused steps (a :class:`inertia.kernels.rule_info.RuleInfo`: named hyperparameters, options,
state keys, host scalars, torch's fused op if any), its numba and Triton kernel sources, and its
optimizer class (defaults, group checks, state). A new rule is one such module plus its line here
and its row in the test table (``tests/optim/optimizer_db.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from torch.optim import Optimizer

from inertia.optim.adadelta import Adadelta, adadelta_update
from inertia.optim.adafactor import Adafactor, adafactor_update
from inertia.optim.adagrad import Adagrad, adagrad_update
from inertia.optim.adam import Adam, adam_update
from inertia.optim.adamax import Adamax, adamax_update
from inertia.optim.adamw import AdamW
from inertia.optim.asgd import ASGD, asgd_update
from inertia.optim.backward_fusion import fuse_into_backward
from inertia.optim.base import FlatOptimizer
from inertia.optim.lion import Lion, lion_update
from inertia.optim.muon import Muon, muon_update
from inertia.optim.nadam import NAdam, nadam_update
from inertia.optim.nonfinite_policy import NonFiniteGradientError
from inertia.optim.radam import RAdam, radam_update
from inertia.optim.rmsprop import RMSprop, rmsprop_update
from inertia.optim.rprop import Rprop, rprop_update
from inertia.optim.schedule_free import AdamWScheduleFree, schedule_free_adamw_update
from inertia.optim.sgd import SGD, sgd_update
from inertia.optim.shampoo import Shampoo, shampoo_state_bytes, shampoo_update
from inertia.optim.soap import SOAP, soap_state_bytes, soap_update
from inertia.optim.sparse_adam import SparseAdam, sparse_adam_update


def _momentum(params: Iterable[Any], **hyper: Any) -> SGD:
    hyper.setdefault("momentum", 0.9)
    return SGD(params, **hyper)


def _nesterov(params: Iterable[Any], **hyper: Any) -> SGD:
    hyper.setdefault("momentum", 0.9)
    return SGD(params, nesterov=True, **hyper)


#: Lowercase names (as used by the lab, the CLI and ``inertia.minimize``) -> factory.
OPTIMIZERS: dict[str, Callable[..., Optimizer]] = {
    "sgd": SGD,
    "momentum": _momentum,
    "nesterov": _nesterov,
    "adagrad": Adagrad,
    "rmsprop": RMSprop,
    "adam": Adam,
    "adamw": AdamW,
    "adamax": Adamax,
    "adadelta": Adadelta,
    "asgd": ASGD,
    "rprop": Rprop,
    "lion": Lion,
    "nadam": NAdam,
    "radam": RAdam,
    "schedule_free_adamw": AdamWScheduleFree,
    "adafactor": Adafactor,
    "sparse_adam": SparseAdam,
    "muon": Muon,
    "soap": SOAP,
    "shampoo": Shampoo,
}


def make_optimizer(name: str, params: Iterable[Any], **hyper: Any) -> Optimizer:
    """Build an optimizer by lowercase name (see :data:`OPTIMIZERS`)."""
    if not isinstance(name, str):
        raise TypeError(f"Unknown optimizer: {name!r} (a name such as 'sgd'; choose from {', '.join(OPTIMIZERS)})")
    key = name.lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer: {name!r} (choose from {', '.join(OPTIMIZERS)})")
    return OPTIMIZERS[key](params, **hyper)


__all__ = [
    "NAdam", "RAdam", "nadam_update", "radam_update",
    "Adadelta", "adadelta_update",
    "ASGD", "asgd_update",
    "Rprop", "rprop_update",
    "AdamWScheduleFree", "schedule_free_adamw_update",
    "Adafactor", "adafactor_update",
    "SparseAdam", "sparse_adam_update",
    "Muon", "muon_update",
    "SOAP", "soap_state_bytes", "soap_update",
    "Shampoo", "shampoo_state_bytes", "shampoo_update",
    "fuse_into_backward",
    "OPTIMIZERS", "SGD", "Adagrad", "Adam", "AdamW", "Adamax", "FlatOptimizer", "Lion", "NonFiniteGradientError", "RMSprop",
    "adagrad_update", "adam_update", "adamax_update", "lion_update", "make_optimizer", "rmsprop_update", "sgd_update",
]
