"""The playground in headless Chromium: its runs equal inertia's Python runs, offline, one file, live.

One Chromium session serves every check. The parity test drives the page for every optimizer on
every surface and compares its trajectories with :func:`python_run` (inertia's optimizers in float64):
equal to 1e-10 relative over 100 steps, or over the first 20 steps where the library's own run
amplifies rounding (it diverges, or a 1e-13 change of the start grows by more than 1e5: then only the
steps before that growth passes 1e5, and before a divergence, are compared); those runs are listed in
the test's output.
"""

from __future__ import annotations

import io
import json
import re
import statistics

import numpy as np
import pytest
from PIL import Image

from inertia.lab.browser_session import BrowserSession
from inertia.lab.playground import surface_config, write_playground
from inertia.lab.playground.presets import CHAPTER_VIEWS, chapter_hash
from inertia.lab.playground.reference import DEFAULTS, OPTIMIZER_NAMES, python_run

STEPS, SHORT_STEPS, TOLERANCE = 100, 20, 1e-10
# every optimizer, plus Adam without bias correction
CONFIGS = [(name, {}) for name in OPTIMIZER_NAMES] + [("adam", {"bias_correction": 0})]
# hyperparameters away from the defaults (beta1 < 0.5 takes torch.lerp's other branch)
VARIANTS = [("momentum", {"mu": 0.5}), ("nesterov", {"mu": 0.99}), ("adagrad", {"eps": 1e-3}),
            ("rmsprop", {"alpha": 0.9, "eps": 1e-4}), ("adam", {"beta1": 0.3, "beta2": 0.95, "eps": 1e-3}),
            ("adamw", {"beta1": 0.6, "weight_decay": 0.1}), ("lbfgs", {"lr": 0.5, "history": 3}),
            ("newton", {"lr": 0.7, "damping": 0.5})]


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    out = tmp_path_factory.mktemp("playground")
    return {lang: write_playground(out / lang, lang=lang) for lang in ("en", "ko")}


@pytest.fixture(scope="module")
def browser(chromium):
    with BrowserSession(chromium) as session:
        yield session


@pytest.fixture(scope="module")
def page(browser, pages):
    return browser.open(pages["en"])


def page_runs(page, surface, configs, sigma=0.0):
    """Set a view with ``configs`` on ``surface`` (defaults of the page) and return (state, runs)."""
    names = json.dumps([name for name, _ in configs])
    state = page.evaluate(f"InertiaState.defaultState(PLAYGROUND_CONFIG, {json.dumps(surface)}, {names})")
    for run, (_, extra) in zip(state["runs"], configs, strict=True):
        run["hp"].update(extra)
        run["steps"] = STEPS
    state["sigma"] = sigma
    page.evaluate(f"playground.setState({json.dumps(state)})")
    return state, page.evaluate("playground.runs()"), page.evaluate("playground.noise()")


def relative_difference(js: np.ndarray, py: np.ndarray) -> float:
    """max |js - py| over the run, relative to the run's largest coordinate; inf if finiteness differs."""
    if not np.array_equal(np.isfinite(js), np.isfinite(py)):
        return float("inf")
    finite = np.isfinite(py).all(axis=1)
    scale = float(np.abs(py[finite]).max()) or 1.0
    return float(np.abs(js[finite] - py[finite]).max()) / scale


def amplifies_rounding(surface, state, run, noise) -> tuple[str, int] | None:
    """Why the library's run cannot be compared at rounding level over 100 steps, and how many
    steps can be (at most 20; before a divergence leaves the window by a factor 1e6), or None."""
    reference = python_run(surface, state["params"], run["opt"], run["hp"], state["start"], STEPS, noise)
    window = np.abs(np.array(surface_config()[surface]["window"])).max()
    inside = np.isfinite(reference).all(axis=1) & (np.abs(reference).max(axis=1) <= 1e6 * window)
    if not inside.all():
        first_out = int(np.argmin(inside))
        return f"diverges (leaves the window by 1e6 at step {first_out})", min(SHORT_STEPS, first_out - 1)
    delta = 1e-13 * max(1.0, float(np.abs(reference).max()))
    moved = python_run(surface, state["params"], run["opt"], run["hp"],
                       [state["start"][0] + delta, state["start"][1] + delta], STEPS, noise)
    growth = np.maximum.accumulate(np.abs(moved - reference).max(axis=1)) / delta
    if growth[-1] <= 1e5:
        return None
    stable = int(np.argmax(growth > 1e5)) - 1  # the last step where rounding cannot have grown past 1e5x
    return f"chaotic (a 1e-13 change of the start grows {growth[-1]:.2g}x)", min(SHORT_STEPS, stable)


