"""The one interface of every kind of system specct trains, evaluates and compares.

A :class:`System` is a kind (image networks, feature baselines, ...): it knows which ``--model``
names are its own, trains one from train.py's options into a run folder, says whether a run folder
holds a finished training, and loads one back. A loaded run is a :class:`TrainedSystem`: its class
names, its scores on the rows of a split CSV, its predictions for wav files, and its record (what
performance.yaml says about it). Evaluation and prediction see nothing else, so a new kind is one
subclass of each and one :func:`specct.systems.register_system` call.
"""
from __future__ import annotations

import argparse
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..audio.loading import DEFAULT_SR, AudioError, load_trimmed
from ..core.errors import InputError
from ..protocol.evaluation import Prediction


@dataclass
class ScoreSettings:
    """How to score split rows: batch size, loader workers, device threads, progress bars."""
    batch_size: int = 64
    workers: int = 0
    threads: int | None = None
    progress: bool = True
    source: str = ""             # the CSV the rows come from, named in errors


@dataclass
class Scores:
    """Class probabilities ``(rows, classes)`` and the predicted class of each row, with what the
    evaluation must say about how they were made (``record``) and a note for its summary line."""
    probabilities: np.ndarray
    predicted: np.ndarray
    record: dict = field(default_factory=dict)
    note: str = ""


