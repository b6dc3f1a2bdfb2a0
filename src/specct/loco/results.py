"""An experiment's results: the finished jobs' predictions gathered into tables and figures.

``collect`` reads every finished job's predictions.csv (and its performance.yaml's warnings) and
writes ``jobs.csv``, ``results.csv``, ``comparison.csv`` (paired bootstrap, :mod:`specct.stats.compare`),
``results.md``, ``results.tex`` and ``comparison.tex`` (:mod:`specct.stats.latex`), ``heatmap.png`` and
the pairwise tables and matrices; ``read_collected`` reads those tables back (the report renders
them and never collects).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..protocol.evaluation import PERFORMANCE_NAME, PREDICTIONS_NAME
from ..core.fileio import write_csv_atomic, write_text_atomic
from ..core.records import read_csv_table, read_record
from .experiment import LocoOptions, experiment_dir, reference_system
from .jobs import Job, held_out_corpora, list_jobs
from .sweeps import SWEEP_CSV, against_of, chosen_variants, sweep_markdown, sweep_table, variant_name, variant_systems

JOBS_CSV = "jobs.csv"
RESULTS_CSV = "results.csv"
COMPARISON_CSV = "comparison.csv"
RESULTS_MD = "results.md"
HEATMAP = "heatmap.png"
SEEDS_FIGURE = "seeds.png"
PAIRWISE_CSV = "pairwise.csv"
PAIRWISE_SUMMARY_CSV = "pairwise_summary.csv"
SELF = "self"
# the columns the report reads from each table (a table without them was not written by collect)
TABLE_COLUMNS = {"results": ("system", "held_out", "uar"), "pairwise": ("system", "train", "test", "uar"),
                 "comparison": ("system", "reference", "held_out", "n", "difference", "ci_low", "ci_high",
                                "p_value", "significant")}
NUMERIC_COLUMNS = {"results": ("uar",), "pairwise": ("uar",), "comparison": ("difference", "ci_low", "ci_high", "p_value")}
JOB_COLUMNS = ["job", "protocol", "system", "corpus", "fold", "seed", "finished"]
TABLES = {"results": RESULTS_CSV, "comparison": COMPARISON_CSV, "pairwise": PAIRWISE_CSV,
          "pairwise_summary": PAIRWISE_SUMMARY_CSV, "sweep": SWEEP_CSV}


@dataclass
class Collected:
    folder: Path
    jobs: pd.DataFrame
    results: pd.DataFrame | None = None
    comparison: pd.DataFrame | None = None
    pairwise: pd.DataFrame | None = None
    pairwise_summary: pd.DataFrame | None = None
    sweep: pd.DataFrame | None = None     # every variant of the swept systems per fold (loco.sweeps)

    @property
    def missing(self) -> list[str]:
        return list(self.jobs.loc[~self.jobs["finished"].astype(bool), "job"])


def read_collected(folder: str | Path) -> Collected:
    """The tables ``collect`` wrote in an experiment folder (those that exist)."""
    folder = Path(folder)
    jobs = (read_csv_table(folder / JOBS_CSV, "job table", JOB_COLUMNS, keep_default_na=False)
            if (folder / JOBS_CSV).is_file() else pd.DataFrame(columns=JOB_COLUMNS))
    tables = {attribute: read_csv_table(folder / name, f"{attribute} table", TABLE_COLUMNS.get(attribute, ()),
                                        numeric=NUMERIC_COLUMNS.get(attribute, ()))
              for attribute, name in TABLES.items() if (folder / name).is_file()}
    return Collected(folder, jobs, **tables)


def read_predictions(test_dir: Path) -> pd.DataFrame:
    return pd.read_csv(test_dir / PREDICTIONS_NAME)


def finished_runs(opts: LocoOptions) -> dict[tuple[str, str], list[Job]]:
    """``{(system, corpus): [job per training seed]}`` of an experiment's loco runs whose every seed has
    finished, the seeds in order (empty where the experiment never ran)."""
    if not experiment_dir(opts).is_dir() or not Path(opts.datasets_dir).is_dir():
        return {}
    return _finished_runs(list_jobs(opts))


def _finished_runs(jobs: Sequence[Job]) -> dict[tuple[str, str], list[Job]]:
    runs: dict[tuple[str, str], list[Job]] = {}
    for job in jobs:
        if job.protocol == "loco":
            runs.setdefault((job.system.name, job.corpus), []).append(job)
    return {key: sorted(jobs, key=lambda j: j.seed or 0) for key, jobs in runs.items()
            if all(job.finished for job in jobs)}


def finished_jobs(opts: LocoOptions) -> dict[tuple[str, str], Job]:
    """``{(system, corpus): job}`` of a one-seed experiment's finished loco jobs (:func:`finished_runs`
    for several seeds)."""
    return {key: jobs[0] for key, jobs in finished_runs(opts).items() if len(jobs) == 1}


def held_out_predictions(job: Job) -> pd.DataFrame:
    """A loco job's predictions on its held-out corpus, with ``file`` (the source wav's name), by which
    runs on the same wavs (other image variants, other image files: systems with images of their own,
    or two experiments) pair row by row."""
    frame = read_predictions(job.test_dir(job.corpus))
    return frame.assign(file=frame["wav"].map(lambda wav: Path(wav).name)) if "wav" in frame else frame


def held_out_uar(job: Job) -> float:
    """A finished loco job's UAR on its held-out corpus (its performance.yaml)."""
    return float(read_record(job.test_dir(job.corpus) / PERFORMANCE_NAME, "evaluation record")["uar"])


