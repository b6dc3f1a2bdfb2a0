"""What an experiment's own records say about it, for the report's captions and verdict.

Nothing here is assumed: the class names come from the evaluations (performance.yaml), the
validation from each split's ``split_options.json``, the protocols from the jobs that exist, which
systems read a speaker vector from the systems' kinds, the training corpora from each split's
``split_summary.csv``, a refit from each evaluation's ``performance.yaml``. A report sentence says only
what one of these records says.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import pandas as pd
import yaml

from ..protocol.evaluation import PERFORMANCE_NAME, PREDICTIONS_NAME


@dataclass
class LocoRun:
    """One finished leave-one-corpus-out job: a system tested on a held-out corpus (one training seed)."""
    system: str
    corpus: str
    folder: Path                 # jobs/loco/<system>/<corpus>[/seed-<n>]
    seed: str = ""

    @property
    def train_dir(self) -> Path:
        return self.folder / "train"

    @property
    def test_dir(self) -> Path:
        return self.folder / "test"

    def performance(self) -> dict:
        return _yaml(self.test_dir / PERFORMANCE_NAME)

    def predictions(self) -> pd.DataFrame:
        return pd.read_csv(self.test_dir / PREDICTIONS_NAME)

    def job_record(self) -> dict:
        return _yaml(self.folder / "job.yaml")

    def test_csv(self) -> Path | None:
        tests = self.job_record().get("tests") or {}
        recorded = tests.get(self.corpus) or self.performance().get("test_csv")
        return Path(recorded) if recorded else None

    def split_dir(self) -> Path | None:
        train_data = self.job_record().get("train_data")
        return Path(train_data).parent if train_data else None


def _yaml(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        content = yaml.safe_load(path.read_text())
    except yaml.YAMLError:
        return {}
    return content if isinstance(content, dict) else {}


def finished_loco_runs(folder: Path, jobs: pd.DataFrame) -> list[LocoRun]:
    """The finished loco jobs of jobs.csv, in its order (systems, then corpora, then seeds)."""
    runs = []
    if jobs is None or jobs.empty:
        return runs
    for row in jobs.itertuples():
        if row.protocol != "loco" or not _true(row.finished):
            continue
        runs.append(LocoRun(str(row.system), str(row.corpus), folder / "jobs" / str(row.job), str(row.seed)))
    counts: dict[tuple[str, str], int] = {}
    for run in runs:
        counts[(run.system, run.corpus)] = counts.get((run.system, run.corpus), 0) + 1
    for run in runs:   # a seed is named only where a (system, corpus) has several
        if counts[(run.system, run.corpus)] == 1:
            run.seed = ""
    return runs


def _true(value) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes")


def protocols_present(jobs: pd.DataFrame, recorded: Sequence[str]) -> list[str]:
    """The protocols the experiment asked for that have at least one job listed."""
    listed = set(jobs["protocol"]) if jobs is not None and len(jobs) else set()
    return [p for p in recorded if p in listed]


def class_names(runs: Sequence[LocoRun]) -> list[str]:
    """The classes of the evaluations, in the models' order (the first finished run that names them)."""
    for run in runs:
        names = run.performance().get("class_names")
        if names:
            return [str(n) for n in names]
    return []


def chance_uar(classes: Sequence[str]) -> float | None:
    """The UAR of a classifier that guesses (any constant or random guess): one over the classes."""
    return 1.0 / len(classes) if classes else None


@dataclass
class Validation:
    """How a held-out corpus's split chose its validation rows (its split_options.json)."""
    corpus: str
    kind: str                                 # corpus | speakers | none | unknown
    corpora: list[str] = field(default_factory=list)
    rows: int | None = None
    notes: list[str] = field(default_factory=list)

    def sentence(self) -> str:
        if self.rows == 0 or self.kind == "none":
            return f"held out {self.corpus}: no validation rows (the last epoch is kept)"
        if self.kind == "corpus":
            whole = ", ".join(self.corpora) or "a training corpus"
            return f"held out {self.corpus}: validation on the whole of {whole}"
        if self.kind == "speakers":
            return f"held out {self.corpus}: validation on some speakers of each training corpus"
        return f"held out {self.corpus}: validation as recorded ({'; '.join(self.notes) or 'not recorded'})"


def split_validation(run: LocoRun) -> Validation:
    info = _split_options(run.split_dir())
    kind = str(info.get("validation_used") or info.get("validation") or "unknown")
    return Validation(run.corpus, kind, [str(c) for c in info.get("validation_corpora") or []],
                      info.get("validation_rows"), [str(n) for n in info.get("validation_notes") or []])


def validations(runs: Sequence[LocoRun]) -> list[Validation]:
    """One per held-out corpus (its split is shared by every system)."""
    seen: dict[str, Validation] = {}
    for run in runs:
        if run.corpus not in seen:
            seen[run.corpus] = split_validation(run)
    return list(seen.values())


def training_corpora(run: LocoRun, part: str = "train") -> list[str]:
    """The corpora of the split's training rows (``part="validation"``: of its validation rows), from
    its split_summary.csv; empty where the split recorded none."""
    return sorted(split_rows(run.split_dir(), part))


def split_rows(split: Path | None, part: str = "train") -> dict[str, int]:
    """Rows per corpus of one part (``train``, ``validation``, ``test``) of a split, from its
    split_summary.csv; empty where the split recorded none."""
    summary = split / "split_summary.csv" if split else None
    if summary is None or not summary.is_file():
        return {}
    counts = pd.read_csv(summary)
    used = counts[(counts["split"] == part) & (counts["count"] > 0)]
    return {str(c): int(n) for c, n in used.groupby("corpus")["count"].sum().sort_index().items()}


