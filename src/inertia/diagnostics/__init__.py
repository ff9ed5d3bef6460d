"""Optimizer diagnostics: live pathology monitors, Hessian spectrum tools and a learning-rate range test.

- :class:`OptimizerMonitor` attaches to any torch optimizer through its step hooks and warns, per
  layer, about zig-zag, too large or too small steps, AdaGrad's step collapse, eps dominance,
  exploding or vanishing gradients and non-finite values (thresholds: :class:`MonitorThresholds`);
  which state of each inertia optimizer it reads is in one table, :data:`ROLES` (:func:`roles_of`).
- :func:`hessian_eigenvalues`, :func:`hessian_trace`, :func:`spectral_density`,
  :func:`layer_curvature` and :func:`edge_of_stability` work on any loss callable through
  Hessian-vector products.
- :func:`lr_find` runs the learning-rate range test and restores the training state exactly.

See docs/diagnostics.md.
"""

from inertia.diagnostics.density import (
    SpectralDensity,
    density_figure,
    plot_spectral_density,
    spectral_density,
)
from inertia.diagnostics.hessian import (
    EigenResult,
    HessianOperator,
    LayerCurvature,
    StabilityCheck,
    TraceEstimate,
    edge_of_stability,
    hessian_eigenvalues,
    hessian_trace,
    lanczos,
    layer_curvature,
)
from inertia.diagnostics.lr_find import LRFindResult, lr_find, lr_find_figure, write_lr_find
from inertia.diagnostics.monitor import OptimizerMonitor
from inertia.diagnostics.optimizer_roles import ROLES, OptimizerRoles, roles_of
from inertia.diagnostics.pathologies import PATHOLOGIES, Diagnosis
from inertia.diagnostics.state import TrainingSnapshot
from inertia.diagnostics.stats import Sample
from inertia.diagnostics.thresholds import MonitorThresholds

__all__ = [
    "PATHOLOGIES", "Diagnosis", "EigenResult", "HessianOperator", "LRFindResult", "LayerCurvature",
    "MonitorThresholds", "OptimizerMonitor", "OptimizerRoles", "ROLES", "Sample", "SpectralDensity", "StabilityCheck", "TraceEstimate",
    "TrainingSnapshot", "density_figure", "edge_of_stability", "hessian_eigenvalues", "hessian_trace",
    "lanczos", "layer_curvature", "lr_find", "lr_find_figure", "plot_spectral_density", "roles_of", "spectral_density",
    "write_lr_find",
]
