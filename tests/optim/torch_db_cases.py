"""torch's own optimizer test tables, applied to inertia's classes of the same name.

torch ships ``torch.testing._internal.common_optimizers.optim_db``: one ``OptimizerInfo`` per
torch.optim class, with the configurations torch tests it under (``optim_inputs_func``) and the bad
calls it must refuse (``optim_error_inputs_func``). This module turns every row whose class name
exists in :mod:`inertia` into flat case lists for ``test_torch_optim_db.py``, builds the small model
the trajectories run on, and counts the cases per class (``python tests/optim/test_torch_optim_db.py``
prints that table and the known differences).

The configurations are torch's, plus the variants torch's own tests add for each implementation
flag the row supports (``"<desc> & foreach"``, ``"& differentiable"``, ``"& fused"``), as
``_get_optim_inputs_including_global_cliquey_kwargs`` in that module does.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

import inertia

# torch's optimizer test tables, shipped in the wheel (they need ``expecttest``, a dev dependency).
common_optimizers = importlib.import_module("torch.testing._internal.common_optimizers")
CONSTRUCTION_ERROR = common_optimizers.OptimizerErrorEnum.CONSTRUCTION_ERROR

#: torch's rows whose class inertia has too (new inertia classes are picked up as they land).
TORCH_INFOS = [info for info in common_optimizers.optim_db if getattr(inertia, info.name, None) is not None]
INFO_BY_NAME = {info.name: info for info in TORCH_INFOS}


@dataclass(frozen=True)
class ConfigCase:
    """One of torch's configurations of one class (``flag``: the implementation flag it turns on)."""

    name: str
    desc: str
    kwargs: dict[str, Any]
    flag: str | None = None
    #: "reference" (part 1: float64, exact) or "fused" (part 2: float32, inertia's fused path).
    part: str = "reference"

    @property
    def key(self) -> tuple[str, str]:
        """The (class name, "<part>: <desc>") that ``KNOWN_DIFFERENCES`` is keyed by."""
        return self.name, f"{self.part}: {self.desc}"


@dataclass(frozen=True)
class ErrorInputCase:
    """One of torch's error inputs of one class."""

    name: str
    desc: str
    error_input: Any

    @property
    def key(self) -> tuple[str, str]:
        """The (class name, "error: <desc>") that ``KNOWN_DIFFERENCES`` is keyed by."""
        return self.name, f"error: {self.desc}"


def _unique(descs: list[str]) -> list[str]:
    """``descs`` with repeats numbered (``"x"``, ``"x #2"``), so each case has its own key."""
    seen: dict[str, int] = {}
    result = []
    for desc in descs:
        seen[desc] = seen.get(desc, 0) + 1
        result.append(desc if seen[desc] == 1 else f"{desc} #{seen[desc]}")
    return result


def implementation_flags(info: Any) -> tuple[str, ...]:
    """The implementation flags torch's tests turn on, one at a time, for ``info`` on CPU."""
    return tuple(flag for flag in info.supported_impls if flag != "fused" or "cpu" in info.supports_fused_on)


def config_cases(info: Any) -> list[ConfigCase]:
    """Every configuration of ``info`` on CPU in float64, each also with each implementation flag on."""
    cases = []
    for optim_input in info.optim_inputs_func(device="cpu", dtype=torch.float64):
        cases.append(ConfigCase(info.name, optim_input.desc, optim_input.kwargs))
        for flag in implementation_flags(info):
            cases.append(ConfigCase(info.name, f"{optim_input.desc} & {flag}", {**optim_input.kwargs, flag: True}, flag))
    descs = _unique([case.desc for case in cases])
    return [ConfigCase(c.name, d, c.kwargs, c.flag) for c, d in zip(cases, descs, strict=True)]


def error_cases(info: Any) -> list[ErrorInputCase]:
    """Every error input of ``info`` on CPU in float32."""
    inputs = info.optim_error_inputs_func(device="cpu", dtype=torch.float32) if info.optim_error_inputs_func else []
    descs = _unique([error_input.optimizer_error_input.desc for error_input in inputs])
    return [ErrorInputCase(info.name, desc, error_input) for desc, error_input in zip(descs, inputs, strict=True)]


def takes_impl(name: str) -> bool:
    """Whether inertia's class ``name`` has the ``impl`` choice (reference or fused path): the
    first-order classes (:class:`inertia.FlatOptimizer`) do."""
    return issubclass(getattr(inertia, name), inertia.FlatOptimizer)


