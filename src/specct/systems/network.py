"""Image networks, plain and speaker-fused (any timm or specct model name): trained by
:mod:`specct.train.loop`, saved as self-describing checkpoints (:mod:`specct.core.checkpoint`)."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..core.checkpoint import BEST_NAME, LAST_NAME, load_checkpoint
from ..core.errors import InputError
from ..core.precision import autocast, resolve as resolve_precision
from .base import Scores, ScoreSettings, System, TrainedSystem
from ..train.option_models import NetworkOptions
from ..core.devices import torch_device


class SpeakerNormError(InputError):
    """A model whose speaker vectors need a group's statistics, asked to classify single files."""


def checkpoint_path(model: str | Path, checkpoint: str | None = None) -> Path:
    """A training output folder (its model_best.pth.tar, or ``checkpoint``) or a checkpoint file."""
    model = Path(model)
    return model / (checkpoint or BEST_NAME) if model.is_dir() else model


class TrainedNetwork(TrainedSystem):
    """A checkpoint ready to score split rows and signals; the speaker encoder only for speaker models."""
    has_saliency = True

    def __init__(self, path: str | Path, device: str = "cpu", checkpoint: str | None = None):
        import torch

        from ..data.split_rows import spectrogram_config
        from ..models.factory import model_from_checkpoint, takes_speaker
        from ..train.fusion_vector import from_checkpoint

        self.path = checkpoint_path(path, checkpoint)
        self.state = load_checkpoint(self.path)
        self.device = torch_device(device)
        self.model = model_from_checkpoint(self.state).to(self.device)
        self.class_names = list(self.state["class_names"])
        self.data_config = self.state["data_config"]
        self.spectrogram = spectrogram_config(self.state.get("spectrogram"))
        self.speaker_model = takes_speaker(self.model)
        self.vector = from_checkpoint(self.state)   # which per-utterance vector it fuses (--vector)
        self._vector_extractor = None               # the Whisper encoder, loaded for the first new audio
        self.speaker_norm = (self.state.get("args") or {}).get("speaker_norm", "none")
        self.trained_args = self.state.get("args") or {}
        # the training's requested precision, decided again for this host (models older than the
        # --precision flag ran float32 at prediction whatever they were trained with)
        self.precision = (self.state.get("args") or {}).get("precision", "float32")
        self.precision_used = resolve_precision(self.precision, self.device.type)

    def record(self) -> dict:
        # a --refit run has trained on its validation rows too (an ensemble's weights_seen_by reads this)
        done = self.state.get("refit") or {}
        refit = {"refit": True, "fitted_rows": int(done.get("rows", 0))} if done else {}
        return {"model": self.state["model_name"], "checkpoint": str(self.path.resolve()),
                "checkpoint_epoch": int(self.state.get("epoch", 0)), "precision": self.precision_used, **refit}

    def score(self, frame, settings: ScoreSettings) -> Scores:
        from torch.utils.data import DataLoader

        from ..data import split_rows as split_data
        from ..core.threads import torch_threads
        from ..train.engine import predict_loader, softmax

        vectors = self.vectors_of_rows(frame)
        record = {} if self.vector.is_default else {"vector": self.vector.text}
        if self.speaker_model and self.speaker_norm != "none":
            record["transductive"] = (f"speaker vectors standardised per {self.speaker_norm} with the statistics "
                                      f"of the test rows' own unlabelled vectors")
        if self.trained_args.get("domain_adversarial") and \
                self.trained_args.get("domain_adversarial_variant") == "transductive":
            record["transductive_training"] = ("domain-adversarial training read the unlabelled audio of the held-out "
                                               "corpus as a domain (--domain_adversarial_variant transductive)")
        dcfg = self.data_config
        dataset = split_data.SplitDataset(frame, dcfg["input_size"], dcfg["mean"], dcfg["std"], vectors,
                                          source=settings.source, interpolation=dcfg.get("interpolation", "bilinear"))
        # TRANSDUCTIVE where the model was trained so: the test rows' own statistics (specct.train.test_time)
        from ..train.test_time import batch_forward, notes, reestimate_batch_norm, standardise_by_corpus

        dataset = standardise_by_corpus(dataset, frame, self.trained_args.get("input_norm", "none"))
        record.update(notes(self.trained_args))
        loader = DataLoader(dataset, batch_size=settings.batch_size, shuffle=False, num_workers=settings.workers)
        with torch_threads(settings.threads):
            model = self.model
            if self.trained_args.get("test_time_bn"):
                model = reestimate_batch_norm(model, loader, batch_forward(self.device, self.speaker_model, self.precision_used))
            logits, _ = predict_loader(model, loader, device=self.device, speaker_model=self.speaker_model,
                                       precision=self.precision_used, progress=settings.progress, desc="test")
        probabilities = softmax(logits)
        return Scores(probabilities, probabilities.argmax(axis=1), record)

    def vectors_of_rows(self, frame):
        """The fused vectors of split rows as the model takes them (None for an image model); with
        ``--speaker_norm`` standardised by the rows' own groups (TRANSDUCTIVE, said by ``score``)."""
        if not self.speaker_model:
            return None
        vectors = self.vector.rows(frame)
        if self.speaker_norm != "none":
            from ..data.speaker import standardise_by_group

            # TRANSDUCTIVE: the test rows' own (unlabelled) vectors give their group's statistics
            vectors = standardise_by_group(vectors, frame[self.speaker_norm], frame["wav"])
        return vectors

    def check_predicts_files(self) -> None:
        if self.speaker_model and self.speaker_norm != "none":
            raise SpeakerNormError(f"{self.path}: trained with --speaker_norm {self.speaker_norm}, which standardises "
                                   f"speaker vectors with the statistics of the test {self.speaker_norm}'s own "
                                   f"vectors; classify a whole test set with eval.py instead")
        from ..train.test_time import notes

        used = notes(self.trained_args)
        if used:
            raise SpeakerNormError(f"{self.path}: trained with test-time statistics ({'; '.join(used.values())}); "
                                   f"classify a whole test set with eval.py instead")

    def inputs_of_signal(self, signal: np.ndarray):
        """``(image tensor (3,H,W), raw speaker vector or None)`` of one trimmed 16 kHz signal."""
        return self.inputs_of_signals([signal])[0]

    def inputs_of_signals(self, signals) -> list:
        """The inputs of several signals, their speaker vectors in one pass of the encoder."""
        import torch

        from ..data.split_rows import image_to_tensor
        from ..data.spectrogram import signal_to_image

        dcfg = self.data_config
        images = [image_to_tensor(signal_to_image(signal, self.spectrogram), dcfg["input_size"], dcfg["mean"],
                                  dcfg["std"], dcfg.get("interpolation", "bilinear")) for signal in signals]
        if not self.speaker_model:
            return [(image, None) for image in images]
        if self._vector_extractor is None:
            self._vector_extractor = self.vector.extractor(str(self.device))
        raw = self.vector.of_signals(signals, self._vector_extractor, str(self.device))
        # a row of its own per signal (a view would carry the whole batch when sent to another process)
        vectors = [torch.from_numpy(np.array(row, dtype=np.float32)) for row in raw]
        return list(zip(images, vectors))

    def classify(self, inputs: list, echo=print) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.no_grad(), autocast(self.device.type, self.precision_used):
            images = torch.stack([image for image, _ in inputs]).to(self.device)
            if self.speaker_model:
                logits = self.model((images, torch.stack([vector for _, vector in inputs]).to(self.device)))
            else:
                logits = self.model(images)
            probabilities = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        return probabilities, probabilities.argmax(axis=1)

    def export_onnx(self, path: str | Path) -> Path:
        """Export the model as ONNX with inputs ``image`` (N,3,H,W) and, for speaker models, ``speaker``."""
        import torch

        from ..core.fileio import atomic_path

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


