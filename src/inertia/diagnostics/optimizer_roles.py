"""Which optimizer state plays which role, per inertia optimizer class: the one table the diagnostics read.

For each class: the state key of the per-coordinate scale (the second moment, or what stands in
for it), the momentum key, how the effective per-coordinate step is formed from them
(:data:`STEP_FORMS`), and whether ``eps`` sits inside the square root. An optimizer whose class
(or a base class) is not in :data:`ROLES`, such as a ``torch.optim`` one, is read as before this
table: by sniffing the state keys in :data:`FALLBACK_SECOND_MOMENT_KEYS`. A combined optimizer (one
with ``parts``) is read per part: see :mod:`inertia.diagnostics.optimizer_parts`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from inertia.optim import (
    ASGD,
    SGD,
    SOAP,
    Adadelta,
    Adafactor,
    Adagrad,
    Adam,
    Adamax,
    AdamWScheduleFree,
    Lion,
    Muon,
    NAdam,
    RAdam,
    RMSprop,
    Rprop,
    Shampoo,
    SparseAdam,
)

#: How the effective per-coordinate step is formed:
#: ``sqrt``: ``numerator / (sqrt(v) + eps)`` (``sqrt(v + eps)`` with eps inside; AdaGrad, RMSprop, Adam);
#: ``sqrt_hat``: ``numerator / (sqrt(v) + eps)`` with eps added before v's bias correction (SparseAdam:
#: ``lr sqrt(1 - b2^t) / (1 - b1^t) / (sqrt(v) + eps)``, Adam's ``eps_mode="hat"``);
#: ``nadam``: as ``sqrt``, numerator from NAdam's momentum schedule; ``radam``: as ``sqrt`` once the
#: rectification is on, no adaptive step before; ``infinity_norm``: ``numerator / u`` with Adamax's
#: infinity norm ``u`` (eps inside its max); ``adadelta``: ``lr sqrt(acc_delta + eps) / sqrt(square_avg + eps)``;
#: ``step_size``: Rprop's per-coordinate ``step_size`` itself; ``sgd``: plain (momentum) SGD;
#: ``none``: no per-coordinate step to read (ASGD, Lion's sign step, Schedule-Free's averaged iterate).
STEP_FORMS = ("sqrt", "sqrt_hat", "nadam", "radam", "infinity_norm", "adadelta", "step_size", "sgd", "none")


@dataclass(frozen=True)
class OptimizerRoles:
    """The roles of one optimizer's state.

    Attributes:
        name: the optimizer as messages name it ("AdaGrad").
        second_moment: state key of the per-coordinate scale, None without one.
        momentum: state key of the momentum (first moment), None without one.
        step_form: how the effective step is formed, one of :data:`STEP_FORMS`.
        eps_inside_sqrt: whether eps is added under the square root (a group's own option may also say so).
        accumulates: whether the scale only grows (AdaGrad's sum), so steps can collapse.
        orthogonalised: whether the step is the orthogonalised momentum of a whole matrix (Muon), whose
            size the gradient's scale does not set.
    """

    name: str
    second_moment: str | None
    momentum: str | None
    step_form: str
    eps_inside_sqrt: bool = False
    accumulates: bool = False
    orthogonalised: bool = False

    def __post_init__(self) -> None:
        if self.step_form not in STEP_FORMS:
            raise ValueError(f"step_form: must be one of {', '.join(STEP_FORMS)}, got {self.step_form!r}")

    @property
    def adaptive(self) -> bool:
        """Whether the adaptive statistics apply: a per-coordinate scale that forms the parameter's step."""
        return self.second_moment is not None and self.step_form not in ("sgd", "none")


#: Class -> roles. Subclasses (AdamW of Adam) inherit their base's row; the first row naming a
#: state key gives the name :data:`OPTIMIZER_OF_KEY` shows for it.
ROLES: dict[type[torch.optim.Optimizer], OptimizerRoles] = {
    Adagrad: OptimizerRoles("AdaGrad", "sum", None, "sqrt", accumulates=True),
    RMSprop: OptimizerRoles("RMSprop", "square_avg", "momentum_buffer", "sqrt"),
    Adam: OptimizerRoles("Adam", "exp_avg_sq", "exp_avg", "sqrt"),
    NAdam: OptimizerRoles("NAdam", "exp_avg_sq", "exp_avg", "nadam"),
    RAdam: OptimizerRoles("RAdam", "exp_avg_sq", "exp_avg", "radam"),
    Adamax: OptimizerRoles("Adamax", "exp_inf", "exp_avg", "infinity_norm"),
    Adadelta: OptimizerRoles("Adadelta", "square_avg", None, "adadelta", eps_inside_sqrt=True),
    Rprop: OptimizerRoles("Rprop", "step_size", None, "step_size"),
    SGD: OptimizerRoles("SGD", None, "momentum_buffer", "sgd"),
    ASGD: OptimizerRoles("ASGD", None, None, "none"),
    Lion: OptimizerRoles("Lion", None, "exp_avg", "none"),
    # its exp_avg_sq scales the step of z, not of the parameter (which moves towards the average of z)
    AdamWScheduleFree: OptimizerRoles("Schedule-Free AdamW", "exp_avg_sq", None, "none"),
    # Matrices keep only row and column factors of the second moment: no per-coordinate state to read.
    Adafactor: OptimizerRoles("Adafactor", None, None, "none"),
    # Adam's moments on the rows a sparse gradient stores (eps added to sqrt(v) before the bias correction).
    SparseAdam: OptimizerRoles("SparseAdam", "exp_avg_sq", "exp_avg", "sqrt_hat"),
    # The momentum is orthogonalised as a whole matrix: no per-coordinate scale.
    Muon: OptimizerRoles("Muon", None, "momentum_buffer", "none", orthogonalised=True),
    # Kronecker-factored (non-diagonal) preconditioning; exp_avg_sq is the grafting method's, which sets only
    # each block's step norm (and the whole step of 1-D parameters): no per-coordinate scale to read.
    Shampoo: OptimizerRoles("Shampoo", None, "exp_avg", "none"),
    # Adam in the eigenbasis of Kronecker factors: exp_avg and exp_avg_sq are kept rotated (per coordinate of
    # the eigenbasis, not of the parameter), so no per-coordinate scale to read; the rotation keeps exp_avg's norm.
    SOAP: OptimizerRoles("SOAP", None, "exp_avg", "none"),
}

#: State keys read as the second moment of an optimizer :data:`ROLES` does not know (torch.optim's
#: AdaGrad, RMSprop and Adam family), in the order they are looked for.
FALLBACK_SECOND_MOMENT_KEYS = ("sum", "square_avg", "exp_avg_sq")

#: Second-moment state key -> the optimizer named in messages about it.
OPTIMIZER_OF_KEY: dict[str, str] = {
    r.second_moment: r.name for r in reversed(list(ROLES.values())) if r.second_moment is not None}

#: Second-moment keys of accumulators that only grow (where steps can collapse).
ACCUMULATING_KEYS: tuple[str, ...] = tuple(
    r.second_moment for r in ROLES.values() if r.accumulates and r.second_moment is not None)


def roles_of(optimizer: torch.optim.Optimizer) -> OptimizerRoles | None:
    """The roles of ``optimizer``'s state, from its class or nearest listed base class; None if unknown."""
    for cls in type(optimizer).__mro__:
        if cls in ROLES:
            return ROLES[cls]
    return None
