"""Train / validation / test split files, speaker-independent and checked for leakage.

Leave-one-corpus-out (``protocol="loco"``, the default): the test set is the whole held-out corpus
(plain images only); the validation rows are chosen as ``validation`` says (below); training holds
the other rows' plain images plus, with an augmentation group, their augmented images.
Output, as docs/architecture.md fixes it::

    <output_dir>/<EVAL>/<n>_classes/<aug>/<balance>/
        train_data/train.csv, validation.csv, pca.npz, classes.txt
        eval_data/test.csv
        split_summary.csv       split,corpus,label,count
        split_options.json      the options (the validation choice among them), the validation / test
                                speakers and corpora, and each corpus's import options (e.g. TUREVDB
                                merge_calm), for the record

Within one corpus (``protocol="loso"`` or ``"kfold"``, for single-corpus users): the corpus named by
``eval_dataset`` is cut into speaker-disjoint folds; each fold tests on its speakers, draws
validation speakers from the rest and trains on the others. ``loso`` makes one fold per speaker
(or, with ``folds=K``, K groups of consecutive speaker ids); ``kfold`` makes K folds of shuffled
speakers (seeded). Each fold is a complete split folder::

    <output_dir>/<CORPUS>/<loso|losoK|kfoldK>/fold-01/<n>_classes/<aug>/<balance>/...
    <output_dir>/<CORPUS>/<loso|losoK|kfoldK>/folds.csv     fold,test_speakers

Validation (``validation``):

- ``auto`` (default): ``corpus`` when the split trains on two or more corpora, ``speakers`` otherwise
  (within one corpus, or with one training corpus). The leave-one-corpus-out benchmark behind this
  choice is in docs/splits.md.
- ``speakers``: from each training corpus, round(fraction x its speakers) speakers, drawn
  seeded, but the fraction also caps the corpus's *rows*: speakers are taken in a seeded order and
  one whose rows would take the corpus's validation rows over fraction x its rows is passed over.
  A corpus in which no speaker fits under the cap (two speakers of equal size at 0.25) gives no
  validation rows at all, and the summary says so.
- ``corpus``: one whole training corpus (``validation_corpus``, or a seeded choice) is the
  validation set; the model is selected on a corpus it never trained on, as the test corpus is.
- ``none``: no validation rows; training runs a fixed number of epochs and keeps the last.

CSV columns: ``image,label,emotion,corpus,speaker,wav,augmentation`` (absolute paths, class name,
canonical emotion word, corpus, ``CORPUS-SPEAKER``, source wav, ``none`` or the augmentation name).

Balancing of the training set: ``no_balanced`` keeps everything; ``undersampling`` draws every class
down to the smallest (seeded); ``balanced_aug`` starts from plain images and tops each smaller class
up to the largest with augmented images of training speakers (of the chosen group, or of every
augmentation with ``no_aug``). Validation and test are never balanced or augmented.

Rows are dropped, with a printed count per corpus and reason, when their emotion is outside the
class set or their wav has no spectrogram image or no speaker vector. The PCA of the speaker vectors
is fitted on the training rows' wavs only (training speakers of training corpora; never validation
or test speakers), unless a fitted file is given with ``pca_file``. ``check_no_leakage`` runs on
every split before anything is written.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..core.errors import DamagedFileError, InputError, MissingInputError, SpecctError
from ..core import paths
from ..core.fileio import write_csv_atomic, write_text_atomic
from ..core.input_fingerprints import fingerprint_differences, inputs_fingerprint, read_now, reads_augmented_images
from ..core.labels import class_set, class_set_name
from ..core.naming import NameError_, parse_name
from .prepare import read_import_options
from ..core.seeding import crc32_words, rng_for
from .split_settings import (BALANCE_MODES, LOCO_ARGUMENTS, PROTOCOLS, SPLIT_ALIASES, SPLIT_ARGUMENTS,
    VALIDATION_CHOICES, SplitOptions, SplitSettings, add_split_arguments, split_options_from, split_settings_of)
from .speaker import SpeakerPCA, embeddings_for_wavs, fit_pca, load_embeddings, load_pca, save_pca

# The columns every split CSV (train, validation, test) must have; split_rows.py checks them.
REQUIRED_COLUMNS = ["image", "label", "emotion", "corpus", "speaker", "wav", "augmentation"]
# The columns a split CSV is written with: the required ones, then the speaker's gender from the
# corpus manifest ("unknown" where the corpus does not record it), for the report's breakdowns.
COLUMNS = [*REQUIRED_COLUMNS, "gender"]
UNKNOWN_GENDER = "unknown"
PLAIN = "none"



class LeakageError(SpecctError, RuntimeError):
    """A split in which test or validation information could reach training."""


class SplitChoiceError(InputError):
    """An existing split folder made with other choices than the ones asked for."""


@dataclass
class Split:
    out_dir: Path
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    classes: tuple[str, ...]
    pca: SpeakerPCA | None = None
    dropped: Counter = field(default_factory=Counter)
    fold: str | None = None          # within-corpus protocols only
    validation_notes: list[str] = field(default_factory=list)   # why a corpus gave no validation rows
    validation_used: str = ""        # the choice ``auto`` resolved to (else the one asked for)
    corpora_read: tuple[str, ...] = ()   # every corpus whose files were listed (one may have given no row)
    warnings: list[str] = field(default_factory=list)   # degenerate data, kept in split_options.json


# --------------------------------------------------------------------------- helpers

def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=str) for c in COLUMNS})


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS) if rows else _empty()


def augmentation_names(group: str) -> tuple[str, ...]:
    """Augmentation names of a group (``no_aug``, ``time_aug``, ``freq_aug``, ``time_freq_aug``)."""
    from .augment import AUGMENTATION_GROUPS

    if group not in AUGMENTATION_GROUPS:
        raise InputError(f"unknown augmentation group {group!r}; choose one of {', '.join(AUGMENTATION_GROUPS)}")
    return tuple(AUGMENTATION_GROUPS[group])


def _listing(folder: Path) -> set[str]:
    return set(os.listdir(folder)) if folder.is_dir() else set()


# --------------------------------------------------------------------------- rows

def manifest_genders(datasets_dir: str | Path, corpus: str) -> dict[str, str]:
    """wav file name -> the gender the corpus's manifest.csv records (empty without a manifest)."""
    path = paths.corpus_dir(datasets_dir, corpus) / "manifest.csv"
    if not path.is_file():
        return {}
    manifest = pd.read_csv(path, dtype=str, keep_default_na=False)
    if not {"file", "gender"} <= set(manifest.columns):
        return {}
    return {file: gender or UNKNOWN_GENDER for file, gender in zip(manifest["file"], manifest["gender"])}