CONFIG_CASES = [case for info in TORCH_INFOS for case in config_cases(info)]
#: Part 1 (exact, on inertia's reference path): the base configurations, "& foreach", "& differentiable".
REFERENCE_CASES = [case for case in CONFIG_CASES if case.flag != "fused"]
#: Part 2 (inertia's fused path, float32): the base configurations and "& fused".
FUSED_CASES = [ConfigCase(c.name, c.desc, c.kwargs, c.flag, "fused") for c in CONFIG_CASES
               if c.flag in (None, "fused") and takes_impl(c.name)]


def no_backward_case(name: str) -> ConfigCase:
    """Part 2's check of a step after ``zero_grad()`` without backward (a no-op in torch.optim): on
    the class's first fused configuration with weight decay (where a zero gradient still moves)."""
    cases = [case for case in FUSED_CASES if case.name == name and case.flag is None]
    chosen = next((case for case in cases if case.kwargs.get("weight_decay")), cases[0])
    return ConfigCase(name, f"{chosen.desc}, a step without backward", chosen.kwargs, None, "fused")


NO_BACKWARD_CASES = [no_backward_case(name) for name in dict.fromkeys(case.name for case in FUSED_CASES)]
ERROR_CASES = [case for info in TORCH_INFOS for case in error_cases(info)]


class CaseParams(list):
    """The parameters of one trajectory, with the loss they are trained on (``loss(params)``)."""

    def __init__(self, params: list[torch.nn.Parameter], loss: Callable[[list[torch.Tensor]], torch.Tensor]) -> None:
        super().__init__(params)
        self.loss = loss


def table_params(dtype: torch.dtype) -> list[torch.nn.Parameter]:
    """torch's test_correctness model (Linear(2, 3), Linear(3, 1)) as tensors, plus a 0-d one."""
    generator = torch.Generator().manual_seed(1)
    shapes = [(3, 2), (3,), (1, 3), (1,), ()]
    return [torch.nn.Parameter(torch.randn(s, generator=generator, dtype=dtype)) for s in shapes]


def table_loss(params: list[torch.Tensor]) -> torch.Tensor:
    """Sigmoid(Linear(Sigmoid(Linear(x)))) summed over a fixed batch, plus a term in the 0-d one."""
    w1, b1, w2, b2, scalar = params
    x = torch.linspace(-1.0, 1.0, 8, dtype=w1.dtype).reshape(4, 2)
    hidden = torch.sigmoid(x @ w1.T + b1)
    return torch.sigmoid(hidden @ w2.T + b2).sum() + (scalar - 0.5) ** 2


def matrix_params(dtype: torch.dtype) -> list[torch.nn.Parameter]:
    """The weights of the table model without its biases: matrices (3, 2) and (1, 3), for Muon's rows."""
    return [param for param in table_params(dtype) if param.ndim == 2]


def matrix_loss(params: list[torch.Tensor]) -> torch.Tensor:
    """Sigmoid(W2 Sigmoid(W1 x)) summed over the fixed batch of :func:`table_loss`."""
    w1, w2 = params
    x = torch.linspace(-1.0, 1.0, 8, dtype=w1.dtype).reshape(4, 2)
    return torch.sigmoid(torch.sigmoid(x @ w1.T) @ w2.T).sum()


#: Rows looked up by :func:`embedding_loss`: some twice (an uncoalesced sparse gradient), row 4 never.
EMBEDDING_ROWS = (0, 2, 2, 5, 1, 3, 0, 2)


def embedding_params(dtype: torch.dtype) -> list[torch.nn.Parameter]:
    """One (6, 2) embedding table, whose gradients are sparse, for SparseAdam's rows."""
    generator = torch.Generator().manual_seed(1)
    return [torch.nn.Parameter(torch.randn(6, 2, generator=generator, dtype=dtype))]


def embedding_loss(params: list[torch.Tensor]) -> torch.Tensor:
    """Sigmoid of the looked-up rows (``sparse=True``: a sparse gradient) against fixed weights, summed."""
    (table,) = params
    rows = torch.nn.functional.embedding(torch.tensor(EMBEDDING_ROWS), table, sparse=True)
    weights = torch.linspace(-1.0, 1.0, rows.numel(), dtype=table.dtype).reshape(rows.shape)
    return torch.sigmoid(rows * weights).sum()


#: The classes whose rows need other parameters than the table model's: (params, loss) builders.
PARAM_BUILDERS: dict[str, tuple[Callable[[torch.dtype], list[torch.nn.Parameter]],
                                Callable[[list[torch.Tensor]], torch.Tensor]]] = {
    "Muon": (matrix_params, matrix_loss),  # 2-D parameters only
    "SparseAdam": (embedding_params, embedding_loss),  # torch's row: only_supports_sparse_grads
}


