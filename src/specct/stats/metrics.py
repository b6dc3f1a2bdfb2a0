"""Classification metrics of speech emotion recognition, their table and their bootstrap intervals.

UAR (unweighted average recall) is the mean of the per-class recalls over the classes present in
the truth, the field's headline number because emotion corpora are rarely balanced; it equals
scikit-learn's ``balanced_accuracy_score``.

The metrics that results.csv, results.md and performance.yaml report are one table, :data:`METRICS`:
each :class:`Metric` maps a batch of confusion matrices ``(..., K, K)`` (truth rows, prediction
columns) to values ``(...)``. Everything that reports metrics iterates this list at call time, so
adding a metric is one :func:`register_metric` call (or one entry below).

The bootstrap is one vectorised implementation: :func:`draw_indices` draws the resampled rows
(seeded, in blocks that bound memory), :func:`confusion_draws` turns each draw into a confusion
matrix with one ``np.bincount``, and every metric of the table is computed on the same draws.
:func:`bootstrap_metrics` (performance.yaml: :func:`classification_report`, :func:`bootstrap_ci`)
and :mod:`specct.stats.compare` (results.csv, comparison.csv) are built on it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np

CHUNK_CELLS = 4_000_000    # resample indices held in memory at once (draws x rows)
DIRECTIONS = ("higher", "lower")
# names a metric cannot take: the other columns of results.csv and the keys of performance.yaml
RESERVED_NAMES = frozenset({"system", "held_out", "n", "samples", "macro", "micro", "per_class",
                            "confidence_interval_95", "bootstrap", "confusion_matrix", "class_names"})
# the intervals performance.yaml has always given; metrics flagged ``interval`` are added to them
PERFORMANCE_INTERVALS = ("uar", "accuracy")


# --------------------------------------------------------------------------- metrics of labels

def accuracy(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.size == 0:
        return float("nan")
    return float(np.mean(y_true == y_pred))


def per_class_recall(y_true: Sequence[int], y_pred: Sequence[int], num_classes: int) -> np.ndarray:
    """Recall of each class; NaN for a class absent from the truth."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    recalls = np.full(num_classes, np.nan)
    for c in range(num_classes):
        of_class = y_true == c
        if of_class.any():
            recalls[c] = float(np.mean(y_pred[of_class] == c))
    return recalls


