"""Optimization problems of the lab: 2D surfaces, a noisy quadratic, datasets and models.

- :mod:`~inertia.problems.surfaces`: ``get_surface(name, **params)``, ``SURFACES``.
- :mod:`~inertia.problems.noisy`: ``Quadratic``, ``noisy_quadratic``.
- :mod:`~inertia.problems.base`: the ``Problem`` interface and seeded gradient noise.
- :mod:`~inertia.problems.datasets`: ``Dataset``, ``load_digits``, ``load_mnist``, ``load_cifar10``,
  ``make_teacher_student``, ``load_dataset``.
- :mod:`~inertia.problems.models`: ``make_model``, ``MODELS``, ``TRAINING_DEFAULTS``.
- :mod:`~inertia.problems.registry`: ``get_problem``, ``list_problems``, ``PROBLEMS``.
"""

from inertia.problems.base import Problem, seeded_normal, with_gradient_noise
from inertia.problems.datasets import (
    Dataset,
    load_cifar10,
    load_dataset,
    load_digits,
    load_mnist,
    make_teacher_student,
)
from inertia.problems.models import MODELS, TRAINING_DEFAULTS, count_parameters, make_model
from inertia.problems.noisy import Quadratic, noisy_quadratic
from inertia.problems.registry import PROBLEMS, get_problem, list_problems
from inertia.problems.surface import Surface
from inertia.problems.surfaces import SURFACES, get_surface

__all__ = [
    "MODELS", "PROBLEMS", "SURFACES", "TRAINING_DEFAULTS", "Dataset", "Problem", "Quadratic", "Surface",
    "count_parameters", "get_problem", "get_surface", "list_problems", "load_cifar10", "load_dataset",
    "load_digits", "load_mnist", "make_model", "make_teacher_student", "noisy_quadratic", "seeded_normal",
    "with_gradient_noise",
]
