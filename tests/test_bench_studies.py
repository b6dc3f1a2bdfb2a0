"""The leave-one-corpus-out benchmark as study files (benchmarks/studies/): each one's plan (folds,
systems, seeds, sweep variants, the splits and images of systems with their own), read without
training; the study keys they need (a system's own ``split`` and ``spectrogram``, a variant's
``against``), their one-line errors, and one tiny study with them through ``specct run``."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from specct.core import paths
from specct.core.errors import InputError

REPO_ROOT = Path(__file__).resolve().parents[1]
STUDIES = REPO_ROOT / "benchmarks" / "studies"
SHARED = REPO_ROOT.parent / "shared" / "corpora"
FOLDS = ["EMODB", "RAVDESS", "TUREVDB"]
CCT_FLAGS = {"epochs": 8, "input_size": [3, 64, 64]}
ABLATION_BASE = {**CCT_FLAGS, "specaugment_time_masks": 0, "specaugment_freq_masks": 0, "mixup": 0}
LEVERS = ["base", "specaugment", "mixup", "specaugment_mixup", "specaugment_pad_short", "specaugment_mixup_smaller",
          "specaugment_mixup_word_crops", "specaugment_mixup_mean_norm", "specaugment_mixup_freq_aug",
          "specaugment_mixup_time_aug", "specaugment_mixup_time_freq_aug", "no_smoothing", "mean_norm", "word_crops",
          "pad_short", "speaker_norm_corpus", "speaker_norm_speaker", "smaller", "larger", "dann", "dann_transductive",
          "balance_corpora", "input_norm_corpus", "freq_aug", "time_aug", "time_freq_aug"]
# Each study's plan: its systems, training seeds, jobs (a scikit-learn baseline runs once for every seed;
# the counts are those of the former bench_loco.py mode, checked job by job when it became these files),
# each sweep's variants and the arms named as `against`.
EXPECTED = {
    "main.yml": {"systems": ["speaker_cct", "plain_cct", "egemaps_svm", "fusion", "egemaps_svm_no_refit",
                             "fusion_no_refit"], "seeds": [0, 1, 2], "jobs": 42, "sweeps": {}},
    "validation.yml": {"systems": [f"{s}-{c}" for c in ("corpus", "speakers", "none")
                                   for s in ("speaker_cct", "plain_cct", "egemaps_svm")],
                       "seeds": [0], "jobs": 27, "sweeps": {}},
    "validation_seeds.yml": {"systems": ["speaker_cct-corpus", "speaker_cct-corpus_refit", "speaker_cct-speakers",
                                         "egemaps_svm-corpus", "egemaps_svm-speakers"],
                             "seeds": [0, 1, 2], "jobs": 33, "sweeps": {}},
    "whisper_fusion.yml": {"systems": ["speaker_cct-whisper", "speaker_cct-both", "whisper_svm", "whisper_head",
                                       "whisper_finetune", "egemaps_svm", "egemaps_svm_no_refit", "speaker_cct",
                                       "fusion"],
                           "seeds": [0, 1, 2], "jobs": 63, "sweeps": {}},
    "whisper_input.yml": {"systems": ["whisper_svm", "egemaps_svm"], "seeds": [0], "jobs": 9,
                          "sweeps": {"whisper_svm": ["whisper_input=real", "whisper_input=padded"]}},
    "ablation.yml": {"systems": ["speaker_cct", "speaker_cct_speakers"], "seeds": [0, 1, 2], "jobs": 279,
                     "sweeps": {"speaker_cct": LEVERS, "speaker_cct_speakers": [
                         "base", "dann", "balance_corpora", "dann_transductive", "input_norm_corpus"]}},
}
needs_corpora = pytest.mark.skipif(not SHARED.is_dir(), reason=f"the shared corpora ({SHARED}) are not here: "
                                   "the benchmark studies name their folders, which a study must find")


def test_every_study_file_has_its_expected_plan():
    assert sorted(p.name for p in STUDIES.glob("*.yml")) == sorted(EXPECTED)


def test_the_readme_table_names_the_study_that_reproduces_it():
    readme = (REPO_ROOT / "README.md").read_text()
    results = readme.split("## Results")[1].split("\n## ")[0]
    [command] = re.findall(r"^    (specct run \S+.*)$", results, re.M)
    assert command.split()[2] == "benchmarks/studies/main.yml" and (REPO_ROOT / command.split()[2]).is_file()
    assert "bench_loco" not in readme


def test_the_readme_heatmap_draws_the_main_studys_systems_under_the_readmes_names(tmp_path):
    """benchmarks/readme_heatmap.py: the rows of main.yml's systems the README draws, renamed; the
    others (the refit fusion, the SVM not refit) left out; a study without them is one line."""
    import subprocess
    import sys

    names = [s["name"] for s in yaml.safe_load((STUDIES / "main.yml").read_text())["systems"]]
    rows = [{"system": n, "held_out": c, "uar": 0.1 * i + 0.01 * j}
            for i, n in enumerate(names) for j, c in enumerate(["EMODB", "RAVDESS", "TUREVDB", "mean"])]
    experiment = tmp_path / "loco-main"
    experiment.mkdir()
    pd.DataFrame(rows).to_csv(experiment / "results.csv", index=False)
    script = REPO_ROOT / "benchmarks" / "readme_heatmap.py"
    done = subprocess.run([sys.executable, str(script), str(experiment), "--out", str(tmp_path / "heat.png")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "heat.png").stat().st_size > 10_000

    sys.path.insert(0, str(script.parent))
    try:
        from readme_heatmap import readme_rows
    finally:
        sys.path.remove(str(script.parent))
    drawn = readme_rows(experiment / "results.csv").pivot(index="system", columns="held_out", values="uar")
    assert sorted(drawn.index) == sorted(["speaker CCT", "plain CCT", "eGeMAPS + SVM", "speaker CCT + SVM"])
    assert drawn.loc["speaker CCT + SVM", "RAVDESS"] == pytest.approx(0.1 * names.index("fusion_no_refit") + 0.01)

    pd.DataFrame(rows[:4]).to_csv(experiment / "results.csv", index=False)
    wrong = subprocess.run([sys.executable, str(script), str(experiment), "--out", str(tmp_path / "x.png")],
                           capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1 and "plain_cct" in wrong.stderr
    assert not (tmp_path / "x.png").exists()


def read_benchmark_study(name: str, tmp_path: Path, monkeypatch):
    """The study as written, its output and datasets folder in ``tmp_path`` (corpus folders left empty:
    the plan reads their names only)."""
    from specct.study.engine import read_study

    monkeypatch.chdir(REPO_ROOT)   # its corpus folders are named from the repository root
    content = yaml.safe_load((STUDIES / name).read_text())
    content.update(output=str(tmp_path / "out"), datasets_dir=str(tmp_path / "datasets"))
    study = read_study(content, where=str(STUDIES / name))
    for corpus in study.corpus_names:
        paths.wav_dir(study.datasets_dir, corpus).mkdir(parents=True, exist_ok=True)
    return study


@needs_corpora
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_benchmark_study_plans_its_folds_systems_seeds_and_variants(name, tmp_path, monkeypatch):
    from specct.loco.jobs import list_jobs
    from specct.loco.sweeps import against_of

    expected = EXPECTED[name]
    study = read_benchmark_study(name, tmp_path, monkeypatch)
    opts = study.loco
    assert study.corpus_names == FOLDS and opts.classes == "anger,happy,sad" and opts.seed == 0
    assert [s.name for s in opts.systems] == expected["systems"]
    jobs = list_jobs(opts)
    assert len(jobs) == expected["jobs"]
    assert sorted({j.corpus for j in jobs}) == FOLDS
    assert sorted({j.seed for j in jobs}) == expected["seeds"]
    sweeps = {s.name: [v["name"] for v in s.sweep] for s in opts.systems if s.sweep}
    assert sweeps == expected["sweeps"]
    for system in (s for s in opts.systems if s.sweep):   # each arm judged against one above it
        for variant, arm in against_of(system).items():
            assert sweeps[system.name].index(arm) < sweeps[system.name].index(variant)
    assert not (tmp_path / "out").exists()   # reading the plan writes nothing


@needs_corpora
def test_the_ablation_variants_carry_their_images_groups_and_arms(tmp_path, monkeypatch):
    from specct.loco.experiment import system_options
    from specct.loco.sweeps import against_of, variant_systems

    study = read_benchmark_study("ablation.yml", tmp_path, monkeypatch)
    opts = study.loco
    cct, speakers = opts.systems
    assert cct.flags == speakers.flags == ABLATION_BASE
    variants = {v.name.split("@")[1]: v for v in variant_systems(cct)}
    assert against_of(cct)["specaugment_mixup_time_freq_aug"] == "specaugment_mixup"
    mean_norm = system_options(opts, variants["specaugment_mixup_mean_norm"])
    assert mean_norm.datasets_dir.endswith("datasets@mean_norm=true")
    assert mean_norm.data_dir.endswith("data@mean_norm=true")
    padded = system_options(opts, variants["pad_short"])
    assert padded.datasets_dir.endswith("datasets@min_seconds=3.0") and padded.augmentation == "no_aug"
    grouped = system_options(opts, variants["time_freq_aug"])   # the group's own subfolder, the same data folder
    assert (grouped.augmentation, grouped.data_dir, grouped.datasets_dir) == (
        "time_freq_aug", opts.data_dir, opts.datasets_dir)
    assert variants["specaugment_mixup_smaller"].flags == {
        **ABLATION_BASE, "specaugment_time_masks": 2, "specaugment_freq_masks": 2, "mixup": 0.2,
        "model_kwargs": ["depth=4", "attn_drop_rate=0"]}
    judged = system_options(opts, variant_systems(speakers)[1])   # validated on speakers of both corpora
    assert judged.validation == "speakers" and judged.data_dir.endswith("data@validation=speakers")
    assert sorted(study.augmentations) == ["freq_aug", "time_aug", "time_freq_aug"]   # every group a split reads


@needs_corpora
def test_the_main_study_shares_the_ablations_corpora_and_trains_its_recipe_arm(tmp_path, monkeypatch):
    """main.yml's speaker CCT is the ablation's `specaugment_mixup_time_freq_aug` variant: the same
    train.py options and split settings, so under one output root the engine reuses that training."""
    from specct.loco.experiment import system_options
    from specct.loco.jobs import job_training_options, list_jobs

    def options(name, system):
        opts = read_benchmark_study(name, tmp_path / name, monkeypatch).loco
        job = next(j for j in list_jobs(opts) if j.system.name == system and j.corpus == "EMODB" and j.seed == 1)
        own = system_options(opts, job.system)
        found = vars(job_training_options(opts, job, Path("train_data")))
        return {k: v for k, v in found.items() if k != "experiment"}, (own.augmentation, own.validation)

    arm = options("ablation.yml", "speaker_cct@specaugment_mixup_time_freq_aug")
    assert options("main.yml", "speaker_cct") == arm
    # the Whisper study's speaker CCT is the validation study's corpus arm: trained once for both
    assert options("whisper_fusion.yml", "speaker_cct") == options("validation_seeds.yml", "speaker_cct-corpus")
    assert options("validation_seeds.yml", "speaker_cct-corpus_refit")[0] == {
        **options("validation_seeds.yml", "speaker_cct-corpus")[0], "refit": True}
    files = {n: yaml.safe_load((STUDIES / n).read_text()) for n in EXPECTED}
    assert {f["datasets_dir"] for f in files.values()} == {"output/loco-datasets"}
    assert all("output" not in f for f in files.values())   # one output root: one reuse index


@needs_corpora
def test_the_dry_run_prints_the_folds_sweeps_and_own_settings(capsys, monkeypatch):
    from specct.study.engine import run_study

    monkeypatch.chdir(REPO_ROOT)
    run_study("benchmarks/studies/ablation.yml", dry_run=True, progress=False)
    out = capsys.readouterr().out
    assert all(f"held out {c}" in out for c in FOLDS)
    assert "sweep speaker_cct 26 variants, the first the base: base, specaugment," in out
    assert "specaugment_mixup (on top of specaugment)" in out
    assert re.search(r"settings speaker_cct@mean_norm +mean_norm True \(images \S+datasets@mean_norm=true", out)
    if not (REPO_ROOT / "output" / "loco-datasets").exists():   # before the import: counted from the file
        assert re.search(r"^jobs +279 jobs to do$", out, re.M)   # 31 variants x 3 folds x 3 seeds


# --------------------------------------------------------------------------- the keys, on demo corpora

DEMO = {"corpora": {"DEMOA": "demo", "DEMOB": "demo", "DEMOC": "demo"}, "demo": {"speakers": 3, "sentences": 2},
        "num_classes": 4, "spectrogram": {"size": 32}, "speaker": {"n_components": 16}, "bootstrap": 50}


def svm(**entry):
    return {"name": "svm", "model": "egemaps_svm", **entry}


@pytest.mark.parametrize("system, message", [
    (svm(split={"validaton": "none"}), "systems[1].split: unknown key 'validaton' (did you mean 'validation'?)"),
    (svm(split={"validation": "sometimes"}), "systems[1].split.validation: "),
    (svm(spectrogram={"mean_nrom": True}),
     "systems[1].spectrogram: unknown key 'mean_nrom' (did you mean 'mean_norm'?)"),
    (svm(spectrogram={"min_seconds": -1}), "systems[1].spectrogram.min_seconds: "),
    (svm(spectrogram={"augmentations": ["freq_aug"]}), "systems[1].spectrogram: unknown key 'augmentations'"),
    (svm(sweep=[{"name": "a"}, {"name": "b", "against": "c"}]),
     "systems[1].sweep[2].against: 'c' is not a variant above it; allowed: a"),
    (svm(sweep=[{"name": "a"}, {"name": "b", "against": "b"}]), "systems[1].sweep[2].against: 'b' is not a variant"),
    (svm(sweep=[{"name": "a"}, {"name": "b", "split": {"validation": "speakers"}}]),
     "systems[1].sweep[2].split: a variant sets only augmentation, balanced"),
    (svm(sweep=[{"name": "a"}, {"name": "b", "split": {"augmentation": "loud_aug"}}]),
     "systems[1].sweep[2].split.augmentation: "),
    (svm(sweep=[{"name": "a"}, {"name": "b", "spectrogram": {"n_mels": 0}}]),
     "systems[1].sweep[2].spectrogram.n_mels: "),
    (svm(sweep=[{"name": "a"}, {"name": "b", "agianst": "a"}]), "unknown key 'agianst' (did you mean 'against'?)"),
    (svm(split={"validation": "none"}, sweep=[{"name": "a"}, {"name": "b"}]),
     "systems: svm has a sweep, chosen on validation rows; its split.validation none has none"),
])
def test_a_wrong_own_setting_is_one_line_naming_its_key(system, message, tmp_path):
    from specct.study.engine import read_study

    with pytest.raises(InputError) as error:
        read_study({**DEMO, "name": "keys", "output": str(tmp_path / "out"), "systems": [system]})
    assert message in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "out").exists()


def test_a_variant_tried_on_top_of_another_must_beat_it_too():
    from specct.loco.sweeps import choose_variant, sweep_table

    scores = {"base": 0.50, "recipe": 0.60, "recipe_more": 0.61}
    assert choose_variant(scores) == "recipe_more"                                 # best, beats the base
    assert choose_variant(scores, against={"recipe_more": "recipe"}) == "recipe"   # not by 0.02 over its arm
    assert choose_variant({**scores, "recipe_more": 0.63}, against={"recipe_more": "recipe"}) == "recipe_more"
    rows = [{"system": "cct", "held_out": "X", "variant": v, "seed": 0, "validation_uar": u, "held_out_uar": 0.5}
            for v, u in scores.items()]
    table = sweep_table(rows, against={"cct": {"recipe_more": "recipe"}}).set_index("variant")
    assert table["validation_gain"].round(3).to_dict() == {"base": 0.0, "recipe": 0.1, "recipe_more": 0.01}
    assert table["chosen"].to_dict() == {"base": False, "recipe": True, "recipe_more": False}


TINY = {**DEMO, "name": "tiny", "held_out": ["DEMOA", "DEMOC"], "systems": [
    {"name": "svm", "model": "egemaps_svm", "sweep": [
        {"name": "base", "flags": {}},
        {"name": "c1", "flags": {"svm_c": 1.0}},
        {"name": "c1_freq_aug", "flags": {"svm_c": 1.0}, "split": {"augmentation": "freq_aug"}, "against": "c1"},
        {"name": "mean_norm", "spectrogram": {"mean_norm": True}}]},
    # two demo speakers per corpus leave no validation speakers: C is given
    {"name": "svm-speakers", "model": "egemaps_svm", "flags": {"svm_c": 1.0}, "split": {"validation": "speakers"}}]}


def test_a_study_with_own_splits_images_and_arms_runs_through_specct_run(tmp_path):
    from specct.study.engine import main

    study = tmp_path / "tiny.yml"
    study.write_text(yaml.safe_dump({**TINY, "output": str(tmp_path)}, sort_keys=False))
    assert main([str(study), "--no_progress"]) == 0     # specct run tiny.yml
    root = tmp_path / "tiny"
    # the variant's images in a folder of their own, its wavs, vectors and features the study's
    images = root / "datasets@mean_norm=true" / "DEMOA"
    assert any((images / "DEMOA_img").glob("*.png"))
    assert all((images / f"DEMOA_{part}").is_symlink() for part in ("wav", "speaker", "features"))
    assert (images / "DEMOA_wav").resolve() == (root / "datasets" / "DEMOA" / "DEMOA_wav").resolve()
    for folder in ("data@mean_norm=true", "data@validation=speakers", "data/DEMOA/4_classes/freq_aug"):
        assert (root / folder).is_dir(), folder
    experiment = root / "loco" / "tiny"
    sweep = pd.read_csv(experiment / "sweep.csv")
    assert sweep["variant"].drop_duplicates().tolist() == ["base", "c1", "c1_freq_aug", "mean_norm"]
    for _, fold in sweep.groupby("held_out"):   # the gain of a variant tried on top of c1 is over c1
        by = fold.set_index("variant")["validation_uar"]
        gain = fold.set_index("variant").loc["c1_freq_aug", "validation_gain"]
        assert gain == pytest.approx(by["c1_freq_aug"] - by["c1"], abs=1e-3)
    results = pd.read_csv(experiment / "results.csv")   # every system on the same held-out rows
    assert sorted(results["system"].unique()) == ["svm", "svm-speakers"]
    assert set(pd.read_csv(experiment / "comparison.csv")["system"]) == {"svm-speakers"}
    record = yaml.safe_load((experiment / "experiment.yaml").read_text())["options"]["systems"]
    assert record[1]["split"] == {"validation": "speakers"} and "spectrogram" not in record[1]
    assert main([str(study), "--no_progress"]) == 0     # run again: nothing redone, no setting changed
