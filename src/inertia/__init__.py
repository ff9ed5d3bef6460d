"""inertia: gradient-based optimizers for PyTorch, second-order methods, and a lab.

The optimizers are drop-in replacements for torch.optim (same arguments, defaults,
state dict format and trajectories); each rule's math, kernels and class live in one module of
:mod:`inertia.optim`, and everything :mod:`inertia.optim` exports is exported here too.
"""

from inertia import optim, schedules
from inertia.minimize import Result, minimize
from inertia.optim import *  # noqa: F403  (the facade re-exports inertia.optim.__all__: a new rule is not listed twice)
from inertia.second_order import LBFGS, Newton, Status

__version__ = "0.1.0"

__all__ = ["LBFGS", "Newton", "Result", "Status", "minimize", "schedules", "__version__", *optim.__all__]
