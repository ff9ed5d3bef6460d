"""Every chapter's verdict rules on hand-made measurements: data that agrees with the notes gives the supporting
sentences, data that contradicts them the contradicting ones, with the exact words and numbers."""

from __future__ import annotations

import copy

import pytest

import inertia.lab.tour as tour
from inertia.lab.tour import ch_beyond
from inertia.lab.tour.text import text, verdict_text


def _saddle_run(escape: int, stall: int = 0, escaped: bool = True) -> dict:
    return {"escape": escape, "escaped": escaped, "stall": stall, "lr": 0.1, "final": -1.0}


def _summary(overshoot: float, hit: int | None, lr: float = 0.9) -> dict:
    return {"lr": lr, "overshoot": overshoot, "hit": hit, "hit_or_budget": 150 if hit is None else hit, "flips": 10,
            "final": 1e-3}


def _valley(overshoot: float, largest: float) -> dict:
    return {"overshoot": overshoot, "path_ratio": 1.5, "lr": 0.3, "max_overshoot": largest, "max_overshoot_lr": 1.9}


def _adam(unc_first: float, unc_final: float, adaptive: float) -> dict:
    rotation = {name: {"slowdown": adaptive, "aligned": 9, "rotated": 72} for name in ("AdaGrad", "RMSprop", "Adam")}
    rotation["Momentum"] = {"slowdown": 1.0, "aligned": 50, "rotated": 50}
    return {"predicted": 3.16, "early": 50, "lr": 0.1, "rotation": rotation,
            "corrected": {"first": 1.0, "final": 0.01, "max_early": 1.0, "peak_loss": 20.0},
            "uncorrected": {"first": unc_first, "final": unc_final, "max_early": 4.0, "peak_loss": 1e5},
            "uncorrected_tuned": {"lr": 0.3, "final": 0.02}}


def _second_order(newton_nit: int, lbfgs_nfev: int, mini_gap: float) -> dict:
    def run(nit: int, nfev: int, reached: bool = True, nhvp: int = 0) -> dict:
        return {"nit": nit, "nfev": nfev, "reached": reached, "nhvp": nhvp, "lr": None, "gap": 0.0}

    problem = {"lbfgs": run(30, lbfgs_nfev), "newton": run(newton_nit, newton_nit, nhvp=40),
               "sgd": run(200, 200, False), "momentum": run(150, 150), "adam": run(120, 120)}
    return {"problems": {"rosenbrock": problem},
            "minibatch": {"batch": 64, "steps": 120, "mini_gap": mini_gap, "full_gap": 1e-9, "adam_gap": 1e-3}}


def _schedules(decayed: float, plateau: float, decays: list[int]) -> dict:
    measured = {name: {"final": decayed} for name in ("step", "exponential", "inverse_time")}
    measured.update(constant={"final": 1e-3}, plateau={"final": plateau, "decays": decays})
    return measured


def _zigzag(sgd_flips: int, gd_flips: int) -> dict:
    return {"steps": 150, "sgd_flips": sgd_flips, "sgd_path_ratio": 1.1, "sgd_shallow_flips": 0, "gd_lr": 1.9,
            "gd_flips": gd_flips, "cautious_lr": 0.5, "cautious_flips": 0, "cautious_final": 0.07, "gd_final": 1e-3}


def _digits(sgd_loss: float, adam_acc: float) -> dict:
    return {"epochs": 6, "runs": {"SGD": {"train_loss": sgd_loss, "test_acc": 0.95},
                                  "Momentum": {"train_loss": 0.013, "test_acc": 0.97},
                                  "Adam": {"train_loss": 0.004, "test_acc": adam_acc}}}


def _adagrad(shrink: float, first_half: float, tuned_final: float) -> dict:
    return {"early": 10, "lr": 0.1,
            "adagrad": {"step_early": 0.03, "step_last": 0.003, "shrink": shrink, "first_half": first_half,
                        "second_half": 1.0, "final": 4.0},
            "rmsprop": {"step_early": 0.3, "step_last": 0.6, "shrink": 0.5, "final": 1e-9},
            "adagrad_tuned": {"lr": 1.0, "final": tuned_final}, "rmsprop_tuned": {"lr": 0.1, "final": 1e-9}}


