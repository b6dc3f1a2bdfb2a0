"""Whisper's frame-level features cached per corpus, for heads that learn their own pooling (whisper_head).

The pooled cache (:mod:`specct.baselines.features`) keeps two numbers per layer and unit; a head with
attentive pooling needs the frames themselves. They live next to it:

    datasets/<C>/<C>_features/whisper_frames_<model>_<input>[_bf16]/part-00000.npz ...

Each shard (``.npz``, read without pickle) holds ``names`` (n), ``lengths`` (n, frames per clip),
``frames`` (sum of lengths x layers x hidden, float16) and ``meta`` (JSON: the feature set, layers,
hidden size, frame pooling). float16 halves the disk and memory of float32 and is far below the
differences between utterances (the pooled float16-weight test already tolerates that rounding).
Neighbouring frames are averaged in pairs (``FRAME_POOL``): Whisper's 50 Hz becomes 25 Hz, still
several frames per syllable for the attention to weigh, at half the disk, memory and epoch time.

Extraction (:func:`extract_corpus`) is resumable: a shard is written atomically at least every
``SHARD_SECONDS`` (and when the run is interrupted), and a rerun extracts only the wavs no shard
holds. Bad audio is skipped with a one-line reason in ``skipped.csv`` beside the shards. A cache whose
shards disagree with what the extractor makes now (another layer count, width, dtype or pooling), or
whose shards are damaged, is removed and extracted again. One process at a time extracts a corpus
(a lock in the folder); another waits for it.

A fine-tuning of the top k blocks (whisper_finetune) caches one layer instead: the hidden states
entering block L-k (``FrameSet.input_top = k``) at the encoder's own 50 Hz (``pool = 1``), since
those are what the blocks above expect; the blocks below it are all that is run to make them.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..audio.loading import SIGNAL_LABEL
from ..core import paths
from ..core.errors import DamagedFileError, InputError, MissingInputError
from ..core.fileio import SkipList, atomic_path, remove_stale_temporaries
from ..data.vectors import VectorSummary, prepared_batches
from .features import FeatureSpec

FRAME_POOL = 2            # 50 Hz -> 25 Hz (see the module's docstring)
FRAME_DTYPE = np.float16
SHARD_SECONDS = 60.0      # a shard is written at least this often while extracting
WAIT_SECONDS = 2.0        # how often a process waits for another one's extraction


@dataclass(frozen=True)
class FrameSet:
    """The frame cache of one Whisper feature set (source, input, precision; every layer), or with
    ``input_top = k`` of the one layer entering the top k blocks."""
    spec: FeatureSpec
    pool: int = FRAME_POOL
    input_top: int | None = None

    @property
    def name(self) -> str:
        name = self.spec.name.replace("whisper_", "whisper_frames_", 1)
        name += f"_input_top{self.input_top}" if self.input_top else ""
        return name + (f"_pool{self.pool}" if self.pool != FRAME_POOL else "")

    def layer_of(self, num_layers: int) -> int | None:
        """The cached layer of an encoder of ``num_layers`` hidden states (blocks + 1); None: every one."""
        if not self.input_top:
            return None
        if not 1 <= self.input_top < num_layers:
            raise InputError(f"the top {self.input_top} blocks: the Whisper encoder has {num_layers - 1} "
                             f"(give 1 to {num_layers - 1})")
        return num_layers - 1 - self.input_top

    def shape_made_by(self, extractor) -> tuple[int, int]:
        """(layers, hidden) of the frames ``extractor`` makes for this cache."""
        layers = extractor.num_layers if self.layer_of(extractor.num_layers) is None else 1
        return layers, extractor.hidden_size

    def frames_made_by(self, extractor, prepared: list) -> list[np.ndarray]:
        layer = self.layer_of(extractor.num_layers)
        return extractor.frames(prepared, self.pool) if layer is None else extractor.frames(prepared, self.pool, layer)

    def folder(self, datasets_dir: str | Path, corpus: str) -> Path:
        return paths.features_dir(datasets_dir, corpus) / self.name

    def folder_for_wav(self, wav: str | Path) -> Path:
        corpus_folder = Path(wav).parent.parent
        return self.folder(corpus_folder.parent, corpus_folder.name)

    def identity(self) -> dict:
        """What every shard's meta must say it was made from."""
        spec = self.spec.as_dict()
        made = {"features": {k: spec[k] for k in ("kind", "source", "input", "precision")}, "frame_pool": self.pool}
        return {**made, "input_top": self.input_top} if self.input_top else made   # older caches' meta stays valid


