"""Sweeps (specct.loco.sweeps): variants chosen per held-out corpus on validation rows only, the held-out
UAR reported beside them; on made-up rows, then one tiny sweep of a baseline through ``specct run``."""
from __future__ import annotations

import math

import pandas as pd
import pytest
import yaml

from specct.core.errors import InputError
from specct.loco.experiment import SystemSpec, flags_of_entry
from specct.loco.sweeps import (HELD_OUT_COLUMN, MARGIN, NOT_USED, chosen_variants, choose_variant, read_sweep,
                                sweep_markdown, sweep_table, variant_systems)


def rows(*entries):
    """(variant, held_out, seed, validation_uar, held_out_uar) of one system ``cct``."""
    return [{"system": "cct", "held_out": h, "variant": v, "seed": s, "validation_uar": val, "held_out_uar": test}
            for v, h, s, val, test in entries]


def test_the_variant_best_on_validation_is_chosen_even_when_another_is_best_held_out():
    table = sweep_table(rows(("base", "EMODB", 0, 0.50, 0.70),
                             ("mixup", "EMODB", 0, 0.60, 0.40),      # best on validation, worst held out
                             ("smaller", "EMODB", 0, 0.55, 0.90)))   # best held out: not chosen
    assert chosen_variants(table) == {("cct", "EMODB"): "mixup"}
    chosen = table[table["chosen"]]
    assert chosen[HELD_OUT_COLUMN].tolist() == [0.40]    # its own held-out score is the one reported
    assert table["validation_gain"].round(3).tolist() == [0.0, 0.1, 0.05]


def test_each_fold_chooses_on_its_own_validation_rows():
    table = sweep_table(rows(("base", "EMODB", 0, 0.50, 0.5), ("mixup", "EMODB", 0, 0.60, 0.5),
                             ("base", "TUREVDB", 0, 0.70, 0.5), ("mixup", "TUREVDB", 0, 0.60, 0.9)))
    assert chosen_variants(table) == {("cct", "EMODB"): "mixup", ("cct", "TUREVDB"): "base"}


def test_two_seeds_are_averaged_before_choosing():
    # seed 0 alone would choose mixup (+0.20); the mean over both seeds is below the base
    table = sweep_table(rows(("base", "EMODB", 0, 0.50, 0.6), ("base", "EMODB", 1, 0.60, 0.8),
                             ("mixup", "EMODB", 0, 0.70, 0.6), ("mixup", "EMODB", 1, 0.30, 0.2)))
    assert chosen_variants(table) == {("cct", "EMODB"): "base"}
    by_variant = table.set_index("variant")
    assert by_variant.loc["base", "seeds"] == 2
    assert by_variant.loc["base", "validation_uar"] == pytest.approx(0.55)
    assert by_variant.loc["mixup", "validation_uar"] == pytest.approx(0.50)
    assert by_variant.loc["base", HELD_OUT_COLUMN] == pytest.approx(0.70)


def test_a_variant_must_beat_the_base_by_the_margin():
    assert choose_variant({"base": 0.50, "lr": 0.50 + MARGIN / 2}) == "base"
    assert choose_variant({"base": 0.50, "lr": 0.50 + MARGIN}) == "lr"
    assert choose_variant({"base": 0.50, "a": 0.60, "b": 0.60}) == "a"          # equals: the first in sweep order
    assert choose_variant({"base": 0.5, "lr": 0.9}, margin=0.5) == "base"
    # no validation rows: nothing to choose on, so the base stays; a variant without a score is not chosen
    assert choose_variant({"base": math.nan, "lr": 0.9}) == "base"
    assert choose_variant({"base": 0.5, "lr": math.nan, "mixup": 0.6}) == "mixup"


