"""Per-utterance vectors cached per corpus: one file layout, one resumable extractor loop, one lookup.

Two stages compute one vector per wav and keep them beside the corpus: the speaker vectors
(:mod:`specct.data.speaker`, ``datasets/<C>/<C>_speaker/embeddings.npz``) and the baseline features
(:mod:`specct.baselines.features`, ``datasets/<C>/<C>_features/<set>.npz``). Both are a
:class:`VectorStore` here, and both run :func:`extract_corpus`.

File (``.npz``, read without pickle): ``names`` (canonical basenames, the wav name without ``.wav``,
sorted) and the vectors under ``VectorStore.array`` (``embeddings`` or ``features``: N x D float32,
or N x layers x D). A *described* store (the features) also holds ``feature_names`` (D) and ``meta``
(a JSON string saying what made the vectors); an existing file whose meta does not match
``VectorStore.identity`` is refused rather than extended. Files that cannot be used are listed with
a one-line reason in the store's skip list (``skipped.csv``, ``skipped_<set>.csv``) beside it.

The loop (:func:`extract_corpus`): every wav of ``datasets/<C>/<C>_wav`` without a vector is read with
``audio.load_trimmed``, prepared one by one (an :class:`~specct.audio.loading.AudioError` skips the file with
its message), and turned into vectors in batches. The file is rewritten atomically at least every
``CHECKPOINT_SECONDS``, so a killed run loses at most that much work and a rerun extracts only what
is missing; vectors of wavs that no longer exist are dropped. A progress bar runs meanwhile, and the
result is a :class:`VectorSummary` with its one summary line.

Lookup (:func:`vectors_for_wavs`): the cached vectors of a list of wav paths, each found from the wav's
place in the datasets layout; files are read once and re-read only when they change.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from ..audio import loading as audio
from ..core import paths
from ..core.errors import (DamagedFileError, InputError, MissingInputError, PartialFailure, describe, expected_errors,
    is_disk_full)
from ..core.fileio import SkipList, atomic_path, remove_stale_temporaries

CHECKPOINT_SECONDS = 60.0   # rewrite the cache at least this often while extracting


# --------------------------------------------------------------------------- the layout

@dataclass(frozen=True)
class VectorStore:
    """One kind of cached per-utterance vector: where its file lives in a corpus and what it holds."""
    file: str                                   # "embeddings.npz", "<set>.npz"
    folder: Callable[[str | Path, str], Path]   # (datasets_dir, corpus) -> the corpus folder holding it
    array: str                                  # key of the vectors in the file: "embeddings", "features"
    skipped: str                                # skip-list file name beside it
    what: str                                   # in messages: "speaker vectors", "egemaps features"
    command: str                                # what makes it: "preprocess_embedding.py", ...
    described: bool = False                     # also feature_names and meta (JSON)
    identity: Mapping | None = field(default=None, compare=False, hash=False)   # meta an existing file must hold
    width: int | None = None                    # D every vector must have, when the store fixes it
    ndim: int | None = None                     # required ndim of the N x ... array, if fixed
    missing_error: type = MissingInputError     # raised for a wav without a vector
    label: str = ""                             # after the corpus in the summary line
    bar: str = ""                               # before the corpus on the progress bar
    verb: str = "extracted"                     # in the summary line: "12 extracted", "12 embedded"

    def path(self, datasets_dir: str | Path, corpus: str) -> Path:
        return self.folder(datasets_dir, corpus) / self.file

    def skipped_path(self, datasets_dir: str | Path, corpus: str) -> Path:
        return self.folder(datasets_dir, corpus) / self.skipped

    def path_for_wav(self, wav_path: str | Path) -> Path:
        """``datasets/<C>/<C>_wav/x.wav`` -> this store's file of corpus ``<C>``."""
        corpus_folder = Path(wav_path).parent.parent
        return self.path(corpus_folder.parent, corpus_folder.name)

    def empty_width(self, feature_names: Sequence[str] | None) -> int:
        return len(feature_names) if feature_names else int(self.width or 0)


@dataclass
class VectorTable:
    """The content of one cache file: name -> vector, and for a described store its feature names and meta."""
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    feature_names: list[str] | None = None
    meta: dict | None = None
    nonfinite: list[str] = field(default_factory=list)   # names whose vector holds NaN or inf (never usable)

    @property
    def names(self) -> list[str]:
        return sorted(self.vectors)


