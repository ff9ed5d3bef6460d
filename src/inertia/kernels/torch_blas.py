"""torch's own BLAS and ATen's rounding, reached from numba kernels: for compiled loops that must give
the very numbers a sequence of torch calls gives.

:func:`numba_blas` returns, built on first use (numba imported then, not with ``inertia``):

- ``ddot_address``: the address of the ``ddot_`` that ``torch.dot`` calls for float64 CPU tensors (the
  BLAS linked into ``libtorch_cpu``), and ``call_ddot(ddot_address, n_ptr, x_ptr, inc_ptr, y_ptr, inc_ptr)``
  that calls it from a kernel, every argument an address as an integer (``n`` and the increment are int32
  in memory). The address is an argument, not a constant of the kernel, so numba may cache the kernel on
  disk (it refuses to cache one that calls a ctypes function);
- ``fma``: ``fma(a, b, c)``, ``a * b + c`` rounded once (LLVM's ``llvm.fma.f64``);
- ``as_double_ptr``: an address as a ``float64*``, for ``numba.carray(as_double_ptr(address), n)``.

ATen's ``x.add_(y, alpha=a)`` rounds ``x + a * y`` once (an FMA) where its CPU kernels use AVX2 or AVX-512,
twice with ``ATEN_CPU_CAPABILITY=default``; a kernel that copies it takes ``fused`` from a probe that
compares both against torch on the machine it runs on, as :mod:`inertia.second_order.two_loop` does.
Returns None where numba is missing or the symbol is not found.
"""

from __future__ import annotations

import ctypes
import functools
import importlib
import os
import types
from typing import Any

import torch

__all__ = ["numba_blas"]

LIBRARY = os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so")


def _ddot_address() -> int:
    return int(ctypes.cast(ctypes.CDLL(LIBRARY).ddot_, ctypes.c_void_p).value)


def _intrinsics(numba: Any) -> tuple[Any, Any, Any]:
    llvm_ir = importlib.import_module("llvmlite.ir")
    extending, numba_types = importlib.import_module("numba.extending"), numba.types
    double = llvm_ir.DoubleType()

    @extending.intrinsic
    def fma(typingctx: Any, a: Any, b: Any, c: Any) -> Any:
        signature = numba_types.float64(numba_types.float64, numba_types.float64, numba_types.float64)

        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            function = builder.module.declare_intrinsic("llvm.fma", [double],
                                                        llvm_ir.FunctionType(double, [double] * 3))
            return builder.call(function, args)

        return signature, codegen

    @extending.intrinsic
    def as_double_ptr(typingctx: Any, address: Any) -> Any:
        signature = numba_types.CPointer(numba_types.float64)(address)

        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            return builder.inttoptr(args[0], llvm_ir.PointerType(double))

        return signature, codegen

    @extending.intrinsic
    def call_ddot(typingctx: Any, address: Any, n: Any, x: Any, incx: Any, y: Any, incy: Any) -> Any:
        signature = numba_types.float64(numba_types.uint64, *[numba_types.uint64] * 5)
        byte_pointer = llvm_ir.IntType(8).as_pointer()
        function_type = llvm_ir.FunctionType(double, [byte_pointer] * 5)

        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            function = builder.inttoptr(args[0], function_type.as_pointer())
            return builder.call(function, [builder.inttoptr(arg, byte_pointer) for arg in args[1:]])

        return signature, codegen

    return fma, as_double_ptr, call_ddot


@functools.cache
def numba_blas() -> types.SimpleNamespace | None:
    """``ddot_address``, ``call_ddot``, ``fma`` and ``as_double_ptr`` for numba kernels (see the module), or None where numba
    does not import or torch's library has no ``ddot_``."""
    try:
        numba = importlib.import_module("numba")
        ddot_address = _ddot_address()
    except Exception:  # no numba (or one that fails while loading), no library, or no symbol
        return None
    fma, as_double_ptr, call_ddot = _intrinsics(numba)
    return types.SimpleNamespace(numba=numba, ddot_address=ddot_address, call_ddot=call_ddot, fma=fma,
                                 as_double_ptr=as_double_ptr)
