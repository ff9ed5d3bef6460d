"""Fused optimizer steps: one pass over flat per-(device, dtype) buffers for every rule.

- :mod:`inertia.kernels.spec`: what a step computes (static options, hyperparameters, scalars).
- :mod:`inertia.kernels.flat`: flat parameter and gradient buffers and the per-step check
  that they are still in place (with graceful fallbacks).
- :mod:`inertia.kernels.dispatch`: which path each bucket takes (``impl="auto" | "fused" |
  "reference"``) and the fused step.
- :mod:`inertia.kernels.triton_kernels` / :mod:`inertia.kernels.triton_steps`: CUDA (Triton,
  optionally replayed from a CUDA graph with ``capturable=True``).
- :mod:`inertia.kernels.cpu` / :mod:`inertia.kernels.numba_loops`: CPU (numba, or torch's
  own fused ops on the flat buffers).

The step benchmark that times these kernels (the ``bench`` command) is an application above this package.

Nothing here imports Triton or numba until a fused step needs them.
"""

from inertia.kernels.spec import FusedFallbackWarning

__all__ = ["FusedFallbackWarning"]
