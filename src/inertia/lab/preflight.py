"""Checks a command makes before any work: the data of a training run really loads, and its model fits.

:func:`inertia.lab.run_validation.validate` checks settings and that dataset files are where the spec says;
it is called for every run, so it does not read them. :func:`check_training_data` reads them once,
so a corrupt or truncated file, labels out of range, or a model that cannot take the data's inputs
(``cnn`` on the teacher's vectors) is refused up front, before a run directory exists, instead of
failing inside every run.
"""

from __future__ import annotations

from inertia.lab.run_config import ConfigError, RunConfig, one_line
from inertia.problems.datasets import load_dataset
from inertia.problems.models import make_model


def check_training_data(config: RunConfig) -> None:
    """Load the dataset of a training ``config`` and build its model on it; :class:`ConfigError` on
    ``problem`` (the data) or ``model`` (the model does not fit the data). Problems are not checked."""
    if config.kind != "training":
        return
    try:
        data = load_dataset(config.problem, seed=config.data_seed)
    except (OSError, ValueError) as exc:  # missing, unreadable or malformed files
        raise ConfigError("problem", one_line(exc)) from None
    try:
        make_model(config.model, data.input_shape, data.num_classes, seed=config.seed)
    except ValueError as exc:
        raise ConfigError("model", f"{config.model!r} cannot be used on {config.problem!r} (inputs of shape "
                                   f"{data.input_shape}): {one_line(exc)}") from None
