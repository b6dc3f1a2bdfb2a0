"""The study file's typed schema: ``specct schema`` prints a JSON Schema that editors can check a study
with; every shipped study file passes it and specct's own check; a wrong value that specct refuses,
the JSON Schema refuses too (where the schema language can say it)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from specct.study import schema
from specct.core.errors import InputError
from test_hostile_values import BASE, CASES, with_value

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema (the test extra) checks the printed schema")

REPO = Path(__file__).resolve().parents[1]
# the shipped studies (benchmarks/ also holds run_loco.py experiment files, which have no corpora)
STUDY_FILES = sorted(p for p in [*(REPO / "src" / "specct" / "examples").glob("*.yml"),
                                 *(REPO / "benchmarks").rglob("*.yml")]
                     if "corpora" in (yaml.safe_load(p.read_text()) or {}))
# wrong values the JSON Schema language cannot see: values checked against each other or against the
# corpora, the systems or train.py's flags (specct's own check says each in one line)
BEYOND_JSON_SCHEMA = {"spectrogram.n_fft": 128, "split.validation_corpus": "DEMOC", "seeds": [1, 1],
                      "systems[1].name": "a b", "systems[1].model": "egemaps_svn",
                      "systems[1].config": "configs/none.yml", "reference": "other",
                      "corpora.RAVDESS.options.merge_sad": True, "corpora.DEMOB": "here",
                      "classes": ["anger", "rage"]}
# to JSON Schema 512.0 is an integer (a number with no fraction); YAML's 512.0 is a float to specct
JSON_INTEGERS = {"spectrogram.n_fft": 512.0}


@pytest.fixture(scope="module")
def printed(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("schema") / "study.schema.json"
    done = subprocess.run([sys.executable, "-m", "specct", "schema", "-o", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text())


def test_specct_schema_prints_a_valid_json_schema_of_every_study_key(printed, capsys):
    jsonschema.Draft202012Validator.check_schema(printed)
    assert set(printed["properties"]) == set(schema.section_keys(schema.Study))
    assert printed["additionalProperties"] is False and set(printed["required"]) == {"corpora", "systems"}
    def nulls(node) -> int:   # pydantic's "default: null" would read as a value; a key left out is its default
        if isinstance(node, dict):
            return sum(k == "default" and v is None for k, v in node.items()) + sum(map(nulls, node.values()))
        return sum(map(nulls, node)) if isinstance(node, list) else 0

    assert nulls(printed) == 0
    from specct.commands import main as specct

    assert specct(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == printed


@pytest.mark.parametrize("path", STUDY_FILES, ids=lambda p: p.name)
def test_every_shipped_study_file_passes_the_schema_and_the_check(path, printed):
    content = yaml.safe_load(path.read_text())
    jsonschema.validate(content, printed)
    schema.check_study(content, path.name)


# train.py flags given as a list of tokens are train.py's parser's to check; a mapping's names, types
# and ranges the JSON Schema says too (each flag declared once, specct.train.option_models)
SCHEMA_CASES = [c for c in CASES if not ("flags" in c[0] and isinstance(c[1], list))]


@pytest.mark.parametrize("path, value, says", SCHEMA_CASES, ids=[f"{c[0]}={c[1]!r}" for c in SCHEMA_CASES])
def test_a_value_specct_refuses_the_json_schema_refuses_too(path, value, says, printed):
    content = with_value(path, value)
    if (path, value) in [*BEYOND_JSON_SCHEMA.items(), *JSON_INTEGERS.items()]:
        jsonschema.validate(content, printed)   # the schema language cannot tell; specct's check does
        return
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(content, printed)


def test_the_base_study_passes_both(printed):
    jsonschema.validate(BASE, printed)
    schema.check_study(BASE, "study.yml")


def test_a_section_of_the_wrong_type_and_an_unknown_key_are_one_line_with_the_nearest_key():
    with pytest.raises(InputError, match=r"^speaker: expected a mapping of n_components$"):
        schema.check_study({**BASE, "speaker": 8}, "study.yml")
    with pytest.raises(InputError, match=r"^spectrogram: unknown key 'n_mel' \(did you mean 'n_mels'\?\); allowed: window, "):
        schema.check_study({**BASE, "spectrogram": {"n_mel": 64}}, "study.yml")
    with pytest.raises(InputError, match=r"^study\.yml: unknown key 'sytems' \(did you mean 'systems'\?\)"):
        schema.check_study({**BASE, "sytems": []}, "study.yml")
    with pytest.raises(InputError, match=r"^systems\[2\]: expected a mapping of name, model, config, flags, sweep"):
        schema.check_study({**BASE, "systems": [{"model": "egemaps_svm"}, "egemaps_svm"]}, "study.yml")


def test_schema_help_loads_neither_pydantic_nor_the_checks():
    code = ("import sys\nfrom specct.commands import main\ntry:\n    main(['schema', '--help'])\nexcept SystemExit:\n"
            "    pass\nprint(sorted(m for m in ('pydantic', 'pandas', 'torch', 'specct.study.schema') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