@dataclass
class Shard:
    names: list[str]
    lengths: np.ndarray
    frames: np.ndarray       # (sum of lengths, layers, hidden), float16
    meta: dict

    def clips(self) -> dict[str, np.ndarray]:
        ends = np.cumsum(self.lengths)
        return {name: self.frames[end - length:end] for name, length, end in zip(self.names, self.lengths, ends)}


def write_shard(path: Path, shard: Shard) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, names=np.array(shard.names, dtype=str), lengths=np.asarray(shard.lengths, np.int64),
                 frames=np.asarray(shard.frames, FRAME_DTYPE), meta=np.array(json.dumps(shard.meta)))


def read_shard(path: Path, frame_set: FrameSet) -> Shard:
    """One shard, checked as the pooled caches are: rows against lengths, dtype, shape against its meta,
    made for this feature set; anything else is a DamagedFileError naming the file."""
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as data:
            shard = Shard([str(n) for n in data["names"]], np.asarray(data["lengths"]), np.asarray(data["frames"]),
                          json.loads(str(data["meta"])))
    except KeyError as exc:
        raise DamagedFileError(f"{path}: damaged Whisper frame shard (no {exc} in it)") from None
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise DamagedFileError(f"{path}: damaged Whisper frame shard ({type(exc).__name__})") from None
    problem = shard_problem(shard, frame_set)
    if problem:
        raise DamagedFileError(f"{path}: {problem}")
    return shard


def shard_problem(shard: Shard, frame_set: FrameSet) -> str | None:
    meta = shard.meta if isinstance(shard.meta, dict) else {}
    made_for = {key: meta.get(key) for key in frame_set.identity()}
    if made_for != frame_set.identity():
        return f"made for {made_for}, not {frame_set.identity()}"
    if shard.frames.dtype != FRAME_DTYPE:
        return f"frames of dtype {shard.frames.dtype}, not {np.dtype(FRAME_DTYPE).name}"
    if shard.frames.ndim != 3 or len(shard.lengths) != len(shard.names) \
            or int(np.sum(shard.lengths)) != shard.frames.shape[0] or np.any(shard.lengths < 1):
        return f"{len(shard.names)} names, lengths summing to {int(np.sum(shard.lengths))}, frames {shard.frames.shape}"
    if tuple(shard.frames.shape[1:]) != (meta.get("layers"), meta.get("hidden_size")):
        return f"frames of {shard.frames.shape[1:]} (layers, width), but its meta says " \
               f"({meta.get('layers')}, {meta.get('hidden_size')})"
    return None


def shard_paths(folder: Path) -> list[Path]:
    return sorted(folder.glob("part-*.npz"))


def read_cache(folder: Path, frame_set: FrameSet) -> tuple[dict[str, np.ndarray], tuple[int, int] | None]:
    """Every clip of a corpus's frame cache and its (layers, hidden); a damaged shard, or shards of two
    shapes, is a DamagedFileError."""
    clips: dict[str, np.ndarray] = {}
    shape = None
    for path in shard_paths(folder):
        shard = read_shard(path, frame_set)
        if shape is not None and tuple(shard.frames.shape[1:]) != shape:
            raise DamagedFileError(f"{path}: frames of {shard.frames.shape[1:]}, other shards {shape}")
        shape = tuple(shard.frames.shape[1:])
        clips.update(shard.clips())
    return clips, shape


# --------------------------------------------------------------------------- extraction

def extract_corpus(datasets_dir: str | Path, corpus: str, frame_set: FrameSet, extractor_factory,
                   progress: bool = True, echo=print) -> int:
    """Frames of every wav of one corpus that no shard holds; returns how many were extracted.

    ``extractor_factory()`` gives the :class:`~specct.baselines.whisper.WhisperExtractor` (made even when
    nothing is left to extract: a cache of another shape than it makes is extracted again)."""
    from ..core import job_lock

    folder = frame_set.folder(datasets_dir, corpus)
    wavs = sorted(paths.wav_dir(datasets_dir, corpus).glob("*.wav"))
    folder.mkdir(parents=True, exist_ok=True)
    while True:
        with job_lock.job_lock(folder) as held:
            if held:
                return _extract_locked(folder, wavs, corpus, frame_set, extractor_factory, progress, echo)
        time.sleep(WAIT_SECONDS)   # another process extracts this corpus: its shards are ours once written


