"""Speaker vectors: the resemblyzer encoder, its vectors per utterance, and the PCA fitted on them.

Storage: ``datasets/<C>/<C>_speaker/embeddings.npz`` holds ``names`` (canonical basenames, the wav
name without ``.wav``) and ``embeddings`` (N x 256 float32, unit norm). Files the encoder cannot use
are listed with a reason in ``<C>_speaker/skipped.csv``; the split stage drops their images. The file,
the resumable loop that fills it (``embed_corpus``) and the lookup (``embeddings_for_wavs``) are the
shared ones of :mod:`specct.data.vectors`, with ``STORE`` describing this file. The stage around them (PCA
of a held-out protocol, 2-D maps) is :mod:`specct.stages.embedding`.

Signal: every vector is computed on ``audio.load_trimmed`` (16 kHz mono, silence trimmed at both
ends), the same samples the spectrograms see. resemblyzer's own ``preprocess_wav`` is then applied,
because the encoder was trained on its output: it raises quiet recordings to -30 dBFS and removes
pauses with a voice-activity detector. That detector only shortens pauses; it never decides whether a
file is usable (``load_trimmed`` does). When it keeps under ``MIN_VOICED_SECONDS`` of a signal (it
can reject clean but unusual voices), the volume-normalised signal is embedded whole. Prediction
calls ``embed_signal`` on the same trimmed signal, so training and prediction see identical vectors.

PCA: ``fit_pca`` reduces the raw vectors to ``n_components``; it is saved as ``.npz`` with ``mean``
(D,), ``components`` (K x D), ``corpora`` (what it was fitted on) and ``explained_variance_ratio``;
``project`` computes ``(x - mean) @ components.T``. It is never fitted on the held-out test corpus
unless the user asks for the paper's choice (``fit_on_all``), which is announced as a leak.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..core.errors import InputError, MissingInputError, SpecctError
from ..audio import loading as audio
from ..core import paths
from ..core.fileio import atomic_path
from ..core.threads import torch_threads
from .vectors import (Extraction, VectorStore, VectorSummary, VectorTable, extract_corpora, extract_corpus,
    read_table, vectors_for_wavs, write_table)

EMBEDDING_DIM = 256
EMBEDDINGS_FILE = "embeddings.npz"
SKIPPED_FILE = "skipped.csv"
MIN_VOICED_SECONDS = 0.1   # below this the voice-activity trim is not trusted (see module docstring)
PARTIAL_RATE = 1.3         # resemblyzer's defaults for cutting an utterance into 1.6 s windows
PARTIAL_MIN_COVERAGE = 0.75


class MissingEmbeddingError(SpecctError, LookupError):
    """A wav has no speaker vector (never embedded, or skipped by the encoder)."""


# --------------------------------------------------------------------------- encoder

_ENCODERS: dict[str, object] = {}


def _quiet_import_resemblyzer() -> None:
    """resemblyzer imports a deprecated scipy path; silence that one warning, once."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"resemblyzer\.")
        warnings.filterwarnings("ignore", message=r".*scipy\.ndimage\.morphology.*", category=DeprecationWarning)
        import resemblyzer  # noqa: F401


def get_encoder(device: str = "cpu"):
    """One resemblyzer VoiceEncoder per device and process (its weights ship in the wheel)."""
    key = str(device)
    if key not in _ENCODERS:
        import torch

        _quiet_import_resemblyzer()
        from resemblyzer import VoiceEncoder

        if key.startswith("cuda") and not torch.cuda.is_available():
            raise InputError(f"--device {key} asked for, but torch sees no CUDA device")
        encoder = VoiceEncoder(device=key, verbose=False)
        encoder.eval()
        _ENCODERS[key] = encoder
    return _ENCODERS[key]


