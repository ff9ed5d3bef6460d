"""inertia: gradient-based optimizers for PyTorch, second-order methods, and a lab.

The optimizers are drop-in replacements for torch.optim (same arguments, defaults,
state dict format and trajectories); each rule's math, kernels and class live in one module of
:mod:`inertia.optim`.
"""

from inertia import schedules
from inertia.minimize import Result, minimize
from inertia.optim import (
    OPTIMIZERS,
    SGD,
    Adagrad,
    Adam,
    AdamW,
    NonFiniteGradientError,
    RMSprop,
    make_optimizer,
)
from inertia.second_order import LBFGS, Newton, Status

__version__ = "0.1.0"

__all__ = [
    "LBFGS", "OPTIMIZERS", "SGD", "Newton", "Result", "Status", "Adagrad", "Adam", "AdamW", "NonFiniteGradientError",
    "RMSprop", "make_optimizer", "minimize", "schedules", "__version__",
]
