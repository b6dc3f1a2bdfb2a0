"""The leave-one-corpus-out benchmark as a client of the experiment engine, on two small demo corpora
(quick settings, one-block models): the main comparison, the ablation, padded images against plain
ones, side-by-side jobs, one seed for every fold, and re-runs that repeat nothing."""
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_loco  # noqa: E402

CORPORA = ["DEMOA", "DEMOB"]
SEED = 3
FLAGS = ["--quick", "--corpora", *CORPORA, "--validation", "speakers", "--bootstrap", "50", "--seed", str(SEED),
         "--model_kwargs", "depth=1", "--precision", "float32"]   # float32: the same names and numbers on every host


def demo_workdir(root: Path) -> Path:
    """A workdir whose imported corpora are demo corpora (quick runs live in <workdir>/quick)."""
    from specct.demo import CORE_EMOTIONS, generate_demo

    generate_demo(root / "quick" / "imported", seed=0, corpora=CORPORA, speakers=4, sentences=2,
                  emotions=CORE_EMOTIONS, progress=False)
    return root


def experiment_folder(workdir: Path, prefix: str) -> Path:
    [folder] = [p for p in (workdir / "loco").iterdir() if p.name.startswith(prefix)]
    return folder


def job_files(folder: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in sorted(folder.rglob("*")) if p.suffix in (".tar", ".skops", ".yaml")
            and p.name not in ("job.yaml", "experiment.yaml")}


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """Main and ablation (one job at a time), then the main comparison on padded images, two jobs at once."""
    workdir = demo_workdir(tmp_path_factory.mktemp("bench_loco"))
    assert bench_loco.main(["--workdir", str(workdir), *FLAGS]) == 0
    assert bench_loco.main(["--workdir", str(workdir), *FLAGS, "--mode", "main", "--images", "pad_short",
                            "--jobs", "2"]) == 0
    yield workdir / "quick"
    shutil.rmtree(workdir, ignore_errors=True)


def test_main_comparison_goes_through_the_engine_with_one_seed_for_every_fold(bench):
    results = pd.read_csv(bench / "main-speakers-model_kwargs_depth=1_results.csv")
    assert list(results["system"]) == [s for s in bench_loco.SYSTEMS for _ in range(3)]
    assert list(results["held_out"]) == [*CORPORA, "mean"] * 3
    assert (results["uar_ci_low"] <= results["uar"] + 1e-12).all() and (results["uar"] <= results["uar_ci_high"]).all()
    assert results["best_val_uar"].between(0, 1).all()
    comparisons = pd.read_csv(bench / "main-speakers-model_kwargs_depth=1_comparisons.csv")
    assert set(comparisons["reference"]) == {"speaker_cct"}
    assert list(comparisons["system"]) == ["plain_cct"] * 3 + ["egemaps_svm"] * 3
    folder = experiment_folder(bench, "main-speakers-model_kwargs")
    for corpus in CORPORA:
        split = bench / "data" / "plain-speakers" / corpus / "anger-happy-sad_classes" / "no_aug" / "no_balanced"
        assert yaml.safe_load((split / "split_options.json").read_text())["seed"] == SEED   # not SEED + fold
        files = []
        for system in bench_loco.SYSTEMS:
            job = folder / "jobs" / "loco" / system / corpus
            assert yaml.safe_load((job / "train" / "args.yaml").read_text())["seed"] == SEED
            files.append(set(pd.read_csv(job / "test" / "predictions.csv")["file"]))
        assert files[0] == files[1] == files[2] and len(files[0]) == 24    # one shared split per fold
    report = (bench / "main-speakers-model_kwargs_depth=1_report.md").read_text()
    assert "| egemaps_svm | speaker_cct | mean |" in report and f"seed {SEED} for every fold" in report


