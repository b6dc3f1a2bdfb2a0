"""Speaker embedding and prediction, files per second, idle and with one busy core.

Two thread settings side by side in one run: torch's own default (one thread per physical core,
what specct used before) and specct's default (``specct.core.threads.default_threads()``: half the
cores available to the process). Each is timed on an idle machine and while this script keeps one
core busy with a spinning process of its own, which it stops afterwards. The target: with one busy
core, specct's default keeps at least half of its idle speed.

Embedding: ``speaker.embed_corpus`` on N EmoDB files imported into a temporary folder (load, trim,
resemblyzer's preprocessing, the encoder). Prediction: ``Predictor.predict_files`` on the same
files (spectrogram image, speaker vector, model forward) with a speaker model saved untrained, so
no training is needed; its weights do not change the time.

    python benchmarks/bench_embedding.py                  # 200 files, 3 repeats, the paper's model
    python benchmarks/bench_embedding.py --quick          # a smoke run: 8 files, 1 repeat, small model
"""
from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

TORCH_DEFAULT_THREADS = torch.get_num_threads()   # read before anything in this process changes it

from specct.core import paths
from specct.data import speaker  # noqa: E402
from specct.core.threads import available_cores, default_threads, torch_threads  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "corpora" / "emodb" / "wav"


def host() -> str:
    """CPU model, vector ISA, cores available to this process, torch and its default thread count."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    except OSError:
        pass
    isa = next((name for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("sse4_2", "SSE4.2"))
                if flag in flags), "unknown ISA")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{model} ({isa}), {available_cores()} cores available, torch {torch.__version__} "
            f"(default {TORCH_DEFAULT_THREADS} threads), load average {load:.1f}")


def import_emodb(source: Path, datasets_dir: Path, files: int) -> list[Path]:
    """``files`` EmoDB wavs spread over the corpus (every k-th), imported into ``datasets_dir``."""
    from specct.data.prepare import import_corpus

    wavs = sorted(source.glob("*.wav"))
    chosen = wavs[::max(1, len(wavs) // files)][:files]
    subset = datasets_dir.parent / "emodb_subset"
    subset.mkdir(parents=True)
    for wav in chosen:
        (subset / wav.name).symlink_to(wav.resolve())
    import_corpus("emodb", subset, datasets_dir, progress=False)
    return sorted(paths.wav_dir(datasets_dir, "EMODB").glob("*.wav"))


def _spin() -> None:
    while True:
        pass


class BusyCore:
    """One process spinning on the CPU for the duration of the block."""

    def __enter__(self):
        self.process = multiprocessing.get_context("fork").Process(target=_spin, daemon=True)
        self.process.start()
        time.sleep(0.5)   # let the scheduler place it
        return self

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.join()


def time_embedding(datasets_dir: Path, threads: int, files: int) -> float:
    with torch_threads(threads):
        summary = speaker.embed_corpus(datasets_dir, "EMODB", progress=False, overwrite=True)
    assert summary.embedded == files, summary
    return summary.embedded / summary.seconds


def write_untrained_model(out_dir: Path, model_name: str, size: int) -> Path:
    """A checkpoint that Predictor reads: a speaker model with random weights and default settings."""
    from timm.data import resolve_data_config

    from specct.core.checkpoint import BEST_NAME, save_checkpoint
    from specct.models.factory import create_model, takes_speaker
    from specct.data.spectrogram import SpectrogramConfig

    kwargs = {"num_classes": 4, "img_size": size}
    model = create_model(model_name, **kwargs, pretrained=False).eval()
    dcfg = resolve_data_config({"input_size": (3, size, size)}, model=model)
    settings = dataclasses.asdict(SpectrogramConfig(size=(size, size)))
    save_checkpoint(out_dir / BEST_NAME, {
        "state_dict": model.state_dict(), "model_name": model_name, "model_kwargs": kwargs,
        "class_names": ["anger", "happy", "neutral", "sad"], "data_config": dcfg, "spectrogram": settings,
        "takes_speaker": takes_speaker(model)})
    return out_dir


def time_prediction(predictor, wavs: list[Path], threads: int, batch_size: int) -> float:
    with torch_threads(threads):
        start = time.perf_counter()
        results = predictor.predict_files(wavs, batch_size, progress=False, echo=None)
        seconds = time.perf_counter() - start
    assert all(r.error is None for r in results)
    return len(results) / seconds


def measure(label: str, run, settings: dict[str, int], repeats: int) -> dict[tuple[str, str], float]:
    """Median files/s of ``run(threads)`` per (condition, setting); settings alternate within a repeat."""
    rates: dict[tuple[str, str], list[float]] = {}
    for condition in ("idle", "1 busy core"):
        for _ in range(repeats):
            for name, threads in settings.items():
                if condition == "idle":
                    rate = run(threads)
                else:
                    with BusyCore():
                        rate = run(threads)
                rates.setdefault((condition, name), []).append(rate)
                print(f"  {label:<10} {condition:<12} {name:<28} {rate:8.2f} files/s", flush=True)
    return {key: statistics.median(values) for key, values in rates.items()}


def report(label: str, medians: dict[tuple[str, str], float], settings: dict[str, int]) -> bool:
    """Print the table; True when specct's default keeps at least half its idle speed with one busy core."""
    print(f"\n{label}: median files/s")
    print(f"  {'threads':<28} {'idle':>9} {'1 busy core':>12} {'busy/idle':>10}")
    for name in settings:
        idle, busy = medians[("idle", name)], medians[("1 busy core", name)]
        print(f"  {name:<28} {idle:9.2f} {busy:12.2f} {busy / idle:9.2f}x")
    old, new = list(settings)
    for condition in ("idle", "1 busy core"):
        print(f"  specct's default against torch's, {condition}: "
              f"{medians[(condition, new)] / medians[(condition, old)]:.2f}x")
    kept = medians[("1 busy core", new)] / medians[("idle", new)]
    verdict = "met" if kept >= 0.5 else "NOT met"
    print(f"  target (specct's default keeps >= 0.5 of its idle speed with one busy core): {verdict} ({kept:.2f})")
    return kept >= 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="EmoDB wav folder as distributed")
    parser.add_argument("--files", type=int, default=200, help="EmoDB files to embed and classify (default 200)")
    parser.add_argument("--repeats", type=int, default=3, help="timings per setting and condition (median)")
    parser.add_argument("--model", default="speaker_vgg_cct_14_7x2_224", help="speaker model for prediction")
    parser.add_argument("--img_size", type=int, default=224, help="image size for prediction")
    parser.add_argument("--batch_size", type=int, default=16, help="prediction batch size (predict.py's default)")
    parser.add_argument("--no_predict", action="store_true", help="time speaker embedding only")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 8 files, 1 repeat, speaker_vgg_cct_7_7x2_112 at 32 px")
    args = parser.parse_args()
    if args.quick:
        args.files, args.repeats, args.model, args.img_size = 8, 1, "speaker_vgg_cct_7_7x2_112", 32
    if not args.source.is_dir():
        raise SystemExit(f"EmoDB not found at {args.source}; pass --source")

    settings = {f"torch's default ({TORCH_DEFAULT_THREADS})": TORCH_DEFAULT_THREADS,
                f"specct's default ({default_threads()})": default_threads()}
    print(f"host: {host()}")
    print(f"{args.files} EmoDB files, {args.repeats} repeat(s); busy core: one spinning process started "
          f"by this benchmark\n")
    passed = []
    with tempfile.TemporaryDirectory(prefix="bench_embedding_") as tmp:
        datasets = Path(tmp) / "datasets"
        wavs = import_emodb(args.source, datasets, args.files)
        speaker.embed_signal(speaker.audio.load_trimmed(wavs[0]))          # load the encoder once
        medians = measure("embedding", lambda n: time_embedding(datasets, n, len(wavs)), settings, args.repeats)
        passed.append(report("speaker embedding (embed_corpus)", medians, settings))
        if not args.no_predict:
            from specct.stages.predict import Predictor

            predictor = Predictor(write_untrained_model(Path(tmp), args.model, args.img_size))
            predictor.predict_files(wavs[:2], progress=False, echo=None)   # first-call costs
            print(f"\nprediction: {args.model} at {args.img_size} px, batch {args.batch_size}, untrained weights")
            medians = measure("predict", lambda n: time_prediction(predictor, wavs, n, args.batch_size),
                              settings, args.repeats)
            passed.append(report(f"prediction (Predictor.predict_files, {args.model})", medians, settings))
    print("\nall targets met" if all(passed) else "\nsome target NOT met")


if __name__ == "__main__":
    main()
