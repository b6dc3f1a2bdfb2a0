"""Emotion of new wav files, from a saved model alone.

The chain is the one training saw: ``audio.load_trimmed`` (16 kHz mono, trimmed) -> the
spectrogram image drawn in memory with the checkpoint's settings -> the resemblyzer vector of the
same samples -> the model (which holds the speaker PCA) -> class probabilities.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .audio import AudioError, load_trimmed
from .checkpoint import BEST_NAME, load_checkpoint
from .data import image_to_tensor, spectrogram_config
from .cli import ArgumentParser
from .errors import InputError, run_script
from .threads import torch_threads

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")


@dataclass
class Prediction:
    file: str
    emotion: str | None = None
    probabilities: dict[str, float] = field(default_factory=dict)
    error: str | None = None


def collect_audio_files(inputs: Iterable[str | Path]) -> list[Path]:
    """Files as given, and the audio files inside any folder (recursively, sorted)."""
    files: list[Path] = []
    for item in inputs:
        item = Path(item)
        if item.is_dir():
            files += sorted(p for p in item.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
        else:
            files.append(item)  # a missing file is reported by the predictor with its reason
    return files


def checkpoint_path(model: str | Path) -> Path:
    """A training output folder (its model_best.pth.tar) or a checkpoint file."""
    model = Path(model)
    return model / BEST_NAME if model.is_dir() else model


class SpeakerNormError(InputError):
    """A model whose speaker vectors need a group's statistics, asked to classify single files."""


class Predictor:
    """A checkpoint ready to classify signals; loads the speaker encoder only for speaker models."""

    def __new__(cls, model: str | Path, device: str = "cpu"):
        from .baselines import is_baseline_path

        if is_baseline_path(model):  # a saved baseline folder (model_best.skops): its own predictor
            from .baselines.predict import BaselinePredictor

            return BaselinePredictor(model, device)
        return super().__new__(cls)

    def __init__(self, model: str | Path, device: str = "cpu"):
        import torch

        from .models.factory import model_from_checkpoint, takes_speaker

        self.state = load_checkpoint(checkpoint_path(model))
        self.device = torch.device(device)
        self.model = model_from_checkpoint(self.state).to(self.device)
        self.class_names = list(self.state["class_names"])
        self.data_config = self.state["data_config"]
        self.spectrogram = spectrogram_config(self.state.get("spectrogram"))
        self.speaker_model = takes_speaker(self.model)
        norm = (self.state.get("args") or {}).get("speaker_norm", "none")
        if self.speaker_model and norm != "none":
            raise SpeakerNormError(f"{checkpoint_path(model)}: trained with --speaker_norm {norm}, which standardises "
                                   f"speaker vectors with the statistics of the test {norm}'s own vectors; "
                                   f"classify a whole test set with eval.py instead")

    def inputs_for_signal(self, signal: np.ndarray):
        """``(image tensor (3,H,W), raw speaker vector or None)`` of one trimmed 16 kHz signal."""
        import torch

        from .spectrogram import signal_to_image

        dcfg = self.data_config
        image = image_to_tensor(signal_to_image(signal, self.spectrogram), dcfg["input_size"], dcfg["mean"],
                                dcfg["std"], dcfg.get("interpolation", "bilinear"))
        vector = None
        if self.speaker_model:
            from .speaker import embed_signal

            vector = torch.from_numpy(np.asarray(embed_signal(signal), dtype=np.float32))
        return image, vector

    def probabilities(self, images, vectors) -> np.ndarray:
        import torch

        with torch.no_grad():
            images = torch.stack(images).to(self.device)
            if self.speaker_model:
                logits = self.model((images, torch.stack(vectors).to(self.device)))
            else:
                logits = self.model(images)
            return torch.softmax(logits.float(), dim=-1).cpu().numpy()

    def predict_files(self, files: Sequence[str | Path], batch_size: int = 16, progress: bool = True,
                      echo=print) -> list[Prediction]:
        """One Prediction per file; unusable audio gets ``error`` (one line) and the rest go on."""
        from tqdm import tqdm

        results: list[Prediction] = []
        pending: list[tuple[Prediction, object, object]] = []

        def flush():
            if not pending:
                return
            probs = self.probabilities([p[1] for p in pending], [p[2] for p in pending])
            for (result, _, _), row in zip(pending, probs):
                result.probabilities = {name: float(v) for name, v in zip(self.class_names, row)}
                result.emotion = self.class_names[int(np.argmax(row))]
            pending.clear()

        for path in tqdm(list(files), desc="predict", unit="file", disable=not progress, leave=False):
            result = Prediction(file=str(path))
            results.append(result)
            try:
                signal = load_trimmed(path)
            except AudioError as exc:
                result.error = str(exc)
                if echo:
                    echo(f"skip {path}: {exc}")
                continue
            image, vector = self.inputs_for_signal(signal)
            pending.append((result, image, vector))
            if len(pending) >= batch_size:
                flush()
        flush()
        return results

    def export_onnx(self, path: str | Path) -> Path:
        """Export the model as ONNX with inputs ``image`` (N,3,H,W) and, for speaker models, ``speaker``."""
        import torch

        from .fileio import atomic_path

        try:
            import onnx  # noqa: F401  (torch's exporter needs it)
        except ImportError as exc:
            raise InputError("ONNX export needs the onnx package: pip install 'specct[onnx]'") from exc
        model = self.model.eval()
        _, height, width = self.data_config["input_size"]
        image = torch.zeros(1, 3, height, width)
        if self.speaker_model:
            raw_dim = int(model.speaker_input_dim)

            class ImageAndSpeaker(torch.nn.Module):
                def __init__(self, inner):
                    super().__init__()
                    self.inner = inner

                def forward(self, image, speaker):
                    return self.inner((image, speaker))

            # eval() on the wrapper too: the exporter restores the wrapper's mode recursively afterwards,
            # and a wrapper left in training mode would switch the predictor's model to training mode.
            wrapped, args, names = ImageAndSpeaker(model).eval(), (image, torch.zeros(1, raw_dim)), ["image", "speaker"]
        else:
            wrapped, args, names = model, (image,), ["image"]
        path = Path(path)
        with atomic_path(path) as tmp:
            torch.onnx.export(wrapped, args, str(tmp), input_names=names, output_names=["logits"],
                              dynamic_axes={n: {0: "batch"} for n in names + ["logits"]}, dynamo=False,
                              opset_version=17)
        return path