def test_trajectories_equal_the_library_for_every_optimizer_and_surface(page, capsys):
    worst, worst_label, short = 0.0, "", []
    cases = [(surface, 0.0, CONFIGS) for surface in surface_config()]
    cases += [("valley", 0.5, CONFIGS), ("rosenbrock", 0.3, CONFIGS), ("himmelblau", 0.0, VARIANTS),
              ("narrow_wide", 0.0, VARIANTS), ("beale", 0.2, VARIANTS)]
    for surface, sigma, configs in cases:
        for first in range(0, len(configs), 4):
            state, runs, noise = page_runs(page, surface, configs[first:first + 4], sigma)
            assert (noise is None) == (sigma == 0.0)
            for run in runs:
                js = np.array(run["xs"], dtype=np.float64)
                py = python_run(surface, state["params"], run["opt"], run["hp"], state["start"], STEPS, noise)
                difference = relative_difference(js, py)
                label = f"{surface} sigma={sigma} {run['opt']} {run['hp']}"
                if difference > TOLERANCE:
                    reason = amplifies_rounding(surface, state, run, noise)
                    assert reason is not None, f"{label}: relative difference {difference:.3g} over {STEPS} steps"
                    (why, compared) = reason
                    difference = relative_difference(js[:compared + 1], py[:compared + 1])
                    short.append(f"{label}: {why}; first {compared} steps differ by {difference:.2g}")
                    assert difference <= TOLERANCE, short[-1]
                if difference >= worst:
                    worst, worst_label = difference, label
    note = (f"\nplayground parity: largest relative difference {worst:.3g} ({worst_label}); compared over "
            f"{SHORT_STEPS} steps or fewer:\n  " + "\n  ".join(short or ["none"]))
    print(note)  # in the report with -rP (also under xdist)
    with capsys.disabled():
        print(note)
    assert worst <= TOLERANCE


def test_the_page_uses_the_defaults_of_the_library_runner(page):
    assert page.evaluate("InertiaOptim.DEFAULTS") == DEFAULTS
    with pytest.raises(RuntimeError, match="javascript error: ReferenceError: noSuchName"):
        page.evaluate("noSuchName()")


def test_the_default_view_shows_the_valley_with_momentum_and_adam(page):
    page.evaluate("playground.setHash('')")
    state = page.evaluate("playground.getState()")
    assert state["surface"] == "valley" and [r["opt"] for r in state["runs"]] == ["momentum", "adam"]
    image = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    box = page.evaluate("(() => { const r = document.getElementById('map').getBoundingClientRect();"
                        " return [r.left, r.top, r.right, r.bottom].map(Math.round); })()")
    pixels = np.asarray(image.crop(tuple(box))).reshape(-1, 3).astype(int)

    def count(rgb):
        return int((np.abs(pixels - np.array(rgb)).sum(axis=1) < 40).sum())

    assert count((0x1F, 0x77, 0xB4)) > 100, "no momentum (blue) trajectory on the map"
    assert count((0xD6, 0x27, 0x28)) > 100, "no Adam (red) trajectory on the map"
    assert count((255, 215, 0)) > 20, "no minimum (gold star) on the map"