def prepare_for_encoder(signal: np.ndarray, sr: int = audio.DEFAULT_SR) -> np.ndarray:
    """resemblyzer's volume normalisation and pause removal, on a trimmed 16 kHz signal."""
    _quiet_import_resemblyzer()
    from resemblyzer import hparams
    from resemblyzer.audio import normalize_volume, trim_long_silences

    if sr != hparams.sampling_rate:
        raise InputError(f"speaker encoder needs {hparams.sampling_rate} Hz audio, got {sr} Hz")
    audio.check_signal(signal, sr)
    signal = np.asarray(signal, dtype=np.float32)
    levelled = normalize_volume(signal, hparams.audio_norm_target_dBFS, increase_only=True).astype(np.float32)
    voiced = trim_long_silences(levelled)
    return voiced if voiced.size >= MIN_VOICED_SECONDS * sr else levelled


def _partial_mels(wav: np.ndarray) -> np.ndarray:
    """The (n_partials, 160, 40) mel windows that resemblyzer's embed_utterance feeds the network."""
    from resemblyzer import VoiceEncoder
    from resemblyzer.audio import wav_to_mel_spectrogram

    wav_slices, mel_slices = VoiceEncoder.compute_partial_slices(len(wav), PARTIAL_RATE, PARTIAL_MIN_COVERAGE)
    needed = wav_slices[-1].stop
    if needed >= len(wav):
        wav = np.pad(wav, (0, needed - len(wav)))
    mel = wav_to_mel_spectrogram(wav)
    return np.stack([mel[s] for s in mel_slices])


def embed_prepared(wavs: Sequence[np.ndarray], device: str = "cpu") -> np.ndarray:
    """Embed encoder-ready signals in one forward pass over all their partial windows.

    Equal to resemblyzer's ``embed_utterance`` per signal (mean of the unit-norm window embeddings,
    renormalised), but batched across utterances, which is several times faster on CPU.
    """
    import torch

    if not wavs:
        return np.zeros((0, EMBEDDING_DIM), np.float32)
    encoder = get_encoder(device)
    windows = [_partial_mels(w) for w in wavs]
    counts = [len(w) for w in windows]
    with torch.inference_mode():
        batch = torch.from_numpy(np.concatenate(windows)).to(encoder.device)
        partial = encoder(batch).cpu().numpy()
    out = np.empty((len(wavs), EMBEDDING_DIM), np.float32)
    start = 0
    for i, n in enumerate(counts):
        mean = partial[start:start + n].mean(axis=0)
        out[i] = mean / np.linalg.norm(mean)
        start += n
    return out


def embed_signal(signal: np.ndarray, device: str = "cpu") -> np.ndarray:
    """The (256,) unit-norm speaker vector of one trimmed 16 kHz signal (as from ``audio.load_trimmed``)."""
    return embed_signals([signal], device)[0]


def embed_signals(signals: Sequence[np.ndarray], device: str = "cpu") -> np.ndarray:
    """The (N, 256) vectors of several trimmed 16 kHz signals, their windows in one forward pass: a
    segment holds only a few 1.6 s windows, too few to keep the encoder's LSTM busy on its own."""
    return embed_prepared([prepare_for_encoder(s) for s in signals], device)


# --------------------------------------------------------------------------- storage

# The speaker vectors as one store of specct.data.vectors: datasets/<C>/<C>_speaker/embeddings.npz
STORE = VectorStore(file=EMBEDDINGS_FILE, folder=paths.speaker_dir, array="embeddings", skipped=SKIPPED_FILE,
                    what="speaker vectors", command="preprocess_embedding.py", width=EMBEDDING_DIM, ndim=2,
                    missing_error=MissingEmbeddingError, bar="embed", verb="embedded")


def embeddings_path(datasets_dir: str | Path, corpus: str) -> Path:
    return STORE.path(datasets_dir, corpus)


def read_embeddings_file(path: str | Path) -> tuple[list[str], np.ndarray]:
    """``(names, N x 256 matrix)`` from one embeddings.npz; a clear error for a damaged file."""
    vectors = read_table(path, STORE).vectors
    names = list(vectors)   # in file order
    return names, (np.stack([vectors[n] for n in names]) if names else np.zeros((0, EMBEDDING_DIM), np.float32))


def write_embeddings_file(path: str | Path, vectors: dict[str, np.ndarray]) -> None:
    """Write name -> vector as embeddings.npz, sorted by name, atomically."""
    write_table(path, STORE, VectorTable(dict(vectors)))


