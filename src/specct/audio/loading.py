"""Reading, checking and trimming audio; the one place that knows what bad audio looks like."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from ..core.errors import SpecctError

DEFAULT_SR = 16000
# How the feature caches name the signal chain of load_trimmed (their ``meta``): the label it had before
# this module moved into specct.audio, kept so that a cache made now is byte-identical to one made then.
SIGNAL_LABEL = "specct.audio.load_trimmed"
MIN_SECONDS = 0.1      # shorter than this after trimming is not an utterance
TRIM_TOP_DB = 30       # librosa.effects.trim threshold below the peak
SILENCE_PEAK = 1e-4    # a peak below this (about -80 dBFS) counts as silence


class AudioError(SpecctError, ValueError):
    """Audio that cannot be used; the message is a one-line reason."""


def read_audio(path: str | Path) -> tuple[np.ndarray, int, int]:
    """Read a file as float32 ``(samples, channels)``; returns ``(data, sample_rate, channels)``."""
    path = Path(path)
    if not path.exists():
        raise AudioError("file does not exist")
    if path.stat().st_size == 0:
        raise AudioError("empty file (0 bytes)")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types for bad bytes
        raise AudioError(f"unreadable audio ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})")
    if data.shape[0] == 0:
        raise AudioError("no samples")
    return data, int(sr), int(data.shape[1])


def to_mono(data: np.ndarray) -> np.ndarray:
    return data.mean(axis=1) if data.ndim == 2 else data


def resample(signal: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    if orig_sr == target_sr:
        return signal
    import librosa

    return librosa.resample(signal, orig_sr=orig_sr, target_sr=target_sr, res_type="soxr_hq").astype(np.float32)


def check_signal(signal: np.ndarray, sr: int, min_seconds: float = MIN_SECONDS) -> None:
    """Raise AudioError for NaN, silent or too-short signals."""
    if signal.size == 0:
        raise AudioError("no samples")
    if not np.all(np.isfinite(signal)):
        raise AudioError("contains NaN or infinite samples")
    if float(np.max(np.abs(signal))) < SILENCE_PEAK:
        raise AudioError("silent (peak below -80 dBFS)")
    if signal.size < min_seconds * sr:
        raise AudioError(f"too short ({signal.size / sr * 1000:.0f} ms < {min_seconds * 1000:.0f} ms)")


def load_audio(path: str | Path, sr: int = DEFAULT_SR) -> np.ndarray:
    """Load any readable file as mono float32 at ``sr``, checked (not trimmed)."""
    data, orig_sr, _ = read_audio(path)
    signal = resample(to_mono(data), orig_sr, sr)
    check_signal(signal, sr, min_seconds=0)
    return signal


def trim_silence(signal: np.ndarray, top_db: float = TRIM_TOP_DB) -> np.ndarray:
    import librosa

    # Short frames (32 ms at 16 kHz) so the cut lands within a few ms of the speech.
    trimmed, _ = librosa.effects.trim(signal, top_db=top_db, frame_length=512, hop_length=128)
    return trimmed


def load_trimmed(path: str | Path, sr: int = DEFAULT_SR, min_seconds: float = MIN_SECONDS) -> np.ndarray:
    """The signal every stage reads: 16 kHz mono, silence trimmed, at least ``min_seconds`` long.

    Spectrograms, speaker embeddings and prediction all start here, so they see the same samples.
    """
    signal = trim_silence(load_audio(path, sr))
    check_signal(signal, sr, min_seconds)
    return signal


def write_wav(path: str | Path, signal: np.ndarray, sr: int, subtype: str = "PCM_16") -> None:
    """Write a wav atomically (16-bit PCM by default)."""
    from ..core.fileio import atomic_path

    with atomic_path(path) as tmp:
        sf.write(str(tmp), np.clip(signal, -1.0, 1.0), sr, subtype=subtype, format="WAV")