def collect_plain_rows(datasets_dir: str | Path, corpus: str, emotion_to_class: dict[str, str],
                       dropped: Counter) -> pd.DataFrame:
    """One row per usable wav of a corpus (its plain image); counts what is left out and why."""
    corpus = corpus.upper()
    wav_folder = paths.wav_dir(datasets_dir, corpus)
    if not wav_folder.is_dir():
        raise MissingInputError(f"{wav_folder}: no such folder (import {corpus} with prepare_corpus.py)")
    try:
        vectors = load_embeddings(datasets_dir, corpus)
    except FileNotFoundError as exc:
        print(f"warning: {exc}; every {corpus} row is dropped")
        vectors = {}
    img_folder = paths.img_dir(datasets_dir, corpus)
    images = _listing(img_folder)
    genders = manifest_genders(datasets_dir, corpus)
    rows = []
    for wav in sorted(wav_folder.glob("*.wav")):
        try:
            name = parse_name(wav)
        except NameError_:
            dropped[(corpus, "not a canonical file name")] += 1
            continue
        if name.corpus.upper() != corpus:
            dropped[(corpus, "corpus field of the name differs from its folder")] += 1
            continue
        label = emotion_to_class.get(name.emotion)
        if label is None:
            dropped[(corpus, "emotion outside the class set")] += 1
            continue
        if name.basename not in vectors:
            dropped[(corpus, "no speaker vector")] += 1
            continue
        if f"{name.basename}.png" not in images:
            dropped[(corpus, "no spectrogram image")] += 1
            continue
        rows.append(dict(image=str((img_folder / f"{name.basename}.png").absolute()), label=label,
                         emotion=name.emotion, corpus=corpus, speaker=name.speaker_key,
                         wav=str(wav.absolute()), augmentation=PLAIN,
                         gender=genders.get(wav.name, UNKNOWN_GENDER)))
    return _frame(rows)


