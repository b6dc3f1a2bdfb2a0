"""Leave-one-corpus-out benchmark of the training recipe for models without pretrained weights.

Each of ``--corpora`` held out in turn (EMODB, RAVDESS actors 1-4, TUREVDB; anger, happy, sad, the classes
they share). Importing the corpora and drawing the image variants are this script's; splits, trainings,
evaluations, tables and statistics are the engine's (:mod:`specct.loco` experiments under
``<workdir>/loco/``, :mod:`specct.compare`), one ``--seed`` for every split and training. Modes: ``main``
(speaker CCT, plain CCT, eGeMAPS + SVM on the same splits; with ``--images``, ``--augmentation`` or added
train.py flags also against the recipe without them; a speaker CCT job the ablation's recipe arm finished
with the same training is linked, not trained again), ``validation`` (main per ``--validation`` choice,
side by side), ``ablation`` (one lever at a time, kept on validation rows only: ``is_kept``).

    python benchmarks/bench_loco.py --quick                     # smoke run, a few minutes
    python benchmarks/bench_loco.py --mode main --jobs 2        # about 20 minutes on two cores
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import shutil
import sys
import time
from collections import namedtuple
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from specct import paths
from specct.compare import comparison_table, markdown_results, markdown_table
from specct.loco import (LocoOptions, SystemSpec, best_validation_uar, collect, finished_jobs, finished_runs,
                         held_out_predictions, held_out_uar, run_experiments)
from specct.job_lock import LOCK_NAME
from specct.loco.jobs import JOB_RECORD, job_splits, job_training_options, list_jobs
from specct.loco.split_folders import ensure_split
from specct.loco.sweeps import MARGIN, is_kept
from specct.naming import parse_name
from specct.pipeline import scratch_config
from specct.precision import DEFAULT_PRECISION, PRECISIONS, resolve as resolve_precision
from specct.train.options import given_flags

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SPECCT_SHARED", REPO_ROOT.parent / "shared")) / "corpora"
DEFAULT_CORPORA = ("EMODB", "RAVDESS", "TUREVDB")
DEFAULT_SOURCES = {"EMODB": SHARED / "emodb" / "wav", "RAVDESS": SHARED / "ravdess" / "wav",
                   "TUREVDB": SHARED / "turevdb"}
SHARED_CLASSES = ("anger", "happy", "sad")
SPEAKER_MODEL, PLAIN_MODEL, BASELINE_MODEL = "speaker_vgg_cct_7_7x2_112", "cct_7_7x2_112", "egemaps_svm"
SYSTEMS = {"speaker_cct": SPEAKER_MODEL, "plain_cct": PLAIN_MODEL, "egemaps_svm": BASELINE_MODEL}
CCTS = ("speaker_cct", "plain_cct")
VALIDATION_CHOICES = ("speakers", "corpus", "none")
# One ablation arm: train.py flags, the image variant / augmentation group it needs, and the arm it is
# judged against (the base, or for a lever tried on top of the recipe, the recipe's arm).
Lever = namedtuple("Lever", "name flags images augmentation note against",
                   defaults=((), "plain", "no_aug", "", "base"))
# Spectrogram settings of each image variant (beside the image size). 3 s is fixed beforehand, a common
# segment length in speech emotion work; it is not chosen on any corpus of this benchmark.
PAD_SECONDS = 3.0
IMAGE_VARIANTS = {"plain": {}, "mean_norm": {"mean_norm": True}, "pad_short": {"min_seconds": PAD_SECONDS}}
# a lever is kept when it beats the base's validation UAR by this much: the rule a study's sweep applies
KEEP_MARGIN = MARGIN


# The ablation's base is the scratch recipe as it was before the ablation: SpecAugment and mixup, which
# the ablation switched on in configs/scratch, are off again, so every lever is measured against one base.
ABLATION_BASE_FLAGS = ("--specaugment_time_masks", "0", "--specaugment_freq_masks", "0", "--mixup", "0")
SPECAUGMENT_FLAGS = ("--specaugment_time_masks", "2", "--specaugment_freq_masks", "2")   # as in configs/scratch
MIXUP_FLAGS = ("--mixup", "0.2")   # as in configs/scratch for the speaker and plain CCTs
RECIPE_FLAGS = (*SPECAUGMENT_FLAGS, *MIXUP_FLAGS)   # the scratch CCTs' recipe: SpecAugment and mixup
LEVERS = {lever.name: lever for lever in (
    Lever("base", note="configs/scratch recipe without SpecAugment and mixup"),
    Lever("specaugment", SPECAUGMENT_FLAGS, note="2 time + 2 frequency masks, each up to 10% of the axis"),
    Lever("mixup", MIXUP_FLAGS, note="mixup alpha 0.2 (speaker vectors mixed alike)"),
    # levers kept on three seeds, tried on top of SpecAugment (judged against `specaugment`)
    Lever("specaugment_mixup", RECIPE_FLAGS,
          note="SpecAugment and mixup alpha 0.2 (the recipe)", against="specaugment"),
    Lever("specaugment_pad_short", SPECAUGMENT_FLAGS, images="pad_short",
          note=f"SpecAugment, utterances under {PAD_SECONDS:g} s padded", against="specaugment"),
    # kept on three seeds after mixup joined the recipe: tried on top of it (judged against `specaugment_mixup`)
    Lever("specaugment_mixup_smaller", (*RECIPE_FLAGS, "--model_kwargs", "depth=4", "attn_drop_rate=0"),
          note="the recipe (SpecAugment and mixup) with 4 transformer blocks instead of 7",
          against="specaugment_mixup"),
    Lever("specaugment_mixup_word_crops", (*RECIPE_FLAGS, "--time_crop_prob", "0.5"),
          note="the recipe (SpecAugment and mixup) with word-length crops of half the images",
          against="specaugment_mixup"),
    Lever("specaugment_mixup_mean_norm", RECIPE_FLAGS, images="mean_norm",
          note="the recipe (SpecAugment and mixup) on per-band mean-normalised log-mel images",
          against="specaugment_mixup"),
    Lever("specaugment_mixup_freq_aug", RECIPE_FLAGS, augmentation="freq_aug",
          note="the recipe (SpecAugment and mixup) with the offline frequency augmentations",
          against="specaugment_mixup"),
    Lever("specaugment_mixup_time_aug", RECIPE_FLAGS, augmentation="time_aug",
          note="the recipe (SpecAugment and mixup) with the offline time and level augmentations",
          against="specaugment_mixup"),
    # the README's scratch workflow splits with this group (kept on the recipe, and over `time_aug` there)
    Lever("specaugment_mixup_time_freq_aug", RECIPE_FLAGS, augmentation="time_freq_aug",
          note="the recipe (SpecAugment and mixup) with every offline augmentation",
          against="specaugment_mixup"),
    Lever("no_smoothing", ("--smoothing", "0"), note="label smoothing 0.1 -> 0"),
    Lever("mean_norm", images="mean_norm", note="per-utterance, per-band mean normalisation of the log-mel"),
    Lever("word_crops", ("--time_crop_prob", "0.5"), note="half the images: 25-50% of their time axis, stretched"),
    Lever("pad_short", images="pad_short", note=f"utterances under {PAD_SECONDS:g} s padded, not stretched"),
    Lever("speaker_norm_corpus", ("--speaker_norm", "corpus"), note="speaker vectors per corpus (TRANSDUCTIVE)"),
    Lever("speaker_norm_speaker", ("--speaker_norm", "speaker"), note="speaker vectors per speaker (TRANSDUCTIVE)"),
    Lever("smaller", ("--model_kwargs", "depth=4", "attn_drop_rate=0"), note="4 transformer blocks instead of 7"),
    Lever("larger", ("--model_kwargs", "depth=10", "attn_drop_rate=0"), note="10 transformer blocks instead of 7"),
    Lever("dann", ("--domain_adversarial", "1"), note="domain-adversarial corpus head, weight ramped to 1 (inductive)"),
    Lever("dann_transductive", ("--domain_adversarial", "1", "--domain_adversarial_variant", "transductive"),
          note="domain-adversarial, the held-out corpus's unlabelled audio one more domain (TRANSDUCTIVE)"),
    Lever("balance_corpora", ("--balance_corpora", "corpora"), note="batches drawing the training corpora evenly"),
    Lever("input_norm_corpus", ("--input_norm", "corpus"),
          note="log-mel images standardised per corpus, the held-out one by its own statistics (TRANSDUCTIVE)"),
    Lever("freq_aug", augmentation="freq_aug", note="offline frequency augmentations of the training speakers"),
    Lever("time_aug", augmentation="time_aug", note="offline time and level augmentations (loud, noise, speed, ...)"),
    Lever("time_freq_aug", augmentation="time_freq_aug", note="every offline augmentation of the training speakers"),
)}


def replace(s: argparse.Namespace, **changes) -> argparse.Namespace:   # the settings, some changed
    return argparse.Namespace(**{**vars(s), **changes})


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def import_corpora(s) -> list[str]:
    """Import each corpus once into <workdir>/imported; the ones that cannot be are skipped, saying why."""
    from specct.prepare import import_once
    reasons = {name: import_once(name, s.sources.get(name), s.workdir / "imported", progress=False)
               for name in s.corpora}
    for name, reason in reasons.items():
        if reason:
            log(f"{name}: {reason} (pass --sources {name}=PATH): skipped")
    return [name for name, reason in reasons.items() if not reason]


def link_corpora(s, variant: str) -> Path:
    """One image variant's datasets folder, the imported wavs linked (all, or with --quick a few)."""
    root = s.datasets / variant
    for corpus in s.corpora:
        wav_dir, source = paths.wav_dir(root, corpus), paths.wav_dir(s.workdir / "imported", corpus).resolve()
        if wav_dir.exists():
            continue
        paths.corpus_dir(root, corpus).mkdir(parents=True, exist_ok=True)
        if not s.files_per_group:
            wav_dir.symlink_to(source, target_is_directory=True)
            continue
        tmp, kept = wav_dir.with_name(wav_dir.name + ".partial"), {}
        tmp.mkdir(exist_ok=True)
        for wav in sorted(source.glob("*.wav")):
            key = (parse_name(wav).speaker, parse_name(wav).emotion)
            if key[1] in s.classes and kept.get(key, 0) < s.files_per_group and not (tmp / wav.name).exists():
                kept[key] = kept.get(key, 0) + 1
                (tmp / wav.name).symlink_to(wav)
        tmp.rename(wav_dir)
    return root


