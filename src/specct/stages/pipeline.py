"""The whole pipeline on the built-in demo corpora, as ``make demo`` runs it.

generate demo corpora -> spectrogram images -> speaker embeddings -> leave-one-corpus-out split
(one demo corpus held out) -> train a CPU-sized speaker model -> evaluate on the held-out corpus
-> predict one held-out wav from the saved model alone.

    python -m specct.stages.pipeline [--workdir .] [--held_out DEMOC] [--epochs N]
        [--speakers 5] [--sentences 5] [--image_size 64]    # smaller: a quicker, rougher demo

Every stage writes where the stand-alone scripts would (``<workdir>/datasets``, ``data``,
``output``) and skips work already done, so a second run is quick.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..core import paths
from ..core.cli import ArgumentParser
from ..core.errors import InputError, run_script

DEMO_MODEL = "speaker_vgg_cct_7_7x2_112"
DEMO_IMAGE_SIZE = 64
# The recipe for training from scratch that a user without weights starts from (docs/training.md).
SCRATCH_CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "scratch"  # package data (configs/ links here)
# The frequency augmentations (pitch, frequency masks, telephone band) stand in for the channel
# of an unseen corpus: without them the model learns the training corpora's microphones.
DEMO_AUGMENTATION = "freq_aug"
# The model is trained from scratch (nothing is downloaded) with its configs/scratch recipe, on
# 64 px images (a 4x4 token grid) and for fewer epochs, so that the whole demo takes about two
# minutes on two CPU cores.
DEMO_EPOCHS = 12


def scratch_config(model: str) -> Path:
    """``configs/scratch/<model>.yml``: file names use the paper's speaker names (not the short aliases)
    and spell the ``_7_7x2_112`` suffix ``_7-7x2_112``, as configs/cpu does."""
    import re

    from ..models.speaker_cct import PAPER_TO_ALIAS

    for paper, alias in PAPER_TO_ALIAS.items():
        if model.startswith(alias + "_"):
            model = paper + model[len(alias):]
    path = SCRATCH_CONFIGS / (re.sub(r"_(\d+)_(\d+x\d+)_(\d+)$", r"_\1-\2_\3", model) + ".yml")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no training-from-scratch config for {model}")
    return path


def scratch_flags(model: str) -> dict:
    """The train.py flags of a model's configs/scratch recipe."""
    from ..train.options import build_parser, read_config

    return read_config(scratch_config(model), build_parser())


@dataclass
class DemoResult:
    uar: float
    accuracy: float
    chance: float
    train_dir: Path
    test_dir: Path
    figures: list[Path]
    prediction: object
    seconds: float


def _stage(name: str):
    print(f"\n=== {name}", flush=True)
    return time.perf_counter()


