"""Corpus-level engine: every imported wav becomes one plain and N augmented spectrogram images.

    datasets/<C>/<C>_wav/<basename>.wav -> datasets/<C>/<C>_img/<basename>.png
                                        -> datasets/<C>/<C>_augmented/<basename>_<aug>.png

Work is planned per output file: an image that exists is not redrawn (unless ``overwrite``),
so a stopped run resumes where it stopped. Each image is written atomically, and its random
parameters depend only on the seed, the file name and the augmentation name, so the bytes do
not depend on worker count, order, or on which images a previous run already wrote.
Files that cannot be used are listed with a one-line reason in ``<C>_img/skipped.csv``;
the settings the images were drawn with are recorded in ``<C>_img/spectrogram.json``.
"""
from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import struct
import time
import zlib
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from ..core import paths
from ..audio.loading import AudioError, load_trimmed
from .augment import AUGMENTATIONS, WAVEFORM, file_rng, resolve_augmentations
from ..core.errors import InputError
from ..core.fileio import SkipList, atomic_path, remove_stale_temporaries, write_text_atomic
from .spectrogram import SpectrogramConfig, mel_power, mel_to_image

PNG_COMPRESS_LEVEL = 1  # zlib level; with Huffman-only coding it hardly matters
STAGES = ("load", "augment", "mel", "render", "write")
SETTINGS_FILE = "spectrogram.json"  # beside the plain images: the settings they were drawn with
WORKER_PRELOAD = ("specct.data.images", "scipy.signal", "librosa", "librosa.core.spectrum", "librosa.effects",
                  "librosa.filters", "librosa.feature")


@dataclass(frozen=True)
class FileJob:
    """The images still to draw for one wav; ``plain`` is None when the plain image exists."""
    corpus: str
    wav: Path
    plain: Path | None
    augmented: tuple[tuple[str, Path], ...]

    @property
    def basename(self) -> str:
        return self.wav.stem

    @property
    def images(self) -> int:
        return (self.plain is not None) + len(self.augmented)


@dataclass
class FileResult:
    job: FileJob
    written: int = 0
    error: str | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class PreprocessSummary:
    corpora: list[str]
    files: int = 0             # wav files found
    up_to_date: int = 0        # files whose images all existed already
    processed: int = 0         # files that had images to draw (including those skipped)
    images_planned: int = 0
    images_written: int = 0
    skipped: int = 0
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)  # summed over workers
    dry_run: bool = False

    @property
    def files_per_second(self) -> float:
        return self.processed / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        names = ", ".join(self.corpora) or "no corpora"
        if self.dry_run:
            return (f"{names}: {self.files} files, {self.processed} to process ({self.up_to_date} up to date), "
                    f"{self.images_planned} images to write (dry run, nothing written)")
        return (f"{names}: {self.files} files ({self.processed} processed, {self.up_to_date} up to date), "
                f"{self.images_written} images written, {self.skipped} skipped, "
                f"{self.seconds:.1f} s, {self.files_per_second:.1f} files/s")


