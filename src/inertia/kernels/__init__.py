"""Fused optimizer steps: one pass over flat per-(device, dtype) buffers for every rule.

- :mod:`inertia.kernels.spec`: what a step computes (static options, hyperparameters, scalars).
- :mod:`inertia.kernels.steppers`: a spec, a bucket's buffers (flat, or lists of local shards)
  and a backend in, one stepper out.
- :mod:`inertia.kernels.triton_kernels` / :mod:`inertia.kernels.triton_steps`: CUDA (Triton,
  optionally replayed from a CUDA graph with ``capturable=True``).
- :mod:`inertia.kernels.cpu` / :mod:`inertia.kernels.numba_loops`: CPU (numba, or torch's
  own fused ops on the flat buffers).

The optimizers own their state: the flat buffers, the per-step checks and the choice of path for
each bucket (``impl="auto" | "fused" | "reference"``) live in :mod:`inertia.optim`
(``fused_buckets``, ``fused_shards``, ``fused_dispatch``); nothing here imports it. The step
benchmark that times these kernels (the ``bench`` command) is an application above this package.

Nothing here imports Triton or numba until a fused step needs them.
"""

from inertia.kernels.spec import FusedFallbackWarning

__all__ = ["FusedFallbackWarning"]
