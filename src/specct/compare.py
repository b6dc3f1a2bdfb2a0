"""Comparing systems on the same test rows: bootstrap intervals, paired tests, the results tables.

Every statistic here resamples test rows (utterances) with replacement, seeded, with all draws made
at once by numpy (no Python loop over draws), on the one bootstrap of :mod:`specct.metrics`: each
draw becomes a confusion matrix, and every metric of the table (:data:`specct.metrics.METRICS`) is
computed on the same draws.

- :func:`bootstrap_intervals` - every metric with its percentile 95% interval, one system, one
  corpus; :func:`bootstrap_uar` is its UAR;
- :func:`paired_bootstrap` - the difference of a metric (UAR) of two systems on the *same* rows:
  each draw picks one set of rows and scores both systems on it, so what the systems share (the
  rows' difficulty) cancels. The p-value is two-sided, from the draws centred on the observed
  difference: ``p = (1 + #{|d* - d| >= |d|}) / (B + 1)``; identical systems give p = 1;
- :func:`stratified_intervals`, :func:`stratified_uar`, :func:`stratified_paired`: the same for the
  mean over held-out corpora: rows are resampled within each corpus (the corpora are fixed, their
  rows are the sample), and the mean of the per-corpus values is taken in each draw.

:func:`results_table` and :func:`comparison_table` turn the ``predictions.csv`` files of a
leave-one-corpus-out experiment into ``results.csv`` and ``comparison.csv``, whose columns come from
the metrics table; :func:`markdown_results` prints both as Markdown (results.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from . import metrics as _metrics
from .errors import InputError
from .metrics import (CHUNK_CELLS, Interval, Metric, confusion, confusion_draws, draw_indices,  # noqa: F401
                      get_metric, label_codes, percentile_interval)

MEAN_ROW = "mean"          # the held-out "corpus" name of the rows that average over corpora
CSV_DECIMALS = 6           # the numbers of results.csv and comparison.csv are rounded to this
RESULTS_KEYS = ["system", "held_out", "n"]


def _p_value(draws: np.ndarray, observed: float) -> float:
    """Two-sided p of ``observed`` against the draws shifted to a zero mean difference."""
    extreme = np.abs(draws - observed) >= abs(observed) - 1e-12
    return float((1 + extreme.sum()) / (len(draws) + 1))


def _table(metrics: Sequence[str | Metric] | None) -> list[Metric]:
    return list(_metrics.METRICS) if metrics is None else [get_metric(m) for m in metrics]


# --------------------------------------------------------------------------- draws of every metric

@dataclass(frozen=True)
class MetricDraws:
    """Each metric's value (mean over groups), ``(k,)`` for k systems, and its draws ``(resamples, k)``."""
    observed: dict[str, np.ndarray]
    draws: dict[str, np.ndarray]


def stratified_draws(groups: Sequence[tuple], resamples: int = 2000, seed: int | np.random.Generator = 0,
                     metrics: Sequence[str | Metric] | None = None) -> MetricDraws:
    """Every metric of k systems, observed and drawn, rows resampled within each group.

    Each group is ``(y_true, pred_1, ..., pred_k)`` (labels of any kind, coded per group); one
    generator draws the groups in turn, and the systems of a group share its draws (paired).
    """
    if not groups:
        raise InputError("no test rows to compare")
    chosen = _table(metrics)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    k = len(groups[0]) - 1
    observed = {m.name: np.zeros(k) for m in chosen}
    draws = {m.name: np.zeros((resamples, k)) for m in chosen}
    for group in groups:
        y, predictions, num_classes = label_codes(*group)
        if len(y) == 0:
            raise InputError("no test rows to compare")
        seen = np.stack([confusion(y, p, num_classes) for p in predictions])           # (k, K, K)
        drawn = confusion_draws(y, predictions, num_classes, resamples, rng)            # (k, B, K, K)
        for m in chosen:
            observed[m.name] += m(seen)
            draws[m.name] += m(drawn).T
    return MetricDraws({name: value / len(groups) for name, value in observed.items()},
                       {name: value / len(groups) for name, value in draws.items()})


# --------------------------------------------------------------------------- one system

@dataclass(frozen=True)
class PairedResult:
    difference: float       # metric of system minus metric of reference (UAR unless ``metric`` says)
    low: float
    high: float
    p_value: float
    n: int
    uar_system: float       # the metric of each system (named for comparison.csv's UAR columns)
    uar_reference: float
    metric: str = "uar"

    @property
    def significant(self) -> bool:
        return self.p_value < 0.05 and not (self.low <= 0.0 <= self.high)


