"""The leave-one-corpus-out benchmark's bookkeeping (the benchmark itself runs in `make bench`)."""
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_loco


def rows(lever: str, val_uar: float, **settings) -> list[dict]:
    base = {"validation": "corpus", "image_size": 64, "epochs": 8, "seed": 0}
    return [{"lever": lever, "held_out": held_out, "val_uar": val_uar, "held_out_uar": val_uar, "note": "",
             **base, **settings} for held_out in ("EMODB", "RAVDESS", "TUREVDB")]


def test_ablation_table_keeps_levers_of_earlier_runs_with_the_same_settings(tmp_path):
    s = bench_loco.parse(["--workdir", str(tmp_path), "--mode", "ablation", "--levers", "time_aug"])
    results_csv = tmp_path / "ablation_results.csv"
    earlier = rows("base", 0.5) + rows("freq_aug", 0.6) + rows("mixup", 0.4, epochs=2) + rows("time_aug", 0.1)
    pd.DataFrame(earlier).to_csv(results_csv, index=False)

    now = pd.DataFrame(rows("base", 0.5) + rows("time_aug", 0.7))
    table = bench_loco.with_earlier_levers(now, results_csv, s)

    means = table.groupby("lever", sort=False)["val_uar"].mean()
    # freq_aug comes from the earlier run; mixup ran with other settings; time_aug is replaced
    assert list(means.index) == ["base", "freq_aug", "time_aug"]
    assert means["time_aug"] == pytest.approx(0.7) and means["freq_aug"] == pytest.approx(0.6)
    assert len(table) == 9


def test_ablation_table_without_earlier_runs_is_this_runs_rows(tmp_path):
    s = bench_loco.parse(["--workdir", str(tmp_path), "--mode", "ablation", "--levers", "mixup"])
    now = pd.DataFrame(rows("base", 0.5) + rows("mixup", 0.4))
    assert bench_loco.with_earlier_levers(now, tmp_path / "ablation_results.csv", s).equals(now)


def test_main_comparison_is_named_after_its_augmentation(tmp_path):
    plain = bench_loco.parse(["--workdir", str(tmp_path), "--mode", "main"])
    augmented = bench_loco.parse(["--workdir", str(tmp_path), "--mode", "main", "--augmentation", "freq_aug"])
    # the runs of reports made before the option existed (no augmentation) keep their folder
    assert bench_loco.main_name(plain) == "main-corpus"
    assert bench_loco.main_name(augmented) == "main-corpus-freq_aug"


def test_per_fold_gains_are_each_folds_own_validation_gain():
    table = pd.DataFrame(rows("base", 0.5) + rows("time_aug", 0.5))
    table.loc[(table.lever == "time_aug") & (table.held_out == "EMODB"), "val_uar"] = 0.6
    lines = bench_loco.per_fold_lines(table)
    time_aug = next(line for line in lines if line.startswith("| time_aug"))
    assert time_aug == "| time_aug | +0.100 | +0.000 | +0.000 | 1 of 3 |"


def test_every_levers_images_are_drawn_with_its_own_settings():
    from specct.spectrogram import SpectrogramConfig

    configs = {lever.name: SpectrogramConfig(size=(64, 64), **bench_loco.IMAGE_VARIANTS[lever.images])
               for lever in bench_loco.LEVERS.values()}
    assert configs["pad_short"].min_seconds == bench_loco.PAD_SECONDS and not configs["pad_short"].mean_norm
    assert configs["mean_norm"].mean_norm and configs["mean_norm"].min_seconds is None
    assert configs["base"] == configs["specaugment"] == SpectrogramConfig(size=(64, 64))


def test_trainings_run_side_by_side_give_what_one_at_a_time_gives(tmp_path, demo_split):
    """--jobs 2 trains in two processes with one thread each: same runs, same order, own logs."""
    def run(name: str, *flags: str) -> list[dict]:
        s = bench_loco.parse(["--workdir", str(tmp_path / name), "--quick", *flags])
        jobs = [bench_loco.CctJob(demo_split.split_dir, model, tmp_path / name / model)
                for model in (bench_loco.SPEAKER_MODEL, bench_loco.PLAIN_MODEL)]
        return bench_loco.run_ccts(s, jobs)

    one_at_a_time, side_by_side = run("one"), run("two", "--jobs", "2")

    for model, a, b in zip((bench_loco.SPEAKER_MODEL, bench_loco.PLAIN_MODEL), one_at_a_time, side_by_side):
        assert a["predictions"]["wav"].tolist() == b["predictions"]["wav"].tolist()
        assert a["performance"]["uar"] == pytest.approx(b["performance"]["uar"])
        log = (tmp_path / "two" / model / "bench.log").read_text()
        assert f"training {model}" in log     # the worker's training output went to the run's own log
        assert not (tmp_path / "one" / model / "bench.log").exists()


TRUTH = ["anger", "happy", "sad"] * 10
HALF_RIGHT = ["happy", "sad", "anger"] * 5 + TRUTH[15:]     # a prediction with half the rows right


def fake_run(folder: Path, truth: list[str], prediction: list[str], val_uar: float) -> dict:
    """A finished run folder as evaluation leaves it (predictions, performance, training summary)."""
    import yaml
    from sklearn.metrics import balanced_accuracy_score

    (folder / "test").mkdir(parents=True)
    wavs = [f"{folder.relative_to(folder.parents[1]).as_posix()}/w{i}.wav" for i in range(len(truth))]
    pd.DataFrame({"wav": wavs, "truth": truth, "prediction": prediction}) \
        .to_csv(folder / "test" / "predictions.csv", index=False)
    uar = float(balanced_accuracy_score(truth, prediction))
    (folder / "test" / "performance.yaml").write_text(yaml.safe_dump({"uar": uar}))
    pd.DataFrame({"epoch": [1], "val_uar": [val_uar]}).to_csv(folder / "summary.csv", index=False)
    return bench_loco.read_result(folder, folder / "test")


