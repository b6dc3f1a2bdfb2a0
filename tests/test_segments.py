"""Long recordings (predict.py --segment): voice-activity and fixed-window segments, a trained system
labelling a recording of two emotions half by half, bounded memory on a 10-minute file, bad files in
a folder, and a killed run that resumes."""
from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from specct.audio.loading import load_trimmed
from specct.data.segments import SegmentOptions, fixed_windows, segment_stream

SR = 16000


def demo_wavs(demo_split, emotion: str, corpus: str = "DEMOC") -> list[Path]:
    return sorted((demo_split.datasets / corpus / f"{corpus}_wav").glob(f"{emotion}_*.wav"))


def joined(path: Path, wavs, pause: float = 1.0, rate: int = SR) -> list[tuple[float, float]]:
    """The trimmed utterances one after another, ``pause`` s of silence around each; their spans."""
    parts, spans, t = [np.zeros(int(pause * SR), np.float32)], [], pause
    for wav in wavs:
        x = load_trimmed(wav)
        spans.append((t, t + len(x) / SR))
        parts += [x, np.zeros(int(pause * SR), np.float32)]
        t += len(x) / SR + pause
    signal = np.concatenate(parts)
    if rate != SR:
        import librosa

        signal = librosa.resample(signal, orig_sr=SR, target_sr=rate)
    sf.write(path, signal, rate)
    return spans


@pytest.mark.parametrize("rate", [SR, 44100])
def test_three_utterances_apart_give_three_vad_segments_within_50_ms(demo_split, tmp_path, rate):
    wavs = demo_wavs(demo_split, "anger")[:1] + demo_wavs(demo_split, "sad")[:1] + demo_wavs(demo_split, "happy")[:1]
    spans = joined(tmp_path / "three.wav", wavs, rate=rate)
    found = [segment for segment, _ in segment_stream(tmp_path / "three.wav", SegmentOptions(how="vad"))]
    assert len(found) == 3
    for segment, (start, end) in zip(found, spans):
        assert abs(segment.start - start) < 0.05 and abs(segment.end - end) < 0.05, (segment, start, end)


def test_long_speech_is_cut_at_the_maximum_and_short_pauses_are_kept_inside(demo_split, tmp_path):
    wavs = demo_wavs(demo_split, "anger")[:4]
    spans = joined(tmp_path / "close.wav", wavs, pause=0.15)
    merged = [s for s, _ in segment_stream(tmp_path / "close.wav", SegmentOptions(how="vad", min_pause=0.5))]
    assert len(merged) < len(spans)                      # pauses of 0.15 s stay inside a segment
    capped = [s for s, _ in segment_stream(tmp_path / "close.wav", SegmentOptions(how="vad", min_pause=0.5,
                                                                                  max_seconds=1.0))]
    assert len(capped) > len(merged) and max(s.end - s.start for s in capped) <= 1.0 + 1e-9


def test_fixed_windows_tile_the_file_as_asked(tmp_path):
    windows = fixed_windows(10.0, 3.0, 1.5)
    assert [(w.start, w.end) for w in windows] == [(0.0, 3.0), (1.5, 4.5), (3.0, 6.0), (4.5, 7.5), (6.0, 9.0),
                                                   (7.0, 10.0)]
    assert [(w.start, w.end) for w in fixed_windows(2.0, 3.0, 1.5)] == [(0.0, 2.0)]
    rng = np.random.default_rng(0)
    sf.write(tmp_path / "noise.wav", 0.1 * rng.standard_normal(int(10 * SR)).astype(np.float32), SR)
    streamed = list(segment_stream(tmp_path / "noise.wav", SegmentOptions(how="fixed", window=3.0, hop=1.5)))
    assert [(s.start, s.end) for s, _ in streamed] == [(w.start, w.end) for w in windows]
    whole = sf.read(tmp_path / "noise.wav", dtype="float32")[0]
    for segment, samples in streamed:                    # each window holds the file's own samples
        assert np.array_equal(samples, whole[int(segment.start * SR):int(segment.end * SR)])


@pytest.fixture(scope="module")
def svm_run(demo_split, tmp_path_factory):
    from specct.baselines.features import extract_corpora
    from specct.train import default_args, train

    extract_corpora(demo_split.datasets, features="egemaps", progress=False)
    out = tmp_path_factory.mktemp("segments") / "svm"
    return train(default_args(demo_split.train_dir, model="egemaps_svm", experiment=str(out), no_progress=True))


