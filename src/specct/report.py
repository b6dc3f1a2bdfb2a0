"""One self-contained report of an experiment of run_loco.py: ``report.html`` and ``report.md``.

``write_report(output/loco/<experiment>)`` renders the tables the experiment's collection wrote
(``run_loco.py`` and ``run_loco.py --collect`` write them; the report never collects) and writes

- ``report.html``: one file, every figure embedded as a ``data:`` URI, the style inline, no script
  and no reference to anything outside the file, so it opens from a disk or a mail attachment
  with no network;
- ``report.md``: the same tables in Markdown (figures linked by relative path), for papers.

Contents: the results table with 95% CIs, the significance table (a difference is marked real only
when the paired test says so; the others are ties), the leave-one-corpus-out heatmap beside the
pairwise matrices, the confusion matrix of every system on every held-out corpus, the training
curves, the speaker-embedding maps, which rows were used (split counts and test files) and whether
any transductive normalisation touched the test audio, and the exact commands and versions.
"""
from __future__ import annotations

import base64
import html
import shlex
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import pandas as pd

from .errors import SpecctError
from .evaluation import CONFUSION_NAME, PERFORMANCE_NAME
from .fileio import write_text_atomic
from .records import read_record
from .loco.experiment import load_experiment, recorded_options
from .loco.results import Collected, read_collected
from .runs import ARGS_NAME, CURVES_NAME

REPORT_HTML = "report.html"
REPORT_MD = "report.md"
FIGURES = "figures"


# --------------------------------------------------------------------------- content, format-free

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
    grid: list[list[Figure | None]] = field(default_factory=list)
    grid_header: list[str] = field(default_factory=list)
    grid_rows: list[str] = field(default_factory=list)
    code: str = ""


def _num(value, digits: int = 3) -> str:
    return "-" if value is None or pd.isna(value) else f"{float(value):.{digits}f}"


def results_section(results: pd.DataFrame | None, comparison: pd.DataFrame | None) -> Section:
    section = Section("Results (leave-one-corpus-out)")
    if results is None or results.empty:
        section.text = "No leave-one-corpus-out job has finished yet."
        return section
    from .compare import results_cells

    header, rows = results_cells(results)
    section.tables.append(Table(
        "Each metric with its 95% bootstrap interval where it has one; 'mean' rows average the held-out "
        "corpora (interval from resampling rows within each corpus)", header, rows))
    if comparison is not None and not comparison.empty:
        rows, marked = [], []
        for r in comparison.itertuples():
            verdict = ("real: better" if r.difference > 0 else "real: worse") if r.significant else "tie"
            rows.append([r.system, r.reference, r.held_out, str(r.n), f"{r.difference:+.3f}",
                         f"{r.ci_low:+.3f} to {r.ci_high:+.3f}", f"{r.p_value:.4f}", verdict])
            marked.append(bool(r.significant))
        section.tables.append(Table(
            "Significance: UAR difference to the reference, paired bootstrap on the same test rows "
            "(two-sided; real when p < 0.05 and the 95% interval excludes 0, otherwise a tie)",
            ["system", "reference", "held-out corpus", "n", "UAR difference", "95% CI", "p", "verdict"],
            rows, marked))
    else:
        section.text = "One system only: no comparison."
    return section


def heatmap_section(folder: Path, systems: Sequence[str], pairwise_summary: pd.DataFrame | None,
                    pairwise: pd.DataFrame | None) -> Section:
    section = Section("Two views of the same corpora: leave-one-corpus-out and the one-to-one matrix")
    if (folder / "heatmap.png").is_file():
        section.figures.append(Figure("leave-one-corpus-out: UAR per system and held-out corpus",
                                      folder / "heatmap.png"))
    if (folder / "seeds.png").is_file():     # several training seeds: each seed's UAR beside their mean
        section.figures.append(Figure("leave-one-corpus-out: UAR of each training seed beside the mean over seeds",
                                      folder / "seeds.png"))
    for system in systems:
        path = folder / f"pairwise_{system}.png"
        if path.is_file():
            section.figures.append(Figure(f"{system}: train on the row's corpus, test on the column's", path))
    if pairwise_summary is not None and not pairwise_summary.empty:
        section.tables.append(Table(
            "One-to-one: mean diagonal ('self', speaker-independent folds inside a corpus) and mean "
            "off-diagonal ('cross', another corpus) UAR",
            ["system", "self UAR", "cross UAR", "self cells", "cross cells"],
            [[r.system, _num(r.self_uar), _num(r.cross_uar), str(r.self_cells), str(r.cross_cells)]
             for r in pairwise_summary.itertuples()]))
    if pairwise is not None and not pairwise.empty:
        section.tables.append(Table(
            "One-to-one cells (the diagonal pools the predictions of its folds)",
            ["system", "train", "test", "n", "UAR", "95% CI"],
            [[r.system, r.train, r.test, str(r.n), _num(r.uar), f"{_num(r.uar_ci_low)}-{_num(r.uar_ci_high)}"]
             for r in pairwise.itertuples()]))
    if not section.figures and not section.tables:
        section.text = "No heatmap yet."
    return section


