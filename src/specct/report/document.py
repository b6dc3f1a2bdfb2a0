"""One self-contained report of an experiment of run_loco.py: ``report.html`` and ``report.md``.

``write_report(output/loco/<experiment>)`` renders the tables the experiment's collection wrote
(``run_loco.py`` and ``run_loco.py --collect`` write them; the report never collects), draws its
figures into ``figures/`` (300 dpi PNG and SVG each, :mod:`specct.report.figures`), writes the
results and comparison as LaTeX tables (:mod:`specct.stats.latex`) and ``groups.csv``, and writes

- ``report.html``: one file, every figure embedded as a ``data:`` URI, the style inline, no script
  and no reference to anything outside the file, so it opens from a disk or a mail attachment
  with no network (:mod:`specct.report.render`);
- ``report.md``: the same tables in Markdown (figures linked by relative path), for papers.

The sections come in the order a paper uses: the verdict (:mod:`specct.report.verdict`), the protocol
(what each fold trained, validated and refit on, from its split files), the results table, the
comparison, the heatmap (beside the one-to-one matrices when that protocol ran), recall per class,
UAR per gender and per speaker (:mod:`specct.report.breakdowns`), the confusion matrices, calibration,
the training curves, where the image models look (:mod:`specct.stages.saliency`), the speaker maps, the
rows used, transductive normalisation and the reproduction. Every caption comes from the run's
records (:mod:`specct.report.facts`); a section without data is left out.
"""
from __future__ import annotations

import shlex
from pathlib import Path
from typing import Sequence

import pandas as pd

from . import figures as figures_of
from ..core.errors import SpecctError
from ..protocol.evaluation import PERFORMANCE_NAME
from ..core.fileio import write_text_atomic
from ..loco.experiment import load_experiment, recorded_options
from ..loco.results import Collected, read_collected
from ..core.records import read_record
from .content import Figure, Section, Table
from .facts import (LocoRun, chance_uar, class_names, finished_loco_runs, folds, is_image_model, member_weight_lines,
    protocols_present, reads_speaker_vector, validations)
from .render import data_uri, render_html, render_markdown  # noqa: F401  (the report's renderings)
from ..protocol.runs import ARGS_NAME

REPORT_HTML = "report.html"
REPORT_MD = "report.md"
FIGURES = figures_of.FIGURES
SALIENCY_RUNS = 12             # the report explains at most this many image-model jobs (a few rows each)
FIGURE_ERRORS = (OSError, ValueError, KeyError, RuntimeError, SpecctError)


def _num(value, digits: int = 3) -> str:
    return "-" if value is None or pd.isna(value) else f"{float(value):.{digits}f}"


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


# --------------------------------------------------------------------------- the sections, in a paper's order

def protocol_section(runs: Sequence[LocoRun]) -> Section | None:
    """For each held-out corpus, the corpora its split trained on and validated on (split_summary.csv,
    split_options.json), and the systems refit on training + validation rows (performance.yaml)."""
    found = folds(runs)
    if not found:
        return None
    several = {f.corpus for f in found if sum(g.corpus == f.corpus for g in found) > 1}
    rows = [[f.corpus + (f" (split seed {f.seed})" if f.corpus in several else ""), f.trained_on(),
             f.validated_on(), ", ".join(f.fitted) or "-", f.refit_on()] for f in found]
    refit = sorted({s for f in found for s in f.refit})
    fitted = sorted({s for f in found for s in f.fitted})
    text = ("What each fold's split holds (its split_summary.csv and split_options.json) and what each system "
            "was fitted on (its performance.yaml).")
    if all(f.corpus not in f.train and f.corpus not in f.validation_rows for f in found):
        text += " No training or validation row comes from the held-out corpus."
    if fitted:
        text += (f" Fitted on the training rows only, the validation rows choosing the kept epoch or setting: "
                 f"{', '.join(fitted)}.")
    if refit:
        text += (f" Refit on the training and validation rows together, after the choice on the validation rows: "
                 f"{', '.join(refit)}.")
    for line in member_weight_lines(runs):   # an ensemble given --member_weights: its weights per fold
        text += " " + line
    section = Section("Protocol", text=text)
    section.tables.append(Table("Training and validation of each fold", [
        "held-out corpus", "trained on", "validated on", "fitted on the training rows only",
        "refit on training + validation rows"], rows))
    return section


