"""Validation choices of the split stage (speakers with a row cap, corpus, none) on a small synthetic tree.

The split stage reads only names, the presence of images and the speaker vectors, so the tree holds
empty wav files with canonical names, tiny placeholder PNGs and seeded random unit vectors. The
sizes are chosen to exercise the row cap: a corpus with two equal speakers, one with two unequal
speakers, and one with four.
"""
from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from specct.core import paths
from specct.data import speaker, splits
from specct.core.naming import make_name
from specct.data.splits import SplitOptions

EMOTIONS = ("anger", "happy", "neutral", "sad")
# corpus -> speaker -> utterances per emotion
LAYOUT = {
    "TWO": {"a": 5, "b": 5},                       # two speakers of half the rows each
    "UNEVEN": {"s": 1, "t": 9},                   # two speakers, one small enough for the cap
    "FOUR": {"p": 3, "q": 3, "r": 3, "w": 6},
    "TEST": {"x": 2, "y": 2},
}


def build_tree(root: Path, layout=LAYOUT, seed: int = 0) -> Path:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="PNG")
    png = buf.getvalue()
    rng = np.random.default_rng(seed)
    for corpus, speakers in layout.items():
        wav_dir, img_dir = paths.wav_dir(root, corpus), paths.img_dir(root, corpus)
        wav_dir.mkdir(parents=True)
        img_dir.mkdir()
        vectors = {}
        for spk, n in speakers.items():
            for emotion in EMOTIONS:
                for i in range(n):
                    name = make_name(emotion, corpus, spk, f"u{i:02d}")
                    (wav_dir / name.wav_name()).write_bytes(b"")
                    (img_dir / f"{name.basename}.png").write_bytes(png)
                    v = rng.standard_normal(256).astype(np.float32)
                    vectors[name.basename] = v / np.linalg.norm(v)
        speaker.write_embeddings_file(speaker.embeddings_path(root, corpus), vectors)
    return root


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return build_tree(tmp_path_factory.mktemp("validation_tree"))


def opts(tree: Path, tmp_path: Path, **kw) -> SplitOptions:
    return SplitOptions(**{"eval_dataset": "TEST", "datasets_dir": str(tree), "output_dir": str(tmp_path / "data"),
                           "n_components": 8, **kw})


def assert_speaker_disjoint(split) -> None:
    train, val, test = (set(f["speaker"]) for f in (split.train, split.validation, split.test))
    assert not train & val and not train & test and not val & test
    splits.check_no_leakage(split.train, split.validation, split.test, "TEST")


def rows_of(frame: pd.DataFrame, corpus: str) -> int:
    return int((frame["corpus"] == corpus).sum())


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_speakers_caps_rows_of_every_corpus(tree, tmp_path, seed):
    split = splits.make_loco_split(opts(tree, tmp_path, seed=seed, validation="speakers",
                                                 percent_subject_validation=0.25))
    assert_speaker_disjoint(split)
    for corpus in ("TWO", "UNEVEN", "FOUR"):
        total = rows_of(split.train, corpus) + rows_of(split.validation, corpus)
        assert rows_of(split.validation, corpus) <= 0.25 * total
    # two equal speakers: either would be half the rows, so the corpus gives none and says why
    assert rows_of(split.validation, "TWO") == 0
    assert any(n.startswith("TWO: every speaker has more than 0.25") for n in split.validation_notes)
    # two unequal speakers: the small one (4 of 40 rows) fits under the cap, whatever the seed draws first
    assert set(split.validation.loc[split.validation["corpus"] == "UNEVEN", "speaker"]) == {"UNEVEN-s"}
    # four speakers, cap 15 of 60 rows: one speaker of 12 rows, never the one of 24
    four = set(split.validation.loc[split.validation["corpus"] == "FOUR", "speaker"])
    assert len(four) == 1 and "FOUR-w" not in four


def test_speakers_draw_is_seeded(tree, tmp_path):
    def draw(seed):
        return set(splits.make_loco_split(opts(tree, tmp_path, seed=seed, validation="speakers")).validation["speaker"])

    draws = [draw(s) for s in range(6)]
    assert draws[0] == draw(0)
    assert len({frozenset(d) for d in draws}) > 1


