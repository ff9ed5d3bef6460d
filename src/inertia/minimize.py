"""``inertia.minimize``: one call to minimise a function of a vector, in the spirit of scipy.optimize.

    res = inertia.minimize(lambda x: ((x - 1) ** 2).sum(), np.zeros(3), method="lbfgs")
    res.x, res.fun, res.status, res.message, res.history.f

``fun`` maps a 1-D tensor to a scalar tensor; gradients (and Hessian-vector products) come from
autograd. Every run ends with an explicit :class:`Status` and a message.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from inertia.checks import STYLE_SENTENCE, check_callable, check_flag, check_positive, is_number
from inertia.optim import OPTIMIZERS
from inertia.second_order.base import IterationInfo
from inertia.second_order.curvature import autograd_hvp, lanczos_curvature
from inertia.second_order.lbfgs import LBFGS
from inertia.second_order.newton import Newton
from inertia.second_order.newton_trust import INITIAL_TRUST_RADIUS
from inertia.second_order.result import History, Iterate, Recorder, Result
from inertia.second_order.status import Status

FIRST_ORDER = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
NEWTON_MODES = {"newton": "exact", "newton-cg": "cg", "saddle-free-newton": "saddle-free"}
METHODS = (*FIRST_ORDER, "lbfgs", *NEWTON_MODES)
DEFAULT_MAX_ITER = {"lbfgs": 15000, "newton": 100, "newton-cg": 100, "saddle-free-newton": 100}
DEFAULT_MAX_ITER_FIRST_ORDER = 1000
HISTORY_X_LIMIT = 10_000  # keep x in the history by default up to this many entries per iterate
CALLABLE_STYLE = "{name} {rule}, got {type}"  # fun and callback: the error names the type, not the value

__all__ = ["METHODS", "History", "Iterate", "Result", "Status", "minimize"]


_NUMPY_REAL = (np.float16, np.float32, np.float64)  # the numpy floats that torch holds


def _numpy_to_tensor(x0: Any) -> torch.Tensor:
    try:
        array = np.asarray(x0)
    except Exception as exc:  # noqa: BLE001 - any conversion failure is bad input
        raise ValueError(f"x0 must be a 1-D array or tensor, got {type(x0).__name__}") from exc
    kind = array.dtype
    is_integer = np.issubdtype(kind, np.integer) and not np.issubdtype(kind, np.timedelta64)
    if not (kind.type in _NUMPY_REAL or is_integer):
        hint = "; torch holds float16, float32 and float64" if np.issubdtype(kind, np.floating) else ""
        raise ValueError(f"x0 must hold real numbers, got dtype {kind}{hint}")
    return torch.from_numpy(np.array(array, dtype=kind if kind.type in _NUMPY_REAL else np.float64))


def _tensor_copy(x0: torch.Tensor) -> torch.Tensor:
    if x0.is_complex() or x0.dtype == torch.bool:
        raise ValueError(f"x0 must hold real numbers, got dtype {x0.dtype}")
    if x0.layout != torch.strided:
        raise ValueError(f"x0 must be a dense tensor, got layout {x0.layout}")
    if x0.device.type == "meta":
        raise ValueError("x0 must hold values, got a tensor on the meta device")
    x = x0.detach().clone()
    return x if x.is_floating_point() else x.double()


def _as_tensor(x0: Any) -> tuple[torch.Tensor, bool]:
    numpy_out = not isinstance(x0, torch.Tensor)
    x = _numpy_to_tensor(x0) if numpy_out else _tensor_copy(x0)
    if x.ndim == 0:  # a scalar is a vector of one, as in scipy.optimize.minimize
        x = x.reshape(1)
    if x.ndim != 1 or x.numel() == 0:
        raise ValueError(f"x0 must be a non-empty 1-D array, got shape {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x0 must be finite, got non-finite entries")
    return x.requires_grad_(True), numpy_out


def _call(fun: Callable[[torch.Tensor], Any], x: torch.Tensor) -> torch.Tensor:
    value = fun(x)
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        kind = f"a tensor of shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__
        raise ValueError(f"fun must return a scalar torch tensor computed from x, got {kind}")
    if not value.requires_grad:
        raise ValueError("fun must return a tensor computed from x with torch operations (it has no gradient)")
    return value.reshape(()) if value.dim() else value


def _check_args(fun: Any, tol: Any, max_iter: Any, callback: Any) -> None:
    check_callable("fun", fun, style=CALLABLE_STYLE, error=ValueError)
    if not is_number(tol) or not tol >= 0 or not math.isfinite(tol):
        raise ValueError(f"tol must be a finite non-negative number, got {tol!r}")
    check_positive("max_iter", max_iter, integer=True, style=STYLE_SENTENCE)
    if callback is not None:
        check_callable("callback", callback, style=CALLABLE_STYLE, error=ValueError)


def _check_options(cls: type, method: str, options: dict[str, Any], reserved: tuple[str, ...]) -> None:
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "params", *reserved}
    for name in options:
        if name not in accepted:
            raise ValueError(f"unknown option {name}={options[name]!r} for method {method!r}; accepted: {sorted(accepted)}")


def minimize(
    fun: Callable[[torch.Tensor], torch.Tensor],
    x0: np.ndarray | torch.Tensor | Any,
    method: str = "lbfgs",
    tol: float | None = None,
    max_iter: int | None = None,
    callback: Callable[[Iterate], Any] | None = None,
    **options: Any,
) -> Result:
    """Minimise ``fun`` from ``x0`` with one of :data:`METHODS`.

    Args:
        fun: maps a 1-D tensor to a scalar tensor (differentiable with autograd).
        x0: starting point, 1-D (a scalar counts as a vector of one, as in scipy); numpy (or a list, or
            a number) in gives numpy ``x`` out, a tensor gives a tensor.
        method: ``"sgd"``, ``"momentum"``, ``"nesterov"``, ``"adagrad"``, ``"rmsprop"``, ``"adam"``,
            ``"adamw"`` (``inertia.OPTIMIZERS``, one full-batch step per iteration), ``"lbfgs"``
            (:class:`LBFGS`), ``"newton"``, ``"newton-cg"``, ``"saddle-free-newton"`` (:class:`Newton`).
        tol: stop when the gradient's infinity norm is at most this (default 1e-5).
        max_iter: iteration limit (default 15000 for lbfgs, 100 for Newton, 1000 otherwise).
        callback: ``callback(Iterate)`` after each iteration; returning True (or raising
            StopIteration) stops the run with status ``"callback"``.
        **options: the optimizer's own arguments (``lr``, ``history_size``, ``damping``, ...), plus
            ``max_eval`` for every method and ``history_x`` (keep x per iterate; default when
            ``n <= 10000``). ``check_curvature=True`` (lbfgs and first-order methods; default
            False) looks for negative curvature at the end point (one evaluation, up to 20
            Hessian-vector products): a saddle ends with status ``"saddle"``, not success. The
            Newton methods check by default (``check_curvature`` is an argument of :class:`Newton`).
            ``"newton"`` takes ``trust_radius=1.0`` by default: the trust-region subproblem solved by
            Moré–Sorensen's iteration, as scipy's ``trust-exact`` (:mod:`inertia.second_order.newton_trust`);
            passing ``damping``, ``lr``, ``trust_region=False`` or ``trust_radius=None`` selects the
            Levenberg–Marquardt damping of :class:`Newton` instead.

    Returns:
        :class:`Result`. Failures (line search, non-finite values, non-descent, evaluation limit)
        do not raise: they set ``status``/``message``, and ``x`` is the last finite iterate.

    Example:
        >>> import numpy as np, inertia
        >>> rosenbrock = lambda x: (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
        >>> res = inertia.minimize(rosenbrock, np.array([-1.2, 1.0]), method="newton")
        >>> res.success, res.nit, res.nfev, res.x.round(6)
        (True, 22, 26, array([1., 1.]))

    Like ``scipy.optimize.minimize``, evaluation counts are part of the result, and tests pin them.
    """
    if not isinstance(method, str) or method.lower() not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    method = method.lower()
    tol = 1e-5 if tol is None else tol
    max_iter = max_iter if max_iter is not None else DEFAULT_MAX_ITER.get(method, DEFAULT_MAX_ITER_FIRST_ORDER)
    _check_args(fun, tol, max_iter, callback)
    tol, max_iter = float(tol), int(max_iter)
    x, numpy_out = _as_tensor(x0)
    history_x = options.pop("history_x", None)
    if history_x not in (None, True, False):
        raise ValueError(f"history_x must be True, False or None, got {history_x!r}")
    keep_x = history_x if history_x is not None else x.numel() <= HISTORY_X_LIMIT
    check_curvature = False  # the Newton methods take check_curvature as an option of Newton itself
    if method not in NEWTON_MODES:
        check_curvature = check_flag("check_curvature", options.pop("check_curvature", False), style=STYLE_SENTENCE)
    recorder = Recorder(numpy_out, keep_x, callback)
    if method == "lbfgs":
        runner = _run_lbfgs
    elif method in NEWTON_MODES:
        runner = _run_newton
    else:
        runner = _run_first_order
    status, message, counts = runner(fun, x, method, tol, max_iter, recorder, options)
    if check_curvature and status.success:
        status, message, counts = _curvature_verdict(fun, x, method, status, message, counts)
    return _result(fun, x, method, status, message, counts, recorder)


def _curvature_verdict(fun, x, method: str, status: Status, message: str, counts) -> tuple[Status, str, tuple]:
    """``check_curvature=True``: at the end point, Lanczos on Hessian-vector products (one evaluation with
    the graph, up to 20 products); a clearly negative eigenvalue turns success into ``saddle``."""
    with torch.enable_grad():
        hvp, grad = autograd_hvp(_call(fun, x), x)
        curvature = lanczos_curvature(hvp, x.detach())
    nit, nfev, ngev, nhvp = counts
    counts = (nit, nfev + 1, ngev + 1, nhvp + curvature.matvecs)
    if curvature.negative:
        verdict = curvature.saddle_message(float(grad.abs().max()))
        return Status.SADDLE, f"{verdict} ({method} stopped there: {message})", counts
    return status, f"{message}; lowest Hessian eigenvalue found {curvature.eigenvalue:.3g}", counts


def _result(fun, x, method, status, message, counts, recorder: Recorder) -> Result:
    nit, nfev, ngev, nhvp = counts
    if recorder.last_x is None or not torch.equal(x.detach(), recorder.last_x):
        # the method moved without evaluating there: evaluate once so that fun and grad_norm match x
        # (fixed-step L-BFGS and plain Newton after their last iteration); the callback sees it too
        f, grad_norm = _evaluate(fun, x)
        nfev, ngev = nfev + 1, ngev + 1
        recorder.record(x, f, grad_norm, nfev, nit)  # the run is over: a request to stop changes nothing
    finite_x = recorder.drop_non_finite_tail()
    if finite_x is not None and not torch.equal(x.detach(), finite_x):
        with torch.no_grad():
            x.copy_(finite_x)  # never hand back a non-finite point when a finite iterate exists
    history = recorder.history()
    return Result(
        x=recorder.output(x), fun=float(history.f[-1]), grad_norm=float(history.grad_norm[-1]), nit=nit,
        nfev=nfev, ngev=ngev, nhvp=nhvp, success=status.success, status=status, message=message,
        method=method, history=history,
    )  # fmt: skip


def _evaluate(fun, x: torch.Tensor, zero_grad: Callable[[], None] | None = None) -> tuple[float, float]:
    if zero_grad is not None:  # let the optimizer clear its own gradient buffers
        zero_grad()
    else:
        x.grad = None
    with torch.enable_grad():
        value = _call(fun, x)
        value.backward()
    grad = x.grad if x.grad is not None else torch.zeros_like(x)
    return float(value.detach()), float(grad.abs().max())


def _optimizer_callback(x: torch.Tensor, recorder: Recorder):
    def on_iteration(info: IterationInfo) -> bool:
        return recorder.record(x, info.loss, info.grad_norm, info.nfev, info.nit)

    return on_iteration


def _run_lbfgs(fun, x, method, tol, max_iter, recorder, options):
    _check_options(LBFGS, method, options, ("max_iter", "tolerance_grad"))
    options.setdefault("on_failure", "ignore")
    options.setdefault("max_eval", max(max_iter * 5 // 4, max_iter + 1))  # max_iter binds first, any line search
    opt = LBFGS([x], max_iter=max_iter, tolerance_grad=tol, **options)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        value = _call(fun, x)
        value.backward()
        if opt.nfev == 0:  # first evaluation: x0 is row 0 of the history
            grad_norm = float(x.grad.abs().max()) if x.grad is not None else 0.0
            recorder.record(x, float(value.detach()), grad_norm, 1, 0)
        return value

    opt.step(closure, callback=_optimizer_callback(x, recorder))
    return opt.status, opt.message, (opt.nit, opt.nfev, opt.ngev, 0)


def _run_newton(fun, x, method, tol, max_iter, recorder, options):
    _check_options(Newton, method, options, ("mode", "max_iter", "tolerance_grad"))
    mode = NEWTON_MODES[method]
    cap = check_positive("max_exact_params", options.get("max_exact_params", 4096), integer=True, style=STYLE_SENTENCE)
    if mode == "exact" and x.numel() > cap:
        raise ValueError(
            f"method='newton' forms the dense Hessian, and x0 has n={x.numel()} entries, above "
            f"max_exact_params={cap}; use method='newton-cg' (Hessian-vector products) or raise max_exact_params"
        )
    options.setdefault("on_failure", "ignore")
    if mode == "exact" and options.get("trust_region", True) is True and not {"damping", "lr"} & set(options):
        options.setdefault("trust_radius", INITIAL_TRUST_RADIUS)  # the exact trust-region subproblem
    opt = Newton([x], mode=mode, max_iter=max_iter, tolerance_grad=tol, **options)
    x0 = x.detach().clone()
    opt.step(lambda: _call(fun, x), callback=_optimizer_callback(x, recorder))
    recorder.prepend(x0, opt.start_loss, opt.start_grad_norm)
    return opt.status, opt.message, (opt.nit, opt.nfev, opt.ngev, opt.nhvp)


def _run_first_order(fun, x, method, tol, max_iter, recorder, options):
    max_eval = check_positive("max_eval", options.pop("max_eval", None), integer=True, allow_none=True,
                              style=STYLE_SENTENCE)
    opt = OPTIMIZERS[method]([x], **options)
    nfev, nit = 1, 0
    f, grad_norm = _evaluate(fun, x, opt.zero_grad)
    recorder.record(x, f, grad_norm, nfev, nit)
    while True:
        if not (math.isfinite(f) and math.isfinite(grad_norm)):
            return Status.NON_FINITE, f"fun or its gradient is not finite at iteration {nit} (f={f})", (nit, nfev, nfev, 0)
        if grad_norm <= tol:
            return Status.CONVERGED, f"gradient infinity norm {grad_norm:.3g} <= tol {tol:g}", (nit, nfev, nfev, 0)
        if nit >= max_iter:
            return Status.MAX_ITER, f"reached max_iter={max_iter}", (nit, nfev, nfev, 0)
        if max_eval is not None and nfev >= max_eval:
            return Status.MAX_EVAL, f"reached max_eval={max_eval}", (nit, nfev, nfev, 0)
        opt.step()
        nit, nfev = nit + 1, nfev + 1
        f, grad_norm = _evaluate(fun, x, opt.zero_grad)
        if recorder.record(x, f, grad_norm, nfev, nit):
            return Status.CALLBACK, "stopped by the callback", (nit, nfev, nfev, 0)
