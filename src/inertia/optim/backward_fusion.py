"""The optimizer step fused into backward: each parameter is stepped, and its gradient freed, as soon as
autograd has accumulated that gradient.

:func:`fuse_into_backward` registers a ``register_post_accumulate_grad_hook`` on every parameter of an
inertia optimizer. When it fires, the parameter takes one step on the rule's reference path (the same
math, group hyperparameters and step counter as :meth:`FlatOptimizer.step` uses; the state stays in the
optimizer's flat buffers, so ``state_dict`` is unchanged in format) and ``.grad`` is set to None. After
``loss.backward()`` every parameter therefore equals what ``optimizer.step()`` would have given, and no
gradient outlives its own step: the peak memory of a training step loses the gradient bytes.

What a per-parameter step cannot do is refused or named explicitly:

- ``optimizer.step()`` raises while the fusion is active (a step pre-hook); ``optimizer.zero_grad()`` keeps
  its meaning and finds nothing to reset after a fused backward;
- a global ``max_grad_norm`` needs every gradient before any step: refused. ``per_parameter_max_grad_norm``
  clips each parameter's gradient on its own (``clip_grad_norm_`` over that one tensor);
- ``nonfinite="skip"`` cannot skip the whole step (other parameters were already stepped): refused.
  ``nonfinite="raise"`` raises from ``backward`` before the offending parameter is modified; parameters
  whose gradients arrived earlier in that backward have already been stepped;
- gradient accumulation over micro-batches: run the backward passes that only accumulate inside
  ``with fusion.accumulating():``; the next backward outside it steps with the summed gradients;
- rules with per-group state advanced once per step (:class:`AdamWScheduleFree`), and
  ``differentiable=True``, are refused;
- parameters added with ``add_param_group`` after fusing have no hook: ``remove()`` and fuse again.

Where ``step()`` would fuse a parameter's bucket on the CPU, the parameter takes the rule's kernel over its
own slices instead of the reference path (:class:`OneParameterKernel`: equal to the whole-bucket step
within rounding, as a vectorised loop may round an element of its scalar tail differently, and about ten
times faster than the reference path on large tensors); a group with a ``precision`` takes the fused precision
step over that parameter (:func:`inertia.optim.precision_fused.step_one_param`); on other devices it takes the
reference path.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle
from torch.utils.weak import WeakIdKeyDictionary

from inertia.checks import is_number
from inertia.kernels.cpu import cpu_backends, make_cpu_stepper
from inertia.kernels.rule_info import StepSpec
from inertia.optim.base import FlatOptimizer
from inertia.optim.fused_dispatch import AUTO_CPU_MIN_ELEMENTS, resolve_impl
from inertia.optim.layout import GroupLayout
from inertia.optim.nonfinite_policy import NonFiniteGradientError
from inertia.optim.precision_fused import step_one_param
from inertia.optim.schedule_free import AdamWScheduleFree
from inertia.optim.sharded import all_finite, is_dtensor

__all__ = ["BackwardFusion", "fuse_into_backward"]

#: Optimizers whose step advances per-group state once per step, which a per-parameter step would repeat.
GROUP_STEPPED: tuple[type[FlatOptimizer], ...] = (AdamWScheduleFree,)
#: The parameters of every active fusion (a parameter fused twice would be stepped by one optimizer only).
#: (By identity, as tensors compare elementwise; the values are weak references, so no fusion is kept alive.)
_FUSED_PARAMS: WeakIdKeyDictionary = WeakIdKeyDictionary()


class BackwardFusion:
    """The handle of :func:`fuse_into_backward`: its hooks, the accumulation switch and :meth:`remove`.

    Also a context manager: ``with fuse_into_backward(model, opt): ...`` removes the hooks on exit.
    The optimizer keeps its fusion alive (through the ``step()`` refusal it holds), while the parameters' hooks
    refer to it weakly: autograd keeps tensor hooks out of the garbage collector's sight, so a strong
    reference there would keep model and optimizer alive forever.
    """

    def __init__(self, optimizer: FlatOptimizer, per_parameter_max_grad_norm: float | None) -> None:
        self.optimizer = optimizer
        self.per_parameter_max_grad_norm = per_parameter_max_grad_norm
        self.accumulate = False
        self.steps_taken = 0  # parameter steps taken by the hooks
        self.kernel_steps = 0  # of which with the rule's fused kernel (the others on the reference path)
        self.hooks: list[RemovableHandle] = []
        self.params: list[Tensor] = []
        self.step_refusal: RemovableHandle | None = None
        self.kernel = OneParameterKernel(optimizer)

    def install(self) -> None:
        """Register one post-accumulate-grad hook per trainable parameter and the ``step()`` refusal."""
        for group_index, group in enumerate(self.optimizer.param_groups):
            for param_index, param in enumerate(group["params"]):
                if not param.requires_grad:
                    continue
                self.hooks.append(param.register_post_accumulate_grad_hook(
                    self._hook(group_index, param_index)))
                self.params.append(param)
                _FUSED_PARAMS[param] = weakref.ref(self)
        self.step_refusal = self.optimizer.register_step_pre_hook(self.refuse_step)

    def _hook(self, group_index: int, param_index: int) -> Any:
        fusion = weakref.ref(self)

        def step_one(param: Tensor) -> None:
            owner = fusion()
            if owner is not None and not owner.accumulate:
                owner.step_param(group_index, param_index, param)

        return step_one

    def refuse_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        """The step pre-hook: ``optimizer.step()`` raises while the fusion is active."""
        raise RuntimeError(f"{type(optimizer).__name__}.step() called while the step is fused into backward: "
                           "loss.backward() already stepped every parameter; drop the step() call, or call "
                           "remove() on the handle of fuse_into_backward first")

    @torch.no_grad()
    def step_param(self, group_index: int, param_index: int, param: Tensor) -> None:
        """Step ``param`` (entry ``param_index`` of group ``group_index``) with its gradient, then free it.

        The group is looked up at each call, so new hyperparameters (a scheduler, ``load_state_dict``) apply.
        """
        grad = param.grad
        if grad is None:
            return
        group = self.optimizer.param_groups[group_index]
        _check_grad(group_index, param_index, group, grad)
        if self.per_parameter_max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(param, self.per_parameter_max_grad_norm)
        if self.kernel.step(group, param, grad) or step_one_param(self.optimizer, group, param):
            self.kernel_steps += 1
        else:
            self.optimizer.update_params(group, [param])
        self.steps_taken += 1
        param.grad = None

    @contextmanager
    def accumulating(self) -> Iterator[BackwardFusion]:
        """Backward passes inside only accumulate gradients (micro-batches); the next one outside steps.

        Gradients are kept (and take memory) from the first micro-batch until that last backward.
        """
        previous, self.accumulate = self.accumulate, True
        try:
            yield self
        finally:
            self.accumulate = previous

    @property
    def active(self) -> bool:
        """Whether the hooks are still registered."""
        return self.step_refusal is not None

    def remove(self) -> None:
        """Remove every hook: ``loss.backward()`` keeps gradients again and ``optimizer.step()`` works."""
        for hook in self.hooks:
            hook.remove()
        for param in self.params:
            owner = _FUSED_PARAMS.get(param)
            if owner is not None and owner() is self:
                del _FUSED_PARAMS[param]
        if self.step_refusal is not None:
            self.step_refusal.remove()
        self.hooks, self.params, self.step_refusal = [], [], None

    def __enter__(self) -> BackwardFusion:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()


class OneParameterKernel:
    """The rule's fused CPU kernel run over one parameter: its gradient and its slices of the flat state.

    A parameter takes it where :meth:`FlatOptimizer.step` would fuse its bucket (``impl="fused"``, or
    ``"auto"`` with a bucket of at least :data:`AUTO_CPU_MIN_ELEMENTS` elements) and a CPU kernel covers
    it; elementwise kernels give each element what the whole-bucket call gives it.
    """

    def __init__(self, optimizer: FlatOptimizer) -> None:
        self.optimizer = optimizer
        self.specs: dict[int, tuple[tuple[Any, ...], tuple[StepSpec, tuple[Any, ...]] | None]] = {}

    def spec(self, group: dict[str, Any]) -> tuple[StepSpec, tuple[Any, ...]] | None:
        """The group's spec and hyperparameters (recomputed when a group value they depend on changes)."""
        rule = self.optimizer.rule
        if rule is None or resolve_impl(group) == "reference":
            return None
        key = tuple(map(group.get, rule.key_names))
        cached = self.specs.get(id(group))
        if cached is None or cached[0] != key:
            cached = self.specs[id(group)] = (key, rule.spec(group))
        return cached[1]

    def backend(self, group: dict[str, Any], layout: GroupLayout, param: Tensor, grad: Tensor,
                spec: StepSpec) -> str | None:
        """The CPU backend for ``param``, or None: the reference path."""
        if (param.device.type != "cpu" or param.is_complex() or is_dtensor(param) or grad.dtype != param.dtype
                or not (param.is_contiguous() and grad.is_contiguous())):
            return None
        if resolve_impl(group) == "auto":
            bucket = layout.buckets.get((param.device, param.dtype, False))
            if bucket is None or bucket.total < AUTO_CPU_MIN_ELEMENTS:
                return None
        names = cpu_backends(spec, param.dtype)
        return names[0] if names else None

    def step(self, group: dict[str, Any], param: Tensor, grad: Tensor) -> bool:
        """Step ``param`` with the kernel and return True, or return False (the reference path steps it)."""
        found = self.spec(group)
        if found is None:
            return False
        spec, hyper = found
        layout = self.optimizer.layout_of(group)
        backend = self.backend(group, layout, param, grad, spec)
        if backend is None:
            return False
        state = self.optimizer.state.get(param) or {}
        if not state:
            self.optimizer.init_state(param, state, group, layout)
        had = all(key in state for key in spec.state_keys)
        for key in spec.state_keys:
            if key not in state:
                state[key] = layout.fresh(key, param)
        done = int(state["step"]) if spec.counts_steps else int(had and bool(spec.state_keys))
        buffers = {"param": param.detach().view(-1), "grad": grad.view(-1)}
        buffers.update({key: state[key].view(-1) for key in spec.state_keys})
        make_cpu_stepper(spec, buffers, backend)(hyper, done + 1)
        if spec.counts_steps:
            state["step"] += 1
        rule = spec.rule
        if rule.derived_keys:
            values = rule.derived_state(spec, hyper, done + 1, state[rule.derived_keys[0]].dtype)
            for key, value in values.items():
                state[key].fill_(value)
        if state and param not in self.optimizer.state:
            self.optimizer.state[param] = state
        return True


