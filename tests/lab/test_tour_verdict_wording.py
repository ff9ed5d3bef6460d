"""Verdict sentences on contradicting synthetic measurements: the outcome flips and no sentence states
something the numbers do not show."""

from __future__ import annotations

import pytest

from inertia.lab.tour import find_chapter
from inertia.lab.tour.model import Verdict
from inertia.lab.tour.text import fmt, verdict_text

PREFIX = {"supports": ("Supports the notes:", "노트와 일치:"),
          "contradicts": ("Contradicts the notes:", "노트와 반대:"),
          "mixed": ("Partly supports the notes:", "노트와 부분적으로 일치:")}


def _check(verdict: Verdict, outcome: str) -> str:
    """Assert the outcome, its label in both languages and every number quoted; return the English sentence."""
    assert verdict.outcome == outcome, verdict
    english, korean = verdict_text(verdict, "en"), verdict_text(verdict, "ko")
    assert english.startswith(PREFIX[outcome][0]) and korean.startswith(PREFIX[outcome][1])
    for value in verdict.values.values():
        assert fmt(value) in english and fmt(value) in korean
    return english


def _momentum(mom_overshoot: float, gd_overshoot: float, mom_hit: int | None, gd_hit: int | None) -> dict:
    def summary(overshoot: float, hit: int | None) -> dict:
        return {"lr": 0.9, "overshoot": overshoot, "hit": hit, "hit_or_budget": 150 if hit is None else hit,
                "hit_text": f">{150}" if hit is None else hit, "flips": 10, "final": 1e-3}

    return {"steps": 150, "target": 1e-3, "gd": summary(gd_overshoot, gd_hit),
            "momentum": summary(mom_overshoot, mom_hit)}


def test_momentum_overshoot_not_larger_than_gd_is_not_called_absent():
    speed, over = find_chapter("momentum").verdicts(_momentum(30.0, 40.0, mom_hit=None, gd_hit=80))
    _check(speed, "contradicts")
    sentence = _check(over, "contradicts")
    assert "no marked overshoot" not in sentence and "larger than GD's" in sentence
    speed, over = find_chapter("momentum").verdicts(_momentum(14.6, 0.0, mom_hit=51, gd_hit=None))
    _check(speed, "supports")
    faster_but_more_flips = dict(speed.values, mflips=90, gflips=3)  # the speed rule does not compare flips
    assert "보다 적다" not in verdict_text(Verdict("supports", speed.template_key, faster_but_more_flips), "ko")
    _check(over, "supports")


def _adagrad(first_half: float, second_half: float, alr: float, rlr: float) -> dict:
    return {"early": 10, "lr": 0.1,
            "adagrad": {"step_early": 0.03, "step_last": 0.003, "shrink": 10.0, "first_half": first_half,
                        "second_half": second_half, "final": 4.0},
            "rmsprop": {"step_early": 0.3, "step_last": 0.6, "shrink": 0.5, "final": 1e-9},
            "adagrad_tuned": {"lr": alr, "final": 1e-12}, "rmsprop_tuned": {"lr": rlr, "final": 1e-9}}


def test_adagrad_stall_needs_a_slower_second_half_and_tuned_wording_claims_no_larger_lr():
    decay, stall, tuned = find_chapter("adagrad").verdicts(_adagrad(2.0, 0.5, alr=1.0, rlr=0.1))
    _check(decay, "supports")
    assert "only" in _check(stall, "supports")
    _check(tuned, "contradicts")
    _, stall, tuned = find_chapter("adagrad").verdicts(_adagrad(0.5, 2.0, alr=0.01, rlr=0.1))
    assert "it did not stall" in _check(stall, "contradicts")  # ended high but never slowed down
    assert "larger lr" not in _check(tuned, "contradicts")  # AdaGrad's tuned lr is the smaller one here


def _adam(tuned_lr: float, momentum_slowdown: float) -> dict:
    rotation = {name: {"slowdown": 8.0, "aligned": 9, "rotated": 72} for name in ("AdaGrad", "RMSprop", "Adam")}
    rotation["Momentum"] = {"slowdown": momentum_slowdown, "aligned": 50, "rotated": 50}
    return {"predicted": 3.16, "early": 50, "lr": 0.1,
            "corrected": {"first": 1.0, "final": 0.01, "max_early": 1.0, "peak_loss": 20.0},
            "uncorrected": {"first": 3.16, "final": 5.0, "max_early": 4.0, "peak_loss": 1e5},
            "uncorrected_tuned": {"lr": tuned_lr, "final": 0.02}, "rotation": rotation}