def _extract_locked(folder: Path, wavs: list[Path], corpus: str, frame_set: FrameSet, extractor_factory,
                    progress: bool, echo) -> int:
    from tqdm import tqdm

    remove_stale_temporaries(folder)
    skips = SkipList(folder / "skipped.csv", echo=tqdm.write if progress else None)
    try:
        clips, shape = read_cache(folder, frame_set)
    except DamagedFileError as exc:
        echo(f"{exc}; extracting every file of {corpus} again")
        clear(folder)
        clips, shape = {}, None
    todo = [wav for wav in wavs if wav.stem not in clips]   # skipped files are tried again, as in the pooled loop
    if not wavs:
        return 0
    extractor = extractor_factory()   # also when nothing is left: the cache is checked against what it makes
    made_shape = frame_set.shape_made_by(extractor)
    if shape is not None and shape != made_shape:
        echo(f"{folder}: frames of {shape} (layers, width), the extractor makes {made_shape}; extracting every "
             f"file of {corpus} again")
        clear(folder)
        todo = list(wavs)
    if not todo:
        return 0
    meta = {**frame_set.identity(), "layers": made_shape[0], "hidden_size": made_shape[1],
            **({"layer": frame_set.layer_of(extractor.num_layers)} if frame_set.input_top else {}),
            "dtype": np.dtype(FRAME_DTYPE).name, "signal": SIGNAL_LABEL,
            **{k: v for k, v in getattr(extractor, "meta", {}).items() if k.startswith("whisper_model_bin")}}
    number = len(shard_paths(folder))
    names, parts, last_write, done = [], [], time.perf_counter(), 0

    def flush():
        nonlocal number, last_write
        if names:
            write_shard(folder / f"part-{number:05d}.npz",
                        Shard(list(names), np.array([len(p) for p in parts]), np.concatenate(parts), meta))
            number += 1
            names.clear()
            parts.clear()
        last_write = time.perf_counter()

    bar = tqdm(total=len(todo), desc=f"{frame_set.name} {corpus}", unit="file", disable=not progress)
    started = time.perf_counter()
    try:
        for chunk, ready in prepared_batches(todo, extractor.batch_size, extractor.prepare, skips):
            if ready:
                for (name, _), frames in zip(ready, frame_set.frames_made_by(extractor, [item for _, item in ready])):
                    if np.all(np.isfinite(frames)):
                        names.append(name)
                        parts.append(frames)
                        done += 1
                    else:
                        skips.add(f"{name}.wav", "Whisper gave non-finite frame values")
            bar.update(len(chunk))
            if time.perf_counter() - last_write >= SHARD_SECONDS:
                flush()
    finally:   # an error or Ctrl-C mid-corpus keeps what is finished
        bar.close()
        flush()
        skips.write()
    echo(VectorSummary(corpus, frame_set.name, files=len(wavs), extracted=done, reused=len(wavs) - len(todo),
                       skipped=len(skips), seconds=time.perf_counter() - started).line())
    return done


def clear(folder: Path) -> None:
    for path in shard_paths(folder):
        path.unlink()
    (folder / "skipped.csv").unlink(missing_ok=True)


def extract_corpora(datasets_dir: str | Path, corpora: Iterable[str], frame_set: FrameSet, extractor_factory,
                    progress: bool = True, echo=print) -> int:
    return sum(extract_corpus(datasets_dir, corpus, frame_set, extractor_factory, progress, echo)
               for corpus in corpora)


# --------------------------------------------------------------------------- lookup

_LOADED: dict[Path, tuple[tuple, dict[str, np.ndarray]]] = {}


def corpus_clips(folder: Path, frame_set: FrameSet) -> dict[str, np.ndarray]:
    """A corpus's clips, read once and again only when its shards change."""
    key = tuple((p.name, p.stat().st_mtime_ns) for p in shard_paths(folder))
    cached = _LOADED.get(folder)
    if cached is None or cached[0] != key:
        _LOADED[folder] = (key, read_cache(folder, frame_set)[0])
    return _LOADED[folder][1]


def frames_for_wavs(wavs: Sequence[str | Path], frame_set: FrameSet) -> list[np.ndarray]:
    """The cached frames (frames, layers, hidden) of each wav, found from its place in the layout."""
    rows = []
    for wav in wavs:
        folder = frame_set.folder_for_wav(wav)
        clip = corpus_clips(folder, frame_set).get(Path(wav).stem) if folder.is_dir() else None
        if clip is None:
            raise MissingInputError(f"{wav}: no Whisper frames in {folder} (skipped, see skipped.csv there, "
                                    f"or not extracted yet)")
        rows.append(clip)
    return rows
