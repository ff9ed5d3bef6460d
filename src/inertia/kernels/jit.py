"""Kernel sources written beside their rule, compiled for numba or Triton only when a step needs them.

A rule module (for example :mod:`inertia.optim.adam`) holds its kernel bodies as plain Python
functions marked with :func:`numba_source` or :func:`triton_source`. Marking compiles nothing
and imports neither numba nor Triton, so ``import inertia`` stays light and
``TRITON_INTERPRET=1`` may still be set after it. :func:`compiled` compiles every source of one
module for one backend together, on first use: each function is rebuilt over a namespace where
the module's other sources of that backend are their compiled forms and :data:`tl` is
``triton.language``, so kernels call their helpers by name as in a hand-written kernel module.

numba kernels are cached on disk (numba's ``cache=True``: next to the source file, else in
``NUMBA_CACHE_DIR`` or the user cache directory). Where none of these is writable (a read-only
install without a writable home) they are compiled in memory in each process instead.
"""

from __future__ import annotations

import functools
import importlib
import sys
import types
from collections.abc import Callable
from typing import Any

BACKENDS = ("numba", "triton")


class KernelSource:
    """A kernel body (or kernel helper) for one backend, with the options it compiles with."""

    def __init__(self, function: Callable[..., Any], backend: str, options: dict[str, Any]) -> None:
        self.function = function
        self.backend = backend
        self.options = options

    def __repr__(self) -> str:
        return f"<{self.backend} kernel source {self.function.__module__}.{self.function.__qualname__}>"


class _TritonLanguage:
    """Stands for ``triton.language`` in rule modules until their Triton sources are compiled."""

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"tl.{name} is only defined inside a compiled Triton kernel (see inertia.kernels.jit)")


#: ``triton.language`` inside Triton sources (annotations such as ``tl.constexpr`` stay strings).
tl: Any = _TritonLanguage()


def numba_source(**options: Any) -> Callable[[Callable[..., Any]], KernelSource]:
    """Mark a function as a numba kernel or helper, compiled with ``njit(**options)``."""
    return lambda function: KernelSource(function, "numba", options)


def triton_source(function: Callable[..., Any]) -> KernelSource:
    """Mark a function as a Triton kernel or helper (compiled with ``triton.jit``)."""
    return KernelSource(function, "triton", {})


def njit_cached(function: Callable[..., Any], **options: Any) -> Any:
    """``numba.njit(**options)(function)``, cached on disk where numba can write its cache, else compiled in
    memory (a read-only install without a writable home)."""
    numba = importlib.import_module("numba")
    try:
        return numba.njit(cache=True, **options)(function)
    except RuntimeError as error:  # numba: "cannot cache function ...: no locator available ..."
        if "cannot cache" not in str(error):
            raise
        return numba.njit(cache=False, **options)(function)


def rebuilt(original: Callable[..., Any], namespace: dict[str, Any]) -> Callable[..., Any]:
    """``original`` (a plain function) over the globals ``namespace``, with its name, qualified name, module,
    defaults, annotations and docstring: numba caches it by its source file, as the original."""
    function = types.FunctionType(original.__code__, namespace, original.__name__, original.__defaults__)
    function.__annotations__ = dict(original.__annotations__)
    function.__qualname__, function.__module__ = original.__qualname__, original.__module__
    function.__doc__ = original.__doc__
    return function


def _numba_compiler() -> Callable[[KernelSource, Callable[..., Any]], Any]:
    return lambda source, function: njit_cached(function, **source.options)


def _triton_compiler(namespace: dict[str, Any]) -> Callable[[KernelSource, Callable[..., Any]], Any]:
    triton = importlib.import_module("triton")
    namespace["tl"] = importlib.import_module("triton.language")
    return lambda source, function: triton.jit(function)


@functools.cache
def _compiled_namespace(module_name: str, backend: str) -> dict[str, Any]:
    """Every ``backend`` source of ``module_name`` (helpers it imported included), compiled together."""
    module = sys.modules[module_name]
    namespace = dict(vars(module))
    compile_one = _numba_compiler() if backend == "numba" else _triton_compiler(namespace)
    for name, value in vars(module).items():
        if isinstance(value, KernelSource) and value.backend == backend:
            namespace[name] = compile_one(value, rebuilt(value.function, namespace))
    return namespace


def compiled(module_name: str, name: str, backend: str) -> Any:
    """The compiled form of source ``name`` of the (already imported) module ``module_name``.

    Raises ImportError when the backend's package is missing or fails to import.
    """
    if backend not in BACKENDS:
        raise ValueError(f"Invalid backend: {backend!r} (kernel sources compile for {', '.join(BACKENDS)})")
    return _compiled_namespace(module_name, backend)[name]


def forget_compiled() -> None:
    """Drop every compiled namespace (tests that simulate a missing or unwritable cache use this)."""
    _compiled_namespace.cache_clear()
