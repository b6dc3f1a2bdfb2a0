"""The evaluation protocol every system shares: which test rows, which metrics, which files.

A system (:mod:`specct.systems`) gives class probabilities and predictions; everything else is
here, below every kind: the test CSV of a run (``test_csv_for``), the metrics of performance.yaml
(``classification_report``, from the metrics table of :mod:`specct.stats.metrics`), and the files one evaluation writes (``write_evaluation``):

- ``performance.yaml``: accuracy, UAR, macro and micro precision/recall/F1, per-class recall and
  support, and seeded bootstrap 95% confidence intervals of UAR and accuracy;
- ``conf_matrix.png``: the row-normalised confusion matrix, labelled;
- ``predictions.csv``: file, truth, prediction and one probability column per class.

``Prediction`` is one classified wav file (predict.py), whatever system classified it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import yaml

from ..core.errors import InputError, MissingInputError
from ..core.fileio import remove_stale_temporaries, write_csv_atomic, write_text_atomic
from ..stats.metrics import classification_report  # noqa: F401  (the metrics of performance.yaml)
from ..core.paths import eval_data_dir
from ..figures.plots import plot_confusion_matrix
from .runs import read_args

PERFORMANCE_NAME = "performance.yaml"
CONFUSION_NAME = "conf_matrix.png"
PREDICTIONS_NAME = "predictions.csv"


@dataclass
class EvalResult:
    output_dir: Path
    performance: dict
    predictions: pd.DataFrame

    @property
    def figure(self) -> Path:
        return self.output_dir / CONFUSION_NAME


@dataclass
class Prediction:
    """The emotion of one wav file, or the one-line reason it could not be classified."""
    file: str
    emotion: str | None = None
    probabilities: dict[str, float] = field(default_factory=dict)
    error: str | None = None


def test_csv_for(model_dir: Path, data_test_path: str | Path | None) -> Path:
    """The test CSV: ``--data_test_path`` (a CSV, an eval_data folder or a split folder), else the run's split."""
    if data_test_path is not None:
        candidate = Path(data_test_path)
        for path in (candidate, candidate / "test.csv", candidate / "eval_data" / "test.csv"):
            if path.is_file():
                return path
        raise MissingInputError(f"{candidate}: no test.csv here (give a CSV, an eval_data or a split folder)")
    args = read_args(model_dir)
    train_dir = Path(args["data_dir"])
    path = eval_data_dir(train_dir.parent) / "test.csv"
    if not path.is_file():
        raise MissingInputError(f"{path}: test split of {train_dir} not found (use --data_test_path)")
    return path


def read_test_rows(test_csv: Path, class_names: Sequence[str]) -> pd.DataFrame:
    """The test rows; a label outside the model's classes is an error, and so is an empty split."""
    from ..data import split_rows as split_data  # torch: not for the scripts' --help

    frame = split_data.read_split(test_csv, class_names)
    if len(frame) == 0:
        raise InputError(f"{test_csv}: no test rows")
    return frame


PREDICTION_COLUMNS = ("file", "wav", "truth", "prediction")


def evaluation_problem(out_dir: str | Path) -> str | None:
    """Why an evaluation folder does not hold a usable finished evaluation (``"<file>: <reason>"``), or
    None: performance.yaml a record with a UAR, predictions.csv with its columns, rows and no empty
    label. A missing folder or file is a problem too; an edited or truncated file is detected here."""
    from ..core.errors import SpecctError
    from ..core.records import read_csv_table, read_record

    out_dir = Path(out_dir)
    try:
        performance = read_record(out_dir / PERFORMANCE_NAME, "evaluation record")
        if not isinstance(performance.get("uar"), (int, float)):
            return f"{out_dir / PERFORMANCE_NAME}: damaged evaluation record (no UAR)"
        frame = read_csv_table(out_dir / PREDICTIONS_NAME, "predictions", PREDICTION_COLUMNS, rows=True)
    except (SpecctError, OSError) as exc:
        return str(exc).splitlines()[0]
    if frame[["truth", "prediction"]].isna().any().any():
        return f"{out_dir / PREDICTIONS_NAME}: damaged predictions (a row without its truth or prediction)"
    return None


