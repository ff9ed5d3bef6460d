"""HTML rendering of :class:`inertia.io.report.Report` (inline CSS, no scripts; links only to relative paths)."""

from __future__ import annotations

from collections.abc import Sequence

from inertia.io.report_parts import Image, Section, Table, escape, format_cell

STYLE = """
:root { --fg:#1d1f23; --muted:#5b6270; --accent:#2f5bd3; --bg:#ffffff; --panel:#f5f6f8; --line:#dde0e6; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg);
  font: 16px/1.55 system-ui, -apple-system, "Segoe UI", "Noto Sans", "Noto Sans KR", "Apple SD Gothic Neo",
  "Malgun Gothic", sans-serif; }
main { max-width: 980px; margin: 0 auto; padding: 24px 20px 64px; }
h1 { font-size: 1.9em; margin: 0.2em 0 0.4em; }
h2 { font-size: 1.35em; margin: 2.2em 0 0.5em; padding-top: 0.6em; border-top: 1px solid var(--line); }
p { margin: 0.5em 0; }
nav.toc { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 10px 18px; }
nav.toc ol { margin: 0.3em 0; padding-left: 1.4em; }
nav.toc a { color: var(--accent); text-decoration: none; }
figure { margin: 1em 0; text-align: center; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
figcaption { color: var(--muted); font-size: 0.9em; margin-top: 0.3em; }
table { border-collapse: collapse; margin: 1em auto; font-size: 0.92em; font-variant-numeric: tabular-nums; }
caption { caption-side: top; color: var(--muted); padding-bottom: 0.3em; }
th, td { border: 1px solid var(--line); padding: 4px 10px; text-align: right; }
th { background: var(--panel); }
td:first-child, th:first-child { text-align: left; }
.verdict { margin: 1em 0; padding: 10px 14px; border-left: 4px solid var(--accent); background: var(--panel); }
.verdict strong { color: var(--accent); }
p.links a { color: var(--accent); }
footer { margin-top: 3em; color: var(--muted); font-size: 0.85em; }
"""

VERDICT_LABEL = {"en": "Verdict", "ko": "판정"}
CONTENTS_LABEL = {"en": "Contents", "ko": "목차"}


def paragraphs(text: str) -> str:
    """Escape plain text and split it into <p> elements at blank lines."""
    blocks = [block.strip() for block in text.replace("\r\n", "\n").split("\n\n")]
    return "\n".join(f"<p>{escape(block)}</p>" for block in blocks if block)


def render_image(image: Image) -> str:
    """Render one image as a <figure> with a data: URI."""
    caption = f"<figcaption>{escape(image.caption)}</figcaption>" if image.caption else ""
    alt = escape(image.alt or image.caption or "figure")
    return f'<figure><img src="{image.data_uri()}" alt="{alt}">{caption}</figure>'


def render_table(table: Table) -> str:
    """Render one table with escaped cells."""
    caption = f"<caption>{escape(table.caption)}</caption>" if table.caption else ""
    head = "".join(f"<th>{escape(format_cell(h))}</th>" for h in table.headers)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{escape(format_cell(cell))}</td>" for cell in row) + "</tr>"
        for row in table.rows
    )
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>"


def render_section(section: Section, lang: str) -> str:
    """Render one section: heading, text, figures, tables, verdict."""
    parts = [f'<section id="{section.anchor}"><h2>{escape(section.title)}</h2>', paragraphs(section.text)]
    parts += [render_image(image) for image in section.images]
    parts += [render_table(table) for table in section.tables]
    if section.verdict:
        label = VERDICT_LABEL.get(lang, VERDICT_LABEL["en"])
        parts.append(f'<div class="verdict"><strong>{label}:</strong> {escape(section.verdict)}</div>')
    parts.append(render_links(section.links))
    parts.append("</section>")
    return "\n".join(part for part in parts if part)


def render_links(links: list[tuple[str, str]]) -> str:
    """Render ``(label, href)`` pairs as one paragraph of links (empty when there are none)."""
    anchors = " · ".join(f'<a href="{escape(href)}">{escape(label)}</a>' for label, href in links)
    return f'<p class="links">{anchors}</p>' if anchors else ""


def render_toc(sections: Sequence[Section], lang: str) -> str:
    """Render the table of contents (only when there are at least two sections)."""
    if len(sections) < 2:
        return ""
    label = CONTENTS_LABEL.get(lang, CONTENTS_LABEL["en"])
    items = "".join(f'<li><a href="#{s.anchor}">{escape(s.title)}</a></li>' for s in sections)
    return f'<nav class="toc"><strong>{label}</strong><ol>{items}</ol></nav>'


def render_page(title: str, lang: str, intro: str, links: list[tuple[str, str]], style: str,
                sections: Sequence[Section]) -> str:
    """Render the whole page: title, intro paragraphs, links, contents, sections; ``style`` adds CSS."""
    body = "\n".join(render_section(section, lang) for section in sections)
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{escape(lang)}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{STYLE}{style}</style>\n</head>\n<body>\n<main>\n"
        f"<h1>{escape(title)}</h1>\n{paragraphs(intro)}\n{render_links(links)}\n"
        f"{render_toc(sections, lang)}\n{body}\n"
        "<footer>inertia</footer>\n</main>\n</body>\n</html>\n"
    )
