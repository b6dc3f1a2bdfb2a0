"""Spectrogram images per second: specct's engine against a figure-per-image reference.

Both render 1 plain + 8 augmented images per file (the original's augmentation set) from the
same trimmed signals with the same augmentation parameters. The reference draws every image
through its own matplotlib figure (librosa.display.specshow) and saves a 288x288 JPEG, as the
original code did; it runs on a subset of the files so that it finishes in reasonable time.

    python benchmarks/bench_spectrograms.py [--source ../shared/corpora/emodb/wav] [--reference_files 30]
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from specct.core import paths
from specct.audio.loading import load_trimmed
from specct.data.augment import AUGMENTATIONS, ORIGINAL_AUGMENTATIONS, WAVEFORM, file_rng
from specct.data.images import STAGES, preprocess_corpora
from specct.data.spectrogram import WINDOWS, SpectrogramConfig

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "corpora" / "emodb" / "wav"


def import_emodb(source: Path, datasets_dir: Path, limit: int | None) -> list[Path]:
    """Canonical EMODB wavs in ``datasets_dir`` (through the importer), first ``limit`` kept."""
    from specct.data.prepare import import_corpus

    import_corpus("emodb", source, datasets_dir, progress=False)
    wavs = sorted(paths.wav_dir(datasets_dir, "EMODB").glob("*.wav"))
    for extra in wavs[limit:] if limit else []:
        extra.unlink()
    return wavs[:limit] if limit else wavs


def run_engine(datasets_dir: Path, workers: int, cfg: SpectrogramConfig) -> dict:
    cpu = time.process_time()
    summary = preprocess_corpora(datasets_dir, augmentations=list(ORIGINAL_AUGMENTATIONS), workers=workers,
                                 seed=0, overwrite=True, config=cfg, progress=False)
    assert summary.skipped == 0 and summary.images_written == summary.processed * 9, summary
    # CPU time of this process: meaningful only for one worker (pool workers are not its children).
    return {"files": summary.processed, "seconds": summary.seconds, "stages": summary.stage_seconds,
            "cpu_seconds": time.process_time() - cpu if workers == 1 else None}


def run_reference(wavs: list[Path], out_dir: Path, cfg: SpectrogramConfig) -> dict:
    """One matplotlib figure per image, mel recomputed per image, 288x288 JPEG (the original's way)."""
    import librosa
    import librosa.display
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages: dict[str, float] = defaultdict(float)

    def draw(signal_or_mel, target: Path, is_mel: bool = False) -> None:
        start = time.perf_counter()
        mel = signal_or_mel if is_mel else librosa.feature.melspectrogram(
            y=signal_or_mel, sr=cfg.sample_rate, n_fft=cfg.win_length, hop_length=cfg.hop_length,
            window=WINDOWS[cfg.window], n_mels=cfg.n_mels)
        db = librosa.power_to_db(mel, ref=np.max)
        stages["mel"] += time.perf_counter() - start
        start = time.perf_counter()
        fig, ax = plt.subplots()
        ax.set_axis_off()
        ax.set_position([0, 0, 1, 1])
        fig.set_size_inches(2.88, 2.88)
        librosa.display.specshow(db, y_axis="mel", fmax=cfg.sample_rate / 2, x_axis="time", sr=cfg.sample_rate,
                                 hop_length=cfg.hop_length, ax=ax)
        fig.savefig(target, dpi=100, pad_inches=0)
        plt.close(fig)
        stages["render+write"] += time.perf_counter() - start

    begin, cpu = time.perf_counter(), time.process_time()
    for wav in wavs:
        start = time.perf_counter()
        signal = load_trimmed(wav, sr=cfg.sample_rate)
        stages["load"] += time.perf_counter() - start
        draw(signal, out_dir / f"{wav.stem}.jpeg")
        for name in ORIGINAL_AUGMENTATIONS:
            augmentation = AUGMENTATIONS[name]
            rng = file_rng(0, wav.stem, name)
            start = time.perf_counter()
            if augmentation.domain == WAVEFORM:
                changed = augmentation(signal, rng, cfg.sample_rate)
                stages["augment"] += time.perf_counter() - start
                draw(changed, out_dir / f"{wav.stem}_{name}.jpeg")
            else:
                mel = librosa.feature.melspectrogram(y=signal, sr=cfg.sample_rate, n_fft=cfg.win_length,
                                                     hop_length=cfg.hop_length, window=WINDOWS[cfg.window],
                                                     n_mels=cfg.n_mels)
                masked = augmentation(mel, rng, cfg.sample_rate)
                stages["augment"] += time.perf_counter() - start
                draw(masked, out_dir / f"{wav.stem}_{name}.jpeg", is_mel=True)
    return {"files": len(wavs), "seconds": time.perf_counter() - begin, "stages": dict(stages),
            "cpu_seconds": time.process_time() - cpu}


def report(label: str, run: dict) -> str:
    files, seconds = run["files"], run["seconds"]
    per_file = "  ".join(f"{stage} {1000 * sec / files:.1f}" for stage, sec in run["stages"].items())
    cpu = f"{files / run['cpu_seconds']:6.2f} files/cpu-s" if run["cpu_seconds"] else " " * 18
    return (f"{label:<38} {files:>4} files {seconds:7.1f} s {files / seconds:7.2f} files/s {cpu}"
            f"   wall ms/file: {per_file}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="EmoDB wav folder as distributed")
    parser.add_argument("--files", type=int, default=None, help="files for specct (default: all)")
    parser.add_argument("--reference_files", type=int, default=30, help="files for the reference")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="workers for the parallel run")
    args = parser.parse_args()
    if not args.source.is_dir():
        raise SystemExit(f"EmoDB not found at {args.source}; pass --source")

    cfg = SpectrogramConfig()
    with tempfile.TemporaryDirectory(prefix="bench_spectrograms_") as tmp:
        tmp = Path(tmp)
        wavs = import_emodb(args.source, tmp / "datasets", args.files)
        warmup = tmp / "warmup"
        (warmup / "EMODB" / "EMODB_wav").mkdir(parents=True)
        shutil.copy(wavs[0], warmup / "EMODB" / "EMODB_wav" / wavs[0].name)
        run_engine(warmup, 1, cfg)                                   # imports and first-call costs
        ref_dir = tmp / "reference"
        ref_dir.mkdir()
        run_reference(wavs[:1], ref_dir, cfg)

        seconds = [len(load_trimmed(w)) / cfg.sample_rate for w in wavs]
        print(f"EmoDB: {len(wavs)} files, mean trimmed duration {np.mean(seconds):.2f} s; "
              f"1 plain + {len(ORIGINAL_AUGMENTATIONS)} augmented images per file; {os.cpu_count()} cores")
        reference = run_reference(wavs[:args.reference_files], ref_dir, cfg)
        print(report("reference (figure per image, 1 proc)", reference))
        single = run_engine(tmp / "datasets", 1, cfg)
        print(report("specct, 1 worker", single))
        parallel = run_engine(tmp / "datasets", args.workers, cfg)
        print(report(f"specct, {args.workers} workers (stage sums)", parallel))
        ref_rate = reference["files"] / reference["seconds"]
        for label, run in (("1 worker", single), (f"{args.workers} workers", parallel)):
            print(f"speed-up, {label}: {run['files'] / run['seconds'] / ref_rate:.1f}x the reference (wall)")
        ref_cpu_rate = reference["files"] / reference["cpu_seconds"]
        print(f"speed-up per CPU second, 1 worker: "
              f"{single['files'] / single['cpu_seconds'] / ref_cpu_rate:.1f}x the reference")
        print("stages measured:", ", ".join(STAGES))


if __name__ == "__main__":
    main()
