"""Hostile runs, values of the wrong type or range in a study file: each key, given a value of another
type and one out of its range, stops `specct run` before anything runs, in one line naming the key
path, the value and what is allowed (exit 2, nothing written). The table holds one case per key and
kind; a few go through the real command, all through read_study."""
from __future__ import annotations

import copy
import re

import pytest
import yaml

from specct.core.errors import InputError, MissingInputError
from specct.study.engine import main as specct_run
from specct.study.engine import read_study
from script_helpers import load_script, one_line_error

BASE = {"name": "values", "corpora": {"DEMOA": "demo", "DEMOB": "demo"},
        "systems": [{"name": "svm", "model": "egemaps_svm"}]}

# (key path, value) -> what the line says after "<key path>: " (a regular expression)
CASES = [
    ("name", 3, r"expected a string, got 3"),
    ("name", "a/b", r"name 'a/b' must be a plain folder name"),
    ("output", 3, r"expected a non-empty string, got 3"),
    ("output", "", r"expected a non-empty string, got ''"),
    ("datasets_dir", ["a"], r"expected a non-empty string, got \['a'\]"),
    ("datasets_dir", " ", r"expected a non-empty string, got ' '"),
    ("corpora", 3, r"expected a mapping CORPUS: folder"),
    ("corpora", {"DEMOA": "demo"}, r"at least two corpora, got 1"),
    ("corpora.EMODB", 3, r"expected a non-empty string, got 3"),
    ("corpora.DEMOB", "here", r"a demo corpus takes the value 'demo', not 'here'"),
    ("corpora.EMODB.source", 5, r"expected a non-empty string, got 5"),
    ("corpora.EMODB.source", "", r"expected a non-empty string, got ''"),
    ("corpora.RAVDESS.options.merge_calm", "yes", r"expected true or false, got 'yes'"),
    ("corpora.RAVDESS.options.merge_sad", True, r"unknown key 'merge_sad'"),
    ("demo", 3, r"expected a mapping of speakers, sentences, seed"),
    ("demo.speakers", "4", r"expected an integer at least 1, got '4'"),
    ("demo.speakers", 0, r"expected an integer at least 1, got 0"),
    ("demo.sentences", 2.5, r"expected an integer at least 1, got 2\.5"),
    ("demo.sentences", 0, r"expected an integer at least 1, got 0"),
    ("demo.seed", True, r"expected a non-negative integer, got True"),
    ("demo.seed", -1, r"expected a non-negative integer, got -1"),
    ("classes", 3, r"expected a string or a non-empty list of strings, got 3"),
    ("classes", [], r"expected a string or a non-empty list of strings, got \[\]"),
    ("classes", ["anger", "rage"], r"unknown emotion\(s\) in --classes: rage"),
    ("num_classes", 3.5, r"expected one of 4, 3, all, got 3\.5"),
    ("num_classes", 5, r"expected one of 4, 3, all, got 5"),
    ("spectrogram", [32], r"expected a mapping of window"),
    ("spectrogram.window", 3, r"expected one of hamm, hann, got 3"),
    ("spectrogram.window", "box", r"expected one of hamm, hann, got 'box'"),
    ("spectrogram.window_ms", "25", r"expected a number above 0, got '25'"),
    ("spectrogram.window_ms", 0, r"expected a number above 0, got 0"),
    ("spectrogram.hop_ms", None, r"expected a number above 0, got None"),
    ("spectrogram.hop_ms", -10, r"expected a number above 0, got -10"),
    ("spectrogram.n_fft", 512.0, r"expected an integer at least 1, got 512\.0"),
    ("spectrogram.n_fft", 128, r"expected at least the window's 400 samples \(window_ms 25\.0 at 16 kHz\), got 128"),
    ("spectrogram.n_mels", "128", r"expected an integer at least 1, got '128'"),
    ("spectrogram.n_mels", 0, r"expected an integer at least 1, got 0"),
    ("spectrogram.fmin_hz", "0", r"expected a number at least 0 and below 8000, got '0'"),
    ("spectrogram.fmin_hz", -50, r"expected a number at least 0 and below 8000, got -50"),
    ("spectrogram.fmax_hz", "8k", r"expected a number above 0 and at most 8000, got '8k'"),
    ("spectrogram.fmax_hz", 11025, r"expected a number above 0 and at most 8000, got 11025"),
    ("spectrogram.db_floor", "-80", r"expected a number below 0, got '-80'"),
    ("spectrogram.db_floor", 10, r"expected a number below 0, got 10"),
    ("spectrogram.cmap", ["magma"], r"expected one of magma, jet, gray, got \['magma'\]"),
    ("spectrogram.cmap", "viridis", r"expected one of magma, jet, gray, got 'viridis'"),
    ("spectrogram.size", 32.5, r"expected a whole number of pixels \(at least 1\) or \[height, width\], got 32\.5"),
    ("spectrogram.size", [32, 0], r"expected a whole number of pixels \(at least 1\) or \[height, width\], got \[32, 0\]"),
    ("spectrogram.mean_norm", "yes", r"expected true or false, got 'yes'"),
    ("spectrogram.min_seconds", "1", r"expected a number above 0, got '1'"),
    ("spectrogram.min_seconds", 0, r"expected a number above 0, got 0"),
    ("spectrogram.augmentations", 3, r"expected a string or a non-empty list of strings, got 3"),
    ("spectrogram.augmentations", ["time_aug", "wobble"], r"expected one of no_aug, .*, got 'wobble'"),
    ("speaker", 8, r"expected a mapping of n_components"),
    ("speaker.n_components", "8", r"expected an integer at least 1, got '8'"),
    ("speaker.n_components", 0, r"expected an integer at least 1, got 0"),
    ("split", "speakers", r"expected a mapping of validation"),
    ("split.validation", 1, r"expected one of auto, speakers, corpus, none, got 1"),
    ("split.validation", "random", r"expected one of auto, speakers, corpus, none, got 'random'"),
    ("split.validation_corpus", 3, r"expected a non-empty string, got 3"),
    ("split.validation_corpus", "DEMOC", r"expected one of DEMOA, DEMOB, got 'DEMOC'"),
    ("split.percent_subject_validation", "25%", r"expected a number at least 0 and below 1, got '25%'"),
    ("split.percent_subject_validation", 1.5, r"expected a number at least 0 and below 1, got 1\.5"),
    ("split.augmentation", True, r"expected one of no_aug, time_aug, freq_aug, time_freq_aug, got True"),
    ("split.augmentation", "pitch_aug", r"expected one of no_aug, time_aug, freq_aug, time_freq_aug, got 'pitch_aug'"),
    ("split.balanced", True, r"expected one of no_balanced, undersampling, balanced_aug, got True"),
    ("split.balanced", "oversampling", r"expected one of no_balanced, undersampling, balanced_aug, got 'oversampling'"),
    ("split.vary_split", "yes", r"expected true or false, got 'yes'"),
    ("split.vary_split", 1, r"expected true or false, got 1"),
    ("seed", "0", r"expected a non-negative integer, got '0'"),
    ("seed", -1, r"expected a non-negative integer, got -1"),
    ("seeds", "0 1", r"expected a non-negative integer, got '0 1'"),
    ("seeds", [0, -1], r"\[2\]: expected a non-negative integer, got -1"),
    ("seeds", [1, 1], r"\[1, 1\] names a seed twice"),
    ("protocols", 3, r"expected a string or a non-empty list of strings, got 3"),
    ("protocols", ["loso"], r"expected one of loco, pairwise, got 'loso'"),
    ("train_flags", 3, r"expected train\.py flags as a list \[--flag, value, \.\.\.\] or a mapping flag: value, got 3"),
    ("train_flags", {"epochs": "many"}, r"argument --epochs: invalid int value: 'many'"),
    ("train_flags", {"epochs": 0}, r"--epochs: expected at least 1, got 0"),
    ("train_flags", ["--lr", "-0.1"], r"--lr: expected at least 0, got -0\.1"),   # 0: a run that moves nothing
    ("train_flags", {"batch_size": 0}, r"--batch_size: expected at least 1, got 0"),
    ("train_flags", {"smoothing": 1.0}, r"--smoothing: expected at least 0 and below 1, got 1\.0"),
    ("train_flags", {"svm_c": [1.0, 0]}, r"--svm_c: expected above 0, got 0\.0"),
    ("systems", {"model": "egemaps_svm"}, r"expected a list of systems"),
    ("systems", [], r"expected a list of systems"),
    ("systems[1].name", 7, r"expected a non-empty string, got 7"),
    ("systems[1].name", "a b", r"system name 'a b' must be a plain folder name"),
    ("systems[1].model", ["egemaps_svm"], r"expected a non-empty string, got \['egemaps_svm'\]"),
    ("systems[1].model", "egemaps_svn", r"unknown model 'egemaps_svn'"),
    ("systems[1].config", 1, r"expected a non-empty string, got 1"),
    ("systems[1].config", "configs/none.yml", r"config file configs/none\.yml not found"),
    ("systems[1].flags", "--epochs 3", r"expected train\.py flags as a list .*, got '--epochs 3'"),
    ("systems[1].flags", {"epochs": 0}, r"--epochs: expected at least 1, got 0"),
    ("reference", 1, r"expected a non-empty string, got 1"),
    ("reference", "other", r"'other' is not a system of this study"),
    ("bootstrap", 0.5, r"expected a non-negative integer, got 0\.5"),
    ("bootstrap", -100, r"expected a non-negative integer, got -100"),
    ("report", "no", r"expected true or false, got 'no'"),
    ("report", 0, r"expected true or false, got 0"),
]


