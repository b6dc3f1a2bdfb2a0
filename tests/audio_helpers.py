"""Synthetic speech-like audio for tests: a harmonic voice between two stretches of silence, and
small corpora of it written in the canonical layout."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from specct.core import paths
from specct.audio.loading import write_wav

SR = 16000


def voice(seconds: float, f0: float) -> np.ndarray:
    """A harmonic tone with syllable-rate level changes, between two stretches of silence."""
    t = np.arange(int(seconds * SR)) / SR
    glide = f0 * (1 + 0.2 * np.sin(2 * np.pi * 1.5 * t))
    phase = 2 * np.pi * np.cumsum(glide) / SR
    body = sum(np.sin(k * phase) / k for k in range(1, 15)) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))
    silence = np.zeros(SR // 5)
    return np.concatenate([silence, 0.2 * body, silence]).astype(np.float32)


def make_voice_corpus(root: Path, corpus: str, count: int, emotions: Sequence[str]) -> list[Path]:
    """``count`` canonical wavs of ``corpus`` under ``root``, emotions taken in turn."""
    wavs = []
    for i in range(count):
        wav = paths.wav_dir(root, corpus) / f"{emotions[i % len(emotions)]}_{corpus}_{i:02d}_utt{i}.wav"
        write_wav(wav, voice(0.6 + 0.2 * i, 110 + 40 * i), SR)
        wavs.append(wav)
    return wavs