def prepare_datasets(s, variants: set[str], augmentations: set[str], features: bool) -> None:
    """Images of every variant; speaker vectors and eGeMAPS features of plain ones, linked by the others."""
    from specct.baselines.features import extract_corpora
    from specct.images import preprocess_corpora
    from specct.speaker import embed_corpora
    from specct.spectrogram import SpectrogramConfig
    augs = sorted(a for a in augmentations if a != "no_aug") or ["none"]
    for variant in ["plain", *sorted(variants - {"plain"})]:
        root = link_corpora(s, variant)
        log(f"spectrogram images ({variant}, {s.image_size} px, augmentations: {' '.join(augs)})")
        preprocess_corpora(root, datasets=s.corpora, augmentations=augs, workers=min(2, os.cpu_count() or 1),
                           config=SpectrogramConfig(size=(s.image_size,) * 2, **IMAGE_VARIANTS[variant]),
                           seed=s.seed, progress=False)
        if variant == "plain":
            embed_corpora(root, datasets=s.corpora, progress=False)
            if features:
                extract_corpora(root, datasets=s.corpora, features="egemaps", progress=False)
        for corpus, folder in [(c, f) for c in s.corpora for f in (paths.speaker_dir, paths.features_dir)]:
            target, source = folder(root, corpus), folder(s.datasets / "plain", corpus)
            if variant != "plain" and source.exists() and not target.exists() and not target.is_symlink():
                target.symlink_to(source.resolve(), target_is_directory=True)


