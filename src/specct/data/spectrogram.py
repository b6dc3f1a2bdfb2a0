"""Signal chain and rendering: a trimmed 16 kHz signal becomes one RGB mel-spectrogram image.

The chain follows the paper: mel spectrogram with a 25 ms Hamming window and 10 ms hop,
power to dB relative to the utterance's maximum, and a fixed dB floor so that a given
brightness means the same level in every image. The dB matrix is drawn straight at the
model's input size: the whole utterance stretched along the width, low frequencies at the
bottom, colours from a lookup table.

With ``mean_norm`` (off by default), each mel band's mean over the utterance is subtracted from
its dB values before drawing (cepstral mean normalisation on the log-mel: a fixed channel or
microphone response is a constant per band, and goes); the mean level is then drawn mid-scale,
and ``-db_floor`` dB spans the colour map, from half of it below the band's mean to half above.

With ``min_seconds`` (off by default), an utterance shorter than that is padded on both sides with
silence (the darkest colour) to that length before drawing, so that a second of speech spans the
same width in every such image; a single word then looks like a word, not like a sentence drawn
slowly. Longer utterances are stretched to the width as without it.

Prediction calls ``signal_to_image`` in memory, so a model sees at inference exactly what it saw
in training.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image

from ..figures.colormaps import CMAPS, lookup_table
from ..core.errors import InputError

WINDOWS = {"hamm": "hamming", "hann": "hann"}
AMIN = 1e-10  # below this peak power an input counts as all zeros


@dataclass(frozen=True)
class SpectrogramConfig:
    sample_rate: int = 16000
    window: str = "hamm"          # hamm | hann
    window_ms: float = 25.0
    hop_ms: float = 10.0
    n_fft: int | None = None      # None: the window length (400 at 16 kHz), as the original
    n_mels: int = 128
    fmin_hz: float = 0.0
    fmax_hz: float | None = None  # None: half the sample rate
    db_floor: float = -80.0       # dB below the utterance maximum that maps to the darkest colour
    cmap: str = "magma"           # magma | jet | gray
    size: tuple[int, int] = (224, 224)  # (height, width) of the image
    mean_norm: bool = False       # subtract each mel band's mean over the utterance (see above)
    min_seconds: float | None = None  # pad shorter utterances with silence to this length (see above)

    def __post_init__(self):
        if self.window not in WINDOWS:
            raise InputError(f"unknown window {self.window!r}; choose one of {', '.join(WINDOWS)}")
        if self.cmap not in CMAPS:
            raise InputError(f"unknown colour map {self.cmap!r}; choose one of {', '.join(CMAPS)}")
        if self.db_floor >= 0:
            raise InputError(f"db_floor must be negative, got {self.db_floor}")
        if len(self.size) != 2 or min(self.size) < 1:
            raise InputError(f"size must be (height, width) in pixels, got {self.size}")
        if self.min_seconds is not None and not self.min_seconds > 0:
            raise InputError(f"min_seconds must be positive, got {self.min_seconds}")
        object.__setattr__(self, "size", (int(self.size[0]), int(self.size[1])))

    @property
    def win_length(self) -> int:
        return int(round(self.window_ms / 1000 * self.sample_rate))

    @property
    def hop_length(self) -> int:
        return int(round(self.hop_ms / 1000 * self.sample_rate))

    @property
    def fft_length(self) -> int:
        return self.n_fft or self.win_length

    def frame_of_time(self, seconds: float) -> int:
        """Index of the (centred) frame nearest to ``seconds``."""
        return int(round(seconds * self.sample_rate / self.hop_length))


@lru_cache(maxsize=8)
def _analysis(sample_rate: int, n_fft: int, win_length: int, window: str, n_mels: int,
              fmin_hz: float, fmax_hz: float | None) -> tuple[np.ndarray, np.ndarray]:
    """The window and mel filterbank, built once per process and reused for every image."""
    import librosa

    taper = librosa.filters.get_window(WINDOWS[window], win_length, fftbins=True).astype(np.float32)
    mel_basis = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin_hz,
                                    fmax=fmax_hz, dtype=np.float32)
    return taper, mel_basis


def mel_power(signal: np.ndarray, cfg: SpectrogramConfig) -> np.ndarray:
    """Mel power spectrogram ``(n_mels, frames)`` float32, as librosa.feature.melspectrogram."""
    import librosa

    taper, mel_basis = _analysis(cfg.sample_rate, cfg.fft_length, cfg.win_length, cfg.window,
                                 cfg.n_mels, cfg.fmin_hz, cfg.fmax_hz)
    spectrum = librosa.stft(np.asarray(signal, dtype=np.float32), n_fft=cfg.fft_length,
                            hop_length=cfg.hop_length, win_length=cfg.win_length, window=taper,
                            center=True)
    power = spectrum.real ** 2 + spectrum.imag ** 2
    return mel_basis @ power


def power_to_db(mel: np.ndarray, cfg: SpectrogramConfig) -> np.ndarray:
    """dB relative to the maximum, floored at ``cfg.db_floor``; an all-zero input is all floor."""
    peak = float(mel.max()) if mel.size else 0.0
    if peak <= AMIN:
        return np.full(mel.shape, cfg.db_floor, dtype=np.float32)
    # Floor the ratio to the peak (not the absolute power), so the image does not depend on the level.
    ratio = np.maximum(mel / peak, 10.0 ** (cfg.db_floor / 10.0))
    return np.maximum(10.0 * np.log10(ratio), cfg.db_floor).astype(np.float32)  # exact floor after rounding


def mean_normalise(db: np.ndarray) -> np.ndarray:
    """Subtract each band's (row's) mean over time: every row of the result has zero mean."""
    db = np.asarray(db, dtype=np.float32)
    if db.shape[-1] == 0:
        return db
    return db - db.mean(axis=-1, keepdims=True, dtype=np.float64).astype(np.float32)


def db_levels(db: np.ndarray, cfg: SpectrogramConfig) -> np.ndarray:
    """Colour-map positions in [0, 1] of a dB matrix: floor..maximum, or with ``mean_norm`` the band's
    mean at 0.5 and +-``db_floor``/2 dB around it (clipped)."""
    if cfg.mean_norm:
        return np.clip(0.5 + mean_normalise(db) / -cfg.db_floor, 0.0, 1.0)
    return (db - cfg.db_floor) / -cfg.db_floor             # 0 = floor, 1 = maximum


def pad_to_min_duration(levels: np.ndarray, cfg: SpectrogramConfig) -> np.ndarray:
    """Colour-map levels ``(n_mels, frames)`` centred in at least ``cfg.min_seconds`` of frames, the
    added frames at level 0 (the darkest colour: silence); unchanged without ``min_seconds``."""
    if cfg.min_seconds is None:
        return levels
    frames = cfg.frame_of_time(cfg.min_seconds) + 1  # centred frames of a signal that long
    missing = frames - levels.shape[-1]
    if missing <= 0:
        return levels
    return np.pad(levels, ((0, 0), (missing // 2, missing - missing // 2)), constant_values=0.0)


def db_to_image(db: np.ndarray, cfg: SpectrogramConfig, palette: bool = False) -> Image.Image:
    """Draw a dB matrix ``(n_mels, frames)`` as an image of ``cfg.size``, low frequencies at the bottom.

    RGB by default; with ``palette`` the same picture as a palette ("P") image, one byte a pixel
    indexing the colour map, which ``.convert("RGB")`` turns into exactly the RGB image.
    """
    height, width = cfg.size
    levels = pad_to_min_duration(db_levels(db, cfg), cfg)  # after the band means: silence is not speech
    levels = np.ascontiguousarray(levels[::-1], dtype=np.float32)  # row 0 of an image is its top
    # Resize the levels (not the colours), so interpolation happens on the measured quantity.
    resized = Image.fromarray(levels).resize((width, height), Image.Resampling.BILINEAR)
    index = Image.fromarray(np.clip(np.rint(np.asarray(resized) * 255.0), 0, 255).astype(np.uint8))
    index.putpalette(lookup_table(cfg.cmap).tobytes())  # colouring through a palette is one C pass
    return index if palette else index.convert("RGB")


def mel_to_image(mel: np.ndarray, cfg: SpectrogramConfig, palette: bool = False) -> Image.Image:
    return db_to_image(power_to_db(mel, cfg), cfg, palette=palette)


def signal_to_image(signal: np.ndarray, cfg: SpectrogramConfig | None = None) -> Image.Image:
    """Render one trimmed signal at ``cfg.sample_rate`` (see ``specct.audio.loading.load_trimmed``)."""
    cfg = cfg or SpectrogramConfig()
    return mel_to_image(mel_power(signal, cfg), cfg)
