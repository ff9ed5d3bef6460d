"""Every ``>>>`` example in inertia's docstrings runs and prints what it shows."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import inertia

MODULES = sorted(m.name for m in pkgutil.walk_packages(inertia.__path__, "inertia.")
                 if not m.name.endswith("__main__"))


def _has_examples(name: str) -> bool:
    finder = doctest.DocTestFinder()
    return any(test.examples for test in finder.find(importlib.import_module(name)))


@pytest.mark.parametrize("name", [name for name in MODULES if _has_examples(name)])
def test_docstring_examples_run(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0, f"{name}: {result}"


def test_the_public_optimizers_and_minimize_carry_an_example() -> None:
    for public in (inertia.SGD, inertia.Adagrad, inertia.RMSprop, inertia.Adam, inertia.AdamW, inertia.LBFGS,
                   inertia.Newton, inertia.minimize):
        assert ">>>" in (public.__doc__ or ""), public.__name__
