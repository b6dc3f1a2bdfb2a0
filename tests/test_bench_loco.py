"""The leave-one-corpus-out benchmark as a client of the experiment engine: its comparisons run real
(tiny) trainings on demo corpora through specct.loco; the benchmark itself runs on the shared corpora."""
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_loco

from specct.loco import list_jobs
from specct.loco.split_folders import ensure_split

CORPORA = ["DEMOA", "DEMOB"]


def settings(workdir: Path, *flags: str):
    """--quick settings on two demo corpora (validation speakers: one training corpus per fold)."""
    s = bench_loco.parse(["--workdir", str(workdir), "--quick", "--corpora", *CORPORA, "--validation", "speakers",
                          "--bootstrap", "50", *flags])
    s.corpora = bench_loco.import_corpora(s)
    return s


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """Demo corpora where the benchmark keeps its imported ones, drawn and embedded once."""
    from specct.demo import CORE_EMOTIONS, generate_demo

    root = tmp_path_factory.mktemp("bench_loco")
    generate_demo(root / "quick" / "imported", seed=0, speakers=4, sentences=2, emotions=CORE_EMOTIONS,
                  corpora=CORPORA, progress=False)
    bench_loco.prepare_datasets(settings(root), {"plain"}, {"no_aug"}, features=True)
    return root


def job_predictions(opts) -> dict:
    return {job.id: pd.read_csv(job.test_dir(job.corpus) / "predictions.csv")
            for job in list_jobs(opts)}


@pytest.mark.slow
def test_main_comparison_runs_through_the_engine_with_one_seed_for_every_fold(workdir):
    s = settings(workdir)
    opts = bench_loco.main_experiment(s)
    bench_loco.run_experiments(s, [opts])
    report = bench_loco.main_report(s, opts)

    results = pd.read_csv(s.workdir / "main-speakers_results.csv")
    assert set(results["system"]) == {"speaker_cct", "plain_cct", "egemaps_svm"}
    assert sorted(set(results["held_out"])) == ["DEMOA", "DEMOB", "mean"]
    assert results["best_val_uar"].between(0, 1).all()
    comparisons = pd.read_csv(s.workdir / "main-speakers_comparisons.csv")
    assert set(comparisons["reference"]) == {"speaker_cct"} and len(comparisons) == 2 * 3
    assert "| speaker_cct | DEMOA |" in report and "seed 0 for every fold" in report
    # run_loco's convention: every fold's split and every training take the one --seed
    for corpus in CORPORA:
        split = ensure_split(opts, corpus)
        assert yaml.safe_load((split / "split_options.json").read_text())["seed"] == s.seed
    seeds = {yaml.safe_load((job.train_dir / "args.yaml").read_text())["seed"] for job in list_jobs(opts)}
    assert seeds == {s.seed}


@pytest.mark.slow
def test_jobs_side_by_side_give_what_one_at_a_time_gives(workdir):
    """--jobs 2: the same jobs in two processes with a core each; same predictions, each its own log."""
    import shutil

    from specct.loco import experiment_dir

    s = settings(workdir)
    opts = bench_loco.main_experiment(s)
    bench_loco.run_experiments(s, [opts])
    mine = job_predictions(opts)
    shutil.rmtree(experiment_dir(opts) / "jobs")                # the same jobs again, two at a time
    bench_loco.run_experiments(bench_loco.replace(s, jobs=2), [opts])
    theirs = job_predictions(opts)
    assert mine.keys() == theirs.keys() and len(mine) == 6
    for job_id in mine:
        assert mine[job_id]["prediction"].tolist() == theirs[job_id]["prediction"].tolist()
        probabilities = [c for c in mine[job_id].columns if c.startswith("prob_")]
        assert (mine[job_id][probabilities] - theirs[job_id][probabilities]).abs().to_numpy().max() < 1e-5
    logs = [job.folder / "bench.log" for job in list_jobs(opts)]
    assert all(log.is_file() for log in logs)
    assert any("training speaker_vgg_cct_7_7x2_112" in log.read_text() for log in logs)


@pytest.mark.slow
def test_added_train_flags_are_compared_with_the_recipe_alone(workdir):
    s = settings(workdir)
    alone = bench_loco.main_experiment(s)
    bench_loco.run_experiments(s, [alone])
    crops = settings(workdir, "--time_crop_prob", "0.5")
    assert bench_loco.main_name(crops) == "main-speakers-time_crop_prob_0.5"
    opts = bench_loco.main_experiment(crops)
    assert opts.experiment != alone.experiment                  # another recipe trains anew
    bench_loco.run_experiments(crops, [opts])

    lines = bench_loco.against_recipes_without_its_levers(crops, opts)

    assert any(line.startswith("`--time_crop_prob 0.5` against the recipe alone") for line in lines)
    assert sum(line.startswith(("| speaker_cct |", "| plain_cct |")) for line in lines) == 2
    saved = pd.read_csv(crops.workdir / "main-speakers-time_crop_prob_0.5_vs_no_added_flags.csv")
    assert list(saved["held_out"]) == [*CORPORA, "mean"] * 2
    assert saved["ci_low"].le(saved["difference"]).all() and saved["difference"].le(saved["ci_high"]).all()


def test_a_lever_without_its_counterpart_says_so(tmp_path):
    s = bench_loco.parse(["--workdir", str(tmp_path), "--mode", "main", "--augmentation", "time_freq_aug"])
    s.corpora = ["A", "B"]
    lines = bench_loco.against_recipes_without_its_levers(s, bench_loco.main_experiment(s))
    assert lines[1].startswith("No finished run with no offline group")


def test_main_comparison_is_named_after_its_levers(tmp_path):
    plain = bench_loco.parse(["--workdir", str(tmp_path), "--mode", "main"])
    assert bench_loco.main_name(plain) == "main-corpus"
    assert bench_loco.main_name(bench_loco.replace(plain, augmentation="freq_aug")) == "main-corpus-freq_aug"
    assert bench_loco.main_name(bench_loco.replace(plain, images="pad_short", augmentation="time_aug")) \
        == "main-corpus-pad_short-time_aug"


def per_fold_table(**gains) -> pd.DataFrame:
    rows = []
    for lever, values in {"base": (0.5, 0.5, 0.5), **gains}.items():
        rows += [{"lever": lever, "held_out": h, "val_uar": v} for h, v in zip(("EMODB", "RAVDESS", "TUREVDB"), values)]
    return pd.DataFrame(rows)


def test_per_fold_gains_are_each_folds_own_validation_gain():
    lines = bench_loco.per_fold_lines(per_fold_table(time_aug=(0.6, 0.5, 0.5)))
    assert next(line for line in lines if line.startswith("| time_aug")) == "| time_aug | +0.100 | +0.000 | +0.000 | 1 of 3 |"
    assert bench_loco.is_kept(0.02) and not bench_loco.is_kept(0.019)


def test_every_levers_images_are_drawn_with_its_own_settings():
    from specct.spectrogram import SpectrogramConfig

    configs = {lever.name: SpectrogramConfig(size=(64, 64), **bench_loco.IMAGE_VARIANTS[lever.images])
               for lever in bench_loco.LEVERS.values()}
    assert configs["pad_short"].min_seconds == bench_loco.PAD_SECONDS and not configs["pad_short"].mean_norm
    assert configs["mean_norm"].mean_norm and configs["mean_norm"].min_seconds is None
    assert configs["base"] == configs["specaugment"] == SpectrogramConfig(size=(64, 64))
