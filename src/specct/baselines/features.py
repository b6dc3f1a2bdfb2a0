"""Utterance features of the baselines: what they are, how one signal becomes one, and their cache.

Feature sets (``--features``):

- ``egemaps``: openSMILE eGeMAPSv02 functionals, 88 values per utterance;
- ``compare``: openSMILE ComParE_2016 functionals, 6373 values per utterance;
- ``resemblyzer``: the 256-d speaker vector of :mod:`specct.speaker`, read from the speaker cache
  (``<C>_speaker/embeddings.npz``, made by ``preprocess_embedding.py``), so nothing is computed twice;
  a new wav goes through ``speaker.embed_signal``;
- ``ssl:<hub name or local directory>``: a frozen self-supervised model (wav2vec2, HuBERT, WavLM,
  through ``transformers``), mean and standard deviation over time of the hidden states of one layer
  (``--layer N``; 0 is the output of the feature encoder) or of every layer (``--layer all``, for a
  learned weighted sum in the head); see :mod:`specct.baselines.ssl`.

Signal: every feature is computed on ``audio.load_trimmed`` (16 kHz mono, silence trimmed), the
samples the spectrograms and the speaker vectors see; prediction extracts from the same signal.

Cache: ``datasets/<C>/<C>_features/<set>.npz`` with ``names`` (canonical basenames), ``features``
(N x D, or N x layers x D for ``--layer all``, float32), ``feature_names`` (D) and ``meta`` (a JSON
string: the feature set, its source and layer). Files that cannot be used are listed with a reason
in ``<C>_features/skipped_<set>.csv``. Each set is a store of :mod:`specct.vectors` (``store_for``),
so the file, the resumable loop (finished vectors saved at least every minute, atomically; a rerun
extracts only what is missing) and the lookup are those the speaker vectors use.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .. import audio, paths, speaker, vectors
from ..errors import InputError
from ..vectors import Extraction, VectorStore, VectorSummary, VectorTable, read_table, write_table

OPENSMILE_SETS = {"egemaps": "eGeMAPSv02", "compare": "ComParE_2016"}
SPEAKER_SET = "resemblyzer"   # the speaker vectors of specct.speaker, as a feature set


@dataclass(frozen=True)
class FeatureSpec:
    """One feature set: ``kind`` egemaps, compare, resemblyzer or ssl; ``source`` and ``layer`` for ssl."""
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
    """``egemaps``, ``compare``, ``resemblyzer`` or ``ssl:<hub name or directory>`` (with ``layer``) as a FeatureSpec."""
    text = str(text).strip()
    if text.lower() in OPENSMILE_SETS or text.lower() == SPEAKER_SET:
        return FeatureSpec(text.lower())
    if text.lower().startswith("ssl:") and text[4:].strip():
        source = text[4:].strip()
        local = Path(source).expanduser()
        if local.is_dir():  # a local model: recorded by its absolute path, so prediction finds it from anywhere
            source = str(local.resolve())
        return FeatureSpec("ssl", source, parse_layer(layer))
    raise InputError(f"--features {text!r}: choose egemaps, compare, resemblyzer or "
                     f"ssl:<hub name or local model directory>")


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


class SpeakerVectorExtractor:
    """The resemblyzer speaker vector of one signal (``speaker.embed_signal``), for new audio."""

    def __init__(self, device: str = "cpu"):
        self.device = device
        self.feature_names = [f"resemblyzer_{i}" for i in range(speaker.EMBEDDING_DIM)]
        self.meta = {"encoder": "resemblyzer VoiceEncoder"}

    def __call__(self, signal: np.ndarray, sr: int = audio.DEFAULT_SR) -> np.ndarray:
        if sr != audio.DEFAULT_SR:
            raise InputError(f"speaker encoder needs {audio.DEFAULT_SR} Hz audio, got {sr} Hz")
        return speaker.embed_signal(signal, self.device)


def make_extractor(spec: FeatureSpec, device: str = "cpu", offline: bool | None = None):
    """The callable that turns one trimmed 16 kHz signal into this feature set's vector."""
    if spec.kind in OPENSMILE_SETS:
        return OpenSmileExtractor(spec.kind)
    if spec.kind == SPEAKER_SET:
        return SpeakerVectorExtractor(device)
    from .ssl import SSLExtractor

    return SSLExtractor(spec.source, spec.layer, device=device, offline=offline)


def extract_signal(extractor, signal: np.ndarray) -> np.ndarray:
    """The extractor's vector of one signal, checked: non-finite values are an AudioError (skipped)."""
    vector = extractor(signal)
    if not np.all(np.isfinite(vector)):
        raise audio.AudioError(f"{type(extractor).__name__} gave non-finite feature values")
    return vector


# --------------------------------------------------------------------------- cache

def store_for(spec: FeatureSpec) -> VectorStore:
    """Where a feature set is cached: ``<C>_features/<set>.npz``; ``resemblyzer`` is the speaker cache."""
    if spec.kind == SPEAKER_SET:
        return speaker.STORE
    layer = f" --layer {spec.layer}" if spec.kind == "ssl" else ""
    return VectorStore(file=f"{spec.name}.npz", folder=paths.features_dir, array="features",
                       skipped=f"skipped_{spec.name}.csv", what=f"{spec.name} features",
                       command=f"preprocess_features.py --features {spec.text}{layer}", described=True,
                       identity={"features": spec.as_dict()}, label=spec.name, bar=spec.name)