def results_section(results: pd.DataFrame | None, sweep: pd.DataFrame | None = None) -> Section | None:
    if results is None or results.empty:
        return None
    from ..stats.compare import results_cells
    from ..loco.sweeps import sweep_caption, sweep_cells

    header, rows = results_cells(results)
    section = Section("Results (leave-one-corpus-out)")
    section.tables.append(Table(
        "Each metric with its 95% bootstrap interval where it has one; 'mean' rows average the held-out "
        "corpora (interval from resampling rows within each corpus)", header, rows))
    if sweep is not None and len(sweep):   # every variant beside the chosen one, held-out UAR marked unused
        section.tables.append(Table(sweep_caption(), *sweep_cells(sweep)))
    return section


def comparison_section(comparison: pd.DataFrame | None) -> Section | None:
    if comparison is None or comparison.empty:
        return None
    rows, marked = [], []
    for r in comparison.itertuples():
        significant = r.significant is True or str(r.significant).lower() == "true"
        verdict = ("real: better" if r.difference > 0 else "real: worse") if significant else "tie"
        rows.append([r.system, r.reference, r.held_out, str(r.n), f"{r.difference:+.3f}",
                     f"{r.ci_low:+.3f} to {r.ci_high:+.3f}", f"{r.p_value:.4f}", verdict])
        marked.append(significant)
    section = Section("Comparison with the reference")
    section.tables.append(Table(
        "Significance: UAR difference to the reference, paired bootstrap on the same test rows "
        "(two-sided; real when p < 0.05 and the 95% interval excludes 0, otherwise a tie)",
        ["system", "reference", "held-out corpus", "n", "UAR difference", "95% CI", "p", "verdict"],
        rows, marked))
    return section


def heatmap_section(folder: Path, collected: Collected, systems: Sequence[str], corpora: Sequence[str],
                    pairwise_ran: bool) -> Section | None:
    """The leave-one-corpus-out heatmap (with intervals) and, only when the one-to-one protocol ran,
    its matrices beside it and its tables."""
    figures = folder / FIGURES
    title = ("Two views of the same corpora: leave-one-corpus-out and the one-to-one matrix" if pairwise_ran
             else "Leave-one-corpus-out heatmap")
    section = Section(title)
    path = figures_of.heatmap(collected.results, systems, corpora, figures)
    if path:
        section.figures.append(Figure("leave-one-corpus-out: UAR per system and held-out corpus (95% CI in brackets)",
                                      path))
    if collected.results is not None and "uar_per_seed" in collected.results.columns:
        from ..loco.results import plot_seed_spread

        seeds, key = figures / "seeds.png", figures_of.digest(collected.results.to_csv(index=False))
        if not figures_of.drawn_from(seeds, key):
            seeds = figures_of.remember(plot_seed_spread(collected.results, seeds, paper=True), key)
        if seeds:
            section.figures.append(Figure("leave-one-corpus-out: UAR of each training seed beside the mean over "
                                          "seeds", seeds))
    pairwise, summary = collected.pairwise, collected.pairwise_summary
    if pairwise_ran and pairwise is not None and not pairwise.empty:
        for system in systems:
            matrix = figures_of.pairwise_matrix(pairwise, system, corpora, figures)
            if matrix:
                section.figures.append(Figure(f"{system}: train on the row's corpus, test on the column's", matrix))
        if summary is not None and not summary.empty:
            section.tables.append(Table(
                "One-to-one: mean diagonal ('self', speaker-independent folds inside a corpus) and mean "
                "off-diagonal ('cross', another corpus) UAR",
                ["system", "self UAR", "cross UAR", "self cells", "cross cells"],
                [[r.system, _num(r.self_uar), _num(r.cross_uar), str(r.self_cells), str(r.cross_cells)]
                 for r in summary.itertuples()]))
        section.tables.append(Table(
            "One-to-one cells (the diagonal pools the predictions of its folds)",
            ["system", "train", "test", "n", "UAR", "95% CI"],
            [[r.system, r.train, r.test, str(r.n), _num(r.uar), f"{_num(r.uar_ci_low)}-{_num(r.uar_ci_high)}"]
             for r in pairwise.itertuples()]))
    return None if section.empty else section


def per_class_section(runs: Sequence[LocoRun], classes: Sequence[str], chance: float | None) -> Section | None:
    from .breakdowns import per_class_recall

    if not runs or not classes:
        return None
    header, rows = per_class_recall(runs, classes)
    seeds = " (the mean over training seeds)" if any(r.seed not in ("", "nan", "None") for r in runs) else ""
    section = Section("Recall per class")
    section.tables.append(Table(f"Recall of each class on each held-out corpus{seeds}; chance recall of a class "
                                f"is {_num(chance)}", header, rows))
    return section