def augmented_rows(plain: pd.DataFrame, datasets_dir: str | Path, augmentations: Sequence[str],
                   dropped: Counter) -> pd.DataFrame:
    """The augmented images (``<basename>_<aug>.png``) of the given plain rows that exist on disk."""
    rows = []
    listings: dict[str, tuple[Path, set[str]]] = {}
    for row in plain.itertuples(index=False):
        if row.corpus not in listings:
            folder = paths.augmented_dir(datasets_dir, row.corpus)
            listings[row.corpus] = (folder, _listing(folder))
        folder, present = listings[row.corpus]
        basename = Path(row.wav).stem
        for aug in augmentations:
            file = f"{basename}_{aug}.png"
            if file not in present:
                dropped[(row.corpus, f"no augmented image ({aug})")] += 1
                continue
            rows.append({**row._asdict(), "image": str((folder / file).absolute()), "augmentation": aug})
    return _frame(rows)


def draw_validation_speakers(rows: pd.DataFrame, fraction: float, seed: int, *keys,
                             notes: list[str] | None = None) -> set[str]:
    """Seeded draw of validation speakers per corpus: round(fraction x speakers) of them (at least one,
    always leaving one for training), taken in a seeded order and passing over any speaker whose rows
    would take the corpus's validation rows over fraction x its rows. A corpus with a single speaker,
    or in which no speaker fits under the cap, gives none; ``notes`` collects why."""
    if not 0.0 <= fraction < 1.0:
        raise InputError(f"--percent_subject_validation must be in [0, 1), got {fraction}")
    notes = notes if notes is not None else []
    chosen: set[str] = set()
    if fraction == 0 or rows.empty:
        return chosen
    for corpus in sorted(rows["corpus"].unique()):
        sizes = rows.loc[rows["corpus"] == corpus, "speaker"].value_counts().sort_index()
        speakers = list(sizes.index)
        if len(speakers) < 2:
            notes.append(f"{corpus} has {len(speakers)} speaker(s); none goes to validation")
            continue
        wanted = min(max(1, int(round(fraction * len(speakers)))), len(speakers) - 1)
        cap = fraction * int(sizes.sum())
        taken, taken_rows = [], 0
        for i in rng_for(seed, "validation", corpus, *keys, words=crc32_words).permutation(len(speakers)):
            if len(taken) == wanted:
                break
            if taken_rows + int(sizes.iloc[i]) <= cap + 1e-9:
                taken.append(speakers[i])
                taken_rows += int(sizes.iloc[i])
        if not taken:
            notes.append(f"{corpus}: every speaker has more than {fraction:g} of its {int(sizes.sum())} rows; "
                         f"none goes to validation")
        chosen.update(taken)
    for note in notes:
        print(f"note: {note}")
    return chosen


def choose_validation_corpus(corpora: Sequence[str], requested: str | None, seed: int, *keys) -> str:
    """The training corpus that validates under ``--validation corpus`` (named, or a seeded choice)."""
    corpora = sorted(c.upper() for c in corpora)
    if len(corpora) < 2:
        raise InputError(f"--validation corpus needs at least two training corpora, got {', '.join(corpora) or 'none'}")
    if requested:
        if requested.upper() not in corpora:
            raise InputError(f"--validation_corpus {requested.upper()} is not a training corpus "
                             f"({', '.join(corpora)})")
        return requested.upper()
    return corpora[int(rng_for(seed, "validation_corpus", *keys, words=crc32_words).integers(len(corpora)))]


def resolve_validation(choice: str, training_corpora: Sequence[str]) -> str:
    """The validation choice a split uses: ``auto`` is ``corpus`` with two or more training corpora
    (the held-out corpus is then judged like the validation one: unseen), else ``speakers``."""
    if choice not in VALIDATION_CHOICES:
        raise InputError(f"unknown --validation {choice!r}; choose one of {', '.join(VALIDATION_CHOICES)}")
    if choice != "auto":
        return choice
    return "corpus" if len(set(training_corpora)) >= 2 else "speakers"


def split_validation(pool: pd.DataFrame, opts: "SplitOptions", *keys) -> tuple[pd.Series, list[str], str]:
    """Which rows of ``pool`` validate (a boolean mask), by ``opts.validation``; the notes; the choice used."""
    notes: list[str] = []
    choice = resolve_validation(opts.validation, pool["corpus"].unique())
    if opts.validation_corpus and choice != "corpus":
        raise InputError("--validation_corpus needs --validation corpus (or auto with two or more training corpora)")
    if choice == "none":
        return pd.Series(False, index=pool.index), notes, choice
    if choice == "corpus":
        corpus = choose_validation_corpus(sorted(pool["corpus"].unique()), opts.validation_corpus, opts.seed, *keys)
        notes.append(f"validation corpus: {corpus} (all its rows)")
        print(f"note: {notes[-1]}")
        return pool["corpus"] == corpus, notes, choice
    speakers = draw_validation_speakers(pool, opts.percent_subject_validation, opts.seed, *keys, notes=notes)
    return pool["speaker"].isin(speakers), notes, choice


