"""Leave-one-corpus-out benchmark of the training recipe for models without pretrained weights.

Holds each corpus of ``--corpora`` out in turn (default EMODB, RAVDESS actors 1-4, TUREVDB) and
trains on the others. Modes:

- ``main``: three systems on the same split of every fold (same seed, same train / validation /
  test rows): the speaker CCT from scratch (configs/scratch), the plain CCT with the same recipe,
  and the eGeMAPS + SVM baseline (``--model egemaps_svm``; skipped with a message where this
  checkout does not have it), with ``--validation corpus`` by default (what the split stage's
  default, ``auto``, does with two or more training corpora). Reports the UAR of each held-out
  corpus with its bootstrap 95% CI, the mean over corpora, and paired comparisons (paired
  bootstrap on the same test rows). With ``--images pad_short`` or ``--augmentation GROUP`` the
  CCTs are also compared with the same recipe without that lever (runs of the plain main mode).
- ``validation``: the main comparison once per ``--validation`` choice (``speakers``, ``corpus``,
  ``none``), then the choices side by side (``validation_report.md``): training rows, mean validation
  UAR beside mean held-out UAR, and paired differences between the choices on the same test rows.
- ``ablation``: the speaker CCT with one lever switched on at a time (SpecAugment, mixup, no
  label smoothing, word-length time crops, log-mel mean normalisation, short utterances padded to
  3 s, per-corpus / per-speaker speaker-vector
  standardisation, a smaller or a larger model, an offline augmentation group). Each lever is
  judged on VALIDATION rows only (``--ablation_validation corpus`` by default: a whole training
  corpus validates, the honest choice across corpora). The held-out UAR is reported beside it,
  never used to choose.

Class set: the classes the three corpora share, anger, happy and sad (``--classes``). TurEV-DB
has no neutral class, and its calm is not RAVDESS's neutral; merging them would be a guess, so
calm and neutral are left out (chance UAR 1/3).

    python benchmarks/bench_loco.py --quick                     # smoke run, a few minutes
    python benchmarks/bench_loco.py --mode main                 # about 20 minutes on two cores
    python benchmarks/bench_loco.py --mode validation           # about an hour on two cores
    python benchmarks/bench_loco.py --mode ablation             # 6-30 minutes per lever on two cores
    python benchmarks/bench_loco.py                             # main and ablation
    python benchmarks/bench_loco.py --mode main --jobs 2        # two trainings at once, a core each
    python benchmarks/bench_loco.py --mode main --images pad_short --jobs 2   # padded images, 10 minutes

Everything goes to ``--workdir`` (default output/bench_loco); a re-run skips finished imports,
images, embeddings, splits, trainings and evaluations. Results: ``<workdir>/<mode>_results.csv``
and ``<workdir>/<mode>_report.md`` (the main mode's named after its validation choice:
``main-corpus_report.md``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from specct import paths

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SPECCT_SHARED", REPO_ROOT.parent / "shared")) / "corpora"
DEFAULT_CORPORA = ("EMODB", "RAVDESS", "TUREVDB")
DEFAULT_SOURCES = {"EMODB": SHARED / "emodb" / "wav", "RAVDESS": SHARED / "ravdess" / "wav",
                   "TUREVDB": SHARED / "turevdb"}
SHARED_CLASSES = ("anger", "happy", "sad")
SPEAKER_MODEL, PLAIN_MODEL, BASELINE_MODEL = "speaker_vgg_cct_7_7x2_112", "cct_7_7x2_112", "egemaps_svm"
SYSTEMS = {"speaker_cct": SPEAKER_MODEL, "plain_cct": PLAIN_MODEL, "egemaps_svm": BASELINE_MODEL}
VALIDATION_CHOICES = ("speakers", "corpus", "none")


@dataclass(frozen=True)
class Lever:
    """One ablation arm: train.py flags, and the image variant / augmentation group it needs."""
    name: str
    flags: tuple[str, ...] = ()
    images: str = "plain"           # a key of IMAGE_VARIANTS
    augmentation: str = "no_aug"
    note: str = ""


# Spectrogram settings of each image variant (beside the image size). 3 s is fixed beforehand, a common
# segment length in speech emotion work; it is not chosen on any corpus of this benchmark.
PAD_SECONDS = 3.0
IMAGE_VARIANTS = {"plain": {}, "mean_norm": {"mean_norm": True}, "pad_short": {"min_seconds": PAD_SECONDS}}

KEEP_MARGIN = 0.02              # a lever is kept when it beats the base's validation UAR by this much


def is_kept(gain: float) -> bool:
    """The ablation's rule on a validation UAR gain over the base (a hair of float slack at the margin)."""
    return gain >= KEEP_MARGIN - 1e-9


# The ablation's base is the scratch recipe as it was before the ablation: SpecAugment, which the
# ablation switched on in configs/scratch, is off again, so every lever is measured against one base.
ABLATION_BASE_FLAGS = ("--specaugment_time_masks", "0", "--specaugment_freq_masks", "0")