def groups_section(folder: Path, runs: Sequence[LocoRun]) -> Section | None:
    """UAR by gender and by speaker, with the gap between the best and the worst group."""
    from .breakdowns import gender_rows, group_table, speaker_rows, write_groups

    if not runs:
        return None
    groups = group_table(runs)
    if groups.empty:
        return None
    write_groups(groups, folder)
    section = Section("UAR by gender and by speaker")
    header, rows, without = gender_rows(groups)
    if rows:
        section.tables.append(Table("UAR per gender (from the corpus manifests, carried into the split CSVs), "
                                    "rows per group in brackets", header, rows))
    if without:
        section.text = (f"{', '.join(without)}: the corpus records no speaker gender, so there is no gender "
                        f"breakdown for it. ")
    header, rows = speaker_rows(groups)
    section.tables.append(Table("UAR per test speaker: the worst, the median and the best speaker (every "
                                "speaker in groups.csv)", header, rows))
    return section


def confusion_section(folder: Path, runs: Sequence[LocoRun], jobs: pd.DataFrame, systems: Sequence[str],
                      corpora: Sequence[str]) -> Section | None:
    if not runs:
        return None
    figures = folder / FIGURES
    drawn: dict[tuple[str, str], Figure | str] = {}
    for run in runs:
        if (run.system, run.corpus) in drawn:
            continue          # several seeds: the first seed's matrix
        try:
            path = figures_of.confusion(run, figures)
        except FIGURE_ERRORS as exc:
            drawn[(run.system, run.corpus)] = f"no figure ({_first_line(exc)})"
            continue
        drawn[(run.system, run.corpus)] = (Figure(f"{run.system} on {run.corpus}", path) if path
                                           else "no confusion matrix recorded")
    section = Section("Confusion matrices", text="Each system on each held-out corpus, rows normalised (how each "
                      "true class was predicted), counts in brackets; each title names the training corpora.",
                      grid_header=list(corpora), grid_rows=list(systems))
    for system in systems:
        section.grid.append([drawn.get((system, corpus), _missing(jobs, system, corpus)) for corpus in corpora])
    return section


def _missing(jobs: pd.DataFrame, system: str, corpus: str) -> str:
    """The text of a grid cell without a figure: a job that has not finished, or one never listed."""
    listed = jobs[(jobs["protocol"] == "loco") & (jobs["system"].astype(str) == system)
                  & (jobs["corpus"].astype(str) == corpus)] if len(jobs) else jobs
    return "not finished" if len(listed) else "no job"


def calibration_section(folder: Path, runs: Sequence[LocoRun]) -> Section | None:
    if not runs:
        return None
    path, rows = figures_of.calibration(runs, folder / FIGURES)
    if not rows:
        return None
    section = Section("Calibration", text=(
        "Does a confidence of 0.8 mean right four times in five? Expected calibration error (ECE: the mean "
        "gap between accuracy and confidence over 10 confidence bins, weighted by their rows) from the "
        "class probabilities in each job's predictions.csv; 0 is perfectly calibrated."))
    section.tables.append(Table("Expected calibration error per system and held-out corpus ('pooled': every "
                                "held-out corpus together)", ["system", "held-out corpus", "rows", "ECE"], rows))
    if path:
        section.figures.append(Figure("Reliability diagram: accuracy against confidence, per system", path))
    return section


def curves_section(folder: Path, runs: Sequence[LocoRun], chance: float | None) -> Section | None:
    """The curves of the jobs trained by epochs; the validation each split used, from its record."""
    if not runs:
        return None
    figures = folder / FIGURES
    section = Section("Training curves")
    without = []
    for run in runs:
        try:
            path = figures_of.curves(run, chance, figures)
        except FIGURE_ERRORS as exc:
            section.text += f" {run.system} on {run.corpus}: no curves ({_first_line(exc)})."
            continue
        if path:
            seed = f", seed {run.seed}" if run.seed not in ("", "nan", "None") else ""
            section.figures.append(Figure(f"{run.system}, held out {run.corpus}{seed}", path))
        elif run.system not in without:
            without.append(run.system)
    if not section.figures:
        return None
    validation = "; ".join(v.sentence() for v in validations(runs))
    section.text = (f"Loss and validation scores per epoch; the dashed line is the epoch whose checkpoint was kept, "
                    f"the dotted one chance. Validation ({validation}); the held-out corpus is never read during "
                    f"training." + section.text)
    if without:
        section.text += f" {', '.join(without)}: fitted without epochs, so no curves."
    return section


