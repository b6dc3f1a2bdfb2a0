"""``specct report output/loco/<experiment>`` (or ``python report.py ...``): report.html and report.md
of an experiment, from the tables its last collection wrote (:mod:`specct.report.document`). The parser lives
here, apart from the report's libraries, so that ``--help`` answers before pandas or matplotlib load."""
from __future__ import annotations

from typing import Sequence

from ..core.cli import ArgumentParser
from ..core.errors import run_script


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="report.py", description=(
        "Write report.html (self-contained, opens from a file) and report.md of a run_loco.py experiment, "
        "its figures (figures/, 300 dpi PNG and SVG) and results.tex / comparison.tex."))
    parser.add_argument("experiment", help="the experiment folder, output/loco/<experiment>")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    def write() -> None:
        from ..report.document import print_report_paths, write_report

        print_report_paths(write_report(args.experiment))

    return run_script(parser.prog, write)