@dataclass
class Fold:
    """One split of a held-out corpus as the run wrote it: the rows each side took (split_summary.csv),
    how its validation rows were chosen (split_options.json), and which systems were refit on training +
    validation rows after the choice (their performance.yaml's ``refit``)."""
    corpus: str
    seed: str
    train: dict[str, int]
    validation: Validation
    validation_rows: dict[str, int]
    validation_speakers: dict[str, int]        # corpus -> how many of its speakers validate
    refit: list[str] = field(default_factory=list)
    fitted: list[str] = field(default_factory=list)   # fitted on the training rows only

    def trained_on(self) -> str:
        return ", ".join(f"{c} ({n} rows)" for c, n in self.train.items()) or "not recorded"

    def validated_on(self) -> str:
        if self.validation.kind == "none" or not self.validation_rows:
            return "none (no validation rows)"
        if self.validation.kind == "speakers":
            return ", ".join(f"{self.validation_speakers.get(c, '?')} speaker(s) of {c} ({n} rows)"
                             for c, n in self.validation_rows.items())
        whole = "the whole of " if self.validation.kind == "corpus" else ""
        return ", ".join(f"{whole}{c} ({n} rows)" for c, n in self.validation_rows.items())

    def refit_on(self) -> str:
        if not self.refit:
            return "-"
        both = {**self.train}
        for corpus, rows in self.validation_rows.items():
            both[corpus] = both.get(corpus, 0) + rows
        return f"{', '.join(self.refit)}: {'+'.join(sorted(both))} ({sum(both.values())} rows)"


def _split_options(split: Path | None) -> dict:
    path = split / "split_options.json" if split else None
    if path is None or not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def folds(runs: Sequence[LocoRun]) -> list[Fold]:
    """One per split the runs used (a held-out corpus has several when each seed drew its own), in the
    runs' order; each system named once per split."""
    found: dict[tuple[str, str], Fold] = {}
    for run in runs:
        split = run.split_dir()
        key = (run.corpus, str(split))
        if key not in found:
            info = _split_options(split)
            rows = split_rows(split, "validation")
            speakers = [str(s) for s in info.get("validation_speakers") or []]
            found[key] = Fold(run.corpus, str(info.get("seed", "")), split_rows(split, "train"),
                              split_validation(run), rows,
                              {c: sum(s.startswith(f"{c}-") for s in speakers) for c in rows})
        fold = found[key]
        if run.system in fold.refit or run.system in fold.fitted:
            continue
        (fold.refit if run.performance().get("refit") else fold.fitted).append(run.system)
    return list(found.values())


def member_weight_lines(runs: Sequence[LocoRun]) -> list[str]:
    """One sentence per ensemble given ``--member_weights`` (its performance.yaml's ``member_weights``):
    each fold's member weights and, when chosen on validation rows, their validation UAR."""
    per_system: dict[str, list[str]] = {}
    modes: dict[str, str] = {}
    for run in runs:
        performance = run.performance()
        if not performance.get("member_weights"):
            continue
        modes[run.system] = str(performance["member_weights"])
        weights = ", ".join(f"{m.get('name') or m.get('model')} {float(m.get('weight', 0)):.2f}"
                            for m in performance.get("members") or [])
        score = performance.get("weights_validation_uar")
        fold = run.corpus + (f" seed {run.seed}" if run.seed else "")
        per_system.setdefault(run.system, []).append(
            f"{fold}: {weights}" + ("" if score is None else f" (validation UAR {float(score):.3f})"))
    lines = []
    for system, folds_of in per_system.items():
        how = ("chosen on each fold's validation rows only, never the held-out rows"
               if modes[system] == "validation" else "equal, no rows read")
        lines.append(f"Member weights of {system} ({how}): {'; '.join(folds_of)}.")
    return lines


def reads_speaker_vector(model: str, performances: Sequence[dict]) -> bool:
    """Whether a system is given each utterance's speaker vector (its kind says: an image network that
    takes one, or a baseline whose evaluations record the speaker vectors as their feature set)."""
    from ..systems import system_for_model

    return system_for_model(model).reads_speaker_vector(model, performances)


def is_image_model(model: str) -> bool:
    """Whether a system classifies spectrogram images (a network; not a feature baseline)."""
    from ..systems import system_for_model

    return system_for_model(model).reads_images(model)


def test_rows_with_groups(run: LocoRun) -> pd.DataFrame:
    """The run's predictions joined with its test CSV's speaker and gender (by image path), one row
    per prediction; gender ``unknown`` where the CSV does not record it."""
    predictions = run.predictions()
    csv = run.test_csv()
    if csv is None or not csv.is_file():
        return predictions.assign(speaker="unknown", gender="unknown")
    rows = pd.read_csv(csv, dtype=str, keep_default_na=False)
    columns = ["image"] + [c for c in ("speaker", "gender") if c in rows.columns]
    joined = predictions.merge(rows[columns].drop_duplicates("image"), left_on="file", right_on="image", how="left")
    for column in ("speaker", "gender"):
        if column not in joined.columns:
            joined[column] = "unknown"
        joined[column] = joined[column].fillna("unknown").replace("", "unknown").astype(str)
    return joined.drop(columns=["image"])
