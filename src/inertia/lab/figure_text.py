"""The language of the lab's figure labels: axes, legends and titles in English or Korean.

Inside ``with figure_language("ko"):``, :func:`localize_figure` translates every text of a figure
(whole phrases of :data:`PHRASES_KO`; names such as ``lr=0.1`` or ``step_decay(...)`` stay) and sets
a font list that covers Hangul (DejaVu Sans for Latin, NanumGothic for Hangul, per glyph), so that
matplotlib draws no missing-glyph boxes on a machine without Korean fonts.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
from collections.abc import Iterator

from matplotlib.figure import Figure
from matplotlib.text import Text

from inertia.lab.korean_font import matplotlib_family

LANGS = ("en", "ko")
LATIN_FAMILY = "DejaVu Sans"

# English label phrase -> Korean; matched as whole words, longest first.
PHRASES_KO: dict[str, str] = {
    "y (steep axis)": "y (가파른 축)",
    "overshoot (% of |x_0 - x*|)": "넘침 (|x_0 - x*| 대비 %)",
    "learning-rate sensitivity": "학습률 민감도",
    "learning-rate schedules": "학습률 스케줄",
    "learning rate": "학습률",
    "lr multiplier": "학습률 배수",
    "function evaluations": "함수 계산 횟수",
    "softmax regression, digits": "소프트맥스 회귀, 손글씨 숫자",
    "quadratic": "이차 함수",
    "Rosenbrock": "로젠브록",
    "train loss": "훈련 손실",
    "final loss": "최종 손실",
    "test accuracy (%)": "테스트 정확도 (%)",
    "wall time (s)": "경과 시간 (초)",
    "loss": "손실",
    "step": "스텝",
    "epoch": "에폭",
    "constant": "고정",
    "bias_correction=True": "편향 보정 있음",
    "bias_correction=False": "편향 보정 없음",
    "Momentum": "모멘텀",
    "Nesterov": "네스테로프",
    "Newton": "뉴턴",
}
_PATTERN = re.compile(
    "|".join(f"(?<![\\w]){re.escape(p)}(?![\\w])" for p in sorted(PHRASES_KO, key=len, reverse=True))
)
_LANG: contextvars.ContextVar[str] = contextvars.ContextVar("figure_language", default="en")


def check_lang(lang: str) -> str:
    """Return ``lang`` if figures can be labelled in it, else raise ValueError naming it."""
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}; got {lang!r}")
    return lang


def current_language() -> str:
    """The language set by the innermost :func:`figure_language` (``"en"`` outside any)."""
    return _LANG.get()


@contextlib.contextmanager
def figure_language(lang: str) -> Iterator[None]:
    """Label the figures localized inside the block in ``lang``."""
    token = _LANG.set(check_lang(lang))
    try:
        yield
    finally:
        _LANG.reset(token)


def translate(label: str, lang: str | None = None) -> str:
    """``label`` in ``lang`` (default: the current language): known phrases replaced, the rest kept."""
    if (lang or current_language()) != "ko" or not label:
        return label
    return _PATTERN.sub(lambda match: PHRASES_KO[match.group(0)], label)


def localize_figure(fig: Figure, lang: str | None = None) -> Figure:
    """Translate every text of ``fig`` into ``lang`` (default: the current language) and, for Korean,
    give each text a font list that has Hangul. Returns ``fig``."""
    lang = check_lang(lang or current_language())
    if lang == "en":
        return fig
    families = [LATIN_FAMILY, matplotlib_family()]
    for artist in fig.findobj(Text):
        text = artist.get_text()
        if text and not text.startswith("$"):
            artist.set_text(translate(text, lang))
            artist.set_fontfamily(families)
    return fig