def saliency_section(folder: Path, runs: Sequence[LocoRun], image_systems: set[str]) -> Section | None:
    from ..stages.saliency import REPORT_ROWS_PER_CLASS

    chosen, seen = [], set()
    for run in runs:
        if run.system in image_systems and (run.system, run.corpus) not in seen:
            seen.add((run.system, run.corpus))
            chosen.append(run)
    if not chosen:
        return None
    section = Section("Where the image models look", text=(
        f"Per emotion, the mean Grad-CAM of the true class over up to {REPORT_ROWS_PER_CLASS} test rows "
        "(for the CCTs on the tokenizer's output map, else on the last convolution), drawn over the mean "
        "spectrogram of the same rows: low frequencies at the bottom. `specct saliency <job>/train` draws it "
        "on every row."))
    for run in chosen[:SALIENCY_RUNS]:
        try:
            path = figures_of.saliency(run, folder / FIGURES, REPORT_ROWS_PER_CLASS)
        except FIGURE_ERRORS as exc:
            section.text += f" {run.system} on {run.corpus}: no map ({_first_line(exc)})."
            continue
        if path:
            section.figures.append(Figure(f"{run.system} on {run.corpus}", path))
    if len(chosen) > SALIENCY_RUNS:
        section.text += f" The first {SALIENCY_RUNS} of {len(chosen)} jobs are drawn."
    return section if section.figures else None


def embedding_section(folder: Path, options: dict, corpora: Sequence[str],
                      speaker_systems: Sequence[str]) -> Section | None:
    """The speaker maps, only when some system reads a speaker vector (it names them)."""
    if not speaker_systems:
        return None
    section = Section("Speaker embeddings", text=(
        f"The speaker vectors {', '.join(speaker_systems)} read{'s' if len(speaker_systems) == 1 else ''}: "
        "t-SNE maps of each corpus's vectors, one colour per speaker (seeded); tight, separate clusters mean "
        "the encoder tells the corpus's speakers apart."))
    for corpus in corpora:
        try:
            path = figures_of.speaker_map(options["datasets_dir"], corpus, folder / FIGURES, int(options["seed"]))
        except FIGURE_ERRORS as exc:
            section.text += f" {corpus}: no map ({_first_line(exc)})."
            continue
        section.figures.append(Figure(f"{corpus}: speaker embeddings", path))
    return section


def imported_corpora(options: dict, fallback: Sequence[str]) -> list[str]:
    """Every corpus the experiment read (held out or trained on), or the held-out ones if not at hand."""
    from ..core import paths

    return paths.list_corpora(options.get("datasets_dir", "")) or list(fallback)


def _job_records(folder: Path) -> list[tuple[Path, dict]]:
    records = []
    for path in sorted((folder / "jobs").rglob("job.yaml")):
        records.append((path.parent, read_record(path, "job record")))
    return records


def study_path(path, folder: Path, cwd: str | None = None) -> str:
    """``path`` as the report writes it: relative to the study folder (``<output>`` of the experiment
    folder ``<output>/loco/<name>``) where it lies inside it, so the report shares without this
    machine's folders; a relative ``path`` is read from ``cwd`` (where it was recorded)."""
    import os

    root = Path(os.path.abspath(folder)).parent.parent
    where = Path(str(path))
    if not where.is_absolute():
        where = Path(cwd or os.getcwd()) / where
    try:
        return Path(os.path.normpath(where)).relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _study_tokens(tokens: Sequence[str], folder: Path, cwd: str | None) -> list[str]:
    return [study_path(t, folder, cwd) if "/" in str(t) and not str(t).startswith("-") else str(t) for t in tokens]


