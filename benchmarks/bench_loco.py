"""Leave-one-corpus-out benchmark of the training recipe for models without pretrained weights.

Holds each of ``--corpora`` out in turn (default EMODB, RAVDESS actors 1-4, TUREVDB; classes anger, happy,
sad, the ones the three share: chance UAR 1/3). Importing the corpora (``../shared/corpora``) and drawing
the image variants are this script's; splits, trainings, evaluations, tables and statistics are the
engine's (:mod:`specct.loco` experiments under ``<workdir>/loco/``, :mod:`specct.compare`), one ``--seed``
for every split and training. ``main``: speaker CCT (reference), plain CCT and eGeMAPS + SVM on the same
split of every fold, UAR with 95% CI per corpus and over their mean, paired bootstrap; with ``--images``,
``--augmentation`` or added train.py flags the CCTs also face the recipe without them. ``validation``: the
main comparison per ``--validation`` choice, side by side. ``ablation``: one lever at a time, judged on
validation rows only (``is_kept``), held-out UAR reported beside it.

    python benchmarks/bench_loco.py --quick                     # smoke run, a few minutes
    python benchmarks/bench_loco.py --mode main                 # about 20 minutes on two cores
    python benchmarks/bench_loco.py --mode ablation --jobs 2    # two jobs at once, a core each

A re-run skips what has finished. Reports: ``<workdir>/<mode>_report.md``, ``<mode>_results.csv``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from specct import paths
from specct.compare import comparison_table, markdown_results, results_table
from specct.loco import LocoOptions, SystemSpec, collect, experiment_dir, list_jobs, run_job, write_experiment_record
from specct.loco.jobs import run_jobs
from specct.loco.split_folders import ensure_split
from specct.naming import parse_name
from specct.threads import available_cores
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


def replace(s: argparse.Namespace, **changes) -> argparse.Namespace:   # the settings, some changed
    return argparse.Namespace(**{**vars(s), **changes})


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --------------------------------------------------------------------------- data preparation (the benchmark's own)

def import_corpora(s) -> list[str]:
    """Import each corpus once into <workdir>/imported (one already there is used as it is)."""
    from specct.corpora import CorpusError, canonical_corpus_name
    from specct.prepare import import_corpus

    root, ready = s.workdir / "imported", []
    for name, source in [(c, s.sources.get(c)) for c in s.corpora]:
        reason = f"source folder {source} not found (pass --sources {name}=PATH)"
        folders = [Path(source), *sorted(p for p in Path(source).iterdir() if p.is_dir())] if source and \
            Path(source).exists() and not any(paths.wav_dir(root, name).glob("*.wav")) else []
        for folder in folders:   # the corpus folder, or the one folder inside it that the importer expects
            try:
                import_corpus(canonical_corpus_name(name), folder, root, progress=False)
                break
            except CorpusError as exc:
                reason = f"import failed ({exc})"
        if any(paths.wav_dir(root, name).glob("*.wav")):
            ready.append(name)
        else:
            log(f"{name}: {reason}: skipped")
    return ready


def datasets_root(s, variant: str) -> Path:
    return s.workdir / ("datasets_quick" if s.quick else "datasets") / variant


def link_corpora(s, variant: str) -> Path:
    """One image variant's datasets folder: the imported wavs linked (all, or with --quick a few per
    speaker and emotion), its own images."""
    root = datasets_root(s, variant)
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
        for wav, name in [(w, parse_name(w)) for w in sorted(source.glob("*.wav"))]:
            key = (name.speaker, name.emotion)
            if name.emotion in s.classes and kept.get(key, 0) < s.files_per_group and not (tmp / wav.name).exists():
                kept[key] = kept.get(key, 0) + 1
                (tmp / wav.name).symlink_to(wav)
        tmp.rename(wav_dir)
    return root


def prepare_datasets(s, variants: set[str], augmentations: set[str], features: bool) -> None:
    """Images of every variant (with the offline groups asked for); speaker vectors and (for the SVM)
    eGeMAPS features of the plain variant, which the other variants link (same wavs)."""
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
            target, source = folder(root, corpus), folder(datasets_root(s, "plain"), corpus)
            if variant != "plain" and source.exists() and not target.exists() and not target.is_symlink():
                target.symlink_to(source.resolve(), target_is_directory=True)


# --------------------------------------------------------------------------- experiments of the engine

def train_tokens(s) -> list[str]:
    """train.py flags of every CCT: image size, epochs, the quick step cap, then the added flags."""
    return (["--input_size", "3", str(s.image_size), str(s.image_size), "--epochs", str(s.epochs), "--no_progress"]
            + (["--max_steps", "2"] if s.quick else []) + list(s.extra_train_flags))


def config_for(model: str) -> str:
    from specct.pipeline import scratch_config   # slow to import: not for --help

    return str(scratch_config(model))


def recipe(s) -> str:
    """The recipe's hash (scratch configs, train.py flags, seed) in each experiment's name: a changed
    recipe trains anew instead of reusing the finished jobs of the old one."""
    configs = b"".join(Path(config_for(m)).read_bytes() for m in (SPEAKER_MODEL, PLAIN_MODEL))
    return hashlib.sha1(configs + f"{shlex.join(train_tokens(s))} seed {s.seed}".encode()).hexdigest()[:8]


def cct(s, name: str, model: str, extra: tuple[str, ...] = ()) -> SystemSpec:
    return SystemSpec(name, model, config_for(model), given_flags([*train_tokens(s), *extra], "bench_loco.py"))


def experiment(s, name: str, systems: list[SystemSpec], images: str, augmentation: str, validation: str) -> LocoOptions:
    """One engine experiment; experiments of the same images and validation choice share their
    splits (``<workdir>/data/<images>-<validation>``, made once under a lock)."""
    return LocoOptions(datasets_dir=str(datasets_root(s, images)), corpora=list(s.corpora), systems=systems,
                       classes=",".join(s.classes), augmentation=augmentation, validation=validation,
                       n_components=64 if s.quick else 256, seed=s.seed, output=str(s.workdir),
                       data_dir=str(s.workdir / "data" / f"{images}-{validation}"), bootstrap=s.bootstrap,
                       progress=False, experiment=f"{name}-{recipe(s)}")


def _start_worker(threads: int) -> None:
    import torch

    os.environ["OMP_NUM_THREADS"] = str(threads)    # evaluation's thread default reads it
    torch.set_num_threads(threads)


def _run_job_logged(opts: LocoOptions, job) -> bool:
    """A worker's job, its output in <job>/bench.log (two jobs at once would interleave)."""
    import contextlib

    job.folder.mkdir(parents=True, exist_ok=True)
    with open(job.folder / "bench.log", "a", buffering=1) as out, contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(out):
        return run_job(opts, job)


