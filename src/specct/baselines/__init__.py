"""Baselines in the same protocol as the CCTs: classic acoustic features and frozen SSL features.

A baseline is a ``--model`` name of train.py. It reads the same split folder (each row's wav, not
its image), writes the same output folder (args.yaml, summary.csv, the saved model
``model_best.skops``), and eval.py and predict.py use that folder alone, through
:class:`specct.systems.BaselineSystem`.

| name | features (default) | classifier |
|---|---|---|
| ``egemaps_svm`` | egemaps | linear SVM, C chosen on validation |
| ``egemaps_svm_rbf`` | egemaps | RBF SVM, C and gamma chosen on validation |
| ``egemaps_logreg`` | egemaps | logistic regression, C chosen on validation |
| ``compare_svm`` | compare | linear SVM |
| ``resemblyzer_svm`` | resemblyzer (the 256-d speaker vector, from the speaker cache) | linear SVM |
| ``ssl_linear`` | ``--features ssl:...`` (required) | linear torch head |
| ``ssl_mlp`` | ``--features ssl:...`` (required) | one-hidden-layer torch head |
| ``whisper_svm`` | ``whisper`` (Whisper base of ``make weights``; the layer chosen on validation) | linear SVM |
| ``whisper_lr`` | ``whisper`` | logistic regression, C and layer chosen on validation |

``--features`` overrides a baseline's default feature set (e.g. ``egemaps_svm --features compare``).
"""
from __future__ import annotations

from dataclasses import dataclass

MODEL_NAME = "model_best.skops"


@dataclass(frozen=True)
class Baseline:
    name: str
    classifier: str            # svm_linear, svm_rbf, logreg (scikit-learn); linear, mlp (torch head)
    features: str | None       # default --features; None: must be given


BASELINES = {b.name: b for b in (
    Baseline("egemaps_svm", "svm_linear", "egemaps"),
    Baseline("egemaps_svm_rbf", "svm_rbf", "egemaps"),
    Baseline("egemaps_logreg", "logreg", "egemaps"),
    Baseline("compare_svm", "svm_linear", "compare"),
    Baseline("compare_logreg", "logreg", "compare"),
    Baseline("resemblyzer_svm", "svm_linear", "resemblyzer"),
    Baseline("ssl_svm", "svm_linear", None),
    Baseline("ssl_linear", "linear", None),
    Baseline("ssl_mlp", "mlp", None),
    Baseline("whisper_svm", "svm_linear", "whisper"),
    Baseline("whisper_lr", "logreg", "whisper"),
)}