def test_the_table_is_marked_as_not_used_to_choose():
    table = sweep_table(rows(("base", "EMODB", 0, 0.5, 0.7), ("mixup", "EMODB", 0, 0.6, 0.4)))
    assert NOT_USED.replace(" ", "_") in HELD_OUT_COLUMN and HELD_OUT_COLUMN in table.columns
    text = sweep_markdown(table)
    assert f"held-out UAR ({NOT_USED})" in text and "| cct | EMODB | mixup | 1 | 0.600 | +0.100 | yes | 0.400 |" in text


def test_a_grid_is_every_combination_named_by_its_flags_the_first_the_base():
    variants = read_sweep({"lr": [1.0e-4, 3.0e-4], "mixup": [0, 0.2]}, "systems[1].sweep", flags_of_entry)
    assert [v["name"] for v in variants] == ["lr=0.0001,mixup=0", "lr=0.0001,mixup=0.2",
                                             "lr=0.0003,mixup=0", "lr=0.0003,mixup=0.2"]
    assert variants[3]["flags"] == {"lr": 3.0e-4, "mixup": 0.2}
    system = SystemSpec("speaker_cct", "speaker_vgg_cct_7_7x2_112", None, {"epochs": 3, "lr": 1.0}, variants)
    specs = variant_systems(system)
    assert [s.name for s in specs][1] == "speaker_cct@lr=0.0001,mixup=0.2"
    assert specs[1].flags == {"epochs": 3, "lr": 1.0e-4, "mixup": 0.2} and specs[1].sweep is None
    assert variant_systems(SystemSpec("svm", "egemaps_svm")) == [SystemSpec("svm", "egemaps_svm")]


def test_named_variants_keep_their_names_and_flags():
    variants = read_sweep([{"name": "base"}, {"name": "mixup", "flags": {"mixup": 0.2}}], "s", flags_of_entry)
    assert variants == [{"name": "base", "flags": {}}, {"name": "mixup", "flags": {"mixup": 0.2}}]


@pytest.mark.parametrize("sweep, message", [
    ({"lr": [1e-4]}, "at least two variants"),
    ([{"name": "a"}, {"name": "a"}], "named twice"),
    ([{"name": "a"}, {"flags": {"lr": 1}}], "with a name"),
    ([{"name": "a"}, {"name": "b", "flag": {}}], "unknown key 'flag'"),
    ([{"name": "a"}, {"name": "b/c"}], "one folder name"),
    ({"no_such_flag": [1, 2]}, "not train.py flags"),
    ({"lr": []}, "no value to try"),
    ("lr", "expected a grid"),
])
def test_a_bad_sweep_is_one_line_naming_its_key(sweep, message):
    with pytest.raises(InputError, match=message) as error:
        read_sweep(sweep, "systems[1].sweep", flags_of_entry)
    assert "systems[1].sweep" in str(error.value) and "\n" not in str(error.value)


# --------------------------------------------------------------------------- through specct run

SWEEP_STUDY = {
    "name": "svm-sweep",
    "corpora": {"DEMOA": "demo", "DEMOB": "demo", "DEMOC": "demo"},
    "demo": {"speakers": 3, "sentences": 2},
    "num_classes": 4,
    "spectrogram": {"size": 32},
    "speaker": {"n_components": 16},
    "held_out": ["DEMOC"],
    "bootstrap": 50,
    "systems": [{"name": "svm", "model": "resemblyzer_svm", "sweep": {"svm_c": [0.001, 1.0]}},
                {"name": "egemaps_svm", "model": "egemaps_svm"}],
}


@pytest.fixture(scope="module")
def swept_study(tmp_path_factory):
    from specct.study.engine import main

    output = tmp_path_factory.mktemp("sweep")
    study = output / "sweep.yml"
    study.write_text(yaml.safe_dump({**SWEEP_STUDY, "output": str(output)}, sort_keys=False))
    assert main([str(study), "--no_progress"]) == 0     # specct run sweep.yml
    return output / "svm-sweep" / "loco" / "svm-sweep"