def fuse_into_backward(
    model: nn.Module | None,
    optimizer: FlatOptimizer,
    *,
    max_grad_norm: float | None = None,
    per_parameter_max_grad_norm: float | None = None,
) -> BackwardFusion:
    """Step every parameter of ``optimizer`` from its post-accumulate-grad hook and free its gradient.

    ``model`` (or None) is checked: each of its parameters that requires grad must be in ``optimizer``,
    since nothing else would ever step or reset its gradient. ``max_grad_norm`` (a global clip) is
    refused: it needs every gradient before any step. ``per_parameter_max_grad_norm`` clips each
    parameter's gradient to that norm on its own. Returns the handle; its ``remove()`` undoes it.
    """
    check_optimizer(optimizer)
    check_model(model, optimizer)
    if max_grad_norm is not None:
        raise ValueError(
            f"Invalid max_grad_norm: {max_grad_norm!r} (clipping to a global norm needs every gradient before "
            "any step, and fuse_into_backward steps each parameter as its gradient arrives; pass "
            "per_parameter_max_grad_norm to clip each parameter's gradient on its own, or clip and step "
            "without fusing)")
    if per_parameter_max_grad_norm is not None and (
            not is_number(per_parameter_max_grad_norm) or not 0 < per_parameter_max_grad_norm < float("inf")):
        raise ValueError(f"Invalid per_parameter_max_grad_norm: {per_parameter_max_grad_norm!r} "
                         "(must be a finite number > 0, or None)")
    # The fused step's flat gradient buffers would keep the gradient bytes alive: drop them (a later plain
    # step rebuilds them, copying the parameters into fresh flat buffers).
    optimizer.fused_groups.clear()
    fusion = BackwardFusion(optimizer, per_parameter_max_grad_norm)
    fusion.install()
    return fusion


