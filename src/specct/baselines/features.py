"""Utterance features of the baselines: what they are, how one signal becomes one, and their cache.

Feature sets (``--features``):

- ``egemaps``: openSMILE eGeMAPSv02 functionals, 88 values per utterance;
- ``compare``: openSMILE ComParE_2016 functionals, 6373 values per utterance;
- ``ssl:<hub name or local directory>``: a frozen self-supervised model (wav2vec2, HuBERT, WavLM,
  through ``transformers``), mean and standard deviation over time of the hidden states of one layer
  (``--layer N``; 0 is the output of the feature encoder) or of every layer (``--layer all``, for a
  learned weighted sum in the head); see :mod:`specct.baselines.ssl`.

Signal: every feature is computed on ``audio.load_trimmed`` (16 kHz mono, silence trimmed), the
samples the spectrograms and the speaker vectors see; prediction extracts from the same signal.

Cache: ``datasets/<C>/<C>_features/<set>.npz`` with ``names`` (canonical basenames), ``features``
(N x D, or N x layers x D for ``--layer all``, float32), ``feature_names`` (D) and ``meta`` (a JSON
string: the feature set, its source and layer). Files that cannot be used are listed with a reason
in ``<C>_features/skipped_<set>.csv``. The stage resumes after a kill: finished vectors are saved at
least every minute, atomically, and a rerun extracts only what is missing.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .. import audio, paths
from ..errors import InputError, MissingInputError
from ..fileio import SkipList, atomic_path, remove_stale_temporaries

OPENSMILE_SETS = {"egemaps": "eGeMAPSv02", "compare": "ComParE_2016"}
CHECKPOINT_SECONDS = 60.0


@dataclass(frozen=True)
class FeatureSpec:
    """One feature set: ``kind`` egemaps, compare or ssl; ``source`` and ``layer`` for ssl."""
    kind: str
    source: str | None = None
    layer: int | str | None = None   # an int, "all", or None (openSMILE)

    @property
    def name(self) -> str:
        """The cache file stem: ``egemaps``, ``compare``, ``ssl_<model>_layer8`` or ``ssl_<model>_all``."""
        if self.kind != "ssl":
            return self.kind
        layer = "all" if self.layer == "all" else f"layer{self.layer}"
        return f"ssl_{ssl_slug(self.source)}_{layer}"

    @property
    def text(self) -> str:
        """The ``--features`` value that names this set."""
        return f"ssl:{self.source}" if self.kind == "ssl" else self.kind

    def as_dict(self) -> dict:
        return {"features": self.text, "kind": self.kind, "source": self.source, "layer": self.layer,
                "name": self.name}


def ssl_slug(source: str) -> str:
    """A file-name-safe name of an SSL model: ``facebook/wav2vec2-base`` -> ``facebook--wav2vec2-base``;
    a local directory -> its folder name."""
    path = Path(source)
    text = path.name if path.is_absolute() or source.startswith(".") or path.is_dir() else source.replace("/", "--")
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text) or "model"


def parse_layer(layer: int | str | None) -> int | str:
    if layer is None or str(layer).lower() == "all":
        return "all"
    try:
        value = int(layer)
    except ValueError:
        raise InputError(f"--layer {layer!r}: give a layer number (0 = feature encoder output) or 'all'") from None
    if value < 0:
        raise InputError(f"--layer {value}: layers count from 0")
    return value


def parse_features(text: str, layer: int | str | None = None) -> FeatureSpec:
    """``egemaps``, ``compare`` or ``ssl:<hub name or directory>`` (with ``layer``) as a FeatureSpec."""
    text = str(text).strip()
    if text.lower() in OPENSMILE_SETS:
        return FeatureSpec(text.lower())
    if text.lower().startswith("ssl:") and text[4:].strip():
        source = text[4:].strip()
        local = Path(source).expanduser()
        if local.is_dir():  # a local model: recorded by its absolute path, so prediction finds it from anywhere
            source = str(local.resolve())
        return FeatureSpec("ssl", source, parse_layer(layer))
    raise InputError(f"--features {text!r}: choose egemaps, compare or ssl:<hub name or local model directory>")


# --------------------------------------------------------------------------- extractors

class OpenSmileExtractor:
    """openSMILE functionals of one signal, through audEERING's ``opensmile`` package."""

    def __init__(self, kind: str):
        import opensmile

        self.spec = FeatureSpec(kind)
        self.smile = opensmile.Smile(feature_set=getattr(opensmile.FeatureSet, OPENSMILE_SETS[kind]),
                                     feature_level=opensmile.FeatureLevel.Functionals)
        self.feature_names = list(self.smile.feature_names)

    def __call__(self, signal: np.ndarray, sr: int = audio.DEFAULT_SR) -> np.ndarray:
        values = self.smile.process_signal(np.asarray(signal, dtype=np.float32), sr).to_numpy()
        return values.reshape(-1).astype(np.float32)