def run_experiments(s, experiments: list[LocoOptions]) -> None:
    """Every unfinished job, one after the other (:func:`specct.loco.run_jobs`), or with ``--jobs N``
    N of them at once (:func:`specct.loco.run_job` in N processes, 1/N of the cores each: two
    one-thread trainings did 1.23-1.29x the samples/s of one two-thread training on a 2-core host,
    benchmarks/bench_jobs.py). Jobs are independent and seeded, and shared splits are locked."""
    command = shlex.join([sys.executable, *sys.argv])
    if s.jobs <= 1:
        for opts in experiments:
            run_jobs(opts, command)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    for opts in experiments:
        write_experiment_record(opts, command)
    pending = [(opts, job) for opts in experiments for job in list_jobs(opts) if not job.finished]
    threads, started = max(1, available_cores() // s.jobs), time.perf_counter()
    log(f"{len(pending)} jobs, {s.jobs} at once with {threads} thread(s) each; each one's output in <job>/bench.log")
    with ProcessPoolExecutor(s.jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
                             initargs=(threads,)) as pool:
        for job, future in [(job, pool.submit(_run_job_logged, opts, job)) for opts, job in pending]:
            future.result()
            log(f"{job.id}: UAR {held_out_uar(job):.3f} ({time.perf_counter() - started:.0f} s since the jobs began)")


def finished_jobs(opts: LocoOptions) -> dict:
    """``{(system, held-out corpus): job}`` of an experiment's finished jobs (none where never run)."""
    if not experiment_dir(opts).is_dir() or not Path(opts.datasets_dir).is_dir():
        return {}
    return {(j.system.name, j.corpus): j for j in list_jobs(opts) if j.finished}


def predictions(job) -> pd.DataFrame:
    """A job's predictions with rows named by their source wav, so that two experiments' runs pair
    row by row (each image variant has its own image files of the same wavs)."""
    frame = pd.read_csv(job.test_dir(job.corpus) / "predictions.csv")
    return frame.assign(file=frame["wav"].map(lambda p: Path(p).name))


def held_out_uar(job) -> float:
    return float(yaml.safe_load((job.test_dir(job.corpus) / "performance.yaml").read_text())["uar"])


def best_val_uar(job) -> float:
    """The best validation UAR of a job's training (NaN without validation rows)."""
    summary = pd.read_csv(job.train_dir / "summary.csv") if (job.train_dir / "summary.csv").is_file() else {}
    return float(summary["val_uar"].max()) if "val_uar" in summary and summary["val_uar"].notna().any() else np.nan


def mean_over(jobs: dict, key: str, corpora, value) -> float:
    return float(np.mean([value(jobs[(key, h)]) for h in corpora]))


def paired(s, jobs: dict, pairs: list[tuple[str, str]], title: str, csv: str) -> list[str]:
    """Paired bootstrap (:func:`specct.compare.comparison_table`) of UAR(a) - UAR(b) per held-out
    corpus and over their mean, for each pair with every fold finished; saved to ``csv``, as Markdown."""
    preds = {key: predictions(job) for key, job in jobs.items()}
    tables = [comparison_table(preds, [a, b], s.corpora, b, s.bootstrap, s.seed) for a, b in pairs
              if all((x, h) in preds for x in (a, b) for h in s.corpora)]
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    table.to_csv(s.workdir / csv, index=False)
    lines = ["", title, "", "| comparison | held-out | difference | 95% CI | p |", "|---|---|---:|---:|---:|"]
    return lines + [f"| {r.system} - {r.reference} | {r.held_out} | {r.difference:+.3f} | {r.ci_low:+.3f} to "
                    f"{r.ci_high:+.3f} | {r.p_value:.3f} |" for r in table.itertuples()]


# --------------------------------------------------------------------------- modes

def main_name(s) -> str:
    """Report name of the main comparison: its validation choice, its image variant unless plain, its
    augmentation group unless none, and the train.py flags added to the recipe."""
    flags = "_".join(flag.lstrip("-") for flag in s.extra_train_flags)
    return (f"main-{s.validation}" + ("" if s.images == "plain" else f"-{s.images}")
            + ("" if s.augmentation == "no_aug" else f"-{s.augmentation}") + (f"-{flags}" if flags else ""))


def main_experiment(s) -> LocoOptions:
    # without validation rows nothing chooses C: scikit-learn's default
    svm = SystemSpec("egemaps_svm", BASELINE_MODEL, None, {"svm_c": 1.0} if s.validation == "none" else {})
    return experiment(s, main_name(s), [cct(s, "speaker_cct", SPEAKER_MODEL), cct(s, "plain_cct", PLAIN_MODEL), svm],
                      s.images, s.augmentation, s.validation)


def main_report(s, opts: LocoOptions) -> str:
    """The engine's results.csv (UAR per corpus with its CI, the stratified mean) and comparison.csv
    (paired bootstrap against the speaker CCT), each job's best validation UAR beside them."""
    collected, jobs = collect(opts), finished_jobs(opts)
    results = collected.results.assign(best_val_uar=[
        mean_over(jobs, r.system, [r.held_out] if r.held_out != "mean" else s.corpora, best_val_uar)
        for r in collected.results.itertuples()])
    results.to_csv(s.workdir / f"{main_name(s)}_results.csv", index=False)
    collected.comparison.to_csv(s.workdir / f"{main_name(s)}_comparisons.csv", index=False)
    means = results[results["held_out"] == "mean"]
    return "\n".join([
        f"Leave-one-corpus-out, classes {', '.join(s.classes)} (chance UAR {1 / len(s.classes):.2f}), {s.image_size} "
        f"px, {s.epochs} epochs, validation `{s.validation}`, images `{s.images}`, offline augmentation "
        f"`{s.augmentation}` (image models only; the SVM reads one row per source wav), seed {s.seed} for every fold; "
        f"experiment `{collected.folder}`.", "", markdown_results(collected.results, collected.comparison),
        "Mean best validation UAR: " + ", ".join(f"{r.system} {r.best_val_uar:.3f}" for r in means.itertuples()) + ".",
        *against_recipes_without_its_levers(s, opts)]) + "\n"


def against_recipes_without_its_levers(s, opts: LocoOptions) -> list[str]:
    """The CCTs against the same recipe without its added train.py flags, its image variant, its
    offline group (each where this run has one): validation UAR, which may choose, beside the
    paired held-out difference on the same test rows, which is reported only."""
    flags = " ".join(s.extra_train_flags)
    levers = [(replace(s, extra_train_flags=[]), "no_added_flags", f"`{flags}`", "the recipe alone", f"`{flags}`"),
              (replace(s, images="plain"), "plain_images", f"images `{s.images}`", "plain images", "`--images`"),
              (replace(s, augmentation="no_aug"), "no_aug", f"`{s.augmentation}`", "no offline group",
               "`--augmentation`")]
    lines = []
    for without, tag, lever, instead, option in [x for x, on in zip(levers, (
            flags, s.images != "plain", s.augmentation != "no_aug")) if on]:
        mine, theirs = finished_jobs(opts), finished_jobs(main_experiment(without))
        systems = [x for x in CCTS if all((x, h) in mine and (x, h) in theirs for h in s.corpora)]
        if not systems:
            lines += ["", f"No finished run with {instead} in this workdir (`--mode main` without {option}) to "
                          f"compare {lever} with."]
            continue
        jobs = {**mine, **{(f"{x}@{tag}", h): theirs[(x, h)] for x in systems for h in s.corpora}}
        lines += ["", f"{lever} against {instead}, same recipe otherwise (runs of `{main_name(without)}`):", "",
                  "| system | mean best validation UAR, with / without | mean held-out UAR, with / without |",
                  "|---|---:|---:|"]
        for x in systems:
            val, held = ([mean_over(jobs, key, s.corpora, f) for key in (x, f"{x}@{tag}")]
                         for f in (best_val_uar, held_out_uar))
            lines.append(f"| {x} | {val[0]:.3f} / {val[1]:.3f} | {held[0]:.3f} / {held[1]:.3f} |")
        lines += paired(s, jobs, [(x, f"{x}@{tag}") for x in systems], "Paired bootstrap of the held-out UAR "
                        "difference (reported, not used to choose), same test rows:", f"{main_name(s)}_vs_{tag}.csv")
    return lines


def validation_mode(s) -> list[tuple[str, str]]:
    """The main comparison under each validation choice, then the choices side by side."""
    choices = {c: replace(s, validation=c) for c in VALIDATION_CHOICES}
    experiments = {c: main_experiment(sc) for c, sc in choices.items()}
    run_experiments(s, list(experiments.values()))
    reports = [(main_name(choices[c]), main_report(choices[c], opts)) for c, opts in experiments.items()]
    jobs = {(f"{x}@{c}", h): job for c, opts in experiments.items() for (x, h), job in finished_jobs(opts).items()}
    rows = {c: " / ".join(str(len(pd.read_csv(ensure_split(opts, h) / "train_data" / "train.csv"))) for h in s.corpora)
            for c, opts in experiments.items()}
    keys = [f"{x}@{c}" for x in SYSTEMS for c in VALIDATION_CHOICES if all((f"{x}@{c}", h) in jobs for h in s.corpora)]
    means = results_table({k: predictions(j) for k, j in jobs.items()}, keys, s.corpora, s.bootstrap, s.seed)
    means = means[means["held_out"] == "mean"].set_index("system")
    lines = [f"Validation choices side by side: leave-one-corpus-out, classes {', '.join(s.classes)}, {s.image_size} "
             f"px, {s.epochs} epochs, seed {s.seed}. Training rows per fold: "
             + "; ".join(f"`{c}` {r}" for c, r in rows.items()) + f" ({' / '.join(s.corpora)} held out).", "",
             "| system | validation | mean best validation UAR | mean held-out UAR (95% CI) | validation - held-out |",
             "|---|---|---:|---:|---:|"]
    table = []
    for key in keys:
        (system, choice), val, m = key.split("@"), mean_over(jobs, key, s.corpora, best_val_uar), means.loc[key]
        table.append({"system": system, "validation": choice, "mean_val_uar": val, "mean_held_out_uar": m.uar,
                      "ci_low": m.uar_ci_low, "ci_high": m.uar_ci_high})
        lines.append(f"| {system} | {choice} | {'-' if np.isnan(val) else f'{val:.3f}'} | {m.uar:.3f} "
                     f"({m.uar_ci_low:.3f}-{m.uar_ci_high:.3f}) | {'-' if np.isnan(val) else f'{val - m.uar:+.3f}'} |")
    pd.DataFrame(table).to_csv(s.workdir / "validation_results.csv", index=False)
    pairs = [(f"{x}@{a}", f"{x}@{b}") for x in CCTS for a, b in (("corpus", "speakers"), ("none", "speakers"),
                                                                 ("none", "corpus"))]
    lines += paired(s, jobs, pairs, "Paired bootstrap of the held-out UAR difference between validation choices, "
                                    "same test rows:", "validation_comparisons.csv")
    return reports + [("validation", "\n".join(lines) + "\n")]


def lever_experiment(s, lever: Lever) -> LocoOptions:
    system = cct(s, lever.name, SPEAKER_MODEL, ABLATION_BASE_FLAGS + lever.flags)
    return experiment(s, f"ablation-{s.ablation_validation}-{lever.name}", [system], lever.images, lever.augmentation,
                      s.ablation_validation)


def ablation_mode(s) -> str:
    """One experiment per lever (levers of the same images and group share their splits); the table
    holds every lever finished in this workdir with this recipe, so it grows lever by lever."""
    if s.ablation_validation == "corpus" and len(s.corpora) < 3:
        log("ablation: --validation corpus needs two training corpora per fold; with two corpora in all, "
            "the levers are judged on validation speakers instead")
        s = replace(s, ablation_validation="speakers")
    run_experiments(s, [lever_experiment(s, LEVERS[name]) for name in s.levers])
    rows = []
    for lever in LEVERS.values():
        jobs = finished_jobs(lever_experiment(s, lever))
        rows += [{"lever": lever.name, "held_out": h, "val_uar": best_val_uar(jobs[(lever.name, h)]),
                  "held_out_uar": held_out_uar(jobs[(lever.name, h)]), "note": lever.note,
                  "validation": s.ablation_validation, "image_size": s.image_size, "epochs": s.epochs, "seed": s.seed}
                 for h in s.corpora if all((lever.name, c) in jobs for c in s.corpora)]
    table = pd.DataFrame(rows)
    table.to_csv(s.workdir / "ablation_results.csv", index=False)
    means = table.groupby("lever", sort=False)[["val_uar", "held_out_uar"]].mean()
    base = means.loc["base", "val_uar"] if "base" in means.index else float("nan")
    lines = [f"Ablation of the speaker CCT recipe, judged on validation rows (`--validation {s.ablation_validation}`), "
             f"{s.image_size} px, {s.epochs} epochs, seed {s.seed} for every fold. A lever is kept when its mean "
             f"validation UAR beats the base by at least {KEEP_MARGIN}; the held-out UAR is reported, not used.", "",
             "| lever | what | mean validation UAR | vs base | kept | mean held-out UAR (reported only) |",
             "|---|---|---:|---:|---|---:|"]
    for lever, row in means.iterrows():
        delta = row.val_uar - base
        kept = "-" if lever == "base" else ("yes" if is_kept(delta) else "no")
        lines.append(f"| {lever} | {LEVERS[lever].note} | {row.val_uar:.3f} | {delta:+.3f} | {kept} | "
                     f"{row.held_out_uar:.3f} |")
    return "\n".join(lines + per_fold_lines(table)) + "\n"


def per_fold_lines(table: pd.DataFrame) -> list[str]:
    """Each fold's validation gain over the base, on the fold's own validation corpus only (one fold's
    validation corpus can be another fold's test corpus; the pooled mean mixes them)."""
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


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--mode", choices=("main", "validation", "ablation", "both"), default="both",
                   help="validation: the main comparison under each --validation choice, side by side")
    p.add_argument("--workdir", type=Path, default=REPO_ROOT / "output" / "bench_loco")
    p.add_argument("--corpora", nargs="+", type=str.upper, default=list(DEFAULT_CORPORA), help="held out in turn")
    p.add_argument("--sources", nargs="*", default=[], metavar="CORPUS=PATH",
                   help="corpus folders as distributed (default: ../shared/corpora/<corpus>)")
    p.add_argument("--classes", nargs="+", default=list(SHARED_CLASSES), help="class set")
    p.add_argument("--image_size", type=int, choices=(32, 64, 112), default=64)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--validation", choices=VALIDATION_CHOICES, default="corpus",
                   help="validation rows of the main comparison (corpus: what the split stage's default, auto, "
                        "does with two or more training corpora)")
    p.add_argument("--augmentation", choices=("no_aug", "time_aug", "freq_aug", "time_freq_aug"), default="no_aug",
                   help="offline augmentation group of the main comparison (the levers set their own)")
    p.add_argument("--images", choices=list(IMAGE_VARIANTS), default="plain",
                   help=f"image variant of the main comparison (pad_short: utterances shorter than {PAD_SECONDS:g} s "
                        "padded with silence; the levers set their own)")
    p.add_argument("--ablation_validation", choices=("speakers", "corpus"), default="corpus",
                   help="validation rows on which the levers are judged")
    p.add_argument("--levers", nargs="+", choices=list(LEVERS), default=None, help="default: all (quick: two)")
    p.add_argument("--seed", type=int, default=0, help="the one seed of every split and every training")
    p.add_argument("--jobs", type=int, default=1,
                   help="jobs at once, each in its own process with its share of the cores (2 on a 2-core host: "
                        "about 1.25x the throughput, benchmarks/bench_jobs.py; the results do not depend on it)")
    p.add_argument("--bootstrap", type=int, default=1000)
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 3 files per speaker and emotion, 32 px, 1 epoch of 2 steps, 100 resamples, "
                        "levers base and specaugment")
    s, s.extra_train_flags = p.parse_known_args(argv)
    s.sources = {**DEFAULT_SOURCES, **{k.upper(): Path(v) for k, _, v in (x.partition("=") for x in s.sources)}}
    s.levers = ["base", *[x for x in s.levers or (["specaugment"] if s.quick else LEVERS) if x != "base"]]
    s.files_per_group = 3 if s.quick else 0
    if s.quick:
        s = replace(s, image_size=32, epochs=1, bootstrap=100, workdir=s.workdir / "quick")
    return s


