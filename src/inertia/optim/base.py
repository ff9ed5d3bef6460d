"""The shared front end: param groups, flat state, closures and the non-finite policy."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from itertools import chain
from typing import Any, ClassVar

import torch
from torch import Tensor
from torch.optim import Optimizer
from torch.optim.optimizer import _global_optimizer_post_hooks, _global_optimizer_pre_hooks

from inertia.checks import check_choice
from inertia.kernels.rule_info import RuleInfo
from inertia.optim.fused_dispatch import FusedGroup, GroupPlan, plan_group, warn_once
from inertia.optim.input_checks import (
    check_fused_params,
    check_implementation_flags,
    check_state_dict,
    normalize_param_group,
    params_argument,
)
from inertia.optim.layout import GroupLayout, PlainLayout
from inertia.optim.nonfinite_policy import index_of, passes_nonfinite_policy
from inertia.optim.param_helpers import plain_scalars, reclaim_flat_storage, reset_grads
from inertia.optim.precision import (
    add_rounding_entries,
    canonical_precision,
    check_group_precision,
    export_precision_state,
    is_native,
    keeps_flat_state,
    precision_entry,
    restore_exact_state,
    state_dtype_for,
    step_with_precision,
    warn_reference_path,
)
from inertia.optim.precision_fused import precision_plan
from inertia.optim.sharded import copy_state
from inertia.optim.validation import IMPL_CHOICES, NONFINITE_CHOICES, GroupCheck, split_torch_options

# Run step/zero_grad eagerly inside torch.compile'd code; torch's lazy variant keeps `import inertia`
# from importing torch._dynamo (a second or more) until a step is taken.
_no_dynamo = getattr(torch, "_disable_dynamo", None) or torch.compiler.disable


def _always_watched() -> Any:
    return True  # torch without ``get_eval_frame_callback``: always take the guarded path


#: Dynamo's frame callback (None unless code compiled by ``torch.compile`` is running).
_eval_frame_callback: Callable[[], Any] = getattr(
    getattr(getattr(torch._C, "_dynamo", None), "eval_frame", None), "get_eval_frame_callback", _always_watched)


def outside_dynamo(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` kept out of dynamo while it traces or watches frames, called directly otherwise
    (the guard costs about a microsecond per call, and importing dynamo over a second, for nothing)."""
    guarded = _no_dynamo(method)

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        if torch.compiler.is_compiling() or _eval_frame_callback() is not None:
            return guarded(*args, **kwargs)
        return method(*args, **kwargs)

    return call


#: A param group, as torch.optim keeps it (``params`` and the hyperparameters).
Group = dict[str, Any]
#: The optimizer state of one parameter (``step`` and the rule's state keys).
State = dict[str, Any]


