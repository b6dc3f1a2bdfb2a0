"""Where an image model looks: the mean Grad-CAM of each emotion over a split's rows.

For each test row, Grad-CAM (Selvaraju et al. 2017) of the logit of the row's true class on the
model's last spatial map: for the CCTs (plain and speaker) that is the **tokenizer's output**, the
map after its last convolution, ReLU and pooling that the transformer reads as its tokens (one
token per cell); for any other image model, the output of the last 2-D convolution that runs. The
map's channels are weighted by their mean gradient, summed, rectified, upsampled to the image and
scaled to a maximum of 1 per row; the rows of one class are averaged. The figure draws each class's
mean map over the mean spectrogram of the same rows, with the frequency axis (mel band and its
centre in Hz, low frequencies at the bottom, as the images are drawn) and the time axis labelled.

``saliency.py MODEL_DIR [--data_test_path CSV]`` (``specct saliency``) writes ``saliency.png``;
the report draws one per image-model job on a few test rows (:data:`REPORT_ROWS_PER_CLASS`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import math

import numpy as np

SALIENCY_NAME = "saliency.png"
DEFAULT_ROWS_PER_CLASS = 32
REPORT_ROWS_PER_CLASS = 4      # the report's cap: seconds per job on a CPU


def target_layer(model):
    """The module whose output Grad-CAM reads: a CCT's tokenizer convolutions, else None (the last
    2-D convolution that runs is taken, see :func:`grad_cam`)."""
    tokenizer = getattr(model, "tokenizer", None)
    return getattr(tokenizer, "conv_layers", None) if tokenizer is not None else None


def grad_cam(model, images, targets: Sequence[int], speaker=None):
    """``(rows, height, width)`` Grad-CAM maps in [0, 1] of ``images`` (a float tensor (N, 3, H, W),
    normalised as the model reads it) for the classes ``targets``; ``speaker`` (N, D) for speaker models."""
    import torch
    import torch.nn.functional as F

    layer = target_layer(model)
    outputs: list = []

    def keep(_module, _inputs, output):
        if isinstance(output, torch.Tensor) and output.dim() == 4:
            outputs.append(output)

    modules = [layer] if layer is not None else [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    if not modules:
        from ..core.errors import InputError

        raise InputError(f"{type(model).__name__}: no convolutional map to explain (not an image model)")
    hooks = [m.register_forward_hook(keep) for m in modules]
    model.eval()
    try:
        with torch.enable_grad():
            inputs = images.detach().float()
            logits = model((inputs, speaker)) if speaker is not None else model(inputs)
            if not outputs:
                from ..core.errors import InputError

                raise InputError(f"{type(model).__name__}: its convolutions gave no spatial map")
            activation = outputs[-1]
            activation.retain_grad()
            chosen = logits.float().gather(1, torch.as_tensor(list(targets), dtype=torch.long).view(-1, 1)).sum()
            model.zero_grad(set_to_none=True)
            chosen.backward()
            weights = activation.grad.float().mean(dim=(2, 3), keepdim=True)
            cam = torch.relu((weights * activation.detach().float()).sum(dim=1, keepdim=True))
    finally:
        for hook in hooks:
            hook.remove()
    cam = F.interpolate(cam, size=tuple(images.shape[-2:]), mode="bilinear", align_corners=False)[:, 0]
    peak = cam.flatten(1).max(dim=1).values.clamp_min(1e-12).view(-1, 1, 1)
    return (cam / peak).cpu().numpy()


@dataclass
class ClassSaliency:
    """Per class: the mean Grad-CAM map and the mean spectrogram (grey levels in [0, 1]) of its rows."""
    class_names: list[str]
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    spectrograms: dict[str, np.ndarray] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    spectrogram: object = None         # the SpectrogramConfig the images were drawn with

    def peak_row(self, name: str) -> int:
        """The image row (0 = top, the highest band) where the class's map is strongest on average."""
        return int(np.argmax(self.maps[name].mean(axis=1)))


