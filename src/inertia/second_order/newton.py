"""Newton's method in three forms; Levenberg–Marquardt damping or a trust radius as the trust region.

Each iteration solves ``(B + lam I) d = -g`` with B = H ("exact", "cg") or B = |H| ("saddle-free") and
moves to ``x + lr d``. With ``trust_region=True`` ``lam`` adapts to the ratio ``rho`` of actual to
predicted decrease: ``rho <= 1e-4`` rejects the step and ``lam`` grows 4x; ``rho > 0.75`` shrinks it 3x,
down to ``damping``; ``rho < 0.25`` grows it (Nocedal & Wright, 2nd ed., §4.1, §10.3); in "exact" mode it
also keeps ``H + lam I`` positive definite. With ``trust_radius`` set ("exact" only), the trust-region
subproblem is solved exactly instead, as scipy's trust-exact (:mod:`.newton_trust`). Without a trust
region the plain damped step follows negative curvature to saddles; where the gradient vanishes the
curvature check (:mod:`.curvature`) tells a saddle from a minimum.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch

from inertia.checks import STYLE_SENTENCE, check_non_negative, check_positive
from inertia.second_order.base import IterationInfo, SecondOrderBase, check_step_arguments
from inertia.second_order.curvature import (
    Curvature,
    TrialPoint,
    dense_curvature,
    lanczos_curvature,
    negative_curvature_search,
)
from inertia.second_order.flat import to_float
from inertia.second_order.hvp import dense_hessian_from_gradient, gradient_with_graph, hvp_from_gradient
from inertia.second_order.hyperparameters import NEWTON_MODES
from inertia.second_order.newton_directions import (
    CGModel,
    ExactModel,
    SaddleFreeModel,
    SingularSystemError,
    judge_trial,
)
from inertia.second_order.newton_trust import Move, check_trust_hyperparameters, limit_stop, radius_iteration
from inertia.second_order.status import Status

MODES = NEWTON_MODES
DEFAULT_KRYLOV_DIM = 20
_SHRINK, _GROW = 0.75, 0.25
_MAX_FACTORIZATIONS = 200


class Newton(SecondOrderBase):
    r"""Newton's method, closure-based; all param groups form one vector.

    Each iteration solves :math:`(B + \lambda I)\, d = -g` and sets :math:`x \leftarrow x + \eta d`,
    with :math:`B = H` (``"exact"``, or ``"cg"`` by conjugate gradients on Hessian-vector
    products) or :math:`B = |H| = V |\Lambda| V^\top` (``"saddle-free"``: negative curvature
    becomes a direction of descent instead of attraction). Near a minimum with positive definite
    :math:`H` the error squares each step; the damping :math:`\lambda` grows when a step
    decreases :math:`f` much less than the quadratic model predicted, and shrinks when it agrees.

    Example:
        >>> import torch, inertia
        >>> x = torch.tensor([-1.2, 1.0], requires_grad=True)
        >>> opt = inertia.Newton([x], max_iter=50)
        >>> _ = opt.step(lambda: (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2)
        >>> opt.status == "converged", x.detach().round(decimals=4)
        (True, tensor([1., 1.]))

    References: Nocedal & Wright (2006), "Numerical Optimization", chapters 3-4 and 7 (damped and
    inexact Newton-CG); Dembo, Eisenstat & Steihaug (1982), "Inexact Newton methods"; Dauphin et
    al. (2014), "Identifying and attacking the saddle point problem in high-dimensional non-convex
    optimization" (saddle-free Newton).

    The closure must compute and return the loss **without** calling ``backward()``: the optimizer
    differentiates it twice itself.

    Args:
        params: tensors or param groups (hyperparameters must agree across groups).
        mode: ``"exact"`` (dense Hessian, at most ``max_exact_params`` entries), ``"cg"`` (Newton-CG
            on Hessian-vector products) or ``"saddle-free"`` (|H|; dense when the size allows and
            ``krylov_dim`` is None, else in a Lanczos subspace of ``krylov_dim`` vectors).
        lr: step scale; 1 is the Newton step.
        damping: the smallest (and first) ``lam`` in ``(B + lam I) d = -g``.
        trust_region: adapt ``lam`` by the actual/predicted decrease ratio (one extra closure call
            per rejected step); False takes every step as computed.
        max_iter: iterations per :meth:`step` call. max_eval: closure calls per call.
        tolerance_grad: stop when the gradient's infinity norm is at most this.
        tolerance_change: stop when the loss or the step's infinity norm changes by less.
        cg_max_iter: CG iterations per solve (default ``min(n, 250)``); cg_rtol: relative residual
            (default the forcing term ``min(0.5, sqrt(||g||))``).
        check_curvature: where the gradient vanishes, look for negative curvature (the dense
            eigenvalues where the mode forms H, else Lanczos on Hessian-vector products); at a saddle
            the status is ``"saddle"``, not ``"converged"``, except that saddle-free Newton and the trust
            region step along the negative curvature and go on.
        trust_radius: None (default): ``lam`` adapts as above. A number (mode "exact", damping 0, lr 1):
            the first radius of a trust region whose subproblem ``min g'd + d'Hd/2, ||d|| <= radius``
            is solved exactly, hard case included (:mod:`.newton_trust`; what ``minimize(method="newton")``
            uses by default).
        on_failure: ``"warn"``, ``"raise"`` or ``"ignore"`` when a step fails (a saddle counts as one).

    Counters ``nfev``, ``ngev``, ``nhvp`` (a dense Hessian counts n products) and ``status``,
    ``message`` are readable after each :meth:`step`; ``damping_now`` is the current ``lam``.
    """

    _PICKLED = (*SecondOrderBase._PICKLED, "start_loss", "start_grad_norm")
    _ADDED_LATER = {"check_curvature": True, "trust_radius": None}

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        mode: str = "exact",
        lr: float = 1.0,
        damping: float = 0.0,
        trust_region: bool = True,
        max_iter: int = 1,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 0.0,
        *,
        max_exact_params: int = 4096,
        krylov_dim: int | None = None,
        cg_max_iter: int | None = None,
        cg_rtol: float | None = None,
        check_curvature: bool = True,
        trust_radius: float | None = None,
        on_failure: str = "warn",
    ) -> None:
        defaults = self._check_hyperparameters(
            dict(
                mode=mode, lr=lr, damping=damping, trust_region=trust_region, max_iter=max_iter, max_eval=max_eval,
                tolerance_grad=tolerance_grad, tolerance_change=tolerance_change, max_exact_params=max_exact_params,
                krylov_dim=krylov_dim, cg_max_iter=cg_max_iter, cg_rtol=cg_rtol, check_curvature=check_curvature,
                trust_radius=trust_radius,
            ),
            in_group=False,
        )  # fmt: skip
        super().__init__(params, defaults)
        self._setup(on_failure)
        self.start_loss = math.nan  # loss and gradient infinity norm at the start of the last step()
        self.start_grad_norm = math.nan

    _check_hyperparameters = staticmethod(check_trust_hyperparameters)

    def _check_state_entry(self, key: Any, entry: Any) -> None:
        """The loaded damping ``lam`` and trust ``radius``: finite numbers, >= 0 and > 0."""
        try:
            if "lam" in entry:
                check_non_negative("lam", entry["lam"], style=STYLE_SENTENCE)
            if "radius" in entry:
                check_positive("radius", entry["radius"], style=STYLE_SENTENCE)
        except ValueError as exc:
            raise ValueError(f"Newton.load_state_dict: state[{key!r}]: {exc}") from None

    def _checked_flat(self, groups, hyperparameters):
        """The shared checks, and the size cap of the dense Hessian in "exact" mode."""
        flat = super()._checked_flat(groups, hyperparameters)
        group = groups[0]
        if group["mode"] == "exact" and flat.numel > group["max_exact_params"]:
            raise ValueError(
                f"Newton(mode='exact') forms the dense n x n Hessian, and these params have n={flat.numel} entries, "
                f"above max_exact_params={group['max_exact_params']}. Use mode='cg' (Newton-CG on Hessian-vector "
                "products, never forms H), or raise max_exact_params if n^2 numbers fit in memory."
            )
        return flat

    @property
    def _dense(self) -> bool:
        """Whether the next iteration forms the dense Hessian ("exact", or small "saddle-free" without krylov_dim)."""
        group = self.param_groups[0]
        small = group["krylov_dim"] is None and self._flat.numel <= group["max_exact_params"]
        return group["mode"] == "exact" or (group["mode"] == "saddle-free" and small)

    @property
    def damping_now(self) -> float:
        """The damping ``lam`` the next iteration starts from."""
        return float(self._state.get("lam", self.param_groups[0]["damping"]))

    # ----------------------------------------------------------------- evaluation
    def _evaluate(self, closure: Callable[[], Any]) -> tuple[float, torch.Tensor]:
        params = self._flat.params
        for p in params:
            p.grad = None
        with torch.enable_grad():
            loss = closure()
        if any(p.grad is not None for p in params):
            raise ValueError("Newton's closure must return the loss without calling backward(): Newton differentiates "
                             "the loss twice itself (remove loss.backward() from the closure)")
        if not isinstance(loss, torch.Tensor) or not loss.requires_grad:
            raise ValueError("Newton's closure must return a scalar loss tensor computed from the params")
        value = to_float(loss)
        self._state["func_evals"] += 1
        self._state["grad_evals"] += 1
        with torch.enable_grad():
            return value, gradient_with_graph(loss, params)

    def _model(self, g: torch.Tensor, group: dict[str, Any]):
        params, state = self._flat.params, self._state
        gd = g.detach()
        hvp = self._hvp_closure(g)
        if self._dense:
            hessian = dense_hessian_from_gradient(g, params)
            state["hvp_evals"] += g.numel()
            if group["mode"] == "exact":
                return ExactModel(hessian, gd, require_descent=group["trust_region"])
            return SaddleFreeModel.exact(hessian, gd)
        if group["mode"] == "cg":
            max_iter = group["cg_max_iter"] or min(g.numel(), 250)
            return CGModel(self._counting(hvp), gd, group["cg_rtol"], max_iter)
        return SaddleFreeModel.krylov(self._counting(hvp), gd, group["krylov_dim"] or DEFAULT_KRYLOV_DIM)

    def _hvp_closure(self, g: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        params = self._flat.params

        def hvp(v: torch.Tensor) -> torch.Tensor:
            return hvp_from_gradient(g, params, v)

        return hvp

    def _counting(self, hvp: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
        def counted(v: torch.Tensor) -> torch.Tensor:
            self._state["hvp_evals"] += 1
            return hvp(v)

        return counted

    # ----------------------------------------------------------------- step
    @torch.no_grad()
    def step(self, closure: Callable[[], Any], callback: Callable[[IterationInfo], Any] | None = None) -> Any:
        """Run up to ``max_iter`` Newton iterations. ``closure()`` returns the loss (no backward).

        ``callback(info)`` runs after each iteration; a truthy return stops with status "callback".
        Returns the loss at the start, as a float.
        """
        check_step_arguments(type(self).__name__, closure, callback)
        group = self.param_groups[0]
        loss, g = self._evaluate(closure)
        first_loss, evals = loss, 1
        self.start_loss, self.start_grad_norm = loss, float(g.detach().abs().max())
        verdict = self._verdict(loss, g, group, "")
        for n_iter in range(1, group["max_iter"] + 1):
            if isinstance(verdict, tuple):
                self._finish(*verdict)
                return first_loss
            budget = group["max_eval"] - evals
            if verdict is None:
                move = self._iterate(closure, loss, g, group, budget)
            else:  # a saddle: step along its negative curvature
                move = self._escape(closure, loss, g, verdict, group, budget)
            evals += move.evals
            if move.status is not None:
                self._finish(move.status, move.message)
                return first_loss
            prev_loss, (new_loss, new_g, step_norm) = loss, (move.loss, move.grad, move.step_norm)
            self._state["n_iter"] += 1
            if new_g is None:  # trust_region=False: the next point still has to be evaluated
                if n_iter == group["max_iter"] or evals >= group["max_eval"]:
                    self._finish(*limit_stop(n_iter, evals, group))
                    return first_loss
                new_loss, new_g = self._evaluate(closure)
                evals += 1
            loss, g = new_loss, new_g
            if callback is not None and callback(self._info(loss, g, step_norm)):
                self._finish(Status.CALLBACK, "stopped by the callback")
                return first_loss
            verdict = self._verdict(loss, g, group, f" after iteration {self.nit}")
            stop = verdict if isinstance(verdict, tuple) else None
            stop = stop or self._stop_reason(loss, prev_loss, step_norm, n_iter, evals, group, verdict is None)
            if stop is not None:
                self._finish(*stop)
                return first_loss
        return first_loss

    def _info(self, loss: float, g: torch.Tensor, step_norm: float) -> IterationInfo:
        return IterationInfo(self.nit, loss, float(g.detach().abs().max()), self.nfev, self.ngev, self.nhvp, step_norm)

    def _verdict(self, loss: float, g: torch.Tensor, group: dict[str, Any], where: str):
        """At the current point: a ``(status, message)`` to stop with (non-finite, converged, saddle),
        a :class:`Curvature` to escape along (a saddle that this mode leaves), or None (go on)."""
        if not (math.isfinite(loss) and bool(torch.isfinite(g.detach()).all())):
            return Status.NON_FINITE, f"non-finite loss or gradient{where} (loss={loss})"
        grad_norm = float(g.detach().abs().max())
        if grad_norm > group["tolerance_grad"]:
            return None
        if not group["check_curvature"]:
            return Status.CONVERGED, "gradient infinity norm <= tolerance_grad"
        curvature = self._curvature(g, group)
        if not curvature.negative:
            lowest = f"lowest Hessian eigenvalue {curvature.eigenvalue:.3g}"
            return Status.CONVERGED, f"gradient infinity norm <= tolerance_grad; {lowest}, no negative curvature"
        if group["mode"] == "saddle-free" or group["trust_region"]:
            return curvature
        hint = "Newton without a trust region is drawn to saddles (use trust_region=True or mode='saddle-free')"
        return Status.SADDLE, f"{curvature.saddle_message(grad_norm)}; {hint}"

    def _curvature(self, g: torch.Tensor, group: dict[str, Any]) -> Curvature:
        """The lowest curvature at the current point: dense eigenvalues where this mode forms H, else Lanczos."""
        if self._dense:
            self._state["hvp_evals"] += g.numel()
            return dense_curvature(dense_hessian_from_gradient(g, self._flat.params), g.numel())
        hvp = self._counting(self._hvp_closure(g))
        return lanczos_curvature(hvp, g.detach(), group["krylov_dim"] or DEFAULT_KRYLOV_DIM)

    def _escape(self, closure, loss: float, g: torch.Tensor, curvature: Curvature, group, budget: int) -> Move:
        """One iteration along the eigenvector of negative curvature (sign: downhill), first trial length lr."""
        v = curvature.vector.to(g.dtype)
        slope = float(g.detach().dot(v))
        if slope > 0.0:
            v, slope = -v, -slope
        x0 = self._flat.get()

        def evaluate_at(step: float) -> TrialPoint:
            self._flat.set_(x0.add(v, alpha=step))
            return TrialPoint(*self._evaluate(closure))

        eps = torch.finfo(x0.dtype).eps
        step, point, evals = negative_curvature_search(evaluate_at, loss, slope, curvature.eigenvalue, group["lr"], budget, eps)
        if point is not None:
            return Move(evals, loss=point.loss, grad=point.grad, step_norm=step * float(v.abs().max()))
        self._flat.set_(x0)
        if evals >= budget:
            return Move(evals, Status.MAX_EVAL, f"reached max_eval={group['max_eval']} leaving a saddle")
        grad_norm = float(g.detach().abs().max())
        message = f"{curvature.saddle_message(grad_norm)}; no step along its eigenvector decreased f"
        return Move(evals, Status.SADDLE, message)

    def _stop_reason(self, loss, prev_loss, step_norm, n_iter, evals, group, small_change_counts: bool):
        tol = group["tolerance_change"]
        if small_change_counts and (step_norm <= tol or abs(loss - prev_loss) < tol):
            return Status.SMALL_CHANGE, f"change in x or loss below tolerance_change={tol:g}"
        if n_iter >= group["max_iter"] or evals >= group["max_eval"]:
            return limit_stop(n_iter, evals, group)
        return None

    def _iterate(self, closure, loss: float, g: torch.Tensor, group: dict[str, Any], budget: int) -> Move:
        """One Newton iteration from the current params (loss, g); at most ``budget`` evaluations."""
        if group["trust_radius"] is not None:
            return self._iterate_in_radius(closure, loss, g, group, budget)
        state = self._state
        lam = float(state.get("lam", group["damping"]))
        model = self._model(g, group)
        x0, lr, evals = self._flat.get(), group["lr"], 0
        floor = max(group["damping"], 1e-4 * (model.curvature_scale or 1.0))
        eval_limit = f"reached max_eval={group['max_eval']}"
        for _ in range(_MAX_FACTORIZATIONS):
            try:
                solved = model.solve(lam)
            except SingularSystemError as exc:
                return Move(evals, Status.SINGULAR, str(exc))
            if solved is None:  # H + lam I not positive definite: more damping, no evaluation spent
                lam = max(4.0 * lam, floor)
                continue
            d, predicted = solved
            if lr != 1.0:  # the model's decrease for the step taken, lr d: -(lr g'd + lr^2 d'Bd / 2)
                gd = float(model.g.dot(d))
                predicted = -(lr * gd + lr * lr * (-predicted - gd))
            if not bool(torch.isfinite(d).all()):
                return Move(evals, Status.NON_FINITE, f"non-finite Newton direction (damping {lam:.3g})")
            step_norm = lr * float(d.abs().max())
            self._flat.set_(x0.add(d, alpha=lr))
            if not group["trust_region"]:
                return Move(evals, step_norm=step_norm)
            if evals >= budget:
                self._flat.set_(x0)
                return Move(evals, Status.MAX_EVAL, eval_limit)
            new_loss, new_g = self._evaluate(closure)
            evals += 1
            accepted, rho = judge_trial(loss, new_loss, predicted, torch.finfo(x0.dtype).eps)
            if accepted:
                if rho is not None and rho > _SHRINK:
                    lam = lam / 3.0 if lam / 3.0 >= floor else group["damping"]
                elif rho is not None and rho < _GROW:
                    lam = max(4.0 * lam, floor)
                state["lam"] = lam
                return Move(evals, loss=new_loss, grad=new_g, step_norm=step_norm)
            self._flat.set_(x0)
            lam = max(4.0 * lam, floor)
            if isinstance(model, CGModel):  # its products need the graph that the trial overwrote
                if evals >= budget:
                    return Move(evals, Status.MAX_EVAL, eval_limit)
                _, g_again = self._evaluate(closure)
                evals += 1
                model.hvp = self._counting(self._hvp_closure(g_again))
        state["lam"] = lam
        return Move(evals, Status.NO_PROGRESS, f"trust region rejected every step up to damping {lam:.3g}")

    def _iterate_in_radius(self, closure, loss: float, g: torch.Tensor, group: dict[str, Any], budget: int) -> Move:
        """One iteration on the exact trust-region subproblem (``trust_radius`` set; :mod:`.newton_trust`)."""
        self._state["hvp_evals"] += g.numel()
        hessian, x0 = dense_hessian_from_gradient(g, self._flat.params), self._flat.get()

        def evaluate_at(d: torch.Tensor) -> tuple[float, torch.Tensor]:
            self._flat.set_(x0 + d)
            return self._evaluate(closure)

        radius = self._state.get("radius", group["trust_radius"])
        move, self._state["radius"] = radius_iteration(hessian, g.detach(), evaluate_at, loss, radius, budget,
                                                       group["max_eval"])
        if move.status is not None:
            self._flat.set_(x0)
        return move
