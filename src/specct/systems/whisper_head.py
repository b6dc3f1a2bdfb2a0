"""``whisper_head``: a trained head on frozen Whisper frames (:mod:`specct.models.whisper_head`), trained by
:mod:`specct.train.frame_head` on the frame cache, saved as a self-describing checkpoint.

:class:`TrainedWhisperHead` loads any model trained on a frame cache (``whisper_finetune`` too): the
checkpoint names its frames, and new audio goes through the same frozen extractor first."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..core.checkpoint import BEST_NAME, load_checkpoint
from ..core.errors import InputError
from ..core.precision import autocast, resolve as resolve_precision
from .base import Scores, ScoreSettings, System, TrainedSystem
from ..train.option_models import WhisperHeadOptions
from ..core.devices import torch_device

MODEL = "whisper_head"


def spec_of(record: dict):
    from ..baselines.features import FeatureSpec

    return FeatureSpec("whisper", record.get("source"), "all", record.get("input") or "real",
                       None if record.get("precision") in (None, "float32") else record["precision"])


class TrainedWhisperHead(TrainedSystem):
    """The trained model and, made on first use, the frozen Whisper extractor of the frames it was trained on."""

    def __init__(self, path: str | Path, device: str = "cpu", checkpoint: str | None = None):
        import timm
        import torch

        from .. import models  # noqa: F401  (registers whisper_head and whisper_finetune)
        from ..baselines.whisper_frames import FrameSet

        path = Path(path)
        self.path = path / (checkpoint or BEST_NAME) if path.is_dir() else path
        self.state = load_checkpoint(self.path)
        self.device = torch_device(device)
        self.model = timm.create_model(self.state["model_name"], **self.state["model_kwargs"])
        self.model.load_state_dict(self.state["state_dict"])
        self.model.to(self.device).eval()
        self.class_names = list(self.state["class_names"])
        self.frames = FrameSet(spec_of(self.state["features"]), int(self.state.get("frame_pool", 2)),
                               self.state.get("input_top"))
        self.precision = (self.state.get("args") or {}).get("precision", "float32")
        self.precision_used = resolve_precision(self.precision, self.device.type)
        self._extractor = None

    @property
    def extractor(self):
        if self._extractor is None:
            from ..train.frame_loop import make_extractor

            self._extractor = make_extractor(self.frames, self.device.type)
        return self._extractor

    def record(self) -> dict:
        return {"model": self.state["model_name"], "checkpoint": str(self.path.resolve()),
                "checkpoint_epoch": int(self.state.get("epoch", 0)), "precision": self.precision_used,
                "features": {**self.frames.spec.as_dict(), "frame_cache": self.frames.name,
                             "frame_pool": self.frames.pool},
                "layer_weights": [round(float(w), 4) for w in self.model.layer_mix().detach().cpu()],
                "refit": False, "fitted_rows": int(self.state.get("train_rows", 0)),
                **({"finetune_blocks": self.frames.input_top} if self.frames.input_top else {})}

    def score(self, frame, settings: ScoreSettings) -> Scores:
        from ..baselines.whisper_frames import frames_for_wavs
        from ..core.threads import torch_threads
        from ..train.engine import predict_loader, softmax
        from ..train.frame_loop import FrameRows, ensure_frames, loader

        wavs = list(frame["wav"])
        ensure_frames(wavs, self.frames, settings.progress, self._extractor, self.device.type)
        rows = FrameRows(frames_for_wavs(wavs, self.frames), frame["target"])
        with torch_threads(settings.threads):
            logits, _ = predict_loader(self.model, loader(rows, settings.batch_size, False), device=self.device,
                                       speaker_model=True, precision=self.precision_used, progress=settings.progress,
                                       desc="test")
        probabilities = softmax(logits)
        return Scores(probabilities, probabilities.argmax(axis=1))

    def inputs_of_signal(self, signal: np.ndarray):
        return self.inputs_of_signals([signal])[0]

    def inputs_of_signals(self, signals) -> list:
        """Each signal's frames, in passes of the extractor's batch size (as the cache was made): for a
        fine-tuning, the frozen blocks run here and the trained ones in :meth:`classify`."""
        extractor, out = self.extractor, []
        prepared = [extractor.prepare(signal) for signal in signals]
        for first in range(0, len(prepared), extractor.batch_size):
            out += self.frames.frames_made_by(extractor, prepared[first:first + extractor.batch_size])
        return out

    def classify(self, inputs: list, echo=print) -> tuple[np.ndarray, np.ndarray]:
        import torch

        from ..train.frame_loop import collate

        frames, lengths, _, _ = collate([(torch.from_numpy(np.asarray(f)), 0, i) for i, f in enumerate(inputs)])
        with torch.no_grad(), autocast(self.device.type, self.precision_used):
            logits = self.model((frames.to(self.device), lengths.to(self.device)))
        probabilities = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        return probabilities, probabilities.argmax(axis=1)


class WhisperHeadSystem(System):
    """``--model whisper_head`` (options: ``--features whisper[:<source>]``, ``--whisper_input``,
    ``--whisper_precision``, ``--head_hidden``, ``--drop`` and the training flags)."""
    kind = "whisper_head"
    options = WhisperHeadOptions   # the train.py flags its training reads
    saved_name = BEST_NAME

    def handles(self, model_name: str) -> bool:
        return str(model_name) == MODEL

    def model_names(self) -> list[str]:
        return [MODEL]

    def recognises(self, path: Path) -> bool:
        return False   # a run folder says its model in args.yaml; model_best.pth.tar alone is a network's

    def run_name(self, args: argparse.Namespace) -> str:
        from ..train.frame_head import run_name

        return run_name(args)

    def fit(self, args: argparse.Namespace, on_epoch_end=None) -> Path:
        from ..train.frame_head import train_frame_head

        return train_frame_head(args, on_epoch_end)

    def is_trained(self, out_dir: Path, args: argparse.Namespace) -> bool:
        """The checkpoint is written once, when the training has ended."""
        best = Path(out_dir) / BEST_NAME
        return best.is_file() and bool(load_checkpoint(best).get("finished"))

    def load(self, path, device: str = "cpu", checkpoint: str | None = None) -> TrainedWhisperHead:
        return TrainedWhisperHead(path, device, checkpoint)

    def check_model(self, model_name: str) -> None:
        try:
            import transformers  # noqa: F401
        except ImportError:
            raise InputError(f"{model_name} needs the transformers package: pip install 'specct[ssl]'") from None