def job_grid(folder: Path, systems: Sequence[str], corpora: Sequence[str], title: str, sub: str,
             name: str, text: str) -> Section:
    section = Section(title, text=text, grid_header=list(corpora), grid_rows=list(systems))
    for system in systems:
        row = []
        for corpus in corpora:
            path = folder / "jobs" / "loco" / system / corpus / sub / name
            row.append(Figure(f"{system} on {corpus}", path) if path.is_file() else None)
        section.grid.append(row)
    return section


def embedding_section(folder: Path, options: dict, corpora: Sequence[str]) -> Section:
    from .embedding_plot import plot_corpus_speakers

    section = Section("Speaker embeddings",
                      text="t-SNE maps of each corpus's speaker vectors, one colour per speaker (seeded): "
                           "tight, separate clusters mean the encoder tells the corpus's speakers apart.")
    for corpus in corpora:
        path = folder / FIGURES / f"speakers_2d_{corpus}.png"
        if not path.is_file():
            try:
                plot_corpus_speakers(options["datasets_dir"], corpus, folder / FIGURES, seed=int(options["seed"]))
            except (OSError, ValueError, SpecctError) as exc:
                section.text += f" {corpus}: no map ({str(exc).splitlines()[0]})."
                continue
        section.figures.append(Figure(f"{corpus}: speaker embeddings", path))
    return section


def imported_corpora(options: dict, fallback: Sequence[str]) -> list[str]:
    """Every corpus the experiment read (held out or trained on), or the held-out ones if not at hand."""
    from . import paths

    return paths.list_corpora(options.get("datasets_dir", "")) or list(fallback)


def _job_records(folder: Path) -> list[tuple[Path, dict]]:
    records = []
    for path in sorted((folder / "jobs").rglob("job.yaml")):
        records.append((path.parent, read_record(path, "job record")))
    return records


def rows_section(folder: Path, records: list[tuple[Path, dict]]) -> Section:
    """Which rows each split used (counts per split, corpus and class) and where each test set lies."""
    section = Section("Rows used")
    splits: dict[Path, list[str]] = {}
    tests = []
    for job_folder, record in records:
        if record.get("train_data"):
            splits.setdefault(Path(record["train_data"]).parent, []).append(record.get("job", ""))
        for corpus, csv in (record.get("tests") or {}).items():
            tests.append([record.get("job", ""), corpus, csv, str(_count_rows(csv))])
    if tests:
        section.tables.append(Table("Test sets: every system on a held-out corpus reads the same CSV",
                                    ["job", "test corpus", "test CSV", "rows"], tests))
    for split, jobs in splits.items():
        summary = split / "split_summary.csv"
        if not summary.is_file():
            continue
        counts = pd.read_csv(summary)
        pivot = counts.pivot_table(index=["split", "corpus"], columns="label", values="count", aggfunc="sum",
                                   fill_value=0)
        labels = list(pivot.columns)
        order = {"train": 0, "validation": 1, "test": 2}
        rows = sorted(([s, c, *[str(int(v)) for v in values], str(int(sum(values)))]
                       for (s, c), values in zip(pivot.index, pivot.to_numpy())),
                      key=lambda r: (order.get(r[0], 9), r[1]))
        section.tables.append(Table(f"Split {split} (used by {len(jobs)} job(s))",
                                    ["split", "corpus", *labels, "rows"], rows))
    if not section.tables:
        section.text = "No split recorded yet."
    return section