def train_tokens(s, precision: bool = True) -> list[str]:
    """train.py flags of every CCT: image size, epochs, the quick step cap, the precision decided here
    (so that every job of an experiment runs the same one), then the added flags."""
    return (["--input_size", "3", str(s.image_size), str(s.image_size), "--epochs", str(s.epochs), "--no_progress"]
            + (["--max_steps", "2"] if s.quick else []) + (["--precision", s.precision_used] if precision else [])
            + list(s.extra_train_flags))


def recipe(s) -> str:
    """The recipe's hash in each experiment's name: a changed recipe trains anew, it reuses no old job.
    float32 leaves the hash as it was before the precision was a setting (those runs were float32)."""
    configs = b"".join(scratch_config(m).read_bytes() for m in (SPEAKER_MODEL, PLAIN_MODEL))
    precision = "" if s.precision_used == "float32" else f" precision {s.precision_used}"
    return hashlib.sha1(configs + f"{shlex.join(train_tokens(s, precision=False))} seed {s.seed}{precision}"
                        .encode()).hexdigest()[:8]


def cct(s, name: str, model: str, extra: tuple[str, ...] = ()) -> SystemSpec:
    return SystemSpec(name, model, str(scratch_config(model)), given_flags([*train_tokens(s), *extra], "bench_loco.py"))


def experiment(s, name: str, systems: list[SystemSpec], images: str, augmentation: str, validation: str,
               seeds: list[int] | None = None) -> LocoOptions:
    """One engine experiment; those of the same images and validation choice share their splits."""
    return LocoOptions(seeds=seeds, datasets_dir=str(s.datasets / images), corpora=list(s.corpora), systems=systems,
                       classes=",".join(s.classes), augmentation=augmentation, validation=validation,
                       n_components=64 if s.quick else 256, seed=s.seed, output=str(s.workdir),
                       data_dir=str(s.workdir / "data" / f"{images}-{validation}"), bootstrap=s.bootstrap,
                       progress=False, experiment=f"{name}-{recipe(s)}")


def run_all(s, experiments: list[LocoOptions]) -> None:
    """Every unfinished job, ``--jobs`` of them at once; each worker's output in <job>/bench.log."""
    def finished(job, seconds):
        log(f"{job.id}: UAR {held_out_uar(job):.3f} ({seconds:.0f} s since the jobs began)")

    run_experiments(experiments, shlex.join([sys.executable, *sys.argv]), workers=s.jobs, log_name="bench.log",
                    on_finished=finished)


def mean_over(jobs: dict, key: str, corpora, value) -> float:   # a job per corpus, or a list: one per seed
    runs = [jobs[(key, h)] if isinstance(jobs[(key, h)], list) else [jobs[(key, h)]] for h in corpora]
    return float(np.mean([np.mean([value(job) for job in run]) for run in runs]))


