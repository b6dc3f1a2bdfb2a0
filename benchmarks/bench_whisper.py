"""Whisper feature extraction, files per second, real-length input against the padded 30-s window.

Whisper base from `make weights` (~/.cache/specct/whisper-base, CTranslate2 layout, read into
transformers' WhisperEncoder), on 3-s clips: EmoDB files of the shared corpora (trimmed as the
stage trims them, cut or zero-padded to 3 s), or demo-generator voices when the corpora are absent.
Timed: what the features stage does per file once the audio is in memory (log-mel, the encoder,
the mean and std of every layer); the first clip is a warm-up and not counted. The target of issue
43 is 25 files/s with real-length input on 2 cores.

    python benchmarks/bench_whisper.py                    # 40 clips, 2 threads, both inputs
    python benchmarks/bench_whisper.py --clips 10 --threads 1
"""
from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
CORPORA = ROOT.parent / "shared" / "corpora"
SECONDS = 3.0


def host() -> str:
    try:
        model = next(line.split(":", 1)[1].strip() for line in subprocess.run(
            ["lscpu"], capture_output=True, text=True).stdout.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        model = platform.processor() or "unknown CPU"
    import os

    return f"{model}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"


def clips(count: int) -> tuple[list[np.ndarray], str]:
    from specct.audio import loading as audio

    size = int(SECONDS * audio.DEFAULT_SR)
    wavs = sorted((CORPORA / "emodb" / "wav").glob("*.wav"))[:count]
    if len(wavs) == count:
        signals = [audio.load_trimmed(w)[:size] for w in wavs]
        where = f"{count} EmoDB files of {CORPORA}"
    else:   # the demo generator's voices when the corpora are absent
        import tempfile

        from specct.data.demo import generate_demo

        with tempfile.TemporaryDirectory() as tmp:
            generate_demo(Path(tmp), seed=0, progress=False)
            wavs = sorted(Path(tmp).glob("*/*_wav/*.wav"))[:count]
            signals = [audio.load_trimmed(w)[:size] for w in wavs]
        where = f"{len(signals)} demo-generator voices"
    return [np.pad(s, (0, size - len(s))).astype(np.float32) for s in signals], where


def files_per_second(extractor, signals: list[np.ndarray], batch: int) -> tuple[float, float]:
    """Log-mel of each clip, then the encoder over ``batch`` clips at a time, as the features stage does:
    files per wall second and per CPU second of this process (the second hardly moves when other
    processes share the cores, the first does)."""
    extractor(signals[0])   # warm-up
    started, cpu = time.perf_counter(), time.process_time()
    for i in range(1, len(signals), batch):
        extractor.pool([extractor.prepare(s) for s in signals[i:i + batch]])
    return (len(signals) - 1) / (time.perf_counter() - started), (len(signals) - 1) / (time.process_time() - cpu)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", type=int, default=40)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--precision", nargs="+", default=["float32", "bfloat16"])
    p.add_argument("--source", default=None, help="a Whisper folder or hub name (default: make weights' folder)")
    args = p.parse_args(argv)
    import torch

    from specct.baselines.whisper import WhisperExtractor

    signals, where = clips(args.clips)
    print(f"host: {host()}; torch {torch.__version__}; {where}, {SECONDS:g} s each")
    for input in ("real", "padded"):
        count = signals if input == "real" else signals[:max(3, len(signals) // 8)]   # padded is ~10x slower
        for precision in args.precision:
            for threads in args.threads:
                extractor = WhisperExtractor(args.source, input=input, threads=threads, precision=precision)
                for batch in (1, extractor.batch_size):
                    wall, cpu = files_per_second(extractor, count, batch)
                    print(f"{input:>6} input, {precision}, {threads} thread(s), {batch} clip(s) per pass: "
                          f"{wall:6.1f} files/s, {cpu:6.1f} files per CPU second ({len(count) - 1} clips timed)")
    print(f"load average after: {host().rsplit(' ', 1)[-1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
