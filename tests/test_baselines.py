"""Baselines: openSMILE, speaker-vector and frozen SSL features, the shared vector loop, scaling, and
baselines through train/eval/predict."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from specct.audio import loading as audio
from specct.core import paths
from specct.audio.loading import write_wav
from specct.baselines.features import extract_corpora, features_path, parse_features, read_features_file, \
    skipped_path
from specct.baselines.scaling import FeatureScaler
from specct.core.errors import SpecctError
from audio_helpers import SR, make_voice_corpus, voice

CORPUS = "TESTC"


def make_corpus(root: Path, count: int = 2) -> list[Path]:
    return make_voice_corpus(root, CORPUS, count, ('anger', 'sad'))


def skipped(path: Path) -> dict[str, str]:
    with open(path, newline="") as fh:
        return {row["file"]: row["reason"] for row in csv.DictReader(fh)}


# --------------------------------------------------------------------------- openSMILE

@pytest.mark.shared
def test_egemaps_on_real_emodb_equals_opensmile(tmp_path, emodb_source):
    import opensmile

    sources = sorted(emodb_source.glob("*.wav"))[:2]
    for source in sources:
        target = paths.wav_dir(tmp_path, "EMODB") / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
    [summary] = extract_corpora(tmp_path, features="egemaps", progress=False)
    assert (summary.extracted, summary.skipped) == (2, 0)
    names, features, feature_names, meta = read_features_file(features_path(tmp_path, "EMODB", parse_features("egemaps")))
    assert features.shape == (2, 88) and len(feature_names) == 88 and np.all(np.isfinite(features))
    assert meta["signal"] == "specct.audio.load_trimmed"   # the label of before the module moved (caches unchanged)
    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                            feature_level=opensmile.FeatureLevel.Functionals)
    for name, row in zip(names, features):
        signal = audio.load_trimmed(paths.wav_dir(tmp_path, "EMODB") / f"{name}.wav")
        expected = smile.process_signal(signal, SR).to_numpy()[0]
        np.testing.assert_allclose(row, expected, rtol=1e-6)
    # a second run reuses everything
    [again] = extract_corpora(tmp_path, features="egemaps", progress=False)
    assert (again.extracted, again.reused) == (0, 2)


def test_bad_input_is_skipped_with_a_reason_and_the_rest_goes_through(tmp_path):
    good = make_corpus(tmp_path, count=2)
    folder = paths.wav_dir(tmp_path, CORPUS)
    (folder / "anger_TESTC_09_empty.wav").write_bytes(b"")
    (folder / "anger_TESTC_09_text.wav").write_text("these are not audio samples\n" * 20)
    (folder / "anger_TESTC_09_truncated.wav").write_bytes(good[0].read_bytes()[:20])
    write_wav(folder / "anger_TESTC_09_silence.wav", np.zeros(SR, np.float32), SR)
    blip = np.zeros(SR, np.float32)
    blip[8000:8000 + 800] = 0.5 * np.sin(2 * np.pi * 440 * np.arange(800) / SR)
    write_wav(folder / "anger_TESTC_09_short.wav", blip, SR)
    with_nan = voice(0.5, 200.0)
    with_nan[3000:3010] = np.nan
    sf.write(folder / "anger_TESTC_09_nan.wav", with_nan, SR, subtype="FLOAT")

    spec = parse_features("egemaps")
    [summary] = extract_corpora(tmp_path, features="egemaps", progress=False)
    reasons = skipped(skipped_path(tmp_path, CORPUS, spec))
    expected = {"empty": "empty", "text": "unreadable", "truncated": "unreadable", "silence": "silent",
                "short": "too short", "nan": "NaN"}
    assert set(reasons) == {f"anger_TESTC_09_{key}.wav" for key in expected}
    for key, word in expected.items():
        assert word in reasons[f"anger_TESTC_09_{key}.wav"] and "\n" not in reasons[f"anger_TESTC_09_{key}.wav"]
    assert (summary.extracted, summary.skipped) == (2, 6)
    names = read_features_file(features_path(tmp_path, CORPUS, spec))[0]
    assert names == sorted(w.stem for w in good)

    # fixing a file and re-running extracts it alone and clears it from the list
    write_wav(folder / "anger_TESTC_09_silence.wav", voice(0.5, 180.0), SR)
    [again] = extract_corpora(tmp_path, features="egemaps", progress=False)
    assert (again.extracted, again.reused, again.skipped) == (1, 2, 5)
    assert "anger_TESTC_09_silence.wav" not in skipped(skipped_path(tmp_path, CORPUS, spec))


def test_script_refuses_bad_options_in_one_line(tmp_path, capsys):
    import preprocess_features

    make_corpus(tmp_path, count=1)
    with pytest.raises(SystemExit) as exit_info:
        preprocess_features.main(["--datasets_dir", str(tmp_path), "--features", "mfcc"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("preprocess_features.py: error:") and "egemaps" in err and "\n" not in err


# --------------------------------------------------------------------------- the shared vector loop

class KilledAfter:
    """An extractor that gives the real eGeMAPS vectors, and dies (like a killed process) on call k + 1."""

    def __init__(self, k: int | None = None):
        from specct.baselines.features import OpenSmileExtractor

        self.real = OpenSmileExtractor("egemaps")
        self.feature_names, self.k, self.signals = self.real.feature_names, k, []

    def __call__(self, signal):
        if self.k is not None and len(self.signals) == self.k:
            raise KeyboardInterrupt("killed")
        self.signals.append(len(signal))
        return self.real(signal)


@pytest.fixture(scope="module")
def demo_corpus(tmp_path_factory) -> Path:
    """One demo corpus (2 speakers x 4 emotions x 1 sentence = 8 wavs) plus one empty wav."""
    from specct.data.demo import CORE_EMOTIONS, generate_demo

    root = tmp_path_factory.mktemp("demo_one_corpus")
    generate_demo(root, seed=0, corpora=["DEMOA"], speakers=2, sentences=1, emotions=CORE_EMOTIONS, progress=False)
    (paths.wav_dir(root, "DEMOA") / "anger_DEMOA_09_empty.wav").write_bytes(b"")
    return root


def test_vector_loop_resumes_after_a_kill_without_recomputing_and_lists_bad_audio(demo_corpus, tmp_path,
                                                                                  monkeypatch):
    from specct.data import vectors
    from specct.baselines.features import extract_corpus, store_for

    root = tmp_path / "datasets"
    shutil.copytree(demo_corpus, root)
    spec = parse_features("egemaps")
    good = sorted(w.stem for w in paths.wav_dir(root, "DEMOA").glob("*.wav") if w.stat().st_size)
    assert len(good) == 8
    monkeypatch.setattr(vectors, "CHECKPOINT_SECONDS", 0.0)   # checkpoint after every file

    killed = KilledAfter(k=3)
    with pytest.raises(KeyboardInterrupt):
        extract_corpus(root, "DEMOA", spec, extractor=killed, progress=False)
    # the checkpoints hold the 3 finished vectors (the empty wav is skipped, not counted)
    names, first, _, meta = read_features_file(features_path(root, "DEMOA", spec))
    assert names == good[:3] and first.shape == (3, 88) and meta["features"] == spec.as_dict()
    assert not list(features_path(root, "DEMOA", spec).parent.glob(".*.tmp*"))

    rerun = KilledAfter()
    summary = extract_corpus(root, "DEMOA", spec, extractor=rerun, progress=False)
    assert (summary.extracted, summary.reused, summary.skipped, summary.files) == (5, 3, 1, 9)
    assert len(rerun.signals) == 5                               # the first 3 were not extracted again
    names, features, feature_names, _ = read_features_file(features_path(root, "DEMOA", spec))
    assert names == good and len(feature_names) == 88
    np.testing.assert_array_equal(features[:3], first)           # kept as checkpointed
    reasons = skipped(skipped_path(root, "DEMOA", spec))
    assert list(reasons) == ["anger_DEMOA_09_empty.wav"] and "empty" in reasons["anger_DEMOA_09_empty.wav"]

    # the vectors are those of a run that was never interrupted
    clean = tmp_path / "clean"
    shutil.copytree(demo_corpus, clean)
    extract_corpus(clean, "DEMOA", spec, extractor=KilledAfter(), progress=False)
    np.testing.assert_allclose(read_features_file(features_path(clean, "DEMOA", spec))[1], features, rtol=1e-6)
    # and the lookup finds them by wav path, through the same store
    wavs = [paths.wav_dir(root, "DEMOA") / f"{n}.wav" for n in good[::-1]]
    np.testing.assert_array_equal(vectors.vectors_for_wavs(wavs, store_for(spec)), features[::-1])


def test_resemblyzer_features_are_the_speaker_cache(demo_split, monkeypatch):
    """--features resemblyzer reads (and would fill) <C>_speaker/embeddings.npz: nothing is embedded twice."""
    from specct.data import speaker
    from specct.baselines.features import features_for_wavs, make_extractor

    spec = parse_features("resemblyzer")
    assert features_path(demo_split.datasets, "DEMOA", spec) == speaker.embeddings_path(demo_split.datasets, "DEMOA")
    monkeypatch.setattr(speaker, "embed_prepared", lambda *a, **k: pytest.fail("embedded a second time"))
    summaries = extract_corpora(demo_split.datasets, features="resemblyzer", progress=False)
    assert [s.extracted for s in summaries] == [0, 0, 0]
    assert all(s.reused == s.files > 0 for s in summaries)
    monkeypatch.undo()
    wavs = sorted(paths.wav_dir(demo_split.datasets, "DEMOC").glob("*.wav"))[:2]
    cached = features_for_wavs(wavs, spec)
    np.testing.assert_array_equal(cached, speaker.embeddings_for_wavs(wavs))
    fresh = make_extractor(spec)(audio.load_trimmed(wavs[0]))  # new audio: speaker.embed_signal
    assert fresh.shape == (256,)
    np.testing.assert_allclose(fresh, cached[0], atol=1e-5)


# --------------------------------------------------------------------------- scaling

def test_scalers_fit_on_training_rows_and_speaker_scaling_follows_the_test_speaker():
    rng = np.random.default_rng(0)
    train = rng.normal(0.0, 1.0, (40, 5))
    test = rng.normal(0.0, 1.0, (20, 5)) + 5.0          # a test corpus with shifted features
    test_speakers = ["T-1"] * 10 + ["T-2"] * 10
    scaler = FeatureScaler("standard").fit(train)
    np.testing.assert_allclose(scaler.mean, train.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(scaler.scale, train.std(axis=0), rtol=1e-5)
    standard = scaler.transform(test, test_speakers)          # standard ignores the groups
    assert standard.mean() > 3.0

    speaker = FeatureScaler("speaker").fit(train)
    np.testing.assert_allclose(speaker.mean, scaler.mean)   # the same training statistics
    by_speaker = speaker.transform(test, test_speakers)
    assert not np.allclose(by_speaker, standard)
    for name in ("T-1", "T-2"):
        rows = np.array(test_speakers) == name
        np.testing.assert_allclose(by_speaker[rows].mean(axis=0), 0.0, atol=1e-5)
        np.testing.assert_allclose(by_speaker[rows].std(axis=0), 1.0, atol=1e-4)
    assert speaker.transductive and not scaler.transductive
    with pytest.raises(SpecctError):
        FeatureScaler("minmax")


# --------------------------------------------------------------------------- SSL

@pytest.fixture(scope="module")
def tiny_ssl_dir(tmp_path_factory) -> Path:
    """A tiny randomly initialised wav2vec2 and its feature extractor, saved like save_pretrained does."""
    pytest.importorskip("transformers", reason="SSL features need the [ssl] extra")
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    torch.manual_seed(0)
    config = Wav2Vec2Config(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                            conv_dim=(16, 16), conv_stride=(5, 4), conv_kernel=(10, 8),
                            num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2)
    folder = tmp_path_factory.mktemp("tiny_wav2vec2")
    Wav2Vec2Model(config).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(sampling_rate=SR, do_normalize=True).save_pretrained(folder)
    return folder


def test_ssl_extractor_shape_and_determinism(tiny_ssl_dir, tmp_path):
    from specct.baselines.ssl import SSLExtractor

    wavs = make_corpus(tmp_path, count=2)
    one = SSLExtractor(str(tiny_ssl_dir), layer=1)
    first = one(audio.load_trimmed(wavs[0]))
    assert first.shape == (32,) and np.all(np.isfinite(first))       # mean and std of 16 hidden units
    np.testing.assert_array_equal(first, SSLExtractor(str(tiny_ssl_dir), layer=1)(audio.load_trimmed(wavs[0])))
    assert not np.allclose(first, one(audio.load_trimmed(wavs[1])))
    every = SSLExtractor(str(tiny_ssl_dir), layer="all")(audio.load_trimmed(wavs[0]))
    assert every.shape == (3, 32)                                       # feature encoder + 2 blocks
    np.testing.assert_allclose(every[1], first, rtol=1e-5, atol=1e-6)

    [summary] = extract_corpora(tmp_path, features=f"ssl:{tiny_ssl_dir}", layer="all", progress=False)
    assert summary.extracted == 2
    from specct.baselines.features import features_for_wavs

    layer1 = features_for_wavs(wavs, parse_features(f"ssl:{tiny_ssl_dir}", 1))  # read from the 'all' cache
    np.testing.assert_allclose(layer1[0], first, rtol=1e-5, atol=1e-6)


def test_ssl_missing_directory_and_offline_hub_name_give_one_line_errors(tmp_path):
    pytest.importorskip("transformers", reason="SSL features need the [ssl] extra")
    from specct.baselines.ssl import SSLExtractor

    with pytest.raises(SpecctError) as missing:
        SSLExtractor(str(tmp_path / "no_such_model"))
    assert "\n" not in str(missing.value) and "ssl:DIR" in str(missing.value)
    with pytest.raises(SpecctError) as offline:
        SSLExtractor("specct-test/no-such-model", offline=True, cache_dir=tmp_path / "hub")
    text = str(offline.value)
    assert "\n" not in text and "specct-test/no-such-model" in text and "--features ssl:DIR" in text


# --------------------------------------------------------------------------- train, eval, predict

def baseline_args(train_dir, out_dir, model, **overrides):
    from specct.train import default_args

    return default_args(train_dir, model=model, experiment=str(out_dir), no_progress=True, **overrides)


@pytest.fixture(scope="module")
def demo_egemaps(demo_split):
    extract_corpora(demo_split.datasets, features="egemaps", progress=False)
    return demo_split


@pytest.fixture(scope="module")
def svm_run(demo_egemaps):
    from specct.train import train

    out_dir = demo_egemaps.root / "output" / "train" / "egemaps_svm"
    assert train(baseline_args(demo_egemaps.train_dir, out_dir, "egemaps_svm")) == out_dir
    return out_dir


def test_svm_on_demo_corpora_beats_chance_and_eval_writes_the_usual_files(svm_run, demo_egemaps, tmp_path):
    from specct.stages.evaluate import main as eval_main

    assert {p.name for p in svm_run.iterdir()} >= {"args.yaml", "summary.csv", "model_best.skops"}
    args = yaml.safe_load((svm_run / "args.yaml").read_text())
    assert args["scaling"] == "standard" and args["scaling_transductive"] is False
    out = tmp_path / "test"
    assert eval_main([str(svm_run), "--output", str(out), "--bootstrap", "50"]) == 0
    performance = yaml.safe_load((out / "performance.yaml").read_text())
    assert performance["test_corpora"] == ["DEMOC"]
    assert performance["uar"] > 0.5                        # four classes: chance is 0.25
    low, high = performance["confidence_interval_95"]["uar"]
    assert low <= performance["uar"] <= high
    assert performance["scaling"]["transductive"] is False and performance["features"]["name"] == "egemaps"
    assert (out / "conf_matrix.png").is_file()
    import pandas as pd

    predictions = pd.read_csv(out / "predictions.csv")
    assert len(predictions) == performance["samples"]
    assert "C" in pd.read_csv(svm_run / "summary.csv").columns


def test_predict_uses_the_folder_alone_and_skips_bad_audio(svm_run, demo_egemaps, tmp_path, capsys):
    import pandas as pd

    from specct.stages.predict import Predictor, main as predict_main

    test = pd.read_csv(demo_egemaps.test_csv)
    wav = Path(test["wav"].iloc[0])
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    predictor = Predictor(svm_run)
    results = predictor.predict_files([wav, bad], progress=False, echo=None)
    assert results[0].emotion in predictor.class_names and results[0].error is None
    assert abs(sum(results[0].probabilities.values()) - 1.0) < 1e-5
    assert results[1].emotion is None and "unreadable" in results[1].error
    assert predict_main([str(wav), str(bad), "--model_dir", str(svm_run), "--format", "csv"]) == 0
    out = capsys.readouterr()
    assert "skip" in out.err and "1 of 2 files classified" in out.err


def test_speaker_scaling_is_stated_and_changes_the_test_inputs(demo_egemaps, svm_run, tmp_path):
    from specct.stages.evaluate import evaluate
    from specct.train import train

    out_dir = train(baseline_args(demo_egemaps.train_dir, tmp_path / "run", "egemaps_logreg", scaling="speaker",
                                  svm_c=[0.1, 1.0]))
    result = evaluate(out_dir, output=tmp_path / "test", bootstrap=20, progress=False)
    assert result.performance["scaling"]["mode"] == "speaker" and result.performance["scaling"]["transductive"]
    assert "transductive" in yaml.safe_load((out_dir / "args.yaml").read_text())["scaling_note"]


def test_ssl_head_trains_evaluates_and_predicts(demo_split, tiny_ssl_dir, tmp_path):
    from specct.stages.evaluate import evaluate
    from specct.stages.predict import Predictor
    from specct.train import train

    extract_corpora(demo_split.datasets, features=f"ssl:{tiny_ssl_dir}", layer="all", progress=False)
    out_dir = train(baseline_args(demo_split.train_dir, tmp_path / "ssl", "ssl_linear",
                                  features=f"ssl:{tiny_ssl_dir}", layer="all", epochs=3, lr=1e-2, patience=2))
    import pandas as pd

    summary = pd.read_csv(out_dir / "summary.csv")
    assert list(summary.columns[:5]) == ["epoch", "train_loss", "val_loss", "val_accuracy", "val_uar"]
    result = evaluate(out_dir, output=tmp_path / "test", bootstrap=20, progress=False)
    assert result.performance["features"]["layer"] == "all"
    wav = Path(pd.read_csv(demo_split.test_csv)["wav"].iloc[0])
    [prediction] = Predictor(out_dir).predict_files([wav], progress=False, echo=None)
    assert prediction.emotion in result.performance["class_names"]


def test_resemblyzer_svm_trains_on_the_speaker_cache_beats_chance_and_predicts(demo_split, tmp_path, monkeypatch):
    import pandas as pd

    from specct.data import speaker
    from specct.stages.evaluate import evaluate
    from specct.stages.predict import Predictor
    from specct.train import train

    # training and evaluation read the vectors the speaker stage cached; the encoder never runs
    monkeypatch.setattr(speaker, "embed_prepared", lambda *a, **k: pytest.fail("embedded a second time"))
    out_dir = train(baseline_args(demo_split.train_dir, tmp_path / "run", "resemblyzer_svm"))
    args = yaml.safe_load((out_dir / "args.yaml").read_text())
    assert args["feature_set"]["name"] == "resemblyzer" and (out_dir / "model_best.skops").is_file()
    result = evaluate(out_dir, output=tmp_path / "test", bootstrap=50, progress=False)
    performance = result.performance
    print("resemblyzer_svm UAR on the demo split:", round(performance["uar"], 3))
    assert performance["test_corpora"] == ["DEMOC"] and performance["features"]["name"] == "resemblyzer"
    assert len(performance["class_names"]) == 4 and performance["uar"] > 0.25   # chance is 0.25
    monkeypatch.undo()

    # a wav through the folder alone: speaker.embed_signal, then the same scaler and SVM
    predictions = pd.read_csv(tmp_path / "test" / "predictions.csv")
    wavs = [Path(w) for w in predictions["wav"].iloc[:3]]
    results = Predictor(out_dir).predict_files(wavs, progress=False, echo=None)
    assert [r.emotion for r in results] == list(predictions["prediction"].iloc[:3])
    for r in results:
        assert r.error is None and abs(sum(r.probabilities.values()) - 1.0) < 1e-5


def test_ssl_model_without_features_is_refused_in_one_line(demo_split, tmp_path):
    from specct.train import train

    with pytest.raises(SpecctError) as error:
        train(baseline_args(demo_split.train_dir, tmp_path / "x", "ssl_linear"))
    assert "--features ssl:" in str(error.value)


def test_svm_without_validation_rows_needs_one_candidate_and_trains_on_every_row(demo_egemaps, tmp_path, capsys):
    # --validation none: no rows to choose C on, so one value must be given; every training row is used
    import pandas as pd

    from specct.data.splits import SplitOptions, run_split_stage
    from specct.train import main as train_main

    split = run_split_stage(SplitOptions(eval_dataset="DEMOC", num_classes="4", seed=0, validation="none",
                                         datasets_dir=str(demo_egemaps.datasets), output_dir=str(tmp_path / "data")))[0]
    train_dir = split.out_dir / "train_data"
    assert len(pd.read_csv(train_dir / "validation.csv")) == 0
    out = tmp_path / "svm"
    with pytest.raises(SystemExit) as stop:
        train_main([str(train_dir), "--model", "egemaps_svm", "--experiment", str(out), "--no_progress"])
    assert stop.value.code == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "no validation rows" in error and "--svm_c" in error
    assert train_main([str(train_dir), "--model", "egemaps_svm", "--experiment", str(out), "--no_progress",
                       "--svm_c", "1.0"]) == 0
    from specct.baselines.model import load_model

    model = load_model(out / "model_best.skops")
    assert model.info["train_rows"] == len(pd.read_csv(train_dir / "train.csv")) and model.info["validation_rows"] == 0
    assert model.info["hyperparameters"] == {"C": 1.0}