def test_an_offline_group_is_compared_with_the_same_recipe_without_one(tmp_path):
    s = bench_loco.parse(["--workdir", str(tmp_path), "--mode", "main", "--augmentation", "time_freq_aug",
                          "--bootstrap", "200"])
    assert bench_loco.against_recipes_without_its_levers(s, ["A", "B"], {"A": {}, "B": {}})[1].startswith(
        "No finished run")

    no_aug = replace(s, augmentation="no_aug")
    results = {}
    for held_out in ("A", "B"):
        name = bench_loco.run_name(no_aug, "speaker_cct", bench_loco.SPEAKER_MODEL)
        fake_run(tmp_path / "runs" / "main-corpus" / name / held_out, TRUTH, HALF_RIGHT, val_uar=0.5)
        results[held_out] = {
            "speaker_cct": fake_run(tmp_path / "group" / "speaker" / held_out, TRUTH, TRUTH, val_uar=0.7),
            "plain_cct": fake_run(tmp_path / "group" / "plain" / held_out, TRUTH, HALF_RIGHT, val_uar=0.6)}

    lines = bench_loco.against_recipes_without_its_levers(s, ["A", "B"], results)

    assert "| speaker_cct | 0.700 / 0.500 | 1.000 / 0.500 |" in lines
    assert not any(line.startswith("| plain_cct") for line in lines)   # no run without the group to pair with
    saved = pd.read_csv(tmp_path / "main-corpus-time_freq_aug_vs_no_aug.csv")
    assert list(saved["held_out"]) == ["A", "B", "mean"]
    assert saved["difference"].tolist() == pytest.approx([0.5, 0.5, 0.5])


def test_padded_images_are_compared_with_plain_ones_and_the_group_with_none(tmp_path):
    s = bench_loco.parse(["--workdir", str(tmp_path), "--mode", "main", "--images", "pad_short",
                          "--augmentation", "time_aug", "--bootstrap", "200"])
    assert bench_loco.main_name(s) == "main-corpus-pad_short-time_aug"
    assert bench_loco.main_name(replace(s, images="plain")) == "main-corpus-time_aug"   # earlier runs keep their name
    results = {}
    for held_out in ("A", "B"):
        for without, predicted in ((replace(s, images="plain"), HALF_RIGHT),
                                   (replace(s, augmentation="no_aug"), TRUTH)):
            name = bench_loco.run_name(without, "speaker_cct", bench_loco.SPEAKER_MODEL)
            fake_run(tmp_path / "runs" / bench_loco.main_name(without) / name / held_out, TRUTH, predicted, 0.4)
        results[held_out] = {"speaker_cct": fake_run(tmp_path / "this" / held_out, TRUTH, TRUTH, val_uar=0.6)}

    lines = bench_loco.against_recipes_without_its_levers(s, ["A", "B"], results)

    titles = [line for line in lines if " against " in line]
    assert titles[0].startswith("images `pad_short` against plain images") and "`main-corpus-time_aug`" in titles[0]
    assert titles[1].startswith("`time_aug` against no offline group") and "`main-corpus-pad_short`" in titles[1]
    assert lines.count("| speaker_cct | 0.600 / 0.400 | 1.000 / 0.500 |") == 1     # against the plain images
    assert lines.count("| speaker_cct | 0.600 / 0.400 | 1.000 / 1.000 |") == 1     # against no group
    # the image variants' runs name their wavs under their own datasets folder; rows pair by file name
    assert all(p.startswith("this/") for p in results["A"]["speaker_cct"]["predictions"]["wav"])
    assert pd.read_csv(tmp_path / "main-corpus-pad_short-time_aug_vs_plain_images.csv")["difference"].tolist() \
        == pytest.approx([0.5, 0.5, 0.5])
    assert pd.read_csv(tmp_path / "main-corpus-pad_short-time_aug_vs_no_aug.csv")["difference"].tolist() \
        == pytest.approx([0.0, 0.0, 0.0])


def test_added_train_flags_name_their_own_report_and_are_compared_with_the_recipe_alone(tmp_path):
    s = bench_loco.parse(["--workdir", str(tmp_path), "--mode", "main", "--bootstrap", "200", "--time_crop_prob", "0.5"])
    assert s.extra_train_flags == ["--time_crop_prob", "0.5"]
    assert bench_loco.main_name(s) == "main-corpus-time_crop_prob_0.5"
    alone = replace(s, extra_train_flags=[])
    assert bench_loco.main_name(alone) == "main-corpus"                       # the recipe's report keeps its name
    assert bench_loco.run_name(s, "speaker_cct", bench_loco.SPEAKER_MODEL) != \
        bench_loco.run_name(alone, "speaker_cct", bench_loco.SPEAKER_MODEL)
    results = {}
    for held_out in ("A", "B"):
        name = bench_loco.run_name(alone, "speaker_cct", bench_loco.SPEAKER_MODEL)
        fake_run(tmp_path / "runs" / "main-corpus" / name / held_out, TRUTH, HALF_RIGHT, val_uar=0.5)
        results[held_out] = {"speaker_cct": fake_run(tmp_path / "this" / held_out, TRUTH, TRUTH, val_uar=0.7)}

    lines = bench_loco.against_recipes_without_its_levers(s, ["A", "B"], results)

    assert lines[1].startswith("`--time_crop_prob 0.5` against the recipe alone")
    assert "| speaker_cct | 0.700 / 0.500 | 1.000 / 0.500 |" in lines
    assert (tmp_path / "main-corpus-time_crop_prob_0.5_vs_no_added_flags.csv").is_file()
