"""Comparing systems on the same test rows: bootstrap intervals, paired tests, the results tables.

Every statistic here resamples test rows (utterances) with replacement, seeded, with all draws made
at once by numpy (no Python loop over draws):

- :func:`bootstrap_uar` - percentile 95% interval of one system's UAR on one corpus;
- :func:`paired_bootstrap` - the UAR difference of two systems on the *same* rows: each draw picks
  one set of rows and scores both systems on it, so what the systems share (the rows' difficulty)
  cancels. The p-value is two-sided, from the draws centred on the observed difference:
  ``p = (1 + #{|d* - d| >= |d|}) / (B + 1)``; identical systems give p = 1;
- :func:`stratified` versions of both for the mean over held-out corpora: rows are resampled within
  each corpus (the corpora are fixed, their rows are the sample), and the mean of the per-corpus
  UARs is taken in each draw.

:func:`results_table` and :func:`comparison_table` turn the ``predictions.csv`` files of a
leave-one-corpus-out experiment into ``results.csv`` and ``comparison.csv``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import InputError

MEAN_ROW = "mean"          # the held-out "corpus" name of the rows that average over corpora
CHUNK_CELLS = 4_000_000    # resample indices held in memory at once (draws x rows)


# --------------------------------------------------------------------------- draws

def draw_indices(n: int, resamples: int, seed: int | np.random.Generator):
    """Yield blocks of row indices, ``(draws, n)`` each, ``resamples`` rows in all (seeded)."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    per_block = max(1, CHUNK_CELLS // max(n, 1))
    done = 0
    while done < resamples:
        size = min(per_block, resamples - done)
        yield rng.integers(0, n, size=(size, n))
        done += size


def uar_of_draws(y_true: np.ndarray, correct: np.ndarray, index: np.ndarray, num_classes: int) -> np.ndarray:
    """UAR of each draw (row of ``index``): mean recall over the classes present in that draw."""
    truth = y_true[index]
    hits = correct[index]
    recalls = np.full((index.shape[0], num_classes), np.nan)
    for c in range(num_classes):           # a loop over classes, the draws stay vectorised
        of_class = truth == c
        counts = of_class.sum(axis=1)
        present = counts > 0
        recalls[present, c] = (of_class & hits).sum(axis=1)[present] / counts[present]
    return np.nanmean(recalls, axis=1)


def _codes(y_true, *predictions) -> tuple[np.ndarray, list[np.ndarray], int]:
    """Integer codes of labels (ints or class names) over the union of every label seen."""
    values = [np.asarray(y_true)] + [np.asarray(p) for p in predictions]
    classes = np.unique(np.concatenate(values))
    coded = [np.searchsorted(classes, v) for v in values]
    return coded[0], coded[1:], len(classes)


def _uar(y: np.ndarray, correct: np.ndarray, num_classes: int) -> float:
    return float(uar_of_draws(y, correct, np.arange(len(y))[None, :], num_classes)[0])