def best_validation_uar(job: Job) -> float:
    """The best validation UAR of a job's training (its summary.csv); NaN without validation rows."""
    summary = job.train_dir / "summary.csv"
    values = pd.read_csv(summary).get("val_uar") if summary.is_file() else None
    return float(values.max()) if values is not None and values.notna().any() else float(np.nan)


def loco_predictions(jobs: Sequence[Job]) -> dict[tuple[str, str], pd.DataFrame | list[pd.DataFrame]]:
    """``{(system, held-out corpus): predictions}`` of the finished loco runs: one frame, or with several
    training seeds one frame per seed in seed order (what :mod:`specct.stats.compare` takes). A (system,
    corpus) with an unfinished seed is left out until every seed has finished, so a mean over seeds
    is never a mean over some of them."""
    return _run_predictions(_finished_runs(jobs))


def _run_predictions(runs: dict[tuple[str, str], list[Job]]) -> dict:
    found = {}
    for key, jobs in runs.items():
        frames = [held_out_predictions(job) for job in jobs]
        found[key] = frames[0] if len(frames) == 1 else frames
    return found


def evaluation_warnings(job: Job, test_corpus: str) -> list[str]:
    """The degenerate-data warnings (one test class, a class never trained) of a finished job's test
    on one corpus, as its performance.yaml keeps them."""
    record = read_record(job.test_dir(test_corpus) / PERFORMANCE_NAME, "evaluation record")
    return [str(w) for w in record.get("warnings") or []]


def run_warnings(runs: dict[tuple[str, str], list[Job]]) -> dict[tuple[str, str], list[str]]:
    """``{(system, corpus): warnings}`` of finished loco runs, every seed's, each once: results.csv's
    column (:func:`specct.stats.compare.with_warnings`)."""
    return {key: list(dict.fromkeys(w for job in jobs for w in evaluation_warnings(job, job.corpus)))
            for key, jobs in runs.items()}