class TrainedSystem(ABC):
    """A finished run, loaded: what evaluation and prediction use."""
    class_names: list[str]
    input_group = 16              # signals whose inputs are made together (the speaker encoder batches them)
    input_group_seconds = 60.0    # ... or fewer: the signals held wait as at most a minute of audio
    has_saliency = False          # image networks: specct.stages.saliency can map what the model looks at

    def group_full(self, signals: Sequence[np.ndarray]) -> bool:
        """Whether signals waiting for their inputs fill a group."""
        return len(signals) >= self.input_group or sum(map(len, signals)) >= self.input_group_seconds * DEFAULT_SR

    @abstractmethod
    def record(self) -> dict:
        """performance.yaml's fields about the model: ``model``, ``checkpoint``, ``checkpoint_epoch``, ..."""

    @abstractmethod
    def score(self, frame: pd.DataFrame, settings: ScoreSettings) -> Scores:
        """Scores of the rows of a split CSV (as read by ``specct.data.split_rows.read_split``)."""

    @abstractmethod
    def inputs_of_signal(self, signal: np.ndarray):
        """What :meth:`classify` needs of one trimmed 16 kHz signal."""

    def inputs_of_signals(self, signals: Sequence[np.ndarray]) -> list:
        """:meth:`inputs_of_signal` of several signals; a kind whose inputs batch well overrides it."""
        return [self.inputs_of_signal(signal) for signal in signals]

    @abstractmethod
    def classify(self, inputs: list, echo=print) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and predicted class indices of a batch of :meth:`inputs_of_signal` results."""

    def predict_batch_size(self, batch_size: int) -> int | None:
        """Files classified at once; None: every file of the call together."""
        return batch_size

    def check_predicts_files(self) -> None:
        """Raise where the run cannot classify single files (predict.py), say why."""

    def export_onnx(self, path: str | Path) -> Path:
        raise InputError("--export_onnx: only the neural models export to ONNX")

    def predict_files(self, files: Sequence[str | Path], batch_size: int = 16, progress: bool = True,
                      echo=print) -> list[Prediction]:
        """One Prediction per file; unusable audio gets ``error`` (one line) and the rest go on."""
        from tqdm import tqdm

        results: list[Prediction] = []
        waiting: list[tuple[Prediction, np.ndarray]] = []      # signals, their inputs made a group at a time
        pending: list[tuple[Prediction, object]] = []          # inputs, classified a batch at a time
        at_once = self.predict_batch_size(batch_size)

        def make_inputs():
            if waiting:
                inputs = self.inputs_of_signals([signal for _, signal in waiting])
                pending.extend(zip([result for result, _ in waiting], inputs))
                waiting.clear()

        def flush():
            make_inputs()
            if not pending:
                return
            probabilities, predicted = self.classify([inputs for _, inputs in pending], echo)
            for (result, _), row, index in zip(pending, probabilities, predicted):
                result.probabilities = {name: float(v) for name, v in zip(self.class_names, row)}
                result.emotion = self.class_names[int(index)]
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
            waiting.append((result, signal))
            if self.group_full([signal for _, signal in waiting]):
                make_inputs()
            if at_once is not None and len(pending) + len(waiting) >= at_once:
                flush()
        flush()
        return results


    def predict_segments(self, files: Sequence[str | Path], segment: str = "vad", batch_size: int = 16,
                         output: str | Path | None = None, plot_dir: str | Path | None = None, progress: bool = True,
                         echo=print, **options):
        """Emotion over time: ``(segment predictions, one summary per file)`` of long recordings, cut by
        voice activity (``segment="vad"``) or into fixed windows (``"fixed"``, ``window=``, ``hop=``);
        ``options`` are :class:`specct.data.segments.SegmentOptions` fields. With ``output`` (a CSV) written
        as each file finishes, and files already there skipped."""
        from ..protocol.segment_predict import predict_segments
        from ..data.segments import SegmentOptions

        return predict_segments(self, files, SegmentOptions(how=segment, **options), batch_size, output=output,
                                plot_dir=plot_dir, progress=progress, echo=echo)


class System(ABC):
    """A kind of system: trains from train.py's options, recognises and loads its run folders."""
    kind: str = ""
    saved_name: str = ""                  # the file a finished run keeps, e.g. model_best.skops
    saved_suffixes: tuple[str, ...] = ()  # a saved model given as a file
    options = None   # the train.py flags its training reads (a model of specct.train.option_models)

    @abstractmethod
    def handles(self, model_name: str) -> bool:
        """True when ``--model model_name`` is one of this kind's."""

    @abstractmethod
    def run_name(self, args: argparse.Namespace) -> str:
        """The run's folder name under ``<output>`` (without ``--experiment``)."""

    @abstractmethod
    def fit(self, args: argparse.Namespace, on_epoch_end=None) -> Path:
        """Train on ``args.data_dir``; returns the run folder."""

    @abstractmethod
    def is_trained(self, out_dir: Path, args: argparse.Namespace) -> bool:
        """True when ``out_dir`` holds a finished training with these options."""

    @abstractmethod
    def load(self, path: str | Path, device: str = "cpu", checkpoint: str | None = None) -> TrainedSystem:
        """A run folder (or a saved model file), loaded."""

    def prepare_resume(self, out_dir: Path, args: argparse.Namespace) -> None:
        """Set ``args`` so that an unfinished training in ``out_dir`` continues (default: starts again)."""

    def check_model(self, model_name: str) -> None:
        """Raise InputError (one line) when ``model_name`` cannot be built; checked before a study runs."""

    def check_flags(self, model_name: str, flags: dict) -> None:
        """One InputError line for a flag (``{name: value}``, as train.py types them) this kind never reads."""
        import difflib

        model = self.options
        unread = [name for name in flags if model is not None and name not in model.model_fields]
        if unread:
            close = difflib.get_close_matches(unread[0], list(model.model_fields), n=1)
            hint = f" (did you mean --{close[0]}?)" if close else ""
            raise InputError(f"--{unread[0]}: not an option of {self.kind} systems such as {model_name}, whose "
                             f"training would ignore it{hint}")

    def is_seeded(self, model_name: str, flags: dict) -> bool:
        """Whether the training seed can change what is learnt (False: one run stands for every seed)."""
        return True

    def model_names(self) -> list[str]:
        """The names this kind knows (for the nearest name in an error)."""
        return []

    def uses_other_systems(self, model_name: str) -> bool:
        """Whether the model is made from other systems' trained runs (an ensemble): in an experiment its
        jobs start once the others' have ended."""
        return False

    def vector_sets(self, model_name: str, flags: dict) -> list:
        """The per-utterance vector sets the model reads beside the split, as FeatureSpecs (with a
        Whisper set's input and precision, which name its cache), made by the features stage (the
        speaker vectors, which every split needs, are not listed)."""
        return []

    def feature_caches(self, model_name: str, flags: dict) -> list[str]:
        """The names of the feature caches (``<C>_features/<name>.npz``) the model reads: what an
        experiment fingerprints, so that a cache made for another system does not stop its rerun."""
        return []

    def reads_images(self, model_name: str) -> bool:
        """Whether the model classifies spectrogram images (what the report's image figures are for)."""
        return False

    def reads_speaker_vector(self, model_name: str, performances: Sequence[dict]) -> bool:
        """Whether the model is given each utterance's speaker vector; ``performances`` are its
        evaluations (performance.yaml), which record a baseline's feature set."""
        from ..baselines.features import SPEAKER_SET

        return any((p.get("features") or {}).get("kind") == SPEAKER_SET for p in performances)

    def recognises(self, path: Path) -> bool:
        """A run folder holding this kind's saved model, or such a file."""
        if path.is_dir():
            return bool(self.saved_name) and (path / self.saved_name).is_file()
        return any(path.name.endswith(suffix) for suffix in self.saved_suffixes)