def test_adam_wording_does_not_assume_the_tuned_lr_is_smaller_or_the_penalty_absent():
    first, fails, rotation = find_chapter("adam").verdicts(_adam(tuned_lr=0.3, momentum_slowdown=1.0))
    _check(first, "supports")
    assert "smaller lr" not in _check(fails, "supports")  # the uncorrected run's own lr is larger here
    _check(rotation, "supports")
    rotation = find_chapter("adam").verdicts(_adam(tuned_lr=0.3, momentum_slowdown=3.0))[2]
    assert "no clear penalty" not in _check(rotation, "contradicts")  # every method slowed down


def test_plateau_without_a_decay_is_not_said_to_end_above_the_constant():
    measured = {name: {"final": 1e-3} for name in ("step", "exponential", "inverse_time")}
    measured["constant"] = {"final": 2e-3}
    measured["plateau"] = {"final": 1.5e-3, "decays": []}
    decay, plateau = find_chapter("schedules").verdicts(measured)
    _check(decay, "supports")
    sentence = _check(plateau, "contradicts")
    assert "decayed 0 times" in sentence and " but " not in sentence


def test_zigzag_gd_contradiction_claims_nothing_about_the_cautious_run():
    measured = {"steps": 150, "sgd_flips": 60, "sgd_path_ratio": 4.0, "sgd_shallow_flips": 0, "gd_lr": 1.9,
                "gd_flips": 150, "cautious_lr": 0.5, "cautious_flips": 90, "cautious_final": 0.07, "gd_final": 1e-3}
    sentence = _check(find_chapter("zigzag").verdicts(measured)[1], "contradicts")
    assert "settles" not in sentence and "stability limit" not in sentence


def test_saddle_and_minima_wording_for_small_gains():
    def run(escape: int, stall: int = 0) -> dict:
        return {"escape": escape, "escape_text": escape, "escaped": True, "stall": stall}

    saddle = {"gd": run(100, stall=45), "momentum": run(77), "sgd": run(77), "adam": run(2),
              "census": {2: {"saddle": 0.7}, 32: {"saddle": 1.0}}}
    stall, momentum, noise, _ = find_chapter("saddle").verdicts(saddle)
    assert "hardly" not in _check(stall, "contradicts")  # 45% of the steps is not "hardly"
    assert "no quicker" not in _check(momentum, "contradicts")  # 1.3x quicker, below the 1.5x bar
    assert "frees" not in _check(noise, "supports")  # 1.3x sooner, below the 1.5x bar
    minima = {"gd_missed": 60.0, "momentum_missed": 55.0, "sgd_missed": 50.0, "adam_missed": 40.0, "starts": 100,
              "gd_narrow": 10.0, "momentum_narrow": 20.0, "census": {1: {"minimum": 0.005}, 32: {"minimum": 0.0}}}
    trapped, helps, narrow, rare = find_chapter("minima").verdicts(minima)
    _check(trapped, "supports")
    assert "does not escape Rastrigin's minima clearly more often" in _check(helps, "contradicts")
    _check(narrow, "contradicts")
    assert "do not become rare" not in _check(rare, "contradicts")  # already rare in dimension 1


def test_rmsprop_without_any_overshoot_is_not_said_to_keep_one():
    measured = {"early": 10, "steps": 200, "lr": 0.1,
                "adagrad": {"step_early": 0.03, "step_last": 0.003}, "rmsprop": {"step_early": 0.3, "step_last": 0.1},
                "momentum": _valley_run(0.0, 0.9, None), "rmsprop_valley": _valley_run(0.0, 0.1, None)}
    keeps, less = find_chapter("rmsprop").verdicts(measured)
    _check(keeps, "contradicts")
    assert "remove the overshoot" not in _check(less, "contradicts")


def _valley_run(overshoot: float, lr: float, largest: float | None) -> dict:
    return {"overshoot": overshoot, "path_ratio": 1.5, "lr": lr, "max_overshoot": largest,
            "max_overshoot_lr": None if largest is None else 1.9}


