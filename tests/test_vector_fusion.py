"""--vector: the speaker-fused CCT fuses the speaker vector, a pooled Whisper layer, or both; trained,
evaluated and used for prediction (files and --segment vad), through run_loco with two seeds and the
study's features stage; the PCA fitted on the training rows only; ``speaker`` as before.

The Whisper model is the tiny random one of test_whisper.py (2 encoder layers of 32 units, saved by
``save_pretrained``), on the demo corpora."""
from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
import yaml

pytest.importorskip("transformers", reason="Whisper features need the [ssl] extra")
from prediction_checks import predict_agrees_with_eval, vad_timeline  # noqa: E402
from test_whisper import tiny_whisper, whisper_cache  # noqa: E402,F401  (the fixtures, shared)
from training_fixtures import TINY_MODEL, tiny_args  # noqa: E402

HIDDEN = 32               # the tiny Whisper's width: a pooled layer is mean + std, 64 values
SPEAKER = 256


def whisper_vector(tiny_whisper, layer: int = 1, speaker: bool = False) -> str:
    return f"{'speaker+' if speaker else ''}whisper:{tiny_whisper['hf']}:{layer}"


def extract(demo_split, tiny_whisper) -> None:
    from specct.baselines.features import extract_corpora

    extract_corpora(demo_split.datasets, features=f"whisper:{tiny_whisper['hf']}", progress=False)


def one_line(error) -> str:
    text = str(error.value)
    assert "\n" not in text and text
    return text


# --------------------------------------------------------------------------- the flag

def test_the_flag_names_the_vector_and_a_checkpoint_without_it_takes_the_speaker_vector(tiny_whisper):
    from specct.core.errors import SpecctError
    from specct.train.fusion_vector import from_checkpoint, from_flags, parse_vector

    assert parse_vector("speaker").is_default and parse_vector(None).is_default
    hf = str(tiny_whisper["hf"].resolve())
    both = parse_vector(f"speaker+whisper:{tiny_whisper['hf']}:1", whisper_input="padded")
    assert both.speaker and both.whisper.source == hf and both.whisper.layer == 1 and both.whisper.input == "padded"
    assert both.text == f"speaker+whisper:{hf}:1" and both.slug == "speaker+whisper_hf_padded_layer1"
    alone = parse_vector("whisper:3")                                    # the `make weights` model
    assert not alone.speaker and alone.whisper.source is None and alone.text == "whisper:3"
    assert from_checkpoint({"vector": both.record()}) == both             # what a checkpoint keeps rebuilds it
    assert from_checkpoint({}).is_default                                 # an older checkpoint: the speaker vector
    assert from_flags({"vector": f"whisper:{hf}:0"}).whisper.layer == 0
    for bad in ("whisper", f"whisper:{hf}", "egemaps", "speaker+speaker"):
        with pytest.raises(SpecctError) as error:
            parse_vector(bad)
        assert "--vector" in one_line(error)


def test_absent_weights_or_vectors_are_one_line_naming_the_flag_and_make_weights(demo_split, tmp_path):
    from specct.data import split_rows as data
    from specct.core.errors import SpecctError
    from specct.train.fusion_vector import parse_vector

    vector = parse_vector(f"whisper:{tmp_path / 'no-weights'}:1")
    with pytest.raises(SpecctError) as error:
        vector.extractor()
    assert "--vector" in one_line(error) and "make weights" in one_line(error)
    frame = data.read_split(demo_split.train_dir / "train.csv", data.read_class_names(demo_split.train_dir))
    with pytest.raises(SpecctError) as error:                            # training: no cache, no weights
        vector.rows(frame)
    assert "--vector" in one_line(error) and "make weights" in one_line(error)


def test_an_image_model_refuses_a_vector(demo_split, tiny_whisper, tmp_path):
    from specct.core.errors import InputError
    from specct.train import train

    with pytest.raises(InputError, match="fuses no per-utterance vector"):
        train(tiny_args(demo_split.train_dir, tmp_path / "run", model="cct_7_7x2_112",
                        vector=whisper_vector(tiny_whisper)))


# --------------------------------------------------------------------------- training, eval, predict

def expected_pca(demo_split, tiny_whisper, vector_text: str):
    """The PCA fitted by hand on train.csv's wavs only (validation and test rows never read): each block
    scaled to unit total variance, then the split's number of components."""
    from sklearn.decomposition import PCA

    from specct.baselines.features import features_for_wavs, parse_features
    from specct.data.speaker import embeddings_for_wavs, load_pca

    wavs = sorted(set(pd.read_csv(demo_split.train_dir / "train.csv")["wav"]))
    blocks = []
    if vector_text.startswith("speaker+"):
        blocks.append(embeddings_for_wavs(wavs).astype(np.float64))
    blocks.append(features_for_wavs(wavs, parse_features(f"whisper:{tiny_whisper['hf']}", 1)).astype(np.float64))
    scaled = np.concatenate([b / np.sqrt(b.var(axis=0).sum()) for b in blocks], axis=1)
    k = min(load_pca(demo_split.train_dir / "pca.npz").n_components, scaled.shape[1], len(wavs))
    return np.concatenate(blocks, axis=1), PCA(n_components=k, svd_solver="full").fit(scaled), scaled