class NetworkSystem(System):
    """Every model name no other kind claims: a timm model, a specct model, ``speaker_<timm name>``."""
    kind = "network"
    options = NetworkOptions   # the train.py flags its training reads
    saved_name = BEST_NAME
    saved_suffixes = (".pth.tar", ".pth", ".pt")

    def handles(self, model_name: str) -> bool:
        return True

    def check_model(self, model_name: str) -> None:
        import timm

        from .. import models  # noqa: F401  (registers specct's models in timm)

        if not timm.is_model(model_name):    # specct's own models are registered in timm
            raise InputError(f"unknown model {model_name!r}: neither a baseline nor a timm model (docs/models.md)")

    def reads_images(self, model_name: str) -> bool:
        return True

    def reads_speaker_vector(self, model_name: str, performances) -> bool:
        """What the model states (``takes_speaker``); a model that cannot be built here: said by its name.
        A model that fuses a Whisper vector alone (performance.yaml's ``vector``) reads none."""
        if any(not str(p.get("vector", "speaker")).startswith("speaker") for p in performances):
            return False
        try:
            from ..models.factory import model_traits

            return model_traits(model_name).takes_speaker
        except Exception:  # noqa: BLE001
            return str(model_name).startswith("speaker_")

    def vector_sets(self, model_name: str, flags: dict) -> list:
        """The pooled Whisper vectors a ``--vector whisper:...`` fuses (the speaker vectors every split has)."""
        from ..train.fusion_vector import from_flags

        whisper = from_flags(flags).whisper
        return [] if whisper is None else [whisper]

    def feature_caches(self, model_name: str, flags: dict) -> list[str]:
        from ..train.fusion_vector import from_flags

        whisper = from_flags(flags).whisper
        return [whisper.name] if whisper is not None else []

    def model_names(self) -> list[str]:
        import timm

        from .. import models  # noqa: F401

        return timm.list_models()

    def run_name(self, args: argparse.Namespace) -> str:
        from ..train.loop import run_name

        return run_name(args)

    def fit(self, args: argparse.Namespace, on_epoch_end=None) -> Path:
        from ..train.refit import train   # once, or twice with --refit

        return train(args, on_epoch_end)

    def is_trained(self, out_dir: Path, args: argparse.Namespace) -> bool:
        """True when last.pth.tar holds the final epoch or an early stop of the same schedule."""
        last = Path(out_dir) / LAST_NAME
        if not last.is_file():
            return False
        state = load_checkpoint(last)
        stopped_early = bool(args.patience) and int(state.get("stale_epochs", 0)) >= args.patience
        same_schedule = int(state.get("args", {}).get("epochs", args.epochs)) == args.epochs
        return same_schedule and (int(state["epoch"]) >= int(state.get("num_epochs", args.epochs)) or stopped_early)

    def prepare_resume(self, out_dir: Path, args: argparse.Namespace) -> None:
        if (Path(out_dir) / LAST_NAME).is_file():
            args.resume = "auto"

    def load(self, path, device: str = "cpu", checkpoint: str | None = None) -> TrainedNetwork:
        return TrainedNetwork(path, device, checkpoint)