class _StageTimer:
    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)

    @contextlib.contextmanager
    def __call__(self, stage: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - start


def encode_png(image: Image.Image, compress_level: int = PNG_COMPRESS_LEVEL) -> bytes:
    """An 8-bit PNG: a palette PNG for a "P" image, RGB for anything else.

    Written here rather than by Pillow, whose writer filters rows adaptively and searches for
    repeats: on spectrograms that took 3x the time for larger files. Spectrograms are drawn
    through a 256-colour map, so a palette PNG holds exactly the picture in a third of the
    raw bytes; rows are coded with PNG's "Up" filter (the difference to the row above, small
    where the spectrum changes slowly along frequency) and deflated with Huffman coding only,
    since the differences have skewed statistics but few long repeats (3x faster than
    unfiltered rows at zlib level 1, and 30% smaller). The format: signature, IHDR, PLTE for a
    palette, one zlib IDAT, IEND, each chunk with its CRC.
    """
    if image.mode == "P":
        pixels, colour_type = np.asarray(image, dtype=np.uint8), 3
        palette = [(b"PLTE", np.asarray(image.getpalette("RGB"), dtype=np.uint8).tobytes())]
    else:
        pixels, colour_type, palette = np.asarray(image.convert("RGB"), dtype=np.uint8), 2, []
    height, width = pixels.shape[:2]
    pixels = pixels.reshape(height, -1)
    rows = np.empty((height, 1 + pixels.shape[1]), dtype=np.uint8)
    rows[0, 0], rows[0, 1:] = 0, pixels[0]                   # first row: filter "None"
    rows[1:, 0] = 2                                          # the others: filter "Up", modulo 256
    np.subtract(pixels[1:], pixels[:-1], out=rows[1:, 1:])

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    deflate = zlib.compressobj(compress_level, zlib.DEFLATED, 15, 8, zlib.Z_HUFFMAN_ONLY)
    idat = deflate.compress(rows.tobytes()) + deflate.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)  # 8 bits, deflate, no interlace
    return b"\x89PNG\r\n\x1a\n" + b"".join(
        chunk(kind, data) for kind, data in [(b"IHDR", header), *palette, (b"IDAT", idat), (b"IEND", b"")])


def save_png(image: Image.Image, path: Path, compress_level: int = PNG_COMPRESS_LEVEL) -> None:
    data = encode_png(image, compress_level)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def render_images(signal, basename: str, augmentations: list[str], seed: int, cfg: SpectrogramConfig,
                  plain: bool = True, timer: _StageTimer | None = None):
    """Yield ``(augmentation or None, image)`` for one trimmed signal: the plain image first, if asked.

    Spectrogram augmentations reuse the plain mel matrix; waveform ones get their own.
    """
    timer = timer or _StageTimer()
    plain_mel = None
    if plain or any(AUGMENTATIONS[name].domain != WAVEFORM for name in augmentations):
        with timer("mel"):
            plain_mel = mel_power(signal, cfg)
    if plain:
        with timer("render"):
            image = mel_to_image(plain_mel, cfg, palette=True)
        yield None, image
    for name in augmentations:
        augmentation = AUGMENTATIONS[name]
        rng = file_rng(seed, basename, name)
        if augmentation.domain == WAVEFORM:
            with timer("augment"):
                changed = augmentation(signal, rng, cfg.sample_rate)
            with timer("mel"):
                mel = mel_power(changed, cfg)
        else:
            with timer("augment"):
                mel = augmentation(plain_mel, rng, cfg.sample_rate)
        with timer("render"):
            image = mel_to_image(mel, cfg, palette=True)
        yield name, image


def process_file(job: FileJob, seed: int, cfg: SpectrogramConfig) -> FileResult:
    """Draw and write the missing images of one wav; unusable audio becomes ``error``, not an exception."""
    result = FileResult(job)
    timer = _StageTimer()
    try:
        with timer("load"):
            signal = load_trimmed(job.wav, sr=cfg.sample_rate)
    except AudioError as exc:
        result.error = str(exc)
        result.stage_seconds = dict(timer.seconds)
        return result
    targets = dict(job.augmented)
    for name, image in render_images(signal, job.basename, list(targets), seed, cfg,
                                     plain=job.plain is not None, timer=timer):
        with timer("write"):
            save_png(image, job.plain if name is None else targets[name])
        result.written += 1
    result.stage_seconds = dict(timer.seconds)
    return result


def _process_file_reporting(job: FileJob, seed: int, cfg: SpectrogramConfig) -> FileResult:
    """``process_file`` for pool workers: a crash names the file it happened on."""
    try:
        return process_file(job, seed, cfg)
    except Exception as exc:
        raise RuntimeError(f"{job.wav}: {type(exc).__name__}: {exc}") from exc


