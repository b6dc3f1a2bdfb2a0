"""The report's content, format-free: sections of text, tables and figures (rendered by
:mod:`specct.report.render` as HTML and Markdown)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[str]]
    marked: list[bool] = field(default_factory=list)    # rows shown as real differences
    note: str = ""


@dataclass
class Figure:
    caption: str
    path: Path


@dataclass
class Section:
    title: str
    text: str = ""
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)   # shown side by side
    # a grid of figures (rows: systems, columns: corpora); a str cell says why it holds no figure
    grid: list[list[Figure | str]] = field(default_factory=list)
    grid_header: list[str] = field(default_factory=list)
    grid_rows: list[str] = field(default_factory=list)
    code: str = ""
    verdict: bool = False        # the paragraph that opens the report (id="verdict")

    @property
    def empty(self) -> bool:
        return not (self.text or self.tables or self.figures or self.grid or self.code)