def write_table(path: str | Path, store: VectorStore, table: VectorTable) -> None:
    """Write a cache file atomically, names sorted (a kill leaves the previous file whole)."""
    names = table.names
    matrix = np.stack([table.vectors[n] for n in names]).astype(np.float32) if names \
        else np.zeros((0, store.empty_width(table.feature_names)), np.float32)
    arrays = {"names": np.array(names, dtype=str), store.array: matrix}
    if store.described:
        arrays["feature_names"] = np.array(list(table.feature_names or []), dtype=str)
        arrays["meta"] = np.array(json.dumps(table.meta or {}))
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def read_table(path: str | Path, store: VectorStore) -> VectorTable:
    """One cache file, checked: a missing file is a MissingInputError, one that is not a whole cache of
    this store (truncated, empty, other bytes, keys missing, shapes that disagree, another width) a
    DamagedFileError naming it. Rows with NaN or inf are kept apart in ``nonfinite``."""
    import zipfile

    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            names = [str(n) for n in data["names"]]
            matrix = np.asarray(data[store.array])
            feature_names = [str(n) for n in data["feature_names"]] if store.described else None
            meta = json.loads(str(data["meta"])) if store.described else None
    except FileNotFoundError:
        raise MissingInputError(f"{path}: no {store.what} (run {store.command})") from None
    except KeyError as exc:
        raise DamagedFileError(f"{path}: damaged {store.what} file (no {exc} in it)") from None
    except (zipfile.BadZipFile, EOFError) as exc:
        raise DamagedFileError(f"{path}: damaged {store.what} file (truncated or empty: {exc})") from None
    except (OSError, ValueError) as exc:   # numpy reads other bytes as a pickle it refuses: say what it is
        raise DamagedFileError(f"{path}: damaged {store.what} file (not a numpy .npz archive)") from None
    problem = layout_problem(store, names, matrix, feature_names, meta)
    if problem:
        raise DamagedFileError(f"{path}: damaged {store.what} file ({problem})")
    matrix = matrix.astype(np.float32, copy=False)
    finite = np.isfinite(matrix.reshape(len(names), -1)).all(axis=1)
    nonfinite = [n for n, ok in zip(names, finite) if not ok]
    return VectorTable(dict(zip(names, matrix)), feature_names, meta, nonfinite)


def layout_problem(store: VectorStore, names: list[str], matrix: np.ndarray, feature_names, meta) -> str | None:
    """What makes a read cache other than what ``write_table`` writes for this store, or None: names and
    rows that disagree, another dtype than float32, a width other than the store's or than its feature
    names, names twice. The one check of a cache before a stage reuses it or training reads it."""
    # an empty file (every wav skipped) has no rows to hold a shape against
    if matrix.shape[0:1] != (len(names),) or matrix.ndim < 2 \
            or (names and store.ndim is not None and matrix.ndim != store.ndim):
        return f"{len(names)} names but {store.array} of shape {matrix.shape}"
    if len(set(names)) != len(names):
        return "a name listed twice"
    if matrix.dtype != np.float32:   # what write_table writes; another dtype was made elsewhere
        return f"vectors of dtype {matrix.dtype}, not float32"
    if store.described and feature_names and matrix.shape[-1] != len(feature_names):
        return f"vectors of width {matrix.shape[-1]} but {len(feature_names)} feature names"
    if names and store.width is not None and matrix.shape[-1] != store.width:
        return f"vectors of width {matrix.shape[-1]}, not {store.width}"
    if store.described and not isinstance(meta, dict):
        return "its meta is not a mapping"
    return None


def load_to_extend(path: Path, store: VectorStore, echo: Callable[[str], object]) -> VectorTable | None:
    """The cache a stage extends, or None when it must be made again: a damaged file is reported and
    rebuilt, rows with NaN or inf are dropped (and so extracted again)."""
    try:
        table = read_table(path, store)
    except DamagedFileError as exc:
        echo(f"{exc}; extracting every file again")
        return None
    if table.nonfinite:
        echo(f"{path}: {len(table.nonfinite)} {store.what} with NaN or inf values "
             f"({', '.join(table.nonfinite[:3])}{', ...' if len(table.nonfinite) > 3 else ''}); extracting them again")
        for name in table.nonfinite:
            del table.vectors[name]
        table.nonfinite = []
    return table


def identity_problem(path: Path, store: VectorStore, table: VectorTable) -> str | None:
    """Why a described cache was made for something else (another feature set, model or layer), or None."""
    if store.identity is None:
        return None
    made_for = {key: (table.meta or {}).get(key) for key in store.identity}
    if made_for == dict(store.identity):
        return None
    return f"{path}: made for {made_for}, not {dict(store.identity)} (remove it or pass --overwrite)"