def class_saliency(model, images, targets: Sequence[int], class_names: Sequence[str], speaker=None,
                   batch_size: int = 16, grey=None) -> ClassSaliency:
    """Mean Grad-CAM of each class over its rows of ``images`` (N, 3, H, W); ``grey`` (N, H, W) the
    spectrograms to average beneath (default: the mean over the channels of ``images``)."""
    targets = np.asarray(targets, dtype=np.int64)
    maps = []
    for start in range(0, len(targets), batch_size):
        part = slice(start, start + batch_size)
        maps.append(grad_cam(model, images[part], targets[part], None if speaker is None else speaker[part]))
    maps = np.concatenate(maps) if maps else np.zeros((0,) + tuple(images.shape[-2:]))
    grey = images.float().mean(dim=1).cpu().numpy() if grey is None else np.asarray(grey)
    result = ClassSaliency(list(class_names))
    for index, name in enumerate(class_names):
        mine = targets == index
        if mine.any():
            result.maps[name] = maps[mine].mean(axis=0)
            result.spectrograms[name] = grey[mine].mean(axis=0)
            result.rows[name] = int(mine.sum())
    return result


def capped_rows(frame, per_class: int | None, seed: int = 0):
    """At most ``per_class`` rows of each label (seeded draw, in the CSV's order); all with None."""
    if per_class is None:
        return frame
    kept = [part.sample(min(per_class, len(part)), random_state=seed) for _, part in frame.groupby("label")]
    return frame.loc[sorted(index for part in kept for index in part.index)].reset_index(drop=True)


def saliency_of_model(model_dir: str | Path, test_csv: str | Path, per_class: int | None = DEFAULT_ROWS_PER_CLASS,
                      device: str = "cpu", seed: int = 0) -> ClassSaliency:
    """The per-class saliency of a saved image model (a run folder or checkpoint) on a split CSV's rows."""
    import torch

    from ..data import split_rows as split_data
    from ..core.errors import InputError
    from ..systems import load

    trained = load(model_dir, device)
    if not trained.has_saliency:
        raise InputError(f"{model_dir}: saliency maps are for the image models; this is a feature baseline")
    frame = capped_rows(split_data.read_split(test_csv, trained.class_names), per_class, seed)
    config = trained.data_config
    vectors = trained.vectors_of_rows(frame)   # as the evaluation builds them (--vector, --speaker_norm)
    dataset = split_data.SplitDataset(frame, config["input_size"], config["mean"], config["std"], vectors,
                                      source=str(test_csv), interpolation=config.get("interpolation", "bilinear"))
    items = [dataset[i] for i in range(len(dataset))]
    images = torch.stack([item[0] for item in items]).to(trained.device)
    speaker = torch.stack([item[1] for item in items]).to(trained.device) if vectors is not None else None
    grey = np.stack([split_data.decode_image_file(p, config["input_size"][1:]).mean(axis=2) / 255.0
                     for p in frame["image"]])
    result = class_saliency(trained.model, images, frame["target"].to_numpy(), trained.class_names, speaker, grey=grey)
    result.spectrogram = trained.spectrogram
    return result


def frequency_ticks(height: int, spectrogram, count: int = 5) -> tuple[list[float], list[str]]:
    """Image rows and their labels ``band b / f Hz`` (row 0 is the top: the highest mel band)."""
    import librosa

    n_mels = int(getattr(spectrogram, "n_mels", 128))
    sample_rate = int(getattr(spectrogram, "sample_rate", 16000))
    fmax = getattr(spectrogram, "fmax_hz", None) or sample_rate / 2
    fmin = float(getattr(spectrogram, "fmin_hz", 0.0))
    centres = librosa.mel_frequencies(n_mels + 2, fmin=fmin, fmax=float(fmax))[1:-1]   # as the mel filters
    rows, labels = [], []
    for row in np.linspace(0, height - 1, count):
        band = int(round((1 - (row + 0.5) / height) * n_mels - 0.5))
        band = min(max(band, 0), n_mels - 1)
        rows.append(float(row))
        labels.append(f"band {band + 1}\n{centres[band]:.0f} Hz")
    return rows, labels


def time_axis(width: int, spectrogram) -> tuple[list[float], list[str], str]:
    """x ticks, labels and the axis title: each utterance is stretched to the image width, so time is
    a fraction of the utterance (with ``min_seconds``, shorter ones are padded to that length)."""
    ticks = [0.0, (width - 1) / 2, float(width - 1)]
    minimum = getattr(spectrogram, "min_seconds", None)
    if minimum:
        return ticks, ["0 s", f"{minimum / 2:g} s", f"{minimum:g} s"], \
            f"time (utterances under {minimum:g} s padded to it; longer ones stretched)"
    return ticks, ["start", "middle", "end"], "time (each utterance stretched to the width)"