def features_path(datasets_dir: str | Path, corpus: str, spec: FeatureSpec) -> Path:
    return store_for(spec).path(datasets_dir, corpus)


def skipped_path(datasets_dir: str | Path, corpus: str, spec: FeatureSpec) -> Path:
    return store_for(spec).skipped_path(datasets_dir, corpus)


# any <C>_features/<set>.npz, read or written by its path (the set's own store adds names and messages)
FEATURES_FILE = VectorStore(file="features.npz", folder=paths.features_dir, array="features", skipped="skipped.csv",
                            what="cached features", command="preprocess_features.py", described=True)


def write_features_file(path: Path, vectors: dict[str, np.ndarray], feature_names: Sequence[str], meta: dict) -> None:
    write_table(path, FEATURES_FILE, VectorTable(dict(vectors), list(feature_names), dict(meta)))


def read_features_file(path: str | Path) -> tuple[list[str], np.ndarray, list[str], dict]:
    """``(names, features, feature_names, meta)`` of one cache file; one-line errors for bad files."""
    table = read_table(path, FEATURES_FILE)
    names = list(table.vectors)   # in file order
    matrix = np.stack([table.vectors[n] for n in names]) if names \
        else np.zeros((0, len(table.feature_names or [])), np.float32)
    return names, matrix, list(table.feature_names or []), dict(table.meta or {})


def features_file_for_wav(wav_path: str | Path, spec: FeatureSpec) -> Path:
    """``datasets/<C>/<C>_wav/x.wav`` -> ``datasets/<C>/<C>_features/<set>.npz``."""
    return store_for(spec).path_for_wav(wav_path)


def features_for_wavs(wav_paths: Iterable[str | Path], spec: FeatureSpec) -> np.ndarray:
    """The cached vectors of wav files (N x D, or N x layers x D), found from each wav's place in the layout.

    A single layer is also read from an ``all`` cache of the same model when no cache of that layer exists.
    """
    store = store_for(spec)
    if spec.kind != "ssl" or spec.layer == "all":
        return vectors.vectors_for_wavs(wav_paths, store)
    every = store_for(FeatureSpec("ssl", spec.source, "all"))
    rows = []
    for wav in wav_paths:
        if store.path_for_wav(wav).exists() or not every.path_for_wav(wav).exists():
            rows.append(vectors.vector_for_wav(wav, store))
            continue
        layers = vectors.vector_for_wav(wav, every)
        if int(spec.layer) >= layers.shape[0]:
            raise InputError(f"--layer {spec.layer}: {every.path_for_wav(wav)} holds layers 0-{layers.shape[0] - 1}")
        rows.append(layers[int(spec.layer)])
    return np.stack(rows).astype(np.float32) if rows else np.zeros((0, 0), np.float32)


# --------------------------------------------------------------------------- a corpus

def extraction(spec: FeatureSpec, extractor) -> Extraction:
    """A feature extractor in the shape of the shared vector loop (one file at a time)."""
    meta = {"features": spec.as_dict(), "sample_rate": audio.DEFAULT_SR, "signal": "specct.audio.load_trimmed",
            **getattr(extractor, "meta", {})}
    return Extraction(prepare=lambda signal: extract_signal(extractor, signal),
                      feature_names=list(extractor.feature_names), meta=meta)


def extract_corpus(datasets_dir: str | Path, corpus: str, spec: FeatureSpec, extractor=None, device: str = "cpu",
                   progress: bool = True, overwrite: bool = False) -> VectorSummary:
    """Extract one feature set for every wav of one corpus that has none yet; resumes after a kill.

    ``resemblyzer`` fills the speaker cache, batched as ``preprocess_embedding.py`` does.
    """
    if spec.kind == SPEAKER_SET:
        return speaker.embed_corpus(datasets_dir, corpus, device, progress=progress, overwrite=overwrite)
    return vectors.extract_corpus(datasets_dir, corpus, store_for(spec),
                                  lambda: extraction(spec, extractor or make_extractor(spec, device)),
                                  progress, overwrite)


def extract_corpora(datasets_dir: str | Path = paths.DATASETS_DIR, datasets: Sequence[str] | None = None,
                    features: str = "egemaps", layer: int | str | None = None, device: str = "cpu",
                    progress: bool = True, overwrite: bool = False, offline: bool | None = None
                    ) -> list[VectorSummary]:
    """One feature set for every corpus (or those named), one summary line printed per corpus."""
    spec = parse_features(features, layer)
    corpora = paths.select_corpora(datasets_dir, datasets)
    extractor = make_extractor(spec, device, offline)   # a bad model source fails before any work
    return vectors.extract_corpora(corpora, lambda corpus: extract_corpus(datasets_dir, corpus, spec, extractor,
                                                                         device, progress, overwrite))
