"""Playground views for the tour's chapters: URL hashes that open each chapter's setting."""

from __future__ import annotations

from typing import Any

Run = tuple[str, dict[str, float]]

# chapter key -> (surface, surface params and noise, runs (optimizer, hyperparameters; "steps" included))
CHAPTER_VIEWS: dict[str, tuple[str, dict[str, float], list[Run]]] = {
    "zigzag": ("valley", {"kappa": 100}, [("sgd", {"lr": 1.9, "steps": 150}), ("sgd", {"lr": 0.5, "steps": 150})]),
    "minibatch": ("valley", {"kappa": 100, "sigma": 0.3},
                  [("sgd", {"lr": 0.5, "steps": 150}), ("sgd", {"lr": 0.05, "steps": 150})]),
    "minima": ("narrow_wide", {}, [("sgd", {"lr": 0.02, "steps": 300}),
                                   ("momentum", {"lr": 0.1, "mu": 0.9, "steps": 300})]),
    "saddle": ("saddle_bounded", {}, [("sgd", {"lr": 0.05, "steps": 100}), ("momentum", {"lr": 0.05, "steps": 100}),
                                      ("adam", {"lr": 0.05, "steps": 100}), ("newton", {"lr": 1, "steps": 20})]),
    "momentum": ("valley", {"kappa": 100}, [("sgd", {"lr": 1.98, "steps": 150}),
                                            ("momentum", {"lr": 3.3, "mu": 0.67, "steps": 150})]),
    "nesterov": ("valley", {"kappa": 100}, [("momentum", {"lr": 1, "mu": 0.9, "steps": 150}),
                                            ("nesterov", {"lr": 1, "mu": 0.9, "steps": 150})]),
    "adagrad": ("long_valley", {}, [("adagrad", {"lr": 0.5, "steps": 300}), ("rmsprop", {"lr": 0.05, "steps": 300})]),
    "rmsprop": ("valley", {"kappa": 100, "angle_deg": 45}, [("sgd", {"lr": 1.9, "steps": 150}),
                                                            ("rmsprop", {"lr": 0.05, "steps": 150})]),
    "adam": ("rosenbrock", {}, [("adam", {"lr": 0.05, "steps": 500}),
                                ("adam", {"lr": 0.05, "bias_correction": 0, "steps": 500})]),
    "schedules": ("valley", {"kappa": 100, "sigma": 0.3}, [("sgd", {"lr": 0.5, "steps": 300}),
                                                           ("sgd", {"lr": 0.05, "steps": 300})]),
    "second_order": ("rosenbrock", {}, [("newton", {"lr": 1, "steps": 20}), ("lbfgs", {"lr": 1, "steps": 100}),
                                        ("adam", {"lr": 0.05, "steps": 500})]),
    "digits": ("valley", {}, [("momentum", {"lr": 0.1, "mu": 0.9, "steps": 100}), ("adam", {"lr": 0.3, "steps": 100})]),
    # The playground has no Shampoo, SOAP or Muon: the tilted valley with the per-coordinate Adam beside the
    # methods that rotate (L-BFGS, Newton) and momentum, which rotation does not slow either.
    "beyond": ("valley", {"kappa": 100, "angle_deg": 45}, [("adam", {"lr": 0.05, "steps": 150}),
                                                           ("momentum", {"lr": 1, "mu": 0.9, "steps": 150}),
                                                           ("lbfgs", {"lr": 1, "steps": 30}),
                                                           ("newton", {"lr": 1, "steps": 5})]),
}


def _number(value: Any) -> str:
    return repr(float(value)).removesuffix(".0") if float(value) == int(value) else repr(float(value))


def chapter_hash(key: str) -> str:
    """The playground URL hash (``#surface=...&run1=...``) of tour chapter ``key``; ValueError if unknown."""
    if key not in CHAPTER_VIEWS:
        raise ValueError(f"unknown chapter {key!r}; chapters with a playground view: {', '.join(CHAPTER_VIEWS)}")
    surface, settings, runs = CHAPTER_VIEWS[key]
    parts = [f"surface={surface}"] + [f"{name}={_number(value)}" for name, value in settings.items()]
    for index, (optimizer, hyper) in enumerate(runs, start=1):
        fields = [optimizer] + [f"{name}:{_number(value)}" for name, value in hyper.items()]
        parts.append(f"run{index}={','.join(fields)}")
    return "#" + "&".join(parts)