def main(argv=None) -> int:
    s = parse(argv)
    started = time.perf_counter()
    s.workdir.mkdir(parents=True, exist_ok=True)
    s.corpora = import_corpora(s)
    if len(s.corpora) < 2:
        raise SystemExit(f"bench_loco: need at least two corpora, have {', '.join(s.corpora) or 'none'}")
    levers = [LEVERS[n] for n in s.levers] if s.mode in ("ablation", "both") else []
    main_too = s.mode != "ablation"
    prepare_datasets(s, {"plain", *(lv.images for lv in levers)} | ({s.images} if main_too else set()),
                     {lv.augmentation for lv in levers} | ({s.augmentation} if main_too else set()), features=main_too)
    reports = []
    if s.mode in ("main", "both"):
        opts = main_experiment(s)
        run_experiments(s, [opts])
        reports.append((main_name(s), main_report(s, opts)))
    if s.mode == "validation":
        reports += validation_mode(s)
    if levers:
        reports.append(("ablation", ablation_mode(s)))
    minutes = (time.perf_counter() - started) / 60
    host = f"{os.cpu_count()} CPU(s) visible, load average {os.getloadavg()[0]:.1f} at the end"
    for mode, text in reports:
        text += f"\nRun of {time.strftime('%Y-%m-%d %H:%M')}: {minutes:.1f} min in all ({host}).\n"
        (s.workdir / f"{mode}_report.md").write_text(text)
        print(f"\n## {mode}\n\n{text}")
    print(json.dumps({"corpora": s.corpora, "minutes": round(minutes, 1), "workdir": str(s.workdir)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
