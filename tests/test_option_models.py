"""train.py's options declared once, by group, and each kind of system's options as the groups and flags
its training reads: the parser is generated from the groups, a study system given a flag its kind would
ignore is refused in one line, and the study's JSON Schema types every flag."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from specct import systems
from specct.core.errors import InputError
from specct.core.flag_model import flag_of, own_fields
from specct.train import option_models
from specct.train.options import build_parser, default_args, flag_tokens, given_flags

REPO = Path(__file__).resolve().parents[1]
KINDS = {"network": "speaker_vgg_cct_7_7x2_112", "baseline": "egemaps_svm", "ensemble": "ensemble",
         "whisper_head": "whisper_head", "whisper_finetune": "whisper_finetune"}


def test_the_parser_is_the_groups_flags_with_their_defaults_and_help():
    parser = build_parser()
    titles = [g.title for g in parser._action_groups]
    actions = {a.dest: a for a in parser._actions[::-1] if a.option_strings}   # a field's first argument
    for group in option_models.TRAIN_GROUPS:
        assert group.title in titles
        for name in own_fields(group):
            info = group.model_fields[name]
            action = actions[name]
            assert action.default == info.default
            assert flag_of(info).names[0] in action.option_strings and action.help == info.description
    declared = {name for group in option_models.TRAIN_GROUPS for name in own_fields(group)}
    assert declared == set(actions) - {"help"}
    # each field once: a flag in two groups would be two homes
    assert sum(len(own_fields(g)) for g in option_models.TRAIN_GROUPS) == len(declared)


def test_the_switches_write_their_constants_and_name_the_negations():
    args = build_parser().parse_args(["d", "--no_refit", "--no_pretrained"])
    assert args.refit is False and args.pretrained is False
    args = build_parser().parse_args(["d", "--refit", "--pretrained"])
    assert args.refit is True and args.pretrained is True
    assert default_args("d").refit is None and default_args("d").pretrained is False   # no weights file
    assert flag_tokens({"refit": False, "pretrained": False, "lr": 0.1}) == ["--no_refit", "--no_pretrained", "--lr", "0.1"]


def test_a_flag_with_an_optional_value_takes_its_constant_alone_in_a_study():
    # a mapping's `torchcompile: true` is the bare flag, which train.py reads as its constant
    assert given_flags(["--torchcompile"]) == {"torchcompile": "inductor"}
    assert given_flags(["--resume"]) == {"resume": "auto"}
    assert build_parser().parse_args(["d", "--torchcompile"]).torchcompile == "inductor"


def test_every_flag_is_read_by_some_kind_and_each_kind_knows_only_train_py_flags():
    every = {a.dest for a in build_parser()._actions if a.option_strings} - {"help"}
    read = set()
    for kind, model in KINDS.items():
        system = systems.system_for_model(model)
        assert system.kind == kind and system.options is not None
        fields = set(system.options.model_fields)
        assert fields <= every, fields - every
        assert {"model", "seed", "experiment"} <= fields
        read |= fields
    assert read == every, every - read
    network, baseline = (set(systems.system_for_model(KINDS[k]).options.model_fields) for k in ("network", "baseline"))
    assert {"mixup", "input_size", "test_time_bn"} <= network - baseline
    assert {"svm_c", "scaling", "features"} <= baseline - network
    head = set(systems.system_for_model("whisper_head").options.model_fields)
    finetune = set(systems.system_for_model("whisper_finetune").options.model_fields)
    assert head < finetune and {"finetune_blocks", "finetune_lr_scale", "resume"} <= finetune - head


@pytest.mark.parametrize("model, flags, says", [
    ("egemaps_svm", {"mixup": 0.2}, r"--mixup: not an option of baseline systems such as egemaps_svm"),
    ("speaker_vgg_cct_7_7x2_112", {"svm_c": [1.0]}, r"--svm_c: not an option of network systems"),
    ("whisper_head", {"scaling": "corpus"}, r"--scaling: not an option of whisper_head systems"),
    ("ensemble", {"lr": 0.1}, r"--lr: not an option of ensemble systems"),
])
def test_a_flag_the_kind_would_ignore_is_one_line(model, flags, says):
    with pytest.raises(InputError, match=says):
        systems.system_for_model(model).check_flags(model, flags)


def test_the_nearest_flag_the_kind_reads_is_named():
    # stochastic depth is an image network's; the baselines' heads have plain dropout
    with pytest.raises(InputError, match=r"^--drop_path: .* \(did you mean --drop\?\)$"):
        systems.system_for_model("ssl_mlp").check_flags("ssl_mlp", {"drop_path": 0.1})
    systems.system_for_model("egemaps_svm").check_flags("egemaps_svm", {"svm_c": [1.0], "refit": False})


def _study(tmp_path, systems_entries, **extra) -> Path:
    content = {"name": "kinds", "corpora": {"DEMOA": "demo", "DEMOB": "demo"}, "demo": {"speakers": 2, "sentences": 1},
               "output": str(tmp_path / "out"), "systems": systems_entries, **extra}
    path = tmp_path / "study.yml"
    path.write_text(yaml.safe_dump(content))
    return path


def _run(*argv) -> int:
    from specct.commands import main as specct

    try:
        return specct(["run", *argv])
    except SystemExit as exit:
        return exit.code


def test_a_study_refuses_a_system_flag_its_kind_ignores_before_anything_runs(tmp_path, capsys):
    study = _study(tmp_path, [{"name": "svm", "model": "egemaps_svm", "flags": {"mixup": 0.2}}])
    assert _run(str(study)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "systems[1].flags: --mixup: not an option of baseline systems" in err[0]
    assert not (tmp_path / "out").exists()   # nothing imported, nothing trained

    # a sweep variant is checked as a system; flags for every system (train_flags) are not a kind's
    study = _study(tmp_path, [{"name": "svm", "model": "egemaps_svm", "sweep": {"mixup": [0.0, 0.2]}}])
    assert _run(str(study), "--dry_run") == 2
    assert "systems[1].sweep[1] (mixup=0.0): --mixup: not an option of baseline" in capsys.readouterr().err
    study = _study(tmp_path, [{"name": "svm", "model": "egemaps_svm"}], train_flags={"epochs": 1, "mixup": 0.2})
    assert _run(str(study), "--dry_run") in (0, None)


def test_the_json_schema_types_each_flag_of_a_mapping():
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema (the test extra) checks the printed schema")
    from specct.study.schema import json_schema

    printed = json_schema()
    base = {"corpora": {"A": "demo", "B": "demo"}}

    def check(flags):
        jsonschema.validate({**base, "systems": [{"model": "egemaps_svm", "flags": flags}]}, printed)

    for good in ({"svm_c": 0.1}, {"svm_c": [0.1, 1]}, {"no_refit": True}, {"input_size": [3, 64, 64]},
                 {"layer": 3}, {"torchcompile": True}, {"whisper_input": "padded"}, ["--lr", "0.1"]):
        check(good)
    for bad in ({"mixp": 0.2}, {"epochs": "many"}, {"input_size": [64, 64]}, {"whisper_input": "cut"},
                {"no_refit": False}):
        with pytest.raises(jsonschema.ValidationError):
            check(bad)
    mapping = printed["$defs"]["System"]["properties"]["flags"]["anyOf"][0]["anyOf"][1]
    described = mapping["properties"]["lr"]
    assert described["description"] == ("learning rate after the warm-up (read by: baseline, whisper_head, "
                                        "whisper_finetune, network systems)")
    assert mapping["properties"]["svm_c"]["description"].endswith("(read by: baseline systems)")
    assert mapping["properties"]["no_refit"]["description"].endswith("(read by: baseline, network systems)")


def test_help_lists_each_group_once_with_its_title():
    text = build_parser().format_help()
    for group in option_models.TRAIN_GROUPS:
        assert text.count(f"\n{group.title}:\n") == 1
    assert isinstance(build_parser(), argparse.ArgumentParser)


@pytest.mark.parametrize("where", ["system", "train_flags", "sweep"])
def test_a_flag_each_job_sets_itself_is_refused_in_a_study(tmp_path, capsys, where):
    # seeds [0, 1] with a system flag seed: 7 would train both jobs with seed 7, and report two seeds
    system = {"name": "head", "model": "ssl_linear", "flags": {"features": "egemaps"}}
    extra = {"seeds": [0, 1]}
    if where == "system":
        system["flags"]["seed"] = 7
    elif where == "sweep":
        system["sweep"] = {"seed": [1, 2]}
    else:
        extra["train_flags"] = {"seed": 7}
    assert _run(str(_study(tmp_path, [system], **extra)), "--dry_run") == 2
    assert "--seed: each job's seed comes from the experiment's seed and seeds" in capsys.readouterr().err


def test_the_split_settings_are_declared_once_and_the_study_keys_name_them():
    # LocoOptions (an experiment) and SplitOptions (one fold's split) extend SplitSettings; the study
    # file's split keys and a system's own split keys are among its fields, so none can drift
    from dataclasses import fields

    from specct.data.split_settings import LOCO_ARGUMENTS, SplitOptions, SplitSettings, split_settings_of
    from specct.loco.experiment import SPLIT_FIELDS, SYSTEM_SPLIT_KEYS, LocoOptions
    from specct.study import schema

    shared = [f.name for f in fields(SplitSettings)]
    assert issubclass(LocoOptions, SplitSettings) and issubclass(SplitOptions, SplitSettings)
    assert list(LOCO_ARGUMENTS) == shared and set(shared) < set(SPLIT_FIELDS)
    for cls in (LocoOptions, SplitOptions):   # declared in SplitSettings only
        assert not set(shared) & set(cls.__annotations__)
    assert set(schema.Split.model_fields) - {"vary_split"} <= set(shared)
    assert set(schema.SystemSplit.model_fields) == set(SYSTEM_SPLIT_KEYS)
    opts = LocoOptions(validation="corpus", seed=3, augmentation="time_aug")
    assert split_settings_of(opts) == SplitSettings(validation="corpus", seed=3, augmentation="time_aug")


def test_a_misspelt_flag_names_the_nearest_train_py_flag():
    with pytest.raises(InputError, match=r"^systems\[1\]: not train.py flags: --svm_cc 1 \(did you mean --svm_c\?\)$"):
        given_flags(["--svm_cc", "1"], "systems[1]")
    with pytest.raises(InputError, match=r"not train.py flags: --qqqqqqq$"):
        given_flags(["--qqqqqqq"], "x")


def test_run_loco_refuses_an_experiment_file_system_flag_its_kind_ignores(tmp_path, capsys):
    from specct.loco import main as run_loco

    experiment = tmp_path / "experiment.yml"
    experiment.write_text(yaml.safe_dump({"systems": [{"name": "svm", "model": "egemaps_svm",
                                                       "flags": {"mixup": 0.2}}]}))
    with pytest.raises(SystemExit) as exit:
        run_loco(["--experiment_file", str(experiment), "--datasets_dir", str(tmp_path / "none")])
    assert exit.value.code == 2
    assert "system svm: --mixup: not an option of baseline systems" in capsys.readouterr().err
