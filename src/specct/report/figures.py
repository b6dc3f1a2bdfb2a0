"""The report's figures, drawn from the run's records into the experiment's ``figures/`` folder.

Every figure is written for a paper (:func:`specct.figures.plots.save_figure` with ``paper=True``: a 300 dpi
PNG and an SVG beside it); the report embeds the PNG. File names are made of the system and corpus
names with anything but letters, digits and ``. _ + -`` replaced, so any name gives a file. A job's
figure (confusion matrix, curves, saliency) drawn after its inputs last changed is kept as it is
(:func:`fresh`), so writing the report again redraws only what changed.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .facts import LocoRun, training_corpora

FIGURES = "figures"


def fresh(figure: Path, *sources: Path) -> bool:
    """Whether ``figure`` (its PNG and SVG) was drawn after every source that exists changed: a
    report written again redraws only the figures of jobs that changed (a model's saliency is the slow one)."""
    if not figure.is_file() or not figure.with_suffix(".svg").is_file():
        return False
    drawn = min(figure.stat().st_mtime_ns, figure.with_suffix(".svg").stat().st_mtime_ns)
    return all(drawn >= source.stat().st_mtime_ns for source in sources if source and Path(source).is_file())


DRAWN = "drawn.json"     # figure file -> digest of what it was drawn from (the tables' figures)
# The size of the figures holding numbers (heatmaps, confusion matrices): a report written again
# redraws those drawn at another size (before the numbers were readable on the page: style 1).
NUMBERS_STYLE = 2


def digest(*parts) -> str:
    import hashlib

    return hashlib.sha256("\x00".join(map(str, parts)).encode()).hexdigest()


def drawn_from(path: Path, key: str) -> bool:
    """Whether ``path`` (PNG and SVG) was drawn from the data whose digest is ``key``: collect rewrites
    its tables on every run, so a table's figure is judged by what the table holds, not by its time."""
    import json

    record = path.parent / DRAWN
    if not (path.is_file() and path.with_suffix(".svg").is_file() and record.is_file()):
        return False
    try:
        return json.loads(record.read_text()).get(path.name) == key
    except ValueError:
        return False


def remember(path: Path | None, key: str) -> Path | None:
    import json

    from ..core.fileio import write_text_atomic

    if path is None:
        return None
    record = path.parent / DRAWN
    try:
        known = json.loads(record.read_text()) if record.is_file() else {}
    except ValueError:
        known = {}
    known[path.name] = key
    write_text_atomic(record, json.dumps(known, indent=1, sort_keys=True))
    return path


def file_part(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", str(name)) or "_"


def run_stem(run: LocoRun) -> str:
    seed = f"_seed-{file_part(run.seed)}" if run.seed not in ("", "nan", "None") else ""
    return f"{file_part(run.system)}_{file_part(run.corpus)}{seed}"


def heatmap(results: pd.DataFrame, systems: Sequence[str], corpora: Sequence[str], figures: Path) -> Path | None:
    """UAR per system and held-out corpus (and the mean), each cell with its 95% interval."""
    from ..stats.compare import MEAN_ROW
    from ..figures.plots import plot_heatmap

    if results is None or results.empty:
        return None
    path = figures / "heatmap.png"
    key = digest(results.to_csv(index=False), systems, corpora, NUMBERS_STYLE)
    if drawn_from(path, key):
        return path
    columns = list(corpora) + ([MEAN_ROW] if (results["held_out"] == MEAN_ROW).any() else [])
    order = [s for s in systems if s in set(results["system"])]

    def table(value: str) -> pd.DataFrame:
        return results.pivot(index="system", columns="held_out", values=value).reindex(index=order, columns=columns)

    intervals = {"uar_ci_low", "uar_ci_high"} <= set(results.columns)
    return remember(plot_heatmap(table("uar"), path,
                                 title="UAR per system and held-out corpus (95% CI)", xlabel="held-out corpus",
                                 ylabel="system", low=table("uar_ci_low") if intervals else None,
                                 high=table("uar_ci_high") if intervals else None, paper=True), key)


def pairwise_matrix(pairwise: pd.DataFrame, system: str, corpora: Sequence[str], figures: Path) -> Path | None:
    """One system's one-to-one matrix (train on the row's corpus, test on the column's), with intervals."""
    from ..figures.plots import plot_heatmap

    mine = pairwise[pairwise["system"] == system]
    if mine.empty:
        return None
    path = figures / f"pairwise_{file_part(system)}.png"
    key = digest(mine.to_csv(index=False), system, corpora, NUMBERS_STYLE)
    if drawn_from(path, key):
        return path

    def table(value: str) -> pd.DataFrame:
        matrix = mine.pivot(index="train", columns="test", values=value)
        return matrix.reindex(index=list(corpora), columns=list(corpora))

    drawn = plot_heatmap(table("uar"), path, title=f"{system}: train on one corpus, test on each (UAR, 95% CI)",
                         xlabel="test corpus", ylabel="training corpus", low=table("uar_ci_low"),
                         high=table("uar_ci_high"), paper=True)
    return remember(drawn, key)


def confusion(run: LocoRun, figures: Path) -> Path | None:
    """The run's row-normalised confusion matrix, titled with the system, its training corpora and
    the held-out corpus."""
    from ..figures.plots import plot_confusion_matrix

    performance = run.performance()
    matrix, names = performance.get("confusion_matrix"), performance.get("class_names")
    if not matrix or not names:
        return None
    path = figures / f"confusion_{run_stem(run)}.png"
    split = run.split_dir()
    style = digest(NUMBERS_STYLE)
    if fresh(path, run.test_dir / "performance.yaml", split / "split_summary.csv" if split else None) \
            and drawn_from(path, style):
        return path
    return remember(plot_confusion_matrix(np.asarray(matrix), names, path, title=confusion_title(run, performance),
                                          paper=True), style)


def confusion_title(run: LocoRun, performance: dict) -> str:
    """The system, the corpora its model was fitted on and the held-out corpus: a model refit on the
    training and validation rows after the choice (performance.yaml's ``refit``) was fitted on both."""
    trained = training_corpora(run)
    validated = [c for c in training_corpora(run, "validation") if c not in trained]
    if performance.get("refit") and validated:
        fitted = f"refit on {'+'.join(sorted({*trained, *validated}))} after the choice on {'+'.join(validated)}"
    else:
        fitted = f"trained on {'+'.join(trained) or 'the other corpora'}"
        fitted += f", validated on {'+'.join(validated)}" if validated else ""
    seed = f", seed {run.seed}" if run.seed not in ("", "nan", "None") else ""
    return (f"{run.system} ({fitted}{seed})\ntested on {run.corpus}: "
            f"UAR {float(performance.get('uar', np.nan)):.3f}")


def has_curves(run: LocoRun) -> bool:
    """Whether the training went by epochs (the training drew its curves); a baseline fitted once did not."""
    from ..protocol.runs import CURVES_NAME

    summary = run.train_dir / "summary.csv"
    if not (run.train_dir / CURVES_NAME).is_file() or not summary.is_file():
        return False
    return {"epoch", "train_loss"} <= set(pd.read_csv(summary, nrows=1).columns)


def curves(run: LocoRun, chance: float | None, figures: Path) -> Path | None:
    """Loss and validation scores per epoch, the kept checkpoint's epoch and chance marked."""
    from ..figures.plots import plot_curves

    if not has_curves(run):
        return None
    path = figures / f"curves_{run_stem(run)}.png"
    if fresh(path, run.train_dir / "summary.csv", run.test_dir / "performance.yaml"):
        return path
    summary = pd.read_csv(run.train_dir / "summary.csv")
    epoch = run.performance().get("checkpoint_epoch")
    return plot_curves(summary, path,
                       chosen_epoch=int(epoch) if epoch is not None else None, chance=chance,
                       title=f"{run.system}, held out {run.corpus}", paper=True)


def calibration(runs: Sequence[LocoRun], figures: Path) -> tuple[Path | None, list[list[str]]]:
    """The reliability diagram of every system (its held-out corpora pooled), and the rows of the ECE
    table (system, corpus or 'pooled', rows, ECE); runs without probabilities are left out."""
    from ..stats.calibration import calibration_of
    from ..figures.plots import plot_reliability

    by_system: dict[str, list[pd.DataFrame]] = {}
    rows = []
    for run in runs:
        predictions = run.predictions()
        try:
            ece, _ = calibration_of(predictions)
        except ValueError:      # no prob_<class> columns
            continue
        by_system.setdefault(run.system, []).append(predictions)
        seed = f" (seed {run.seed})" if run.seed not in ("", "nan", "None") else ""
        rows.append([run.system, run.corpus + seed, str(len(predictions)), f"{ece:.3f}"])
    tables = {}
    for system, frames in by_system.items():
        ece, table = calibration_of(pd.concat(frames, ignore_index=True))
        tables[f"{system} (ECE {ece:.3f})"] = table
        rows.append([system, "pooled", str(sum(len(f) for f in frames)), f"{ece:.3f}"])
    if not tables:
        return None, rows
    path = figures / "calibration.png"
    key = digest(*[(run.system, run.corpus, run.seed, digest((run.test_dir / "predictions.csv").read_bytes()))
                   for run in runs])
    if drawn_from(path, key):
        return path, rows
    path = plot_reliability(tables, path,
                            title="Reliability: accuracy against confidence (held-out corpora pooled)", paper=True)
    return remember(path, key), rows


def saliency(run: LocoRun, figures: Path, per_class: int) -> Path | None:
    """The run's mean Grad-CAM per emotion on a few of its test rows."""
    from ..stages.saliency import plot_saliency, saliency_of_model

    csv = run.test_csv()
    if csv is None or not csv.is_file():
        return None
    from ..core.checkpoint import BEST_NAME

    path = figures / f"saliency_{run_stem(run)}.png"
    if fresh(path, run.train_dir / BEST_NAME, csv, run.test_dir / "performance.yaml"):
        return path
    result = saliency_of_model(run.train_dir, csv, per_class=per_class)
    return plot_saliency(result, path,
                         title=f"{run.system} on {run.corpus}: mean Grad-CAM per emotion "
                               f"(up to {per_class} test rows each)", paper=True)


def speaker_map(datasets_dir: str, corpus: str, figures: Path, seed: int) -> Path:
    from ..data.embedding_plot import plot_corpus_speakers

    path = figures / f"speakers_2d_{corpus.upper()}.png"
    if path.is_file() and path.with_suffix(".svg").is_file():
        return path      # t-SNE is the slow part; the same vectors give the same map
    return plot_corpus_speakers(datasets_dir, corpus, figures, seed=seed, paper=True)