def test_a_recording_of_two_emotions_is_labelled_half_by_half(svm_run, demo_split, tmp_path):
    from specct.stages.predict import Predictor

    predictor = Predictor(svm_run)
    first, second = demo_wavs(demo_split, "anger"), demo_wavs(demo_split, "sad")   # held-out corpus DEMOC
    spans = joined(tmp_path / "two.wav", first + second, pause=0.6)
    rows, [summary] = predictor.predict_segments([tmp_path / "two.wav"], "vad", progress=False, echo=None)
    middle = (spans[len(first) - 1][1] + spans[len(first)][0]) / 2
    halves = [[r.emotion for r in rows if (r.end <= middle) == early] for early in (True, False)]
    chance = 1 / len(predictor.class_names)
    right = [np.mean([e == "anger" for e in halves[0]]), np.mean([e == "sad" for e in halves[1]])]
    assert abs(len(rows) - (len(first) + len(second))) <= 2       # about one segment per utterance
    assert right[0] > chance and right[1] > chance, right
    assert abs(sum(summary[f"share_{c}"] for c in predictor.class_names) - 1) < 1e-3


def test_a_ten_minute_file_is_streamed_in_bounded_memory(svm_run, demo_split, tmp_path):
    from specct.stages.predict import Predictor

    one = load_trimmed(demo_wavs(demo_split, "happy")[0])
    gap = np.zeros(int(0.5 * SR), np.float32)
    block = np.concatenate([one, gap])
    repeats = int(np.ceil(600 * SR / len(block)))
    with sf.SoundFile(tmp_path / "long.wav", "w", SR, 1, subtype="PCM_16") as handle:
        for _ in range(repeats):
            handle.write(block)
    whole_file_bytes = repeats * len(block) * 4           # what reading it whole as float32 would hold
    predictor = Predictor(svm_run)
    tracemalloc.start()
    rows, [summary] = predictor.predict_segments([tmp_path / "long.wav"], "vad", progress=False, echo=None)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert summary["segments"] == len(rows) >= repeats - 1 and summary["seconds"] > 300
    bound = 16 * 2**20                                    # stated in docs/training.md: under 16 MiB of Python memory
    assert peak < bound < whole_file_bytes, (peak, whole_file_bytes)


def test_bad_files_in_a_folder_are_listed_and_the_rest_classified(svm_run, demo_split, tmp_path, capsys):
    from specct.stages import predict

    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    joined(folder / "good.wav", demo_wavs(demo_split, "anger")[:2])
    joined(folder / "sub" / "also_good.wav", demo_wavs(demo_split, "sad")[:2])
    (folder / "empty.wav").write_bytes(b"")
    (folder / "sub" / "garbage.wav").write_bytes(b"RIFF not really audio")
    out = tmp_path / "out" / "segments.csv"
    assert predict.main([str(svm_run), str(folder), "--segment", "vad", "--output", str(out), "--no_progress"]) == 0
    err = capsys.readouterr().err
    assert f"skip {folder / 'empty.wav'}: empty file (0 bytes)" in err
    assert f"skip {folder / 'sub' / 'garbage.wav'}: unreadable audio" in err
    assert "2 of 4 files classified" in err
    summary = pd.read_csv(out.with_name("segments.summary.csv"), keep_default_na=False)
    assert dict(zip(summary["file"].map(lambda f: Path(f).name), summary["error"] != "")) == {
        "also_good.wav": False, "empty.wav": True, "good.wav": False, "garbage.wav": True}
    segments = pd.read_csv(out)
    assert set(segments["file"].map(lambda f: Path(f).name)) == {"good.wav", "also_good.wav"}