def test_corpus_puts_one_whole_training_corpus_in_validation(tree, tmp_path):
    named = splits.make_loco_split(opts(tree, tmp_path, validation="corpus", validation_corpus="four"))
    assert set(named.validation["corpus"]) == {"FOUR"} and "FOUR" not in set(named.train["corpus"])
    assert len(named.validation) == 60                       # all of FOUR's rows
    assert set(named.train["corpus"]) == {"TWO", "UNEVEN"}
    assert_speaker_disjoint(named)
    chosen = {splits.make_loco_split(opts(tree, tmp_path, validation="corpus", seed=s)).validation["corpus"].iloc[0]
              for s in range(8)}
    assert chosen <= {"TWO", "UNEVEN", "FOUR"} and len(chosen) > 1    # a seeded choice among training corpora
    with pytest.raises(ValueError, match="--validation_corpus TEST is not a training corpus"):
        splits.make_loco_split(opts(tree, tmp_path, validation="corpus", validation_corpus="TEST"))
    with pytest.raises(ValueError, match="needs --validation corpus"):
        splits.make_loco_split(opts(tree, tmp_path, validation="speakers", validation_corpus="FOUR"))
    with pytest.raises(ValueError, match="needs --validation corpus"):   # auto resolves to speakers here
        splits.make_loco_split(opts(tree, tmp_path, train_datasets=["FOUR"], validation_corpus="FOUR"))


def test_auto_is_the_default_corpus_across_corpora_and_speakers_within_one(tree, tmp_path, capsys):
    assert SplitOptions(eval_dataset="TEST").validation == "auto"
    # three training corpora: one whole corpus validates, as with --validation corpus and the same seed
    auto = splits.run_split_stage(opts(tree, tmp_path, seed=1))[0]
    explicit = splits.make_loco_split(opts(tree, tmp_path, seed=1, validation="corpus"))
    assert auto.validation_used == "corpus" and auto.validation.equals(explicit.validation)
    info = json.loads(paths.split_info_file(auto.out_dir).read_text())
    assert info["validation"] == "auto" and info["validation_used"] == "corpus"
    assert "validation: corpus (auto:" in capsys.readouterr().out
    # one training corpus, or folds inside one corpus: a corpus cannot validate, speakers do
    one = splits.make_loco_split(opts(tree, tmp_path, train_datasets=["FOUR"]))
    assert one.validation_used == "speakers" and set(one.validation["corpus"]) == {"FOUR"}
    assert set(one.train["corpus"]) == {"FOUR"} and not set(one.train["speaker"]) & set(one.validation["speaker"])
    folds = splits.make_splits(opts(tree, tmp_path, eval_dataset="FOUR", protocol="loso",
                                    percent_subject_validation=0.4))
    assert {f.validation_used for f in folds} == {"speakers"} and all(len(f.validation) for f in folds)


def test_none_trains_on_every_training_row(tree, tmp_path):
    split = splits.make_loco_split(opts(tree, tmp_path, validation="none"))
    assert split.validation.empty
    assert len(split.train) == sum(4 * sum(s.values()) for c, s in LAYOUT.items() if c != "TEST")
    assert_speaker_disjoint(split)


def test_within_corpus_folds_cap_rows_and_refuse_corpus(tree, tmp_path):
    folds = splits.make_splits(opts(tree, tmp_path, eval_dataset="FOUR", protocol="loso", validation="speakers",
                                    percent_subject_validation=0.4))
    for fold in folds:
        rest = len(fold.train) + len(fold.validation)
        assert len(fold.validation) <= 0.4 * rest
        assert not set(fold.validation["speaker"]) & (set(fold.train["speaker"]) | set(fold.test["speaker"]))
    with pytest.raises(ValueError, match="--validation corpus needs other corpora"):
        splits.make_splits(opts(tree, tmp_path, eval_dataset="FOUR", protocol="loso", validation="corpus"))