def test_ablation_keeps_a_lever_by_its_validation_gain_only(bench):
    table = pd.read_csv(bench / "ablation_results.csv")
    assert list(table["lever"]) == ["base", "base", "specaugment", "specaugment"]
    means = table.groupby("lever")["val_uar"].mean()
    gain = means["specaugment"] - means["base"]
    report = (bench / "ablation_report.md").read_text()
    row = next(line for line in report.splitlines() if line.startswith("| specaugment | 2 time"))
    assert f"| {gain:+.3f} | {'yes' if bench_loco.is_kept(gain) else 'no'} |" in row
    folds = table.pivot(index="lever", columns="held_out", values="val_uar")
    kept = sum(bench_loco.is_kept(folds.loc["specaugment", h] - folds.loc["base", h]) for h in CORPORA)
    assert f"| {kept} of 2 |" in next(line for line in report.splitlines() if line.startswith("| specaugment | ")
                                      and "of 2" in line)


def test_padded_images_face_plain_ones_on_the_same_rows_two_jobs_at_once(bench):
    report = (bench / "main-speakers-pad_short-model_kwargs_depth=1_report.md").read_text()
    assert "images `pad_short` against plain images" in report
    assert "| speaker_cct - speaker_cct@plain_images | mean |" in report
    saved = pd.read_csv(bench / "main-speakers-pad_short-model_kwargs_depth=1_vs_plain_images.csv")
    assert list(saved["held_out"]) == [*CORPORA, "mean"] * 2
    padded, plain = experiment_folder(bench, "main-speakers-pad_short"), experiment_folder(bench, "main-speakers-model")
    for corpus in CORPORA:
        assert (padded / "jobs" / "loco" / "speaker_cct" / corpus / "bench.log").is_file()   # a worker's own log
        # the SVM reads the same wavs and the shared features: same predictions, rows paired by wav
        svm = [pd.read_csv(f / "jobs" / "loco" / "egemaps_svm" / corpus / "test" / "predictions.csv")
               for f in (padded, plain)]
        names = [frame.assign(wav=frame["wav"].map(lambda p: Path(p).name)).sort_values("wav") for frame in svm]
        assert names[0]["wav"].tolist() == names[1]["wav"].tolist()
        assert names[0]["prediction"].tolist() == names[1]["prediction"].tolist()


def test_a_rerun_repeats_no_job_and_side_by_side_jobs_give_the_same_results(bench, tmp_path):
    before = job_files(bench / "loco")
    assert bench_loco.main(["--workdir", str(bench.parent), *FLAGS, "--mode", "ablation"]) == 0
    assert job_files(bench / "loco") == before
    other = demo_workdir(tmp_path)
    assert bench_loco.main(["--workdir", str(other), *FLAGS, "--mode", "ablation", "--jobs", "2"]) == 0
    columns = ["lever", "held_out", "val_uar", "held_out_uar"]
    pd.testing.assert_frame_equal(pd.read_csv(other / "quick" / "ablation_results.csv")[columns],
                                  pd.read_csv(bench / "ablation_results.csv")[columns])


def test_ablation_on_two_seeds_judges_each_lever_on_the_mean_over_seeds(bench):
    assert bench_loco.main(["--workdir", str(bench.parent), *FLAGS, "--mode", "ablation", "--seeds", "0", "1"]) == 0
    table = pd.read_csv(bench / "ablation-seeds0_1_results.csv")
    assert sorted(table["seed"].unique()) == [0, 1] and len(table) == 2 * 2 * 2    # levers x corpora x seeds
    assert table.groupby(["lever", "held_out"]).size().eq(2).all()
    by_seed = table.groupby(["lever", "seed"])["val_uar"].mean().unstack()
    gains = by_seed.loc["specaugment"] - by_seed.loc["base"]
    gain = table[table.lever == "specaugment"]["val_uar"].mean() - table[table.lever == "base"]["val_uar"].mean()
    assert abs(gain - gains.mean()) < 1e-12        # the mean over seeds of the per-seed gains
    report = (bench / "ablation-seeds0_1_report.md").read_text()
    assert "training seed(s) 0, 1" in report and "over folds and seeds" in report
    row = next(line for line in report.splitlines() if line.startswith("| specaugment | 2 time"))
    assert f"| {gain:+.3f} | {gains[0]:+.3f}; {gains[1]:+.3f} | {'yes' if bench_loco.is_kept(gain) else 'no'} |" in row
    jobs = experiment_folder(bench, "ablation-speakers-base-seeds0_1") / "jobs" / "loco" / "base" / CORPORA[0]
    assert sorted(p.name for p in jobs.iterdir() if p.is_dir()) == ["seed-0", "seed-1"]


