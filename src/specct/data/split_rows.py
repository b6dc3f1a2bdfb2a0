"""Reading the split CSVs for training and evaluation.

Images are used as saved: no random crop and no flip, because the two axes of a spectrogram are
time and frequency and a mirrored spectrogram is not speech. The only transform is a resize when a
saved image does not have the model's input size, then normalisation with the model's mean and std.
Speaker models get the raw speaker vector of the source wav (augmented images share it); the PCA
that shrinks it lives inside the model.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import Dataset
from ..core.errors import SpecctError
from .splits import REQUIRED_COLUMNS as SPLIT_COLUMNS

TRAIN_FILES = ("train.csv", "validation.csv")


class SplitError(SpecctError, ValueError):
    """A split folder or CSV that cannot be used; the message names the file and the reason."""


def read_class_names(train_data_dir: str | Path) -> tuple[str, ...]:
    """Class names in index order, from ``train_data/classes.txt``."""
    path = Path(train_data_dir) / "classes.txt"
    if not path.is_file():
        raise SplitError(f"{path}: missing class list (make the split with preprocess_split_dataset.py)")
    names = tuple(line.strip() for line in path.read_text().splitlines() if line.strip())
    if len(names) < 2:
        raise SplitError(f"{path}: needs at least two classes, found {len(names)}")
    return names


def read_split(csv_path: str | Path, class_names: Sequence[str]) -> pd.DataFrame:
    """Read one split CSV and check its columns and labels against ``class_names``."""
    path = Path(csv_path)
    if not path.is_file():
        raise SplitError(f"{path}: split file not found")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise SplitError(f"{path}: unreadable CSV ({type(exc).__name__})") from exc
    missing = [c for c in SPLIT_COLUMNS if c not in frame.columns]
    if missing:
        raise SplitError(f"{path}: missing column(s) {', '.join(missing)}")
    unknown = sorted(set(frame["label"]) - set(class_names))
    if unknown:
        raise SplitError(f"{path}: label(s) {', '.join(unknown)} are not among the model's classes "
                         f"{', '.join(class_names)}")
    frame = frame.reset_index(drop=True)
    frame["target"] = frame["label"].map({name: i for i, name in enumerate(class_names)}).astype(int)
    check_training_classes(frame, path)
    return frame


def check_training_classes(frame: pd.DataFrame, path: Path) -> None:
    """Training rows of one class are refused wherever train.csv is read (a split edited or made by
    hand): a model that always answers that class would score a validation UAR of 1.0 on it."""
    labels = sorted(set(frame["label"]))
    if path.name == "train.csv" and len(labels) == 1:
        raise SplitError(f"{path}: the training rows hold one class ({labels[0]}); a classifier needs "
                         f"rows of two or more")


def check_images_exist(frame: pd.DataFrame, source: str | Path) -> None:
    missing = [p for p in frame["image"] if not Path(p).is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise SplitError(f"{missing[0]}: image listed in {source} not found{more}")


def raw_speaker_vectors(frame: pd.DataFrame) -> np.ndarray:
    """The raw speaker vector of each row's source wav (N x D float32)."""
    from .speaker import embeddings_for_wavs

    return np.asarray(embeddings_for_wavs(list(frame["wav"])), dtype=np.float32)


RESAMPLING = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "nearest": Image.NEAREST}


def decode_image(image: Image.Image, size: Sequence[int], interpolation: str = "bilinear") -> np.ndarray:
    """A PIL image as uint8 RGB of ``size`` (height, width): resized, never cropped."""
    height, width = size
    image = image.convert("RGB")
    if image.size != (width, height):
        image = image.resize((width, height), RESAMPLING[interpolation])
    return np.asarray(image, dtype=np.uint8)