def format_predictions(results: Sequence[Prediction], class_names: Sequence[str], fmt: str = "table") -> str:
    """The results as an aligned table, CSV or JSON."""
    if fmt == "json":
        return json.dumps([{"file": r.file, "emotion": r.emotion, "probabilities": r.probabilities or None,
                            "error": r.error} for r in results], indent=2)
    if fmt == "csv":
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["file", "emotion", *class_names, "error"])
        for r in results:
            writer.writerow([r.file, r.emotion or "", *[f"{r.probabilities[c]:.4f}" if r.probabilities else ""
                                                        for c in class_names], r.error or ""])
        return buffer.getvalue().rstrip("\n")
    if fmt != "table":
        raise InputError(f"unknown format {fmt!r}; choose table, csv or json")
    width = max([len("file")] + [len(Path(r.file).name) for r in results])
    columns = [max(len(c), 6) for c in class_names]
    lines = [f"{'file':<{width}}  {'emotion':<12}" + "".join(f"  {c:>{w}}" for c, w in zip(class_names, columns))]
    for r in results:
        name = Path(r.file).name
        if r.error:
            lines.append(f"{name:<{width}}  {'-':<12}  ({r.error})")
        else:
            lines.append(f"{name:<{width}}  {r.emotion:<12}" +
                         "".join(f"  {r.probabilities[c]:>{w}.3f}" for c, w in zip(class_names, columns)))
    return "\n".join(lines)


def main(argv=None) -> int:

    parser = ArgumentParser(prog="predict.py", description="Emotion of wav files from a trained model.")
    parser.add_argument("inputs", nargs="*", help="wav files or folders of them")
    parser.add_argument("--model_dir", required=True,
                        help="training output folder (its model_best.pth.tar) or a checkpoint file")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: half the cores available, which keeps the speed "
                             "when other work shares the machine)")
    parser.add_argument("--export_onnx", metavar="FILE", default=None, help="also export the model to ONNX")
    args = parser.parse_args(argv)
    if not args.inputs and not args.export_onnx:
        parser.error("give wav files or folders (or --export_onnx FILE)")
    outcome: list[int] = []
    run_script("predict.py", lambda: outcome.append(run(args)))
    return outcome[0]


def run(args) -> int:
    """predict.py's work: 0 when some file was classified, 1 when every file was skipped."""
    with torch_threads(args.threads):
        return _classify(args)


def _classify(args) -> int:
    import sys

    predictor = Predictor(args.model_dir, args.device)
    if args.export_onnx:
        print(f"exported {predictor.export_onnx(args.export_onnx)}", file=sys.stderr)
    if not args.inputs:
        return 0
    files = collect_audio_files(args.inputs)
    if not files:
        raise InputError("no audio files found in the given inputs")
    results = predictor.predict_files(files, args.batch_size, progress=sys.stderr.isatty(),
                                      echo=lambda line: print(line, file=sys.stderr))
    print(format_predictions(results, predictor.class_names, args.format))
    failed = sum(r.error is not None for r in results)
    print(f"{len(results) - failed} of {len(results)} files classified"
          + (f", {failed} skipped" if failed else ""), file=sys.stderr)
    return 0 if failed < len(results) else 1
