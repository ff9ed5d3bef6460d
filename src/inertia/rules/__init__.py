"""Pure update rules: one short function per optimizer, the single place for the math.

Each rule updates the tensors it is given in place, for one parameter tensor (or one
flat buffer of many), exactly in the operation order of torch.optim's for-loop
implementation so that default trajectories agree bit for bit. The optimizer front
ends in :mod:`inertia.optim` only manage groups and state, and the fast paths in
:mod:`inertia.kernels` are tested against these functions.
"""

from inertia.rules.adagrad import adagrad_update
from inertia.rules.adam import adam_update
from inertia.rules.rmsprop import rmsprop_update
from inertia.rules.sgd import sgd_update

__all__ = ["adagrad_update", "adam_update", "rmsprop_update", "sgd_update"]
