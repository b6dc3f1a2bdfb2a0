"""Job reuse (specct.loco.reuse): a job whose training options and inputs equal a finished job's in another
study under the same output root takes that training and says where from; a changed flag trains."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from specct.study import engine as study_module

QUICK = study_module.PACKAGE_DIR / "examples" / "quick_baselines.yml"
SVM = {"name": "egemaps_svm", "model": "egemaps_svm"}


def job_record(folder: Path, system: str) -> dict:
    return yaml.safe_load((folder / "jobs" / "loco" / system / "DEMOC" / "job.yaml").read_text())


def test_a_second_study_reuses_an_identical_training_and_trains_a_changed_flag(tmp_path, capsys):
    content = yaml.safe_load(QUICK.read_text())
    content.update(output=str(tmp_path / "output"), datasets_dir=str(tmp_path / "datasets"), bootstrap=50,
                   held_out=["DEMOC"], systems=[SVM])
    first = study_module.run_study({**content, "name": "first"}, progress=False)
    capsys.readouterr()
    changed = {"name": "svm_c1", "model": "egemaps_svm", "flags": {"svm_c": 1.0}}
    second = study_module.run_study({**content, "name": "second", "systems": [SVM, changed]}, progress=False)
    out = capsys.readouterr().out

    source = first.folder / "jobs" / "loco" / "egemaps_svm" / "DEMOC"
    reused = second.folder / "jobs" / "loco" / "egemaps_svm" / "DEMOC"
    assert Path(job_record(second.folder, "egemaps_svm")["reused_from"]) == source.resolve()
    assert f"training reused from {source}" in out
    # the training is the first study's own files (hard links), not a second fit
    assert (reused / "train" / "model_best.skops").samefile(source / "train" / "model_best.skops")
    assert out.count("training egemaps_svm on egemaps features") == 1     # svm_c1 only
    # evaluated on its own study's test rows, with the first study's numbers
    assert (reused / "test" / "predictions.csv").read_bytes() == (source / "test" / "predictions.csv").read_bytes()
    both = [r.results.set_index("system").loc["egemaps_svm"] for r in (first, second)]
    assert both[0].equals(both[1])

    # a changed flag is another training: fitted here, on its one C
    assert "reused_from" not in job_record(second.folder, "svm_c1")
    summary = pd.read_csv(second.folder / "jobs" / "loco" / "svm_c1" / "DEMOC" / "train" / "summary.csv")
    assert summary["C"].tolist() == [1.0]
    # the study without reuse keeps its record as before: no key of reuse in experiment.yaml or job.yaml
    assert "reuse_root" not in (first.folder / "experiment.yaml").read_text()
    assert "reused_from" not in job_record(first.folder, "egemaps_svm")