def _count_rows(csv: str) -> int | str:
    try:
        return len(pd.read_csv(csv))
    except (OSError, pd.errors.ParserError):
        return "?"


def transductive_options(content: dict, prefix: str = "") -> list[tuple[str, object]]:
    """``(dotted key, value)`` of every option, at any depth, whose key mentions transductive use
    and whose value is set (e.g. the baselines' ``scaling.transductive: true``)."""
    found = []
    for key, value in content.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            found += transductive_options(value, name + ".")
        elif "transductive" in str(key).lower() and value not in (None, False, "", "none", 0):
            found.append((name, value))
    return found


def transductive_section(folder: Path) -> Section:
    """Any option of a job that mentions transductive use of the test audio, with its value."""
    uses = []
    for path in sorted((folder / "jobs").rglob(ARGS_NAME)) + sorted((folder / "jobs").rglob(PERFORMANCE_NAME)):
        content = read_record(path, "job record")
        for key, value in transductive_options(content):
            uses.append([str(path.relative_to(folder)), key, str(value)])
    section = Section("Transductive normalisation")
    if uses:
        section.text = "Some jobs used unlabelled test audio (transductive normalisation):"
        section.tables.append(Table("", ["file", "option", "value"], uses))
    else:
        section.text = ("None: no job used the unlabelled test audio; every statistic applied to the test rows "
                        "was computed on training data.")
    return section


def reproduction_section(record: dict, records: list[tuple[Path, dict]]) -> Section:
    section = Section("Reproduction")
    versions = record.get("versions") or {}
    section.tables.append(Table("Versions when the experiment was run", ["package", "version"],
                                [[k, str(v)] for k, v in versions.items()]))
    lines = []
    if record.get("command"):
        lines += ["# the experiment, in one process", str(record["command"]), ""]
    if records:
        lines.append("# each job alone (as run_loco.py --print-jobs prints it), then its train.py flags")
        for _, job in records:
            if job.get("command"):
                lines.append(str(job["command"]))
            lines.append("#   train.py " + shlex.join(str(a) for a in job.get("train_command", [])))
    section.code = "\n".join(lines)
    differing = sorted({k for _, job in records for k, v in (job.get("versions") or {}).items()
                        if versions.get(k) != v})
    if differing:
        section.text = f"Some jobs ran with other versions of {', '.join(differing)} (see each job.yaml)."
    return section


def build_sections(folder: Path, collected: Collected) -> tuple[str, list[Section]]:
    """The report's sections, from the experiment's record and its collected tables."""
    from .train.options import flag_tokens

    folder = Path(folder)
    record = load_experiment(folder)
    opts = recorded_options(folder)
    options = {"datasets_dir": opts.datasets_dir, "seed": opts.seed}
    systems = [s.name for s in opts.systems]
    corpora = [c.upper() for c in opts.corpora] if opts.corpora else sorted(
        {str(c) for c in collected.jobs.get("corpus", [])})
    records = _job_records(folder)
    jobs = collected.jobs
    finished = int(jobs["finished"].sum()) if len(jobs) else 0
    overview = Section("Experiment", text=(
        f"{finished} of {len(jobs)} job(s) finished"
        + (f"; missing: {', '.join(collected.missing)}." if len(jobs) and collected.missing else ".")
        + f" Protocols: {', '.join(opts.protocols)}. Held-out corpora: {', '.join(corpora)}. "
          f"Class set {opts.classes or opts.num_classes}, augmentation {opts.augmentation}, "
          f"balancing {opts.balanced}, seed {opts.seed}, {opts.bootstrap} bootstrap resamples. "
          f"Reference system: {opts.reference or systems[0]}."))
    overview.tables.append(Table("Systems", ["system", "model", "config", "extra train.py flags"],
                                 [[s.name, s.model, s.config or "-", " ".join(flag_tokens(s.flags)) or "-"]
                                  for s in opts.systems]))
    sections = [overview, results_section(collected.results, collected.comparison),
                heatmap_section(folder, systems, collected.pairwise_summary, collected.pairwise),
                job_grid(folder, systems, corpora, "Confusion matrices", "test", CONFUSION_NAME,
                         "Each system on each held-out corpus (rows normalised, counts in brackets)."),
                job_grid(folder, systems, corpora, "Training curves", "train", CURVES_NAME,
                         "Loss and validation scores per epoch (validation speakers come from the "
                         "training corpora; the held-out corpus is never read during training)."),
                embedding_section(folder, options, imported_corpora(options, corpora)),
                rows_section(folder, records),
                transductive_section(folder),
                reproduction_section(record, records)]
    return str(record.get("experiment") or folder.name), sections