def make_params(dtype: torch.dtype, name: str | None = None) -> list[torch.nn.Parameter]:
    """The parameters class ``name``'s trajectories run on (carrying their loss, see :func:`loss_of`):
    torch's test_correctness model (Linear(2, 3), Linear(3, 1)) as tensors plus a 0-d one, unless
    :data:`PARAM_BUILDERS` has other ones for the class."""
    build, loss = PARAM_BUILDERS.get(name or "", (table_params, table_loss))
    return CaseParams(build(dtype), loss)


def loss_of(params: list[torch.Tensor]) -> torch.Tensor:
    """The loss of ``params`` from :func:`make_params`; for a plain list, the table model's
    (:func:`table_loss`: Sigmoid(Linear(Sigmoid(Linear(x)))) over a fixed batch, plus a 0-d term)."""
    return getattr(params, "loss", table_loss)(params)


def run_steps(cls: type, kwargs: dict[str, Any], dtype: torch.dtype, steps: int = 5,
              no_backward: int | None = 3) -> list[torch.Tensor]:
    """The parameters after ``steps`` steps of ``cls(params, **kwargs)``. Step ``no_backward`` follows
    ``zero_grad()`` without a backward pass (a no-op in torch.optim, as torch's tests check).
    Closure-based classes get a closure every step."""
    params = make_params(dtype, cls.__name__)
    optimizer = cls(params, **copy.deepcopy(kwargs))

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = loss_of(params)
        loss.backward()
        return loss

    for index in range(steps):
        if INFO_BY_NAME[cls.__name__].step_requires_closure:
            optimizer.step(closure)
            continue
        optimizer.zero_grad()
        if index != no_backward:
            loss_of(params).backward()
        optimizer.step()
    return [p.detach().clone() for p in params]


def torch_forloop_kwargs(case: ConfigCase) -> dict[str, Any]:
    """``case.kwargs`` for torch's for-loop path: ``foreach`` off where it is None or on."""
    kwargs = dict(case.kwargs)
    if "foreach" in INFO_BY_NAME[case.name].supported_impls:
        kwargs["foreach"] = False
    return kwargs


def error_argument_names(case: ErrorInputCase) -> list[str]:
    """The arguments an error input is about: ``params`` when it passes no keywords, else the keywords
    that its desc names (``betas`` for "beta1 ...", ``etas`` for "eta1 ..."), else the keywords but lr."""
    kwargs = case.error_input.optimizer_error_input.kwargs
    if not kwargs:
        return ["params"]
    desc = case.error_input.optimizer_error_input.desc
    named = [key for key in kwargs if re.search(rf"\b({re.escape(key)}|{re.escape(key.rstrip('s'))}\d*)\b", desc)]
    return named or [key for key in kwargs if key != "lr"] or list(kwargs)


def error_params(case: ErrorInputCase) -> Any:
    """The params of an error input; torch's ``params=None`` becomes one fresh (1, 1) parameter."""
    params = case.error_input.optimizer_error_input.params
    return [torch.nn.Parameter(torch.randn(1, 1))] if params is None else params


def counts(known: dict[tuple[str, str], str]) -> list[tuple[str, int, int, int, int, int, int]]:
    """Per class: configuration runs (reference and fused) run / passed / known-different, then error
    inputs run / passed / known-different (every case not in ``known`` passes)."""
    rows = []
    for info in TORCH_INFOS:
        configs = [case.key for case in REFERENCE_CASES + FUSED_CASES + NO_BACKWARD_CASES if case.name == info.name]
        errors = [case.key for case in ERROR_CASES if case.name == info.name]
        config_known = sum(key in known for key in configs)
        error_known = sum(key in known for key in errors)
        rows.append((info.name, len(configs), len(configs) - config_known, config_known,
                     len(errors), len(errors) - error_known, error_known))
    return rows


def format_counts(rows: list[tuple[str, int, int, int, int, int, int]]) -> list[str]:
    """:func:`counts` as a Markdown table, with a total row."""
    lines = ["| class | configs run | passed | known-different | error inputs run | passed | known-different |",
             "|---|---|---|---|---|---|---|"]
    totals = [sum(column) for column in zip(*(row[1:] for row in rows), strict=True)] if rows else []
    for row in [*rows, ("total", *totals)]:
        lines.append("| " + " | ".join(str(value) for value in row) + " |")
    return lines
