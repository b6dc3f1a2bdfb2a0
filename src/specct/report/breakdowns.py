"""Where a system's UAR comes from: recall per class, and UAR per gender and per speaker.

Every number is computed from a finished job's ``predictions.csv`` (per class: its
``performance.yaml``), joined for the groups with the test CSV's ``speaker`` and ``gender`` columns
(the split carries the corpus manifest's gender; ``unknown`` where it is not recorded). With several
training seeds a cell is the mean over the seeds. ``groups.csv`` keeps every group of every run.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .facts import LocoRun, test_rows_with_groups

GROUPS_CSV = "groups.csv"
UNKNOWN = "unknown"


def group_uar(rows: pd.DataFrame) -> float:
    """UAR of a set of prediction rows (over the classes its truth holds)."""
    truth, predicted = rows["truth"].astype(str).to_numpy(), rows["prediction"].astype(str).to_numpy()
    if truth.size == 0:
        return float("nan")
    return float(np.mean([np.mean(predicted[truth == c] == c) for c in np.unique(truth)]))


def _by_pair(runs: Sequence[LocoRun]) -> dict[tuple[str, str], list[LocoRun]]:
    pairs: dict[tuple[str, str], list[LocoRun]] = defaultdict(list)
    for run in runs:
        pairs[(run.system, run.corpus)].append(run)
    return pairs


def _recall(value) -> float:
    return float("nan") if value is None else float(value)


def per_class_recall(runs: Sequence[LocoRun], classes: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per system and held-out corpus, the recall of each class."""
    rows = []
    for (system, corpus), seeds in _by_pair(runs).items():
        recalls = []
        for run in seeds:
            per_class = run.performance().get("per_class") or {}
            # a class absent from the test rows has no recall (null in performance.yaml)
            recalls.append([_recall((per_class.get(c) or {}).get("recall")) for c in classes])
        values = np.asarray(recalls, dtype=float)
        seen = (~np.isnan(values)).sum(axis=0)    # a class no seed's test rows hold stays "-"
        mean = np.where(seen > 0, np.nansum(values, axis=0) / np.maximum(seen, 1), np.nan) if recalls else []
        rows.append([system, corpus, *[_num(v) for v in mean]])
    return ["system", "held-out corpus", *[f"recall {c}" for c in classes]], rows


def group_table(runs: Sequence[LocoRun]) -> pd.DataFrame:
    """``system, corpus, seed, kind (gender | speaker), group, n, uar`` of every run."""
    records = []
    for run in runs:
        rows = test_rows_with_groups(run)
        for kind in ("gender", "speaker"):
            for group, part in rows.groupby(kind):
                records.append({"system": run.system, "corpus": run.corpus, "seed": run.seed, "kind": kind,
                                "group": str(group), "n": len(part), "uar": round(group_uar(part), 4)})
    return pd.DataFrame(records, columns=["system", "corpus", "seed", "kind", "group", "n", "uar"])


def gender_rows(groups: pd.DataFrame) -> tuple[list[str], list[list[str]], list[str]]:
    """Header, rows (UAR per gender and the gap between the best and worst), and the corpora that
    record no gender."""
    genders = groups[groups["kind"] == "gender"]
    known = sorted(set(genders.loc[genders["group"] != UNKNOWN, "group"]))
    rows, without = [], []
    for (system, corpus), part in genders.groupby(["system", "corpus"], sort=False):
        recorded = part[part["group"] != UNKNOWN]
        if recorded.empty:
            if corpus not in without:
                without.append(corpus)
            continue
        means = recorded.groupby("group")["uar"].mean()
        counts = recorded.groupby("group")["n"].mean()
        cells = [f"{_num(means[g])} (n={int(counts[g])})" if g in means else "-" for g in known]
        gap = means.max() - means.min() if len(means) > 1 else np.nan
        rows.append([system, corpus, *cells, _num(gap)])
    return ["system", "held-out corpus", *[f"UAR {g}" for g in known], "gap (best - worst)"], rows, without


def speaker_rows(groups: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Header and rows: per system and corpus, the speakers' UAR spread (worst, median, best, gap)."""
    speakers = groups[groups["kind"] == "speaker"]
    rows = []
    for (system, corpus), part in speakers.groupby(["system", "corpus"], sort=False):
        means = part.groupby("group")["uar"].mean().sort_values()
        rows.append([system, corpus, str(len(means)), f"{_num(means.iloc[0])} ({means.index[0]})",
                     _num(means.median()), f"{_num(means.iloc[-1])} ({means.index[-1]})",
                     _num(means.iloc[-1] - means.iloc[0])])
    return ["system", "held-out corpus", "speakers", "worst speaker", "median", "best speaker",
            "gap (best - worst)"], rows


def write_groups(groups: pd.DataFrame, folder: Path) -> Path:
    from ..core.fileio import write_csv_atomic

    path = Path(folder) / GROUPS_CSV
    write_csv_atomic(path, groups)
    return path


def _num(value, digits: int = 3) -> str:
    return "-" if value is None or pd.isna(value) else f"{float(value):.{digits}f}"