LEVERS = {lever.name: lever for lever in (
    Lever("base", note="configs/scratch recipe without SpecAugment"),
    Lever("specaugment", ("--specaugment_time_masks", "2", "--specaugment_freq_masks", "2"),
          note="2 time + 2 frequency masks, each up to 10% of the axis"),
    Lever("mixup", ("--mixup", "0.2"), note="mixup alpha 0.2 (speaker vectors mixed alike)"),
    Lever("no_smoothing", ("--smoothing", "0"), note="label smoothing 0.1 -> 0"),
    Lever("mean_norm", images="mean_norm", note="per-utterance, per-band mean normalisation of the log-mel"),
    Lever("word_crops", ("--time_crop_prob", "0.5"),
          note="half the training images replaced by 25-50% of their time axis stretched to the width"),
    Lever("pad_short", images="pad_short",
          note=f"utterances shorter than {PAD_SECONDS:g} s padded with silence (one time scale), not stretched"),
    Lever("speaker_norm_corpus", ("--speaker_norm", "corpus"),
          note="speaker vectors standardised per corpus (TRANSDUCTIVE on the test corpus)"),
    Lever("speaker_norm_speaker", ("--speaker_norm", "speaker"),
          note="speaker vectors standardised per speaker (TRANSDUCTIVE on the test speakers)"),
    Lever("smaller", ("--model_kwargs", "depth=4", "attn_drop_rate=0"), note="4 transformer blocks instead of 7"),
    Lever("larger", ("--model_kwargs", "depth=10", "attn_drop_rate=0"), note="10 transformer blocks instead of 7"),
    Lever("freq_aug", augmentation="freq_aug", note="offline frequency augmentations of the training speakers"),
    Lever("time_aug", augmentation="time_aug",
          note="offline time and level augmentations (loud, noise, speed, shift, norm, mask) of the training speakers"),
    Lever("time_freq_aug", augmentation="time_freq_aug", note="every offline augmentation of the training speakers"),
)}


@dataclass
class Settings:
    workdir: Path
    corpora: list[str]
    sources: dict[str, Path]
    classes: tuple[str, ...]
    image_size: int
    epochs: int
    validation: str
    ablation_validation: str
    augmentation: str
    seed: int
    bootstrap: int
    levers: list[str]
    mode: str = "both"
    jobs: int = 1                   # CCT trainings at once, each with its share of the cores
    quick: bool = False
    files_per_group: int = 0        # quick: keep this many wavs per corpus, speaker and emotion
    extra_train_flags: list[str] = field(default_factory=list)
    images: str = "plain"           # image variant of the main comparison (a key of IMAGE_VARIANTS)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --------------------------------------------------------------------------- data stages

def canonical(name: str) -> str | None:
    from specct.corpora import UnknownCorpusError, canonical_corpus_name

    try:
        return canonical_corpus_name(name)
    except UnknownCorpusError:
        return None


def import_corpora(s: Settings) -> list[str]:
    """Import each corpus once into <workdir>/imported; returns the corpora available."""
    from specct.corpora import CorpusError
    from specct.prepare import import_corpus

    root = s.workdir / "imported"
    ready = []
    for name in s.corpora:
        corpus = canonical(name)
        if corpus is None:
            log(f"{name}: no importer in this checkout (the corpus importer may not be merged yet): skipped")
            continue
        if paths.wav_dir(root, corpus).is_dir() and any(paths.wav_dir(root, corpus).glob("*.wav")):
            ready.append(corpus)
            continue
        source = s.sources.get(corpus, s.sources.get(name.upper()))
        if source is None or not Path(source).exists():
            log(f"{corpus}: source folder {source} not found (pass --sources {corpus}=PATH): skipped")
            continue
        log(f"importing {corpus} from {source}")
        for folder in [Path(source), *sorted(p for p in Path(source).iterdir() if p.is_dir())]:
            try:   # the corpus folder, or the one folder inside it that the importer expects
                import_corpus(corpus, folder, root, progress=False)
                ready.append(corpus)
                break
            except CorpusError as exc:
                reason = exc
        else:
            log(f"{corpus}: import failed ({reason}): skipped")
    return ready


def link_corpora(s: Settings, corpora: list[str], variant: str) -> Path:
    """A datasets folder for one image variant: its own image folders, the imported wavs linked (all
    of them, or with --quick a few per speaker and emotion) and the speaker vectors shared."""
    from specct.naming import parse_name

    root = s.workdir / ("datasets_quick" if s.quick else "datasets") / variant
    for corpus in corpora:
        wav_dir = paths.wav_dir(root, corpus)
        if wav_dir.exists():
            continue
        source = paths.wav_dir(s.workdir / "imported", corpus).resolve()
        paths.corpus_dir(root, corpus).mkdir(parents=True, exist_ok=True)
        if not s.files_per_group:
            wav_dir.symlink_to(source, target_is_directory=True)
            continue
        tmp = wav_dir.with_name(wav_dir.name + ".partial")
        tmp.mkdir(exist_ok=True)
        kept: dict[tuple[str, str], int] = {}
        for wav in sorted(source.glob("*.wav")):
            name = parse_name(wav)
            key = (name.speaker, name.emotion)
            if name.emotion in s.classes and kept.get(key, 0) < s.files_per_group:
                kept[key] = kept.get(key, 0) + 1
                (tmp / wav.name).symlink_to(wav)
        tmp.rename(wav_dir)
    return root


def share_speaker_vectors(source_root: Path, root: Path, corpora: list[str]) -> None:
    """Image variants reuse the speaker vectors of the plain variant (same wavs)."""
    for corpus in corpora:
        target = paths.speaker_dir(root, corpus)
        if not target.exists():
            target.symlink_to(paths.speaker_dir(source_root, corpus).resolve(), target_is_directory=True)