def rows_section(folder: Path, records: list[tuple[Path, dict]]) -> Section | None:
    """Which rows each split used (counts per split, corpus and class) and where each test set lies
    (paths relative to the study folder)."""
    section = Section("Rows used")
    splits: dict[Path, list[str]] = {}
    tests = []
    for job_folder, record in records:
        if record.get("train_data"):
            splits.setdefault(Path(record["train_data"]).parent, []).append(record.get("job", ""))
        for corpus, csv in (record.get("tests") or {}).items():
            tests.append([record.get("job", ""), corpus, study_path(csv, folder, record.get("cwd")),
                          str(_count_rows(csv))])
    if tests:
        section.tables.append(Table("Test sets: every system on a held-out corpus reads the same CSV "
                                    "(paths relative to the study folder)",
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
        section.tables.append(Table(f"Split {study_path(split, folder)} (used by {len(jobs)} job(s))",
                                    ["split", "corpus", *labels, "rows"], rows))
    return section if section.tables else None


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


def warnings_section(folder: Path) -> Section | None:
    """Every evaluation's degenerate-data warnings (a held-out corpus of one class, a class no
    training corpus has): shown beside the verdict, since they change what its numbers mean."""
    rows = []
    for path in sorted((folder / "jobs").rglob(PERFORMANCE_NAME)):
        for warning in read_record(path, "evaluation record").get("warnings") or []:
            rows.append([str(path.parent.relative_to(folder)), str(warning)])
    if not rows:
        return None
    section = Section("Warnings")
    section.text = (f"{len(rows)} warning(s) about the data of the evaluations below: read the UARs they name "
                    f"with them.")
    section.tables.append(Table("", ["evaluation", "warning"], rows))
    return section


def reproduction_section(folder: Path, record: dict, records: list[tuple[Path, dict]]) -> Section:
    """Versions and commands; every path in them relative to the study folder where it lies inside it."""
    import os

    section = Section("Reproduction")
    versions = record.get("versions") or {}
    section.tables.append(Table("Versions when the experiment was run", ["package", "version"],
                                [[k, str(v)] for k, v in versions.items()]))
    lines = []
    cwd = record.get("cwd")
    if record.get("command"):
        root = Path(os.path.abspath(folder)).parent.parent
        where = os.path.relpath(root, cwd) if cwd else root.name
        lines += [f"# the experiment, in one process, from the folder it ran in (the study folder is {where})",
                  shlex.join(_study_tokens(shlex.split(str(record["command"])), folder, cwd)), ""]
    if records:
        lines.append("# each job alone, from the study folder (run_loco.py --print_jobs prints it for the "
                     "folder it runs in), then its train.py flags")
        for _, job in records:
            if job.get("job"):
                lines.append(f"specct loco --from_record {study_path(folder, folder)} --job {job['job']}")
            lines.append("#   train.py " + shlex.join(_study_tokens(job.get("train_command", []), folder,
                                                                   job.get("cwd"))))
    section.code = "\n".join(lines)
    section.tables.append(Table("For a paper, beside this report", ["file", "what"], [
        ["results.tex, comparison.tex", "the results and the comparison as LaTeX tables (booktabs)"],
        ["figures/", "every figure of this report as a 300 dpi PNG and an SVG"],
        ["groups.csv", "UAR of every gender and speaker group of every job"]]))
    differing = sorted({k for _, job in records for k, v in (job.get("versions") or {}).items()
                        if versions.get(k) != v})
    if differing:
        section.text = f"Some jobs ran with other versions of {', '.join(differing)} (see each job.yaml)."
    return section


def verdict_section(collected: Collected, opts, systems: Sequence[str], corpora: Sequence[str],
                    classes: Sequence[str], chance: float | None, protocols: Sequence[str],
                    speaker_systems: Sequence[str]) -> Section:
    from .verdict import verdict
    from ..train.options import flag_tokens

    reference = opts.reference or systems[0]
    section = Section("Verdict", verdict=True,
                      text=verdict(collected.results, collected.comparison, reference, classes, chance, corpora))
    jobs = collected.jobs
    finished = int(jobs["finished"].astype(str).str.lower().eq("true").sum()) if len(jobs) else 0
    missing = f" Missing: {', '.join(collected.missing)}." if len(jobs) and collected.missing else ""
    speaker = (f"Systems that read a speaker vector: {', '.join(speaker_systems)}." if speaker_systems
               else "No system reads a speaker vector.")
    section.tables.append(Table(
        f"The systems compared. Protocols run: {', '.join(protocols) or 'none yet'}; held-out corpora: {', '.join(corpora)}; "
        f"{len(classes) or opts.num_classes} classes, augmentation {opts.augmentation}, balancing {opts.balanced}, "
        f"seed {opts.seed}, {opts.bootstrap} bootstrap resamples; reference {reference}; {finished} of {len(jobs)} "
        f"job(s) finished.{missing} {speaker}",
        ["system", "model", "config", "extra train.py flags"],
        [[s.name, s.model, s.config or "-", " ".join(flag_tokens(s.flags)) or "-"] for s in opts.systems]))
    return section


def _held_out_corpora(opts, collected: Collected) -> list[str]:
    return [c.upper() for c in opts.corpora] if opts.corpora else sorted(
        {str(c) for c in collected.jobs.get("corpus", [])})


def verdict_of(folder: str | Path, collected: Collected) -> str:
    """The report's verdict paragraph alone (``specct run`` prints it below the results table)."""
    from .verdict import verdict

    opts = recorded_options(folder)
    classes = class_names(finished_loco_runs(Path(folder), collected.jobs))
    return verdict(collected.results, collected.comparison, opts.reference or opts.systems[0].name, classes,
                   chance_uar(classes), _held_out_corpora(opts, collected))


def build_sections(folder: Path, collected: Collected) -> tuple[str, list[Section]]:
    """The report's sections, from the experiment's record and its collected tables; a section with
    nothing to show is left out."""
    folder = Path(folder)
    record = load_experiment(folder)
    opts = recorded_options(folder)
    options = {"datasets_dir": opts.datasets_dir, "seed": opts.seed}
    systems = [s.name for s in opts.systems]
    corpora = _held_out_corpora(opts, collected)
    records = _job_records(folder)
    runs = reported_runs(finished_loco_runs(folder, collected.jobs), collected.sweep)
    classes = class_names(runs)
    chance = chance_uar(classes)
    protocols = protocols_present(collected.jobs, opts.protocols)
    performances = {s.name: [r.performance() for r in runs if r.system == s.name] for s in opts.systems}
    speaker_systems = [s.name for s in opts.systems if _safely(reads_speaker_vector, s.model, performances[s.name])]
    image_systems = {s.name for s in opts.systems if _safely(is_image_model, s.model)}
    (folder / FIGURES).mkdir(parents=True, exist_ok=True)
    sections = [verdict_section(collected, opts, systems, corpora, classes, chance, protocols, speaker_systems),
                warnings_section(folder),
                protocol_section(runs),
                results_section(collected.results, collected.sweep),
                comparison_section(collected.comparison),
                heatmap_section(folder, collected, systems, corpora, "pairwise" in protocols),
                per_class_section(runs, classes, chance),
                groups_section(folder, runs),
                confusion_section(folder, runs, collected.jobs, systems, corpora),
                calibration_section(folder, runs),
                curves_section(folder, runs, chance),
                saliency_section(folder, runs, image_systems),
                embedding_section(folder, options, imported_corpora(options, corpora), speaker_systems),
                rows_section(folder, records),
                transductive_section(folder),
                reproduction_section(folder, record, records)]
    return str(record.get("experiment") or folder.name), [s for s in sections if s is not None]


def reported_runs(runs: Sequence[LocoRun], sweep: pd.DataFrame | None) -> list[LocoRun]:
    """The runs the results report: a swept system's chosen variant under the system's own name, the
    other variants left to the sweep table."""
    from ..loco.sweeps import SEPARATOR, chosen_variants, variant_name

    if sweep is None or not len(sweep):
        return list(runs)
    picked = {(variant_name(system, variant), corpus): system
              for (system, corpus), variant in chosen_variants(sweep).items()}
    swept = set(sweep["system"].astype(str))
    reported = []
    for run in runs:
        if (run.system, run.corpus) in picked:
            run.system = picked[(run.system, run.corpus)]
            reported.append(run)
        elif run.system.partition(SEPARATOR)[0] not in swept:
            reported.append(run)
    return reported


def _safely(question, *args) -> bool:
    try:
        return bool(question(*args))
    except (SpecctError, KeyError, ValueError, ImportError):
        return False


def write_report(folder: str | Path, collected: Collected | None = None) -> tuple[Path, Path]:
    """``report.html`` and ``report.md`` of the experiment in ``folder``, from ``collected`` (by default
    the tables its last collection wrote there); its figures in ``figures/`` and the LaTeX tables."""
    from ..stats.latex import write_latex_tables

    folder = Path(folder)
    collected = collected or read_collected(folder)
    title, sections = build_sections(folder, collected)
    write_latex_tables(folder, collected.results, collected.comparison)
    html_path, md_path = folder / REPORT_HTML, folder / REPORT_MD
    write_text_atomic(html_path, render_html(f"Experiment {title}", sections))
    write_text_atomic(md_path, render_markdown(f"Experiment {title}", sections, folder))
    return html_path, md_path


def print_report_paths(paths: tuple[Path, Path]) -> None:
    """The command line's closing line; ``specct run`` prints its own (the HTML only), so this is not
    part of write_report."""
    print(f"report: {paths[0]} and {paths[1]}")