def make_extractor(spec: FeatureSpec, device: str = "cpu", offline: bool | None = None):
    """The callable that turns one trimmed 16 kHz signal into this feature set's vector."""
    if spec.kind in OPENSMILE_SETS:
        return OpenSmileExtractor(spec.kind)
    from .ssl import SSLExtractor

    return SSLExtractor(spec.source, spec.layer, device=device, offline=offline)


def extract_signal(extractor, signal: np.ndarray) -> np.ndarray:
    """The extractor's vector of one signal, checked: non-finite values are an AudioError (skipped)."""
    vector = extractor(signal)
    if not np.all(np.isfinite(vector)):
        raise audio.AudioError(f"{type(extractor).__name__} gave non-finite feature values")
    return vector


# --------------------------------------------------------------------------- cache

def features_path(datasets_dir: str | Path, corpus: str, spec: FeatureSpec) -> Path:
    return paths.features_dir(datasets_dir, corpus) / f"{spec.name}.npz"


def skipped_path(datasets_dir: str | Path, corpus: str, spec: FeatureSpec) -> Path:
    return paths.features_dir(datasets_dir, corpus) / f"skipped_{spec.name}.csv"


def write_features_file(path: Path, vectors: dict[str, np.ndarray], feature_names: Sequence[str], meta: dict) -> None:
    names = sorted(vectors)
    matrix = np.stack([vectors[n] for n in names]).astype(np.float32) if names \
        else np.zeros((0, len(feature_names)), np.float32)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, names=np.array(names, dtype=str), features=matrix,
                     feature_names=np.array(list(feature_names), dtype=str), meta=np.array(json.dumps(meta)))


