"""Comparing systems on the same test rows: bootstrap intervals, paired tests, the results tables.

Every statistic here resamples test rows (utterances) with replacement, seeded, with all draws made
at once by numpy (no Python loop over draws), on the one bootstrap of :mod:`specct.stats.metrics`: each
draw becomes a confusion matrix, and every metric of the table (:data:`specct.stats.metrics.METRICS`) is
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
the metrics table (:func:`with_warnings` appends results.csv's column of degenerate-data warnings);
:func:`markdown_results` prints both as Markdown (results.md). A system trained
with several seeds gives one ``predictions.csv`` per seed: the tables then take the two-level
bootstrap (each draw resamples the seeds, then the rows within each corpus; a system's value is the
mean over the drawn seeds) and add the seed columns (:data:`SEED_COLUMNS`, and ``seeds`` in
comparison.csv). With one run everywhere they are the tables of one run, number for number.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from . import metrics as _metrics
from ..core.errors import InputError
from .metrics import (CHUNK_CELLS, Interval, Metric, confusion, confusion_draws, draw_indices, get_metric,
    label_codes, percentile_interval)
from ..core.seeding import rng_for

MEAN_ROW = "mean"          # the held-out "corpus" name of the rows that average over corpora
CSV_DECIMALS = 4           # the numbers of results.csv and comparison.csv are rounded to this (a paper prints 3)
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
    ``<name>_ci_low``, ``<name>_ci_high`` for one flagged ``interval``); with several training seeds
    :data:`SEED_COLUMNS` follow."""
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


# --------------------------------------------------------------------------- training seeds
#
# A value of ``predictions`` is one frame (one run) or a list of frames, one per training seed, all on
# the same test rows. A draw of the two-level bootstrap picks the seeds with replacement (from its own
# stream, so the rows' draws are those of one run), then the rows within each corpus, the same rows
# for every run; a system's value in the draw is the mean over the drawn seeds. With one run
# everywhere the draws, and the tables, are those of the one-level bootstrap above.

SEED_COLUMNS = ["seeds", "uar_seed_sd", "uar_per_seed"]   # results.csv's columns with several seeds
SEED_STREAM = "training seeds"                            # the stream (specct.core.seeding) that picks seeds


def _runs(value, system: str, corpus: str) -> list[pd.DataFrame] | None:
    """The runs of one (system, corpus): ``None`` where it has none, else a list of frames."""
    if value is None:
        return None
    if isinstance(value, pd.DataFrame):
        return [value]
    runs = list(value)
    if not runs or not all(isinstance(run, pd.DataFrame) for run in runs):
        raise InputError(f"{system} on {corpus}: predictions must be a DataFrame or a non-empty list of "
                         f"DataFrames (one per training seed)")
    return runs


def _several_seeds(predictions: Mapping) -> bool:
    """Whether any (system, corpus) of ``predictions`` has more than one run."""
    return any(not isinstance(v, pd.DataFrame) and v is not None and len(v) > 1 for v in predictions.values())


def _run_names(system: str, count: int) -> list[str]:
    return [system] if count == 1 else [f"{system} (seed run {i + 1} of {count})" for i in range(count)]


@dataclass(frozen=True)
class _Group:
    """One held-out corpus: coded truth, every run's coded predictions, which runs are each system's,
    and how many seeds (pairs of seeds, in a comparison) a draw picks."""
    y: np.ndarray
    runs: list[np.ndarray]
    num_classes: int
    members: list[list[int]]
    slots: int
    n: int


def _group(truth, runs: Sequence, members: list[list[int]]) -> _Group:
    y, coded, num_classes = label_codes(truth, *runs)
    if len(y) == 0:
        raise InputError("no test rows to compare")
    return _Group(y, coded, num_classes, members, max(len(m) for m in members), len(y))