def _rmsprop(step_last: float, rms_overshoot: float, rms_largest: float) -> dict:
    return {"early": 10, "steps": 200, "lr": 0.1, "adagrad": {"step_early": 0.03, "step_last": 0.003},
            "rmsprop": {"step_early": 0.3, "step_last": step_last}, "momentum": _valley(14.6, 28.1),
            "rmsprop_valley": _valley(rms_overshoot, rms_largest)}


def _minima(gd_missed: float, momentum_missed: float, momentum_narrow: float, high_dim_minima: float) -> dict:
    return {"starts": 100, "gd_missed": gd_missed, "momentum_missed": momentum_missed, "sgd_missed": 50.0,
            "adam_missed": 40.0, "gd_narrow": 40.0, "momentum_narrow": momentum_narrow,
            "census": {1: {"minimum": 0.5}, 32: {"minimum": high_dim_minima}}}


def _nesterov(ratio: float | None, nesterov_overshoot: float) -> dict:
    return {"median_ratio": ratio, "matched": 5, "min_ratio": ratio, "max_ratio": ratio,
            "nesterov": _summary(nesterov_overshoot, 30, lr=0.7), "momentum": _summary(12.0, 40)}


def _beyond(adam_rotated: int, others_rotated: int) -> dict:
    def method(rotated: int) -> dict:
        return {"valley": {"0": 10, "22.5": rotated, "45": rotated}, "quad": {"aligned": 100, "rotated": 10 * rotated},
                "valley_lr": [0.1, 0.1, 0.1], "quad_lr": [0.1, 0.1], "ms_per_step": 0.1, "bytes_per_param": 8.0}

    methods = {name: method(others_rotated) for name in ("SGD", "Momentum", "Shampoo", "SOAP", "Muon", "L-BFGS",
                                                         "Newton")}
    methods["Adam"] = method(adam_rotated)
    return {"budget": 150, "quad_budget": 300, "methods": methods,
            "muon": {"cos_gradient": 1.0, "cos_sign": 0.7, "length": 0.7}}


# chapter key -> (measurements agreeing with the notes, measurements contradicting them)
AGREE, DISAGREE = 0, 1
HAND_MADE = {
    "zigzag": (_zigzag(sgd_flips=60, gd_flips=2), _zigzag(sgd_flips=3, gd_flips=150)),
    "minibatch": ({"batch_sizes": [2, 512], "ratio": 50.0, "spearman": 1.0, "b2": {"steep_share": 0.9}},
                  {"batch_sizes": [2, 512], "ratio": 1.1, "spearman": 0.2, "b2": {"steep_share": 0.2}}),
    "minima": (_minima(80.0, 30.0, momentum_narrow=10.0, high_dim_minima=0.0),
               _minima(20.0, 18.0, momentum_narrow=50.0, high_dim_minima=0.3)),
    "saddle": ({"gd": _saddle_run(100, stall=80), "momentum": _saddle_run(20), "sgd": _saddle_run(90),
                "adam": _saddle_run(2), "census": {2: {"saddle": 0.7}, 32: {"saddle": 1.0}}},
               {"gd": _saddle_run(20, stall=2), "momentum": _saddle_run(25), "sgd": _saddle_run(5),
                "adam": _saddle_run(2), "census": {2: {"saddle": 0.7}, 32: {"saddle": 0.5}}}),
    "momentum": ({"steps": 150, "target": 1e-3, "gd": _summary(0.0, 120), "momentum": _summary(20.0, 50)},
                 {"steps": 150, "target": 1e-3, "gd": _summary(0.0, 80), "momentum": _summary(2.0, None)}),
    "nesterov": (_nesterov(0.5, 5.0), _nesterov(1.5, 0.0)),
    "adagrad": (_adagrad(10.0, first_half=2.0, tuned_final=1.0), _adagrad(1.1, first_half=0.5, tuned_final=1e-12)),
    "rmsprop": (_rmsprop(0.6, rms_overshoot=0.0, rms_largest=5.0), _rmsprop(0.03, rms_overshoot=20.0, rms_largest=5.0)),
    "adam": (_adam(3.16, 5.0, adaptive=8.0), _adam(1.1, 0.02, adaptive=1.2)),
    "schedules": (_schedules(5e-4, 8e-4, [50]), _schedules(2e-3, 3e-3, [])),
    "second_order": (_second_order(10, 40, mini_gap=1e-3), _second_order(50, 400, mini_gap=1e-9)),
    "digits": (_digits(0.07, 0.964), _digits(0.001, 0.90)),
    "beyond": (_beyond(adam_rotated=60, others_rotated=30), _beyond(adam_rotated=12, others_rotated=11)),
}


