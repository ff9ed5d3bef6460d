"""Kernel tests: run the Triton kernels through the interpreter when no CUDA device is present.

``TRITON_INTERPRET`` is read when ``triton.jit`` decorates a kernel, so it is set here,
before any Triton kernel source is compiled (:mod:`inertia.kernels.jit`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

sys.path.insert(0, str(Path(__file__).parent))