def paired(s, jobs: dict, pairs: list[tuple[str, str]], title: str, csv: str) -> list[str]:
    """Paired bootstrap of UAR(a) - UAR(b) per corpus and mean, pairs with every fold: ``csv``, Markdown."""
    preds = {key: [held_out_predictions(j) for j in job] if isinstance(job, list) else held_out_predictions(job)
             for key, job in jobs.items()}
    tables = [comparison_table(preds, [a, b], s.corpora, b, s.bootstrap, s.seed) for a, b in pairs
              if all((x, h) in preds for x in (a, b) for h in s.corpora)]
    found = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    found.to_csv(s.workdir / csv, index=False)
    return ["", title, ""] + markdown_table(["comparison", "held-out", "difference", "95% CI", "p"], [[
        f"{r.system} - {r.reference}", r.held_out, f"{r.difference:+.3f}", f"{r.ci_low:+.3f} to {r.ci_high:+.3f}",
        f"{r.p_value:.3f}"] for r in found.itertuples()], left=2)


def main_name(s) -> str:
    """The main comparison's name: its validation, images, offline group and added train.py flags."""
    flags = "_".join(flag.lstrip("-") for flag in s.extra_train_flags)
    return (f"main-{s.validation}" + ("" if s.precision_used == "float32" else f"-{s.precision_used}")
            + ("" if s.images == "plain" else f"-{s.images}")
            + ("" if s.augmentation == "no_aug" else f"-{s.augmentation}") + (f"-{flags}" if flags else "")
            + (f"-seeds{'_'.join(map(str, s.seeds))}" if s.seeds else "") + ("-ensemble" if s.ensemble else ""))


# --ensemble: late fusion of the speaker CCT and the SVM, weights chosen on the validation rows. The
# refitted SVM has been fitted on those rows, so a second fusion takes an SVM left unrefitted: its
# validation rows are unseen, the fair ground for choosing weights.
FUSION = SystemSpec("fusion", "ensemble", None, {"members": ["speaker_cct", "egemaps_svm"]})
SVM_NO_REFIT = SystemSpec("egemaps_svm_no_refit", BASELINE_MODEL, None, {"refit": False})
FAIR_FUSION = SystemSpec("fusion_no_refit", "ensemble", None, {"members": ["speaker_cct", "egemaps_svm_no_refit"]})


def main_experiment(s) -> LocoOptions:
    svm = SystemSpec("egemaps_svm", BASELINE_MODEL, None, {"svm_c": 1.0} if s.validation == "none" else {})  # no C
    systems = [cct(s, "speaker_cct", SPEAKER_MODEL), cct(s, "plain_cct", PLAIN_MODEL), svm]
    return experiment(s, main_name(s), systems + ([FUSION, SVM_NO_REFIT, FAIR_FUSION] if s.ensemble else []),
                      s.images, s.augmentation, s.validation, s.seeds)   # is chosen without validation rows


def recipe_arm(s) -> Lever | None:
    """The ablation arm that trains what the main comparison's speaker CCT trains: the recipe on the same
    images and offline group (None where the ablation has no such arm)."""
    return next((lever for lever in LEVERS.values() if lever.flags == RECIPE_FLAGS
                 and (lever.images, lever.augmentation) == (s.images, s.augmentation)), None)


def comparable(opts: LocoOptions, job) -> dict:
    """A job's resolved training options (its split's rows included) but the folder it writes to."""
    train_data, _ = job_splits(opts, job)
    return {k: v for k, v in vars(job_training_options(opts, job, train_data)).items() if k != "experiment"}


def reuse_recipe_arm(s, opts: LocoOptions) -> None:
    """The main comparison's speaker CCT jobs that the ablation's recipe arm has already finished with the
    same training (every resolved train.py option but the output folder: the same rows, recipe, seed and
    precision): that job is linked in rather than trained again (the same training gives the same model
    on one host; the README's table and the arm matched job for job). Jobs begun here are left alone."""
    lever = recipe_arm(s)
    if lever is None or s.validation == "none":
        return
    arm_opts = lever_experiment(replace(s, ablation_validation=s.validation), lever)
    arms = {(job.corpus, job.seed): job for job in list_jobs(arm_opts) if job.finished}
    for job in list_jobs(opts):
        arm = arms.get((job.corpus, job.seed))
        if job.system.name == "speaker_cct" and arm is not None and not job.started \
                and comparable(opts, job) == comparable(arm_opts, arm):
            link_job(arm.folder, job, lever.name)
            log(f"{job.id}: the same training as the finished job of the arm {lever.name}: linked, not trained")