def stratified_intervals(groups: Sequence[tuple], resamples: int = 2000, seed: int = 0, confidence: float = 0.95,
                         metrics: Sequence[str | Metric] | None = None) -> dict[str, Interval]:
    """Every metric's mean over groups ``(y_true, y_pred)``, intervals from resampling within each group."""
    result = stratified_draws(groups, resamples, seed, metrics)
    return {name: Interval(float(result.observed[name][0]), *percentile_interval(result.draws[name][:, 0], confidence))
            for name in result.observed}


def bootstrap_intervals(y_true, y_pred, resamples: int = 2000, seed: int = 0, confidence: float = 0.95,
                        metrics: Sequence[str | Metric] | None = None) -> dict[str, Interval]:
    """Every metric of the table with its percentile bootstrap interval, all on the same draws."""
    return stratified_intervals([(y_true, y_pred)], resamples, seed, confidence, metrics)


def stratified_uar(groups: Sequence[tuple], resamples: int = 2000, seed: int = 0,
                   confidence: float = 0.95) -> Interval:
    """Mean UAR over groups ``(y_true, y_pred)``, interval from resampling rows within each group."""
    return stratified_intervals(groups, resamples, seed, confidence, metrics=["uar"])["uar"]


def bootstrap_uar(y_true, y_pred, resamples: int = 2000, seed: int = 0, confidence: float = 0.95) -> Interval:
    """UAR with its percentile bootstrap interval (rows resampled with replacement)."""
    return stratified_uar([(y_true, y_pred)], resamples, seed, confidence)


# --------------------------------------------------------------------------- two systems

def stratified_paired(groups: Sequence[tuple], resamples: int = 2000, seed: int = 0,
                      confidence: float = 0.95, metric: str | Metric = "uar") -> PairedResult:
    """Paired difference of a metric's means over groups ``(y_true, pred_system, pred_reference)``."""
    metric = get_metric(metric)
    result = stratified_draws(groups, resamples, seed, metrics=[metric])
    observed, draws = result.observed[metric.name], result.draws[metric.name]
    difference = float(observed[0] - observed[1])
    diffs = draws[:, 0] - draws[:, 1]
    low, high = percentile_interval(diffs, confidence)
    return PairedResult(difference, low, high, _p_value(diffs, difference), int(sum(len(g[0]) for g in groups)),
                        float(observed[0]), float(observed[1]), metric.name)


def paired_bootstrap(y_true, pred_system, pred_reference, resamples: int = 2000, seed: int = 0,
                     confidence: float = 0.95, metric: str | Metric = "uar") -> PairedResult:
    """metric(system) - metric(reference) (UAR) on the same rows, its paired interval and two-sided p."""
    return stratified_paired([(y_true, pred_system, pred_reference)], resamples, seed, confidence, metric)


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


def results_columns(metrics: Sequence[str | Metric] | None = None) -> list[str]:
    """Columns of results.csv: system, held_out, n, then each metric of the table (its value, and
    ``<name>_ci_low``, ``<name>_ci_high`` for one flagged ``interval``)."""
    columns = list(RESULTS_KEYS)
    for m in _table(metrics):
        columns += [m.name] + ([f"{m.name}_ci_low", f"{m.name}_ci_high"] if m.interval else [])
    return columns


def _metric_cells(table: Sequence[Metric], intervals: Mapping[str, Interval]) -> dict:
    cells = {}
    for m in table:
        cells[m.name] = intervals[m.name].value
        if m.interval:
            cells[f"{m.name}_ci_low"], cells[f"{m.name}_ci_high"] = intervals[m.name].low, intervals[m.name].high
    return cells


def _rounded(frame: pd.DataFrame) -> pd.DataFrame:
    """Float columns rounded to :data:`CSV_DECIMALS`, so the CSV reads 0.03, not 0.030000000000000027."""
    floats = [c for c in frame.columns if pd.api.types.is_float_dtype(frame[c])]
    return frame.round({c: CSV_DECIMALS for c in floats})


