"""The report's two renderings: ``report.html`` (one self-contained file) and ``report.md``.

Both take the format-free sections of :mod:`specct.report.document`. The HTML holds every figure as a
``data:`` URI and its style inline, no script and nothing fetched; every text (a system's or a
corpus's name among them) is escaped, so a name holding markup shows as text.
"""
from __future__ import annotations

import base64
import html
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from .content import Figure, Section, Table

# --------------------------------------------------------------------------- HTML

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1360px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}th{background:#f3f3f3}
tr.real td{background:#e6f4e6;font-weight:bold}
caption{caption-side:top;text-align:left;font-style:italic;padding:.3em 0}
.row{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
figure{margin:0}figure img{max-width:100%;height:auto;border:1px solid #eee}
.wide{overflow-x:auto}.grid figure img{max-width:none}
figcaption{font-size:.85em;color:#555}
pre{background:#f7f7f7;padding:1em;overflow-x:auto;font-size:.8em;white-space:pre-wrap}
.missing{color:#999;font-style:italic}
.verdict{font-size:1.05em;background:#f5f8ff;border-left:4px solid #36c;padding:.6em 1em}
"""


# A figure is shown at this many CSS px per inch of the figure (whatever its dpi): its text keeps
# the size it was drawn at (plots.NUMBER_PT, 10 pt, is 12 px); the 300 dpi file stays for papers.
PAGE_PX_PER_INCH = 88


def shown_width(path: Path) -> int:
    """The CSS width of a figure on the page: its width in inches (pixels over the PNG's dpi) at
    :data:`PAGE_PX_PER_INCH`."""
    from PIL import Image

    with Image.open(path) as image:
        dpi = float((image.info.get("dpi") or (96,))[0]) or 96.0
        return round(image.width / dpi * PAGE_PX_PER_INCH)


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _html_table(table: Table) -> str:
    e = html.escape
    out = ["<table>"]
    if table.title:
        out.append(f"<caption>{e(table.title)}</caption>")
    out.append("<thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in table.header) + "</tr></thead><tbody>")
    for i, row in enumerate(table.rows):
        marked = i < len(table.marked) and table.marked[i]
        opening = '<tr class="real">' if marked else "<tr>"
        out.append(opening + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _html_figure(figure: Figure) -> str:
    e = html.escape
    return (f'<figure><img alt="{e(figure.caption)}" src="{data_uri(figure.path)}" '
            f'style="width:{shown_width(figure.path)}px"><figcaption>{e(figure.caption)}</figcaption></figure>')


def render_html(title: str, sections: Sequence[Section]) -> str:
    e = html.escape
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = [f"<h1>{e(title)}</h1>"]   # the verdict comes first; when and by what, at the end
    for section in sections:
        body.append(f"<section><h2>{e(section.title)}</h2>")
        if section.text:
            body.append(f'<p id="verdict" class="verdict">{e(section.text)}</p>' if section.verdict
                        else f"<p>{e(section.text)}</p>")
        if section.figures:
            body.append('<div class="row">' + "".join(_html_figure(f) for f in section.figures) + "</div>")
        if section.grid:
            # each row's name above its figures, not beside them: the page's width goes to the figures
            body.append('<div class="wide"><table class="grid"><thead><tr>'
                        + "".join(f"<th>{e(h)}</th>" for h in section.grid_header) + "</tr></thead><tbody>")
            for name, row in zip(section.grid_rows, section.grid):
                cells = "".join(f'<td class="missing">{e(f)}</td>' if isinstance(f, str)
                                else f"<td>{_html_figure(f)}</td>" for f in row)
                body.append(f'<tr><th colspan="{len(row)}">{e(name)}</th></tr><tr>{cells}</tr>')
            body.append("</tbody></table></div>")
        body.extend(_html_table(t) for t in section.tables)
        if section.code:
            body.append(f"<pre>{e(section.code)}</pre>")
        body.append("</section>")
    body.append(f'<p class="missing">Report written {stamp} by specct\'s report.py.</p>')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{e(title)}</title><style>{STYLE}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")


# --------------------------------------------------------------------------- Markdown

def _md_text(value) -> str:
    """Text as Markdown shows it: markup in a name is not HTML to a Markdown viewer either. Only what a
    viewer would read as markup is escaped (a tag's ``<``, an entity's ``&``), so ``p < 0.05`` stays as written."""
    text = re.sub(r"&(?=#?\w+;)", "&amp;", str(value))
    return re.sub(r"<(?=[A-Za-z/!?])", "&lt;", text)


def _md_cell(value: str) -> str:
    return _md_text(value).replace("|", "\\|").replace("\n", " ")


def _md_table(table: Table) -> str:
    lines = [f"*{_md_text(table.title)}*", ""] if table.title else []
    lines.append("| " + " | ".join(_md_cell(h) for h in table.header) + " |")
    lines.append("|" + "---|" * len(table.header))
    for i, row in enumerate(table.rows):
        marked = i < len(table.marked) and table.marked[i]
        cells = [f"**{_md_cell(c)}**" if marked and c else _md_cell(c) for c in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_markdown(title: str, sections: Sequence[Section], folder: Path) -> str:
    def link(figure: Figure) -> str:
        try:
            target = figure.path.relative_to(folder)
        except ValueError:
            target = figure.path
        return f"![{_md_text(figure.caption)}]({target.as_posix()})"

    out = [f"# {_md_text(title)}", ""]
    for section in sections:
        out += [f"## {_md_text(section.title)}", ""]
        if section.text:
            out += [_md_text(section.text), ""]
        for table in section.tables:
            out += [_md_table(table), ""]
        for figure in section.figures:
            out += [link(figure), ""]
        for name, row in zip(section.grid_rows, section.grid):
            out += [f"{_md_text(name)}: " + " ".join(link(f) for f in row if isinstance(f, Figure)), ""]
        if section.code:
            out += ["```", section.code, "```", ""]
    return "\n".join(out)