@pytest.mark.parametrize("key", [chapter.key for chapter in tour.CHAPTERS])
@pytest.mark.parametrize(("case", "outcome"), [(AGREE, "supports"), (DISAGREE, "contradicts")])
def test_every_rule_follows_hand_made_measurements(key, case, outcome):
    """Measurements that agree with the notes give every rule's supporting sentence, contradicting ones the
    contradicting sentence, in both languages."""
    chapter = tour.find_chapter(key)
    verdicts = chapter.verdicts(HAND_MADE[key][case])
    assert [v.template_key for v in verdicts] == [f"{rule.key}.{outcome}" for rule in chapter.rules]
    label = {"supports": "Supports the notes: ", "contradicts": "Contradicts the notes: "}[outcome]
    for verdict in verdicts:
        assert verdict.outcome == outcome
        assert verdict_text(verdict, "en").startswith(label)
        assert verdict_text(verdict, "ko").startswith(text(f"outcome.{outcome}", "ko") + ": ")


@pytest.mark.parametrize(("key", "case", "index", "sentence"), [
    ("zigzag", DISAGREE, 0, "Contradicts the notes: SGD's steep coordinate changed sign in only 3 of 150 steps "
                            "(path 1.1× the straight line, 0 sign changes of x): no zig-zag here."),
    ("zigzag", AGREE, 1, "Supports the notes: Full-batch GD at its tuned lr 1.9 changed the steep coordinate's sign "
                         "only 2 times in 150 steps: without noise it settles the steep axis first and then moves "
                         "along the shallow one (at lr 0.5: 0 sign changes, f = 0.07; tuned: f = 0.001)."),
    ("saddle", DISAGREE, 2, "Contradicts the notes: The notes' SGD runs on noisy mini-batch gradients, and here the "
                            "noise frees it: noisy SGD escaped at step 5 against exact GD's 20 (4× sooner), so the "
                            "vanishing gradient holds exact GD longer than noisy SGD."),
    ("momentum", DISAGREE, 0, "Contradicts the notes: Momentum reached f < 0.001 at step >150, GD at step 80: no "
                              "faster here (steep-axis sign flips 10 against 10)."),
    ("schedules", DISAGREE, 1, "Contradicts the notes: The plateau rule decayed 0 times in the first evaluation run "
                               "(steps -) and ended at 0.003 against 0.001 for the same lr held constant: it did not "
                               "both decay and beat the constant lr here."),
    ("second_order", AGREE, 1, "Supports the notes: Newton needed fewer iterations than L-BFGS on every problem (10, "
                               "against L-BFGS's 30), each paid with Hessian-vector products (40 in total): few "
                               "steps, expensive ones."),
    ("digits", DISAGREE, 1, "Contradicts the notes: Adam's test accuracy is 90%, 7 points below the best (Momentum, "
                            "97%): tuned, the default is not the winner here."),
])
def test_hand_made_measurements_give_these_exact_sentences(key, case, index, sentence):
    assert verdict_text(tour.find_chapter(key).verdicts(HAND_MADE[key][case])[index], "en") == sentence