def read_features_file(path: str | Path) -> tuple[list[str], np.ndarray, list[str], dict]:
    """``(names, features, feature_names, meta)`` of one cache file; one-line errors for bad files."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            names = [str(n) for n in data["names"]]
            features = np.asarray(data["features"], dtype=np.float32)
            feature_names = [str(n) for n in data["feature_names"]]
            meta = json.loads(str(data["meta"]))
    except FileNotFoundError:
        raise MissingInputError(f"{path}: no cached features (run preprocess_features.py)") from None
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(f"{path}: unreadable features file ({type(exc).__name__}: {exc})") from None
    if features.shape[0] != len(names):
        raise InputError(f"{path}: {len(names)} names but features of shape {features.shape}")
    return names, features, feature_names, meta


_FILE_CACHE: dict[Path, tuple[float, dict[str, np.ndarray], dict]] = {}


def _cached(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    mtime = path.stat().st_mtime if path.exists() else -1.0
    cached = _FILE_CACHE.get(path)
    if cached is None or cached[0] != mtime:
        names, features, _, meta = read_features_file(path)
        _FILE_CACHE[path] = (mtime, dict(zip(names, features)), meta)
    return _FILE_CACHE[path][1], _FILE_CACHE[path][2]


def features_file_for_wav(wav_path: str | Path, spec: FeatureSpec) -> Path:
    """``datasets/<C>/<C>_wav/x.wav`` -> ``datasets/<C>/<C>_features/<set>.npz``."""
    corpus_folder = Path(wav_path).parent.parent
    return paths.features_dir(corpus_folder.parent, corpus_folder.name) / f"{spec.name}.npz"


def features_for_wavs(wav_paths: Iterable[str | Path], spec: FeatureSpec) -> np.ndarray:
    """The cached vectors of wav files (N x D, or N x layers x D), found from each wav's place in the layout.

    A single layer is also read from an ``all`` cache of the same model when no cache of that layer exists.
    """
    rows = []
    for wav in wav_paths:
        wav = Path(wav)
        path = features_file_for_wav(wav, spec)
        pick = None
        if not path.exists() and spec.kind == "ssl" and spec.layer != "all":
            every = features_file_for_wav(wav, FeatureSpec("ssl", spec.source, "all"))
            if every.exists():
                path, pick = every, int(spec.layer)
        if not path.exists():
            corpus = wav.parent.parent.name
            raise MissingInputError(
                f"{path}: no {spec.name} features of {corpus} (run preprocess_features.py --features {spec.text}"
                f"{'' if spec.kind != 'ssl' else f' --layer {spec.layer}'} --datasets {corpus})")
        vectors, _ = _cached(path)
        vector = vectors.get(wav.stem)
        if vector is None:
            raise MissingInputError(f"{wav}: no {spec.name} features in {path} "
                                    f"(skipped by the features stage, or extracted before this file was added)")
        if pick is not None:
            if pick >= vector.shape[0]:
                raise InputError(f"--layer {pick}: {path} holds layers 0-{vector.shape[0] - 1}")
            vector = vector[pick]
        rows.append(vector)
    return np.stack(rows).astype(np.float32) if rows else np.zeros((0, 0), np.float32)


# --------------------------------------------------------------------------- the stage

@dataclass
class CorpusFeaturesSummary:
    corpus: str
    features: str
    files: int = 0
    extracted: int = 0
    reused: int = 0
    skipped: int = 0
    pruned: int = 0
    seconds: float = 0.0

    @property
    def files_per_second(self) -> float:
        return self.extracted / self.seconds if self.extracted and self.seconds else 0.0

    def line(self) -> str:
        rate = f", {self.files_per_second:.1f} files/s" if self.extracted and self.seconds else ""
        return (f"{self.corpus} {self.features}: {self.files} wavs, {self.extracted} extracted, "
                f"{self.reused} already done, {self.skipped} skipped, {self.pruned} stale removed "
                f"({self.seconds:.1f} s{rate})")


def extract_corpus(datasets_dir: str | Path, corpus: str, spec: FeatureSpec, extractor=None, device: str = "cpu",
                   progress: bool = True, overwrite: bool = False) -> CorpusFeaturesSummary:
    """Extract one feature set for every wav of one corpus that has none yet; resumes after a kill."""
    from tqdm import tqdm

    corpus = corpus.upper()
    wavs = sorted(paths.wav_dir(datasets_dir, corpus).glob("*.wav"))
    summary = CorpusFeaturesSummary(corpus, spec.name, files=len(wavs))
    out_path = features_path(datasets_dir, corpus, spec)
    if out_path.parent.is_dir():
        remove_stale_temporaries(out_path.parent)
    vectors: dict[str, np.ndarray] = {}
    meta = None
    if out_path.exists() and not overwrite:
        names, matrix, feature_names, meta = read_features_file(out_path)
        if meta.get("features") != spec.as_dict():
            raise InputError(f"{out_path}: made for {meta.get('features')}, not {spec.as_dict()} "
                             f"(remove it or pass --overwrite)")
        vectors = dict(zip(names, matrix))
    present = {w.stem for w in wavs}
    stale = [n for n in vectors if n not in present]
    for name in stale:
        del vectors[name]
    summary.pruned = len(stale)
    todo = [w for w in wavs if w.stem not in vectors]
    summary.reused = len(wavs) - len(todo)
    skips = SkipList(skipped_path(datasets_dir, corpus, spec), echo=tqdm.write if progress else None)
    start = time.perf_counter()
    if todo or meta is None:
        extractor = extractor or make_extractor(spec, device)
        meta = {"features": spec.as_dict(), "sample_rate": audio.DEFAULT_SR, "signal": "specct.audio.load_trimmed",
                **getattr(extractor, "meta", {})}
    last_save = time.perf_counter()
    for wav in tqdm(todo, desc=f"{spec.name} {corpus}", unit="file", disable=not progress):
        try:
            vectors[wav.stem] = extract_signal(extractor, audio.load_trimmed(wav))
            summary.extracted += 1
        except audio.AudioError as exc:
            skips.add(wav.name, str(exc))
        if time.perf_counter() - last_save > CHECKPOINT_SECONDS:
            write_features_file(out_path, vectors, extractor.feature_names, meta)
            last_save = time.perf_counter()
    if todo or stale or not out_path.exists():
        feature_names = extractor.feature_names if extractor is not None else []
        if not feature_names and out_path.exists():
            feature_names = read_features_file(out_path)[2]
        write_features_file(out_path, vectors, feature_names, meta)
    if todo or not skips.path.exists():   # a run that retried nothing keeps the old skip list
        skips.write()
    summary.skipped = len(skips)
    summary.seconds = time.perf_counter() - start
    return summary


def extract_corpora(datasets_dir: str | Path = paths.DATASETS_DIR, datasets: Sequence[str] | None = None,
                    features: str = "egemaps", layer: int | str | None = None, device: str = "cpu",
                    progress: bool = True, overwrite: bool = False, offline: bool | None = None
                    ) -> list[CorpusFeaturesSummary]:
    """What ``preprocess_features.py`` does: one feature set for every corpus (or those named)."""
    spec = parse_features(features, layer)
    corpora = paths.select_corpora(datasets_dir, datasets)
    extractor = make_extractor(spec, device, offline)   # a bad model source fails before any work
    summaries = []
    for corpus in corpora:
        summary = extract_corpus(datasets_dir, corpus, spec, extractor, device, progress, overwrite)
        print(summary.line())
        summaries.append(summary)
    return summaries