def test_redraw_of_four_runs_of_500_steps_after_a_slider_change(page, capsys):
    configs = [("momentum", {}), ("adam", {}), ("rmsprop", {}), ("nesterov", {})]
    page_runs(page, "valley", configs)
    page.evaluate("(() => { const s = playground.getState(); s.runs.forEach(r => { r.steps = 500; });"
                  " playground.setState(s); })()")
    times = page.evaluate("""(() => {
        const slider = document.querySelector('.run-panel input[data-param=lr]'), out = [];
        for (let k = 0; k < 30; k++) {
          slider.value = String(-2 + 0.02 * k);
          const t0 = performance.now();
          slider.dispatchEvent(new Event('input'));
          out.push(performance.now() - t0);
        }
        return out; })()""")
    assert all(len(run["xs"]) == 501 for run in page.evaluate("playground.runs()"))
    median = statistics.median(times)
    note = (f"\nplayground redraw, 4 optimizers x 500 steps: median {median:.2f} ms, max {max(times):.2f} ms "
            f"over {len(times)} slider changes (target 16 ms)")
    print(note)
    with capsys.disabled():
        print(note)
    assert median < 250.0  # a sanity bound: the figure above is the measurement


def test_a_url_reproduces_the_view_exactly(browser, page, pages):
    page_runs(page, "rosenbrock", [("adam", {"beta1": 0.8}), ("lbfgs", {}), ("newton", {"damping": 0.5})], 0.2)
    page.evaluate("document.getElementById('map').dispatchEvent(new MouseEvent('click', {clientX: 120, clientY: 300}))")
    state, runs, hash_ = page.evaluate("playground.getState()"), page.evaluate("playground.runs()"), \
        page.evaluate("playground.hash()")
    assert page.evaluate("new Promise(done => setTimeout(() => done(location.hash), 400))") == hash_
    again = browser.open(pages["en"], hash_)
    assert again.evaluate("playground.getState()") == state
    assert again.evaluate("playground.runs()") == runs


@pytest.mark.parametrize("chapter", sorted(CHAPTER_VIEWS))
def test_every_tour_chapter_opens_its_view(page, chapter):
    page.evaluate(f"playground.setHash({json.dumps(chapter_hash(chapter))})")
    state = page.evaluate("playground.getState()")
    surface, settings, runs = CHAPTER_VIEWS[chapter]
    assert state["surface"] == surface
    for name, value in settings.items():
        assert (state["sigma"] if name == "sigma" else state["params"][name]) == value
    assert [r["opt"] for r in state["runs"]] == [name for name, _ in runs]
    for run, (_, hyper) in zip(state["runs"], runs, strict=True):
        assert {k: (run["steps"] if k == "steps" else run["hp"][k]) for k in hyper} == hyper


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_page_is_one_offline_file_under_2_mb(browser, pages, lang):
    size = pages[lang].stat().st_size
    assert size < 2 * 1024 * 1024, f"{lang} page is {size} bytes"
    opened = browser.open(pages[lang], offline=True)
    assert opened.evaluate("playground.runs().length") == 2
    outside = [url[:60] for url in opened.requests if not url.startswith(("file:", "data:"))]
    assert outside == [] and opened.console_errors == []


HANGUL = re.compile("[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]")
TEXT_NODES = "h1, h2, p, figcaption, .verdict, a, th, td, .name, #theory span, footer"


def hangul_fallbacks(opened, selector=TEXT_NODES) -> list[str]:
    """Texts with Hangul that Chromium drew (partly) without the embedded font: a glyph fell back."""
    texts = opened.evaluate(f"Array.from(document.querySelectorAll({json.dumps(selector)}))"
                            ".map(e => Array.from(e.childNodes).filter(n => n.nodeType === 3)"
                            ".map(n => n.textContent).join(''))")
    fonts = opened.platform_fonts(selector)
    assert len(texts) == len(fonts) and texts
    bad = []
    for text, used in zip(texts, fonts, strict=True):
        custom = sum(font["glyphCount"] for font in used if font["isCustomFont"])
        if len(HANGUL.findall(text)) > custom:
            bad.append(f"{text[:30]!r}: {used}")
    return bad