def test_cases_and_mixed_outcomes_have_their_own_sentences():
    """Where one outcome has several wordings, the rule names the case from the numbers."""
    unchecked = dict(HAND_MADE["nesterov"][AGREE], median_ratio=None)
    assert [v.template_key for v in tour.find_chapter("nesterov").verdicts(unchecked)] == ["nesterov.less.none",
                                                                                  "nesterov.still.supports"]
    partly = _rmsprop(0.6, rms_overshoot=0.0, rms_largest=180.0)
    assert [v.outcome for v in tour.find_chapter("rmsprop").verdicts(partly)] == ["supports", "mixed"]
    assert tour.find_chapter("rmsprop").verdicts(partly)[1].template_key == "rmsprop.overshoot.mixed"
    top = _digits(0.07, 0.99)
    assert tour.find_chapter("digits").verdicts(top)[1].template_key == "digits.adam.best"
    assert verdict_text(tour.find_chapter("digits").verdicts(top)[1], "en") == (
        "Supports the notes: Adam's test accuracy is 99%, the highest of the three: a sound default.")


# ---------------------------------------------------------------------------------------- chapter 13
def _verdicts(measured: dict) -> list:
    return tour.find_chapter("beyond").verdicts(measured)


def _with_hits(measured: dict, method: str, problem: str, hits: dict) -> dict:
    changed = copy.deepcopy(measured)
    changed["methods"][method][problem] = hits
    return changed


def test_the_chapter_has_one_rule_for_adam_and_one_per_non_diagonal_method():
    assert [rule.key for rule in tour.find_chapter("beyond").rules] == ["beyond.diagonal"] + ["beyond.rotates"] * len(
        ch_beyond.NON_DIAGONAL)
    assert set(ch_beyond.DIAGONAL).isdisjoint(ch_beyond.NON_DIAGONAL)
    sentences = [verdict_text(v, "en") for v in _verdicts(HAND_MADE["beyond"][DISAGREE])]
    for method, sentence in zip((*ch_beyond.DIAGONAL, *ch_beyond.NON_DIAGONAL), sentences, strict=True):
        assert method in sentence


@pytest.mark.parametrize("index", range(1 + len(ch_beyond.NON_DIAGONAL)))
def test_slowing_one_method_turns_its_verdict_alone(index):
    """Data that contradicts the claim everywhere, then one method slowed on the valley: only its verdict (and
    sentence) turns to supporting the claim."""
    method = (*ch_beyond.DIAGONAL, *ch_beyond.NON_DIAGONAL)[index]
    base = HAND_MADE["beyond"][DISAGREE]
    slowed = _with_hits(base, method, "valley", {"0": 10, "22.5": 11, "45": 80})
    before, after = _verdicts(base), _verdicts(slowed)
    assert [v.outcome for v in before] == ["contradicts"] * len(before)
    assert after[index].outcome == "supports"
    assert verdict_text(after[index], "en") != verdict_text(before[index], "en")
    assert "8×" in verdict_text(after[index], "en")
    assert [v for i, v in enumerate(after) if i != index] == [v for i, v in enumerate(before) if i != index]


def test_the_adam_sentence_quotes_its_numbers():
    verdict = _verdicts(HAND_MADE["beyond"][AGREE])[0]
    assert verdict_text(verdict, "en") == (
        "Supports the notes: Rotating the valley slows Adam 6× (steps: 10 aligned, 60 at the largest tilt) and the "
        "quadratic 6×: at least 2× on a problem, so the notes' claim holds for this per-coordinate method.")


def test_a_method_that_never_reaches_the_target_aligned_gets_no_verdict_either_way():
    base = HAND_MADE["beyond"][AGREE]
    missed = _with_hits(_with_hits(base, "Muon", "valley", {"0": None, "22.5": None, "45": None}),
                        "Muon", "quad", {"aligned": None, "rotated": 40})
    verdict = _verdicts(missed)[1 + ch_beyond.NON_DIAGONAL.index("Muon")]
    assert (verdict.outcome, verdict.template_key) == ("mixed", "beyond.rotates.unmeasured")
    assert "no slowdown was measured" in verdict_text(verdict, "en") and ">150" in verdict_text(verdict, "en")


def test_a_miss_on_one_problem_leaves_the_verdict_to_the_other():
    base = HAND_MADE["beyond"][DISAGREE]
    index = 1 + ch_beyond.NON_DIAGONAL.index("Newton")
    one_sided = _with_hits(base, "Newton", "quad", {"aligned": None, "rotated": None})
    assert _verdicts(one_sided)[index].outcome == "contradicts"
    assert "—" in verdict_text(_verdicts(one_sided)[index], "en")