def uar(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    """Unweighted average recall over the classes that occur in ``y_true``."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.size == 0:
        return float("nan")
    classes = np.unique(y_true)
    return float(np.mean([np.mean(y_pred[y_true == c] == c) for c in classes]))


# --------------------------------------------------------------------------- metrics of confusion matrices

def _mean_where(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Mean over the last axis of ``values`` where ``present``; NaN where nothing is present."""
    count = present.sum(axis=-1)
    total = np.where(present, values, 0.0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _diagonal(confusion: np.ndarray) -> np.ndarray:
    return np.diagonal(confusion, axis1=-2, axis2=-1)


def uar_of_confusion(confusion: np.ndarray) -> np.ndarray:
    """Mean recall over the classes present in the truth (rows), of each confusion matrix."""
    confusion = np.asarray(confusion)
    support = confusion.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = _diagonal(confusion) / support
    return _mean_where(recall, support > 0)


def accuracy_of_confusion(confusion: np.ndarray) -> np.ndarray:
    """Share of rows on the diagonal; NaN for an empty matrix."""
    confusion = np.asarray(confusion)
    total = confusion.sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, _diagonal(confusion).sum(axis=-1) / np.maximum(total, 1), np.nan)


def macro_f1_of_confusion(confusion: np.ndarray) -> np.ndarray:
    """Mean F1 over the classes present in the truth or the predictions, an undefined F1 counting 0.

    This is results.csv's macro-F1: scikit-learn's ``f1_score(truth, predicted, average="macro",
    zero_division=0)`` without ``labels``, whose classes are those seen in either. (performance.yaml's
    ``macro.f1`` passes every class of the model as ``labels``, so a class absent from both counts 0.)
    """
    confusion = np.asarray(confusion)
    tp = _diagonal(confusion)
    denominator = confusion.sum(axis=-1) + confusion.sum(axis=-2)   # 2 tp + fn + fp
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = 2.0 * tp / denominator
    return _mean_where(f1, denominator > 0)


def confusion(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Confusion matrix ``(K, K)`` of integer codes: truth rows, prediction columns."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    flat = np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


# --------------------------------------------------------------------------- the table

@dataclass(frozen=True)
class Metric:
    """One reported metric.

    ``function`` maps confusion matrices ``(..., K, K)`` (truth rows, prediction columns) to values
    ``(...)``; ``format`` prints a value (results.md); ``direction`` says whether a higher or a lower
    value is better; ``interval``: results.csv gives it a bootstrap interval (columns
    ``<name>_ci_low``, ``<name>_ci_high``) and performance.yaml one in ``confidence_interval_95``;
    ``label`` is its column header in results.md (default: the name).
    """
    name: str
    function: Callable[[np.ndarray], np.ndarray]
    format: str = "{:.3f}"
    direction: str = "higher"
    interval: bool = False
    label: str | None = None

    def __post_init__(self):
        if not self.name.isidentifier() or self.name in RESERVED_NAMES:
            raise ValueError(f"metric name {self.name!r}: not an identifier, or taken by another column")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"metric {self.name}: direction {self.direction!r} is not one of {DIRECTIONS}")

    def __call__(self, confusions: np.ndarray) -> np.ndarray:
        return np.asarray(self.function(np.asarray(confusions)), dtype=float)

    @property
    def header(self) -> str:
        return self.label or self.name

    def show(self, value) -> str:
        """The value as results.md prints it; ``-`` for a missing one."""
        if value is None or (isinstance(value, (float, np.floating)) and np.isnan(value)):
            return "-"
        return self.format.format(value)

    def better(self, a: float, b: float) -> bool:
        """Whether value ``a`` is better than ``b``."""
        return a > b if self.direction == "higher" else a < b


METRICS: list[Metric] = [
    Metric("uar", uar_of_confusion, interval=True, label="UAR"),
    Metric("accuracy", accuracy_of_confusion),
    Metric("macro_f1", macro_f1_of_confusion, label="macro-F1"),
]


def register_metric(metric: Metric | None = None, *, replace: bool = False, **fields) -> Metric:
    """Add a metric to the table (a :class:`Metric`, or its fields as keywords); returns it.

    Every table (results.csv, results.md, performance.yaml) picks it up from then on. A name already
    in the table is an error unless ``replace``, which puts the new entry in the old one's place.
    """
    metric = metric if metric is not None else Metric(**fields)
    for i, existing in enumerate(METRICS):
        if existing.name == metric.name:
            if not replace:
                raise ValueError(f"metric {metric.name} is in the table already")
            METRICS[i] = metric
            return metric
    METRICS.append(metric)
    return metric


def unregister_metric(name: str) -> Metric:
    """Take a metric out of the table; returns it."""
    metric = get_metric(name)
    METRICS.remove(metric)
    return metric


def get_metric(name: str | Metric) -> Metric:
    if isinstance(name, Metric):
        return name
    for metric in METRICS:
        if metric.name == name:
            return metric
    raise KeyError(f"no metric {name!r} (the table has {', '.join(m.name for m in METRICS)})")


def _selected(metrics: Sequence[str | Metric] | None) -> list[Metric]:
    return list(METRICS) if metrics is None else [get_metric(m) for m in metrics]


# --------------------------------------------------------------------------- one vectorised bootstrap

@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float


def draw_indices(n: int, resamples: int, seed: int | np.random.Generator) -> Iterator[np.ndarray]:
    """Yield blocks of row indices, ``(draws, n)`` each, ``resamples`` rows in all (seeded).

    A block of shape ``(B, n)`` takes the same numbers from the generator as ``B`` calls of size
    ``n``, so the draws do not depend on the block size.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    per_block = max(1, CHUNK_CELLS // max(n, 1))
    done = 0
    while done < resamples:
        size = min(per_block, resamples - done)
        yield rng.integers(0, n, size=(size, n))
        done += size


def confusion_draws(y_true, predictions: Sequence, num_classes: int, resamples: int,
                    seed: int | np.random.Generator) -> np.ndarray:
    """Confusion matrices of bootstrap draws, ``(len(predictions), resamples, K, K)``.

    ``y_true`` and each prediction are integer codes ``0..K-1`` of the same rows; each draw resamples
    rows with replacement, one set of rows for every prediction (paired).
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    cells = num_classes * num_classes
    codes = [y_true * num_classes + np.asarray(p, dtype=np.int64) for p in predictions]
    out = np.zeros((len(codes), resamples, num_classes, num_classes), dtype=np.int64)
    if len(y_true) == 0:
        return out
    start = 0
    for index in draw_indices(len(y_true), resamples, seed):
        size = len(index)
        offset = (np.arange(size, dtype=np.int64) * cells)[:, None]
        for j, code in enumerate(codes):
            flat = np.bincount((code[index] + offset).ravel(), minlength=size * cells)
            out[j, start:start + size] = flat.reshape(size, num_classes, num_classes)
        start += size
    return out


def percentile_interval(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap values."""
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return float(low), float(high)


def label_codes(y_true, *predictions) -> tuple[np.ndarray, list[np.ndarray], int]:
    """Integer codes of labels (ints or class names) over the union of every label seen."""
    values = [np.asarray(y_true)] + [np.asarray(p) for p in predictions]
    classes = np.unique(np.concatenate(values))
    coded = [np.searchsorted(classes, v) for v in values]
    return coded[0], coded[1:], len(classes)


def bootstrap_metrics(y_true, y_pred, resamples: int = 1000, seed: int | np.random.Generator = 0,
              confidence: float = 0.95, metrics: Sequence[str | Metric] | None = None,
              num_classes: int | None = None) -> dict[str, Interval]:
    """Every metric of the table (or of ``metrics``) with its percentile interval, on one set of draws.

    Labels may be integer codes ``0..num_classes-1`` (give ``num_classes``) or anything else
    (coded over the labels seen). No rows: NaN everywhere.
    """
    chosen = _selected(metrics)
    if num_classes is None:
        y_true, (y_pred,), num_classes = label_codes(y_true, y_pred)
    if len(y_true) == 0:
        nan = float("nan")
        return {m.name: Interval(nan, nan, nan) for m in chosen}
    observed = confusion(y_true, y_pred, num_classes)
    draws = confusion_draws(y_true, [y_pred], num_classes, resamples, seed)[0]
    return {m.name: Interval(float(m(observed)), *percentile_interval(m(draws), confidence)) for m in chosen}


_LABEL_FUNCTIONS = {uar: "uar", accuracy: "accuracy"}


def bootstrap_ci(y_true: Sequence[int], y_pred: Sequence[int], metric=uar, num_resamples: int = 1000,
                 confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric``, resampling utterances with replacement (seeded).

    ``metric``: a metric of the table (its name or :class:`Metric`), or :func:`uar` / :func:`accuracy`.
    """
    if not isinstance(metric, (str, Metric)):
        if metric not in _LABEL_FUNCTIONS:
            raise TypeError(f"bootstrap_ci: {metric!r} is not a metric of the table (see register_metric)")
        metric = _LABEL_FUNCTIONS[metric]
    metric = get_metric(metric)
    interval = bootstrap_metrics(y_true, y_pred, num_resamples, seed, confidence, metrics=[metric])[metric.name]
    return interval.low, interval.high


# --------------------------------------------------------------------------- performance.yaml

def classification_report(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str],
                          bootstrap: int = 1000, seed: int = 0) -> dict:
    """The metrics of performance.yaml, as plain Python numbers.

    ``y_true`` and ``y_pred`` are class indices into ``class_names``. The keys, in this order:
    samples, accuracy, uar, macro, micro, per_class, confidence_interval_95 (uar and accuracy, then
    every other metric of the table flagged ``interval``), bootstrap, confusion_matrix, class_names;
    then each metric of the table not among them (e.g. macro_f1). All intervals come from one set of
    seeded draws.
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels = list(range(len(class_names)))
    report: dict = {"samples": int(len(y_true)), "accuracy": accuracy(y_true, y_pred), "uar": uar(y_true, y_pred)}
    for average in ("macro", "micro"):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=average,
                                                     zero_division=0)
        report[average] = {"precision": float(p), "recall": float(r), "f1": float(f)}
    recalls = per_class_recall(y_true, y_pred, len(class_names))
    support = np.bincount(y_true.astype(np.int64), minlength=len(class_names))
    report["per_class"] = {name: {"recall": None if np.isnan(recalls[i]) else float(recalls[i]),
                                  "support": int(support[i])} for i, name in enumerate(class_names)}
    table = list(METRICS)
    with_interval = list(PERFORMANCE_INTERVALS) + [m.name for m in table
                                                   if m.interval and m.name not in PERFORMANCE_INTERVALS]
    everything = with_interval + [m.name for m in table if m.name not in with_interval]
    intervals = bootstrap_metrics(y_true, y_pred, bootstrap, seed, metrics=everything,
                                  num_classes=len(class_names))
    report["confidence_interval_95"] = {name: [intervals[name].low, intervals[name].high] for name in with_interval}
    report["bootstrap"] = {"resamples": int(bootstrap), "seed": int(seed)}
    report["confusion_matrix"] = confusion_matrix(y_true, y_pred, labels=labels).tolist()
    report["class_names"] = list(class_names)
    for metric in table:
        if metric.name not in report:
            report[metric.name] = intervals[metric.name].value
    return report
