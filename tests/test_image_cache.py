"""The images of a split decoded once (--image_cache): the same batches as reading every PNG, a cache
on disk reused while its images stay as they were and decoded anew when one changes."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from specct.data import split_rows as split_data
from specct.data.image_cache import DecodedImages

SIZE = (3, 24, 40)          # not the saved size: the resize is part of what is cached
MEAN, STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)


@pytest.fixture()
def frame(demo_split):
    classes = split_data.read_class_names(demo_split.train_dir)
    return split_data.read_split(demo_split.train_dir / "train.csv", classes)


def items(dataset):
    return [dataset[i] for i in range(len(dataset))]


@pytest.mark.parametrize("mode", ["memory", "disk"])
def test_decoded_batches_are_byte_identical_to_the_png_path(frame, tmp_path, mode):
    png = split_data.SplitDataset(frame, SIZE, MEAN, STD, interpolation="bicubic")
    decoded = DecodedImages(list(frame["image"]), SIZE, "bicubic", mode, tmp_path)
    cached = split_data.SplitDataset(frame, SIZE, MEAN, STD, interpolation="bicubic", decoded=decoded)
    assert (decoded.file is not None) == (mode == "disk")
    for (a, _, ta, ia), (b, _, tb, ib) in zip(items(png), items(cached)):
        assert a.dtype == b.dtype == torch.float32 and a.shape == (3, 24, 40)
        assert torch.equal(a, b) and ta == tb and ia == ib


def test_auto_goes_to_disk_only_above_the_budget(frame, tmp_path):
    paths = list(frame["image"])
    assert DecodedImages(paths, SIZE, mode="auto", folder=tmp_path).file is None
    above = DecodedImages(paths, SIZE, mode="auto", folder=tmp_path, budget_mb=0)
    assert above.file is not None and above.file.parent == tmp_path / "image_cache" and above.file.is_file()


def test_a_disk_cache_is_reused_and_rebuilt_when_an_image_changes(frame, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    paths = []
    for i, source in enumerate(frame["image"][:4]):
        paths.append(str(images / f"{i}.png"))
        Image.open(source).save(paths[-1])
    first = DecodedImages(paths, SIZE, mode="disk", folder=tmp_path)
    built_at = first.file.stat().st_mtime_ns
    again = DecodedImages(paths, SIZE, mode="disk", folder=tmp_path)
    assert again.file == first.file and again.file.stat().st_mtime_ns == built_at   # reused, not rewritten
    assert np.array_equal(np.asarray(again[2]), np.asarray(first[2]))

    changed = Image.fromarray(255 - np.asarray(Image.open(paths[2]).convert("RGB")))
    changed.save(paths[2])
    os.utime(paths[2], ns=(built_at + 10**9, built_at + 10**9))
    rebuilt = DecodedImages(paths, SIZE, mode="disk", folder=tmp_path)
    assert np.array_equal(np.asarray(rebuilt[2]), split_data.decode_image_file(paths[2], SIZE[1:]))
    assert not np.array_equal(np.asarray(rebuilt[2]), np.asarray(first[2]))
    assert np.array_equal(np.asarray(rebuilt[0]), np.asarray(first[0]))


def test_an_unreadable_image_is_one_error_naming_it(frame, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(split_data.SplitError, match="bad.png: unreadable image"):
        DecodedImages([*frame["image"][:2], str(bad)], SIZE)


def test_training_with_and_without_the_cache_gives_the_same_weights(demo_split, tmp_path):
    from training_fixtures import tiny_args

    from specct.core.checkpoint import LAST_NAME, load_checkpoint
    from specct.train import train

    runs = {mode: load_checkpoint(train(tiny_args(demo_split.train_dir, tmp_path / mode, epochs=1, max_steps=2,
                                                  precision="float32", image_cache=mode)) / LAST_NAME)
            for mode in ("off", "auto")}
    for name, weight in runs["off"]["state_dict"].items():
        assert torch.equal(weight, runs["auto"]["state_dict"][name]), name
