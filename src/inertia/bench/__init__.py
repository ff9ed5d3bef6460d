"""The optimizer step benchmark (``inertia bench``, ``benchmarks/step_speed.py``): an application above the
kernels.

- :mod:`inertia.bench.steps`: the timed rows: each optimizer and implementation against torch.optim and the
  bandwidth floor measured in the same run.
- :mod:`inertia.bench.step_bytes`: bytes per parameter a step moves and its state holds, per ``precision`` mode.
- :mod:`inertia.bench.backends`: side benchmarks of the CPU backends and of the Triton launch shapes.
- :mod:`inertia.bench.report`: a progress line per row and the markdown tables.
- :mod:`inertia.bench.bench_commands`: the ``inertia bench`` command.

Nothing here is imported by :mod:`inertia.kernels`; the benchmark imports the kernels, never the other way round.
"""
