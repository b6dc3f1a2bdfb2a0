"""Held-out roles of a study (``held_out:``): the plan, the jobs and the tables cover those folds only,
the other corpora train; a name that is not a corpus of the study is one line naming the key."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from specct.study import engine as study_module
from specct.core.errors import InputError

QUICK = study_module.PACKAGE_DIR / "examples" / "quick_baselines.yml"


def roles_study(output: Path, **changes) -> dict:
    """The quick baselines example with one baseline, writing under ``output``."""
    content = yaml.safe_load(QUICK.read_text())
    content.update(output=str(output), bootstrap=50, systems=[{"name": "egemaps_svm", "model": "egemaps_svm"}],
                   **changes)
    return content


def test_without_held_out_every_corpus_is_held_out_as_before(tmp_path):
    study = study_module.read_study(roles_study(tmp_path))
    assert study.held_out is None and study.loco.corpora == ["DEMOA", "DEMOB", "DEMOC"]


def test_held_out_names_are_the_studys_corpora_in_its_order(tmp_path):
    study = study_module.read_study(roles_study(tmp_path, held_out=["democ", "DEMOA"]))
    assert study.held_out == study.loco.corpora == ["DEMOA", "DEMOC"]
    assert study.corpus_names == ["DEMOA", "DEMOB", "DEMOC"]     # every corpus is still imported and drawn


@pytest.mark.parametrize("held_out, message", [
    (["DEMOBB"], r"held_out: 'DEMOBB' is not a corpus of this study \(did you mean 'DEMOB'\?\)"),
    (["DEMOA", "demoa"], "held_out: DEMOA listed twice"),
    ([], "held_out: expected a list of corpora"),
])
def test_a_held_out_name_not_in_the_study_is_one_line_naming_the_key(tmp_path, capsys, held_out, message):
    with pytest.raises(InputError, match=message):
        study_module.read_study(roles_study(tmp_path, held_out=held_out))
    path = tmp_path / "study.yml"
    path.write_text(yaml.safe_dump(roles_study(tmp_path / "out", held_out=held_out)))
    with pytest.raises(SystemExit) as exit_status:
        study_module.main([str(path)])
    assert exit_status.value.code == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "held_out" in error
    assert not (tmp_path / "out").exists()


def test_a_study_with_one_held_out_corpus_plans_and_runs_that_fold_only(tmp_path, capsys):
    content = roles_study(tmp_path, held_out=["DEMOB"])
    study_module.run_study(content, dry_run=True, progress=False)
    plan = capsys.readouterr().out
    assert "1 jobs to do (held out: DEMOB; training only: DEMOA, DEMOC)" in plan

    result = study_module.run_study(content, progress=False)
    jobs = pd.read_csv(result.folder / "jobs.csv")
    assert jobs["job"].tolist() == ["loco/egemaps_svm/DEMOB"] and jobs["finished"].all()
    assert result.results["held_out"].tolist() == ["DEMOB"]     # one fold: no mean over folds
    # the other corpora train (one of them whole as the validation corpus); DEMOB is only tested on
    record = yaml.safe_load((result.folder / "jobs" / "loco" / "egemaps_svm" / "DEMOB" / "job.yaml").read_text())
    train_data = Path(record["train_data"])
    seen = set(pd.concat([pd.read_csv(train_data / "train.csv"), pd.read_csv(train_data / "validation.csv")])["corpus"])
    assert seen == {"DEMOA", "DEMOC"}
    assert set(pd.read_csv(record["tests"]["DEMOB"])["corpus"]) == {"DEMOB"}
    assert "held-out corpora: DEMOB;" in (result.folder / "report.md").read_text()