def _single_threaded_blas():
    """One BLAS/OpenMP thread: the matrices are small, and threads only fight the other workers."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1)


def _limit_worker_threads() -> None:
    _single_threaded_blas()  # for the worker's whole life


def plan_corpus(datasets_dir: str | Path, corpus: str, augmentations: list[str],
                overwrite: bool = False) -> tuple[list[FileJob], int]:
    """Jobs for the wavs of one corpus that still miss images; returns ``(jobs, wav_count)``."""
    wavs = sorted(paths.wav_dir(datasets_dir, corpus).glob("*.wav"))
    img, aug_dir = paths.img_dir(datasets_dir, corpus), paths.augmented_dir(datasets_dir, corpus)
    jobs = []
    for wav in wavs:
        plain = img / f"{wav.stem}.png"
        augmented = tuple((name, aug_dir / f"{wav.stem}_{name}.png") for name in augmentations)
        if not overwrite:
            plain = None if plain.exists() else plain
            augmented = tuple((name, path) for name, path in augmented if not path.exists())
        job = FileJob(corpus, wav, plain, augmented)
        if job.images:
            jobs.append(job)
    return jobs, len(wavs)


def _settings(cfg: SpectrogramConfig) -> dict:
    return json.loads(json.dumps(asdict(cfg)))  # tuples as lists, as read back from the file


def check_settings(datasets_dir: str | Path, corpus: str, cfg: SpectrogramConfig, overwrite: bool) -> None:
    """Refuse to add images drawn with other settings to a corpus's existing images."""
    recorded = paths.img_dir(datasets_dir, corpus) / SETTINGS_FILE
    if overwrite or not recorded.is_file():
        return
    new = _settings(cfg)
    # a setting added after the images were drawn (e.g. mean_norm) was at its default then
    old = {**_settings(SpectrogramConfig(size=cfg.size)), **json.loads(recorded.read_text())}
    if old != new and any(paths.img_dir(datasets_dir, corpus).glob("*.png")):
        changed = ", ".join(f"{key} {old.get(key)} -> {new.get(key)}" for key in sorted(set(old) | set(new))
                            if old.get(key) != new.get(key))
        raise InputError(f"{corpus}: its images were drawn with other settings ({changed}); "
                         f"pass --overwrite to redraw them")


def preprocess_corpora(datasets_dir: str | Path = paths.DATASETS_DIR, datasets: list[str] | None = None,
                       augmentations: list[str] | str | None = None, size: tuple[int, int] | None = None,
                       workers: int | None = None, seed: int = 0, overwrite: bool = False,
                       dry_run: bool = False, config: SpectrogramConfig | None = None,
                       progress: bool = True) -> PreprocessSummary:
    """Draw the plain and augmented images of every corpus in ``datasets_dir`` (or of ``datasets``).

    ``augmentations``: names or group names (``None`` = all, ``[]`` = plain images only).
    ``size``: (height, width), overriding ``config.size`` (default 224x224).
    ``workers``: processes (default: all cores); the images do not depend on it. The pool starts
    with ``forkserver``, so a script calling this with several workers needs the usual
    ``if __name__ == "__main__":`` guard.
    """
    cfg = config or SpectrogramConfig()
    if size is not None:
        cfg = replace(cfg, size=tuple(size))
    names = resolve_augmentations(augmentations)
    corpora = paths.select_corpora(datasets_dir, datasets)
    summary = PreprocessSummary(corpora=corpora, dry_run=dry_run)
    echo = tqdm.write if progress else None

    for corpus in corpora:
        check_settings(datasets_dir, corpus, cfg, overwrite)
    jobs: list[FileJob] = []
    for corpus in corpora:
        corpus_jobs, count = plan_corpus(datasets_dir, corpus, names, overwrite)
        jobs += corpus_jobs
        summary.files += count
        summary.processed += len(corpus_jobs)
        summary.images_planned += sum(job.images for job in corpus_jobs)
        if dry_run and progress:
            print(f"{corpus}: {count} wav files, {len(corpus_jobs)} to process, "
                  f"{sum(job.images for job in corpus_jobs)} images to write")
    summary.up_to_date = summary.files - summary.processed
    if dry_run:
        if progress:
            print(summary)
        return summary

    skip_lists = {}
    for corpus in corpora:
        paths.img_dir(datasets_dir, corpus).mkdir(parents=True, exist_ok=True)
        # prediction redraws images from this record, which specct.data.split_rows reads beside an image
        folders = [paths.img_dir(datasets_dir, corpus)] + ([paths.augmented_dir(datasets_dir, corpus)] if names else [])
        for folder in folders:
            write_text_atomic(folder / SETTINGS_FILE, json.dumps(_settings(cfg), indent=2) + "\n")
        for folder in (paths.img_dir(datasets_dir, corpus), paths.augmented_dir(datasets_dir, corpus)):
            if folder.is_dir():
                remove_stale_temporaries(folder)  # left by a run that was killed mid-write
        skip_lists[corpus] = SkipList(paths.img_dir(datasets_dir, corpus) / "skipped.csv", echo=echo)

    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs) or 1))
    stage_seconds: dict[str, float] = defaultdict(float)
    start = time.perf_counter()
    try:
        with tqdm(total=len(jobs), unit="file", desc="spectrograms", disable=not progress) as bar, \
                _results(jobs, seed, cfg, workers) as results:
            for result in results:
                if result.error is not None:
                    skip_lists[result.job.corpus].add(result.job.wav.name, result.error)
                    summary.skipped += 1
                summary.images_written += result.written
                for stage, seconds in result.stage_seconds.items():
                    stage_seconds[stage] += seconds
                bar.update(1)
    finally:  # a stopped run still lists what it skipped so far
        for skip_list in skip_lists.values():
            skip_list.write()
    summary.seconds = time.perf_counter() - start
    summary.stage_seconds = {stage: stage_seconds.get(stage, 0.0) for stage in STAGES}
    if progress:
        print(summary)
    return summary