def canvas_uses_the_font(opened, text) -> bool:
    """Hangul drawn on a canvas with the embedded font differs from the same text in a missing font."""
    return opened.evaluate(f"""document.fonts.load('20px InertiaHangul', {json.dumps(text)}).then(() => {{
        const c = document.createElement('canvas'); c.width = 400; c.height = 40;
        const ctx = c.getContext('2d');
        const draw = (font) => {{ ctx.clearRect(0, 0, 400, 40); ctx.font = font; ctx.fillText({json.dumps(text)}, 2, 30);
          return Array.from(ctx.getImageData(0, 0, 400, 40).data).join(','); }};
        return draw('20px InertiaHangul') !== draw('20px NoSuchFontAnywhere'); }})""")


def test_korean_playground_and_tour_draw_every_hangul_glyph_with_the_embedded_font(browser, pages, tmp_path):
    from inertia.lab.tour import compute_chapters, find_chapter
    from inertia.lab.tour.render import render_tour

    playground = browser.open(pages["ko"])
    assert playground.evaluate("document.documentElement.lang") == "ko"
    assert hangul_fallbacks(playground) == []
    assert canvas_uses_the_font(playground, "스텝에 따른 손실")
    results = compute_chapters(lang="ko", progress=False, chapters=[find_chapter("momentum")])
    tour = browser.open(render_tour(results, tmp_path / "tour", lang="ko"))
    assert hangul_fallbacks(tour) == [] and tour.console_errors == []
    links = tour.evaluate("Array.from(document.querySelectorAll('p.links a')).map(a => a.getAttribute('href'))")
    assert links[0] == "playground.html" and links[1].startswith("playground.html#surface=valley")
    # the check sees a fallback: the English page has no Korean font, so its Hangul falls back
    english = browser.open(pages["en"])
    english.evaluate("document.querySelector('h1').textContent = '놀이터'")
    assert len(hangul_fallbacks(english, "h1")) == 1


def companion_radius(matrix) -> float:
    return float(np.abs(np.linalg.eigvals(np.array(matrix))).max())


def test_theory_overlay_matches_closed_forms_and_the_run_on_screen(page):
    lmax, lmin, mu, lr = 1.0, 0.01, 0.6, 0.7
    limits = page.evaluate(f"InertiaTheory.limits({{lmax: {lmax}, lmin: {lmin}}}, {mu})")
    root = np.sqrt(lmax / lmin)
    assert limits["gd"] == pytest.approx(2 / lmax) and limits["momentum"] == pytest.approx(2 * (1 + mu) / lmax)
    assert limits["gohLr"] == pytest.approx((2 / (np.sqrt(lmax) + np.sqrt(lmin))) ** 2)
    assert limits["gohMu"] == pytest.approx(((root - 1) / (root + 1)) ** 2)
    assert limits["gohRate"] == pytest.approx((root - 1) / (root + 1))
    for name, matrix in {  # the iteration on one eigen-direction (x_t, x_{t-1}) -> (x_{t+1}, x_t)
        "sgd": lambda lam: [[1 - lr * lam, 0], [1, 0]],
        "momentum": lambda lam: [[1 + mu - lr * lam, -mu], [1, 0]],
        "nesterov": lambda lam: [[(1 + mu) * (1 - lr * lam), -mu * (1 - lr * lam)], [1, 0]],
    }.items():
        expected = max(companion_radius(matrix(lam)) for lam in (lmax, lmin))
        predicted = page.evaluate(f"InertiaTheory.predictedRate('{name}', {{lr: {lr}, mu: {mu}}}, "
                                  f"{{lmax: {lmax}, lmin: {lmin}}})")
        assert predicted == pytest.approx(expected, rel=1e-12), name
    page.evaluate("playground.setHash('#surface=valley&kappa=100&run1=sgd,lr:1.5,steps:400')")
    text = page.evaluate("document.getElementById('theory').innerText")
    xs = np.array(page.evaluate("playground.runs()")[0]["xs"])
    measured = (np.linalg.norm(xs[400]) / np.linalg.norm(xs[200])) ** (1 / 200)
    assert measured == pytest.approx(1 - 1.5 / 100, rel=1e-6)  # the slowest mode of GD
    assert "0.985" in text and "2(1+μ)/λ_max" in text