class _RowCounts:
    """How often each draw picks each row, ``(n, B)`` (row by draw) float32, of the row generator of
    :func:`_two_level_draws`, kept for reuse: that generator is fresh for each row of a table and draws
    the groups in turn, so the counts of a group depend only on the seed, the number of draws and the
    numbers of rows of the groups up to it, and the systems of a table share them. Kept up to
    :data:`COUNTS_BYTES` in all; past that, drawn again."""

    def __init__(self):
        self.kept: dict[tuple, tuple[np.ndarray, dict]] = {}
        self.bytes = 0

    def counts(self, key: tuple, n: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
        if key in self.kept:
            counts, state = self.kept[key]
            rng.bit_generator.state = state               # where the generator is once it has drawn them
            return counts
        dtype = np.float32 if n < 2 ** 24 else np.float64
        counts = np.empty((n, resamples), dtype=dtype)
        start = 0
        for index in draw_indices(n, resamples, rng):
            size = len(index)
            flat = np.bincount((index + (np.arange(size, dtype=np.int64) * n)[:, None]).ravel(),
                               minlength=size * n)
            counts[:, start:start + size] = flat.reshape(size, n).T
            start += size
        if self.bytes + counts.nbytes <= COUNTS_BYTES:
            self.kept[key] = counts, rng.bit_generator.state
            self.bytes += counts.nbytes
        return counts


COUNTS_BYTES = 256 * 2 ** 20


def _confusions(y_true, predictions: Sequence, num_classes: int, counts: np.ndarray) -> np.ndarray:
    """:func:`specct.stats.metrics.confusion_draws` of every prediction from the draws' row counts
    ``(n, B)``: the same matrices, ``(R, B, K, K)`` int64, in one matrix product per true class (a
    one-hot table of what each run predicted on the class's rows times their counts in each draw),
    so the cost hardly grows with the runs. The counts are whole numbers below 2**24, exact in float32."""
    y = np.asarray(y_true, dtype=np.int64)
    count, resamples, k = len(predictions), counts.shape[1], num_classes
    out = np.zeros((count, resamples, k, k), dtype=np.int64)
    if len(y) == 0:
        return out
    predicted = np.stack([np.asarray(p, dtype=np.int64) for p in predictions])                  # (R, n)
    for t in range(k):
        rows = np.flatnonzero(y == t)
        if len(rows) == 0:
            continue
        onehot = np.zeros((count * k, len(rows)), dtype=counts.dtype)
        onehot[predicted[:, rows] + (np.arange(count) * k)[:, None], np.arange(len(rows))] = 1
        product = np.rint(onehot @ counts[rows]).astype(np.int64)                                # (R*K, B)
        out[:, :, t, :] = product.reshape(count, k, resamples).transpose(0, 2, 1)
    return out


def _one_thread():
    """Small matrix products run fastest on one BLAS thread, above all on a busy machine."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _seed_uniforms(seed: int, resamples: int, slots: int) -> np.ndarray:
    """``(resamples, slots)`` uniforms that pick each draw's seeds (shared by the corpora of a row)."""
    return rng_for(seed, SEED_STREAM).random((resamples, slots))


def _picked(values: np.ndarray, runs: list[int], uniforms: np.ndarray, slots: int) -> np.ndarray:
    """A system's draws ``(B,)`` from its runs' draws ``values (R, B)``: the mean over the seeds each
    draw picks (a system with one run: that run, in every pair)."""
    if len(runs) == 1:
        return values[runs[0]]
    pick = np.minimum((uniforms[:, :slots] * slots).astype(np.int64), slots - 1)                  # (B, slots)
    return values[np.asarray(runs)[pick], np.arange(values.shape[1])[:, None]].mean(axis=1)


@dataclass(frozen=True)
class _SeedDraws:
    observed: dict[str, np.ndarray]                 # (k,) each system's mean over groups of its mean over runs
    draws: dict[str, np.ndarray]                    # (B, k)
    per_run: list[dict[str, np.ndarray]]            # per group: each run's observed value (R,)


def _two_level_draws(groups: Sequence[_Group], resamples: int, seed: int, chosen: Sequence[Metric],
                     uniforms: np.ndarray, kept: _RowCounts | None = None) -> _SeedDraws:
    """:func:`stratified_draws` over runs: rows resampled within each group (one generator, the groups
    in turn, every run of a group on the same rows), seeds picked by ``uniforms``."""
    rng = np.random.default_rng(seed)
    k = len(groups[0].members)
    observed = {m.name: np.zeros(k) for m in chosen}
    draws = {m.name: np.zeros((resamples, k)) for m in chosen}
    per_run, sizes = [], ()
    kept = kept or _RowCounts()
    for group in groups:
        sizes += (group.n,)
        counts = kept.counts((seed, resamples, sizes), group.n, resamples, rng)
        seen = np.stack([confusion(group.y, p, group.num_classes) for p in group.runs])         # (R, K, K)
        drawn = _confusions(group.y, group.runs, group.num_classes, counts)                     # (R, B, K, K)
        runs = {}
        for m in chosen:
            value, values = m(seen), m(drawn)
            runs[m.name] = value
            observed[m.name] += np.array([value[r[0]] if len(r) == 1 else value[r].mean() for r in group.members])
            draws[m.name] += np.stack([_picked(values, r, uniforms, group.slots) for r in group.members], axis=1)
        per_run.append(runs)
    return _SeedDraws({name: value / len(groups) for name, value in observed.items()},
                      {name: value / len(groups) for name, value in draws.items()}, per_run)


def _seed_cells(per_seed: list[float] | None, count: int) -> dict:
    """The seed columns of one results.csv row (``per_seed`` None: the seeds differ between corpora)."""
    if per_seed is None:
        return {"seeds": count, "uar_seed_sd": float("nan"), "uar_per_seed": ""}
    sd = float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else 0.0
    return {"seeds": len(per_seed), "uar_seed_sd": sd, "uar_per_seed": ";".join(f"{v:.3f}" for v in per_seed)}


def _mean_per_seed(groups: Sequence[_Group], per_run: Sequence[dict], member: int, name: str) -> list[float] | None:
    """Each seed's mean over the groups (None when the groups have different numbers of seeds)."""
    counts = {len(g.members[member]) for g in groups}
    if len(counts) != 1:
        return None
    total = np.zeros(counts.pop())
    for group, runs in zip(groups, per_run):
        total = total + runs[name][group.members[member]]
    return list(total / len(groups))


def _aligned_runs(named: Mapping[str, pd.DataFrame], held_out: str) -> tuple[np.ndarray, list[np.ndarray]]:
    """:func:`align_predictions` as arrays, ``(truth, [each frame's predictions])`` in the first frame's
    row order, without building frames: every frame with the same unique files and the same truth.
    Anything else goes through :func:`align_predictions`, which says what is wrong."""
    frames = list(named.values())
    first = frames[0]["file"].to_numpy(dtype=object)
    index = pd.Index(first)
    truth = frames[0]["truth"].astype(str).to_numpy()
    predicted = []
    for frame in frames:
        files = frame["file"].to_numpy(dtype=object)
        take = None
        if len(files) != len(first) or not np.array_equal(files, first):
            position = index.get_indexer(files) if index.is_unique else None
            if position is None or len(files) != len(first) or (position < 0).any() or not pd.Index(files).is_unique:
                return _slow_aligned(named, held_out)
            take = np.empty(len(files), dtype=np.int64)
            take[position] = np.arange(len(files))
        rows_truth = frame["truth"].astype(str).to_numpy()
        if not np.array_equal(rows_truth if take is None else rows_truth[take], truth):
            return _slow_aligned(named, held_out)
        rows = frame["prediction"].astype(str).to_numpy()
        predicted.append(rows if take is None else rows[take])
    return truth, predicted


def _slow_aligned(named: Mapping[str, pd.DataFrame], held_out: str) -> tuple[np.ndarray, list[np.ndarray]]:
    aligned = align_predictions(named, held_out)
    return aligned["truth"].to_numpy(), [aligned[name].to_numpy() for name in named]


def _results_group(system: str, corpus: str, runs: list[pd.DataFrame]) -> _Group:
    if len(runs) == 1:
        frame = runs[0]
        return _group(frame["truth"].astype(str).to_numpy(), [frame["prediction"].astype(str).to_numpy()], [[0]])
    truth, predicted = _aligned_runs(dict(zip(_run_names(system, len(runs)), runs)), corpus)
    return _group(truth, predicted, [list(range(len(runs)))])


def results_table(predictions: Mapping[tuple[str, str], pd.DataFrame | Sequence[pd.DataFrame]],
                  systems: Sequence[str], corpora: Sequence[str], resamples: int = 2000,
                  seed: int = 0) -> pd.DataFrame:
    """``results.csv``: per system and held-out corpus, n and every metric of the table (today uar,
    uar_ci_low/high, accuracy, macro_f1); then each system's mean over the held-out corpora it has
    (intervals resampled within each corpus). Numbers rounded to :data:`CSV_DECIMALS`.

    A value of ``predictions`` is one frame (file, truth, prediction) or a list of them, one per
    training seed, on the same rows. When any has more than one, every metric is the mean over seeds
    of the metric of each seed, the intervals come from the two-level bootstrap (seeds, then rows
    within each corpus) and the columns :data:`SEED_COLUMNS` follow: ``seeds``, ``uar_seed_sd``
    (ddof=1; 0 for one seed) and ``uar_per_seed`` (each seed's UAR, ';'-joined, 3 decimals). A mean
    row over corpora with different numbers of seeds leaves ``uar_per_seed`` empty and its sd NaN.
    """
    table = _table(None)
    seeded = _several_seeds(predictions)
    rows, kept = [], _RowCounts()
    with _one_thread():
        for system in systems:
            groups, names = [], []
            for corpus in corpora:
                runs = _runs(predictions.get((system, corpus)), system, corpus)
                if runs is not None:
                    groups.append(_results_group(system, corpus, runs))
                    names.append(corpus)
            if not groups:
                continue
            uniforms = _seed_uniforms(seed, resamples, max(g.slots for g in groups))
            for corpus, group in zip(names, groups):
                rows.append(_results_row(system, corpus, [group], table, resamples, seed, uniforms, seeded, kept))
            if len(groups) > 1:
                rows.append(_results_row(system, MEAN_ROW, groups, table, resamples, seed, uniforms, seeded, kept))
    columns = results_columns(table) + (SEED_COLUMNS if seeded else [])
    return _rounded(pd.DataFrame(rows, columns=columns))


def _results_row(system, held_out, groups, table, resamples, seed, uniforms, seeded, kept) -> dict:
    result = _two_level_draws(groups, resamples, seed, table, uniforms, kept)
    intervals = {name: Interval(float(result.observed[name][0]), *percentile_interval(result.draws[name][:, 0]))
                 for name in result.observed}
    row = {"system": system, "held_out": held_out, "n": int(sum(g.n for g in groups)),
           **_metric_cells(table, intervals)}
    if seeded:
        per_seed = _mean_per_seed(groups, result.per_run, 0, "uar")
        row.update(_seed_cells(per_seed, min(len(g.members[0]) for g in groups)))
    return row


COMPARISON_COLUMNS = ["system", "reference", "held_out", "n", "uar_system", "uar_reference", "difference",
                      "ci_low", "ci_high", "p_value", "significant"]


def _paired_group(system: str, reference: str, corpus: str, mine: list[pd.DataFrame],
                  theirs: list[pd.DataFrame]) -> _Group:
    """The runs of a system and the reference on one corpus, paired seed by seed and row by row."""
    if len(mine) > 1 and len(theirs) > 1 and len(mine) != len(theirs):
        raise InputError(f"{corpus}: {system} has {len(mine)} seeds and {reference} has {len(theirs)}; a "
                         f"seed-by-seed comparison needs the same number (or one run of either)")
    names = _run_names(system, len(mine)) + _run_names(reference, len(theirs))
    truth, predicted = _aligned_runs(dict(zip(names, mine + theirs)), corpus)
    return _group(truth, predicted, [list(range(len(mine))), list(range(len(mine), len(mine) + len(theirs)))])


def comparison_table(predictions: Mapping[tuple[str, str], pd.DataFrame | Sequence[pd.DataFrame]],
                     systems: Sequence[str], corpora: Sequence[str], reference: str, resamples: int = 2000,
                     seed: int = 0) -> pd.DataFrame:
    """``comparison.csv``: each system against ``reference``, per held-out corpus and over their mean.

    ``significant`` is true when p < 0.05 and the paired 95% interval excludes 0 (decided before the
    numbers are rounded to :data:`CSV_DECIMALS`); other rows are ties.

    With several training seeds (a value of ``predictions`` a list of frames), seed i of the system is
    paired with seed i of the reference (a system with one run is paired with every seed of the
    other; other different counts are an error), the difference is the mean over seeds of the
    per-seed differences, each draw resamples the pairs of seeds and then the rows within each corpus
    (the same rows for both systems), and a column ``seeds`` (pairs of seeds) follows.
    """
    seeded = _several_seeds(predictions)
    uar_metric = get_metric("uar")
    rows, kept = [], _RowCounts()
    with _one_thread():
        for system in systems:
            if system == reference:
                continue
            groups, names = [], []
            for corpus in corpora:
                mine = _runs(predictions.get((system, corpus)), system, corpus)
                theirs = _runs(predictions.get((reference, corpus)), reference, corpus)
                if mine is None or theirs is None:
                    continue
                groups.append(_paired_group(system, reference, corpus, mine, theirs))
                names.append(corpus)
            if not groups:
                continue
            uniforms = _seed_uniforms(seed, resamples, max(g.slots for g in groups))
            for corpus, group in zip(names, groups):
                rows.append(_comparison_row(system, reference, corpus, [group], resamples, seed, uniforms,
                                            uar_metric, seeded, kept))
            if len(groups) > 1:
                rows.append(_comparison_row(system, reference, MEAN_ROW, groups, resamples, seed, uniforms,
                                            uar_metric, seeded, kept))
    return _rounded(pd.DataFrame(rows, columns=COMPARISON_COLUMNS + (["seeds"] if seeded else [])))


def _comparison_row(system, reference, held_out, groups, resamples, seed, uniforms, metric, seeded,
                    kept) -> dict:
    result = _two_level_draws(groups, resamples, seed, [metric], uniforms, kept)
    observed, draws = result.observed[metric.name], result.draws[metric.name]
    difference = float(observed[0] - observed[1])
    diffs = draws[:, 0] - draws[:, 1]
    low, high = percentile_interval(diffs)
    paired = PairedResult(difference, low, high, _p_value(diffs, difference), int(sum(g.n for g in groups)),
                          float(observed[0]), float(observed[1]), metric.name)
    row = {"system": system, "reference": reference, "held_out": held_out, "n": paired.n,
           "uar_system": paired.uar_system, "uar_reference": paired.uar_reference,
           "difference": paired.difference, "ci_low": paired.low, "ci_high": paired.high,
           "p_value": paired.p_value, "significant": bool(paired.significant)}
    if seeded:
        row["seeds"] = min(g.slots for g in groups)
    return row


# --------------------------------------------------------------------------- degenerate-data warnings

WARNINGS_COLUMN = "warnings"   # results.csv's last column: what makes a row's numbers not what they seem


def with_warnings(results: pd.DataFrame, warnings: Mapping[tuple[str, str], Sequence[str]]) -> pd.DataFrame:
    """``results`` with :data:`WARNINGS_COLUMN` appended: each (system, held-out corpus)'s warnings
    (a test set of one class, a class never trained: the jobs' performance.yaml) joined with "; ",
    empty where none. A mean row holds those of its corpora, each named (``DEMOA: ...``): its
    numbers average theirs."""
    def cell(row) -> str:
        if row["held_out"] != MEAN_ROW:
            return "; ".join(warnings.get((row["system"], row["held_out"]), ()))
        corpora = results.loc[(results["system"] == row["system"]) & (results["held_out"] != MEAN_ROW), "held_out"]
        return "; ".join(f"{corpus}: {w}" for corpus in corpora for w in warnings.get((row["system"], corpus), ()))

    cells = [cell(row) for row in results.to_dict("records")]
    return results.assign(**{WARNINGS_COLUMN: pd.Series(cells, index=results.index, dtype=object)})


def warning_notes(results: pd.DataFrame) -> list[str]:
    """``"<system>, <corpus>: <warnings>"`` for each row of ``results`` with warnings, the mean rows left
    out (they repeat their corpora's); what results.md and results.tex print below the table."""
    if WARNINGS_COLUMN not in results.columns:
        return []
    return [f"{row['system']}, {row['held_out']}: {row[WARNINGS_COLUMN]}" for row in results.to_dict("records")
            if row["held_out"] != MEAN_ROW and isinstance(row[WARNINGS_COLUMN], str) and row[WARNINGS_COLUMN].strip()]


# --------------------------------------------------------------------------- Markdown (results.md)

def _show(metric: Metric, value) -> str:
    return "-" if value is None or pd.isna(value) else metric.show(value)


def results_cells(results: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """The header and the printed cells of the results table: each metric of the table that
    ``results`` has, with its 95% CI where it has one (results.md and the report show these); with
    training seeds (``uar_per_seed``) the UAR cell ends ``± sd (n seeds)``."""
    shown = [m for m in _metrics.METRICS if m.name in results.columns]
    ranged = {m.name for m in shown if {f"{m.name}_ci_low", f"{m.name}_ci_high"} <= set(results.columns)}
    header = ["system", "held-out corpus", "n"] + [f"{m.header} (95% CI)" if m.name in ranged else m.header
                                                  for m in shown]
    spread = {"uar_per_seed", "uar_seed_sd", "seeds"} <= set(results.columns)
    rows = []
    for row in results.to_dict("records"):
        cells = [str(row["system"]), str(row["held_out"]), str(row["n"])]
        for m in shown:
            cell = _show(m, row[m.name])
            if m.name in ranged:
                cell += f" ({_show(m, row[f'{m.name}_ci_low'])}-{_show(m, row[f'{m.name}_ci_high'])})"
            if m.name == "uar" and spread and not pd.isna(row["uar_seed_sd"]):
                seeds = int(row["seeds"])
                cell += f" ± {_show(m, row['uar_seed_sd'])} ({seeds} seed{'' if seeds == 1 else 's'})"
            cells.append(cell)
        rows.append(cells)
    return header, rows


def markdown_table(header: Sequence[str], rows: Sequence[Sequence], left: int = 1) -> list[str]:
    """The lines of a Markdown table: the first ``left`` columns left-aligned, the others (numbers)
    right-aligned."""
    return (["| " + " | ".join(header) + " |", "|" + "---|" * left + "---:|" * (len(header) - left)]
            + ["| " + " | ".join(map(str, row)) + " |" for row in rows])


def markdown_results(results: pd.DataFrame, comparison: pd.DataFrame | None, warnings: bool = True) -> str:
    """The results table (:func:`results_cells`), its rows' warnings (:func:`warning_notes`; ``warnings``
    False: left out) and the significance table, as Markdown."""
    lines = markdown_table(*results_cells(results), left=2)
    notes = warning_notes(results) if warnings else []
    if notes:
        lines += ["", "Warnings: these rows are not what they seem (see their jobs' performance.yaml):", ""]
        lines += [f"- {note}" for note in notes]
    if comparison is not None and len(comparison):
        lines += ["", "| system | vs reference | held-out corpus | UAR difference (95% CI) | p | verdict |",
                  "|---|---|---|---:|---:|---|"]
        for row in comparison.itertuples():
            verdict = ("**better**" if row.difference > 0 else "**worse**") if row.significant else "tie"
            lines.append(f"| {row.system} | {row.reference} | {row.held_out} | {row.difference:+.3f} "
                         f"({row.ci_low:+.3f} to {row.ci_high:+.3f}) | {row.p_value:.4f} | {verdict} |")
    return "\n".join(lines) + "\n"
