"""L-BFGS with a Moré–Thuente strong Wolfe line search, over any number of param groups.

The inverse Hessian is approximated from the last ``history_size`` pairs ``s = x+ - x``,
``y = g+ - g`` by the two-loop recursion with ``H0 = (s'y / y'y) I`` (Nocedal & Wright, Numerical
Optimization, 2nd ed., Algorithm 7.4). A pair is stored only when ``s'y`` is positive, so the
direction is always one of descent.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

from inertia.checks import is_number
from inertia.second_order.base import (
    IterationInfo,
    SecondOrderBase,
    check_step_arguments,
)
from inertia.second_order.flat import to_float
from inertia.second_order.hyperparameters import LINE_SEARCHES, check_lbfgs_hyperparameters
from inertia.second_order.lbfgs_vectors import VectorWork, infinity_norm
from inertia.second_order.line_search import strong_wolfe
from inertia.second_order.status import Status

_UNSET: Any = object()  # line_search_fn not given


def _line_search_choice(line_search: Any, line_search_fn: Any) -> str | None:
    """``line_search``, or torch's spelling ``line_search_fn`` when that is given (they must agree if both are)."""
    if line_search_fn is not _UNSET:
        if line_search != "strong_wolfe" and line_search != line_search_fn:
            raise ValueError(f"line_search={line_search!r} and line_search_fn={line_search_fn!r} disagree; give one")
        line_search = line_search_fn
    if line_search not in LINE_SEARCHES:
        raise ValueError(f"line_search must be 'strong_wolfe' or None, got {line_search!r}")
    return line_search


def with_grad(closure: Callable[[], Any]) -> Callable[[], Any]:
    """``closure`` run with gradients enabled (``torch.enable_grad()(closure)`` without its context
    manager: a step calls it once per evaluation)."""

    def call() -> Any:
        previous = torch.is_grad_enabled()
        torch._C._set_grad_enabled(True)
        try:
            return closure()
        finally:
            torch._C._set_grad_enabled(previous)

    return call


