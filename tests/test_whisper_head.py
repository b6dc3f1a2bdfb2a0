"""whisper_head: learned layer weights and attentive pooling over cached Whisper frames, trained with
specct's engine, run through train, eval.py, predict.py (files and --segment vad) and run_loco with
seeds; the frame cache is checked and made again when it does not fit.

The Whisper model is the tiny random one of test_whisper.py (2 encoder layers of 32 units, converted
to CTranslate2 by its own converter), on the demo corpora."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

pytest.importorskip("transformers", reason="Whisper features need the [ssl] extra")
from prediction_checks import predict_agrees_with_eval, two_seed_study_rows, vad_timeline  # noqa: E402
from test_whisper import tiny_whisper, whisper_cache  # noqa: E402,F401  (the fixtures, shared)

HEAD_FLAGS = dict(lr=3e-3, epochs=8, batch_size=8, warmup_epochs=0, no_progress=True, head_hidden=16,
                  precision="float32")


def head_args(train_dir, source: str, out: Path, **changes):
    from specct.train import default_args

    return default_args(train_dir, model="whisper_head", features=source, experiment=str(out),
                        **{**HEAD_FLAGS, **changes})


# --------------------------------------------------------------------------- the model

def test_padding_frames_are_masked_and_layer_weights_start_equal():
    import timm
    import torch

    from specct import models  # noqa: F401

    torch.manual_seed(0)
    model = timm.create_model("whisper_head", num_classes=3, num_layers=3, in_dim=32, hidden=16).eval()
    np.testing.assert_allclose(model.layer_mix().detach().numpy(), np.full(3, 1 / 3))
    clip = torch.randn(1, 20, 3, 32)
    alone = model((clip, torch.tensor([20])))
    padded = torch.cat([clip, 50 * torch.randn(1, 13, 3, 32)], dim=1)     # loud garbage after the clip
    np.testing.assert_allclose(model((padded, torch.tensor([20]))).detach(), alone.detach(), rtol=1e-5, atol=1e-6)
    longer = torch.randn(1, 33, 3, 32)
    batch = model((torch.cat([padded, longer]), torch.tensor([20, 33])))
    np.testing.assert_allclose(batch[0].detach(), alone[0].detach(), rtol=1e-5, atol=1e-6)
    # the frames beyond the length would change the answer if they were read
    assert not torch.allclose(model((padded, torch.tensor([33]))), alone, atol=1e-3)


# --------------------------------------------------------------------------- the frame cache

def test_the_frame_cache_is_resumable_checked_and_a_wrong_width_is_made_again(demo_split, tiny_whisper, tmp_path):
    from specct.baselines.features import parse_features
    from specct.baselines.whisper import WhisperExtractor
    from specct.baselines.whisper_frames import (FrameSet, Shard, extract_corpus, frames_for_wavs, read_cache,
                                                 shard_paths, write_shard)
    from specct.audio import loading as audio

    frames = FrameSet(parse_features(f"whisper:{tiny_whisper['float32']}"))
    assert frames.name == "whisper_frames_ct2_float32_real"
    made = []

    def factory():
        made.append(WhisperExtractor(tiny_whisper["float32"]))
        return made[-1]

    datasets = demo_split.datasets
    wavs = sorted((datasets / "DEMOA" / "DEMOA_wav").glob("*.wav"))
    folder = frames.folder(datasets, "DEMOA")
    assert extract_corpus(datasets, "DEMOA", frames, factory, progress=False) == len(wavs)
    clips, shape = read_cache(folder, frames)
    assert shape == (3, 32) and len(clips) == len(wavs)
    [first] = frames_for_wavs(wavs[:1], frames)
    assert first.dtype == np.float16
    states = made[0].audio_states([made[0].prepare(audio.load_trimmed(wavs[0]))])[0]   # (layers, T, 32)
    assert first.shape[0] == -(-states.shape[1] // 2)                    # 50 Hz -> 25 Hz
    np.testing.assert_allclose(first[0].astype(np.float32), states[:, :2].mean(dim=1).numpy(), rtol=2e-3, atol=2e-3)

    # resumable: a shard lost (a kill before it was written) is extracted again, nothing else
    shards = shard_paths(folder)
    kept = read_cache(folder, frames)[0]
    for path in shards:
        path.unlink()
    write_shard(folder / "part-00000.npz", Shard(list(kept)[:5], np.array([len(kept[n]) for n in list(kept)[:5]]),
                                                 np.concatenate([kept[n] for n in list(kept)[:5]]),
                                                 {**frames.identity(), "layers": 3, "hidden_size": 32}))
    assert extract_corpus(datasets, "DEMOA", frames, factory, progress=False) == len(wavs) - 5

    # another width (a cache of another model under the same name): made again, with a line saying so
    for path in shard_paths(folder):
        path.unlink()
    narrow = np.zeros((12, 3, 16), np.float16)
    write_shard(folder / "part-00000.npz", Shard([w.stem for w in wavs[:3]], np.array([4, 4, 4]), narrow,
                                                 {**frames.identity(), "layers": 3, "hidden_size": 16}))
    said = []
    assert extract_corpus(datasets, "DEMOA", frames, factory, progress=False, echo=said.append) == len(wavs)
    assert any("extracting every file of DEMOA again" in line and "(3, 16)" in line for line in said)
    assert read_cache(folder, frames)[1] == (3, 32)

    # a damaged shard, or one of another dtype: made again too
    (folder / "part-00099.npz").write_bytes(b"not an archive")
    said.clear()
    assert extract_corpus(datasets, "DEMOA", frames, factory, progress=False, echo=said.append) == len(wavs)
    assert any("damaged" in line for line in said)
    assert extract_corpus(datasets, "DEMOA", frames, factory, progress=False) == 0     # complete: nothing to do


# --------------------------------------------------------------------------- training, eval, predict

def test_whisper_head_learns_layer_weights_and_runs_through_eval_and_predict(demo_split, tiny_whisper, tmp_path,
                                                                            capsys):
    import torch

    from specct.core.checkpoint import load_checkpoint
    from specct.stages.evaluate import evaluate
    from specct.train import train

    source = f"whisper:{tiny_whisper['float32']}"
    out_dir = train(head_args(demo_split.train_dir, source, tmp_path / "run"))
    summary = pd.read_csv(out_dir / "summary.csv")
    assert {"epoch", "train_loss", "val_loss", "val_uar", "seconds"} <= set(summary.columns) and len(summary) == 8
    state = load_checkpoint(out_dir / "model_best.pth.tar")
    assert state["finished"] and state["epoch"] == int(summary.loc[summary["val_uar"].idxmax(), "epoch"])
    weights = pd.read_csv(out_dir / "layer_weights.csv")["weight"].to_numpy()
    assert weights.shape == (3,) and weights.sum() == pytest.approx(1.0, abs=1e-5)
    assert np.abs(weights - 1 / 3).max() > 1e-4     # trained (by how much and where to: the test below)
    assert summary["train_loss"].iloc[-1] < summary["train_loss"].iloc[0]
    recorded = yaml.safe_load((out_dir / "args.yaml").read_text())
    assert recorded["model"] == "whisper_head" and recorded["frame_cache"] == "whisper_frames_ct2_float32_real"

    result = evaluate(out_dir, output=tmp_path / "test", bootstrap=20, progress=False)
    performance = result.performance
    assert performance["model"] == "whisper_head" and performance["test_corpora"] == ["DEMOC"]
    assert performance["layer_weights"] == pytest.approx(list(weights), abs=1e-4)
    print("whisper_head (tiny random Whisper) held-out UAR on DEMOC:", round(performance["uar"], 3))

    # predict.py extracts the frames from the audio again: the same answers as eval on the cache
    # (float16 cache against float32 frames)
    wavs = predict_agrees_with_eval(out_dir, tmp_path / "test", capsys, atol=2e-3)

    # --segment vad: emotion over time of a longer recording (three clips end to end)
    timeline = vad_timeline(out_dir, wavs, tmp_path, capsys, state["class_names"])
    assert float(timeline["segments"][-1]["end"]) > 3.0                   # the recording's voiced part

    # seeds: the same seed gives the same head, another seed another one
    again_dir = train(head_args(demo_split.train_dir, source, tmp_path / "again"))
    same = load_checkpoint(again_dir / "model_best.pth.tar")["state_dict"]
    assert all(torch.equal(same[k], state["state_dict"][k]) for k in same)
    other_dir = train(head_args(demo_split.train_dir, source, tmp_path / "other", seed=7))
    other = load_checkpoint(other_dir / "model_best.pth.tar")["state_dict"]
    assert not torch.equal(other["proj.weight"], state["state_dict"]["proj.weight"])


def test_the_layer_weights_find_the_layer_that_holds_the_emotion(demo_split, tiny_whisper, tmp_path):
    """Frames where only layer 1 says the class (a class-dependent offset; layers 0 and 2 are noise of the
    same scale): training moves the layer weights from equal to that layer."""
    import shutil

    from specct.data import split_rows as data
    from specct.baselines.features import parse_features
    from specct.baselines.whisper_frames import FrameSet, Shard, write_shard
    from specct.train import train

    source = tmp_path / "informative"          # a cache name of its own: the session's other caches stay
    shutil.copytree(tiny_whisper["float32"], source)
    frames = FrameSet(parse_features(f"whisper:{source}"))
    classes = list(data.read_class_names(demo_split.train_dir))
    rng = np.random.default_rng(0)
    directions = rng.standard_normal((len(classes), 32))
    for corpus in ("DEMOA", "DEMOB", "DEMOC"):
        wavs = sorted((demo_split.datasets / corpus / f"{corpus}_wav").glob("*.wav"))
        clips = []
        for wav in wavs:
            clip = rng.standard_normal((12, 3, 32))
            clip[:, 1] += 1.5 * directions[classes.index(wav.name.split("_")[0])]
            clips.append(clip.astype(np.float16))
        folder = frames.folder(demo_split.datasets, corpus)
        folder.mkdir(parents=True)
        write_shard(folder / "part-00000.npz", Shard([w.stem for w in wavs], np.full(len(wavs), 12),
                                                     np.concatenate(clips), {**frames.identity(), "layers": 3,
                                                                             "hidden_size": 32}))
    out_dir = train(head_args(demo_split.train_dir, f"whisper:{source}", tmp_path / "run", lr=1e-2, epochs=15))
    weights = pd.read_csv(out_dir / "layer_weights.csv")["weight"].to_numpy()
    assert weights.argmax() == 1 and weights[1] > max(weights[0], weights[2]) + 0.03, weights   # from 1/3 each
    assert pd.read_csv(out_dir / "summary.csv")["val_uar"].max() > 0.9   # the offset is easy to read


def test_a_layer_or_other_features_are_refused(demo_split, tiny_whisper, tmp_path):
    from specct.core.errors import InputError
    from specct.train.frame_head import run_name

    source = f"whisper:{tiny_whisper['float32']}"
    assert run_name(head_args(demo_split.train_dir, source, tmp_path)) == "whisper_head-whisper_frames_ct2_float32_real"
    with pytest.raises(InputError, match="without a layer"):
        run_name(head_args(demo_split.train_dir, f"{source}:1", tmp_path))
    with pytest.raises(InputError, match="Whisper frames"):
        run_name(head_args(demo_split.train_dir, "egemaps", tmp_path))


@pytest.mark.slow
def test_whisper_head_through_run_loco_with_two_seeds(demo_split, tiny_whisper, tmp_path):
    from specct import loco
    from specct.stages.evaluate import main as eval_main

    argv = ["--datasets_dir", str(demo_split.datasets), "--datasets", "DEMOA", "--model", "whisper_head",
            "--features", f"whisper:{tiny_whisper['float32']}", "--lr", "3e-3", "--epochs", "4", "--head_hidden", "16",
            "--precision", "float32", "--seeds", "0", "1", "--data_dir", str(tmp_path / "data"),
            "--output", str(tmp_path / "output"), "--bootstrap", "20", "--no_progress"]
    assert loco.main(argv) == 0
    folder = tmp_path / "output" / "loco" / "whisper_head"
    results = pd.read_csv(folder / loco.RESULTS_CSV)
    row = results[results["held_out"] == "DEMOA"].iloc[0]
    assert row["seeds"] == 2 and len(str(row["uar_per_seed"]).split(";")) == 2
    jobs = [folder / "jobs" / "loco" / "whisper_head" / "DEMOA" / f"seed-{s}" for s in (0, 1)]
    seeds = [yaml.safe_load((job / "train" / "args.yaml").read_text())["seed"] for job in jobs]
    assert seeds == [0, 1]
    mixes = [pd.read_csv(job / "train" / "layer_weights.csv")["weight"].to_numpy() for job in jobs]
    assert not np.allclose(mixes[0], mixes[1])                           # two seeds, two trainings
    assert eval_main([str(jobs[0] / "train"), "--output", str(tmp_path / "again"), "--bootstrap", "20"]) == 0
    assert yaml.safe_load((tmp_path / "again" / "performance.yaml").read_text())["test_corpora"] == ["DEMOA"]
    assert loco.main(argv) == 0                                          # finished jobs are not trained again


@pytest.mark.slow
def test_whisper_head_in_a_study_with_two_seeds(tiny_whisper, tmp_path):
    """`specct run`: a study file with whisper_head beside egemaps_svm, two seeds, demo corpora."""
    flags = {"features": f"whisper:{tiny_whisper['float32']}", "lr": 3e-3, "epochs": 4, "head_hidden": 16,
             "precision": "float32"}
    head = two_seed_study_rows(tmp_path, {"name": "whisper_head", "model": "whisper_head", "flags": flags})
    assert sorted(head["held_out"]) == ["DEMOA", "DEMOB", "DEMOC"] and (head["seeds"] == 2).all()
    assert head["uar"].between(0, 1).all()
    frames = tmp_path / "datasets" / "DEMOA" / "DEMOA_features" / "whisper_frames_ct2_float32_real"
    assert sorted(p.name for p in frames.glob("part-*.npz"))               # made once, by the first job