def prepare_datasets(s: Settings, corpora: list[str], variants: set[str], augmentations: set[str]) -> dict[str, Path]:
    """Images (and the augmented images of the groups asked for) and speaker vectors of every variant."""
    from specct.images import preprocess_corpora
    from specct.speaker import embed_corpora
    from specct.spectrogram import SpectrogramConfig

    roots = {}
    augs = sorted(a for a in augmentations if a != "no_aug") or ["none"]
    for variant in ["plain", *sorted(variants - {"plain"})]:
        root = link_corpora(s, corpora, variant)
        cfg = SpectrogramConfig(size=(s.image_size, s.image_size), **IMAGE_VARIANTS[variant])
        log(f"spectrogram images ({variant}, {s.image_size} px, augmentations: {' '.join(augs)})")
        preprocess_corpora(root, datasets=corpora, augmentations=augs, config=cfg, workers=min(2, os.cpu_count() or 1),
                           seed=s.seed, progress=False)
        if variant == "plain":
            log("speaker vectors")
            embed_corpora(root, datasets=corpora, progress=False)
        else:
            share_speaker_vectors(roots["plain"], root, corpora)
        roots[variant] = root
    return roots


def make_split(s: Settings, datasets: Path, variant: str, held_out: str, corpora: list[str], validation: str,
               augmentation: str = "no_aug") -> Path:
    """The fold's split folder (made once; every system of the fold uses it)."""
    from specct.splits import SplitOptions, check_recorded_choices, run_split_stage

    opts = SplitOptions(eval_dataset=held_out, classes=",".join(s.classes), augmentation=augmentation,
                        validation=validation, train_datasets=[c for c in corpora if c != held_out], seed=s.seed,
                        datasets_dir=str(datasets), output_dir=str(s.workdir / "data" / f"{variant}-{validation}"),
                        n_components=64 if s.quick else 256)
    from specct.labels import class_set_name

    split = paths.split_dir(opts.output_dir, held_out, class_set_name(classes=opts.classes), augmentation,
                            opts.balanced)
    if (paths.train_data_dir(split) / "train.csv").is_file():
        check_recorded_choices(split, opts)
        return split
    return run_split_stage(opts)[0].out_dir


# --------------------------------------------------------------------------- training and evaluation

def config_for(model: str) -> str:
    from specct.pipeline import scratch_config

    return str(scratch_config(model))


def run_name(s: Settings, system: str, model: str) -> str:
    """A CCT's run folder is named after its recipe (scratch config and extra flags), so a changed
    recipe trains anew instead of reusing a finished run of the old one."""
    if system == "egemaps_svm":
        return system
    recipe = Path(config_for(model)).read_bytes() + " ".join(train_flags(s)).encode()
    return f"{system}-{hashlib.sha1(recipe).hexdigest()[:8]}"


def train_flags(s: Settings) -> list[str]:
    flags = ["--input_size", "3", str(s.image_size), str(s.image_size), "--epochs", str(s.epochs),
             "--seed", str(s.seed), "--no_progress"]
    if s.quick:
        flags += ["--max_steps", "2"]
    return flags + list(s.extra_train_flags)


def run_cct(s: Settings, split: Path, model: str, out_dir: Path, extra: tuple[str, ...] = ()) -> dict:
    """Train (or resume, or skip when finished) and evaluate one CCT; returns performance and history."""
    from specct.evaluate import PERFORMANCE_NAME, evaluate
    from specct.loco import training_finished
    from specct.train import parse_args, train

    test_dir = out_dir / "test"
    args = parse_args([str(paths.train_data_dir(split)), "-c", config_for(model), "--model", model,
                       "--experiment", str(out_dir), *train_flags(s), *extra])
    if not (test_dir / PERFORMANCE_NAME).is_file():
        if not training_finished(out_dir, args):
            if (out_dir / "last.pth.tar").is_file():
                args.resume = "auto"
            train(args)
        evaluate(out_dir, output=test_dir, bootstrap=s.bootstrap, seed=s.seed, progress=False)
    return read_result(out_dir, test_dir)


@dataclass(frozen=True)
class CctJob:
    """One CCT to train and evaluate: its split, model, run folder, extra train.py flags, and its name
    in the log."""
    split: Path
    model: str
    out_dir: Path
    extra: tuple[str, ...] = ()
    label: str = ""


def _start_worker(threads: int) -> None:
    import torch

    os.environ["OMP_NUM_THREADS"] = str(threads)    # evaluation's thread default reads it
    torch.set_num_threads(threads)


def _run_job_logged(s: Settings, job: CctJob) -> dict:
    """A worker's job, its training output in <run>/bench.log, line by line (two trainings at once would
    interleave)."""
    import contextlib

    job.out_dir.mkdir(parents=True, exist_ok=True)
    with open(job.out_dir / "bench.log", "a", buffering=1) as out, contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(out):
        return run_cct(s, job.split, job.model, job.out_dir, job.extra)


