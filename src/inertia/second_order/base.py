"""What LBFGS and Newton share: argument checks, the flat view of all groups, counters, the stop status.

Every hyperparameter is checked where it enters: in the constructor, in each param group (given at
construction, by ``add_param_group`` or by ``load_state_dict``), and a loaded state dict is checked
as a whole before anything is replaced. A refused change leaves the optimizer as it was.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch.optim import Optimizer

from inertia.checks import is_number
from inertia.optim.input_checks import normalize_param_group, params_argument
from inertia.second_order.flat import FlatParams, check_shared_hyperparameters
from inertia.second_order.status import FAILURES, ON_FAILURE_CHOICES, OptimizationError, Status

COUNTERS = ("func_evals", "grad_evals", "hvp_evals", "n_iter")


@dataclass(frozen=True)
class IterationInfo:
    """What a per-iteration callback of a second-order optimizer receives (after the iteration)."""

    nit: int  # iterations done by this optimizer since creation
    loss: float
    grad_norm: float  # infinity norm
    nfev: int
    ngev: int
    nhvp: int
    step: float


def check_step_arguments(name: str, closure: Any, callback: Any) -> None:
    """``step(closure, callback)``: a callable closure and a callable (or no) callback, checked before any work."""
    if closure is None:
        raise ValueError(f"{name}.step needs a closure that returns the loss; got closure=None")
    if not callable(closure):
        raise TypeError(f"{name}.step: closure must be callable, got {type(closure).__name__}")
    if callback is not None and not callable(callback):
        raise TypeError(f"{name}.step: callback must be callable or None, got {type(callback).__name__}")


def _check_state_dict_shape(name: str, state_dict: Any) -> None:
    """The containers of a state dict: {"state": {int: dict}, "param_groups": [{"params": [int, ...]}, ...]}."""
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"{name}.load_state_dict: state_dict must be a dict, got {type(state_dict).__name__}")
    missing = [key for key in ("state", "param_groups") if key not in state_dict]
    if missing:
        raise ValueError(
            f"{name}.load_state_dict: state_dict lacks {missing} (has {sorted(map(str, state_dict))})"
        )
    state, groups = state_dict["state"], state_dict["param_groups"]
    if not isinstance(state, Mapping):
        raise TypeError(
            f"{name}.load_state_dict: state_dict['state'] must be a dict, got {type(state).__name__}"
        )
    if not isinstance(groups, (list, tuple)):
        raise TypeError(
            f"{name}.load_state_dict: state_dict['param_groups'] must be a list, got {type(groups).__name__}"
        )
    ids: list[Any] = []
    for index, group in enumerate(groups):
        if not isinstance(group, Mapping) or not isinstance(group.get("params"), (list, tuple)):
            raise ValueError(
                f"{name}.load_state_dict: param_groups[{index}] must be a dict with a 'params' list, got {group!r}"
            )
        ids.extend(group["params"])
    for key, value in state.items():
        if key not in ids:
            raise ValueError(
                f"{name}.load_state_dict: state key {key!r} names no parameter of param_groups {ids}"
            )
        if not isinstance(value, Mapping):
            raise TypeError(
                f"{name}.load_state_dict: state[{key!r}] must be a dict, got {type(value).__name__}"
            )


def counter_property(key: str, doc: str) -> property:
    """A read-only property of :class:`SecondOrderBase`: its counter ``key`` (one of :data:`COUNTERS`) as an int."""

    def read(optimizer: SecondOrderBase) -> int:
        return int(optimizer._state[key])

    return property(read, doc=doc)


class SecondOrderBase(Optimizer):
    """Shared bookkeeping: flat view of all groups, evaluation counters, stop status.

    Param groups are checked whenever they change (``add_param_group``, ``load_state_dict``): a
    failing check raises ValueError and leaves the optimizer as it was. Copies (``copy.deepcopy``,
    pickle) keep ``on_failure``, ``status`` and ``message``. Subclasses define
    :meth:`_check_hyperparameters` (one dict of hyperparameters in, checked and normalised out) and
    may add checks of their per-parameter state in :meth:`_check_state_entry`.
    """

    requires_closure = True  # step(closure) only, as torch.optim.LBFGS (see inertia.lab.loops.needs_closure)
    # attributes beyond torch's defaults/state/param_groups that copies keep
    _PICKLED = ("on_failure", "status", "message", "_hyperparameters")
    # constructor arguments that are not group hyperparameters: in a group they would be ignored
    _OPTIMIZER_WIDE: frozenset[str] = frozenset({"on_failure"})
    # hyperparameters newer than some saved state dicts, with the value a group without them gets
    _ADDED_LATER: dict[str, Any] = {}
    # whether complex params are taken, seen as real vectors of twice their size (see FlatParams)
    _ACCEPTS_COMPLEX = False

    @classmethod
    def _check_hyperparameters(cls, values: dict[str, Any], *, in_group: bool) -> dict[str, Any]:
        """Check ``values`` (raise ValueError naming the first bad one); return them normalised."""
        raise NotImplementedError

    def _setup(self, on_failure: str) -> None:
        if on_failure not in ON_FAILURE_CHOICES:
            raise ValueError(f"on_failure must be one of {ON_FAILURE_CHOICES}, got {on_failure!r}")
        # this class's own hyperparameters (torch adds keys such as "differentiable" to defaults later)
        self._hyperparameters = tuple(self.defaults)
        self._flat = self._checked_flat(self.param_groups, self._hyperparameters)
        self.on_failure = on_failure
        self.status: Status = Status.RUNNING
        self.message: str = "not started"

    def _checked_flat(self, groups: list[dict[str, Any]], hyperparameters: tuple[str, ...]) -> FlatParams:
        """Validate ``groups`` (every hyperparameter present, valid and shared) and return their flat view."""
        name = type(self).__name__
        hyperparameters = tuple(dict.fromkeys((*hyperparameters, *self._ADDED_LATER)))
        for index, group in enumerate(groups):
            for key, value in self._ADDED_LATER.items():  # a state saved before the key existed
                group.setdefault(key, value)
            missing = sorted(set(hyperparameters) - set(group))
            if missing:
                raise ValueError(f"{name}: param group {index} lacks {missing} (saved by another optimizer?)")
            for key in self._OPTIMIZER_WIDE & set(group):  # a group would silently ignore them
                raise ValueError(
                    f"{name}: param group {index}: {key}={group[key]!r} is an argument of the optimizer, "
                    "not of a param group"
                )
            try:
                self._check_hyperparameters({key: group[key] for key in hyperparameters}, in_group=True)
            except ValueError as exc:
                raise ValueError(f"{name}: param group {index}: {exc}") from None
        check_shared_hyperparameters(name, groups, hyperparameters)
        return FlatParams(groups, name, allow_complex=self._ACCEPTS_COMPLEX)

    def __init__(self, params: Any, defaults: dict[str, Any]) -> None:
        try:
            entries = params_argument(params)
        except ValueError as exc:  # the one ValueError: no parameters at all
            raise ValueError(f"{type(self).__name__} got an empty parameter list ({exc})") from None
        super().__init__(entries, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        normalize_param_group(param_group, self.param_groups)  # params: tensors, each once, leaves
        super().add_param_group(param_group)
        if hasattr(self, "_flat"):  # groups added after construction join the same vector
            try:
                self._flat = self._checked_flat(self.param_groups, self._hyperparameters)
            except ValueError:
                self.param_groups.pop()  # leave the optimizer as it was
                raise

    def load_state_dict(self, state_dict: Any) -> None:
        """torch's ``load_state_dict``, after checking the whole ``state_dict`` (nothing changes if it is refused)."""
        name = type(self).__name__
        _check_state_dict_shape(name, state_dict)
        for key, entry in state_dict["state"].items():
            for counter in COUNTERS:
                value = entry.get(counter, 0)
                if not is_number(value, integer=True) or value < 0:
                    raise ValueError(
                        f"{name}.load_state_dict: state[{key!r}][{counter!r}] must be a non-negative integer, "
                        f"got {value!r}"
                    )
            self._check_state_entry(key, entry)
        super().load_state_dict(state_dict)

    def _check_state_entry(self, key: Any, entry: Mapping[str, Any]) -> None:
        """Raise ValueError/TypeError if a loaded per-parameter state entry is malformed (subclass hook)."""

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.update({key: self.__dict__[key] for key in self._PICKLED if key in self.__dict__})
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickling, and the last act of ``load_state_dict``: check the groups before changing anything."""
        flat = None
        if "param_groups" in state:
            keys = state["_hyperparameters"] if "_hyperparameters" in state else self._hyperparameters
            flat = self._checked_flat(state["param_groups"], keys)
        super().__setstate__(state)
        if flat is not None:
            self._flat = flat

    @property
    def _state(self) -> dict[str, Any]:
        state = self.state[self._flat.params[0]]
        for key in COUNTERS:
            state.setdefault(key, 0)
        return state

    nfev = counter_property("func_evals", "Function evaluations (closure calls) since creation.")
    ngev = counter_property("grad_evals", "Gradient evaluations since creation.")
    nhvp = counter_property("hvp_evals", "Hessian-vector products since creation (a dense Hessian of n params counts n).")
    nit = counter_property("n_iter", "Iterations since creation.")

    def _finish(self, status: Status, message: str) -> None:
        self.status, self.message = status, message
        if status in FAILURES and self.on_failure != "ignore":
            if self.on_failure == "raise":
                raise OptimizationError(status, message)
            warnings.warn(f"{type(self).__name__}: {message}", RuntimeWarning, stacklevel=3)