def reusable_names(path: str | Path, store: VectorStore) -> tuple[set[str], str | None]:
    """The names whose vectors a stage would keep from a cache file, and the one-line reason when the
    file (or some of its rows) would not be kept: a stage counts the other wavs as left to do, so a
    damaged cache, or one of another width or dtype than the stage writes, is never "done"."""
    path = Path(path)
    if not path.is_file():
        return set(), None
    try:
        table = cached_table(path, store)
    except DamagedFileError as exc:
        return set(), f"{exc}; made again"
    problem = identity_problem(path, store, table)
    if problem:
        return set(), problem
    if table.nonfinite:
        return set(table.names) - set(table.nonfinite), \
            f"{path}: {len(table.nonfinite)} {store.what} with NaN or inf values; extracted again"
    return set(table.names), None


# --------------------------------------------------------------------------- lookup

_FILE_CACHE: dict[Path, tuple[float, VectorTable]] = {}


def cached_table(path: str | Path, store: VectorStore) -> VectorTable:
    """A cache file, read once and again only when it changes (training asks row by row)."""
    path = Path(path)
    mtime = path.stat().st_mtime if path.exists() else -1.0
    cached = _FILE_CACHE.get(path)
    if cached is None or cached[0] != mtime:
        _FILE_CACHE[path] = (mtime, read_table(path, store))
    return _FILE_CACHE[path][1]


def vector_for_wav(wav_path: str | Path, store: VectorStore) -> np.ndarray:
    """The cached vector of one wav; a one-line error when its corpus or the wav itself has none."""
    wav = Path(wav_path)
    path = store.path_for_wav(wav)
    if not path.exists():
        corpus = wav.parent.parent.name
        raise MissingInputError(f"{path}: no {store.what} of {corpus} (run {store.command} --datasets {corpus})")
    table = cached_table(path, store)
    if wav.stem in table.nonfinite:
        raise DamagedFileError(f"{path}: the {store.what} of {wav.stem} hold NaN or inf values "
                               f"(run {store.command} to extract them again)")
    vector = table.vectors.get(wav.stem)
    if vector is None:
        raise store.missing_error(f"{wav}: no {store.what} in {path} (skipped, see {store.skipped}; "
                                  f"or added since: run {store.command})")
    return vector


def vectors_for_wavs(wav_paths: Iterable[str | Path], store: VectorStore) -> np.ndarray:
    """The cached vectors of wav files, stacked in their order (N x D, or N x layers x D)."""
    rows = [vector_for_wav(wav, store) for wav in wav_paths]
    return np.stack(rows).astype(np.float32) if rows else np.zeros((0, int(store.width or 0)), np.float32)


# --------------------------------------------------------------------------- the extractor loop

@dataclass
class Extraction:
    """How the loop turns trimmed signals into vectors.

    ``prepare`` runs on each signal (an AudioError skips that file, its message the reason);
    ``batch`` turns up to ``batch_size`` prepared items into one vector each (a network pass over
    several utterances at once). ``feature_names`` and ``meta`` go into a described store's file.
    """
    prepare: Callable[[np.ndarray], object]
    batch: Callable[[list], Sequence[np.ndarray]] = list
    batch_size: int = 1
    feature_names: Sequence[str] = ()
    meta: dict = field(default_factory=dict)


@dataclass
class VectorSummary:
    """What one corpus run did; ``line()`` is the summary printed after it."""
    corpus: str
    label: str = ""
    files: int = 0
    extracted: int = 0
    reused: int = 0
    skipped: int = 0
    pruned: int = 0
    seconds: float = 0.0
    verb: str = "extracted"

    @property
    def embedded(self) -> int:
        return self.extracted

    @property
    def files_per_second(self) -> float:
        return self.extracted / self.seconds if self.extracted and self.seconds else 0.0

    def line(self) -> str:
        rate = f", {self.files_per_second:.1f} files/s" if self.extracted and self.seconds else ""
        label = f" {self.label}" if self.label else ""
        return (f"{self.corpus}{label}: {self.files} wavs, {self.extracted} {self.verb}, {self.reused} already done, "
                f"{self.skipped} skipped, {self.pruned} stale removed ({self.seconds:.1f} s{rate})")


def prepared_batches(wavs: Sequence[Path], size: int, prepare: Callable, skips: SkipList):
    """The wavs in batches of ``size``: each batch with the ``(name, prepared input)`` of the files that
    could be read (trimmed audio through ``prepare``); a file that cannot be read goes to ``skips``."""
    for first in range(0, len(wavs), size):
        chunk, ready = wavs[first:first + size], []
        for wav in chunk:
            try:
                ready.append((wav.stem, prepare(audio.load_trimmed(wav))))
            except audio.AudioError as exc:
                skips.add(wav.name, str(exc))
        yield chunk, ready


