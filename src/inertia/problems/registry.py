"""One registry over every problem: 2D surfaces, the quadratic, and the datasets (for ``inertia problems``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from inertia.problems.base import Problem
from inertia.problems.noisy import QUADRATIC_DESCRIPTION, Quadratic
from inertia.problems.surfaces import SURFACES, check_param_names, get_surface

# Optimization problems (not datasets) by name: the surfaces plus "quadratic".
PROBLEMS: dict[str, Callable[..., Problem]] = {**SURFACES, "quadratic": Quadratic}

DATASET_DESCRIPTIONS: dict[str, str] = {
    "digits": "scikit-learn's bundled 8x8 digits (1797 images, 10 classes), the default dataset",
    "mnist:PATH": "MNIST from the IDX files in PATH (28x28 grayscale, 10 classes)",
    "cifar10:PATH": "CIFAR-10 from the python batches in PATH (32x32 RGB, 10 classes)",
    "teacher": "synthetic teacher-student classification: labels from a random teacher network",
}


def get_problem(name: str, noise_scale: float = 0.0, noise_seed: int = 0, **params: Any) -> Problem:
    """Build the optimization problem ``name`` (a surface or ``"quadratic"``) with ``params``.

    ``noise_scale > 0`` adds seeded Gaussian gradient noise (:meth:`Problem.with_gradient_noise`).
    Raises ValueError naming an unknown problem or parameter and listing the valid ones.
    """
    if name in SURFACES:
        problem: Problem = get_surface(name, **params)
    elif name == "quadratic":
        check_param_names(name, Quadratic, params)
        problem = Quadratic(**params)
    else:
        raise ValueError(f"unknown problem {name!r}; valid problems: {', '.join(PROBLEMS)}")
    return problem.with_gradient_noise(noise_scale, noise_seed) if noise_scale else problem


def list_problems() -> list[tuple[str, str, str]]:
    """Rows ``(name, kind, description)`` for every surface, the quadratic and every dataset."""
    rows = [(name, "surface", factory().description) for name, factory in SURFACES.items()]
    rows.append(("quadratic", "quadratic", QUADRATIC_DESCRIPTION))
    rows += [(name, "dataset", text) for name, text in DATASET_DESCRIPTIONS.items()]
    return rows