def decode_image_file(path: str | Path, size: Sequence[int], interpolation: str = "bilinear") -> np.ndarray:
    try:
        with Image.open(path) as image:
            return decode_image(image, size, interpolation)
    except (OSError, ValueError) as exc:
        raise SplitError(f"{path}: unreadable image ({type(exc).__name__}: {exc})") from exc


def normalise(array: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 (height, width, 3) -> the model's float (3, height, width), scaled and standardised."""
    tensor = torch.from_numpy(np.asarray(array, dtype=np.float32) / 255.0).permute(2, 0, 1)
    mean_t = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
    return (tensor - mean_t) / std_t


def image_to_tensor(image: Image.Image, input_size: Sequence[int], mean: Sequence[float],
                    std: Sequence[float], interpolation: str = "bilinear") -> torch.Tensor:
    """A PIL image as the model reads it: RGB, resized (never cropped) to ``input_size``, normalised."""
    return normalise(decode_image(image, input_size[1:], interpolation), mean, std)


class SplitDataset(Dataset):
    """Rows of a split CSV as ``(image, speaker_vector, target, row_index)``.

    ``speaker_vector`` is an empty tensor for image-only models, so batches collate the same way.
    ``decoded`` (a :class:`specct.data.image_cache.DecodedImages` of the rows' images) replaces reading
    each PNG again in every epoch.
    """

    def __init__(self, frame: pd.DataFrame, input_size: Sequence[int], mean: Sequence[float],
                 std: Sequence[float], speaker_vectors: np.ndarray | None = None, source: str = "split",
                 interpolation: str = "bilinear", decoded=None):
        check_images_exist(frame, source)
        if speaker_vectors is not None and len(speaker_vectors) != len(frame):
            raise SplitError(f"{source}: {len(speaker_vectors)} speaker vectors for {len(frame)} rows")
        self.frame = frame
        self.images = list(frame["image"])
        self.targets = frame["target"].to_numpy(dtype=np.int64)
        self.input_size = tuple(int(v) for v in input_size)
        self.mean, self.std = tuple(mean), tuple(std)
        self.interpolation = interpolation
        self.speaker = (torch.from_numpy(np.ascontiguousarray(speaker_vectors, dtype=np.float32))
                        if speaker_vectors is not None else None)
        if decoded is not None and len(decoded) != len(frame):
            raise SplitError(f"{source}: {len(decoded)} decoded images for {len(frame)} rows")
        self.decoded = decoded

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        array = (self.decoded[index] if self.decoded is not None
                 else decode_image_file(self.images[index], self.input_size[1:], self.interpolation))
        tensor = normalise(array, self.mean, self.std)
        speaker = self.speaker[index] if self.speaker is not None else torch.empty(0)
        return tensor, speaker, int(self.targets[index]), index


def class_counts(targets: Sequence[int], num_classes: int) -> np.ndarray:
    return np.bincount(np.asarray(targets, dtype=np.int64), minlength=num_classes)


def spectrogram_settings(frame: pd.DataFrame) -> dict:
    """The spectrogram settings the split's images were drawn with, for prediction to redraw them.

    Read from ``spectrogram.json`` beside the plain images when the image stage recorded it;
    otherwise the default settings at the size of the saved images.
    """
    import dataclasses
    import json

    from .images import SETTINGS_FILE
    from .spectrogram import SpectrogramConfig

    first = Path(frame["image"].iloc[0])
    recorded = first.parent / SETTINGS_FILE
    if recorded.is_file():
        settings = json.loads(recorded.read_text())
    else:
        with Image.open(first) as image:
            width, height = image.size
        settings = dataclasses.asdict(SpectrogramConfig(size=(height, width)))
    settings["size"] = [int(v) for v in settings["size"]]
    return settings


def spectrogram_config(settings: dict | None):
    """A SpectrogramConfig from the settings saved in a checkpoint."""
    from .spectrogram import SpectrogramConfig

    settings = dict(settings or {})
    if "size" in settings:
        settings["size"] = tuple(settings["size"])
    return SpectrogramConfig(**settings)
