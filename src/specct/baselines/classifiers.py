"""The classifiers of the baselines: scikit-learn SVMs and logistic regression, and a small torch head.

scikit-learn models are fitted on the training rows for every candidate of the hyper-parameter grid
(C, and gamma for the RBF kernel); the candidate with the best validation UAR (ties: the first, the
smallest C) is kept. Test rows never take part. The torch head (linear, or one hidden layer; with a
learned softmax-weighted sum of the layers when the features hold every SSL layer) is trained with
train.py's options: epochs, batch size, lr, weight decay, class weights, seed, and early stopping on
the validation metric with ``--patience``; the weights of the best validation epoch are kept.
"""
from __future__ import annotations

import itertools
import time
from typing import Sequence

import numpy as np
import torch
from torch import nn

from ..core.errors import InputError
from ..stats.metrics import accuracy, uar

SKLEARN_KINDS = ("svm_linear", "svm_rbf", "logreg")
TORCH_KINDS = ("linear", "mlp")


def make_estimator(kind: str, c: float, gamma: float | str = "scale", class_weight: str | None = None, seed: int = 0):
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC

    if kind == "svm_linear":
        return SVC(kernel="linear", C=c, class_weight=class_weight, random_state=seed)
    if kind == "svm_rbf":
        return SVC(kernel="rbf", C=c, gamma=gamma, class_weight=class_weight, random_state=seed)
    if kind == "logreg":
        return LogisticRegression(C=c, max_iter=2000, class_weight=class_weight, random_state=seed)
    raise InputError(f"unknown scikit-learn classifier {kind!r}; choose one of {', '.join(SKLEARN_KINDS)}")


def sklearn_scores(estimator, x: np.ndarray, n_classes: int | None = None) -> np.ndarray:
    """Class probabilities: ``predict_proba`` where the model has it (logistic regression), otherwise
    the softmax of the one-vs-rest SVM decision values (a score per class, not a calibrated probability).
    ``n_classes``: one column per class of the class set, 0 for a class the training rows did not have
    (the estimator's columns are only the classes it saw)."""
    if hasattr(estimator, "predict_proba") and getattr(estimator, "probability", True):
        scores = estimator.predict_proba(x)
    else:
        decision = np.asarray(estimator.decision_function(x), dtype=np.float64)
        if decision.ndim == 1:  # two classes
            decision = np.stack([-decision, decision], axis=1)
        decision -= decision.max(axis=1, keepdims=True)
        exp = np.exp(decision)
        scores = exp / exp.sum(axis=1, keepdims=True)
    seen = np.asarray(getattr(estimator, "classes_", np.arange(scores.shape[1])), dtype=np.int64)
    if n_classes is None or (scores.shape[1] == n_classes and np.array_equal(seen, np.arange(n_classes))):
        return scores
    full = np.zeros((len(scores), n_classes), dtype=scores.dtype)
    full[:, seen] = scores
    return full


def parse_gamma(value) -> float | str:
    if str(value) in ("scale", "auto"):
        return str(value)
    try:
        return float(value)
    except ValueError:
        raise InputError(f"--svm_gamma {value!r}: give numbers, 'scale' or 'auto'") from None


def validation_scores(estimator, x_val: np.ndarray, y_val: np.ndarray) -> dict:
    """Validation loss, accuracy and UAR; NaN without validation rows (``--validation none``)."""
    if len(y_val) == 0:
        return {"val_loss": float("nan"), "val_accuracy": float("nan"), "val_uar": float("nan")}
    width = int(max(np.max(y_val), np.max(estimator.classes_))) + 1   # a validation class the training rows lack
    predicted, scores = estimator.predict(x_val), sklearn_scores(estimator, x_val, width)
    return {"val_loss": float(-np.mean(np.log(np.clip(scores[np.arange(len(y_val)), y_val], 1e-12, None)))),
            "val_accuracy": accuracy(y_val, predicted), "val_uar": uar(y_val, predicted)}


def fit_sklearn(kind: str, x_train, y_train, x_val, y_val, c_grid: Sequence[float], gamma_grid: Sequence,
                class_weight: str | None, seed: int, log=print):
    """Fit every grid candidate on training rows, pick by validation UAR; returns ``(estimator, rows, best)``."""
    from threadpoolctl import threadpool_limits

    gammas = [parse_gamma(g) for g in gamma_grid] if kind == "svm_rbf" else [None]
    candidates = list(itertools.product([float(c) for c in c_grid], gammas))
    if len(y_val) == 0 and len(candidates) > 1:   # --validation none: nothing to choose on
        raise InputError(f"no validation rows to choose among {len(candidates)} hyper-parameter candidates; "
                         f"give one value (e.g. --svm_c 1.0{' --svm_gamma scale' if kind == 'svm_rbf' else ''})")
    rows, best, best_est = [], None, None
    for i, (c, gamma) in enumerate(candidates):
        started = time.perf_counter()
        estimator = make_estimator(kind, c, gamma if gamma is not None else "scale", class_weight, seed)
        with threadpool_limits(limits=1, user_api="blas"):   # small problems: one thread is fastest on a busy machine
            estimator.fit(x_train, y_train)
            row = {"candidate": i + 1, "C": c, "gamma": "" if gamma is None else gamma,
                   "train_accuracy": accuracy(y_train, estimator.predict(x_train)),
                   **validation_scores(estimator, x_val, y_val), "seconds": time.perf_counter() - started}
        rows.append(row)
        if best is None or row["val_uar"] > best["val_uar"]:
            best, best_est = row, estimator
        log(f"candidate {i + 1}: C {c:g}{'' if gamma is None else f'  gamma {gamma}'}  "
            f"val_uar {row['val_uar']:.3f}  val_acc {row['val_accuracy']:.3f}")
    for row in rows:
        row["chosen"] = row is best
    return best_est, rows, best