@pytest.mark.parametrize("speaker", [False, True], ids=["whisper", "speaker+whisper"])
def test_a_speaker_cct_fuses_the_vector_and_runs_through_eval_and_predict(demo_split, tiny_whisper, tmp_path,
                                                                          capsys, speaker):
    import torch

    from specct.core.checkpoint import load_checkpoint
    from specct.stages.evaluate import evaluate
    from specct.models.factory import model_from_checkpoint
    from specct.train import train
    from specct.train.loop import run_name

    extract(demo_split, tiny_whisper)
    text = whisper_vector(tiny_whisper, speaker=speaker)
    args = tiny_args(demo_split.train_dir, tmp_path / "run", vector=text, precision="float32")
    assert run_name(args).endswith("-scratch-" + ("speaker+" if speaker else "") + "whisper_hf_real_layer1")
    out_dir = train(args)

    # the model takes the raw concatenation and holds the PCA fitted on the training rows
    state = load_checkpoint(out_dir / "model_best.pth.tar")
    assert state["vector"]["vector"].endswith(":1") and state["vector"]["whisper_cache"] == "whisper_hf_real"
    model = model_from_checkpoint(state)
    raw, pca, scaled = expected_pca(demo_split, tiny_whisper, text)
    width = (SPEAKER if speaker else 0) + 2 * HIDDEN
    assert model.speaker_raw_dim == raw.shape[1] == width
    assert model.speaker_dim == pca.n_components_ > 1
    held = model.speaker_pca_mean.numpy(), model.speaker_pca_components.numpy()
    projected = (raw - held[0]) @ held[1].T
    by_hand = pca.transform(scaled)
    np.testing.assert_allclose(np.abs(projected), np.abs(by_hand), rtol=1e-3, atol=1e-4)   # components up to sign
    if speaker:   # both blocks weigh alike: unit total variance each before the PCA
        assert scaled[:, :SPEAKER].var(axis=0).sum() == pytest.approx(1.0)
        assert scaled[:, SPEAKER:].var(axis=0).sum() == pytest.approx(1.0)
    assert yaml.safe_load((out_dir / "args.yaml").read_text())["vector"] == text

    # eval.py reads the test rows' vectors from the caches
    result = evaluate(out_dir, output=tmp_path / "test", bootstrap=20, progress=False)
    assert result.performance["test_corpora"] == ["DEMOC"] and result.performance["vector"].endswith(":1")
    assert 0.0 <= result.performance["uar"] <= 1.0

    # predict.py computes the vector of new audio as the cache was made: the same answers as eval.py
    wavs = predict_agrees_with_eval(out_dir, tmp_path / "test", capsys, atol=1e-3)

    # --segment vad: a longer recording, one emotion per stretch of speech
    vad_timeline(out_dir, wavs, tmp_path, capsys, state["class_names"])
    assert torch.is_tensor(model.speaker_pca_components)


def test_the_speaker_vector_stays_the_default_and_an_old_checkpoint_reads_as_it(trained_run, demo_split, tmp_path):
    import torch

    from specct.core.checkpoint import load_checkpoint, save_checkpoint
    from specct.stages.evaluate import evaluate

    state = load_checkpoint(trained_run / "model_best.pth.tar")
    assert state["vector"] == {"vector": "speaker"} and state["args"]["vector"] == "speaker"
    assert state["model_kwargs"]["speaker_raw_dim"] == 256                # the raw resemblyzer vector, as before
    evaluate(trained_run, output=tmp_path / "new", bootstrap=20, progress=False)
    old = tmp_path / "old"
    old.mkdir()
    save_checkpoint(old / "model_best.pth.tar", {k: v for k, v in state.items() if k != "vector"})
    for name in ("args.yaml",):
        (old / name).write_bytes((trained_run / name).read_bytes())
    evaluate(old, output=tmp_path / "old_test", bootstrap=20, progress=False)
    assert (tmp_path / "old_test" / "predictions.csv").read_text() == (tmp_path / "new" / "predictions.csv").read_text()
    assert torch.equal(load_checkpoint(old / "model_best.pth.tar")["state_dict"]["speaker_pca_mean"],
                       state["state_dict"]["speaker_pca_mean"])


# --------------------------------------------------------------------------- experiments and studies

