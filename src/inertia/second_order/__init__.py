"""Second-order methods: L-BFGS, Newton (exact, Newton-CG, saddle-free) and their building blocks.

See docs/second_order.md. :func:`inertia.minimize` drives these (and the first-order optimizers)
on a function of one vector.
"""

from inertia.second_order.base import IterationInfo
from inertia.second_order.hvp import (
    dense_hessian_from_gradient,
    gradient_with_graph,
    hessian,
    hessian_vector_product,
    hvp_from_gradient,
)
from inertia.second_order.krylov import CGResult, LanczosResult, lanczos, truncated_cg
from inertia.second_order.lbfgs import LBFGS
from inertia.second_order.line_search import LineSearchResult, MoreThuente, strong_wolfe
from inertia.second_order.newton import Newton
from inertia.second_order.result import History, Iterate, Result
from inertia.second_order.status import OptimizationError, Status

__all__ = [
    "LBFGS", "Newton", "Status", "OptimizationError", "IterationInfo", "Result", "History", "Iterate",
    "strong_wolfe", "MoreThuente", "LineSearchResult", "truncated_cg", "lanczos", "CGResult", "LanczosResult",
    "hessian", "hessian_vector_product", "gradient_with_graph", "hvp_from_gradient", "dense_hessian_from_gradient",
]
