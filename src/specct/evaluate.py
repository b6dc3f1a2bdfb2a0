"""Evaluation of a trained model on its held-out test corpus.

``evaluate(model_dir)`` reads the run's ``args.yaml`` to find the split, loads ``model_best.pth.tar``
(which rebuilds its model alone) and writes to ``output/test/...``:

- ``performance.yaml``: accuracy, UAR, macro and micro precision/recall/F1, per-class recall and
  support, and seeded bootstrap 95% confidence intervals of UAR and accuracy;
- ``conf_matrix.png``: the row-normalised confusion matrix, labelled;
- ``predictions.csv``: file, truth, prediction and one probability column per class.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import yaml

from . import data as split_data
from .baselines import is_baseline_path
from .checkpoint import BEST_NAME, load_checkpoint
from .cli import ArgumentParser
from .errors import InputError, MissingInputError, run_script
from .fileio import write_csv_atomic, write_text_atomic
from .metrics import accuracy, bootstrap_ci, per_class_recall, uar
from .paths import eval_data_dir
from .paths import eval_output_dir as default_output_dir  # output/train/<run> -> output/test/<run>
from .plots import plot_confusion_matrix
from .threads import torch_threads

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


def test_csv_for(model_dir: Path, data_test_path: str | Path | None) -> Path:
    """The test CSV: ``--data_test_path`` (a CSV, an eval_data folder or a split folder), else the run's split."""
    if data_test_path is not None:
        candidate = Path(data_test_path)
        for path in (candidate, candidate / "test.csv", candidate / "eval_data" / "test.csv"):
            if path.is_file():
                return path
        raise MissingInputError(f"{candidate}: no test.csv here (give a CSV, an eval_data or a split folder)")
    from .train.outputs import read_args

    args = read_args(model_dir)
    train_dir = Path(args["data_dir"])
    path = eval_data_dir(train_dir.parent) / "test.csv"
    if not path.is_file():
        raise MissingInputError(f"{path}: test split of {train_dir} not found (use --data_test_path)")
    return path


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str],
                          bootstrap: int = 1000, seed: int = 0) -> dict:
    """The metrics of performance.yaml, as plain Python numbers."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = list(range(len(class_names)))
    report: dict = {"samples": int(len(y_true)), "accuracy": accuracy(y_true, y_pred), "uar": uar(y_true, y_pred)}
    for average in ("macro", "micro"):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=average,
                                                     zero_division=0)
        report[average] = {"precision": float(p), "recall": float(r), "f1": float(f)}
    recalls = per_class_recall(y_true, y_pred, len(class_names))
    support = np.bincount(y_true, minlength=len(class_names))
    report["per_class"] = {name: {"recall": None if np.isnan(recalls[i]) else float(recalls[i]),
                                  "support": int(support[i])} for i, name in enumerate(class_names)}
    report["confidence_interval_95"] = {
        name: list(bootstrap_ci(y_true, y_pred, fn, num_resamples=bootstrap, seed=seed))
        for name, fn in (("uar", uar), ("accuracy", accuracy))}
    report["bootstrap"] = {"resamples": int(bootstrap), "seed": int(seed)}
    report["confusion_matrix"] = confusion_matrix(y_true, y_pred, labels=labels).tolist()
    report["class_names"] = list(class_names)
    return report


def evaluate(model_dir: str | Path, data_test_path: str | Path | None = None, output: str | Path | None = None,
             checkpoint: str = BEST_NAME, batch_size: int = 64, workers: int = 0, device: str = "auto",
             bootstrap: int = 1000, seed: int = 0, progress: bool = True, threads: int | None = None) -> EvalResult:
    """Test a trained model on its held-out corpus; ``threads``: torch CPU threads (None: half the cores)."""
    import torch
    from torch.utils.data import DataLoader

    from .models.factory import model_from_checkpoint, takes_speaker
    from .train.engine import predict_loader, softmax

    model_dir = Path(model_dir)
    if not (model_dir / checkpoint).is_file() and is_baseline_path(model_dir):  # a saved baseline folder
        from .baselines.evaluate import evaluate_baseline

        return evaluate_baseline(model_dir, data_test_path, output, bootstrap, seed, progress)
    state = load_checkpoint(model_dir / checkpoint)
    class_names = list(state["class_names"])
    test_csv = test_csv_for(model_dir, data_test_path)
    frame = split_data.read_split(test_csv, class_names)  # a label outside the model's classes is an error
    if len(frame) == 0:
        raise InputError(f"{test_csv}: no test rows")
    model = model_from_checkpoint(state)
    torch_device = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                                ("cpu" if device == "auto" else device))
    model.to(torch_device)
    speaker_model = takes_speaker(model)
    vectors = split_data.raw_speaker_vectors(frame) if speaker_model else None
    speaker_norm = (state.get("args") or {}).get("speaker_norm", "none")
    if speaker_model and speaker_norm != "none":
        from .speaker import standardise_by_group

        # TRANSDUCTIVE: the test rows' own (unlabelled) vectors give their group's statistics
        vectors = standardise_by_group(vectors, frame[speaker_norm], frame["wav"])
    dcfg = state["data_config"]
    dataset = split_data.SplitDataset(frame, dcfg["input_size"], dcfg["mean"], dcfg["std"], vectors,
                                      source=str(test_csv), interpolation=dcfg.get("interpolation", "bilinear"))
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    with torch_threads(threads):
        logits, targets = predict_loader(model, loader, device=torch_device, speaker_model=speaker_model,
                                         progress=progress, desc="test")
    probabilities = softmax(logits)
    predicted = probabilities.argmax(axis=1)

    out_dir = Path(output) if output else default_output_dir(model_dir)
    performance = classification_report(targets, predicted, class_names, bootstrap=bootstrap, seed=seed)
    corpora = sorted(set(frame["corpus"]))
    performance.update({"model": state["model_name"], "checkpoint": str((model_dir / checkpoint).resolve()),
                        "checkpoint_epoch": int(state.get("epoch", 0)), "test_csv": str(test_csv.resolve()),
                        "test_corpora": corpora})
    if speaker_model and speaker_norm != "none":
        performance["transductive"] = (f"speaker vectors standardised per {speaker_norm} with the statistics of "
                                       f"the test rows' own unlabelled vectors")
    return write_evaluation(out_dir, frame, class_names, predicted, probabilities, performance, progress)


def write_evaluation(out_dir: Path, frame: pd.DataFrame, class_names: Sequence[str], predicted: np.ndarray,
                     probabilities: np.ndarray, performance: dict, progress: bool = True,
                     note: str = "") -> EvalResult:
    """predictions.csv, performance.yaml and the confusion matrix of one evaluation (a CCT's or a
    baseline's), and the one-line summary; ``note`` is appended to that line."""
    corpora = sorted(set(frame["corpus"]))
    predictions = pd.DataFrame({"file": frame["image"], "wav": frame["wav"], "truth": frame["label"],
                                "prediction": [class_names[i] for i in predicted]})
    for i, name in enumerate(class_names):
        predictions[f"prob_{name}"] = probabilities[:, i]
    write_csv_atomic(out_dir / PREDICTIONS_NAME, predictions)
    write_text_atomic(out_dir / PERFORMANCE_NAME, yaml.safe_dump(performance, sort_keys=False))
    plot_confusion_matrix(np.asarray(performance["confusion_matrix"]), class_names, out_dir / CONFUSION_NAME,
                          title=f"{'+'.join(corpora)}: UAR {performance['uar']:.3f}, "
                                f"accuracy {performance['accuracy']:.3f}")
    if progress:
        low, high = performance["confidence_interval_95"]["uar"]
        print(f"test {'+'.join(corpora)} ({len(frame)} files): accuracy {performance['accuracy']:.3f}  "
              f"UAR {performance['uar']:.3f} [95% CI {low:.3f}-{high:.3f}]  macro-F1 {performance['macro']['f1']:.3f}"
              f"{note}\nresults in {out_dir}")
    return EvalResult(out_dir, performance, predictions)


def main(argv=None) -> int:
    import argparse

    parser = ArgumentParser(prog="eval.py", description="Evaluate a trained model on its test corpus.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("model_dir", help="training output folder (holds args.yaml and model_best.pth.tar)")
    parser.add_argument("--data_test_path", default=None,
                        help="test CSV, eval_data folder or split folder; default: the run's own split")
    parser.add_argument("--output", default=None, help="results folder; default output/test/<run>")
    parser.add_argument("--checkpoint", default=BEST_NAME, help="checkpoint file name inside model_dir")
    parser.add_argument("--batch_size", "-b", type=int, default=64)
    parser.add_argument("--workers", "-j", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: half the cores available, which keeps the speed "
                             "when other work shares the machine)")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the 95%% CIs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    args = parser.parse_args(argv)
    return run_script("eval.py", lambda: evaluate(args.model_dir, args.data_test_path, args.output, args.checkpoint,
                                                  args.batch_size, args.workers, args.device, args.bootstrap,
                                                  args.seed, threads=args.threads))