def test_run_loco_with_two_seeds_fuses_the_whisper_vector(demo_split, tiny_whisper, tmp_path):
    from specct import loco
    from specct.stages.evaluate import main as eval_main

    extract(demo_split, tiny_whisper)
    text = whisper_vector(tiny_whisper, speaker=True)
    argv = ["--datasets_dir", str(demo_split.datasets), "--datasets", "DEMOA", "--model", TINY_MODEL,
            "--vector", text, "--input_size", "3", "32", "32", "--batch_size", "8", "--lr", "1e-3",
            "--warmup_epochs", "0", "--epochs", "2", "--max_steps", "3", "--precision", "float32",
            "--seeds", "0", "1", "--data_dir", str(tmp_path / "data"), "--output", str(tmp_path / "output"),
            "--bootstrap", "20", "--no_progress"]
    assert loco.main(argv) == 0
    folder = tmp_path / "output" / "loco" / TINY_MODEL
    results = pd.read_csv(folder / loco.RESULTS_CSV)
    row = results[results["held_out"] == "DEMOA"].iloc[0]
    assert row["seeds"] == 2 and len(str(row["uar_per_seed"]).split(";")) == 2
    jobs = [folder / "jobs" / "loco" / TINY_MODEL / "DEMOA" / f"seed-{s}" for s in (0, 1)]
    recorded = [yaml.safe_load((job / "train" / "args.yaml").read_text()) for job in jobs]
    assert [r["seed"] for r in recorded] == [0, 1] and all(r["vector"] == text for r in recorded)
    performance = yaml.safe_load(next((jobs[0]).rglob("performance.yaml")).read_text())
    assert performance["vector"].startswith("speaker+whisper:") and performance["test_corpora"] == ["DEMOA"]
    assert eval_main([str(jobs[1] / "train"), "--output", str(tmp_path / "again"), "--bootstrap", "20"]) == 0
    assert loco.main(argv) == 0                                          # finished jobs are not trained again


def test_a_study_extracts_the_whisper_vectors_its_systems_fuse(tiny_whisper, tmp_path):
    from specct.study import engine as study

    text = whisper_vector(tiny_whisper)
    content = {"name": "vector", "corpora": {"DEMOA": "demo", "DEMOB": "demo", "DEMOC": "demo"},
               "demo": {"speakers": 2, "sentences": 1}, "num_classes": 4, "spectrogram": {"size": 32},
               "output": str(tmp_path / "output"), "datasets_dir": str(tmp_path / "datasets"),
               "systems": [{"name": "speaker_cct", "model": TINY_MODEL, "flags": {"vector": text}},
                           {"name": "plain", "model": "cct_7_7x2_112"}]}
    loaded = study.read_study(content)
    assert [(spec.text, spec.layer) for spec in study.feature_sets(loaded)] == [
        (f"whisper:{tiny_whisper['hf'].resolve()}", 1)]
    study.stage(loaded, "import", progress=False).run()
    features = study.stage(loaded, "features", progress=False)
    assert features.state.endswith("wavs to do")
    features.run()
    assert study.stage(loaded, "features", progress=False).state == "done"
    for corpus in ("DEMOA", "DEMOB", "DEMOC"):
        assert (tmp_path / "datasets" / corpus / f"{corpus}_features" / "whisper_hf_real.npz").is_file()


def test_a_refit_fits_the_whisper_pca_again_on_training_and_validation_rows_in_the_same_shape(demo_split,
                                                                                             tiny_whisper, tmp_path):
    from specct.baselines.features import features_for_wavs, parse_features
    from specct.core.checkpoint import load_checkpoint
    from specct.train import train

    extract(demo_split, tiny_whisper)
    out_dir = train(tiny_args(demo_split.train_dir, tmp_path / "run", vector=whisper_vector(tiny_whisper),
                              refit=True, precision="float32"))
    first = load_checkpoint(out_dir / "before_refit" / "model_best.pth.tar")["state_dict"]
    refit = load_checkpoint(out_dir / "model_best.pth.tar")["state_dict"]
    assert first["speaker_pca_components"].shape == refit["speaker_pca_components"].shape

    def mean_of(*names):   # the raw mean of the rows' wavs, each once: what the PCA centres on
        wavs = sorted(set(pd.concat([pd.read_csv(demo_split.train_dir / n) for n in names])["wav"]))
        return features_for_wavs(wavs, parse_features(f"whisper:{tiny_whisper['hf']}", 1)).mean(axis=0)

    np.testing.assert_allclose(first["speaker_pca_mean"].numpy(), mean_of("train.csv"), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(refit["speaker_pca_mean"].numpy(), mean_of("train.csv", "validation.csv"),
                               rtol=1e-4, atol=1e-5)
    assert not np.allclose(first["speaker_pca_mean"].numpy(), refit["speaker_pca_mean"].numpy(), atol=1e-4)
