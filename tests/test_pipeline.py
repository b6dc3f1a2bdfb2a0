"""The demo pipeline end to end, in miniature: every stage runs and leaves its outputs."""
from __future__ import annotations

import pytest

from specct.stages.pipeline import DEMO_AUGMENTATION, DEMO_MODEL, run_demo


@pytest.mark.slow
def test_demo_pipeline_runs_every_stage(tmp_path, capsys):
    result = run_demo(tmp_path, seed=0, held_out="DEMOB", epochs=1, image_size=32, workers=1, speakers=3,
                      sentences=2, train_flags={"max_steps": 2, "batch_size": 8}, progress=False)
    out = capsys.readouterr().out
    for stage in range(1, 8):
        assert f"=== {stage}/7" in out
    assert "held-out corpus DEMOB: UAR" in out
    # the training stage names the corpora the split trains on, and the one it only validates on
    import pandas as pd

    train_data = tmp_path / "data" / "DEMOB" / "4_classes" / DEMO_AUGMENTATION / "no_balanced" / "train_data"
    trained, validated = (sorted(set(pd.read_csv(train_data / f"{part}.csv")["corpus"])) for part in ("train", "validation"))
    assert len(trained) == 1 and len(validated) == 1 and trained != validated
    assert f"=== 5/7 train {DEMO_MODEL} on {trained[0]} (validated on {validated[0]})\n" in out
    assert 0.0 <= result.uar <= 1.0 and result.chance == pytest.approx(0.25)
    for figure in result.figures:
        assert figure.is_file() and str(figure) in out
    assert (tmp_path / "datasets" / "DEMOB" / "DEMOB_img").is_dir()
    assert result.train_dir.parts[-6:] == ("train", f"{DEMO_MODEL}-scratch", "DEMOB", "4_classes",
                                           DEMO_AUGMENTATION, "no_balanced")
    assert (tmp_path / "datasets" / "DEMOB" / "DEMOB_augmented").is_dir()
    assert (result.test_dir / "performance.yaml").is_file()
    # trained with the model's configs/scratch recipe (its rate, no attention dropout), 32 px, 1 epoch
    import yaml

    from specct.stages.pipeline import scratch_flags

    recorded, recipe = yaml.safe_load((result.train_dir / "args.yaml").read_text()), scratch_flags(DEMO_MODEL)
    assert (recorded["lr"], recorded["model_kwargs"], recorded["warmup_epochs"]) == \
        (recipe["lr"], recipe["model_kwargs"], recipe["warmup_epochs"])
    assert recorded["input_size"] == [3, 32, 32] and recorded["epochs"] == 1 and recorded["pretrained"] is False
    assert result.prediction.error is None
    assert sum(result.prediction.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    # a second run finds every stage done and does not train again
    stamp = (result.train_dir / "model_best.pth.tar").stat().st_mtime_ns
    again = run_demo(tmp_path, seed=0, held_out="DEMOB", epochs=1, image_size=32, workers=1, speakers=3,
                     sentences=2, train_flags={"max_steps": 2, "batch_size": 8}, progress=False)
    assert "already trained" in capsys.readouterr().out
    assert (result.train_dir / "model_best.pth.tar").stat().st_mtime_ns == stamp
    assert again.uar == pytest.approx(result.uar)