def test_per_fold_gains_are_each_folds_own_validation_gain():
    table = pd.DataFrame([{"lever": lever, "held_out": h, "val_uar": 0.5} for lever in ("base", "time_aug")
                          for h in ("EMODB", "RAVDESS", "TUREVDB")])
    table.loc[(table.lever == "time_aug") & (table.held_out == "EMODB"), "val_uar"] = 0.6
    time_aug = next(line for line in bench_loco.per_fold_lines(table) if line.startswith("| time_aug"))
    assert time_aug == "| time_aug | +0.100 | +0.000 | +0.000 | 1 of 3 |"


def test_main_comparison_is_named_after_its_levers(tmp_path):
    def parse(argv):   # float32 named as the plain recipe; auto would name the host's choice
        return bench_loco.parse(argv if "--precision" in argv else [*argv, "--precision", "float32"])

    assert bench_loco.main_name(parse(["--workdir", str(tmp_path), "--mode", "main"])) == "main-corpus"
    assert bench_loco.main_name(parse(["--precision", "bfloat16"])) == "main-corpus-bfloat16"
    assert bench_loco.main_name(parse(["--images", "pad_short", "--augmentation", "time_aug", "--time_crop_prob",
                                       "0.5"])) == "main-corpus-pad_short-time_aug-time_crop_prob_0.5"
    s = parse(["--quick"])
    assert (s.image_size, s.epochs, s.levers, s.workdir.name) == (32, 1, ["base", "specaugment"], "quick")


def ablation_options(tmp_path, lever: str):
    """The speaker CCT's training options in one ablation arm: configs/scratch, the base's flags, the lever's."""
    from specct.pipeline import scratch_config
    from specct.train.options import given_flags, training_options

    flags = given_flags([*bench_loco.ABLATION_BASE_FLAGS, *bench_loco.LEVERS[lever].flags])
    return vars(training_options(tmp_path, scratch_config(bench_loco.SPEAKER_MODEL), **flags))


def test_the_recipe_arm_is_configs_scratch_and_the_base_turns_off_what_the_ablation_switched_on(tmp_path):
    from specct.pipeline import scratch_config
    from specct.train.options import training_options

    recipe = vars(training_options(tmp_path, scratch_config(bench_loco.SPEAKER_MODEL)))
    assert ablation_options(tmp_path, "specaugment_mixup") == recipe   # the arm levers on top are judged against
    base = ablation_options(tmp_path, "base")
    assert {k for k in recipe if recipe[k] != base[k]} == {"mixup", "specaugment_time_masks", "specaugment_freq_masks"}
    assert base["mixup"] == 0 and base["specaugment_time_masks"] == 0


@pytest.mark.parametrize("lever, changed", [("specaugment_mixup_smaller", {"model_kwargs"}),
                                            ("specaugment_mixup_word_crops", {"time_crop_prob"})])
def test_a_lever_tried_on_top_of_the_recipe_changes_only_its_own_flags(tmp_path, lever, changed):
    recipe, arm = ablation_options(tmp_path, "specaugment_mixup"), ablation_options(tmp_path, lever)
    assert {k for k in recipe if recipe[k] != arm[k]} == changed
    own = ablation_options(tmp_path, lever.removeprefix("specaugment_mixup_"))   # the lever on the base
    assert all(arm[k] == own[k] for k in changed)


