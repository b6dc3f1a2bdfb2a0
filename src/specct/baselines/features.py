"""Utterance features of the baselines: what they are, how one signal becomes one, and their cache.

Feature sets (``--features``):

- ``egemaps``: openSMILE eGeMAPSv02 functionals, 88 values per utterance;
- ``compare``: openSMILE ComParE_2016 functionals, 6373 values per utterance;
- ``resemblyzer``: the 256-d speaker vector of :mod:`specct.data.speaker`, read from the speaker cache
  (``<C>_speaker/embeddings.npz``, made by ``preprocess_embedding.py``), so nothing is computed twice;
  a new wav goes through ``speaker.embed_signal``;
- ``ssl:<hub name or local directory>``: a frozen self-supervised model (wav2vec2, HuBERT, WavLM,
  through ``transformers``), mean and standard deviation over time of the hidden states of one layer
  (``--layer N``; 0 is the output of the feature encoder) or of every layer (``--layer all``, for a
  learned weighted sum in the head); see :mod:`specct.baselines.ssl`;
- ``whisper[:<hub name or folder>[:<layer>]]``: the frozen encoder of Whisper (a hub name, a
  ``save_pretrained`` folder or a CTranslate2 folder; default the Whisper base that ``make weights``
  fetches), mean and standard deviation over the audio's frames of every layer, cached together
  whatever layer is asked for; ``whisper_input`` ``real`` (default) or ``padded`` (the 30-s window);
  see :mod:`specct.baselines.whisper`.

Signal: every feature is computed on ``audio.load_trimmed`` (16 kHz mono, silence trimmed), the
samples the spectrograms and the speaker vectors see; prediction extracts from the same signal.

Cache: ``datasets/<C>/<C>_features/<set>.npz`` with ``names`` (canonical basenames), ``features``
(N x D, or N x layers x D for ``--layer all``, float32), ``feature_names`` (D) and ``meta`` (a JSON
string: the feature set, its source and layer). Files that cannot be used are listed with a reason
in ``<C>_features/skipped_<set>.csv``. Each set is a store of :mod:`specct.data.vectors` (``store_for``),
so the file, the resumable loop (finished vectors saved at least every minute, atomically; a rerun
extracts only what is missing) and the lookup are those the speaker vectors use.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..audio import loading as audio
from ..core import paths
from ..data import speaker, vectors
from ..core.errors import InputError
from ..data.vectors import Extraction, VectorStore, VectorSummary, VectorTable, read_table, write_table

OPENSMILE_SETS = {"egemaps": "eGeMAPSv02", "compare": "ComParE_2016"}
OPENSMILE_WIDTHS = {"egemaps": 88, "compare": 6373}   # values per utterance: a cache of another width is remade
SPEAKER_SET = "resemblyzer"   # the speaker vectors of specct.data.speaker, as a feature set


@dataclass(frozen=True)
class FeatureSpec:
    """One feature set: ``kind`` egemaps, compare, resemblyzer, ssl or whisper; ``source`` and ``layer``
    for ssl and whisper (a whisper source of None is the ``make weights`` folder); ``input`` for whisper."""
    kind: str
    source: str | None = None
    layer: int | str | None = None   # an int, "all", or None (openSMILE)
    input: str | None = None         # whisper: real or padded
    precision: str | None = None     # whisper: float32 (None) or bfloat16

    @property
    def layered(self) -> bool:
        """Pooled hidden layers of a network (ssl, whisper), so a layer is chosen among several."""
        return self.kind in ("ssl", "whisper")

    @property
    def name(self) -> str:
        """The cache file stem: ``egemaps``, ``compare``, ``ssl_<model>_layer8``, ``ssl_<model>_all`` or
        ``whisper_<model>_<input>`` (every layer, whatever layer is asked for)."""
        if self.kind == "whisper":
            bf16 = "_bf16" if self.precision == "bfloat16" else ""
            return f"whisper_{ssl_slug(self.source) if self.source else 'whisper-base'}_{self.input or 'real'}{bf16}"
        if self.kind != "ssl":
            return self.kind
        layer = "all" if self.layer == "all" else f"layer{self.layer}"
        return f"ssl_{ssl_slug(self.source)}_{layer}"

    @property
    def text(self) -> str:
        """The ``--features`` value that names this set."""
        if self.kind == "whisper":
            return f"whisper:{self.source}" if self.source else "whisper"
        return f"ssl:{self.source}" if self.kind == "ssl" else self.kind

    def as_dict(self) -> dict:
        return {"features": self.text, "kind": self.kind, "source": self.source, "layer": self.layer,
                "name": self.name, **({"input": self.input or "real", "precision": self.precision or "float32"}
                                      if self.kind == "whisper" else {})}


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


def parse_whisper(text: str, layer: int | str | None, whisper_input: str | None,
                  precision: str | None = None) -> FeatureSpec:
    """``whisper``, ``whisper:<source>`` or ``whisper:<source>:<layer>`` (the layer in the text wins)."""
    from .whisper import INPUTS, PRECISIONS

    rest = text[len("whisper"):].lstrip(":").strip()
    head, _, last = rest.rpartition(":")
    if head and (last.isdigit() or last.lower() == "all"):
        rest, layer = head, last
    source = rest or None
    if source and Path(source).expanduser().is_dir():   # recorded absolute, so prediction finds it from anywhere
        source = str(Path(source).expanduser().resolve())
    whisper_input = whisper_input or "real"
    if whisper_input not in INPUTS:
        raise InputError(f"--whisper_input {whisper_input!r}: choose {' or '.join(INPUTS)}")
    if (precision or "float32") not in PRECISIONS:
        raise InputError(f"--whisper_precision {precision!r}: choose {' or '.join(PRECISIONS)}")
    return FeatureSpec("whisper", source, parse_layer(layer), whisper_input,
                       None if precision in (None, "float32") else precision)


def parse_features(text: str, layer: int | str | None = None, whisper_input: str | None = None,
                   whisper_precision: str | None = None) -> FeatureSpec:
    """``egemaps``, ``compare``, ``resemblyzer``, ``ssl:<hub name or directory>`` (with ``layer``) or
    ``whisper[:<source>[:<layer>]]`` (with ``whisper_input``, ``whisper_precision``) as a FeatureSpec."""
    text = str(text).strip()
    if text.lower() == "whisper" or text.lower().startswith("whisper:"):
        return parse_whisper(text, layer, whisper_input, whisper_precision)
    if text.lower() in OPENSMILE_SETS or text.lower() == SPEAKER_SET:
        return FeatureSpec(text.lower())
    if text.lower().startswith("ssl:") and text[4:].strip():
        source = text[4:].strip()
        local = Path(source).expanduser()
        if local.is_dir():  # a local model: recorded by its absolute path, so prediction finds it from anywhere
            source = str(local.resolve())
        return FeatureSpec("ssl", source, parse_layer(layer))
    raise InputError(f"--features {text!r}: choose egemaps, compare, resemblyzer, "
                     f"ssl:<hub name or local model directory> or whisper[:<hub name or folder>[:<layer>]]")


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
    if spec.kind == "whisper":
        from .whisper import WhisperExtractor

        return WhisperExtractor(spec.source, spec.input or "real", device=device, offline=offline,
                                precision=spec.precision or "float32")
    from .ssl import SSLExtractor

    return SSLExtractor(spec.source, spec.layer, device=device, offline=offline)


def extract_signal(extractor, signal: np.ndarray) -> np.ndarray:
    """The extractor's vector of one signal, checked: non-finite values are an AudioError (skipped)."""
    vector = extractor(signal)
    if not np.all(np.isfinite(vector)):
        raise audio.AudioError(f"{type(extractor).__name__} gave non-finite feature values")
    return vector