# --------------------------------------------------------------------------- HTML

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}th{background:#f3f3f3}
tr.real td{background:#e6f4e6;font-weight:bold}
caption{caption-side:top;text-align:left;font-style:italic;padding:.3em 0}
.row{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
figure{margin:0}figure img{max-width:560px;width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}
pre{background:#f7f7f7;padding:1em;overflow-x:auto;font-size:.8em;white-space:pre-wrap}
.missing{color:#999;font-style:italic}
"""


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
    return (f'<figure><img alt="{e(figure.caption)}" src="{data_uri(figure.path)}">'
            f"<figcaption>{e(figure.caption)}</figcaption></figure>")


def render_html(title: str, sections: Sequence[Section]) -> str:
    e = html.escape
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = [f"<h1>{e(title)}</h1>", f"<p>Report written {stamp} by specct's report.py.</p>"]
    for section in sections:
        body.append(f"<section><h2>{e(section.title)}</h2>")
        if section.text:
            body.append(f"<p>{e(section.text)}</p>")
        if section.figures:
            body.append('<div class="row">' + "".join(_html_figure(f) for f in section.figures) + "</div>")
        if section.grid:
            body.append('<table class="grid"><thead><tr><th></th>'
                        + "".join(f"<th>{e(h)}</th>" for h in section.grid_header) + "</tr></thead><tbody>")
            for name, row in zip(section.grid_rows, section.grid):
                cells = "".join(f"<td>{_html_figure(f)}</td>" if f else '<td class="missing">not finished</td>'
                                for f in row)
                body.append(f"<tr><th>{e(name)}</th>{cells}</tr>")
            body.append("</tbody></table>")
        body.extend(_html_table(t) for t in section.tables)
        if section.code:
            body.append(f"<pre>{e(section.code)}</pre>")
        body.append("</section>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{e(title)}</title><style>{STYLE}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")


# --------------------------------------------------------------------------- Markdown

def _md_cell(value: str) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _md_table(table: Table) -> str:
    lines = [f"*{table.title}*", ""] if table.title else []
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
        return f"![{figure.caption}]({target.as_posix()})"

    out = [f"# {title}", ""]
    for section in sections:
        out += [f"## {section.title}", ""]
        if section.text:
            out += [section.text, ""]
        for table in section.tables:
            out += [_md_table(table), ""]
        for figure in section.figures:
            out += [link(figure), ""]
        for name, row in zip(section.grid_rows, section.grid):
            out += [f"{name}: " + " ".join(link(f) for f in row if f), ""]
        if section.code:
            out += ["```", section.code, "```", ""]
    return "\n".join(out)


def write_report(folder: str | Path, collected: Collected | None = None) -> tuple[Path, Path]:
    """``report.html`` and ``report.md`` of the experiment in ``folder``, from ``collected`` (by default
    the tables its last collection wrote there)."""
    folder = Path(folder)
    title, sections = build_sections(folder, collected or read_collected(folder))
    html_path, md_path = folder / REPORT_HTML, folder / REPORT_MD
    write_text_atomic(html_path, render_html(f"Experiment {title}", sections))
    write_text_atomic(md_path, render_markdown(f"Experiment {title}", sections, folder))
    print(f"report: {html_path} and {md_path}")
    return html_path, md_path


def main(argv: Sequence[str] | None = None) -> int:
    from .cli import ArgumentParser
    from .errors import run_script

    parser = ArgumentParser(prog="report.py", description=(
        "Write report.html (self-contained, opens from a file) and report.md of a run_loco.py experiment."))
    parser.add_argument("experiment", help="the experiment folder, output/loco/<experiment>")
    args = parser.parse_args(argv)
    return run_script("report.py", lambda: write_report(args.experiment))


if __name__ == "__main__":
    import sys

    sys.exit(main())
