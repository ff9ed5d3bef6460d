"""What the fused steps need to know about a rule, declared once by the rule itself.

Each optimizer module (for example :mod:`inertia.optim.adam`) defines one :class:`RuleInfo`
subclass beside its math: its hyperparameters as named fields, the group entries they come
from, its state keys, its per-step host scalars, its torch reference on flat buffers, its
kernel sources (:mod:`inertia.kernels.jit`) and, where torch has one, the fused torch op that
computes it. The steppers (:mod:`inertia.kernels.steppers`) read only this declaration, so
nothing in :mod:`inertia.kernels` names a rule.

A :class:`StepSpec` is a rule plus the static options of one param group (the ones that
select a kernel variant); the hyperparameters are a :class:`typing.NamedTuple` of the rule's
``Hyper`` type, read from the group on every step. The Triton kernels take one device
pointer per hyperparameter field, in field order, so no position is written twice.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from torch import Tensor

#: Group entries that choose the path, part of every rule's :meth:`RuleInfo.key_names`.
PATH_KEYS = ("impl", "fused", "capturable", "differentiable")


class FusedFallbackWarning(RuntimeWarning):
    """A fused optimizer step fell back to the (correct, slower) reference path or to copying."""


def plain_numbers(hyper: tuple[Any, ...]) -> bool:
    """Whether ``hyper`` holds only Python numbers (immutable: a step may reuse what it computed from
    the same tuple; a tensor ``lr`` may change in place and must be read again)."""
    return all(type(value) in (float, int, bool) for value in hyper)


@dataclass(frozen=True)
class TorchFusedOp:
    """How one of torch's fused CPU ops computes a rule's step.

    The op is called as ``torch.<op>(params, grads, *state, [steps], **options, **hyper)``: one
    tensor list per entry of ``state`` (an empty list where the key is absent), the per-tensor
    step counters if ``takes_step``, the fixed ``options``, the hyperparameters by field name,
    and ``is_first_step`` if ``first_step``.
    """

    op: str
    state: tuple[str, ...]
    options: tuple[tuple[str, Any], ...] = ()
    takes_step: bool = True
    first_step: bool = False


class RuleInfo:
    """One rule's declaration for the fused steps (subclassed once per rule, in the rule's module).

    Class attributes: ``name``; ``Hyper`` (a NamedTuple, ``lr`` first); ``group_keys`` (the group
    entries :meth:`options` and :meth:`hyper` read); ``state_slots`` (the kernels' state arguments
    in order, each a tuple of the keys that may fill it; an absent one is replaced by an untouched
    stand-in); ``counts_steps``; ``cpu_backend`` (preferred, measured: "numba" or "torch");
    ``numba_kernel`` and ``triton_kernel`` (names of the kernel sources in the rule's module);
    ``triton_options`` (constexpr name -> option name); ``device_powers`` (hyperparameter fields
    whose powers ``beta**t`` the Triton step slot keeps, or None).
    """

    name: ClassVar[str]
    Hyper: ClassVar[type[NamedTuple]]  # type: ignore[valid-type]
    group_keys: ClassVar[tuple[str, ...]]
    state_slots: ClassVar[tuple[tuple[str, ...], ...]]
    counts_steps: ClassVar[bool] = True
    cpu_backend: ClassVar[str] = "numba"
    numba_kernel: ClassVar[str]
    triton_kernel: ClassVar[str]
    triton_options: ClassVar[tuple[tuple[str, str], ...]]
    device_powers: ClassVar[tuple[str, str] | None] = None
    #: Per-parameter 0-d state that the kernels do not touch but that follows from the step count (NAdam's
    #: ``mu_product``, ASGD's ``eta`` and ``mu``): the optimizer writes it after each fused step from
    #: :meth:`derived_state`, so that fused and reference paths leave the same state.
    derived_keys: ClassVar[tuple[str, ...]] = ()

    # -------------------------------------------------------------- what each rule defines
    def options(self, group: Mapping[str, Any]) -> dict[str, int]:
        """The static options of ``group`` (booleans or small ints; ``step_dependent`` among them)."""
        raise NotImplementedError

    def state_keys(self, spec: StepSpec) -> tuple[str, ...]:
        """The flat state buffers a step with ``spec`` reads and writes."""
        raise NotImplementedError

    def host_scalars(self, spec: StepSpec, hyper: tuple[Any, ...], step: int) -> dict[str, float]:
        """The per-step scalars in float64, as the reference computes them (``step`` is t >= 1)."""
        raise NotImplementedError

    def numba_arguments(self, spec: StepSpec, hyper: tuple[Any, ...], step: int, cast: Any) -> tuple[Any, ...]:
        """The numba kernel's arguments after its arrays: scalars cast with ``cast``, then option flags."""
        raise NotImplementedError

    def reference(self, group: Mapping[str, Any], buffers: dict[str, Tensor], step: int) -> None:
        """One step of the rule's torch reference on flat ``buffers`` (param, grad and state keys)."""
        raise NotImplementedError

    # -------------------------------------------------------------- defaults a rule may override
    def hyper(self, group: Mapping[str, Any]) -> tuple[Any, ...]:
        """The hyperparameters of ``group`` as a ``Hyper`` tuple: the entries of the same names, with
        ``beta1`` and ``beta2`` read from ``betas``."""
        betas = {"beta1": 0, "beta2": 1}
        return self.Hyper(*(group["betas"][betas[name]] if name in betas else group[name]
                            for name in self.Hyper._fields))

    def torch_op(self, spec: StepSpec) -> TorchFusedOp | None:
        """The torch fused CPU op that computes ``spec`` exactly, if there is one."""
        return None

    def step_key(self, spec: StepSpec, step: int) -> Any:
        """What the kernel's scalars depend on besides the hyperparameters (None: not the step)."""
        return step if spec.step_dependent else None

    def derived_state(self, spec: StepSpec, hyper: tuple[Any, ...], done: int, dtype: Any) -> dict[str, float]:
        """The values of :attr:`derived_keys` after ``done`` steps, for state tensors of ``dtype``."""
        return {}

    def fresh_state_matches(self, group: Mapping[str, Any]) -> bool:
        """For rules without a step counter: whether zero new state equals the rule's first-step state."""
        return True

    # -------------------------------------------------------------- derived
    @functools.cached_property
    def key_names(self) -> tuple[str, ...]:
        """The group entries that a param group's spec and hyperparameters depend on (read on every step)."""
        return self.group_keys + PATH_KEYS

    def group_state_keys(self, group: Mapping[str, Any]) -> tuple[str, ...]:
        """The state keys a step of ``group`` keeps (whichever path takes it)."""
        flags = tuple((name, int(value)) for name, value in self.options(group).items())
        return self.state_keys(StepSpec(self, flags))

    def spec(self, group: Mapping[str, Any]) -> tuple[StepSpec, tuple[Any, ...]] | None:
        """The static spec and hyperparameters of a param group, or None if no fused kernel covers it (a
        differentiable group, or one with a non-native ``precision``: its step is the reference path's)."""
        if group.get("differentiable") or group.get("precision", "native") != "native":
            return None
        flags = tuple((name, int(value)) for name, value in self.options(group).items())
        return StepSpec(self, flags), self.hyper(group)

    def __repr__(self) -> str:
        return f"<rule {self.name}>"


@dataclass(frozen=True)
class StepSpec:
    """A rule and the static options of one param group: everything that selects a kernel variant."""

    rule: RuleInfo
    flags: tuple[tuple[str, int], ...] = field(default=())

    @functools.cached_property
    def _flag_values(self) -> dict[str, int]:
        return dict(self.flags)

    def flag(self, name: str) -> int:
        """The value of option ``name``."""
        return self._flag_values[name]

    @property
    def state_keys(self) -> tuple[str, ...]:
        """The flat state buffers the step reads and writes."""
        return self.rule.state_keys(self)

    @property
    def counts_steps(self) -> bool:
        """Whether the rule keeps a ``step`` counter in its state."""
        return self.rule.counts_steps

    @property
    def step_dependent(self) -> bool:
        """Whether the update depends on the step number, so that every parameter of a fused call must
        have taken the same number of steps."""
        return bool(self._flag_values.get("step_dependent", 0))

    def floor_bytes(self, element_size: int) -> int:
        """Bytes a single pass moves per element: read p, g and the state, write p and the state."""
        return element_size * (3 + 2 * len(self.state_keys))