def collect(opts: LocoOptions) -> Collected:
    """Gather the finished jobs into the experiment's tables and figures; say which jobs are missing."""
    from ..stats.compare import comparison_table, markdown_results, results_table, with_warnings
    from ..stats.latex import write_latex_tables

    folder = experiment_dir(opts)
    jobs = list_jobs(opts)
    table = pd.DataFrame([{"job": j.id, "protocol": j.protocol, "system": j.system.name, "corpus": j.corpus,
                           "fold": j.fold or "", "seed": "" if j.seed is None else j.seed, "finished": j.finished}
                          for j in jobs], columns=JOB_COLUMNS)
    write_csv_atomic(folder / JOBS_CSV, table)
    collected = Collected(folder, table)
    systems = [s.name for s in opts.systems]
    corpora = held_out_corpora(opts)
    runs = _finished_runs(jobs)   # the jobs listed above, not listed again
    runs, collected.sweep = choose_swept_runs(opts, runs)
    if collected.sweep is not None:
        from ..stats.compare import CSV_DECIMALS

        write_csv_atomic(folder / SWEEP_CSV, collected.sweep.round(CSV_DECIMALS))
    loco = _run_predictions(runs)
    if loco:
        collected.results = with_warnings(results_table(loco, systems, corpora, opts.bootstrap, opts.seed),
                                          run_warnings(runs))
        collected.comparison = comparison_table(loco, systems, corpora, reference_system(opts),
                                                opts.bootstrap, opts.seed)
        write_csv_atomic(folder / RESULTS_CSV, collected.results)
        write_csv_atomic(folder / COMPARISON_CSV, collected.comparison)
        markdown = markdown_results(collected.results, collected.comparison)
        if collected.sweep is not None and len(collected.sweep):
            markdown = markdown.rstrip("\n") + "\n\n" + sweep_markdown(collected.sweep)
        write_text_atomic(folder / RESULTS_MD, markdown)
        write_latex_tables(folder, collected.results, collected.comparison)   # results.tex, comparison.tex
        plot_results_heatmap(collected.results, systems, corpora, folder / HEATMAP)
        plot_seed_spread(collected.results, folder / SEEDS_FIGURE)   # nothing with one seed
    if "pairwise" in opts.protocols:
        collect_pairwise(opts, jobs, collected)
    done = int(table["finished"].sum())
    print(f"{folder}: {done} of {len(table)} job(s) finished")
    if collected.missing:
        print("missing: " + " ".join(collected.missing))
    return collected


def choose_swept_runs(opts: LocoOptions, runs: dict[tuple[str, str], list[Job]]
                      ) -> tuple[dict[tuple[str, str], list[Job]], pd.DataFrame | None]:
    """The finished runs with each swept system's chosen variant under the system's own name (a fold
    enters once every seed of every variant has finished), and the sweep table of those folds (None
    without a sweep). The choice reads validation UARs only (:mod:`.sweeps`)."""
    swept = [s for s in opts.systems if s.sweep]
    if not swept:
        return runs, None
    variant_keys = {(v.name, c) for s in swept for v in variant_systems(s) for c in {k[1] for k in runs}}
    rows = []
    for system in swept:
        variants = [v.name for v in variant_systems(system)]
        for corpus in held_out_corpora(opts):
            if not all((v, corpus) in runs for v in variants):
                continue
            for variant, name in zip(system.sweep, variants):
                rows += [{"system": system.name, "held_out": corpus, "variant": variant["name"],
                          "seed": opts.seed if job.seed is None else job.seed,
                          "validation_uar": best_validation_uar(job), "held_out_uar": held_out_uar(job)}
                         for job in runs[(name, corpus)]]
    table = sweep_table(rows, against={system.name: against_of(system) for system in swept})
    chosen = {key: runs[(variant_name(key[0], variant), key[1])] for key, variant in chosen_variants(table).items()}
    kept = {key: jobs for key, jobs in runs.items() if key not in variant_keys}
    return {**kept, **chosen}, table