def check_optimizer(optimizer: Any) -> None:
    """Refuse optimizers a per-parameter step cannot serve, naming why."""
    if not isinstance(optimizer, FlatOptimizer):
        raise TypeError(f"Invalid optimizer: {type(optimizer).__name__} (fuse_into_backward steps one parameter "
                        "at a time, which only inertia's optimizers (FlatOptimizer subclasses) offer)")
    if isinstance(optimizer, GROUP_STEPPED):
        raise TypeError(f"Invalid optimizer: {type(optimizer).__name__} (it advances per-group averaging weights "
                        "once per step, which a per-parameter step would repeat for every parameter)")
    for group_index, group in enumerate(optimizer.param_groups):
        if group.get("differentiable"):
            raise ValueError(f"Invalid differentiable: {group['differentiable']!r} in param group {group_index} "
                             "(a step fused into backward runs inside autograd's backward pass, where no graph "
                             "through the step can be built)")
        if group["nonfinite"] == "skip":
            raise ValueError(f"Invalid nonfinite: 'skip' in param group {group_index} (a step fused into backward "
                             "cannot skip the whole step: other parameters are already stepped when a non-finite "
                             "gradient arrives; use 'raise' or 'ignore')")
    for param in (p for group in optimizer.param_groups for p in group["params"]):
        reference = _FUSED_PARAMS.get(param)
        owner = reference() if reference is not None else None
        if owner is not None and owner.active:
            raise ValueError(f"Invalid optimizer: a parameter of shape {tuple(param.shape)} is already fused into "
                             f"backward (by {type(owner.optimizer).__name__}); remove that fusion first")