def refit_sklearn(kind: str, best: dict, x, y, class_weight: str | None, seed: int):
    """The candidate ``best`` (a row of :func:`fit_sklearn`) fitted again on ``x``, ``y``
    (training + validation rows)."""
    from threadpoolctl import threadpool_limits

    gamma = parse_gamma(best["gamma"]) if kind == "svm_rbf" else "scale"
    estimator = make_estimator(kind, float(best["C"]), gamma, class_weight, seed)
    with threadpool_limits(limits=1, user_api="blas"):
        return estimator.fit(x, y)


class FeatureHead(nn.Module):
    """Linear (``hidden=0``) or one-hidden-layer classifier of utterance features.

    With ``num_layers > 1`` the input is (N, layers, D) and the head first takes a softmax-weighted
    sum over the layers, with learned weights (initially equal).
    """

    def __init__(self, in_dim: int, num_classes: int, hidden: int = 0, num_layers: int = 1, drop: float = 0.0):
        super().__init__()
        self.in_dim, self.num_classes, self.hidden, self.num_layers, self.drop = in_dim, num_classes, hidden, \
            num_layers, drop
        self.layer_weights = nn.Parameter(torch.zeros(num_layers)) if num_layers > 1 else None
        if hidden:
            self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(drop), nn.Linear(hidden, num_classes))
        else:
            self.net = nn.Sequential(nn.Dropout(drop), nn.Linear(in_dim, num_classes))

    def config(self) -> dict:
        return {"in_dim": self.in_dim, "num_classes": self.num_classes, "hidden": self.hidden,
                "num_layers": self.num_layers, "drop": self.drop}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.layer_weights is not None:
            x = (torch.softmax(self.layer_weights, dim=0)[None, :, None] * x).sum(dim=1)
        return self.net(x)


def head_probabilities(head: FeatureHead, x: np.ndarray) -> np.ndarray:
    head.eval()
    with torch.no_grad():
        return torch.softmax(head(torch.from_numpy(np.asarray(x, np.float32))), dim=-1).numpy()


def train_head(kind: str, x_train, y_train, x_val, y_val, num_classes: int, args, log=print):
    """Train a FeatureHead with train.py's options; returns ``(head with the best weights, history, best row)``.

    Without validation rows (the refit on training + validation rows) every epoch of ``args.epochs``
    is trained and the last is kept."""
    from ..train.losses import EmotionLoss, balanced_class_weights
    from ..train.selection import higher_is_better, selection_value

    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    x_train_t = torch.from_numpy(np.array(x_train, dtype=np.float32))
    y_train_t = torch.from_numpy(np.array(y_train, dtype=np.int64))
    layered = x_train_t.ndim == 3
    head = FeatureHead(int(x_train_t.shape[-1]), num_classes, hidden=args.head_hidden if kind == "mlp" else 0,
                       num_layers=int(x_train_t.shape[1]) if layered else 1, drop=args.drop or 0.0)
    counts = np.bincount(np.asarray(y_train), minlength=num_classes)
    weights = balanced_class_weights(counts) if args.class_weights == "balanced" else None
    criterion = EmotionLoss(num_classes, weights, smoothing=args.smoothing)
    optimizer = torch.optim.AdamW(head.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    higher = higher_is_better(args.eval_metric)
    history, best, best_state, stale = [], None, None, 0
    for epoch in range(args.epochs):
        head.train()
        order = torch.randperm(len(x_train_t), generator=generator)
        total, seen = 0.0, 0
        for first in range(0, len(order), args.batch_size):
            pick = order[first:first + args.batch_size]
            loss = criterion(head(x_train_t[pick]), y_train_t[pick])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, seen = total + loss.item() * len(pick), seen + len(pick)
        row = {"epoch": epoch + 1, "train_loss": total / max(seen, 1), "val_loss": float("nan"),
               "val_accuracy": float("nan"), "val_uar": float("nan"), "lr": args.lr}
        if len(y_val):
            probs = head_probabilities(head, x_val)
            predicted = probs.argmax(axis=1)
            row.update(val_loss=float(-np.mean(np.log(np.clip(probs[np.arange(len(y_val)), y_val], 1e-12, None)))),
                       val_accuracy=accuracy(y_val, predicted), val_uar=uar(y_val, predicted))
        history.append(row)
        value = selection_value(row, args.eval_metric)
        improved = (best is None or not len(y_val)  # no validation rows: the last epoch is kept
                    or (value > best[1] if higher else value < best[1]))
        if improved:
            best, stale = (row, value), 0
            best_state = {k: v.detach().clone() for k, v in head.state_dict().items()}
        else:
            stale += 1
        scores = (f"val_loss {row['val_loss']:.4f}  val_uar {row['val_uar']:.3f}{'  *best*' if improved else ''}"
                  if len(y_val) else "no validation")
        log(f"epoch {epoch + 1}/{args.epochs}  train_loss {row['train_loss']:.4f}  {scores}")
        if args.patience and stale >= args.patience:
            log(f"early stop: no validation {args.eval_metric} improvement for {args.patience} epochs")
            break
    head.load_state_dict(best_state)
    return head.eval(), history, best[0]