def _percentile_ci(values: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return float(low), float(high)


def _p_value(draws: np.ndarray, observed: float) -> float:
    """Two-sided p of ``observed`` against the draws shifted to a zero mean difference."""
    extreme = np.abs(draws - observed) >= abs(observed) - 1e-12
    return float((1 + extreme.sum()) / (len(draws) + 1))


# --------------------------------------------------------------------------- one corpus

@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float


@dataclass(frozen=True)
class PairedResult:
    difference: float       # UAR of system minus UAR of reference
    low: float
    high: float
    p_value: float
    n: int
    uar_system: float
    uar_reference: float

    @property
    def significant(self) -> bool:
        return self.p_value < 0.05 and not (self.low <= 0.0 <= self.high)


def bootstrap_uar(y_true, y_pred, resamples: int = 2000, seed: int = 0, confidence: float = 0.95) -> Interval:
    """UAR with its percentile bootstrap interval (rows resampled with replacement)."""
    return stratified_uar([(y_true, y_pred)], resamples, seed, confidence)


def paired_bootstrap(y_true, pred_system, pred_reference, resamples: int = 2000, seed: int = 0,
                     confidence: float = 0.95) -> PairedResult:
    """UAR(system) - UAR(reference) on the same rows, its paired interval and two-sided p-value."""
    return stratified_paired([(y_true, pred_system, pred_reference)], resamples, seed, confidence)


# --------------------------------------------------------------------------- several corpora

def _mean_uar_draws(groups: Sequence[tuple], resamples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Observed per-system mean UAR and its draws, rows resampled within each group.

    Each group is ``(y_true, pred_1, ..., pred_k)``; returns ``(observed (k,), draws (resamples, k))``.
    """
    rng = np.random.default_rng(seed)
    k = len(groups[0]) - 1
    observed = np.zeros(k)
    draws = np.zeros((resamples, k))
    for group in groups:
        y, predictions, num_classes = _codes(*group)
        if len(y) == 0:
            raise InputError("no test rows to compare")
        correct = [p == y for p in predictions]
        observed += [_uar(y, c, num_classes) for c in correct]
        start = 0
        for index in draw_indices(len(y), resamples, rng):
            stop = start + len(index)
            for j, c in enumerate(correct):
                draws[start:stop, j] += uar_of_draws(y, c, index, num_classes)
            start = stop
    return observed / len(groups), draws / len(groups)


def stratified_uar(groups: Sequence[tuple], resamples: int = 2000, seed: int = 0,
                   confidence: float = 0.95) -> Interval:
    """Mean UAR over groups ``(y_true, y_pred)``, interval from resampling rows within each group."""
    observed, draws = _mean_uar_draws(groups, resamples, seed)
    return Interval(float(observed[0]), *_percentile_ci(draws[:, 0], confidence))


def stratified_paired(groups: Sequence[tuple], resamples: int = 2000, seed: int = 0,
                      confidence: float = 0.95) -> PairedResult:
    """Paired difference of mean UARs over groups ``(y_true, pred_system, pred_reference)``."""
    observed, draws = _mean_uar_draws(groups, resamples, seed)
    difference = float(observed[0] - observed[1])
    diffs = draws[:, 0] - draws[:, 1]
    low, high = _percentile_ci(diffs, confidence)
    return PairedResult(difference, low, high, _p_value(diffs, difference), int(sum(len(g[0]) for g in groups)),
                        float(observed[0]), float(observed[1]))


# --------------------------------------------------------------------------- tables

def align_predictions(predictions: Mapping[str, pd.DataFrame], held_out: str) -> pd.DataFrame:
    """One frame ``file, truth, <system>...`` of every system's predictions on one held-out corpus.

    Every system must have been tested on exactly the same rows with the same truth; otherwise the
    comparison would not be paired, and that is an error naming the systems.
    """
    names = list(predictions)
    first = predictions[names[0]].set_index("file")
    aligned = first[["truth"]].copy()
    for name in names:
        frame = predictions[name].set_index("file")
        if set(frame.index) != set(aligned.index):
            only = sorted(set(frame.index) ^ set(aligned.index))
            raise InputError(f"{held_out}: systems {names[0]} and {name} were not tested on the same rows "
                             f"({len(only)} differ, e.g. {only[0]})")
        frame = frame.loc[aligned.index]
        if not (frame["truth"].astype(str) == aligned["truth"].astype(str)).all():
            raise InputError(f"{held_out}: systems {names[0]} and {name} disagree on the truth of some rows")
        aligned[name] = frame["prediction"].astype(str)
    aligned["truth"] = aligned["truth"].astype(str)
    return aligned.reset_index()


def results_table(predictions: Mapping[tuple[str, str], pd.DataFrame], systems: Sequence[str],
                  corpora: Sequence[str], resamples: int = 2000, seed: int = 0) -> pd.DataFrame:
    """``results.csv``: system, held_out, n, uar, uar_ci_low/high, accuracy, macro_f1, per system and
    held-out corpus; then each system's mean over the held-out corpora it has (CI resampled within)."""
    from sklearn.metrics import f1_score

    rows = []
    for system in systems:
        groups = []
        for corpus in corpora:
            frame = predictions.get((system, corpus))
            if frame is None:
                continue
            truth, predicted = frame["truth"].astype(str).to_numpy(), frame["prediction"].astype(str).to_numpy()
            ci = bootstrap_uar(truth, predicted, resamples, seed)
            rows.append({"system": system, "held_out": corpus, "n": len(frame), "uar": ci.value,
                         "uar_ci_low": ci.low, "uar_ci_high": ci.high,
                         "accuracy": float(np.mean(truth == predicted)),
                         "macro_f1": float(f1_score(truth, predicted, average="macro", zero_division=0))})
            groups.append((truth, predicted))
        if len(groups) > 1:
            ci = stratified_uar(groups, resamples, seed)
            mine = [r for r in rows if r["system"] == system]
            rows.append({"system": system, "held_out": MEAN_ROW, "n": int(sum(r["n"] for r in mine)),
                         "uar": ci.value, "uar_ci_low": ci.low, "uar_ci_high": ci.high,
                         "accuracy": float(np.mean([r["accuracy"] for r in mine])),
                         "macro_f1": float(np.mean([r["macro_f1"] for r in mine]))})
    return pd.DataFrame(rows, columns=["system", "held_out", "n", "uar", "uar_ci_low", "uar_ci_high",
                                       "accuracy", "macro_f1"])


COMPARISON_COLUMNS = ["system", "reference", "held_out", "n", "uar_system", "uar_reference", "difference",
                      "ci_low", "ci_high", "p_value", "significant"]


def comparison_table(predictions: Mapping[tuple[str, str], pd.DataFrame], systems: Sequence[str],
                     corpora: Sequence[str], reference: str, resamples: int = 2000,
                     seed: int = 0) -> pd.DataFrame:
    """``comparison.csv``: each system against ``reference``, per held-out corpus and over their mean.

    ``significant`` is true when p < 0.05 and the paired 95% interval excludes 0; other rows are ties.
    """
    rows = []
    for system in systems:
        if system == reference:
            continue
        groups = []
        for corpus in corpora:
            pair = {s: predictions.get((s, corpus)) for s in (system, reference)}
            if any(frame is None for frame in pair.values()):
                continue
            aligned = align_predictions(pair, corpus)
            group = (aligned["truth"].to_numpy(), aligned[system].to_numpy(), aligned[reference].to_numpy())
            groups.append(group)
            rows.append(_comparison_row(system, reference, corpus, [group], resamples, seed))
        if len(groups) > 1:
            rows.append(_comparison_row(system, reference, MEAN_ROW, groups, resamples, seed))
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def _comparison_row(system, reference, held_out, groups, resamples, seed) -> dict:
    result = stratified_paired(groups, resamples, seed)
    return {"system": system, "reference": reference, "held_out": held_out, "n": result.n,
            "uar_system": result.uar_system, "uar_reference": result.uar_reference,
            "difference": result.difference, "ci_low": result.low, "ci_high": result.high,
            "p_value": result.p_value, "significant": bool(result.significant)}
