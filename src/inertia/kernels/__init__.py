"""Fused optimizer steps: a rule's declaration, a bucket's flat buffers and a backend in, one stepper out.

Nothing here names a rule: each rule declares itself where its math lives (a
:class:`inertia.kernels.rule_info.RuleInfo` in its :mod:`inertia.optim` module, beside its numba
and Triton kernel sources), and this package turns (rule, buffers, backend) into a stepper.

- :mod:`inertia.kernels.rule_info`: what a rule declares (:class:`RuleInfo`), and a param group's
  static options (:class:`StepSpec`).
- :mod:`inertia.kernels.jit`: kernel sources, compiled for numba or Triton on first use;
  :mod:`inertia.kernels.numba_helpers` and :mod:`inertia.kernels.triton_helpers`: the helpers
  every rule's kernels share.
- :mod:`inertia.kernels.steppers`: flat buffers (one tensor per key) or lists of local shards
  (DTensor parameters) in, one stepper out.
- :mod:`inertia.kernels.triton_steps`: CUDA (Triton, optionally replayed from a CUDA graph with
  ``capturable=True``); :mod:`inertia.kernels.cpu`: CPU (numba, or torch's own fused ops).

The optimizers own their state: the flat buffers, the per-step checks and the choice of path for
each bucket (``impl="auto" | "fused" | "reference"``) live in :mod:`inertia.optim`
(``fused_buckets``, ``fused_shards``, ``fused_dispatch``); nothing here imports it. The step
benchmark that times these kernels (the ``bench`` command) is an application above this package.

Nothing here imports Triton or numba until a fused step needs them.
"""

from inertia.kernels.rule_info import FusedFallbackWarning, RuleInfo, StepSpec

__all__ = ["FusedFallbackWarning", "RuleInfo", "StepSpec"]