def plot_saliency(result: ClassSaliency, path: str | Path, title: str = "", paper: bool = False) -> Path:
    """One panel per class: its mean spectrogram in grey, its mean Grad-CAM over it in colour."""
    from ..figures.plots import _pyplot, save_figure

    plt = _pyplot()
    names = [n for n in result.class_names if n in result.maps]
    columns = max(1, math.ceil(math.sqrt(len(names))))    # a square-ish grid stays legible when scaled down
    lines = max(1, math.ceil(len(names) / columns))
    fig, axes = plt.subplots(lines, columns, figsize=(3.0 * columns + 1.2, 2.9 * lines + 0.6), squeeze=False,
                             layout="constrained")
    image = None
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for index, (ax, name) in enumerate(zip(axes.flat, names)):
        ax.imshow(result.spectrograms[name], cmap="gray", vmin=0, vmax=1, aspect="auto")
        image = ax.imshow(result.maps[name], cmap="jet", alpha=0.45, vmin=0, vmax=1, aspect="auto")
        height, width = result.maps[name].shape
        rows, labels = frequency_ticks(height, result.spectrogram)
        ax.set_yticks(rows, labels, fontsize=6)
        ticks, tick_labels, xlabel = time_axis(width, result.spectrogram)
        ax.set_xticks(ticks, tick_labels, fontsize=7)
        if index + columns >= len(names):      # the bottom panel of its column
            ax.set_xlabel(xlabel, fontsize=7)
        if index % columns == 0:
            ax.set_ylabel("frequency (mel band, centre)", fontsize=7)
        ax.set_title(f"{name} ({result.rows[name]} rows)", fontsize=9)
    if image is not None:
        fig.colorbar(image, ax=list(axes.flat), fraction=0.03, label="mean Grad-CAM (per row max 1)")
    fig.suptitle(title or "Where the model looks: mean Grad-CAM per emotion", fontsize=10)
    return save_figure(fig, path, paper)


def build_parser():
    from ..core.cli import ArgumentParser

    parser = ArgumentParser(prog="saliency.py", description=(
        "Where an image model looks: per emotion, the mean Grad-CAM over a split's rows drawn over the mean "
        "spectrogram (frequency and time axes labelled)."))
    parser.add_argument("model_dir", help="a training output folder (its model_best.pth.tar) or a checkpoint file")
    parser.add_argument("--data_test_path", default=None,
                        help="the rows: a split CSV, an eval_data or a split folder "
                             "(default: the run's own test split)")
    parser.add_argument("--output", default=None, help="the figure (PNG; default: <model_dir>/saliency.png)")
    parser.add_argument("--max_rows", type=int, default=DEFAULT_ROWS_PER_CLASS,
                        help="at most this many rows per emotion (0: every row)")
    parser.add_argument("--paper", action="store_true", help="a 300 dpi PNG and an SVG beside it")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--seed", type=int, default=0, help="the draw of the capped rows")
    return parser


def run(args) -> Path:
    """saliency.py's work: the figure of ``args.model_dir`` on ``args.data_test_path``'s rows."""
    from ..core.errors import MissingInputError
    from ..protocol.evaluation import test_csv_for

    model_dir = Path(args.model_dir)
    if not model_dir.exists():
        raise MissingInputError(f"{model_dir}: no such model folder or checkpoint")
    folder = model_dir if model_dir.is_dir() else model_dir.parent
    test_csv = test_csv_for(folder, args.data_test_path)
    result = saliency_of_model(model_dir, test_csv, args.max_rows or None, args.device, args.seed)
    output = Path(args.output) if args.output else folder / SALIENCY_NAME
    plot_saliency(result, output, paper=args.paper, title=(
        f"{folder.parent.name}/{folder.name}: mean Grad-CAM per emotion on {test_csv.parent.name}/{test_csv.name}"))
    print(f"saliency: {output}")
    return output


def main(argv: Sequence[str] | None = None) -> int:
    from ..core.cli import program_name
    from ..core.errors import run_script

    parser = build_parser()
    args = parser.parse_args(argv)
    return run_script(program_name(parser.prog), lambda: run(args))