def test_choice_is_recorded_in_the_split_and_printed(tree, tmp_path, capsys):
    split = splits.run_split_stage(opts(tree, tmp_path, validation="corpus", validation_corpus="UNEVEN"))[0]
    info = json.loads(paths.split_info_file(split.out_dir).read_text())
    assert info["validation"] == "corpus" and info["validation_corpora"] == ["UNEVEN"]
    assert info["validation_rows"] == 40
    out = capsys.readouterr().out
    assert "validation: corpus" in out
    assert "UNEVEN: 0 train rows, 40 validation rows (100% of its rows)" in out
    assert "FOUR: 60 train rows, 0 validation rows (0% of its rows)" in out
    # a second run asking for other choices is refused instead of reusing the folder silently
    splits.check_recorded_choices(split.out_dir, opts(tree, tmp_path, validation="corpus", validation_corpus="UNEVEN"))
    with pytest.raises(splits.SplitChoiceError, match="validation 'corpus' \\(asked: 'none'\\)"):
        splits.check_recorded_choices(split.out_dir, opts(tree, tmp_path, validation="none"))


def test_split_options_are_declared_once_and_shared_by_both_scripts():
    from specct import loco

    full = splits.add_split_arguments(argparse.ArgumentParser())
    args = full.parse_args(["--eval_dataset", "X", "--validation", "none"])
    assert splits.split_options_from(args) == SplitOptions(eval_dataset="X", validation="none")
    shared = splits.add_split_arguments(argparse.ArgumentParser(), splits.LOCO_ARGUMENTS)
    assert vars(shared.parse_args([])) == {k: getattr(SplitOptions(eval_dataset=""), k) for k in splits.LOCO_ARGUMENTS}
    with pytest.raises(SystemExit):
        shared.parse_args(["--validation", "sometimes"])
    # run_loco adds the same declarations and builds each fold's SplitOptions from them
    args, train_args = loco.build_parser().parse_known_args(
        ["--validation", "corpus", "--validation_corpus", "EMODB", "--seed", "3", "--epochs", "2"])
    opts = loco.options_from_args(args, train_args)
    fold = loco.split_options(opts, eval_dataset="RAVDESS")
    assert (fold.validation, fold.validation_corpus, fold.seed, fold.eval_dataset) == ("corpus", "EMODB", 3, "RAVDESS")
    assert train_args == ["--epochs", "2"] and opts.train_flags == {"epochs": 2}


@pytest.mark.slow
def test_training_without_validation_keeps_the_last_epoch_and_records_the_choice(tree, tmp_path, capsys):
    from training_fixtures import tiny_args

    from specct.core.checkpoint import BEST_NAME, load_checkpoint
    from specct.train import train

    split = splits.run_split_stage(opts(tree, tmp_path, validation="none"))[0]
    out = tmp_path / "run"
    train(tiny_args(paths.train_data_dir(split.out_dir), out, epochs=2, max_steps=1))
    log = capsys.readouterr().out
    assert "no validation rows" in log and "last epoch 2 kept" in log
    epoch_lines = [line for line in log.splitlines() if line.startswith("epoch ")]
    assert len(epoch_lines) == 2 and all("no validation" in l and "*best*" not in l for l in epoch_lines)
    assert load_checkpoint(out / BEST_NAME)["epoch"] == 2
    recorded = yaml.safe_load((out / "args.yaml").read_text())
    assert recorded["split_validation"] == "none" and recorded["split_validation_rows"] == 0
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 2 and summary["val_uar"].isna().all()


@pytest.mark.slow
def test_args_yaml_records_the_validation_corpus(tree, tmp_path):
    from training_fixtures import tiny_args

    from specct.train import train

    split = splits.run_split_stage(opts(tree, tmp_path, validation_corpus="TWO"))[0]   # auto: the corpus used
    out = tmp_path / "run"
    train(tiny_args(paths.train_data_dir(split.out_dir), out, epochs=1, max_steps=1))
    recorded = yaml.safe_load((out / "args.yaml").read_text())
    assert recorded["split_validation"] == "corpus" and recorded["split_validation_corpora"] == ["TWO"]
