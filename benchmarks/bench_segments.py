"""Emotion over long recordings and folders: real-time factor of segment prediction on one long file,
and files/s over a folder of short files against calling predict.py once per file, on this host.

    python benchmarks/bench_segments.py                  # 10-minute file, 500 short files
    python benchmarks/bench_segments.py --quick          # smoke run: 1 minute, 40 files

Models: the CPU-sized speaker CCT (`speaker_vgg_cct_7_7x2_112` at 64 px, the recipe's size) and the
eGeMAPS SVM, each trained briefly on demo corpora (the speed does not depend on what they learnt).
The real-time factor counts everything from the audio file to the segment rows: decoding, voice
activity, trimming, spectrograms and speaker vectors (or features), the model. predict.py once per
file is timed on ``--sample`` files of the folder (a new process each: imports and model load
included) and given as files/s. Run it alone: other work on the cores changes every figure.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "src"))

from specct import systems  # noqa: E402
from specct.models.throughput import host_description  # noqa: E402

SR = 16000


def demo_models(root: Path) -> tuple[dict[str, Path], Path]:
    """Demo corpora, a split, and the two systems trained on it; the held-out corpus's wav folder."""
    from specct.baselines.features import extract_corpora
    from specct.data.demo import CORE_EMOTIONS, generate_demo
    from specct.data.images import preprocess_corpora
    from specct.data.speaker import embed_corpora
    from specct.data.splits import SplitOptions, run_split_stage
    from specct.train import default_args, train

    datasets = root / "datasets"
    generate_demo(datasets, seed=0, speakers=4, sentences=3, emotions=CORE_EMOTIONS, progress=False)
    preprocess_corpora(datasets, augmentations=[], size=(64, 64), workers=1, progress=False)
    embed_corpora(datasets, progress=False)
    extract_corpora(datasets, features="egemaps", progress=False)
    split = run_split_stage(SplitOptions(eval_dataset="DEMOC", num_classes="4", seed=0, datasets_dir=str(datasets),
                                         output_dir=str(root / "data")))[0]
    train_dir = Path(split.out_dir) / "train_data"
    models = {
        "speaker CCT (speaker_vgg_cct_7_7x2_112, 64 px)": train(default_args(
            train_dir, model="speaker_vgg_cct_7_7x2_112", experiment=str(root / "cct"), epochs=1, max_steps=2,
            input_size=[3, 64, 64], no_progress=True)),
        "eGeMAPS + SVM (egemaps_svm)": train(default_args(train_dir, model="egemaps_svm",
                                                          experiment=str(root / "svm"), no_progress=True)),
    }
    return models, datasets / "DEMOC" / "DEMOC_wav"


def long_file(path: Path, wavs: list[Path], seconds: float) -> float:
    """Utterances one after another with pauses of 0.2-1 s, written block by block; its length in s."""
    from specct.audio.loading import load_trimmed

    rng = np.random.default_rng(0)
    utterances = [load_trimmed(w) for w in wavs]
    written = 0
    with sf.SoundFile(path, "w", SR, 1, subtype="PCM_16") as handle:
        while written < seconds * SR:
            x = np.concatenate([utterances[rng.integers(len(utterances))],
                                np.zeros(int(rng.uniform(0.2, 1.0) * SR), np.float32)])
            handle.write(x)
            written += len(x)
    return written / SR


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0, help="length of the long file")
    p.add_argument("--files", type=int, default=500, help="short files in the folder")
    p.add_argument("--sample", type=int, default=10, help="files timed through predict.py one process each")
    p.add_argument("--workers", type=int, default=1, help="--workers of the folder run")
    p.add_argument("--precision", choices=("auto", "float32"), default="auto",
                   help="the speaker CCT's precision at prediction (auto: bfloat16 where the CPU has it)")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.minutes, args.files, args.sample = 1.0, 40, 2

    from specct.protocol import segment_predict
    from specct.stages.predict import Predictor

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        models, wav_dir = demo_models(tmp)
        wavs = sorted(wav_dir.glob("*.wav"))
        seconds = long_file(tmp / "long.wav", wavs, args.minutes * 60)
        folder = tmp / "folder"
        folder.mkdir()
        for i in range(args.files):
            os.link(wavs[i % len(wavs)], folder / f"{i:04d}_{wavs[i % len(wavs)].name}")
        print(f"load average {os.getloadavg()[0]:.1f}{', QUICK smoke run' if args.quick else ''}")
        print(host_description())
        print(f"\nlong file: {seconds / 60:.1f} min; folder: {args.files} files of {len(wavs)} demo utterances\n")
        print("| system | long file: s, real-time factor (vad) | the same, inputs one segment at a time | "
              "grouped vs one at a time | folder: files/s with --segment vad | "
              "predict.py once per file: files/s | folder vs once per file |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for name, model in models.items():
            predictor = Predictor(model)
            if hasattr(predictor, "precision_used"):      # the networks; the speaker encoder is float32 always
                if args.precision == "float32":
                    predictor.precision_used = "float32"
                name = f"{name}, {predictor.precision_used}"
            predictor.predict_segments([wavs[0]], "vad", progress=False, echo=None)   # untimed: first-call costs
            long_s = {}
            grouped = predictor.input_group
            for group in (1, grouped):   # one at a time: how it ran before the groups
                predictor.input_group = group
                started = time.perf_counter()
                rows, _ = predictor.predict_segments([tmp / "long.wav"], "vad", progress=False, echo=None)
                long_s[group] = time.perf_counter() - started
            one_s, long_s = long_s[1], long_s[grouped]
            files = sorted(folder.glob("*.wav"))
            started = time.perf_counter()
            from specct.data.segments import SegmentOptions

            segment_predict.predict_segments(predictor, files, SegmentOptions("vad"), output=tmp / f"{model.name}-folder.csv",
                             workers=args.workers, model=model, loader=systems.load, progress=False, echo=None)
            folder_rate = len(files) / (time.perf_counter() - started)
            started = time.perf_counter()
            for wav in files[:args.sample]:
                subprocess.run([sys.executable, str(REPO_ROOT / "predict.py"), str(model), str(wav), "--no_progress"],
                               check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")})
            single_rate = args.sample / (time.perf_counter() - started)
            print(f"| {name} | {long_s:.1f} s, {seconds / long_s:.0f}x ({len(rows)} segments) | "
                  f"{one_s:.1f} s, {seconds / one_s:.0f}x | {one_s / long_s:.2f}x | {folder_rate:.1f} | "
                  f"{single_rate:.2f} | {folder_rate / single_rate:.0f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