def run_demo(workdir: str | Path = ".", seed: int = 0, held_out: str = "DEMOC", model: str = DEMO_MODEL,
             epochs: int | None = None, image_size: int = DEMO_IMAGE_SIZE, workers: int | None = None,
             train_flags: dict | None = None, speakers: int = 5, sentences: int = 5,
             progress: bool = True) -> DemoResult:
    """Run every stage on the demo corpora under ``workdir``; prints the held-out UAR and figure paths.

    ``speakers`` and ``sentences`` (per corpus, speaker and emotion) size the demo corpora;
    ``train_flags`` overrides train.py flags of the model's configs/scratch recipe.
    """
    from .. import systems
    from ..data.demo import generate_demo
    from .evaluate import evaluate
    from ..data.images import preprocess_corpora
    from .predict import Predictor, format_predictions
    from ..data.speaker import embed_corpora
    from ..data.splits import SplitOptions, run_split_stage
    from ..train import default_args

    started = time.perf_counter()
    workdir = Path(workdir)
    datasets = workdir / paths.DATASETS_DIR
    held_out = held_out.upper()

    _stage("1/7 demo corpora")
    corpora = generate_demo(datasets, seed=seed, speakers=speakers, sentences=sentences, progress=progress,
                            summary=True)
    if held_out not in corpora:
        raise InputError(f"--held_out {held_out} is not a demo corpus ({', '.join(corpora)})")

    _stage("2/7 spectrogram images")
    preprocess_corpora(datasets, datasets=corpora, augmentations=DEMO_AUGMENTATION,
                       size=(image_size, image_size), workers=workers, seed=seed, progress=progress)

    _stage("3/7 speaker embeddings")
    embed_corpora(datasets, datasets=corpora, progress=progress)

    _stage(f"4/7 leave-one-corpus-out split: test on {held_out}")
    split = run_split_stage(SplitOptions(eval_dataset=held_out, num_classes="4", seed=seed,
                                         augmentation=DEMO_AUGMENTATION,
                                         datasets_dir=str(datasets), output_dir=str(workdir / paths.DATA_DIR)))[0]

    _stage(f"5/7 train {model} on {fold_corpora(split)}")
    flags = {**scratch_flags(model), "epochs": DEMO_EPOCHS, **(train_flags or {})}
    if epochs is not None:
        flags["epochs"] = epochs
    flags.update(model=model, seed=seed, input_size=[3, image_size, image_size],
                 output=str(workdir / paths.OUTPUT_DIR / "train"), no_progress=not progress)
    flags.pop("data_dir", None)
    args = default_args(paths.train_data_dir(split.out_dir), **flags)
    out_dir = systems.ensure_trained(args)

    _stage(f"6/7 evaluate on {held_out}")
    result = evaluate(out_dir, progress=progress, seed=seed)

    _stage("7/7 predict one held-out wav from the saved model")
    wav = sorted(paths.wav_dir(datasets, held_out).glob("*.wav"))[0]
    predictor = Predictor(out_dir)
    prediction = predictor.predict_files([wav], progress=False)
    print(format_predictions(prediction, predictor.class_names))

    chance = 1.0 / len(result.performance["class_names"])
    figures = [out_dir / "curves.png", result.figure]
    seconds = time.perf_counter() - started
    low, high = result.performance["confidence_interval_95"]["uar"]
    print(f"\nheld-out corpus {held_out}: UAR {result.performance['uar']:.3f} "
          f"(95% CI {low:.3f}-{high:.3f}; chance {chance:.2f}), accuracy {result.performance['accuracy']:.3f}")
    print("figures:\n" + "\n".join(f"  {f}" for f in figures))
    print(f"demo finished in {seconds / 60:.1f} min")
    return DemoResult(result.performance["uar"], result.performance["accuracy"], chance, out_dir,
                      result.output_dir, figures, prediction[0], seconds)


def fold_corpora(split) -> str:
    """The corpora a split trains on, and those it validates on only (``validation: auto`` takes one
    training corpus whole for the checkpoint choice: the network never trains on it)."""
    train = sorted(set(split.train["corpus"]))
    validation = sorted(set(split.validation["corpus"]) - set(train))
    return ", ".join(train) + (f" (validated on {', '.join(validation)})" if validation else "")


def main(argv: Sequence[str] | None = None) -> int:
    from ..core.cli import add_progress_argument, program_name

    prog = program_name("python -m specct.stages.pipeline")
    parser = ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default=".", help="folder holding datasets/, data/ and output/")
    parser.add_argument("--seed", type=int, default=0, help="seed of the demo corpora, the split and the training")
    parser.add_argument("--held_out", default="DEMOC", help="demo corpus to test on")
    parser.add_argument("--model", default=DEMO_MODEL, help="model to train (its configs/scratch recipe)")
    parser.add_argument("--epochs", type=int, default=None, help=f"training epochs (default: {DEMO_EPOCHS})")
    parser.add_argument("--workers", type=int, default=None, help="spectrogram processes (default: all cores)")
    parser.add_argument("--image_size", type=int, default=DEMO_IMAGE_SIZE, help="spectrogram image side, pixels")
    parser.add_argument("--speakers", type=int, default=5, help="speakers per demo corpus")
    parser.add_argument("--sentences", type=int, default=5, help="sentences per speaker and emotion")
    add_progress_argument(parser)
    args = parser.parse_args(argv)
    return run_script(prog, lambda: run_demo(
        args.workdir, args.seed, args.held_out, args.model, args.epochs, image_size=args.image_size,
        workers=args.workers, speakers=args.speakers, sentences=args.sentences, progress=not args.no_progress))


if __name__ == "__main__":
    raise SystemExit(main())