def collect_pairwise(opts: LocoOptions, jobs: Sequence[Job], collected: Collected) -> None:
    """pairwise.csv (system, train, test, n, uar, CI), the matrix and heatmap of each system, and the
    mean self (diagonal) and cross (off-diagonal) UAR of each system."""
    from ..stats.compare import bootstrap_uar
    from ..figures.plots import plot_heatmap

    corpora = held_out_corpora(opts)
    cells: dict[tuple[str, str, str], list[pd.DataFrame]] = {}
    incomplete: set[tuple[str, str, str]] = set()
    for job in jobs:
        if job.protocol != "pairwise":
            continue
        for test in job.tests:
            key = (job.system.name, job.corpus, test)
            if job.finished:
                cells.setdefault(key, []).append(read_predictions(job.test_dir(test)))
            else:
                incomplete.add(key)   # a diagonal cell needs every fold
    rows = []
    for (system, train_corpus, test_corpus), frames in cells.items():
        if (system, train_corpus, test_corpus) in incomplete:
            continue
        pooled = pd.concat(frames, ignore_index=True)
        ci = bootstrap_uar(pooled["truth"].astype(str), pooled["prediction"].astype(str), opts.bootstrap, opts.seed)
        rows.append({"system": system, "train": train_corpus, "test": test_corpus, "n": len(pooled),
                     "uar": ci.value, "uar_ci_low": ci.low, "uar_ci_high": ci.high,
                     "kind": SELF if train_corpus == test_corpus else "cross"})
    if not rows:
        return
    corpus_rank = {c: i for i, c in enumerate(corpora)}
    system_rank = {x.name: i for i, x in enumerate(opts.systems)}
    table = pd.DataFrame(rows).sort_values(["system", "train", "test"], key=lambda column: column.map(
        system_rank if column.name == "system" else corpus_rank))
    table = table.reset_index(drop=True)
    summary = []
    for system in [s.name for s in opts.systems]:
        mine = table[table["system"] == system]
        if mine.empty:
            continue
        matrix = mine.pivot(index="train", columns="test", values="uar").reindex(index=corpora, columns=corpora)
        write_csv_atomic(collected.folder / f"pairwise_matrix_{system}.csv", matrix.reset_index())
        plot_heatmap(matrix, collected.folder / f"pairwise_{system}.png",
                     title=f"{system}: train on one corpus, test on each (UAR)", xlabel="test corpus",
                     ylabel="training corpus")
        summary.append({"system": system, "self_uar": mine.loc[mine["kind"] == SELF, "uar"].mean(),
                        "cross_uar": mine.loc[mine["kind"] == "cross", "uar"].mean(),
                        "self_cells": int((mine["kind"] == SELF).sum()),
                        "cross_cells": int((mine["kind"] == "cross").sum())})
    collected.pairwise = table
    collected.pairwise_summary = pd.DataFrame(summary)
    write_csv_atomic(collected.folder / PAIRWISE_CSV, table)
    write_csv_atomic(collected.folder / PAIRWISE_SUMMARY_CSV, collected.pairwise_summary)


def plot_results_heatmap(results: pd.DataFrame, systems: Sequence[str], corpora: Sequence[str], path: Path) -> None:
    from ..stats.compare import MEAN_ROW
    from ..figures.plots import plot_heatmap

    columns = list(corpora) + ([MEAN_ROW] if (results["held_out"] == MEAN_ROW).any() else [])
    matrix = results.pivot(index="system", columns="held_out", values="uar").reindex(index=list(systems),
                                                                                     columns=columns)
    plot_heatmap(matrix, path, title="UAR per system and held-out corpus (leave-one-corpus-out)",
                 xlabel="held-out corpus", ylabel="system")


def plot_seed_spread(results: pd.DataFrame, path: str | Path, paper: bool = False) -> Path | None:
    """``seeds.png``: the spread of UAR over training seeds, one row per system and held-out corpus of
    ``results`` (results.csv with ``uar_per_seed``; its mean rows too), each seed's UAR a dot beside
    the mean over seeds (a bar) and its 95% interval (a line). Rows without per-seed values are left
    out; without any, nothing is written (returns None). ``paper``: 300 dpi and an SVG beside it."""
    from ..figures.plots import _pyplot, save_figure

    if "uar_per_seed" not in results.columns:
        return None
    rows = []
    for row in results.to_dict("records"):
        text = row["uar_per_seed"]
        if text is None or (isinstance(text, float) and np.isnan(text)) or str(text).strip() == "":
            continue
        rows.append((f"{row['system']} | {row['held_out']}", [float(v) for v in str(text).split(";")], row))
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.9 + 0.32 * len(rows)))
    for y, (_, values, row) in enumerate(rows):
        if {"uar_ci_low", "uar_ci_high"} <= set(row) and not pd.isna(row["uar_ci_low"]):
            ax.plot([row["uar_ci_low"], row["uar_ci_high"]], [y, y], color="0.75", linewidth=2, zorder=1)
        ax.plot([row["uar"]] * 2, [y - 0.3, y + 0.3], color="black", linewidth=2, zorder=2,
                label="mean over seeds (line: 95% CI)" if y == 0 else None)
        ax.scatter(values, [y] * len(values), s=22, color="tab:blue", alpha=0.8, zorder=3,
                   label="one seed" if y == 0 else None)
    ax.set_yticks(range(len(rows)), [label for label, _, _ in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set(xlabel="UAR", title="UAR of each training seed (leave-one-corpus-out)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return save_figure(fig, path, paper)