@pytest.mark.parametrize("lever", ["mean_norm", "freq_aug", "time_aug", "time_freq_aug"])
def test_an_image_lever_on_top_of_the_recipe_is_the_recipe_on_the_levers_images(tmp_path, lever):
    arm, own = bench_loco.LEVERS[f"specaugment_mixup_{lever}"], bench_loco.LEVERS[lever]
    assert (arm.images, arm.augmentation, arm.against) == (own.images, own.augmentation, "specaugment_mixup")
    assert ablation_options(tmp_path, arm.name) == ablation_options(tmp_path, "specaugment_mixup")


def test_a_lever_on_top_of_the_recipe_is_judged_against_the_recipe_not_the_base():
    # seed by seed (mean over folds): base 0.50, the recipe's arm 0.60, the arm on top 0.61: +0.11 over the
    # base would keep it, +0.01 over the recipe does not
    rows = [{"lever": lever, "held_out": h, "seed": seed, "val_uar": value + 0.01 * seed}
            for lever, value in (("base", 0.50), ("specaugment_mixup", 0.60), ("specaugment_mixup_smaller", 0.61),
                                 ("smaller", 0.53))
            for h in ("EMODB", "RAVDESS", "TUREVDB") for seed in (0, 1)]
    found = pd.DataFrame(rows)
    means = found.groupby("lever", sort=False)[["val_uar"]].mean()
    verdict = bench_loco.verdicts(means)
    assert verdict["smaller"] == "yes" and verdict["specaugment_mixup_smaller"] == "no (vs specaugment_mixup)"
    assert verdict["specaugment_mixup"] == "-"   # its own reference (specaugment) was not run here
    [line] = [x for x in bench_loco.on_top_lines(found, means) if x.startswith("| specaugment_mixup_smaller")]
    assert line == "| specaugment_mixup_smaller | specaugment_mixup | 0.615 | +0.010 | +0.010; +0.010 | no |"


def test_the_main_comparison_links_the_recipe_arms_finished_jobs_only_where_the_training_is_the_same(bench):
    workdir = ["--workdir", str(bench.parent)]
    seeds = ["--seeds", str(SEED)]   # names of their own: the fixture's main comparison trained before the arm
    assert bench_loco.main([*workdir, *FLAGS, *seeds, "--mode", "ablation", "--levers", "specaugment_mixup"]) == 0
    arm = experiment_folder(bench, "ablation-speakers-specaugment_mixup-") / "jobs" / "loco" / "specaugment_mixup"
    assert bench_loco.main([*workdir, *FLAGS, *seeds, "--mode", "main"]) == 0
    main = experiment_folder(bench, "main-speakers-model_kwargs_depth=1-seeds") / "jobs" / "loco"
    for corpus in CORPORA:
        record = yaml.safe_load((main / "speaker_cct" / corpus / "job.yaml").read_text())
        assert record["reused_from"] == {"arm": "specaugment_mixup", "job": str(arm / corpus)}
        for name in ("train/model_best.pth.tar", "test/predictions.csv"):
            assert (main / "speaker_cct" / corpus / name).samefile(arm / corpus / name)
        assert "reused_from" not in yaml.safe_load((main / "plain_cct" / corpus / "job.yaml").read_text())
    report = (bench / "main-speakers-model_kwargs_depth=1-seeds3_report.md").read_text()
    assert "2 speaker_cct job(s) are the finished jobs of the ablation's recipe arm (`specaugment_mixup`)" in report
    # another training option (a second transformer block): nothing is linked, the speaker CCT trains
    deeper = [*FLAGS[:-4], "--model_kwargs", "depth=2", "--precision", "float32"]
    assert bench_loco.main([*workdir, *deeper, *seeds, "--mode", "main"]) == 0
    other = experiment_folder(bench, "main-speakers-model_kwargs_depth=2") / "jobs" / "loco" / "speaker_cct"
    assert all("reused_from" not in yaml.safe_load((other / c / "job.yaml").read_text()) for c in CORPORA)