class LBFGS(SecondOrderBase):
    r"""L-BFGS, closure-based like ``torch.optim.LBFGS``; all param groups form one vector.

    Each iteration moves along :math:`d = -H_k g` and picks the step by a line search. The inverse
    Hessian estimate :math:`H_k` is never formed: the two-loop recursion applies it from the last
    ``history_size`` pairs :math:`s_i = x_{i+1} - x_i`, :math:`y_i = g_{i+1} - g_i`, starting from
    :math:`H_0 = (s^\top y / y^\top y)\,I`. The strong Wolfe line search accepts a step
    :math:`\alpha` with :math:`f(x + \alpha d) \le f(x) + c_1 \alpha\, g^\top d` and
    :math:`|\nabla f(x + \alpha d)^\top d| \le c_2 |g^\top d|`. It needs exact, full-batch
    gradients: on mini-batches the pairs mix the noise of two batches.

    Example:
        >>> import torch, inertia
        >>> x = torch.tensor([-1.2, 1.0], requires_grad=True)
        >>> opt = inertia.LBFGS([x], max_iter=100)
        >>> def closure():
        ...     opt.zero_grad()
        ...     loss = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
        ...     loss.backward()
        ...     return loss
        >>> _ = opt.step(closure)
        >>> x.detach().round(decimals=4)
        tensor([1., 1.])

    References: Nocedal (1980), "Updating quasi-Newton matrices with limited storage"; Liu &
    Nocedal (1989), "On the limited memory BFGS method for large scale optimization"; Moré &
    Thuente (1994), "Line search algorithms with guaranteed sufficient decrease".

    Complex params are taken as torch takes them: each is seen as its real view
    (``torch.view_as_real``), so the method runs on the real and imaginary parts as separate entries.

    The positional arguments come in ``torch.optim.LBFGS``'s order; the defaults of ``history_size``
    (10, as L-BFGS-B) and of the line search differ.

    Args:
        params: tensors or param groups (hyperparameters must agree across groups).
        lr: first trial step of each line search (the step itself when ``line_search=None``): a number
            or, as torch accepts, a one-element tensor (kept in the group, read at every step).
        max_iter: iterations per :meth:`step` call.
        max_eval: closure calls per :meth:`step` call (default ``max(max_iter * 5 // 4, max_iter + 1)``, so
            that every iteration can evaluate at least one trial point; torch's ``max_iter * 5 // 4``
            when ``line_search=None``).
        tolerance_grad: stop when the gradient's infinity norm is at most this (any float but NaN;
            ``-inf`` never stops on this test).
        tolerance_change: stop when the loss or the step's infinity norm changes by less (any float
            but NaN; ``-inf`` never stops on these tests).
        history_size: number of (s, y) pairs kept.
        line_search: ``"strong_wolfe"`` (Moré–Thuente, constants ``c1``, ``c2``; the first step is
            scaled to unit length, as in L-BFGS-B) or ``None`` (fixed step ``lr``; then every update
            equals ``torch.optim.LBFGS`` with ``line_search_fn=None``).
        line_search_fn: torch's name for ``line_search``, accepted with the same values.
        max_ls: evaluations allowed per line search.
        on_failure: ``"warn"``, ``"raise"`` (:class:`OptimizationError`) or ``"ignore"`` when a step
            ends with a line-search failure, a non-finite value or a non-descent direction.

    After each :meth:`step`, ``status`` and ``message`` say why it stopped; ``nfev``/``ngev`` count
    closure calls (each call gives f and g, so they are equal) and are also in the state as
    ``func_evals``/``grad_evals``.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 1.0,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 10,
        line_search: str | None = "strong_wolfe",
        *,
        line_search_fn: Any = _UNSET,
        c1: float = 1e-3,
        c2: float = 0.9,
        max_ls: int = 20,
        on_failure: str = "warn",
    ) -> None:
        defaults = self._check_hyperparameters(
            dict(
                lr=lr, history_size=history_size, max_iter=max_iter, max_eval=max_eval,
                tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
                line_search=_line_search_choice(line_search, line_search_fn), c1=c1, c2=c2, max_ls=max_ls,
            ),
            in_group=False,
        )  # fmt: skip
        super().__init__(params, defaults)
        self._setup(on_failure)
        self._forget_vectors()

    _check_hyperparameters = staticmethod(check_lbfgs_hyperparameters)
    _OPTIMIZER_WIDE = frozenset({"on_failure", "line_search_fn"})
    _ACCEPTS_COMPLEX = True

    def _check_state_entry(self, key: Any, entry: Mapping[str, Any]) -> None:
        """The loaded L-BFGS memory: tensors where tensors are kept, numbers where numbers are."""
        name = type(self).__name__
        for item in ("d", "prev_flat_grad"):
            if item in entry and not isinstance(entry[item], torch.Tensor):
                raise TypeError(f"{name}.load_state_dict: state[{key!r}][{item!r}] must be a tensor, "
                                f"got {type(entry[item]).__name__}")  # fmt: skip
        for item in ("old_dirs", "old_stps", "ro"):
            if item in entry and not isinstance(entry[item], list):
                raise TypeError(f"{name}.load_state_dict: state[{key!r}][{item!r}] must be a list, "
                                f"got {type(entry[item]).__name__}")  # fmt: skip
        for item in ("t", "prev_loss", "H_diag"):
            value = entry.get(item, 0.0)
            if not (is_number(value) or (isinstance(value, torch.Tensor) and value.numel() == 1)):
                raise TypeError(f"{name}.load_state_dict: state[{key!r}][{item!r}] must be a number, got {value!r}")

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickling and ``load_state_dict``: the vectors the kernels knew are forgotten."""
        super().__setstate__(state)
        self._forget_vectors()

    def _forget_vectors(self) -> None:
        """Start without known vectors (:class:`~inertia.second_order.lbfgs_vectors.VectorWork`) or a kept view."""
        self._vectors, self._view = VectorWork(), None

    def zero_grad(self, set_to_none: bool = True) -> None:
        """torch's ``zero_grad``. With ``set_to_none`` (the default) it sets every ``.grad`` to None
        directly, outside torch's profiler range: a step calls the closure, and so this, once per
        evaluation, where that range would cost more than the work."""
        if not set_to_none:
            super().zero_grad(set_to_none=False)
            return
        for p in self._flat.params:
            p.grad = None

    # ----------------------------------------------------------------- evaluation
    def _evaluate(self, closure: Callable[[], Any], state: dict[str, Any]) -> tuple[float, torch.Tensor]:
        loss = to_float(closure())
        state["func_evals"] += 1
        state["grad_evals"] += 1
        return loss, self._flat_grad()

    def _flat_grad(self) -> torch.Tensor:
        """The gradient as one new vector (a copy, safe to keep when a closure accumulates in place)."""
        params = self._flat.params
        grad = params[0].grad if len(params) == 1 else None
        if grad is None or grad.is_complex() or grad.layout != torch.strided:
            return self._flat.grad()
        copy = (grad if grad.ndim == 1 else grad.reshape(-1)).clone()
        if grad.dtype is torch.float64 and grad.is_cpu and not grad.is_neg():
            self._vectors.made(copy)  # a new contiguous float64 CPU vector of the param's length
        return copy

    # ----------------------------------------------------------------- direction
    def _direction(self, g: torch.Tensor, state: dict[str, Any],
                   group: dict[str, Any]) -> tuple[torch.Tensor, float, float | None]:  # fmt: skip
        """Update the (s, y) memory with the last step; return ``d = -H g`` (two-loop recursion), ``g'd``
        and ``max |d|`` (None where not computed: see :class:`~inertia.second_order.lbfgs_vectors.VectorWork`).

        The scalars (``s'y``, ``rho``, the alphas) are Python floats for float64 params: float64
        arithmetic on the same values, so every result equals that of 0-d float64 tensors bit for
        bit, without a tensor operation per scalar. Other dtypes keep 0-d tensors, which round in
        their own precision.
        """
        if state.pop("restart", False) or state["n_iter"] == 1 or "d" not in state:
            state.update(old_dirs=[], old_stps=[], ro=[], H_diag=1)
            d = g.neg()
            return d, float(g.dot(d)), None
        return self._vectors.advance(g, state, group["history_size"], group["line_search"] is not None)

    def _first_trial_step(self, d: torch.Tensor, g: torch.Tensor, group: dict[str, Any], fresh: bool) -> float:
        lr = float(group["lr"])  # a tensor lr is read afresh at every step
        if not fresh:
            return lr
        if group["line_search"] is None:
            return min(1.0, 1.0 / float(g.abs().sum())) * lr
        norm = float(d.norm())
        return lr / norm if 0.0 < norm < math.inf else lr  # unit-length first move, as L-BFGS-B

    # ----------------------------------------------------------------- moves
    def _single_view(self) -> torch.Tensor | None:
        """The only param as a flat view of its memory (of its real view if complex); None when there
        are several params or it is not contiguous. The view is kept while the param's memory stays where
        it was (a closure may replace it)."""
        params = self._flat.params
        if len(params) != 1:
            return None
        param, cached = params[0], self._view
        if cached is not None and cached[0] is param and cached[1] == param.data_ptr() and param.is_contiguous():
            return cached[2]  # the same memory as when the view was taken: the same view
        real = torch.view_as_real(param) if param.is_complex() else param
        view = real.view(-1) if real.is_contiguous() else None
        self._view = None if view is None else (param, param.data_ptr(), view)
        return view

    def _line_search(self, closure, d, loss, g, gtd, t, budget, group, state):
        """Run the strong Wolfe search; returns (result, loss, g, max |g|) with params left at the accepted
        point (``max |g|`` None where the slope kernel did not compute it).

        When :meth:`_single_view` gives a view (checked at each trial, as the param's memory may be replaced
        between closure calls), the trial point is written into the param's memory by the kernel that would
        make the new tensor ``x0 + step * d`` (``add`` with ``alpha``), so its entries are the same."""
        view = self._single_view()
        x0 = self._flat.get() if view is None else view.clone()
        last: dict[str, Any] = {}

        def evaluate(step: float) -> tuple[float, float]:
            target = self._single_view()
            if target is None:
                self._flat.set_(x0.add(d, alpha=step))
            else:
                torch.add(x0, d, alpha=step, out=target)
            f, grad = self._evaluate(closure, state)
            slope, last["max"] = self._vectors.slope(grad, d)
            last["g"] = grad
            return f, slope

        result = strong_wolfe(
            evaluate, loss, gtd, t, ftol=group["c1"], gtol=group["c2"], max_evals=min(group["max_ls"], budget)
        )
        if result.accepted:
            return result, result.f, last["g"], last["max"]
        self._flat.set_(x0)
        return result, loss, g, None

    # ----------------------------------------------------------------- step
    @torch.no_grad()
    def step(self, closure: Callable[[], Any], callback: Callable[[IterationInfo], Any] | None = None) -> Any:
        """Run up to ``max_iter`` iterations; ``closure`` must zero grads, compute the loss, call
        ``backward()`` and return the loss. ``callback(info)`` runs after each iteration; a truthy
        return value stops the run with status ``"callback"``. Returns the first loss."""
        check_step_arguments(type(self).__name__, closure, callback)
        closure = with_grad(closure)
        orig_loss = closure()
        loss = to_float(orig_loss)
        if all(p.grad is None for p in self._flat.params):  # checked before the state is touched
            raise ValueError(
                f"{type(self).__name__}'s closure left every param without a gradient: it must call "
                "loss.backward() on a loss computed from the params (and return the loss)"
            )
        group, state = self.param_groups[0], self._state
        state["func_evals"] += 1
        state["grad_evals"] += 1
        g = self._flat_grad()
        grad_max = infinity_norm(g)
        if not (math.isfinite(loss) and math.isfinite(grad_max)):
            self._finish(Status.NON_FINITE, f"non-finite loss or gradient at the start (loss={loss})")
            return orig_loss
        if grad_max <= group["tolerance_grad"]:
            self._finish(Status.CONVERGED, "gradient infinity norm <= tolerance_grad")
            return orig_loss
        self._run(closure, callback, loss, g, group, state)
        return orig_loss

    def _run(self, closure, callback, loss, g, group, state) -> None:
        evals, n_iter = 1, 0
        while True:
            if n_iter == group["max_iter"]:
                return self._finish(Status.MAX_ITER, f"reached max_iter={group['max_iter']}")
            n_iter += 1
            state["n_iter"] += 1
            fresh = state.get("restart", False) or state["n_iter"] == 1
            d, gtd, d_max = self._direction(g, state, group)
            if not gtd < 0.0:
                if not fresh:
                    state["restart"] = True
                    continue
                return self._finish(Status.NON_DESCENT, f"-gradient is not a descent direction (g'd={gtd:.3g})")
            if gtd > -group["tolerance_change"]:
                return self._finish(Status.SMALL_CHANGE, f"directional derivative {gtd:.3g} > -tolerance_change")
            state["prev_flat_grad"], state["prev_loss"] = g, loss
            t = self._first_trial_step(d, g, group, fresh)
            evaluated, g_max = True, None
            if group["line_search"] is None:
                self._flat.add_(d, t)
                evaluated = n_iter != group["max_iter"]
                if evaluated:
                    loss, g = self._evaluate(closure, state)
                    evals += 1
            else:
                budget = group["max_eval"] - evals
                result, loss, g, g_max = self._line_search(closure, d, loss, g, gtd, t, budget, group, state)
                evals += result.nfev
                if not result.accepted:
                    if result.nfev >= budget:
                        state["restart"] = True  # no step was taken: the next call starts afresh
                        message = f"reached max_eval={group['max_eval']} in a line search that had not found a step"
                        return self._finish(Status.MAX_EVAL, message)
                    if not fresh:  # forget the memory and retry along -g, as L-BFGS-B does
                        state["restart"] = True
                        continue
                    status = Status.NON_FINITE if "NON-FINITE" in result.task else Status.LINE_SEARCH_FAILED
                    return self._finish(status, f"line search failed along -g: {result.task.lower()}")
                t = result.step
            state["d"], state["t"] = d, t
            grad_max = (infinity_norm(g) if g_max is None else g_max) if evaluated else math.nan
            if callback is not None and evaluated:
                counts = int(state["func_evals"]), int(state["grad_evals"])
                if callback(IterationInfo(state["n_iter"], loss, grad_max, *counts, 0, t)):
                    return self._finish(Status.CALLBACK, "stopped by the callback")
            step_norm = (infinity_norm(d) if d_max is None else d_max) * t
            stop = self._stop_reason(loss, grad_max, step_norm, evals, n_iter, state["prev_loss"], group, evaluated)
            if stop is not None:
                return self._finish(*stop)

    def _stop_reason(self, loss, grad_max, step_norm, evals, n_iter, prev_loss, group, evaluated):
        if evaluated:
            if not (math.isfinite(loss) and math.isfinite(grad_max)):
                return Status.NON_FINITE, f"non-finite loss or gradient after iteration {n_iter} (loss={loss})"
            if grad_max <= group["tolerance_grad"]:
                return Status.CONVERGED, "gradient infinity norm <= tolerance_grad"
        if n_iter == group["max_iter"]:
            return Status.MAX_ITER, f"reached max_iter={group['max_iter']}"
        if evals >= group["max_eval"]:
            return Status.MAX_EVAL, f"reached max_eval={group['max_eval']}"
        tol = group["tolerance_change"]
        if step_norm <= tol:
            return Status.SMALL_CHANGE, f"step infinity norm {step_norm:.3g} <= tolerance_change {tol:g}"
        if abs(loss - prev_loss) < tol:
            return Status.SMALL_CHANGE, f"loss change {abs(loss - prev_loss):.3g} < tolerance_change {tol:g}"
        return None