def extract_corpus(datasets_dir: str | Path, corpus: str, store: VectorStore, extraction: Callable[[], Extraction],
                   progress: bool = True, overwrite: bool = False) -> VectorSummary:
    """Give every wav of one corpus a vector in ``store``; resumes after a kill.

    ``extraction`` is called (at most once) only when there is something to compute, so a run with
    nothing left to do loads no model. ``overwrite`` recomputes every vector.
    """
    from tqdm import tqdm

    corpus = corpus.upper()
    wavs = sorted(paths.wav_dir(datasets_dir, corpus).glob("*.wav"))
    summary = VectorSummary(corpus, store.label, files=len(wavs), verb=store.verb)
    out_path = store.path(datasets_dir, corpus)
    if out_path.parent.is_dir():
        remove_stale_temporaries(out_path.parent)   # left by a killed run; never a finished file
    echo = tqdm.write if progress else print
    table = load_to_extend(out_path, store, echo) if out_path.exists() and not overwrite else None
    loaded = table is not None
    table = table or VectorTable()
    if loaded and identity_problem(out_path, store, table):
        raise InputError(identity_problem(out_path, store, table))
    present = {w.stem for w in wavs}
    stale = [n for n in table.vectors if n not in present]   # wav renamed or removed since
    for name in stale:
        del table.vectors[name]
    summary.pruned = len(stale)
    todo = [w for w in wavs if w.stem not in table.vectors]
    summary.reused = len(wavs) - len(todo)
    skips = SkipList(out_path.parent / store.skipped, echo=tqdm.write if progress else None)

    start = last_save = time.perf_counter()
    if todo or not loaded:
        made = extraction()
        if table.vectors and not same_width(table, made, store):
            echo(f"{out_path}: {store.what} of another width than {store.command} makes now; extracting every file again")
            table.vectors.clear()
            todo, summary.reused = list(wavs), 0
        table.feature_names, table.meta = list(made.feature_names), dict(made.meta)
        step = max(1, int(made.batch_size))
        bar = tqdm(total=len(todo), desc=f"{store.bar} {corpus}".strip(), unit="file", disable=not progress)
        saved = summary.extracted
        try:
            for chunk, ready in prepared_batches(todo, step, made.prepare, skips):
                if ready:
                    table.vectors.update(zip([name for name, _ in ready], made.batch([item for _, item in ready])))
                    summary.extracted += len(ready)
                bar.update(len(chunk))
                if time.perf_counter() - last_save >= CHECKPOINT_SECONDS:
                    write_table(out_path, store, table)
                    last_save, saved = time.perf_counter(), summary.extracted
        except BaseException:
            # an error or Ctrl-C mid-corpus: keep the vectors finished since the last checkpoint
            if summary.extracted > saved:
                keep_partial(out_path, store, table)
            raise
        finally:
            bar.close()
    if todo or stale or not out_path.exists():
        write_table(out_path, store, table)
    if todo or not skips.path.exists():   # a run that retried nothing keeps the old skip list
        skips.write()
    summary.skipped = len(skips)
    summary.seconds = time.perf_counter() - start
    return summary


def same_width(table: VectorTable, made: Extraction, store: VectorStore) -> bool:
    """Whether the vectors already in a cache have the shape the extractor makes (checked on its names:
    a described store's feature names, or the store's fixed width)."""
    width = next(iter(table.vectors.values())).shape[-1]
    if store.described and made.feature_names:
        return list(table.feature_names or []) == list(made.feature_names) and width == len(made.feature_names)
    return store.width is None or width == store.width


def keep_partial(path: Path, store: VectorStore, table: VectorTable) -> None:
    """Write what a failing run finished, if the file system lets it (the failure may be the writing itself)."""
    try:
        write_table(path, store, table)
    except expected_errors():
        pass


def extract_corpora(corpora: Sequence[str], extract_one: Callable[[str], VectorSummary],
                    echo: Callable[[str], object] | None = print) -> list[VectorSummary]:
    """``extract_one`` on each corpus in turn, echoing its summary line as soon as it is done.

    A corpus that fails (bad input, the file system, a damaged file) is echoed and the others go on,
    each finished one's cache already written; at the end one :class:`PartialFailure` lists the
    failed corpora. A full disk stops the loop: the corpora after it are listed as not processed.
    """
    summaries, failed = [], []
    for i, corpus in enumerate(corpora):
        try:
            summary = extract_one(corpus)
        except expected_errors() as exc:
            failed.append(f"{corpus} ({describe(exc)})")
            if echo:
                echo(f"{corpus}: failed: {describe(exc)}")
            if is_disk_full(exc):
                failed += [f"{rest} (not processed)" for rest in corpora[i + 1:]]
                break
            continue
        if echo:
            echo(summary.line())
        summaries.append(summary)
    if failed:
        kept = f"; kept: {', '.join(s.corpus for s in summaries)}" if summaries else ""
        raise PartialFailure(f"{len(failed)} of {len(corpora)} corpora failed: {'; '.join(failed)}{kept}")
    return summaries