def check_model(model: Any, optimizer: FlatOptimizer) -> None:
    """Every trainable parameter of ``model`` must be stepped by ``optimizer``."""
    if model is None:
        return
    if not isinstance(model, nn.Module):
        raise TypeError(f"Invalid model: {type(model).__name__} (an nn.Module or None)")
    owned = {id(p) for group in optimizer.param_groups for p in group["params"]}
    for name, param in model.named_parameters():
        if param.requires_grad and id(param) not in owned:
            raise ValueError(f"Invalid model: parameter {name!r} (shape {tuple(param.shape)}) requires grad but "
                             "is not in the optimizer; its gradient would never be stepped or freed (freeze it "
                             "or add it to the optimizer)")


def _check_grad(group_index: int, param_index: int, group: dict[str, Any], grad: Tensor) -> None:
    """Sparse gradients raise; non-finite ones raise under ``nonfinite="raise"`` (and "skip" is refused)."""
    where = f"param group {group_index}, index {param_index}"
    if grad.is_sparse:
        raise RuntimeError(f"sparse gradient in {where}: the step fused into backward needs dense gradients")
    policy = group["nonfinite"]
    if policy == "ignore" or all_finite(grad):
        return
    if policy == "skip":
        raise ValueError(f"Invalid nonfinite: 'skip' in param group {group_index} (set after fuse_into_backward; "
                         "a step fused into backward cannot skip the whole step)")
    raise NonFiniteGradientError(f"non-finite gradient in {where} (shape {tuple(grad.shape)}); this parameter "
                                 "and its state were left untouched, but parameters whose gradients arrived "
                                 "earlier in this backward were already stepped")