def link_job(source: Path, job, arm: str) -> None:
    """``source``'s files (a job of the arm ``arm``) as ``job``'s, hard-linked (copied across file
    systems), its record naming the source; built beside and renamed into place: a kill leaves no half job."""
    def link(src, dst):
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    partial = job.folder.with_name(job.folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(source, partial, copy_function=link, ignore=shutil.ignore_patterns(LOCK_NAME, JOB_RECORD))
    record = yaml.safe_load((source / JOB_RECORD).read_text())
    record.update(job=job.id, system=asdict(job.system), reused_from={"arm": arm, "job": str(source)})
    (partial / JOB_RECORD).write_text(yaml.safe_dump(record, sort_keys=False))
    shutil.rmtree(job.folder, ignore_errors=True)   # not started: at most a lock file of an earlier look
    partial.rename(job.folder)


def reused_lines(opts: LocoOptions) -> list[str]:
    """The report's word on jobs linked from an ablation arm (:func:`reuse_recipe_arm`)."""
    sources = [yaml.safe_load((job.folder / JOB_RECORD).read_text()).get("reused_from") for job in list_jobs(opts)
               if (job.folder / JOB_RECORD).is_file()]
    found = [x for x in sources if x]
    if not found:
        return []
    arms = sorted({x["arm"] for x in found})
    return ["", f"{len(found)} speaker_cct job(s) are the finished jobs of the ablation's recipe arm "
                f"({', '.join(f'`{a}`' for a in arms)}): the same training (every train.py option but the output "
                f"folder, the same split and seed), linked rather than trained again; each job.yaml names its source."]


def main_report(s, opts: LocoOptions) -> str:
    """The engine's results.csv and comparison.csv, with the best validation UAR beside them."""
    collected, jobs = collect(opts), finished_runs(opts)
    results = collected.results.assign(best_val_uar=[mean_over(jobs, r.system, [r.held_out] if r.held_out != "mean"
                                                               else s.corpora, best_validation_uar)
                                                     for r in collected.results.itertuples()])
    results.to_csv(s.workdir / f"{main_name(s)}_results.csv", index=False)
    collected.comparison.to_csv(s.workdir / f"{main_name(s)}_comparisons.csv", index=False)
    means = results[results["held_out"] == "mean"]
    return "\n".join([
        f"Leave-one-corpus-out, classes {', '.join(s.classes)} (chance UAR {1 / len(s.classes):.2f}), {s.image_size} "
        f"px, {s.epochs} epochs, validation `{s.validation}`, images `{s.images}`, offline augmentation "
        f"`{s.augmentation}` (image models only; the SVM reads one row per source wav), seed {s.seed} for every fold"
        f"{f' (training seeds {s.seeds})' if s.seeds else ''}; "
        f"experiment `{collected.folder}`.", "", markdown_results(collected.results, collected.comparison),
        "Mean best validation UAR: " + ", ".join(f"{r.system} {r.best_val_uar:.3f}" for r in means.itertuples()) + ".",
        *(paired(s, jobs, [("fusion", "egemaps_svm"), ("fusion", "speaker_cct"),
                           ("fusion_no_refit", "egemaps_svm_no_refit"), ("fusion_no_refit", "speaker_cct")],
                 "The ensembles against their members:", f"{main_name(s)}_fusion.csv") if s.ensemble else []),
        *reused_lines(opts), *against_recipes_without_its_levers(s, opts)]) + "\n"


def against_recipes_without_its_levers(s, opts: LocoOptions) -> list[str]:
    """The CCTs against the recipe without its added flags, images, group: validation UAR (which may
    choose) beside the paired held-out difference on the same rows (reported only)."""
    flags, lines = " ".join(s.extra_train_flags), []
    for without, tag, lever, instead, option, on in [
            (replace(s, extra_train_flags=[]), "no_added_flags", f"`{flags}`", "the recipe alone", f"`{flags}`", flags),
            (replace(s, images="plain"), "plain_images", f"images `{s.images}`", "plain images", "`--images`",
             s.images != "plain"),
            (replace(s, augmentation="no_aug"), "no_aug", f"`{s.augmentation}`", "no offline group",
             "`--augmentation`", s.augmentation != "no_aug"),
            (replace(s, precision_used="float32"), "float32", s.precision_used, "float32", "`--precision float32`",
             s.precision_used != "float32")]:
        mine, theirs = finished_runs(opts), finished_runs(main_experiment(without)) if on else {}
        systems = [x for x in CCTS if all((x, h) in mine and (x, h) in theirs for h in s.corpora)]
        if on and not systems:
            lines += ["", f"No finished run with {instead} in this workdir (`--mode main` without {option}) to "
                          f"compare {lever} with."]
        if not systems:
            continue
        jobs = {**mine, **{(f"{x}@{tag}", h): theirs[(x, h)] for x in systems for h in s.corpora}}
        lines += ["", f"{lever} against {instead}, same recipe otherwise (runs of `{main_name(without)}`):", ""]
        rows = [[x] + [" / ".join(f"{mean_over(jobs, key, s.corpora, value):.3f}" for key in (x, f"{x}@{tag}"))
                       for value in (best_validation_uar, held_out_uar)] for x in systems]
        rows = [row + [" / ".join(f"{mean_over(jobs, key, s.corpora, training_minutes):.1f}"
                                  for key in (x, f"{x}@{tag}"))] for row, x in zip(rows, systems)]
        lines += markdown_table(["system", "mean best validation UAR, with / without",
                                 "mean held-out UAR, with / without", "training minutes per job, with / without"],
                                rows)
        lines += paired(s, jobs, [(x, f"{x}@{tag}") for x in systems], "Paired bootstrap of the held-out UAR "
                        "difference (reported, not used to choose), same test rows:", f"{main_name(s)}_vs_{tag}.csv")
    return lines


def training_minutes(job) -> float:
    """A finished job's training time, from the last line train.py wrote to its bench.log (NaN without one)."""
    log_file = job.folder / "bench.log"
    found = re.findall(r"done in ([0-9.]+) min", log_file.read_text()) if log_file.is_file() else []
    return float(found[-1]) if found else float("nan")


def validation_mode(s) -> list[tuple[str, str]]:
    """The main comparison under each validation choice (the engine's tables), then the choices side by side."""
    choices = {c: replace(s, validation=c) for c in VALIDATION_CHOICES}
    experiments = {c: main_experiment(sc) for c, sc in choices.items()}
    run_all(s, list(experiments.values()))
    reports = [(main_name(choices[c]), main_report(choices[c], opts)) for c, opts in experiments.items()]
    jobs = {(f"{x}@{c}", h): job for c, opts in experiments.items() for (x, h), job in finished_jobs(opts).items()}
    rows = {c: " / ".join(str(len(pd.read_csv(ensure_split(opts, h) / "train_data" / "train.csv"))) for h in s.corpora)
            for c, opts in experiments.items()}
    found = pd.concat([pd.read_csv(s.workdir / f"{main_name(sc)}_results.csv").assign(validation=c)
                       for c, sc in choices.items()]).query("held_out == 'mean'")
    found[["system", "validation", "best_val_uar", "uar", "uar_ci_low", "uar_ci_high"]].to_csv(
        s.workdir / "validation_results.csv", index=False)
    lines = [f"Validation choices side by side: leave-one-corpus-out, classes {', '.join(s.classes)}, {s.image_size} "
             f"px, {s.epochs} epochs, seed {s.seed}. Training rows per fold: "
             + "; ".join(f"`{c}` {r}" for c, r in rows.items()) + f" ({' / '.join(s.corpora)} held out).", ""]
    found = found.sort_values("system", key=lambda names: names.map(list(SYSTEMS).index), kind="stable")
    rows = [[r.system, r.validation, "-" if np.isnan(r.best_val_uar) else f"{r.best_val_uar:.3f}",
             f"{r.uar:.3f} ({r.uar_ci_low:.3f}-{r.uar_ci_high:.3f})",
             "-" if np.isnan(r.best_val_uar) else f"{r.best_val_uar - r.uar:+.3f}"] for r in found.itertuples()]
    lines += markdown_table(["system", "validation", "mean best validation UAR", "mean held-out UAR (95% CI)",
                             "validation - held-out"], rows, left=2)
    pairs = [(f"{x}@{a}", f"{x}@{b}") for x in CCTS for a, b in (("corpus", "speakers"), ("none", "speakers"),
                                                                 ("none", "corpus"))]
    lines += paired(s, jobs, pairs, "Paired bootstrap of the held-out UAR difference between validation choices, "
                                    "same test rows:", "validation_comparisons.csv")
    return reports + [("validation", "\n".join(lines) + "\n")]


def seeds_tag(s) -> str:
    return f"-seeds{'_'.join(map(str, s.seeds))}" if s.seeds else ""


def lever_experiment(s, lever: Lever) -> LocoOptions:
    return experiment(s, f"ablation-{s.ablation_validation}-{lever.name}{seeds_tag(s)}", [cct(
        s, lever.name, SPEAKER_MODEL, ABLATION_BASE_FLAGS + lever.flags)], lever.images, lever.augmentation,
        s.ablation_validation, s.seeds)


def lever_runs(s) -> dict:
    """``{(lever, held-out corpus): [job per seed]}`` of every lever whose every fold (and seed) finished."""
    runs = {}
    for lever in LEVERS.values():
        found = finished_runs(lever_experiment(s, lever))
        if all((lever.name, h) in found for h in s.corpora):
            runs.update({(lever.name, h): found[(lever.name, h)] for h in s.corpora})
    return runs


def ablation_rows(s, runs: dict) -> pd.DataFrame:
    """One row per lever, held-out corpus and training seed of ``runs`` (:func:`lever_runs`)."""
    rows = []
    for (lever, h), jobs in runs.items():
        for job in jobs:
            rows.append({"lever": lever, "held_out": h, "seed": s.seed if job.seed is None else job.seed,
                         "val_uar": best_validation_uar(job), "held_out_uar": held_out_uar(job),
                         "note": LEVERS[lever].note, "validation": s.ablation_validation, "image_size": s.image_size,
                         "epochs": s.epochs, "split_seed": s.seed})
    return pd.DataFrame(rows)


def ablation_mode(s) -> str:
    """One experiment per lever; the table holds every lever finished here with this recipe. With several
    training seeds a lever is judged on the mean over seeds (and folds) of its validation UAR."""
    if s.ablation_validation == "corpus" and len(s.corpora) < 3:
        log("ablation: --validation corpus needs two training corpora per fold; with two corpora in all, "
            "the levers are judged on validation speakers instead")
        s = replace(s, ablation_validation="speakers")
    run_all(s, [lever_experiment(s, LEVERS[name]) for name in s.levers])
    runs = lever_runs(s)
    found = ablation_rows(s, runs)
    found.to_csv(s.workdir / f"ablation{seeds_tag(s)}_results.csv", index=False)
    means = found.groupby("lever", sort=False)[["val_uar", "held_out_uar"]].mean()
    base = means.loc["base", "val_uar"] if "base" in means.index else float("nan")
    seeds = sorted(found["seed"].unique()) if len(found) else []
    lines = [f"Ablation of the speaker CCT recipe, judged on validation rows (`--validation {s.ablation_validation}`), "
             f"{s.image_size} px, {s.epochs} epochs, split seed {s.seed} for every fold, training seed(s) "
             f"{', '.join(map(str, seeds))}. A lever is kept when its mean validation UAR (over folds"
             f"{' and seeds' if len(seeds) > 1 else ''}) beats the base by at least {KEEP_MARGIN}; the held-out "
             f"UAR is reported, not used.", ""]
    kept = verdicts(means)
    per_seed = seed_gains(found) if len(seeds) > 1 else {}
    rows = [[lever, LEVERS[lever].note, f"{row.val_uar:.3f}", f"{row.val_uar - base:+.3f}",
             *([per_seed.get(lever, "-")] if per_seed else []), kept[lever], f"{row.held_out_uar:.3f}"]
            for lever, row in means.iterrows()]
    lines += markdown_table(["lever", "what", "mean validation UAR", "vs base",
                             *(["vs base per seed (folds' mean)"] if per_seed else []), "kept",
                             "mean held-out UAR (reported only)"], rows, left=2)
    lines += on_top_lines(found, means)
    held_out = paired(s, runs, [(lever, "base") for lever in means.index if lever != "base"] + on_top_pairs(means),
                      "Held-out UAR, each lever against the base on the same rows, and a lever tried on top of "
                      "another arm against that arm (two-level bootstrap over seeds and rows with several seeds; "
                      "reported, not used to choose):", f"ablation{seeds_tag(s)}_paired.csv")
    return "\n".join(lines + per_fold_lines(found) + held_out) + "\n"


def verdicts(means: pd.DataFrame) -> dict[str, str]:
    """Each lever kept or not by the margin rule on its mean validation UAR against the arm it is judged
    against (the base, or the recipe's arm for a lever tried on top of it; "-" where that arm is missing)."""
    out = {}
    for lever, row in means.iterrows():
        against = LEVERS[lever].against
        if lever == "base" or against not in means.index:
            out[lever] = "-"
        else:
            gain = row.val_uar - means.loc[against, "val_uar"]
            out[lever] = ("yes" if is_kept(gain) else "no") + ("" if against == "base" else f" (vs {against})")
    return out


def on_top_pairs(means: pd.DataFrame) -> list[tuple[str, str]]:
    """(lever, the arm it is judged against) for the levers run here tried on top of another run arm."""
    return [(lever, LEVERS[lever].against) for lever in means.index
            if LEVERS[lever].against not in ("base", lever) and LEVERS[lever].against in means.index]


def on_top_lines(found: pd.DataFrame, means: pd.DataFrame) -> list[str]:
    """The levers tried on top of another arm, against that arm: validation UAR gain, on the mean and seed
    by seed (mean over folds), and the verdict."""
    rows = []
    by_seed = found.pivot_table(index="lever", columns="seed", values="val_uar", aggfunc="mean", sort=False)
    for lever, against in on_top_pairs(means):
        gain = means.loc[lever, "val_uar"] - means.loc[against, "val_uar"]
        seeds = "; ".join(f"{g:+.3f}" for g in by_seed.loc[lever] - by_seed.loc[against])
        rows.append([lever, against, f"{means.loc[lever, 'val_uar']:.3f}", f"{gain:+.3f}", seeds,
                     "yes" if is_kept(gain) else "no"])
    if not rows:
        return []
    return ["", "Levers tried on top of another arm, judged against it (same margin):", "",
            *markdown_table(["lever", "against", "mean validation UAR", "vs it", "vs it per seed (folds' mean)",
                             "kept"], rows, left=2)]


def seed_gains(found: pd.DataFrame) -> dict[str, str]:
    """Each lever's validation gain over the base seed by seed (mean over folds), '; '-joined."""
    by_seed = found.pivot_table(index="lever", columns="seed", values="val_uar", aggfunc="mean", sort=False)
    if "base" not in by_seed.index:
        return {}
    gains = by_seed - by_seed.loc["base"]
    return {lever: "; ".join(f"{g:+.3f}" for g in row) for lever, row in gains.drop(index="base").iterrows()}


def per_fold_lines(found: pd.DataFrame) -> list[str]:
    """Each fold's validation gain over the base (mean over seeds), on the fold's own validation corpus only."""
    gains = found.pivot_table(index="lever", columns="held_out", values="val_uar", aggfunc="mean", sort=False)
    if "base" not in gains.index:
        return []
    gains = (gains - gains.loc["base"]).drop(index="base")
    return ["", f"Per fold, validation UAR gain over the base on the fold's own validation corpus (kept in a fold at "
                f">= {KEEP_MARGIN:+.2f}):", ""] + markdown_table(
        ["lever", *(f"{h} held out" for h in gains.columns), "kept in folds"],
        [[lever, *(f"{g:+.3f}" for g in row), f"{sum(is_kept(g) for g in row)} of {len(row)}"]
         for lever, row in gains.iterrows()])


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--mode", choices=("main", "validation", "ablation", "both"), default="both")
    p.add_argument("--workdir", type=Path, default=REPO_ROOT / "output" / "bench_loco")
    p.add_argument("--corpora", nargs="+", type=str.upper, default=list(DEFAULT_CORPORA), help="held out in turn")
    p.add_argument("--sources", nargs="*", default=[], metavar="CORPUS=PATH", help="default: ../shared/corpora/...")
    p.add_argument("--classes", nargs="+", default=list(SHARED_CLASSES), help="class set")
    p.add_argument("--image_size", type=int, choices=(32, 64, 112), default=64)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--validation", choices=VALIDATION_CHOICES, default="corpus",
                   help="validation rows of the main comparison (corpus: what auto does with 2+ training corpora)")
    p.add_argument("--augmentation", choices=("no_aug", "time_aug", "freq_aug", "time_freq_aug"), default="no_aug",
                   help="offline augmentation group of the main comparison (the levers set their own)")
    p.add_argument("--images", choices=list(IMAGE_VARIANTS), default="plain",
                   help=f"image variant of the main comparison (pad_short: padded to {PAD_SECONDS:g} s with silence)")
    p.add_argument("--ablation_validation", choices=("speakers", "corpus"), default="corpus",
                   help="validation rows on which the levers are judged")
    p.add_argument("--levers", nargs="+", choices=list(LEVERS), default=None, help="default: all (quick: two)")
    p.add_argument("--seed", type=int, default=0, help="the one seed of every split (and training, without --seeds)")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="--mode main / ablation: training seeds, on one split")
    p.add_argument("--ensemble", action="store_true",
                   help="--mode main: add the late fusion of the speaker CCT and the SVM (system fusion)")
    p.add_argument("--precision", choices=PRECISIONS, default=DEFAULT_PRECISION,
                   help="of every CCT training (auto: bfloat16 where the CPU has it natively, float32 elsewhere)")
    p.add_argument("--jobs", type=int, default=1,
                   help="jobs at once, in processes with their share of the cores (results do not depend on it)")
    p.add_argument("--bootstrap", type=int, default=1000)
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 3 wavs per speaker and emotion, 32 px, 2 steps, 100 resamples, two levers")
    s, s.extra_train_flags = p.parse_known_args(argv)
    s.sources = {**DEFAULT_SOURCES, **{k.upper(): Path(v) for k, _, v in (x.partition("=") for x in s.sources)}}
    s.levers = ["base", *[x for x in s.levers or (["specaugment"] if s.quick else LEVERS) if x != "base"]]
    s.precision_used = resolve_precision(s.precision, "cpu")
    s.files_per_group, s.datasets = (3 if s.quick else 0), s.workdir / ("datasets_quick" if s.quick else "datasets")
    return replace(s, image_size=32, epochs=1, bootstrap=100, workdir=s.workdir / "quick") if s.quick else s


