"""Evaluation of a saved baseline on its held-out test corpus, into the files eval.py writes for a CCT."""
from __future__ import annotations

from pathlib import Path

from .. import data as split_data
from ..errors import InputError
from .features import features_for_wavs
from .model import load_model, model_path
from .trainer import scaling_groups, scaling_record


def evaluate_baseline(model_dir: str | Path, data_test_path=None, output=None, bootstrap: int = 1000, seed: int = 0,
                      progress: bool = True):
    from ..evaluate import classification_report, default_output_dir, test_csv_for, write_evaluation

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
    note = "  (transductive scaling)" if model.scaler.transductive else ""
    return write_evaluation(out_dir, frame, class_names, predicted, probabilities, performance, progress, note)