def test_a_sweep_runs_every_variant_and_reports_the_chosen_one_under_the_systems_name(swept_study):
    from specct.loco.results import best_validation_uar

    jobs = pd.read_csv(swept_study / "jobs.csv")
    # a scikit-learn baseline runs once for every seed; every variant on the one held-out corpus
    assert sorted(jobs["job"]) == ["loco/egemaps_svm/DEMOC", "loco/svm@svm_c=0.001/DEMOC", "loco/svm@svm_c=1.0/DEMOC"]
    results = pd.read_csv(swept_study / "results.csv")
    assert sorted(results["system"].unique()) == ["egemaps_svm", "svm"]
    sweep = pd.read_csv(swept_study / "sweep.csv")
    assert sweep["variant"].tolist() == ["svm_c=0.001", "svm_c=1.0"] and sweep["held_out"].eq("DEMOC").all()
    # the validation UARs are the jobs' own (summary.csv), and the choice is the rule's on them alone
    validation = {v: best_validation_uar(_job(swept_study, f"svm@{v}")) for v in sweep["variant"]}
    assert sweep.set_index("variant")["validation_uar"].to_dict() == pytest.approx(validation, abs=1e-4)
    chosen = choose_variant(validation)
    assert sweep.loc[sweep["chosen"], "variant"].tolist() == [chosen]
    # results.csv's svm row is the chosen variant's held-out run
    from specct.core.records import read_record

    performance = read_record(swept_study / "jobs" / "loco" / f"svm@{chosen}" / "DEMOC" / "test" / "performance.yaml",
                              "evaluation record")
    row = results[(results["system"] == "svm") & (results["held_out"] == "DEMOC")]
    assert row["uar"].iloc[0] == pytest.approx(performance["uar"], abs=1e-4)
    assert sweep.loc[sweep["chosen"], HELD_OUT_COLUMN].iloc[0] == pytest.approx(performance["uar"], abs=1e-4)
    markdown = (swept_study / "results.md").read_text()
    assert "## Sweeps" in markdown and NOT_USED in markdown
    report = (swept_study / "report.md").read_text()
    assert NOT_USED in report
    assert "| svm@" not in report   # per class, confusion, curves: the chosen variant, under the system's name


def _job(folder, system):
    from specct.loco.jobs import Job

    return Job(f"loco/{system}/DEMOC", "loco", SystemSpec(system, "resemblyzer_svm"), "DEMOC", None,
               folder / "jobs" / "loco" / system / "DEMOC", ("DEMOC",))


def test_a_changed_sweep_is_a_changed_setting(swept_study, tmp_path):
    from specct.loco.experiment import SettingsChangedError
    from specct.study.engine import run_study

    changed = {**SWEEP_STUDY, "output": str(swept_study.parent.parent.parent)}
    changed["systems"] = [{**changed["systems"][0], "sweep": {"svm_c": [0.001, 10.0]}}, changed["systems"][1]]
    with pytest.raises(SettingsChangedError, match="system svm: sweep"):
        run_study(changed, progress=False)
    assert yaml.safe_load((swept_study / "experiment.yaml").read_text())["options"]["systems"][0]["sweep"][1] == {
        "name": "svm_c=1.0", "flags": {"svm_c": [1.0]}}


@pytest.mark.parametrize("changes, message", [
    ({"split": {"validation": "none"}}, "svm has a sweep, chosen on validation rows; split.validation none"),
    ({"protocols": ["loco", "pairwise"]}, "svm has a sweep, chosen per held-out corpus; protocols: pairwise"),
    ({"systems": [{"name": "svm", "model": "egemaps_svm", "sweep": {"svm_c": [1.0]}}]},
     r"systems\[1\].sweep: a sweep needs at least two variants"),
])
def test_a_sweep_that_cannot_be_chosen_is_refused_before_anything_runs(tmp_path, changes, message):
    from specct.study.engine import read_study

    with pytest.raises(InputError, match=message):
        read_study({**SWEEP_STUDY, "output": str(tmp_path / "out"), **changes})
    assert not (tmp_path / "out").exists()