def main(argv=None) -> int:
    s, started = parse(argv), time.perf_counter()
    if s.seeds and s.mode == "validation":
        raise SystemExit("bench_loco: --seeds is for --mode main, ablation and both")
    s.workdir.mkdir(parents=True, exist_ok=True)
    s.corpora = import_corpora(s)
    if len(s.corpora) < 2:
        raise SystemExit(f"bench_loco: need at least two corpora, have {', '.join(s.corpora) or 'none'}")
    levers, main_too = [LEVERS[n] for n in s.levers] if s.mode in ("ablation", "both") else [], s.mode != "ablation"
    prepare_datasets(s, {"plain", *(lv.images for lv in levers)} | ({s.images} if main_too else set()),
                     {lv.augmentation for lv in levers} | ({s.augmentation} if main_too else set()), features=main_too)
    reports = []
    if s.mode in ("main", "both"):
        reuse_recipe_arm(s, main_experiment(s))
        run_all(s, [main_experiment(s)])
        reports.append((main_name(s), main_report(s, main_experiment(s))))
    if s.mode == "validation":
        reports += validation_mode(s)
    if levers:
        reports.append((f"ablation{seeds_tag(s)}", ablation_mode(s)))
    minutes = (time.perf_counter() - started) / 60
    for mode, text in reports:
        text += (f"\nRun of {time.strftime('%Y-%m-%d %H:%M')}: {minutes:.1f} min in all ({os.cpu_count()} CPU(s) "
                 f"visible, load average {os.getloadavg()[0]:.1f} at the end).\n")
        (s.workdir / f"{mode}_report.md").write_text(text)
        print(f"\n## {mode}\n\n{text}")
    print(json.dumps({"corpora": s.corpora, "minutes": round(minutes, 1), "workdir": str(s.workdir)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