def trained_labels(performance: dict) -> set[str] | None:
    """The labels of the training rows of the evaluated model (its args.yaml names its split), or
    None where that cannot be read (a model folder moved without its split)."""
    checkpoint = performance.get("checkpoint")
    try:
        data_dir = Path(read_args(Path(checkpoint).parent)["data_dir"])
        labels = pd.read_csv(data_dir / "train.csv", usecols=["label"], dtype=str)["label"]
    except Exception:   # noqa: BLE001 - a warning that cannot be worked out is left out, never a failure
        return None
    return set(labels)


def degenerate_warnings(frame: pd.DataFrame, class_names: Sequence[str], performance: dict) -> list[str]:
    """What makes these scores not what they seem: a test set of one class (its UAR is that class's
    recall, 1.0 for a model that always answers it), a class the model never saw in training."""
    warnings = []
    tested = sorted(set(frame["label"]))
    if len(tested) < 2:
        warnings.append(f"the test rows hold one class ({', '.join(tested)}): the UAR is that class's recall "
                        f"and, with its CI and macro-F1, is not comparable with a test of several classes")
    lacking = [c for c in class_names if c not in tested]
    if len(tested) >= 2 and lacking:   # e.g. a 4-class model on a corpus without neutral
        warnings.append(f"the test rows hold no {', '.join(lacking)} (the model has {len(class_names)} classes, the "
                        f"test set {len(tested)}): the UAR averages the recall of the {len(tested)} present")
    trained = trained_labels(performance)
    untrained = [c for c in class_names if trained is not None and c not in trained]
    if untrained:
        warnings.append(f"class(es) {', '.join(untrained)} had no training rows (no training corpus has them): "
                        f"never learnt, so never predicted well")
    return warnings


def write_evaluation(out_dir: Path, frame: pd.DataFrame, class_names: Sequence[str], predicted: np.ndarray,
                     probabilities: np.ndarray, performance: dict, progress: bool = True,
                     note: str = "") -> EvalResult:
    """predictions.csv, performance.yaml and the confusion matrix of one evaluation, and the one-line
    summary; ``note`` is appended to that line."""
    if Path(out_dir).is_dir():
        remove_stale_temporaries(out_dir)   # left by an evaluation killed mid-write
    corpora = sorted(set(frame["corpus"]))
    predictions = pd.DataFrame({"file": frame["image"], "wav": frame["wav"], "truth": frame["label"],
                                "prediction": [class_names[i] for i in predicted]})
    for i, name in enumerate(class_names):
        predictions[f"prob_{name}"] = probabilities[:, i]
    warnings = degenerate_warnings(frame, class_names, performance)
    if warnings:   # kept with the scores, so that every table and report built from them can say so
        performance["warnings"] = warnings
    for warning in warnings:
        print(f"WARNING: {out_dir}: {warning}")
    write_csv_atomic(out_dir / PREDICTIONS_NAME, predictions)
    plot_confusion_matrix(np.asarray(performance["confusion_matrix"]), class_names, out_dir / CONFUSION_NAME,
                          title=f"{'+'.join(corpora)}: UAR {performance['uar']:.3f}, "
                                f"accuracy {performance['accuracy']:.3f}")
    # last: a readable performance.yaml says the evaluation finished (evaluation_problem), so a kill
    # before it evaluates again rather than leave the confusion matrix out
    write_text_atomic(out_dir / PERFORMANCE_NAME, yaml.safe_dump(performance, sort_keys=False))
    if progress:
        low, high = performance["confidence_interval_95"]["uar"]
        print(f"test {'+'.join(corpora)} ({len(frame)} files): accuracy {performance['accuracy']:.3f}  "
              f"UAR {performance['uar']:.3f} [95% CI {low:.3f}-{high:.3f}]  macro-F1 {performance['macro']['f1']:.3f}"
              f"{note}\nresults in {out_dir}")
    return EvalResult(out_dir, performance, predictions)