def run_ccts(s: Settings, jobs: list[CctJob]) -> list[dict]:
    """Every job's result, in order. With ``--jobs N`` N trainings run at once, each with 1/N of the
    cores: batch-8 steps of these small models leave two threads of one process partly idle (two
    one-thread trainings did 1.23-1.29x the samples/s of one two-thread training on a 2-core host:
    benchmarks/bench_jobs.py), and the runs, seeded and resumable, do not depend on what runs beside
    them."""
    def done(job: CctJob, result: dict, elapsed: str) -> None:
        perf = result["performance"]
        low, high = perf["confidence_interval_95"]["uar"]
        log(f"{job.label or job.out_dir}: UAR {perf['uar']:.3f} [{low:.3f}-{high:.3f}], best validation UAR "
            f"{result['val_uar']:.3f} ({elapsed})")

    if s.jobs <= 1:
        results = []
        for job in jobs:
            started = time.perf_counter()
            results.append(run_cct(s, job.split, job.model, job.out_dir, job.extra))
            done(job, results[-1], f"{time.perf_counter() - started:.0f} s")
        return results
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from specct.threads import available_cores

    threads = max(1, available_cores() // s.jobs)
    log(f"{len(jobs)} trainings, {s.jobs} at once with {threads} thread(s) each; each one's output in "
        f"<run folder>/bench.log")
    started = time.perf_counter()
    with ProcessPoolExecutor(s.jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
                             initargs=(threads,)) as pool:
        futures = [pool.submit(_run_job_logged, s, job) for job in jobs]
        results = []
        for job, future in zip(jobs, futures):
            results.append(future.result())
            done(job, results[-1], f"{time.perf_counter() - started:.0f} s since the trainings began")
    return results


def run_baseline(s: Settings, datasets: Path, split: Path, corpora: list[str], out_dir: Path) -> dict | None:
    """eGeMAPS + SVM through the same scripts a user runs; None (with a message) where unavailable."""
    from specct.evaluate import PERFORMANCE_NAME

    test_dir = out_dir / "test"
    if (test_dir / PERFORMANCE_NAME).is_file():
        return read_result(out_dir, test_dir)
    features = REPO_ROOT / "preprocess_features.py"
    if not features.is_file():
        log("eGeMAPS + SVM baseline: preprocess_features.py is not in this checkout (baselines not merged yet): "
            "skipped")
        return None
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    commands = [
        [sys.executable, str(features), "--features", "egemaps", "--datasets_dir", str(datasets),
         "--datasets", *corpora],
        [sys.executable, str(REPO_ROOT / "train.py"), str(paths.train_data_dir(split)), "--model", BASELINE_MODEL,
         "--experiment", str(out_dir), "--seed", str(s.seed),
         # without validation rows nothing chooses C: scikit-learn's default, stated in the report
         *(["--svm_c", "1.0"] if s.validation == "none" else [])],
        [sys.executable, str(REPO_ROOT / "eval.py"), str(out_dir), "--output", str(test_dir),
         "--bootstrap", str(s.bootstrap), "--seed", str(s.seed)],
    ]
    for command in commands:
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            reason = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            log(f"eGeMAPS + SVM baseline: {Path(command[1]).name} failed ({reason[0]}): skipped")
            return None
    return read_result(out_dir, test_dir)


def read_result(out_dir: Path, test_dir: Path) -> dict:
    import yaml

    from specct.evaluate import PERFORMANCE_NAME, PREDICTIONS_NAME

    performance = yaml.safe_load((test_dir / PERFORMANCE_NAME).read_text())
    predictions = pd.read_csv(test_dir / PREDICTIONS_NAME)
    summary_path = out_dir / "summary.csv"
    summary = pd.read_csv(summary_path) if summary_path.is_file() else pd.DataFrame()
    best_val = float(summary["val_uar"].max()) if "val_uar" in summary and summary["val_uar"].notna().any() \
        else float("nan")
    return {"performance": performance, "predictions": predictions, "val_uar": best_val}


# --------------------------------------------------------------------------- comparisons

def aligned(a: pd.DataFrame, b: pd.DataFrame, classes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Truth and both systems' predictions on the same test rows (matched by the source wav's file name,
    which names its corpus and speaker: each image variant links the wavs from its own folder)."""
    index = {name: i for i, name in enumerate(classes)}
    a, b = (x.assign(wav=x["wav"].map(lambda path: Path(path).name)) for x in (a, b))
    merged = a[["wav", "truth", "prediction"]].merge(b[["wav", "prediction"]], on="wav", suffixes=("_a", "_b"))
    if len(merged) != len(a) or len(merged) != len(b):
        raise ValueError(f"the two systems were tested on different rows ({len(a)} / {len(b)} / {len(merged)} shared)")
    return (merged["truth"].map(index).to_numpy(), merged["prediction_a"].map(index).to_numpy(),
            merged["prediction_b"].map(index).to_numpy())


def compare(results: dict[str, dict[str, dict]], a: str, b: str, classes, s: Settings) -> pd.DataFrame:
    """Paired bootstrap of UAR(a) - UAR(b) per held-out corpus, and of the mean over corpora (rows
    resampled within each corpus, the same draws for both systems): specct.compare."""
    from specct.compare import paired_bootstrap, stratified_paired

    rows, groups = [], []
    for i, held_out in enumerate(sorted(results)):
        if a not in results[held_out] or b not in results[held_out]:
            continue
        group = aligned(results[held_out][a]["predictions"], results[held_out][b]["predictions"], classes)
        groups.append(group)
        r = paired_bootstrap(*group, resamples=s.bootstrap, seed=s.seed + i)
        rows.append({"comparison": f"{a} - {b}", "held_out": held_out, "n": r.n, "difference": r.difference,
                     "ci_low": r.low, "ci_high": r.high, "p_value": r.p_value})
    if len(groups) > 1:
        r = stratified_paired(groups, resamples=s.bootstrap, seed=s.seed)
        rows.append({"comparison": f"{a} - {b}", "held_out": "mean", "n": r.n, "difference": r.difference,
                     "ci_low": r.low, "ci_high": r.high, "p_value": r.p_value})
    return pd.DataFrame(rows)


def mean_with_ci(results: dict[str, dict[str, dict]], system: str, classes, s: Settings) -> tuple[float, float, float]:
    """Mean UAR over held-out corpora, its interval from resampling rows within each corpus."""
    from specct.compare import stratified_uar

    groups = []
    for held_out in sorted(results):
        if system not in results[held_out]:
            return float("nan"), float("nan"), float("nan")
        p = results[held_out][system]["predictions"]
        groups.append((p["truth"].astype(str).to_numpy(), p["prediction"].astype(str).to_numpy()))
    interval = stratified_uar(groups, resamples=s.bootstrap, seed=s.seed)
    return interval.value, interval.low, interval.high


# --------------------------------------------------------------------------- modes

def main_name(s: Settings) -> str:
    """Run and report name of the main comparison: its validation choice, its image variant unless
    plain, its augmentation group unless none, and the train.py flags added to the recipe (so the
    runs of the reports made before those options existed are reused, and a run with added flags
    does not overwrite the report without them)."""
    flags = "_".join(flag.lstrip("-") for flag in s.extra_train_flags)
    return (f"main-{s.validation}" + ("" if s.images == "plain" else f"-{s.images}")
            + ("" if s.augmentation == "no_aug" else f"-{s.augmentation}") + (f"-{flags}" if flags else ""))


def main_mode(s: Settings, corpora: list[str], roots: dict[str, Path]) -> tuple[str, dict[str, dict[str, dict]]]:
    results: dict[str, dict[str, dict]] = {held_out: {} for held_out in corpora}
    jobs: dict[tuple[str, str], CctJob] = {}
    for held_out in corpora:
        log(f"=== main, fold: test on {held_out}, train on {' '.join(c for c in corpora if c != held_out)}")
        split = make_split(s, roots[s.images], s.images, held_out, corpora, s.validation, s.augmentation)
        for system, model in SYSTEMS.items():
            out_dir = s.workdir / "runs" / main_name(s) / run_name(s, system, model) / held_out
            if system != "egemaps_svm":
                jobs[(held_out, system)] = CctJob(split, model, out_dir, label=f"{system} on {held_out}")
                continue
            started = time.perf_counter()
            # the SVM reads the source wavs, not the images: the plain variant's split has the same rows
            svm_split = split if s.images == "plain" else make_split(s, roots["plain"], "plain", held_out, corpora,
                                                                     s.validation, s.augmentation)
            result = run_baseline(s, roots["plain"], svm_split, corpora, out_dir)
            if result is not None:
                results[held_out][system] = result
                log(f"{system} on {held_out}: UAR {result['performance']['uar']:.3f} "
                    f"({time.perf_counter() - started:.0f} s)")
    for (held_out, system), result in zip(jobs, run_ccts(s, list(jobs.values()))):
        results[held_out][system] = result
    results = {held_out: {system: fold[system] for system in SYSTEMS if system in fold}
               for held_out, fold in results.items()}
    classes = list(s.classes)
    table = []
    for held_out in corpora:
        for system, result in results[held_out].items():
            perf = result["performance"]
            low, high = perf["confidence_interval_95"]["uar"]
            table.append({"system": system, "held_out": held_out, "n": perf["samples"], "uar": perf["uar"],
                          "uar_ci_low": low, "uar_ci_high": high, "accuracy": perf["accuracy"],
                          "macro_f1": perf["macro"]["f1"], "best_val_uar": result["val_uar"]})
    table = pd.DataFrame(table)
    comparisons = pd.concat([compare(results, "speaker_cct", other, classes, s)
                             for other in ("plain_cct", "egemaps_svm")], ignore_index=True)
    table.to_csv(s.workdir / f"{main_name(s)}_results.csv", index=False)
    comparisons.to_csv(s.workdir / f"{main_name(s)}_comparisons.csv", index=False)
    lines = [f"Leave-one-corpus-out, classes {', '.join(classes)} (chance UAR {1 / len(classes):.2f}), "
             f"{s.image_size} px, {s.epochs} epochs, validation `{s.validation}`, images `{s.images}`, offline "
             f"augmentation `{s.augmentation}` (image models only; the SVM reads one row per source wav), "
             f"seed {s.seed}.", "",
             "| system | " + " | ".join(corpora) + " | mean (95% CI) |",
             "|---|" + "---:|" * (len(corpora) + 1)]
    for system in SYSTEMS:
        if table.empty or system not in set(table["system"]):
            lines.append(f"| {system} | " + " | ".join("skipped" for _ in corpora) + " | - |")
            continue
        cells = []
        for held_out in corpora:
            row = table[(table["system"] == system) & (table["held_out"] == held_out)].iloc[0]
            cells.append(f"{row.uar:.3f} ({row.uar_ci_low:.3f}-{row.uar_ci_high:.3f})")
        mean, low, high = mean_with_ci(results, system, classes, s)
        lines.append(f"| {system} | " + " | ".join(cells) + f" | {mean:.3f} ({low:.3f}-{high:.3f}) |")
    lines += comparison_lines(comparisons, "Paired bootstrap of the UAR difference on the same test rows:")
    lines += against_recipes_without_its_levers(s, corpora, results)
    return "\n".join(lines) + "\n", results


def against_recipes_without_its_levers(s: Settings, corpora: list[str], results: dict[str, dict[str, dict]]) -> list[str]:
    """The main comparison's CCTs against the same recipe without its added train.py flags, without
    its image variant, and without its offline group, for whichever of these this run has."""
    lines = []
    if s.extra_train_flags:
        flags = " ".join(s.extra_train_flags)
        lines += against_recipe_without(s, corpora, results, replace(s, extra_train_flags=[]), "no_added_flags",
                                        f"`{flags}`", "the recipe alone", f"`{flags}`")
    if s.images != "plain":
        lines += against_recipe_without(s, corpora, results, replace(s, images="plain"), "plain_images",
                                        f"images `{s.images}`", "plain images", "`--images`")
    if s.augmentation != "no_aug":
        lines += against_recipe_without(s, corpora, results, replace(s, augmentation="no_aug"), "no_aug",
                                        f"`{s.augmentation}`", "no offline group", "`--augmentation`")
    return lines


def against_recipe_without(s: Settings, corpora: list[str], results: dict[str, dict[str, dict]], without: Settings,
                           tag: str, lever: str, instead: str, option: str) -> list[str]:
    """Each CCT of this run against the same recipe without one of its levers (the main comparison run
    with ``without``'s settings, where its runs are finished in this workdir): mean best validation
    UAR, which is what may choose between them, beside the paired held-out difference on the same
    test rows, which is reported only. ``tag`` names the other runs' systems and the csv."""
    from specct.evaluate import PERFORMANCE_NAME

    merged = {held_out: dict(fold) for held_out, fold in results.items()}
    for held_out in corpora:
        for system, model in SYSTEMS.items():
            if system == "egemaps_svm":
                continue
            out_dir = s.workdir / "runs" / main_name(without) / run_name(without, system, model) / held_out
            if (out_dir / "test" / PERFORMANCE_NAME).is_file():
                merged[held_out][f"{system}@{tag}"] = read_result(out_dir, out_dir / "test")
    systems = [x for x in SYSTEMS if all(f"{x}@{tag}" in merged[h] and x in merged[h] for h in corpora)]
    if not systems:
        return ["", (f"No finished run with {instead} in this workdir "
                     f"(`--mode main` without {option}) to compare {lever} with.")]
    comparisons = pd.concat([compare(merged, x, f"{x}@{tag}", list(s.classes), s) for x in systems],
                            ignore_index=True)
    comparisons.to_csv(s.workdir / f"{main_name(s)}_vs_{tag}.csv", index=False)
    lines = ["", f"{lever} against {instead}, same recipe otherwise (runs of `{main_name(without)}`):",
             "", "| system | mean best validation UAR, with / without | mean held-out UAR, with / without |",
             "|---|---:|---:|"]
    for x in systems:
        val = [np.mean([merged[h][key]["val_uar"] for h in corpora]) for key in (x, f"{x}@{tag}")]
        held = [np.mean([merged[h][key]["performance"]["uar"] for h in corpora]) for key in (x, f"{x}@{tag}")]
        lines.append(f"| {x} | {val[0]:.3f} / {val[1]:.3f} | {held[0]:.3f} / {held[1]:.3f} |")
    return lines + comparison_lines(comparisons, "Paired bootstrap of the held-out UAR difference (reported, not "
                                                 "used to choose), same test rows:")


def comparison_lines(comparisons: pd.DataFrame, title: str) -> list[str]:
    """The markdown table of paired comparisons (rows of ``compare``), under ``title``."""
    lines = ["", title, "", "| comparison | held-out | difference | 95% CI | p |", "|---|---|---:|---:|---:|"]
    for row in comparisons.itertuples():
        lines.append(f"| {row.comparison} | {row.held_out} | {row.difference:+.3f} | "
                     f"{row.ci_low:+.3f} to {row.ci_high:+.3f} | {row.p_value:.3f} |")
    return lines


def validation_mode(s: Settings, corpora: list[str], roots: dict[str, Path]) -> list[tuple[str, str]]:
    """The main comparison under each validation choice, then the choices side by side: training rows,
    validation UAR beside held-out UAR (how well each choice's validation predicts an unseen corpus),
    and paired differences between the choices on the same test rows."""
    reports, merged, train_rows = [], {}, {}
    for choice in VALIDATION_CHOICES:
        sc = replace(s, validation=choice)
        text, results = main_mode(sc, corpora, roots)
        reports.append((main_name(sc), text))
        for held_out, fold in results.items():
            merged.setdefault(held_out, {}).update({f"{system}@{choice}": r for system, r in fold.items()})
            split = make_split(sc, roots[s.images], s.images, held_out, corpora, choice, s.augmentation)
            train_rows[(choice, held_out)] = len(pd.read_csv(paths.train_data_dir(split) / "train.csv"))
    classes = list(s.classes)
    lines = [f"Validation choices side by side: leave-one-corpus-out, classes {', '.join(classes)}, "
             f"{s.image_size} px, {s.epochs} epochs, seed {s.seed}. Training rows per fold: "
             + "; ".join(f"`{c}` " + " / ".join(str(train_rows[(c, h)]) for h in corpora) for c in VALIDATION_CHOICES)
             + f" ({' / '.join(corpora)} held out).", "",
             "| system | validation | mean best validation UAR | mean held-out UAR (95% CI) | validation - held-out |",
             "|---|---|---:|---:|---:|"]
    rows = []
    for system in SYSTEMS:
        for choice in VALIDATION_CHOICES:
            key = f"{system}@{choice}"
            if not all(key in merged[h] for h in corpora):
                continue
            val = float(np.mean([merged[h][key]["val_uar"] for h in corpora]))
            mean, low, high = mean_with_ci(merged, key, classes, s)
            rows.append({"system": system, "validation": choice, "mean_val_uar": val, "mean_held_out_uar": mean,
                         "ci_low": low, "ci_high": high})
            gap = "-" if np.isnan(val) else f"{val - mean:+.3f}"
            lines.append(f"| {system} | {choice} | {'-' if np.isnan(val) else f'{val:.3f}'} | "
                         f"{mean:.3f} ({low:.3f}-{high:.3f}) | {gap} |")
    pairs = (("corpus", "speakers"), ("none", "speakers"), ("none", "corpus"))
    comparisons = pd.concat([compare(merged, f"{system}@{a}", f"{system}@{b}", classes, s)
                             for system in ("speaker_cct", "plain_cct") for a, b in pairs], ignore_index=True)
    pd.DataFrame(rows).to_csv(s.workdir / "validation_results.csv", index=False)
    comparisons.to_csv(s.workdir / "validation_comparisons.csv", index=False)
    lines += comparison_lines(comparisons, "Paired bootstrap of the held-out UAR difference between validation "
                                           "choices, same test rows:")
    return reports + [("validation", "\n".join(lines) + "\n")]


def ablation_settings(s: Settings) -> dict:
    """What makes two ablation rows comparable (rows of other settings are not merged into one table)."""
    return {"validation": s.ablation_validation, "image_size": s.image_size, "epochs": s.epochs, "seed": s.seed}


def with_earlier_levers(table: pd.DataFrame, results_csv: Path, s: Settings) -> pd.DataFrame:
    """``table`` (this invocation's ablation rows) with the rows of the other levers that an earlier
    invocation wrote to ``results_csv`` under the same settings, in the order of ``LEVERS``: one
    table grows lever by lever, and a lever run again replaces its old rows."""
    if not results_csv.is_file():
        return table
    earlier = pd.read_csv(results_csv)
    same = pd.Series(True, index=earlier.index)
    for key, value in ablation_settings(s).items():
        same &= (earlier[key].astype(str) == str(value)) if key in earlier else False
    earlier = earlier[same & ~earlier["lever"].isin(s.levers) & earlier["lever"].isin(list(LEVERS))]
    table = pd.concat([earlier, table], ignore_index=True)
    return table.sort_values("lever", key=lambda col: col.map(list(LEVERS).index), kind="stable")


def ablation_mode(s: Settings, corpora: list[str], roots: dict[str, Path]) -> str:
    if s.ablation_validation == "corpus" and len(corpora) < 3:
        log("ablation: --validation corpus needs two training corpora per fold; with two corpora in all, "
            "the levers are judged on validation speakers instead")
        s = replace(s, ablation_validation="speakers")
    arms, jobs = [], []
    for name in s.levers:
        lever = LEVERS[name]
        for held_out in corpora:
            split = make_split(s, roots[lever.images], lever.images, held_out, corpora, s.ablation_validation,
                               lever.augmentation)
            out_dir = s.workdir / "runs" / f"ablation-{s.ablation_validation}" / lever.name / held_out
            arms.append((lever, held_out))
            jobs.append(CctJob(split, SPEAKER_MODEL, out_dir, ABLATION_BASE_FLAGS + lever.flags,
                               label=f"ablation {lever.name} on {held_out}"))
    rows = [{"lever": lever.name, "held_out": held_out, "val_uar": result["val_uar"],
             "held_out_uar": result["performance"]["uar"], "note": lever.note, **ablation_settings(s)}
            for (lever, held_out), result in zip(arms, run_ccts(s, jobs))]
    results_csv = s.workdir / "ablation_results.csv"
    table = with_earlier_levers(pd.DataFrame(rows), results_csv, s)
    table.to_csv(results_csv, index=False)
    means = table.groupby("lever", sort=False)[["val_uar", "held_out_uar"]].mean()
    base = means.loc["base", "val_uar"] if "base" in means.index else float("nan")
    lines = [f"Ablation of the speaker CCT recipe, judged on validation rows (`--validation "
             f"{s.ablation_validation}`), {s.image_size} px, {s.epochs} epochs, seed {s.seed}. A lever is kept when "
             f"its mean validation UAR beats the base by at least {KEEP_MARGIN}; the held-out UAR is reported, "
             f"not used.", "",
             "| lever | what | mean validation UAR | vs base | kept | mean held-out UAR (reported only) |",
             "|---|---|---:|---:|---|---:|"]
    for lever, row in means.iterrows():
        delta = row.val_uar - base
        kept = "-" if lever == "base" else ("yes" if is_kept(delta) else "no")
        lines.append(f"| {lever} | {LEVERS[lever].note} | {row.val_uar:.3f} | {delta:+.3f} | {kept} | "
                     f"{row.held_out_uar:.3f} |")
    return "\n".join(lines + per_fold_lines(table)) + "\n"


def per_fold_lines(table: pd.DataFrame) -> list[str]:
    """Each fold's validation gain over the base. The mean above pools folds, and one fold's
    validation corpus can be another fold's test corpus; a fold's own gain is measured on its own
    validation corpus only, never on its test corpus, so the decision it gives is free of that."""
    gains = table.pivot_table(index="lever", columns="held_out", values="val_uar", sort=False)
    if "base" not in gains.index:
        return []
    gains = (gains - gains.loc["base"]).drop(index="base")
    folds = list(gains.columns)
    lines = ["", (f"Per fold, validation UAR gain over the base on the fold's own validation corpus (kept in a "
                  f"fold at >= {KEEP_MARGIN:+.2f}):"), "",
             "| lever | " + " | ".join(f"{h} held out" for h in folds) + " | kept in folds |",
             "|---|" + "---:|" * len(folds) + "---:|"]
    for lever, row in gains.iterrows():
        kept = sum(is_kept(gain) for gain in row)
        lines.append(f"| {lever} | " + " | ".join(f"{g:+.3f}" for g in row) + f" | {kept} of {len(folds)} |")
    return lines


def parse(argv=None) -> Settings:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--mode", choices=("main", "validation", "ablation", "both"), default="both",
                   help="validation: the main comparison under each --validation choice, side by side")
    p.add_argument("--workdir", default=str(REPO_ROOT / "output" / "bench_loco"))
    p.add_argument("--corpora", nargs="+", default=list(DEFAULT_CORPORA), help="corpora held out in turn")
    p.add_argument("--sources", nargs="*", default=[], metavar="CORPUS=PATH",
                   help="corpus folders as distributed (default: ../shared/corpora/<corpus>)")
    p.add_argument("--classes", nargs="+", default=list(SHARED_CLASSES), help="class set")
    p.add_argument("--image_size", type=int, choices=(32, 64, 112), default=64)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--validation", choices=VALIDATION_CHOICES, default="corpus",
                   help="validation rows of the main comparison (corpus: what the split stage's default, auto, "
                        "does with two or more training corpora)")
    p.add_argument("--augmentation", choices=("no_aug", "time_aug", "freq_aug", "time_freq_aug"), default="no_aug",
                   help="offline augmentation group of the main comparison's split (the ablation's levers set "
                        "their own)")
    p.add_argument("--images", choices=list(IMAGE_VARIANTS), default="plain",
                   help="image variant of the main comparison's CCTs (pad_short: utterances shorter than "
                        f"{PAD_SECONDS:g} s padded with silence; the ablation's levers set their own)")
    p.add_argument("--ablation_validation", choices=("speakers", "corpus"), default="corpus",
                   help="validation rows on which the levers are judged")
    p.add_argument("--levers", nargs="+", choices=list(LEVERS), default=list(LEVERS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=1,
                   help="CCT trainings at once, each with its share of the cores (2 on a 2-core host: about 1.25x "
                        "the throughput, benchmarks/bench_jobs.py; the results do not depend on it)")
    p.add_argument("--bootstrap", type=int, default=1000)
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 3 files per speaker and emotion, 32 px, 1 epoch of 2 steps, 100 resamples, "
                        "two levers")
    args, extra = p.parse_known_args(argv)
    sources = dict(DEFAULT_SOURCES)
    for item in args.sources:
        key, _, value = item.partition("=")
        sources[key.upper()] = Path(value)
    s = Settings(workdir=Path(args.workdir), corpora=[c.upper() for c in args.corpora], sources=sources,
                 classes=tuple(args.classes), image_size=args.image_size, epochs=args.epochs,
                 validation=args.validation, ablation_validation=args.ablation_validation,
                 augmentation=args.augmentation, seed=args.seed,
                 bootstrap=args.bootstrap, levers=["base", *[x for x in args.levers if x != "base"]],
                 mode=args.mode, jobs=args.jobs, extra_train_flags=extra, images=args.images)
    if args.quick:
        s = replace(s, quick=True, files_per_group=3, image_size=32, epochs=1, bootstrap=100,
                    workdir=Path(args.workdir) / "quick", levers=["base", "specaugment"])
    return s