# --------------------------------------------------------------------------- cache

def cached_spec(spec: FeatureSpec) -> FeatureSpec:
    """The set as cached: Whisper keeps every layer in one file, whatever layer is asked for."""
    if spec.kind != "whisper":
        return spec
    return FeatureSpec("whisper", spec.source, "all", spec.input or "real", spec.precision)


def store_for(spec: FeatureSpec) -> VectorStore:
    """Where a feature set is cached: ``<C>_features/<set>.npz``; ``resemblyzer`` is the speaker cache."""
    if spec.kind == SPEAKER_SET:
        return speaker.STORE
    layer = f" --layer {spec.layer}" if spec.kind == "ssl" else ""
    if spec.kind == "whisper":
        spec = cached_spec(spec)
        layer = (" --whisper_input padded" if spec.input == "padded" else "") + \
            (" --whisper_precision bfloat16" if spec.precision == "bfloat16" else "")
    return VectorStore(file=f"{spec.name}.npz", folder=paths.features_dir, array="features",
                       skipped=f"skipped_{spec.name}.csv", what=f"{spec.name} features",
                       command=f"preprocess_features.py --features {spec.text}{layer}", described=True,
                       identity={"features": spec.as_dict()}, width=OPENSMILE_WIDTHS.get(spec.kind),
                       ndim=3 if spec.layer == "all" else 2, label=spec.name, bar=spec.name)


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
    if spec.kind == "whisper":
        every = vectors.vectors_for_wavs(wav_paths, store)
        return every if spec.layer == "all" else select_layer(every, int(spec.layer), store.what)
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


def select_layer(every: np.ndarray, layer: int, what: str) -> np.ndarray:
    """One layer (N x D) of an every-layer array (N x layers x D)."""
    if every.ndim != 3 or layer >= every.shape[1]:
        raise InputError(f"--layer {layer}: the {what} hold layers 0-{every.shape[1] - 1 if every.ndim == 3 else 0}")
    return every[:, layer]


# --------------------------------------------------------------------------- a corpus

def extraction(spec: FeatureSpec, extractor) -> Extraction:
    """A feature extractor in the shape of the shared vector loop (one file at a time)."""
    spec = cached_spec(spec)
    meta = {"features": spec.as_dict(), "sample_rate": audio.DEFAULT_SR, "signal": audio.SIGNAL_LABEL,
            **getattr(extractor, "meta", {})}
    if hasattr(extractor, "pool"):   # a network over several clips at once (Whisper)
        return Extraction(prepare=extractor.prepare, batch=extractor.pool, batch_size=extractor.batch_size,
                          feature_names=list(extractor.feature_names), meta=meta)
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
                    progress: bool = True, overwrite: bool = False, offline: bool | None = None,
                    whisper_input: str | None = None, whisper_precision: str | None = None) -> list[VectorSummary]:
    """One feature set for every corpus (or those named), one summary line printed per corpus."""
    spec = parse_features(features, layer, whisper_input, whisper_precision)
    corpora = paths.select_corpora(datasets_dir, datasets)
    extractor = make_extractor(spec, device, offline)   # a bad model source fails before any work
    return vectors.extract_corpora(corpora, lambda corpus: extract_corpus(datasets_dir, corpus, spec, extractor,
                                                                         device, progress, overwrite))
