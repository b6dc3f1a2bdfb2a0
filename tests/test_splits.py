"""Split files on the real EmoDB and RAVDESS names and speakers.

The split stage reads only names, images' presence and speaker vectors, so the fixtures give every
real wav a tiny placeholder PNG and a seeded random unit vector; the real vectors are tested in
test_speaker.py.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from specct.core import paths
from specct.data import speaker, splits
from specct.data.augment import AUGMENTATION_GROUPS
from specct.core.labels import class_set
from specct.data.splits import COLUMNS, LeakageError, SplitOptions
from script_helpers import load_script, one_line_error

pytestmark = pytest.mark.shared

REPO_ROOT = Path(__file__).resolve().parents[1]
ALL_AUGS = AUGMENTATION_GROUPS["time_freq_aug"]


def _png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, format="PNG")
    return buf.getvalue()


def build_datasets(real_root: Path, root: Path, augmentations=ALL_AUGS, without_vector=(), without_image=(),
                   seed: int = 0) -> Path:
    """Link the imported wav folders; write placeholder images and random unit speaker vectors."""
    png = _png_bytes()
    rng = np.random.default_rng(seed)
    for corpus in paths.list_corpora(real_root):
        paths.corpus_dir(root, corpus).mkdir(parents=True)
        paths.wav_dir(root, corpus).symlink_to(paths.wav_dir(real_root, corpus).resolve(), target_is_directory=True)
        img, aug = paths.img_dir(root, corpus), paths.augmented_dir(root, corpus)
        img.mkdir()
        aug.mkdir()
        vectors = {}
        for wav in sorted(paths.wav_dir(root, corpus).glob("*.wav")):
            if wav.stem not in without_image:
                (img / f"{wav.stem}.png").write_bytes(png)
            for name in augmentations:
                (aug / f"{wav.stem}_{name}.png").write_bytes(png)
            vector = rng.standard_normal(256).astype(np.float32)
            if wav.stem not in without_vector:
                vectors[wav.stem] = vector / np.linalg.norm(vector)
        speaker.write_embeddings_file(speaker.embeddings_path(root, corpus), vectors)
    return root


@pytest.fixture(scope="session")
def split_root(tmp_path_factory, real_datasets) -> Path:
    return build_datasets(real_datasets, tmp_path_factory.mktemp("split_datasets"))


def options(root: Path, tmp_path: Path, **kw) -> SplitOptions:
    return SplitOptions(**{"eval_dataset": "EMODB", "datasets_dir": str(root), "output_dir": str(tmp_path / "data"),
                           **kw})


def speakers(frame: pd.DataFrame) -> set[str]:
    return set(frame["speaker"])


def test_loco_split_holds_out_the_whole_test_corpus(split_root, tmp_path):
    split = splits.make_loco_split(options(split_root, tmp_path))
    for frame in (split.train, split.validation, split.test):
        assert list(frame.columns) == COLUMNS
        assert all(Path(p).is_absolute() and Path(p).exists() for p in frame["image"])
        assert all(Path(p).is_absolute() and Path(p).exists() for p in frame["wav"])
    assert set(split.test["corpus"]) == {"EMODB"}
    assert set(split.train["corpus"]) == set(split.validation["corpus"]) == {"RAVDESS"}
    # every EmoDB utterance of the four classes is in test (anger, happiness, neutral, sadness)
    emodb_wavs = [w for w in paths.wav_dir(split_root, "EMODB").glob("*.wav")
                  if w.name.split("_")[0] in ("anger", "happy", "neutral", "sad")]
    assert len(split.test) == len(emodb_wavs) > 300
    assert len(speakers(split.test)) == 10
    # one of RAVDESS's four actors (25 %) validates, the other three train
    assert len(speakers(split.validation)) == 1 and len(speakers(split.train)) == 3
    assert not speakers(split.train) & speakers(split.validation)
    assert (split.test["augmentation"] == "none").all() and (split.validation["augmentation"] == "none").all()
    assert split.test["speaker"].str.startswith("EMODB-").all()


def test_same_seed_same_split_other_seed_differs(split_root, tmp_path):
    a = splits.make_loco_split(options(split_root, tmp_path, eval_dataset="RAVDESS", seed=3))
    b = splits.make_loco_split(options(split_root, tmp_path, eval_dataset="RAVDESS", seed=3))
    c = splits.make_loco_split(options(split_root, tmp_path, eval_dataset="RAVDESS", seed=4))
    pd.testing.assert_frame_equal(a.train, b.train)
    pd.testing.assert_frame_equal(a.validation, b.validation)
    assert len(speakers(a.validation)) == 2          # round(0.25 x 10 EmoDB speakers)
    assert speakers(a.validation) != speakers(c.validation)
    pd.testing.assert_frame_equal(a.test, c.test)     # the test set never depends on the seed


def test_written_files_are_identical_for_the_same_seed(split_root, tmp_path, capsys):
    for out in ("one", "two"):
        splits.run_split_stage(options(split_root, tmp_path / out, augmentation="freq_aug",
                                       balanced="undersampling", seed=7))
    rel = Path("EMODB/4_classes/freq_aug/undersampling")
    for name in ("train_data/train.csv", "train_data/validation.csv", "eval_data/test.csv",
                 "train_data/classes.txt", "split_summary.csv", "train_data/pca.npz"):
        assert (tmp_path / "one/data" / rel / name).read_bytes() == (tmp_path / "two/data" / rel / name).read_bytes()
    printed = capsys.readouterr().out
    assert "validation" in printed and "speakers" in printed


def test_check_no_leakage_fails_loudly_on_hand_made_leaky_splits(split_root, tmp_path):
    split = splits.make_loco_split(options(split_root, tmp_path))
    splits.check_no_leakage(split.train, split.validation, split.test, "EMODB")   # the real one is clean

    val_speaker = sorted(speakers(split.validation))[0]
    leaky_train = pd.concat([split.train, split.validation.head(1)])
    with pytest.raises(LeakageError, match=f"train and validation share 1 speaker.*{val_speaker}"):
        splits.check_no_leakage(leaky_train, split.validation, split.test, "EMODB")

    with_test_corpus = pd.concat([split.train, split.test.head(2)])
    with pytest.raises(LeakageError, match="test corpus EMODB appears in train \\(2 rows\\)"):
        splits.check_no_leakage(with_test_corpus, split.validation, split.test, "EMODB")

    augmented_test = split.test.copy()
    augmented_test.loc[augmented_test.index[0], "augmentation"] = "noise"
    with pytest.raises(LeakageError, match="test set holds 1 augmented"):
        splits.check_no_leakage(split.train, split.validation, augmented_test, "EMODB")

    foreign_test = pd.concat([split.test, split.validation.head(1)])
    with pytest.raises(LeakageError, match="other than EMODB: RAVDESS"):
        splits.check_no_leakage(split.train, split.validation.iloc[1:], foreign_test, "EMODB")

    with pytest.raises(LeakageError, match="includes the test corpus"):
        splits.make_loco_split(options(split_root, tmp_path, train_datasets=["RAVDESS", "emodb"]))


MAP_3 = {"neutral": "neutral", "happy": "positive", "surprised": "positive",
         "anger": "negative", "sad": "negative", "fearful": "negative", "disgust": "negative"}


@pytest.mark.parametrize("num_classes, classes, expected, folder", [
    ("3", None, MAP_3, "3_classes"),
    ("4", None, {e: e for e in ("anger", "happy", "neutral", "sad")}, "4_classes"),
    ("all", None, {e: e for e in ("anger", "happy", "neutral", "sad", "fearful", "disgust", "surprised")},
     "all_classes"),
    ("4", "happy,sad", {"happy": "happy", "sad": "sad"}, "happy-sad_classes"),
])
def test_class_sets_map_labels_as_designed(split_root, tmp_path, num_classes, classes, expected, folder):
    split = splits.make_loco_split(options(split_root, tmp_path, eval_dataset="RAVDESS",
                                           num_classes=num_classes, classes=classes))
    rows = pd.concat([split.train, split.validation, split.test])
    assert (rows["emotion"].map(expected) == rows["label"]).all()
    # every emotion of the set that the corpora have is present; the rest (calm, boredom, ...) is dropped
    assert set(rows["emotion"]) == set(expected)
    assert split.classes == class_set(num_classes, classes)[0]
    assert split.out_dir.parent.parent.name == folder
    assert split.dropped[("RAVDESS", "emotion outside the class set")] > 0


def test_undersampling_gives_equal_class_counts(split_root, tmp_path):
    plain = splits.make_loco_split(options(split_root, tmp_path, augmentation="time_aug"))
    under = splits.make_loco_split(options(split_root, tmp_path, augmentation="time_aug", balanced="undersampling"))
    counts = under.train["label"].value_counts()
    assert counts.nunique() == 1 and set(counts.index) == set(under.classes)
    assert counts.iloc[0] == plain.train["label"].value_counts().min()
    assert set(under.train["image"]) <= set(plain.train["image"])
    pd.testing.assert_frame_equal(under.validation, plain.validation)   # only training is balanced


def test_augmented_images_only_of_training_speakers(split_root, tmp_path):
    split = splits.make_loco_split(options(split_root, tmp_path, eval_dataset="RAVDESS", augmentation="time_aug"))
    augmented = split.train[split.train["augmentation"] != "none"]
    plain = split.train[split.train["augmentation"] == "none"]
    assert set(augmented["augmentation"]) == set(AUGMENTATION_GROUPS["time_aug"])
    assert len(augmented) == len(plain) * len(AUGMENTATION_GROUPS["time_aug"])
    assert set(augmented["wav"]) == set(plain["wav"])
    assert not speakers(augmented) & speakers(split.validation)
    for row in augmented.head(20).itertuples():
        assert Path(row.image).name == f"{Path(row.wav).stem}_{row.augmentation}.png"
        assert Path(row.image).parent == paths.augmented_dir(split_root, row.corpus).absolute()


def test_balanced_aug_tops_up_smaller_classes_with_training_speakers_only(split_root, tmp_path):
    split = splits.make_loco_split(options(split_root, tmp_path, eval_dataset="RAVDESS", balanced="balanced_aug"))
    plain = split.train[split.train["augmentation"] == "none"]
    plain_counts = plain["label"].value_counts()
    counts = split.train["label"].value_counts()
    assert (counts == plain_counts.max()).all()                  # the pool is large enough here
    largest = plain_counts.idxmax()
    extra = split.train[split.train["augmentation"] != "none"]
    assert largest not in set(extra["label"])
    assert set(extra["wav"]) <= set(plain["wav"])                # augmented copies of training utterances
    assert not speakers(extra) & speakers(split.validation)


def test_rows_without_vector_or_image_are_dropped_with_a_count(real_datasets, tmp_path, capsys):
    emodb = sorted(w.stem for w in paths.wav_dir(real_datasets, "EMODB").glob("*.wav")
                   if w.name.split("_")[0] in ("anger", "sad"))
    root = build_datasets(real_datasets, tmp_path / "datasets", augmentations=(),
                          without_vector=emodb[:5], without_image=emodb[5:8])
    split = splits.make_loco_split(options(root, tmp_path))
    assert split.dropped[("EMODB", "no speaker vector")] == 5
    assert split.dropped[("EMODB", "no spectrogram image")] == 3
    out = capsys.readouterr().out
    assert "dropped 5 EMODB row(s): no speaker vector" in out
    assert "dropped 3 EMODB row(s): no spectrogram image" in out
    assert not set(emodb[:8]) & {Path(w).stem for w in split.test["wav"]}

    # a corpus never embedded: all its rows dropped, still no crash
    speaker.embeddings_path(root, "EMODB").unlink()
    split = splits.make_loco_split(options(root, tmp_path))
    assert split.test.empty and split.dropped[("EMODB", "no speaker vector")] > 300


def test_missing_augmented_images_are_an_error_not_an_empty_group(real_datasets, tmp_path):
    root = build_datasets(real_datasets, tmp_path / "datasets", augmentations=())
    with pytest.raises(FileNotFoundError, match="preprocess_spectrograms.py"):
        splits.make_loco_split(options(root, tmp_path, augmentation="freq_aug"))


def test_split_pca_is_fitted_on_training_rows_only(split_root, tmp_path):
    split = splits.make_loco_split(options(split_root, tmp_path))
    wavs = sorted(set(split.train["wav"]))
    expected = speaker.fit_pca(speaker.embeddings_for_wavs(wavs), 256, ["RAVDESS"])
    assert split.pca.corpora == ["RAVDESS"]
    assert split.pca.n_components == len(wavs) < 256          # capped at the number of training vectors
    np.testing.assert_array_equal(split.pca.mean, expected.mean)
    np.testing.assert_array_equal(split.pca.components, expected.components)


def test_run_writes_the_documented_files(split_root, tmp_path):
    script = load_script("preprocess_split_dataset")
    script.main(["--eval_dataset", "emodb", "--datasets_dir", str(split_root), "--output_dir",
                 str(tmp_path / "data"), "--num_classes", "3", "--n_components", "16"])
    out = tmp_path / "data/EMODB/3_classes/no_aug/no_balanced"
    train = pd.read_csv(out / "train_data/train.csv")
    validation = pd.read_csv(out / "train_data/validation.csv")
    test = pd.read_csv(out / "eval_data/test.csv")
    assert list(train.columns) == list(validation.columns) == list(test.columns) == COLUMNS
    assert (out / "train_data/classes.txt").read_text().split() == ["negative", "neutral", "positive"]
    pca = speaker.load_pca(out / "train_data/pca.npz")
    assert pca.n_components == 16 and pca.corpora == ["RAVDESS"]
    summary = pd.read_csv(out / "split_summary.csv")
    assert list(summary.columns) == ["split", "corpus", "label", "count"]
    totals = summary.groupby("split")["count"].sum()
    assert (totals["train"], totals["validation"], totals["test"]) == (len(train), len(validation), len(test))


def test_script_reports_bad_input_in_one_line(split_root, tmp_path, capsys):
    script = load_script("preprocess_split_dataset")
    common = ["--datasets_dir", str(split_root), "--output_dir", str(tmp_path / "data")]
    one_line_error(capsys, lambda: script.main(common + ["--eval_dataset", "nope"]),
                   "^preprocess_split_dataset.py: error: .*--eval_dataset NOPE not imported")
    one_line_error(capsys, lambda: script.main(common + ["--eval_dataset", "emodb", "--classes", "happy", "joy"]),
                   "^preprocess_split_dataset.py: error: unknown emotion.*joy")
    assert not (tmp_path / "data").exists()


def test_pca_file_fitted_on_the_test_corpus_is_refused_unless_allowed(split_root, tmp_path, capsys):
    leaky = speaker.fit_pca_on_corpora(split_root, ["EMODB", "RAVDESS"], 8)
    speaker.save_pca(tmp_path / "enc" / "pca8_EMODB+RAVDESS.npz", leaky)
    opts = options(split_root, tmp_path, pca_file="pca8_EMODB+RAVDESS.npz", encoder_dir=str(tmp_path / "enc"))
    with pytest.raises(LeakageError, match="includes the test corpus EMODB"):
        splits.make_loco_split(opts)
    opts.allow_leaky_pca = True
    assert splits.make_loco_split(opts).pca.corpora == ["EMODB", "RAVDESS"]
    assert "WARNING" in capsys.readouterr().out


def test_loso_makes_one_fold_per_speaker(split_root, tmp_path):
    opts = options(split_root, tmp_path, protocol="loso")
    folds = splits.run_split_stage(opts)
    assert len(folds) == 10
    assert [sorted(speakers(f.test)) for f in folds] == [[s] for s in sorted(speakers(pd.concat(
        [f.test for f in folds])))]
    for fold in folds:
        assert set(fold.test["corpus"]) == set(fold.train["corpus"]) == {"EMODB"}
        assert not speakers(fold.train) & (speakers(fold.validation) | speakers(fold.test))
        assert len(speakers(fold.validation)) == 2           # round(0.25 x 9 remaining speakers)
    base = tmp_path / "data/EMODB/loso"
    assert (base / "fold-01/4_classes/no_aug/no_balanced/train_data/train.csv").exists()
    table = pd.read_csv(base / "folds.csv", dtype=str)
    assert list(table["test_speakers"]) == [f"EMODB-{s}" for s in ("03", "08", "09", "10", "11", "12", "13",
                                                                  "14", "15", "16")]


def test_kfold_folds_are_speaker_disjoint_seeded_and_cover_every_speaker(split_root, tmp_path):
    make = lambda seed: splits.make_splits(options(split_root, tmp_path, protocol="kfold", folds=3, seed=seed))
    a, b, c = make(0), make(0), make(5)
    tests = [speakers(f.test) for f in a]
    assert sorted(len(t) for t in tests) == [3, 3, 4]
    assert set().union(*tests) == {f"EMODB-{s}" for s in ("03", "08", "09", "10", "11", "12", "13", "14", "15", "16")}
    assert sum(len(t) for t in tests) == 10
    assert tests == [speakers(f.test) for f in b]
    assert tests != [speakers(f.test) for f in c]
    assert [f.out_dir.parts[-5:-3] for f in a] == [("kfold3", f"fold-0{i}") for i in (1, 2, 3)]
    with pytest.raises(ValueError, match="--folds 11 is more than the 10 speakers"):
        splits.make_splits(options(split_root, tmp_path, protocol="kfold", folds=11))


def test_split_records_the_corpora_import_options(real_datasets, tmp_path, capsys):
    """A corpus imported with --merge_calm says so in every split that uses it."""
    import json

    from specct.data.prepare import write_import_options

    root = build_datasets(real_datasets, tmp_path / "datasets", augmentations=())
    write_import_options(root, "RAVDESS", {"merge_calm": True})
    [split] = splits.run_split_stage(options(root, tmp_path, n_components=8))
    record = json.loads((split.out_dir / "split_options.json").read_text())
    assert record["import_options"] == {"EMODB": {}, "RAVDESS": {"merge_calm": True}}
    assert "imported with: RAVDESS --merge_calm" in capsys.readouterr().out


def test_split_rows_carry_the_manifest_gender_and_a_corpus_without_it_says_unknown(demo_split, tmp_path):
    test = pd.read_csv(demo_split.test_csv)
    manifest = pd.read_csv(demo_split.datasets / "DEMOC" / "manifest.csv").set_index("file")["gender"]
    assert set(test["gender"]) == {"female", "male"}
    assert list(test["gender"]) == [manifest[Path(w).name] for w in test["wav"]]
    assert splits.manifest_genders(tmp_path, "NOPE") == {}        # no manifest: every row "unknown"
    corpus = tmp_path / "X"
    corpus.mkdir()
    (corpus / "manifest.csv").write_text("file,gender\na.wav,\nb.wav,female\n")
    assert splits.manifest_genders(tmp_path, "X") == {"a.wav": "unknown", "b.wav": "female"}