@pytest.mark.parametrize(("rms_largest", "outcome"), [(20.0, "supports"), (180.0, "mixed")])
def test_rmsprop_overshoot_at_its_tuned_lr_is_weighed_against_its_largest_one(rms_largest, outcome):
    """Less overshoot than momentum at the tuned lrs supports the notes only if RMSprop's largest overshoot over
    the grid's converging lrs is not above momentum's; otherwise the notes hold only in part."""
    measured = {"early": 10, "steps": 200, "lr": 0.1,
                "adagrad": {"step_early": 0.03, "step_last": 0.003}, "rmsprop": {"step_early": 0.3, "step_last": 0.6},
                "momentum": _valley_run(14.6, 0.99, 28.1), "rmsprop_valley": _valley_run(0.0, 0.14, rms_largest)}
    sentence = _check(find_chapter("rmsprop").verdicts(measured)[1], outcome)
    assert ("but not at every lr" in sentence) == (outcome == "mixed")


def _second_order(newton_nit: int, lbfgs_nfev: int, mini_gap: float) -> dict:
    def run(nit: int, nfev: int, reached: bool = True, nhvp: int = 0) -> dict:
        return {"nit": nit, "nfev": nfev, "reached": reached, "nhvp": nhvp}

    problem = {"lbfgs": run(30, lbfgs_nfev), "newton": run(newton_nit, newton_nit, nhvp=40),
               "sgd": run(200, 200, False), "momentum": run(150, 150), "adam": run(120, 120)}
    return {"problems": {"rosenbrock": problem},
            "minibatch": {"batch": 64, "steps": 120, "mini_gap": mini_gap, "full_gap": 1e-9, "adam_gap": 1e-3}}


def test_second_order_rules_flip_with_the_counts():
    lbfgs, newton, minibatch = find_chapter("second_order").verdicts(_second_order(10, 40, mini_gap=1e-3))
    _check(lbfgs, "supports")
    assert "fewer iterations than L-BFGS" in _check(newton, "supports")
    _check(minibatch, "supports")
    lbfgs, newton, minibatch = find_chapter("second_order").verdicts(_second_order(50, 400, mini_gap=1e-9))
    _check(lbfgs, "contradicts")
    _check(newton, "contradicts")
    _check(minibatch, "contradicts")


@pytest.mark.parametrize(("sgd_loss", "adam_acc", "outcomes"), [
    (0.07, 0.964, ["supports", "supports"]), (0.001, 0.90, ["contradicts", "contradicts"])])
def test_digits_rules_flip_with_the_numbers(sgd_loss, adam_acc, outcomes):
    runs = {"SGD": {"train_loss": sgd_loss, "test_acc": 0.95}, "Momentum": {"train_loss": 0.013, "test_acc": 0.97},
            "Adam": {"train_loss": 0.004, "test_acc": adam_acc}}
    verdicts = find_chapter("digits").verdicts({"epochs": 6, "runs": runs})
    for verdict, outcome in zip(verdicts, outcomes, strict=True):
        _check(verdict, outcome)


def test_digits_adam_at_the_top_is_not_said_to_be_within_zero_points_of_itself():
    runs = {"SGD": {"train_loss": 0.07, "test_acc": 0.95}, "Momentum": {"train_loss": 0.013, "test_acc": 0.96},
            "Adam": {"train_loss": 0.004, "test_acc": 0.97}}
    adam = find_chapter("digits").verdicts({"epochs": 6, "runs": runs})[1]
    assert adam.template_key == "digits.adam.best" and "highest of the three" in _check(adam, "supports")


@pytest.mark.parametrize(("smallest_final", "share", "outcomes"), [
    (1.0, 0.9, ["supports", "supports"]), (1.1e-3, 0.2, ["contradicts", "contradicts"])])
def test_minibatch_rules_flip_with_the_numbers(smallest_final, share, outcomes):
    measured = {"batch_sizes": [2, 512], "ratio": smallest_final / 1e-3, "spearman": 1.0,
                "b2": {"steep_share": share}}
    verdicts = find_chapter("minibatch").verdicts(measured)
    for verdict, outcome in zip(verdicts, outcomes, strict=True):
        _check(verdict, outcome)