def with_value(path: str, value) -> dict:
    """BASE with one key path set (``systems[1].model``, ``corpora.EMODB.source``); a corpus named in the
    path that BASE lacks is added with a source folder."""
    content = copy.deepcopy(BASE)
    parts = re.findall(r"[^.\[\]]+|\[\d+\]", path)
    node = content
    for i, part in enumerate(parts[:-1]):
        if part.startswith("["):
            node = node[int(part[1:-1]) - 1]
            continue
        if part not in node or not isinstance(node[part], (dict, list)):
            node[part] = {"source": "folder"} if parts[i - 1:i] == ["corpora"] else {}
        node = node[part]
    node[parts[-1]] = value
    return content


def case_id(case) -> str:
    return f"{case[0]}={case[1]!r}"


@pytest.mark.parametrize("path, value, says", CASES, ids=[case_id(c) for c in CASES])
def test_a_wrong_value_is_one_line_naming_the_key_path(path, value, says, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises((InputError, MissingInputError)) as error:
        read_study(with_value(path, value), "study.yml")
    message = str(error.value)
    assert len(message.splitlines()) == 1
    # the line starts with the key path (its section for checks made on the section), then the reason
    section = re.escape(re.split(r"[.\[]", path)[0])
    assert re.match(rf"^(study\.yml: )?{section}\b", message), message
    assert re.search(says, message), message
    assert list(tmp_path.iterdir()) == []


# Keys whose reader checks their values itself, with tests of their own: held_out (study._held_out),
# cluster (loco.slurm.cluster_settings).
CHECKED_BY_THEIR_READERS = ("held_out", "cluster")


def test_every_key_of_a_study_has_a_wrong_type_and_an_out_of_range_case():
    from specct.study import schema

    tested = {re.sub(r"\[\d+\]", "[]", p) for p, _, _ in CASES}
    tested = {re.sub(r"^corpora\.[A-Z]+", "corpora.*", p).replace("options.merge_calm", "options.*") for p in tested}
    # a system's own split and spectrogram are checked as the study's sections of that name
    checked = {re.sub(r"^systems\[\]\.(split|spectrogram)\.", r"\1.", p) for p in schema.checked_paths()}
    assert checked - tested == set(), f"keys without a case: {sorted(checked - tested)}"
    for key in schema.section_keys(schema.Study):
        assert key in tested or key in CHECKED_BY_THEIR_READERS, \
            f"study key {key} has no case here (add it to study_schema and CASES)"
    for section, model in (("split", schema.Split), ("speaker", schema.Speaker), ("demo", schema.Demo)):
        for key in schema.section_keys(model):
            assert sum(p == f"{section}.{key}" for p, _, _ in CASES) >= 2, f"{section}.{key}"


REAL_COMMAND = [("classes", 3), ("spectrogram.size", 32.5), ("train_flags", {"epochs": 0}),
                ("speaker.n_components", 0), ("systems[1].flags", {"drop": 1.5}), ("report", "no")]


@pytest.mark.parametrize("path, value", REAL_COMMAND, ids=[case_id(c) for c in REAL_COMMAND])
def test_specct_run_stops_before_any_stage_on_a_wrong_value(path, value, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    content = with_value(path, value)
    (tmp_path / "study.yml").write_text(yaml.safe_dump(content))
    key = re.escape(re.sub(r"\.\w+$", "", path) if path.startswith("systems") else path)
    line = one_line_error(capsys, lambda: specct_run(["study.yml", "--no_progress"]),
                          rf"^specct run: error: {key}: .*expected .*, got ")
    assert repr(value).split(":")[-1].strip(" }") in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.yml"]   # no stage ran: nothing written


@pytest.mark.parametrize("flags, says", [(["--epochs", "0"], "--epochs: expected at least 1, got 0"),
                                          (["--mixup_prob", "2"], "--mixup_prob: expected at least 0 and at most 1, got 2.0")])
def test_train_py_refuses_a_flag_out_of_its_range_in_one_line(flags, says, tmp_path, capsys):
    one_line_error(capsys, lambda: load_script("train").main([str(tmp_path), "--model", "egemaps_svm", *flags]),
                   rf"^train\.py: error: {re.escape(says)}$")
    assert list(tmp_path.iterdir()) == []
