"""Long recordings as segments: read in blocks, cut by voice activity or into fixed windows.

A file is streamed (``soundfile`` blocks, resampled to 16 kHz mono by a streaming resampler), so
memory stays bounded by one block plus the longest open segment, whatever the file's length.

- ``vad``: webrtcvad marks each 30 ms frame speech or not; speech runs separated by pauses
  shorter than ``min_pause`` are one segment, a segment reaching ``max_seconds`` is cut there,
  and segments shorter than ``min_seconds`` are dropped.
- ``fixed``: windows of ``window`` seconds every ``hop`` seconds; the last one ends with the file.

Each segment is then trimmed and checked as every stage trims a whole file (:func:`specct.audio.loading.
load_trimmed`), so a model sees a segment as it saw its training utterances.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..audio.loading import DEFAULT_SR, AudioError, read_audio  # noqa: F401  (read_audio: the checks of a whole file)
from ..core.errors import InputError

SEGMENTERS = ("vad", "fixed")
BLOCK_SECONDS = 20.0
FRAME_MS = 30                   # a webrtcvad frame: 10, 20 or 30 ms
ENVELOPE_SECONDS = 0.01         # the waveform drawn under a timeline: one min/max pair per 10 ms


@dataclass(frozen=True)
class SegmentOptions:
    how: str = "vad"
    min_pause: float = 0.3          # vad: shorter pauses stay inside a segment
    max_seconds: float = 10.0       # vad: longer speech is cut into pieces of this length
    min_seconds: float = 0.3        # vad: shorter speech is not a segment
    aggressiveness: int = 2         # vad: webrtcvad's mode, 0 (keeps most) to 3 (keeps least)
    window: float = 3.0             # fixed: window length
    hop: float = 1.5                # fixed: start of one window to the next

    def check(self) -> "SegmentOptions":
        if self.how not in SEGMENTERS:
            raise InputError(f"--segment {self.how}: choose one of {', '.join(SEGMENTERS)}")
        if self.how == "fixed" and not (self.window > 0 and 0 < self.hop):
            raise InputError(f"--window {self.window} / --hop {self.hop}: both must be positive")
        if self.how == "vad" and not (0 <= self.aggressiveness <= 3 and self.max_seconds > self.min_seconds >= 0):
            raise InputError("--vad_aggressiveness must be 0-3 and --max_segment longer than --min_segment")
        return self


@dataclass(frozen=True)
class Segment:
    start: float                    # seconds from the file's start
    end: float


class Envelope:
    """The waveform's minimum and maximum per :data:`ENVELOPE_SECONDS`, gathered while streaming."""

    def __init__(self, sr: int = DEFAULT_SR):
        self.bin = max(1, int(sr * ENVELOPE_SECONDS))
        self.low: list[np.ndarray] = []
        self.high: list[np.ndarray] = []
        self._rest = np.zeros(0, np.float32)

    def add(self, block: np.ndarray) -> None:
        data = np.concatenate([self._rest, block])
        whole = len(data) // self.bin * self.bin
        shaped = data[:whole].reshape(-1, self.bin)
        if len(shaped):
            self.low.append(shaped.min(axis=1))
            self.high.append(shaped.max(axis=1))
        self._rest = data[whole:]

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Times (s), minima and maxima."""
        low = np.concatenate(self.low) if self.low else np.zeros(0, np.float32)
        high = np.concatenate(self.high) if self.high else np.zeros(0, np.float32)
        return np.arange(len(low)) * ENVELOPE_SECONDS, low, high


def stream_audio(path: str | Path, sr: int = DEFAULT_SR, block_seconds: float = BLOCK_SECONDS) -> Iterator[np.ndarray]:
    """16 kHz mono float32 blocks of a file of any length and rate; unreadable audio is an AudioError."""
    import soundfile as sf
    import soxr

    path = Path(path)
    if not path.is_file():
        raise AudioError("file does not exist")
    if path.stat().st_size == 0:
        raise AudioError("empty file (0 bytes)")
    try:
        info = sf.info(str(path))
    except Exception as exc:      # soundfile raises several types for bad bytes
        raise AudioError(f"unreadable audio ({type(exc).__name__})") from None
    stream = soxr.ResampleStream(info.samplerate, sr, 1, dtype="float32", quality="HQ") \
        if info.samplerate != sr else None
    frames = max(1, int(block_seconds * info.samplerate))
    try:
        blocks = sf.blocks(str(path), blocksize=frames, dtype="float32", always_2d=True)
        for block in blocks:
            mono = block.mean(axis=1).astype(np.float32)
            if not np.all(np.isfinite(mono)):
                raise AudioError("contains NaN or infinite samples")
            out = stream.resample_chunk(mono) if stream is not None else mono
            if len(out):
                yield out
    except AudioError:
        raise
    except Exception as exc:
        raise AudioError(f"unreadable audio ({type(exc).__name__})") from None
    if stream is not None:
        tail = stream.resample_chunk(np.zeros(0, np.float32), last=True)
        if len(tail):
            yield tail


def fixed_windows(duration: float, window: float, hop: float) -> list[Segment]:
    """Windows every ``hop`` s; the first is [0, window], the last ends with the file (a file shorter
    than a window is one segment)."""
    if duration <= window:
        return [Segment(0.0, duration)]
    segments, start = [], 0.0
    while start + window < duration - 1e-9:
        segments.append(Segment(round(start, 6), round(start + window, 6)))
        start += hop
    segments.append(Segment(round(max(0.0, duration - window), 6), round(duration, 6)))
    return segments


def tightened(segment: Segment, samples: np.ndarray, sr: int) -> tuple[Segment, np.ndarray]:
    """The segment cut to its sound as every stage trims a file (webrtcvad's frames run on for about
    0.1 s after speech ends): the boundaries move in to the first and last sound above the trim level."""
    import librosa

    from ..audio.loading import TRIM_TOP_DB

    if not np.any(samples):
        return segment, samples
    _, (first, last) = librosa.effects.trim(samples, top_db=TRIM_TOP_DB, frame_length=512, hop_length=128)
    return (Segment(round(float(segment.start + first / sr), 4), round(float(segment.start + last / sr), 4)),
            samples[first:last])


def _vad_runs(blocks: Iterator[np.ndarray], options: SegmentOptions, sr: int, on_block=None
              ) -> Iterator[tuple[Segment, np.ndarray]]:
    """Speech segments with their samples, emitted as soon as each closes (bounded memory)."""
    import webrtcvad

    vad = webrtcvad.Vad(options.aggressiveness)
    frame = sr * FRAME_MS // 1000
    pause_frames = max(1, round(options.min_pause * 1000 / FRAME_MS))
    max_frames = max(1, int(options.max_seconds * 1000 / FRAME_MS))
    min_frames = int(np.ceil(options.min_seconds * 1000 / FRAME_MS))
    carry = np.zeros(0, np.float32)
    t, start, last_speech, frames = 0, None, None, []

    def close():
        kept = frames[:last_speech - start]
        if len(kept) >= max(min_frames, 1):
            yield tightened(Segment(start * FRAME_MS / 1000, last_speech * FRAME_MS / 1000), np.concatenate(kept), sr)

    for block in blocks:
        if on_block is not None:
            on_block(block)
        data = np.concatenate([carry, block])
        count = len(data) // frame
        carry = data[count * frame:]
        pcm = (np.clip(data[:count * frame], -1, 1) * 32767).astype("<i2")
        for i in range(count):
            samples = data[i * frame:(i + 1) * frame]
            speech = vad.is_speech(pcm[i * frame:(i + 1) * frame].tobytes(), sr)
            if speech and start is None:
                start, frames = t, []
            if start is not None:
                frames.append(samples)
                if speech:
                    last_speech = t + 1
                if t + 1 - last_speech >= pause_frames or t + 1 - start >= max_frames:
                    yield from close()
                    start = None
            t += 1
    if start is not None:
        yield from close()


def segment_stream(path: str | Path, options: SegmentOptions, sr: int = DEFAULT_SR, envelope: Envelope | None = None
                   ) -> Iterator[tuple[Segment, np.ndarray]]:
    """``(segment, samples)`` of one file, in order, streamed; ``envelope`` gathers the waveform."""
    blocks = stream_audio(path, sr)
    add = envelope.add if envelope is not None else None
    if options.how == "vad":
        yield from _vad_runs(blocks, options, sr, add)
        return
    window, hop = int(options.window * sr), int(options.hop * sr)
    buffer, offset, total, next_start = np.zeros(0, np.float32), 0, 0, 0   # buffer starts at sample offset
    for block in blocks:
        if add is not None:
            add(block)
        buffer, total = np.concatenate([buffer, block]), total + len(block)
        while next_start + window < total:      # a window that ends before the data read so far
            yield Segment(next_start / sr, (next_start + window) / sr), \
                buffer[next_start - offset:next_start - offset + window]
            next_start += hop
        keep_from = min(next_start, max(0, total - window))   # the last window may start here
        buffer, offset = buffer[keep_from - offset:], keep_from
    if total == 0:
        raise AudioError("no samples")
    start = max(0, total - window)              # the window that ends with the file (as fixed_windows)
    yield Segment(start / sr, total / sr), buffer[start - offset:]