def undersample(rows: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Every class drawn down to the size of the smallest present class (seeded, order kept)."""
    if rows.empty:
        return rows
    smallest = int(rows["label"].value_counts().min())
    rng = rng_for(seed, "undersampling", words=crc32_words)
    keep = []
    for label in sorted(rows["label"].unique()):
        index = np.flatnonzero((rows["label"] == label).to_numpy())
        keep.extend(rng.choice(index, size=smallest, replace=False))
    return rows.iloc[sorted(keep)].reset_index(drop=True)


def top_up_with_augmented(plain: pd.DataFrame, pool: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Add augmented rows to every class smaller than the largest, up to its size where the pool allows."""
    if plain.empty:
        return plain
    counts = plain["label"].value_counts()
    target = int(counts.max())
    rng = rng_for(seed, "balanced_aug", words=crc32_words)
    extra = []
    for label in sorted(counts.index):
        deficit = target - int(counts[label])
        candidates = pool[pool["label"] == label].sort_values("image")
        if deficit <= 0 or candidates.empty:
            continue
        picked = rng.choice(len(candidates), size=min(deficit, len(candidates)), replace=False)
        extra.append(candidates.iloc[sorted(picked)])
    return pd.concat([plain, *extra], ignore_index=True) if extra else plain.reset_index(drop=True)


def assemble_training(train_plain: pd.DataFrame, datasets_dir: str | Path, augmentation: str, balanced: str,
                      seed: int, dropped: Counter) -> pd.DataFrame:
    """Training rows from the training speakers' plain rows: augmentation, then balancing."""
    if balanced not in BALANCE_MODES:
        raise InputError(f"unknown --balanced {balanced!r}; choose one of {', '.join(BALANCE_MODES)}")
    augs = augmentation_names(augmentation)
    if balanced == "balanced_aug":
        pool_augs = augs or augmentation_names("time_freq_aug")
        pool = augmented_rows(train_plain, datasets_dir, pool_augs, dropped)
        _require_augmented(pool, train_plain, pool_augs, datasets_dir)
        return top_up_with_augmented(train_plain, pool, seed)
    extra = augmented_rows(train_plain, datasets_dir, augs, dropped)
    if augs:
        _require_augmented(extra, train_plain, augs, datasets_dir)
    train = pd.concat([train_plain, extra], ignore_index=True)
    return undersample(train, seed) if balanced == "undersampling" else train


def _require_augmented(found: pd.DataFrame, plain: pd.DataFrame, augs: Sequence[str],
                       datasets_dir: str | Path) -> None:
    """An augmentation group with no image at all is a missing stage, not a count of dropped rows."""
    if found.empty and not plain.empty:
        folders = ", ".join(sorted(str(paths.augmented_dir(datasets_dir, c)) for c in plain["corpus"].unique()))
        raise MissingInputError(f"no augmented image ({', '.join(augs)}) of any training row in {folders}: "
                                f"render them with preprocess_spectrograms.py first")


# --------------------------------------------------------------------------- checks

def check_no_leakage(train: pd.DataFrame, validation: pd.DataFrame, test: pd.DataFrame,
                     eval_dataset: str | None = None) -> None:
    """Raise LeakageError unless train, validation and test share no speaker and no wav, the test and
    validation sets hold plain images only, and (leave-one-corpus-out) the test corpus is only in test."""
    problems = []
    sets = {"train": train, "validation": validation, "test": test}
    pairs = (("train", "validation"), ("train", "test"), ("validation", "test"))
    for column, what in (("speaker", "speaker"), ("wav", "source wav")):
        for a, b in pairs:
            shared = sorted(set(sets[a][column]) & set(sets[b][column]))
            if shared:
                shown = ", ".join(Path(s).name for s in shared[:5]) + (" ..." if len(shared) > 5 else "")
                problems.append(f"{a} and {b} share {len(shared)} {what}(s): {shown}")
    if eval_dataset:
        held_out = eval_dataset.upper()
        for name in ("train", "validation"):
            n = int((sets[name]["corpus"] == held_out).sum())
            if n:
                problems.append(f"test corpus {held_out} appears in {name} ({n} rows)")
        others = sorted(set(test["corpus"]) - {held_out})
        if others:
            problems.append(f"test set holds corpora other than {held_out}: {', '.join(others)}")
    for name in ("validation", "test"):
        n = int((sets[name]["augmentation"] != PLAIN).sum())
        if n:
            problems.append(f"{name} set holds {n} augmented image(s)")
    if problems:
        raise LeakageError("leaky split: " + "; ".join(problems))


def check_pca_corpora(pca: SpeakerPCA, held_out: str, allow: bool = False) -> None:
    """A PCA fitted on the held-out corpus leaks it; refuse unless explicitly allowed (paper's choice)."""
    if held_out.upper() in pca.corpora:
        message = (f"the PCA was fitted on {'+'.join(pca.corpora)}, which includes the test corpus "
                   f"{held_out.upper()}: test information leaks into training")
        if not allow:
            raise LeakageError(message + " (pass --allow_leaky_pca to reproduce the paper anyway)")
        print("WARNING: " + message)


# --------------------------------------------------------------------------- reporting and writing

def count_table(train: pd.DataFrame, validation: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """Long table ``split,corpus,label,count`` (the content of split_summary.csv)."""
    parts = []
    for name, frame in (("train", train), ("validation", validation), ("test", test)):
        counts = frame.groupby(["corpus", "label"]).size().reset_index(name="count")
        counts.insert(0, "split", name)
        parts.append(counts)
    table = pd.concat(parts, ignore_index=True)
    return table[["split", "corpus", "label", "count"]]


def format_table(train: pd.DataFrame, validation: pd.DataFrame, test: pd.DataFrame,
                 classes: Sequence[str]) -> str:
    """Counts per split x corpus x class, with speakers and augmented rows, as printed at the end."""
    lines = []
    for name, frame in (("train", train), ("validation", validation), ("test", test)):
        if frame.empty:
            lines.append(pd.DataFrame({"split": [name], "corpus": ["-"], "rows": [0]}).set_index(["split", "corpus"]))
            continue
        pivot = frame.pivot_table(index="corpus", columns="label", values="image", aggfunc="count", fill_value=0)
        pivot = pivot.reindex(columns=list(classes), fill_value=0)
        pivot["rows"] = pivot.sum(axis=1)
        pivot["augmented"] = frame.groupby("corpus")["augmentation"].apply(lambda a: int((a != PLAIN).sum()))
        pivot["speakers"] = frame.groupby("corpus")["speaker"].nunique()
        pivot.insert(0, "split", name)
        lines.append(pivot.reset_index().set_index(["split", "corpus"]))
    return pd.concat(lines).fillna(0).astype(int).to_string()


def rows_per_corpus(train: pd.DataFrame, validation: pd.DataFrame) -> str:
    """One line per training corpus: its rows in train and in validation (plain and augmented)."""
    lines = []
    for corpus in sorted(set(train["corpus"]) | set(validation["corpus"])):
        n_train, n_val = int((train["corpus"] == corpus).sum()), int((validation["corpus"] == corpus).sum())
        share = n_val / (n_train + n_val) if n_train + n_val else 0.0
        lines.append(f"{corpus}: {n_train} train rows, {n_val} validation rows ({share:.0%} of its rows)")
    return "\n".join(lines)


def report_dropped(dropped: Counter) -> None:
    for (corpus, reason), n in sorted(dropped.items()):
        print(f"dropped {n} {corpus} row(s): {reason}")


def fit_split_pca(train: pd.DataFrame, n_components: int) -> SpeakerPCA:
    """PCA on the raw vectors of the training rows' source wavs (each wav once)."""
    wavs = sorted(set(train["wav"]))
    return fit_pca(embeddings_for_wavs(wavs), n_components, sorted(set(train["corpus"])))


def resolve_pca_file(pca_file: str, encoder_dir: str | Path) -> Path:
    """``--pca_file`` as given, or inside ``--encoder_dir`` when only a name is given."""
    path = Path(pca_file)
    if not path.exists() and (Path(encoder_dir) / path).exists():
        path = Path(encoder_dir) / path
    return path


RECORDED_CHOICES = ("validation", "percent_subject_validation", "validation_corpus", "seed", "n_components")


def read_split_info(split_dir: str | Path) -> dict:
    """``split_options.json`` of a split folder (empty for a split made before it was written)."""
    path = paths.split_info_file(split_dir)
    if not path.is_file():
        return {}
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DamagedFileError(f"{path}: damaged split record ({type(exc).__name__}); remove the split folder "
                               f"{Path(split_dir)} to make it again") from None
    if not isinstance(record, dict):
        raise DamagedFileError(f"{path}: damaged split record (not a mapping); remove the split folder "
                               f"{Path(split_dir)} to make it again")
    return record


def check_recorded_choices(split_dir: str | Path, opts: SplitOptions) -> None:
    """Refuse to reuse a split folder made with other validation, seed or PCA choices than ``opts``."""
    recorded = read_split_info(split_dir)
    wanted = asdict(opts)
    differ = [f"{k} {recorded[k]!r} (asked: {wanted[k]!r})" for k in RECORDED_CHOICES
              if k in recorded and recorded[k] != wanted[k]]
    if recorded and "validation" not in recorded and opts.validation != "speakers":
        differ.append(f"validation 'speakers' (asked: {opts.validation!r})")
    if differ:
        raise SplitChoiceError(f"{paths.split_info_file(split_dir)}: the split there was made with "
                               f"{'; '.join(differ)}; remove it or use another data folder")


def split_reads_augmented(options: dict) -> bool:
    """Whether the split of these options (or of its recorded split_options.json) reads augmented images."""
    return reads_augmented_images(options.get("augmentation", "no_aug"), options.get("balanced", "no_balanced"))


def stale_inputs(split_dir: str | Path, datasets_dir: str | Path) -> list[str]:
    """What changed in the split's corpora since it was made (images made, wavs added, vectors
    redone), from the fingerprints its split_options.json records; empty for an older split without them."""
    info = read_split_info(split_dir)
    recorded = info.get("inputs")
    if not isinstance(recorded, dict):
        return []
    current = inputs_fingerprint(datasets_dir, list(recorded), features=False, augmented=split_reads_augmented(info))
    return fingerprint_differences(read_now(recorded, current), current)


def write_split(split: Split, options: dict) -> None:
    """Write one split folder (every file atomically) and print its table."""
    train_dir, eval_dir = paths.train_data_dir(split.out_dir), paths.eval_data_dir(split.out_dir)
    write_csv_atomic(train_dir / "train.csv", split.train[COLUMNS])
    write_csv_atomic(train_dir / "validation.csv", split.validation[COLUMNS])
    write_csv_atomic(eval_dir / "test.csv", split.test[COLUMNS])
    write_text_atomic(train_dir / "classes.txt", "\n".join(split.classes) + "\n")
    save_pca(train_dir / "pca.npz", split.pca)
    corpora = sorted(set(split.train["corpus"]) | set(split.validation["corpus"]) | set(split.test["corpus"]))
    asked = options.get("validation", "speakers")
    used = split.validation_used or asked
    import_options = {corpus: read_import_options(options["datasets_dir"], corpus) for corpus in corpora}
    write_csv_atomic(split.out_dir / "split_summary.csv", count_table(split.train, split.validation, split.test))
    record = {**options,
              "class_names": list(split.classes),
              "pca_corpora": split.pca.corpora, "pca_components": split.pca.n_components,
              "validation_used": used,
              "validation_speakers": sorted(set(split.validation["speaker"])),
              "validation_corpora": sorted(set(split.validation["corpus"])),
              "validation_rows": int(len(split.validation)),
              "validation_notes": list(split.validation_notes),
              "test_speakers": sorted(set(split.test["speaker"])),
              "import_options": import_options,
              "warnings": list(split.warnings),
              "inputs": inputs_fingerprint(options["datasets_dir"], split.corpora_read or corpora, features=False,
                                           augmented=split_reads_augmented(options))}
    write_text_atomic(paths.split_info_file(split.out_dir), json.dumps(record, indent=2) + "\n")
    print(f"\n{split.out_dir}")
    merged = [f"{corpus} --{option}" for corpus, chosen in import_options.items() for option, on in chosen.items() if on]
    if merged:
        print("imported with: " + ", ".join(merged))
    print(format_table(split.train, split.validation, split.test, split.classes))
    print(f"validation: {used}" + (" (auto: corpus with two or more training corpora, else speakers)"
                                   if asked == "auto" else ""))
    print(rows_per_corpus(split.train, split.validation))


# --------------------------------------------------------------------------- building splits

def check_training_classes(train: pd.DataFrame, where) -> None:
    """Training rows of one class train nothing (a model that always answers it scores UAR 1.0 on a
    validation set of that class): an error, before any file is written."""
    labels = sorted(set(train["label"]))
    if len(labels) < 2:
        raise InputError(f"{where}: the training rows hold {len(labels)} class ({', '.join(labels) or 'none'}); "
                         f"a classifier needs rows of two or more (see the dropped counts above)")


def degenerate_warnings(split: "Split") -> list[str]:
    """What makes a split's scores not what they seem: a class no training corpus has, a test set of one class."""
    warnings = []
    missing = [c for c in split.classes if c not in set(split.train["label"])]
    if missing:
        corpora = ", ".join(sorted(set(split.train["corpus"])))
        warnings.append(f"class(es) {', '.join(missing)} have no training rows in {split.out_dir} "
                        f"(no training corpus has them: {corpora}); they are never learnt")
    tested = sorted(set(split.test["label"]))
    if len(tested) == 1:
        warnings.append(f"the test rows of {split.out_dir} hold one class ({tested[0]}): their UAR is that "
                        f"class's recall, and a UAR or macro-F1 over one class is not comparable with others")
    return warnings


def _finish(split: Split, opts: SplitOptions, held_out_corpus: str | None, pca_guard: str) -> Split:
    """Leakage checks, warnings and the PCA; shared by every protocol."""
    check_no_leakage(split.train, split.validation, split.test, held_out_corpus)
    if split.train.empty:
        raise InputError(f"{split.out_dir}: no training rows left (see the dropped counts above)")
    check_training_classes(split.train, split.out_dir)
    split.warnings.extend(degenerate_warnings(split))
    for warning in split.warnings:
        print(f"WARNING: {warning}")
    if split.test.empty:
        print(f"WARNING: the test set of {split.out_dir} is empty")
    if split.validation.empty and opts.validation != "none":
        print(f"WARNING: no validation rows in {split.out_dir}: training will run its fixed number of epochs "
              f"and keep the last (as with --validation none)")
    if opts.pca_file:
        split.pca = load_pca(resolve_pca_file(opts.pca_file, opts.encoder_dir))
        check_pca_corpora(split.pca, pca_guard, opts.allow_leaky_pca)
    else:
        split.pca = fit_split_pca(split.train, opts.n_components)
    return split


def _class_setup(opts: SplitOptions):
    classes, mapping = class_set(opts.num_classes, opts.classes)
    return classes, mapping, class_set_name(opts.num_classes, opts.classes)


def make_loco_split(opts: SplitOptions) -> Split:
    """Leave-one-corpus-out: test on ``eval_dataset``, train and validate on the other corpora."""
    classes, mapping, classes_name = _class_setup(opts)
    [held_out] = paths.select_corpora(opts.datasets_dir, [opts.eval_dataset], what="--eval_dataset")
    train_corpora = paths.select_corpora(opts.datasets_dir, opts.train_datasets, what="training corpus")
    if not opts.train_datasets:
        train_corpora = [c for c in train_corpora if c != held_out]
    if held_out in train_corpora:
        raise LeakageError(f"--train_datasets includes the test corpus {held_out}")
    if not train_corpora:
        raise InputError(f"no training corpus: {held_out} is the only corpus in {opts.datasets_dir}")

    dropped: Counter = Counter()
    test = collect_plain_rows(opts.datasets_dir, held_out, mapping, dropped)
    pool = pd.concat([collect_plain_rows(opts.datasets_dir, c, mapping, dropped) for c in train_corpora],
                     ignore_index=True)
    in_validation, notes, used = split_validation(pool, opts)
    validation = pool[in_validation].reset_index(drop=True)
    train = assemble_training(pool[~in_validation].reset_index(drop=True), opts.datasets_dir,
                              opts.augmentation, opts.balanced, opts.seed, dropped)
    out_dir = paths.split_dir(opts.output_dir, held_out, classes_name, opts.augmentation, opts.balanced)
    split = Split(out_dir, train, validation, test, tuple(classes), dropped=dropped, validation_notes=notes,
                  validation_used=used, corpora_read=(held_out, *train_corpora))
    report_dropped(dropped)
    return _finish(split, opts, held_out, held_out)


def fold_speaker_groups(speakers: Sequence[str], protocol: str, folds: int | None, seed: int,
                        corpus: str) -> list[list[str]]:
    """Test speakers of each fold: one per speaker (loso), consecutive groups (loso with folds), or
    seeded shuffled groups (kfold)."""
    speakers = sorted(speakers)
    if protocol == "loso" and not folds:
        return [[s] for s in speakers]
    if not folds or folds < 2:
        raise InputError(f"--protocol {protocol} needs --folds K with K >= 2")
    if folds > len(speakers):
        raise InputError(f"--folds {folds} is more than the {len(speakers)} speakers of {corpus}")
    order = np.arange(len(speakers))
    if protocol == "kfold":
        order = rng_for(seed, "kfold", corpus, words=crc32_words).permutation(len(speakers))
    return [sorted(speakers[i] for i in part) for part in np.array_split(order, folds)]


def protocol_folder(protocol: str, folds: int | None) -> str:
    return "loso" if protocol == "loso" and not folds else f"{protocol}{folds}"


def make_within_corpus_splits(opts: SplitOptions) -> list[Split]:
    """Speaker-independent folds inside one corpus (``protocol`` loso or kfold)."""
    classes, mapping, classes_name = _class_setup(opts)
    [corpus] = paths.select_corpora(opts.datasets_dir, [opts.eval_dataset], what="--eval_dataset")
    if opts.train_datasets and [c.upper() for c in opts.train_datasets] != [corpus]:
        raise InputError(f"--protocol {opts.protocol} works inside one corpus; drop --train_datasets")
    if opts.validation == "corpus":
        raise InputError(f"--validation corpus needs other corpora; --protocol {opts.protocol} works inside one "
                         "corpus (use speakers or none)")
    dropped: Counter = Counter()
    rows = collect_plain_rows(opts.datasets_dir, corpus, mapping, dropped)
    report_dropped(dropped)
    speakers = sorted(rows["speaker"].unique())
    if len(speakers) < 2:
        raise InputError(f"{corpus}: {len(speakers)} usable speaker(s); a speaker-independent split needs 2 or more")
    groups = fold_speaker_groups(speakers, opts.protocol, opts.folds, opts.seed, corpus)
    splits = []
    for i, test_speakers in enumerate(groups, start=1):
        fold = paths.fold_name(i)
        in_test = rows["speaker"].isin(test_speakers)
        test, rest = rows[in_test].reset_index(drop=True), rows[~in_test].reset_index(drop=True)
        in_validation, notes, used = split_validation(rest, opts, fold)
        fold_dropped: Counter = Counter()
        train = assemble_training(rest[~in_validation].reset_index(drop=True), opts.datasets_dir,
                                  opts.augmentation, opts.balanced, opts.seed, fold_dropped)
        out_dir = paths.fold_split_dir(opts.output_dir, corpus, protocol_folder(opts.protocol, opts.folds), fold,
                                       classes_name, opts.augmentation, opts.balanced)
        split = Split(out_dir, train, rest[in_validation].reset_index(drop=True), test, tuple(classes),
                      dropped=dropped + fold_dropped, fold=fold, validation_notes=notes, validation_used=used,
                      corpora_read=(corpus,))
        report_dropped(fold_dropped)
        splits.append(_finish(split, opts, None, corpus))
    return splits


def make_splits(opts: SplitOptions) -> list[Split]:
    """Every split the options describe (one for loco, one per fold otherwise), checked; nothing is written."""
    if opts.protocol not in PROTOCOLS:
        raise InputError(f"unknown --protocol {opts.protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    if opts.protocol == "loco":
        return [make_loco_split(opts)]
    return make_within_corpus_splits(opts)


def run_split_stage(opts: SplitOptions) -> list[Split]:
    """What ``preprocess_split_dataset.py`` does: build, check and write every split."""
    splits = make_splits(opts)
    for split in splits:
        write_split(split, asdict(opts))
    if opts.protocol != "loco":
        # <output_dir>/<CORPUS>/<protocol>/folds.csv: which speakers each fold tests on
        base = paths.protocol_dir(opts.output_dir, opts.eval_dataset, protocol_folder(opts.protocol, opts.folds))
        write_csv_atomic(base / paths.FOLDS_FILE, pd.DataFrame(
            {"fold": [s.fold for s in splits], "test_speakers": [" ".join(sorted(set(s.test["speaker"]))) for s in splits]}))
    print(f"\n{len(splits)} split(s) written under {Path(opts.output_dir)}")
    return splits