def load_embeddings(datasets_dir: str | Path, corpus: str) -> dict[str, np.ndarray]:
    """basename -> (256,) vector for one corpus."""
    return read_table(embeddings_path(datasets_dir, corpus), STORE).vectors


def embedding_file_for_wav(wav_path: str | Path) -> Path:
    """``datasets/<C>/<C>_wav/x.wav`` -> ``datasets/<C>/<C>_speaker/embeddings.npz``."""
    return STORE.path_for_wav(wav_path)


def embeddings_for_wavs(wav_paths: Iterable[str | Path]) -> np.ndarray:
    """The raw (N x 256) vectors of wav files, found from each wav's place in the datasets layout."""
    return vectors_for_wavs(wav_paths, STORE)


# --------------------------------------------------------------------------- embedding a corpus

def extraction(device: str = "cpu", batch_size: int = 32) -> Extraction:
    """The encoder in the shape of the shared vector loop: resemblyzer's preprocessing per file (bad
    audio is skipped there), then one forward pass per ``batch_size`` utterances."""
    if batch_size < 1:
        raise InputError(f"--batch_size must be at least 1, got {batch_size}")
    return Extraction(prepare=prepare_for_encoder, batch=lambda prepared: embed_prepared(prepared, device),
                      batch_size=batch_size)


def embed_corpus(datasets_dir: str | Path, corpus: str, device: str = "cpu", batch_size: int = 32,
                 progress: bool = True, overwrite: bool = False) -> VectorSummary:
    """Embed every wav of one corpus that has no vector yet; resumes after an interruption."""
    made = extraction(device, batch_size)   # a bad batch size is refused before any work; the encoder loads on use
    return extract_corpus(datasets_dir, corpus, STORE, lambda: made, progress, overwrite)


def embed_corpora(datasets_dir: str | Path, datasets: Sequence[str] | None = None, device: str = "cpu",
                  batch_size: int = 32, progress: bool = True, overwrite: bool = False,
                  threads: int | None = None) -> list[VectorSummary]:
    """Embed every corpus (or those named); prints one summary line per corpus.

    ``threads``: CPU threads for the network during this call (None: ``threads.default_threads()``,
    half the available cores, so that the speed holds when other work shares the machine).
    """
    corpora = paths.select_corpora(datasets_dir, datasets)
    with torch_threads(threads):
        return extract_corpora(corpora, lambda corpus: embed_corpus(datasets_dir, corpus, device, batch_size,
                                                                    progress, overwrite))


# --------------------------------------------------------------------------- PCA

@dataclass
class SpeakerPCA:
    mean: np.ndarray                      # (D,)
    components: np.ndarray                # (K, D)
    corpora: list[str] = field(default_factory=list)
    explained_variance_ratio: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    @property
    def n_components(self) -> int:
        return int(self.components.shape[0])


def fit_pca(vectors: np.ndarray, n_components: int = 256, corpora: Sequence[str] = ()) -> SpeakerPCA:
    """PCA of raw speaker vectors; K is capped at min(n_components, width, number of vectors)."""
    from sklearn.decomposition import PCA
    from threadpoolctl import threadpool_limits

    vectors = np.asarray(vectors, dtype=np.float64)
    if vectors.ndim != 2 or vectors.shape[0] < 2:
        raise InputError(f"PCA needs at least two vectors, got shape {vectors.shape}")
    k = min(int(n_components), vectors.shape[1], vectors.shape[0])
    # A few thousand x 256 is small: one BLAS thread is fast, and threads that spin on a busy
    # machine made this SVD 50x slower. The exact solver involves no randomness.
    with threadpool_limits(limits=1, user_api="blas"):
        pca = PCA(n_components=k, svd_solver="full").fit(vectors)
    return SpeakerPCA(mean=pca.mean_.astype(np.float32), components=pca.components_.astype(np.float32),
                      corpora=sorted(c.upper() for c in corpora),
                      explained_variance_ratio=pca.explained_variance_ratio_.astype(np.float32))


SPEAKER_NORMS = ("none", "corpus", "speaker")