@contextlib.contextmanager
def _results(jobs: list[FileJob], seed: int, cfg: SpectrogramConfig, workers: int):
    """Results in completion order: in this process for one worker, else from a process pool."""
    work = partial(_process_file_reporting, seed=seed, cfg=cfg)
    if workers == 1:
        with _single_threaded_blas():
            yield map(work, jobs)
        return
    # forkserver: workers start from a clean process, safe even if the caller runs threads;
    # the server imports the heavy modules once, so each worker forks ready instead of importing.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(WORKER_PRELOAD))
    # Ctrl-C in a terminal reaches the whole process group; this process alone stops the pool and
    # says what was kept. The server and its workers ignore it, and one pressed while the pool starts
    # waits until it stands (stopped half-started, the server forks workers for no one, with tracebacks).
    with _ctrl_c_noted() as pressed:
        pool = context.Pool(workers, initializer=_limit_worker_threads)
    try:
        if pressed:
            raise KeyboardInterrupt
        yield pool.imap_unordered(work, jobs, chunksize=2)
    finally:   # every worker gone before this process: one still starting would miss its semaphores
        pool.terminate()
        pool.join()


@contextlib.contextmanager
def _ctrl_c_noted():
    """Inside, SIGINT is noted in the list yielded instead of raised, and the forkserver is started
    ignoring it (an ignored signal stays ignored across exec, and its workers inherit it). Only the
    main thread receives signals: elsewhere nothing changes."""
    import signal as signals   # (``signal`` in this module is a sound)
    import threading
    from multiprocessing import forkserver

    pressed: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield pressed
        return
    # Blocked, a Ctrl-C pressed while the server starts waits instead of meeting SIG_IGN (Linux keeps a
    # blocked signal pending even when ignored); it arrives at the unblock, where it is noted.
    signals.pthread_sigmask(signals.SIG_BLOCK, {signals.SIGINT})
    previous = signals.signal(signals.SIGINT, signals.SIG_IGN)
    try:
        try:
            forkserver.ensure_running()   # returns once the server process exists; it imports on its own
            signals.signal(signals.SIGINT, lambda number, frame: pressed.append(number))
        finally:
            signals.pthread_sigmask(signals.SIG_UNBLOCK, {signals.SIGINT})
        yield pressed
    finally:
        signals.signal(signals.SIGINT, previous if previous is not None else signals.default_int_handler)