def cheap_profile_hook_step(func: Callable[..., Any]) -> Callable[..., Any]:
    """torch.optim's step wrapper (step pre/post hooks, a profiler range), cheaper when idle.

    The ``record_function`` range alone costs about as much as a whole fused step of a
    small model, so it is entered only while a profiler runs; step hooks run in torch's
    order either way (global then per-optimizer pre hooks, per-optimizer then global post
    hooks), and a pre hook may return new ``(args, kwargs)``.
    """
    profiled = Optimizer.profile_hook_step(func)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        self = args[0]
        if torch._C._autograd._profiler_enabled():
            return profiled(*args, **kwargs)
        if not (_global_optimizer_pre_hooks or _global_optimizer_post_hooks
                or self._optimizer_step_pre_hooks or self._optimizer_step_post_hooks):
            return func(*args, **kwargs)
        for pre_hook in chain(_global_optimizer_pre_hooks.values(), self._optimizer_step_pre_hooks.values()):
            result = pre_hook(self, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(f"{func} must return None or a tuple of (new_args, new_kwargs), "
                                       f"but got {result}.")
                args, kwargs = result
        out = func(*args, **kwargs)
        self._optimizer_step_code()
        for post_hook in chain(self._optimizer_step_post_hooks.values(), _global_optimizer_post_hooks.values()):
            post_hook(self, args, kwargs)
        return out

    return wrapper


class FlatOptimizer(Optimizer):
    """Base class of inertia's first-order optimizers.

    Subclasses declare the per-parameter state keys they keep (:attr:`state_keys`) and
    implement :meth:`init_state` and :meth:`_update_param`, which calls the rule's math
    (its module's ``*_update`` function); :attr:`rule` declares the rule to the fused path.
    This class keeps every state tensor as a view into a flat per-(group, device, dtype) buffer (:mod:`inertia.optim.layout`), handles closures
    and applies the ``nonfinite`` policy:

    - ``"ignore"`` (torch's behaviour): non-finite gradients flow into the update;
    - ``"raise"``: :class:`~inertia.optim.nonfinite_policy.NonFiniteGradientError` naming the group and index of the
      offending parameter, before anything is modified;
    - ``"skip"``: the whole step is skipped, parameters and state stay untouched, and
      :attr:`skipped_steps` counts it.
    """

    state_keys: ClassVar[tuple[str, ...]] = ()
    #: (group entry, check) pairs applied in order to the constructor's values and every param group.
    group_checks: ClassVar[tuple[tuple[str, GroupCheck], ...]] = ()
    #: The implementation flags (``foreach``, ``fused``, ...) that torch.optim's class of the same name
    #: keeps in its param groups.
    torch_group_flags: ClassVar[tuple[str, ...]] = ()
    #: The rule's declaration for the fused path (see :mod:`inertia.kernels.rule_info`); None: no fused path.
    rule: ClassVar[RuleInfo | None] = None

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any], torch_options: dict[str, Any]) -> None:
        """``defaults``: the class's hyperparameters and options; ``torch_options``: torch.optim's
        implementation keywords that the caller passed (``foreach``, ``fused``, ...) and ``precision``."""
        precision = precision_entry(torch_options)  # pops it; {} for native: torch's group entries exactly
        defaults = dict(defaults, **precision, **split_torch_options(type(self).__name__, torch_options,
                                                                     self.torch_group_flags))
        plain_scalars(defaults)  # every group is checked (with the defaults) as torch adds it
        self.skipped_steps = 0
        self.layouts: dict[int, GroupLayout] = {}
        self.fused_groups: dict[int, FusedGroup] = {}
        self._fused_warned: set[str] = set()
        super().__init__(params_argument(params), defaults)

    #: torch.optim's step wrapper (pre/post hooks, profiler range), cheaper when nothing listens.
    profile_hook_step = staticmethod(cheap_profile_hook_step)

    def _check_group(self, group: dict[str, Any]) -> None:
        """Raise ValueError, naming the argument and the value, if a hyperparameter of ``group`` is bad.

        Subclasses extend it; it runs on the constructor's arguments and on every param group added
        (including per-group values given to the constructor), before anything is added.
        """
        check_choice("nonfinite", group.get("nonfinite", "ignore"), NONFINITE_CHOICES)
        check_choice("impl", group.get("impl", "auto"), IMPL_CHOICES)
        check_implementation_flags(group, type(self).__name__, self.torch_group_flags)
        for key, check in self.group_checks:
            check(key, group[key])

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """torch.optim's ``add_param_group``; bad params or hyperparameters raise and add nothing.

        A tensor listed twice in the group is refused (torch.optim warns, then steps it twice). With
        ``fused=True``, where torch.optim's class takes ``fused``, every parameter must be a floating-point
        tensor on a device torch's fused kernels support (RuntimeError, in torch's words).
        """
        normalize_param_group(param_group, self.param_groups, self.defaults)
        if "precision" in param_group:
            param_group["precision"] = canonical_precision(param_group["precision"])
        merged = {**self.defaults, **plain_scalars(param_group)}
        self._check_group(merged)
        check_group_precision(merged, type(self).__name__)
        if merged.get("fused") and "fused" in self.torch_group_flags:
            check_fused_params(param_group["params"], f"param group {len(self.param_groups)}")
        super().add_param_group(param_group)
        add_rounding_entries(self.param_groups[-1])

    # ----------------------------------------------------------------- state layout
    def layout_of(self, group: dict[str, Any]) -> GroupLayout | PlainLayout:
        """The flat layout of ``group``, rebuilt if its parameters changed; a ``differentiable=True`` group
        keeps its state as tensors of their own (:class:`PlainLayout`), used as they are."""
        layout = self.layouts.get(id(group))
        plain = bool(group.get("differentiable"))
        name = group.get("precision", "native")
        if layout is None or isinstance(layout, PlainLayout) != plain or not layout.matches(group["params"], name):
            layout = PlainLayout(group["params"]) if plain else GroupLayout(group["params"], state_dtype_for(name), name)
            self.layouts[id(group)] = layout
            if not plain and keeps_flat_state(group):
                self._adopt_state(group, layout)
        return layout

    def _adopt_state(self, group: dict[str, Any], layout: GroupLayout) -> None:
        """Copy existing state tensors into the layout's buffers and keep views."""
        for param in group["params"]:
            state = self.state.get(param)
            if not state:
                continue
            for key, value in list(state.items()):
                if key == "step" and isinstance(value, (int, float)):  # checkpoints of torch < 1.12
                    state[key] = layout.step_view(param).fill_(value)
                    continue
                if key == "step" and isinstance(value, Tensor):
                    view = layout.step_view(param)
                elif key in self.state_keys and isinstance(value, Tensor):
                    view = layout.view(key, param)
                else:
                    continue
                state[key] = copy_state(view, value, param)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load torch.optim-format state; tensors are copied into fresh flat buffers.

        A state tensor whose size does not match its parameter raises ValueError (naming the group,
        index, key and shapes) before anything is changed.
        """
        check_state_dict(self, state_dict)
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            add_rounding_entries(group)
        restore_exact_state(self, state_dict)

    def state_dict(self) -> dict[str, Any]:
        """torch.optim's ``state_dict``; 8-bit moments are exported under torch's keys, dequantised."""
        return export_precision_state(self, super().state_dict())

    def __setstate__(self, state: dict[str, Any]) -> None:
        unpickling = "layouts" not in self.__dict__
        super().__setstate__(state)
        self.__dict__.setdefault("skipped_steps", 0)
        self.layouts = {}
        self.fused_groups = {}
        self._fused_warned = set()
        for group in self.param_groups:
            for key, value in self.defaults.items():
                group.setdefault(key, value)
            self.layout_of(group)
        if unpickling:
            reclaim_flat_storage(self.param_groups)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        for key in ("layouts", "fused_groups", "_fused_warned"):
            state.pop(key, None)
        return state

    # ----------------------------------------------------------------- stepping
    @outside_dynamo
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimization step; ``closure`` re-evaluates the loss (with grad).

        Each bucket of parameters takes the fused path (one kernel over flat buffers, see
        :mod:`inertia.kernels`) or the reference path (the rule's math, per parameter)
        as ``impl`` and :mod:`inertia.optim.fused_dispatch` decide. A ``differentiable=True`` group
        takes the reference path with autograd recording, so the new parameters and state are
        differentiable with respect to the old ones and the gradients.
        """
        loss = None
        if closure is not None:
            if not callable(closure):
                raise TypeError(f"closure: must be None or a callable returning the loss, got {closure!r}")
            with torch.enable_grad():
                loss = closure()
        groups = self.param_groups
        plans = list(map(self._plan, groups))
        if not passes_nonfinite_policy(self, plans):
            return loss
        for group, plan in zip(groups, plans, strict=True):
            if plan is None:
                with torch.set_grad_enabled(bool(group.get("differentiable"))):
                    self._reference_step(group, group["params"])
            else:
                self._apply_plan(group, plan)
        return loss

    def _apply_plan(self, group: dict[str, Any], plan: GroupPlan) -> None:
        """Step every bucket of ``plan``: fused ones with one kernel call, the others on the reference path."""
        for bucket, backend in plan.items:
            if backend is None:
                with torch.no_grad():
                    self._reference_step(group, bucket.params)
            else:
                bucket.step(plan.spec, plan.hyper, backend, plan.cuda_graph and backend == "triton")
                if plan.spec.rule.derived_keys:
                    self._write_derived_state(bucket.params, plan, bucket.done)

    def _reference_step(self, group: dict[str, Any], params: list[Tensor]) -> None:
        """The reference path of ``params``: :meth:`update_params`, or its ``precision`` form."""
        if is_native(group):
            self.update_params(group, params)
        else:
            step_with_precision(self, group, params)

    def _write_derived_state(self, params: list[Tensor], plan: GroupPlan, done: int) -> None:
        """Fill the rule's derived state of ``params`` (a fused bucket that took ``done`` steps), once per dtype."""
        rule, values = plan.spec.rule, {}
        for param in params:
            state = self.state[param]
            dtype = state[rule.derived_keys[0]].dtype
            if dtype not in values:
                values[dtype] = rule.derived_state(plan.spec, plan.hyper, done, dtype)
            for key, value in values[dtype].items():
                state[key].fill_(value)

    def _plan(self, group: dict[str, Any]) -> GroupPlan | None:
        """The fused plan of ``group`` for this step, or None for the reference path throughout."""
        if self.rule is None or group.get("differentiable") or (
                group.get("impl") == "reference" and id(group) not in self.fused_groups):
            return None
        if not is_native(group):  # the fused precision step where it covers the group, else the reference path
            plain = type(self)._apply_plan is FlatOptimizer._apply_plan  # schedule-free steps buckets its own way
            return precision_plan(self, group, self.rule) if plain else warn_reference_path(self, group)
        return plan_group(self, group, self.rule)

    def warn_fused(self, reason: str, message: str) -> None:
        """Warn once per ``reason`` (a :class:`FusedFallbackWarning`) that the fused path fell back."""
        warn_once(self._fused_warned, reason, message, f"inertia.{type(self).__name__}")

    def update_params(self, group: dict[str, Any], params: list[Tensor]) -> None:
        """The reference path: step each of ``params`` that has a gradient with the rule's math (a tensor
        ``lr`` is read once per step, as torch.optim's for-loop path does; non-native ``precision``: see
        :func:`inertia.optim.precision.step_with_precision`)."""
        if not is_native(group):
            step_with_precision(self, group, params)
            return
        layout = self.layout_of(group)
        values = dict(group, lr=group["lr"].item()) if isinstance(group.get("lr"), Tensor) else group
        counts_steps = self.rule is not None and self.rule.counts_steps
        # Keys a group may switch on mid-run (amsgrad, momentum, ...) start from zero, as the fused path does.
        needed = self.rule.group_state_keys(group) if counts_steps else ()
        for param in params:
            if param.grad is None:
                continue
            state = self.state.get(param)
            if not state:
                state = {}
                self.init_state(param, state, group, layout)
            for key in needed:
                if key not in state:
                    state[key] = layout.fresh(key, param)
            if group.get("differentiable") and getattr(state.get("step"), "requires_grad", False):
                raise RuntimeError("`requires_grad` is not supported for `step` in differentiable mode "
                                   f"(state['step'] of param group {_group_index(self, group)}, index "
                                   f"{index_of(group, param)}: {state['step']!r})")
            if counts_steps:
                state["step"] += 1  # as torch.optim, before the update reads it
            self._update_param(param, param.grad, state, values, layout)
            if state and param not in self.state:
                self.state[param] = state

    @outside_dynamo
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset gradients. Gradients held in a fused flat buffer are zeroed in place with one fill
        (they stay views of it, whatever ``set_to_none`` says); others follow torch.optim."""
        for group in self.param_groups:
            fused_group = self.fused_groups.get(id(group))
            if fused_group is None:
                reset_grads(group["params"], set_to_none)
                continue
            for bucket in fused_group.buckets:
                others = bucket.zero_grads()
                if others:
                    reset_grads(others, set_to_none)

    # ----------------------------------------------------------------- subclass hooks
    def init_state(self, param: Tensor, state: State, group: Group, layout: GroupLayout) -> None:
        """Create the state of ``param`` as zero views of ``layout`` (called while it is empty): ``step`` and
        the rule's state keys for ``group``, as torch.optim does on a first step. Rules without a step
        counter (SGD) create their buffers in :meth:`_update_param` instead, also as torch does."""
        if self.rule is not None and self.rule.counts_steps:
            for key in ("step", *self.rule.group_state_keys(group)):
                state[key] = layout.fresh(key, param)

    def _update_param(self, param: Tensor, grad: Tensor, state: State, group: Group, layout: GroupLayout) -> None:
        """Apply the update rule to one parameter (``step`` in its state, if the rule counts steps, is already
        incremented)."""
        raise NotImplementedError


def _group_index(optimizer: Optimizer, group: dict[str, Any]) -> int:
    return next(index for index, candidate in enumerate(optimizer.param_groups) if candidate is group)