def standardise_by_group(vectors: np.ndarray, groups: Sequence[str], keys: Sequence[str] | None = None,
                         min_std: float = 1e-6) -> np.ndarray:
    """Standardise vectors within each group (corpus or speaker): subtract the group's mean and divide
    by its standard deviation, dimension by dimension, so every group has zero mean (and unit variance
    where it varies). ``keys`` (the source wavs) count rows that share a vector once, so augmented
    copies of an utterance do not weigh its vector more. A dimension that does not vary in a group is
    only centred."""
    vectors = np.asarray(vectors, dtype=np.float32)
    groups = np.asarray(list(groups))
    if len(groups) != len(vectors):
        raise ValueError(f"{len(groups)} group labels for {len(vectors)} speaker vectors")
    keys = np.asarray(list(keys)) if keys is not None else np.arange(len(vectors))
    out = np.empty_like(vectors)
    for group in np.unique(groups):
        rows = np.flatnonzero(groups == group)
        _, first = np.unique(keys[rows], return_index=True)
        once = vectors[rows[first]].astype(np.float64)
        mean, std = once.mean(axis=0), once.std(axis=0)
        out[rows] = ((vectors[rows] - mean) / np.where(std > min_std, std, 1.0)).astype(np.float32)
    return out


def project(vectors: np.ndarray, pca: SpeakerPCA) -> np.ndarray:
    return ((np.asarray(vectors, dtype=np.float32) - pca.mean) @ pca.components.T).astype(np.float32)


def save_pca(path: str | Path, pca: SpeakerPCA) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, mean=pca.mean, components=pca.components,
                     corpora=np.array(pca.corpora, dtype=str),
                     explained_variance_ratio=pca.explained_variance_ratio)
    return path


def load_pca(path: str | Path) -> SpeakerPCA:
    path = Path(path)
    if not path.exists():
        raise MissingInputError(f"{path}: no fitted PCA here")
    with np.load(path, allow_pickle=False) as data:
        missing = {"mean", "components", "corpora"} - set(data.files)
        if missing:
            raise InputError(f"{path}: not a speaker PCA file (missing {', '.join(sorted(missing))})")
        ratio = data["explained_variance_ratio"] if "explained_variance_ratio" in data.files else np.zeros(0)
        return SpeakerPCA(mean=data["mean"].astype(np.float32), components=data["components"].astype(np.float32),
                          corpora=[str(c) for c in data["corpora"]],
                          explained_variance_ratio=ratio.astype(np.float32))


def default_pca_path(encoder_dir: str | Path, n_components: int, corpora: Sequence[str]) -> Path:
    """``encoder/models/pca<K>_<C1+C2+...>.npz``, named after the corpora it was fitted on."""
    return Path(encoder_dir) / f"pca{n_components}_{'+'.join(sorted(c.upper() for c in corpora))}.npz"


def fit_pca_on_corpora(datasets_dir: str | Path, corpora: Sequence[str], n_components: int = 256) -> SpeakerPCA:
    """Fit a PCA on every stored vector of the named corpora (and nothing else)."""
    blocks = []
    for corpus in corpora:
        vectors = load_embeddings(datasets_dir, corpus)
        if not vectors:
            raise InputError(f"{embeddings_path(datasets_dir, corpus)}: holds no vectors, cannot fit a PCA on {corpus}")
        blocks.append(np.stack(list(vectors.values())))
    return fit_pca(np.concatenate(blocks), n_components, corpora)


def pca_corpora_for(datasets_dir: str | Path, eval_dataset: str | None, fit_on_all: bool,
                    datasets: Sequence[str] | None = None) -> list[str]:
    """Which corpora a PCA may see: all but the held-out one, or all of them with ``fit_on_all``."""
    corpora = paths.select_corpora(datasets_dir, datasets)
    if fit_on_all:
        return corpora
    if not eval_dataset:
        raise InputError("name the held-out corpus with --eval_dataset (or pass --fit_on_all)")
    [held_out] = paths.select_corpora(datasets_dir, [eval_dataset], what="--eval_dataset")
    rest = [c for c in corpora if c != held_out]
    if not rest:
        raise InputError(f"no corpus left to fit the PCA on once {held_out} is held out")
    return rest
