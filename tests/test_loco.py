"""Leave-one-corpus-out runner: every fold split, trained and evaluated; summary files; re-runs skip."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from training_fixtures import TINY_MODEL, TINY_SIZE

from specct.loco import HEATMAP, SUMMARY_CSV, SUMMARY_MD, LocoOptions, main, run_loco, summary_dir

TRAIN_FLAGS = ["--input-size", "3", str(TINY_SIZE), str(TINY_SIZE), "--epochs", "1", "--max-steps", "1",
               "--batch-size", "8", "--no-progress"]


@pytest.fixture(scope="module")
def loco_options(demo_split, tmp_path_factory) -> LocoOptions:
    root = tmp_path_factory.mktemp("loco")
    return LocoOptions(datasets_dir=str(demo_split.datasets), corpora=["DEMOA", "DEMOB"], model=TINY_MODEL,
                       data_dir=str(root / "data"), output=str(root / "output"), train_args=TRAIN_FLAGS,
                       bootstrap=100, progress=False)


@pytest.mark.slow
def test_every_fold_then_the_summary(loco_options):
    table = run_loco(loco_options)
    assert list(table["held_out"]) == ["DEMOA", "DEMOB"]
    assert table[["accuracy", "uar", "macro_f1"]].apply(lambda c: c.between(0, 1)).all().all()
    assert (table["uar_ci_low"] <= table["uar"]).all() and (table["uar"] <= table["uar_ci_high"]).all()
    out = summary_dir(loco_options, pretrained=False)
    saved = pd.read_csv(out / SUMMARY_CSV)
    assert list(saved["held_out"]) == ["DEMOA", "DEMOB"]
    markdown = (out / SUMMARY_MD).read_text()
    assert "| held-out corpus |" in markdown and "| DEMOB |" in markdown and "| mean |" in markdown
    assert (out / HEATMAP).stat().st_size > 0
    # each fold tested on its own corpus only, trained without it
    for corpus in ("DEMOA", "DEMOB"):
        split = next((Path(loco_options.data_dir) / corpus).rglob("train_data"))
        assert set(pd.read_csv(split.parent / "eval_data" / "test.csv")["corpus"]) == {corpus}
        assert corpus not in set(pd.read_csv(split / "train.csv")["corpus"])


@pytest.mark.slow
def test_finished_folds_are_skipped(loco_options, capsys):
    out = summary_dir(loco_options, pretrained=False)
    if not (out / SUMMARY_CSV).is_file():
        run_loco(loco_options)
    checkpoints = sorted(Path(loco_options.output).rglob("model_best.pth.tar"))
    stamps = [p.stat().st_mtime_ns for p in checkpoints]
    capsys.readouterr()
    table = run_loco(loco_options)
    assert capsys.readouterr().out.count("finished earlier, skipped") == 2
    assert [p.stat().st_mtime_ns for p in checkpoints] == stamps
    assert len(table) == 2


def test_unknown_corpus_is_an_error(demo_split, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--datasets_dir", str(demo_split.datasets), "--datasets", "NOPE", "--data_dir", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "NOPE not imported" in capsys.readouterr().err
