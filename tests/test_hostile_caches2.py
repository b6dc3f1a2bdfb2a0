"""Hostile runs, caches of the wrong shape: every stage checks each cache it would reuse against what it
writes (width, dtype, rows per name) and makes it again, saying why in one line; training reads such a
cache as a one-line error, never a scikit-learn traceback. Driven through `specct run` and train.py."""
from __future__ import annotations

import re

import numpy as np
import pytest
from hostile_helpers import root, study  # noqa: F401  (the shared fixtures)
from script_helpers import load_script, one_line_error

from specct.study.engine import main as specct_run

STUDY_FILE = """name: caches
datasets_dir: datasets
corpora: {DEMOA: demo, DEMOB: demo, DEMOC: demo}
spectrogram: {size: 32}
bootstrap: 50
report: false
systems:
  - {name: svm, model: egemaps_svm}
"""


def egemaps(root, corpus="DEMOA"):
    return root / "datasets" / corpus / f"{corpus}_features" / "egemaps.npz"


def embeddings(root, corpus="DEMOB"):
    return root / "datasets" / corpus / f"{corpus}_speaker" / "embeddings.npz"


def arrays(path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def save(path, content: dict) -> None:
    with open(path, "wb") as fh:
        np.savez(fh, **content)


def specct_run_ok(capsys, *extra) -> str:
    capsys.readouterr()
    assert specct_run(["study.yml", "--no_progress", "--until", "features", *extra]) == 0
    return capsys.readouterr().out


# how a features cache is spoiled, and the reason the stage gives for making it again
FEATURE_DAMAGES = {
    "10 columns": (lambda a: {**a, "features": a["features"][:, :10], "feature_names": a["feature_names"][:10]},
                   "vectors of width 10, not 88"),
    "float64": (lambda a: {**a, "features": a["features"].astype(np.float64)}, "vectors of dtype float64, not float32"),
    "a row short": (lambda a: {**a, "features": a["features"][:-1]}, r"32 names but features of shape \(31, 88\)"),
}


@pytest.mark.parametrize("damage", sorted(FEATURE_DAMAGES))
def test_a_features_cache_of_another_shape_is_not_done_and_is_made_again(root, capsys, damage):
    spoil, reason = FEATURE_DAMAGES[damage]
    (root / "study.yml").write_text(STUDY_FILE)
    good = arrays(egemaps(root))
    others = {c: egemaps(root, c).read_bytes() for c in ("DEMOB", "DEMOC")}
    save(egemaps(root), spoil(good))

    planned = specct_run_ok(capsys, "--dry_run")
    assert re.search(rf"^features +32 wavs to do \(datasets/DEMOA/DEMOA_features/egemaps\.npz: damaged egemaps "
                     rf"features file \({reason}\); made again\)$", planned, re.M), planned
    out = specct_run_ok(capsys)
    assert re.search(rf"^datasets/DEMOA/DEMOA_features/egemaps\.npz: damaged egemaps features file \({reason}\); "
                     r"extracting every file again$", out, re.M), out
    assert "DEMOA egemaps: 32 wavs, 32 extracted, 0 already done" in out
    remade = arrays(egemaps(root))
    assert remade["features"].dtype == np.float32 and remade["features"].shape == (32, 88)
    assert list(remade["names"]) == list(good["names"])
    assert np.allclose(remade["features"], good["features"], rtol=1e-5, atol=1e-5)
    assert {c: egemaps(root, c).read_bytes() for c in ("DEMOB", "DEMOC")} == others
    assert "=== features: done" in specct_run_ok(capsys)


def test_speaker_vectors_of_width_128_are_made_again_by_specct_run(root, capsys):
    (root / "study.yml").write_text(STUDY_FILE)
    good = arrays(embeddings(root))
    others = {c: embeddings(root, c).read_bytes() for c in ("DEMOA", "DEMOC")}
    save(embeddings(root), {**good, "embeddings": good["embeddings"][:, :128]})
    out = specct_run_ok(capsys)
    assert re.search(r"^=== speaker vectors: 32 wavs to do \(datasets/DEMOB/DEMOB_speaker/embeddings\.npz: damaged "
                     r"speaker vectors file \(vectors of width 128, not 256\); made again\)$", out, re.M), out
    assert "embeddings.npz: damaged speaker vectors file (vectors of width 128, not 256); extracting every file " \
           "again" in out
    remade = arrays(embeddings(root))
    assert remade["embeddings"].shape == (32, 256) and list(remade["names"]) == list(good["names"])
    assert np.allclose(remade["embeddings"], good["embeddings"], atol=1e-4)
    assert {c: embeddings(root, c).read_bytes() for c in ("DEMOA", "DEMOC")} == others
    assert "=== speaker vectors: done" in specct_run_ok(capsys)


def test_nan_rows_leave_the_features_stage_unfinished(root, capsys):
    (root / "study.yml").write_text(STUDY_FILE)
    good = arrays(egemaps(root))
    spoiled = good["features"].copy()
    spoiled[3] = np.nan
    save(egemaps(root), {**good, "features": spoiled})
    out = specct_run_ok(capsys)
    assert re.search(r"^=== features: 1 wavs to do \(datasets/DEMOA/DEMOA_features/egemaps\.npz: 1 egemaps features "
                     r"with NaN or inf values; extracted again\)$", out, re.M), out
    assert "DEMOA egemaps: 32 wavs, 1 extracted, 31 already done" in out
    assert np.allclose(arrays(egemaps(root))["features"], good["features"], atol=1e-5)


def test_a_cache_made_for_another_feature_set_stops_the_stage_in_one_line(root, capsys):
    import json

    (root / "study.yml").write_text(STUDY_FILE)
    good = arrays(egemaps(root))
    meta = json.loads(str(good["meta"]))
    meta["features"] = {**meta["features"], "features": "compare", "kind": "compare", "name": "compare"}
    save(egemaps(root), {**good, "meta": np.array(json.dumps(meta))})
    before = egemaps(root).read_bytes()
    one_line_error(capsys, lambda: specct_run(["study.yml", "--no_progress", "--until", "features"]),
                   r"^specct run: error: 1 of 3 corpora failed: DEMOA \(datasets/DEMOA/DEMOA_features/egemaps\.npz: "
                   r"made for \{'features': \{'features': 'compare'.*\(remove it or pass --overwrite\)\); kept: DEMOB, DEMOC$")
    assert egemaps(root).read_bytes() == before


def test_training_on_a_cache_of_another_width_is_one_line(root, capsys):
    good = arrays(egemaps(root))
    save(egemaps(root), {**good, "features": good["features"][:, :10], "feature_names": good["feature_names"][:10]})
    train_data = next((root / "data" / "DEMOB").rglob("train_data"))
    one_line_error(capsys, lambda: load_script("train").main([str(train_data), "--model", "egemaps_svm",
                                                              "--experiment", str(root / "narrow_run"), "--no_progress"]),
                   r"^train\.py: error: .*DEMOA_features/egemaps\.npz: damaged egemaps features file \(vectors of "
                   r"width 10, not 88\)$")
    assert not (root / "narrow_run" / "model_best.skops").exists()
