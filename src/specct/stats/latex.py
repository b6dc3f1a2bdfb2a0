"""results.csv and comparison.csv as LaTeX tables for a paper (booktabs: ``\\usepackage{booktabs}``).

``write_latex_tables(folder, results, comparison)`` writes ``results.tex`` and ``comparison.tex``
beside the CSVs: one ``table`` environment each, with a caption and a label, ready for ``\\input``.
Every text cell is escaped (a system or corpus name holding ``_``, ``&``, ``%`` or ``<`` prints as
written); the best mean UAR is set in bold, and so are the real differences of the comparison. The
warnings of results.csv's rows (a test set of one class, a class never trained) are notes below the
results table, as in results.md.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from .compare import warning_notes
from ..core.fileio import write_text_atomic

RESULTS_TEX = "results.tex"
COMPARISON_TEX = "comparison.tex"

_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
            "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
            "<": r"\textless{}", ">": r"\textgreater{}"}


def escape(text) -> str:
    """``text`` as LaTeX prints it literally (the special characters escaped)."""
    return "".join(_SPECIAL.get(ch, ch) for ch in str(text))


def _number(value, digits: int = 3, signed: bool = False) -> str:
    if value is None or pd.isna(value):
        return "--"
    return f"{float(value):+.{digits}f}" if signed else f"{float(value):.{digits}f}"


def booktabs(header: Sequence[str], rows: Sequence[Sequence[str]], align: str, caption: str, label: str,
             notes: Sequence[str] = ()) -> str:
    """A ``table`` with a booktabs ``tabular``; ``header`` and ``notes`` (text below the table) are
    escaped here, ``rows`` are LaTeX already."""
    lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{escape(caption)}}}", rf"\label{{{label}}}",
             rf"\begin{{tabular}}{{{align}}}", r"\toprule", " & ".join(escape(h) for h in header) + r" \\",
             r"\midrule"]
    lines += [" & ".join(row) + r" \\" for row in rows]
    lines += [r"\bottomrule", r"\end{tabular}"]
    lines += [r"\par\smallskip{\footnotesize " + escape(note) + r"\par}" for note in notes]
    lines += [r"\end{table}", ""]
    return "\n".join(lines)


def results_latex(results: pd.DataFrame) -> str:
    """UAR with its 95% interval, accuracy and macro-F1 per system and held-out corpus."""
    means = results[results["held_out"] == "mean"]
    best = means["uar"].max() if len(means) else None
    rows = []
    for r in results.to_dict("records"):
        uar = f"{_number(r['uar'])} [{_number(r.get('uar_ci_low'))}, {_number(r.get('uar_ci_high'))}]"
        if r["held_out"] == "mean" and best is not None and r["uar"] == best:
            uar = rf"\textbf{{{uar}}}"
        rows.append([escape(r["system"]), escape(r["held_out"]), str(r["n"]), uar,
                     _number(r.get("accuracy")), _number(r.get("macro_f1"))])
    # the rows whose numbers are not what they seem say so under the table, so a paper does not print them bare
    notes = [f"Warning: {note}" for note in warning_notes(results)]
    return booktabs(["System", "Held-out corpus", "n", "UAR [95% CI]", "Accuracy", "Macro-F1"], rows, "llrlrr",
                    "Leave-one-corpus-out UAR with its 95% bootstrap interval; 'mean' averages the held-out "
                    "corpora (best mean UAR in bold).", "tab:loco-results", notes)


def comparison_latex(comparison: pd.DataFrame) -> str:
    """Each system's UAR difference to the reference, its paired-bootstrap interval and p-value."""
    rows = []
    for r in comparison.to_dict("records"):
        real = bool(r["significant"]) if not isinstance(r["significant"], str) else r["significant"] == "True"
        verdict = ("better" if r["difference"] > 0 else "worse") if real else "tie"
        cells = [escape(r["system"]), escape(r["reference"]), escape(r["held_out"]), str(r["n"]),
                 _number(r["difference"], signed=True),
                 f"[{_number(r['ci_low'], signed=True)}, {_number(r['ci_high'], signed=True)}]",
                 _number(r["p_value"], 4), verdict]
        rows.append([rf"\textbf{{{c}}}" for c in cells] if real else cells)
    return booktabs(["System", "Reference", "Held-out corpus", "n", "UAR difference", "95% CI", "p", "Verdict"],
                    rows, "lllrrlrl",
                    "UAR difference to the reference, paired bootstrap on the same test rows (two-sided); "
                    "real differences (p < 0.05, interval excluding 0) in bold, the others are ties.",
                    "tab:loco-comparison")


def write_latex_tables(folder: str | Path, results: pd.DataFrame | None,
                       comparison: pd.DataFrame | None) -> list[Path]:
    """results.tex and comparison.tex (those with rows) in ``folder``."""
    folder = Path(folder)
    written = []
    if results is not None and not results.empty:
        write_text_atomic(folder / RESULTS_TEX, results_latex(results))
        written.append(folder / RESULTS_TEX)
    if comparison is not None and not comparison.empty:
        write_text_atomic(folder / COMPARISON_TEX, comparison_latex(comparison))
        written.append(folder / COMPARISON_TEX)
    return written