def results_table(predictions: Mapping[tuple[str, str], pd.DataFrame], systems: Sequence[str],
                  corpora: Sequence[str], resamples: int = 2000, seed: int = 0) -> pd.DataFrame:
    """``results.csv``: per system and held-out corpus, n and every metric of the table (today uar,
    uar_ci_low/high, accuracy, macro_f1); then each system's mean over the held-out corpora it has
    (intervals resampled within each corpus). Numbers rounded to :data:`CSV_DECIMALS`."""
    table = _table(None)
    rows = []
    for system in systems:
        groups, total = [], 0
        for corpus in corpora:
            frame = predictions.get((system, corpus))
            if frame is None:
                continue
            truth, predicted = frame["truth"].astype(str).to_numpy(), frame["prediction"].astype(str).to_numpy()
            intervals = stratified_intervals([(truth, predicted)], resamples, seed, metrics=table)
            rows.append({"system": system, "held_out": corpus, "n": len(frame), **_metric_cells(table, intervals)})
            groups.append((truth, predicted))
            total += len(frame)
        if len(groups) > 1:
            intervals = stratified_intervals(groups, resamples, seed, metrics=table)
            rows.append({"system": system, "held_out": MEAN_ROW, "n": int(total), **_metric_cells(table, intervals)})
    return _rounded(pd.DataFrame(rows, columns=results_columns(table)))


COMPARISON_COLUMNS = ["system", "reference", "held_out", "n", "uar_system", "uar_reference", "difference",
                      "ci_low", "ci_high", "p_value", "significant"]


def comparison_table(predictions: Mapping[tuple[str, str], pd.DataFrame], systems: Sequence[str],
                     corpora: Sequence[str], reference: str, resamples: int = 2000,
                     seed: int = 0) -> pd.DataFrame:
    """``comparison.csv``: each system against ``reference``, per held-out corpus and over their mean.

    ``significant`` is true when p < 0.05 and the paired 95% interval excludes 0 (decided before the
    numbers are rounded to :data:`CSV_DECIMALS`); other rows are ties.
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
    return _rounded(pd.DataFrame(rows, columns=COMPARISON_COLUMNS))


def _comparison_row(system, reference, held_out, groups, resamples, seed) -> dict:
    result = stratified_paired(groups, resamples, seed)
    return {"system": system, "reference": reference, "held_out": held_out, "n": result.n,
            "uar_system": result.uar_system, "uar_reference": result.uar_reference,
            "difference": result.difference, "ci_low": result.low, "ci_high": result.high,
            "p_value": result.p_value, "significant": bool(result.significant)}


# --------------------------------------------------------------------------- Markdown (results.md)

def _show(metric: Metric, value) -> str:
    return "-" if value is None or pd.isna(value) else metric.show(value)


def results_cells(results: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """The header and the printed cells of the results table: each metric of the table that
    ``results`` has, with its 95% CI where it has one (results.md and the report show these)."""
    shown = [m for m in _metrics.METRICS if m.name in results.columns]
    ranged = {m.name for m in shown if {f"{m.name}_ci_low", f"{m.name}_ci_high"} <= set(results.columns)}
    header = ["system", "held-out corpus", "n"] + [f"{m.header} (95% CI)" if m.name in ranged else m.header
                                                  for m in shown]
    rows = []
    for row in results.to_dict("records"):
        cells = [str(row["system"]), str(row["held_out"]), str(row["n"])]
        for m in shown:
            cell = _show(m, row[m.name])
            if m.name in ranged:
                cell += f" ({_show(m, row[f'{m.name}_ci_low'])}-{_show(m, row[f'{m.name}_ci_high'])})"
            cells.append(cell)
        rows.append(cells)
    return header, rows


def markdown_table(header: Sequence[str], rows: Sequence[Sequence], left: int = 1) -> list[str]:
    """The lines of a Markdown table: the first ``left`` columns left-aligned, the others (numbers)
    right-aligned."""
    return (["| " + " | ".join(header) + " |", "|" + "---|" * left + "---:|" * (len(header) - left)]
            + ["| " + " | ".join(map(str, row)) + " |" for row in rows])


def markdown_results(results: pd.DataFrame, comparison: pd.DataFrame | None) -> str:
    """The results table (:func:`results_cells`) and the significance table, as Markdown."""
    lines = markdown_table(*results_cells(results), left=2)
    if comparison is not None and len(comparison):
        lines += ["", "| system | vs reference | held-out corpus | UAR difference (95% CI) | p | verdict |",
                  "|---|---|---|---:|---:|---|"]
        for row in comparison.itertuples():
            verdict = ("**better**" if row.difference > 0 else "**worse**") if row.significant else "tie"
            lines.append(f"| {row.system} | {row.reference} | {row.held_out} | {row.difference:+.3f} "
                         f"({row.ci_low:+.3f} to {row.ci_high:+.3f}) | {row.p_value:.4f} | {verdict} |")
    return "\n".join(lines) + "\n"