def test_a_killed_run_resumes_and_ends_as_an_uninterrupted_one(svm_run, demo_split, tmp_path, monkeypatch):
    from specct.protocol import segment_predict
    from specct.stages.predict import Predictor

    files = []
    for i, emotion in enumerate(("anger", "sad", "happy")):
        files.append(tmp_path / f"{i}_{emotion}.wav")
        joined(files[-1], demo_wavs(demo_split, emotion)[:2])
    predictor = Predictor(svm_run)
    whole = tmp_path / "whole.csv"
    predictor.predict_segments(files, "vad", output=whole, progress=False, echo=None)

    parts = tmp_path / "parts.csv"
    real_add, calls = segment_predict.SegmentOutput.add, []

    def killed_after_one(self, rows, summary):
        if calls:                                          # the second file: half its rows written, then killed
            with self.path.open("a") as handle:
                handle.write(",".join(segment_predict.segment_cells(rows[0], self.class_names)) + "\n" + "cut,0.1")
            raise KeyboardInterrupt
        calls.append(summary["file"])
        real_add(self, rows, summary)

    monkeypatch.setattr(segment_predict.SegmentOutput, "add", killed_after_one)
    with pytest.raises(KeyboardInterrupt):
        predictor.predict_segments(files, "vad", output=parts, progress=False, echo=None)
    monkeypatch.setattr(segment_predict.SegmentOutput, "add", real_add)
    first_rows = parts.read_text().splitlines()
    said = []
    predictor.predict_segments(files, "vad", output=parts, progress=False, echo=said.append)
    assert said == [f"1 file(s) already in {parts}, skipped"]
    assert parts.read_text() == whole.read_text()
    assert parts.with_name("parts.summary.csv").read_text() == whole.with_name("whole.summary.csv").read_text()
    assert [line for line in first_rows if line.startswith(str(files[0]))] == \
        [line for line in whole.read_text().splitlines() if line.startswith(str(files[0]))]


def test_the_timeline_figure_is_drawn(svm_run, demo_split, tmp_path):
    from PIL import Image

    from specct.stages.predict import Predictor

    joined(tmp_path / "two.wav", demo_wavs(demo_split, "anger")[:2] + demo_wavs(demo_split, "sad")[:2])
    Predictor(svm_run).predict_segments([tmp_path / "two.wav"], "fixed", window=2.0, hop=1.0, plot_dir=tmp_path / "plots",
                                        progress=False, echo=None)
    with Image.open(tmp_path / "plots" / "two.png") as image:
        assert image.size[0] > 600 and image.size[1] > 250


def test_the_specct_command_gives_segments_as_json(svm_run, demo_split, tmp_path, capsys):
    import json

    from specct.commands import main

    joined(tmp_path / "two.wav", demo_wavs(demo_split, "anger")[:2])
    assert main(["predict", str(svm_run), str(tmp_path / "two.wav"), "--segment", "fixed", "--window", "1.5",
                 "--hop", "1.5", "--format", "json", "--no_progress"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [s["start"] for s in found["segments"]][:2] == ["0.000", "1.500"]
    assert found["files"][0]["file"] == str(tmp_path / "two.wav") and found["files"][0]["emotion"]


def test_segments_get_their_inputs_in_groups_and_in_time_order(trained_run, demo_split, tmp_path):
    """The speaker model's segments are prepared a group at a time (the speaker encoder batches their
    windows) and give the rows that one segment at a time gives, a too-short segment kept in its place."""
    from specct.protocol import segment_predict
    from specct.stages.predict import Predictor

    predictor = Predictor(trained_run)
    wavs = demo_wavs(demo_split, "anger")[:3] + demo_wavs(demo_split, "sad")[:3]
    joined(tmp_path / "six.wav", wavs, pause=1.6)         # long enough for a window of silence
    sizes = []
    made = predictor.inputs_of_signals
    predictor.inputs_of_signals = lambda signals: sizes.append(len(signals)) or made(signals)
    options = SegmentOptions("fixed", window=1.0, hop=0.5).check()
    predictor.input_group = 4
    grouped = list(segment_predict.segment_items(predictor, tmp_path / "six.wav", options, None))
    grouped_sizes = sizes[:]
    sizes.clear()
    predictor.input_group = 1
    one_by_one = list(segment_predict.segment_items(predictor, tmp_path / "six.wav", options, None))
    usable = sum(inputs is not None for _, inputs, _ in grouped)
    assert sum(grouped_sizes) == sum(sizes) == usable > 8
    assert max(grouped_sizes) == 4 and set(sizes) == {1}          # no call for a group of silence only
    assert 0 not in grouped_sizes
    assert [s for s, _, _ in grouped] == [s for s, _, _ in one_by_one]                 # time order kept
    starts = [s.start for s, _, _ in grouped]
    assert starts == sorted(starts) and any(inputs is None for _, inputs, _ in grouped)   # silent windows noted
    for (_, a, note_a), (_, b, note_b) in zip(grouped, one_by_one):
        assert note_a == note_b and (a is None) == (b is None)
        if a is not None:
            assert np.allclose(a[0].numpy(), b[0].numpy()) and np.allclose(a[1].numpy(), b[1].numpy(), atol=1e-5)
