"""Evaluation of a saved baseline on its held-out test corpus, into the files eval.py writes for a CCT."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from .. import data as split_data
from ..errors import InputError
from ..fileio import write_csv_atomic, write_text_atomic
from ..plots import plot_confusion_matrix
from .features import features_for_wavs
from .model import load_model, model_path
from .trainer import scaling_groups, scaling_record


def evaluate_baseline(model_dir: str | Path, data_test_path=None, output=None, bootstrap: int = 1000, seed: int = 0,
                      progress: bool = True):
    from ..evaluate import (CONFUSION_NAME, PERFORMANCE_NAME, PREDICTIONS_NAME, EvalResult, classification_report,
                            default_output_dir, test_csv_for)

    model_dir = Path(model_dir)
    model = load_model(model_dir)
    class_names = model.class_names
    test_csv = test_csv_for(model_dir, data_test_path)
    frame = split_data.read_split(test_csv, class_names)
    if len(frame) == 0:
        raise InputError(f"{test_csv}: no test rows")
    features = features_for_wavs(frame["wav"], model.spec)
    groups = scaling_groups(frame, model.scaler.mode)
    probabilities = model.probabilities(features, groups)
    predicted = model.predict(features, groups)
    targets = frame["target"].to_numpy()

    out_dir = Path(output) if output else default_output_dir(model_dir)
    performance = classification_report(targets, predicted, class_names, bootstrap=bootstrap, seed=seed)
    corpora = sorted(set(frame["corpus"]))
    performance.update({"model": model.model_name, "checkpoint": str(model_path(model_dir).resolve()),
                        "checkpoint_epoch": int(model.info.get("hyperparameters", {}).get("epoch", 0)),
                        "test_csv": str(Path(test_csv).resolve()), "test_corpora": corpora,
                        "features": model.spec.as_dict(), "scaling": scaling_record(model.scaler.mode),
                        "hyperparameters": model.info.get("hyperparameters", {})})
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
        note = "  (transductive scaling)" if model.scaler.transductive else ""
        print(f"test {'+'.join(corpora)} ({len(frame)} files): accuracy {performance['accuracy']:.3f}  "
              f"UAR {performance['uar']:.3f} [95% CI {low:.3f}-{high:.3f}]  macro-F1 {performance['macro']['f1']:.3f}"
              f"{note}\nresults in {out_dir}")
    return EvalResult(out_dir, performance, predictions)