def main(argv=None) -> int:
    s = parse(argv)
    started = time.perf_counter()
    s.workdir.mkdir(parents=True, exist_ok=True)
    corpora = import_corpora(s)
    if len(corpora) < 2:
        raise SystemExit(f"bench_loco: need at least two corpora, have {', '.join(corpora) or 'none'}")
    run_main, run_ablation = s.mode in ("main", "both"), s.mode in ("ablation", "both")
    levers = [LEVERS[n] for n in s.levers] if run_ablation else []
    augmentations = {lv.augmentation for lv in levers} | ({s.augmentation} if s.mode != "ablation" else set())
    variants = {"plain", *(lv.images for lv in levers)} | ({s.images} if s.mode != "ablation" else set())
    roots = prepare_datasets(s, corpora, variants, augmentations)
    reports = []
    if run_main:
        reports.append((main_name(s), main_mode(s, corpora, roots)[0]))
    if s.mode == "validation":
        reports += validation_mode(s, corpora, roots)
    if run_ablation:
        reports.append(("ablation", ablation_mode(s, corpora, roots)))
    minutes = (time.perf_counter() - started) / 60
    host = f"{os.cpu_count()} CPU(s) visible, load average {os.getloadavg()[0]:.1f} at the end"
    for mode, text in reports:
        text += f"\nRun of {time.strftime('%Y-%m-%d %H:%M')}: {minutes:.1f} min in all ({host}).\n"
        (s.workdir / f"{mode}_report.md").write_text(text)
        print(f"\n## {mode}\n\n{text}")
    print(json.dumps({"corpora": corpora, "minutes": round(minutes, 1), "workdir": str(s.workdir)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
