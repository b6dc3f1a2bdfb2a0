"""A saved baseline: features, scaler, classifier and classes in one skops file.

``model_best.skops`` holds a plain dictionary: ``format`` ("specct-baseline"), ``model_name``,
``class_names``, ``features`` (the feature set: kind, source, layer, width), ``scaling`` (mode,
whether it is transductive, and the pooled training mean and scale) and ``classifier``: a fitted
scikit-learn estimator, or the configuration and weights (numpy arrays) of the torch head.

skops (``skops.io``) rather than pickle or joblib: loading a skops file builds only the types it is
told to trust, and specct trusts only scikit-learn's and numpy's own (skops' defaults), so opening a
model folder never runs code from it. A file holding anything else is refused.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..core.errors import SpecctError
from ..core.fileio import atomic_path
from . import MODEL_NAME
from .features import FeatureSpec, extract_signal, make_extractor
from .scaling import FeatureScaler

FORMAT = "specct-baseline"
FORMAT_VERSION = 1


class BaselineModelError(SpecctError, ValueError):
    """A saved baseline that cannot be used; the message names the file."""


@dataclass
class BaselineModel:
    model_name: str
    class_names: list[str]
    spec: FeatureSpec
    scaler: FeatureScaler
    classifier: dict            # {"kind": "sklearn", "estimator": ...} or {"kind": "torch_head", "config", "state"}
    info: dict                  # hyper-parameters, validation metrics, training rows: what eval reports

    def probabilities(self, features: np.ndarray, groups: Sequence[str] | None = None) -> np.ndarray:
        """Class probabilities of raw (unscaled) features; ``groups`` for corpus/speaker scaling."""
        x = self.scaler.transform(features, groups)
        if self.classifier["kind"] == "sklearn":
            from .classifiers import sklearn_scores

            return sklearn_scores(self.classifier["estimator"], x.reshape(len(x), -1), len(self.class_names))
        from .classifiers import head_probabilities

        return head_probabilities(self.head(), x)

    def predict(self, features: np.ndarray, groups: Sequence[str] | None = None) -> np.ndarray:
        """Class indices: the estimator's own decision (scikit-learn), or the most probable class."""
        if self.classifier["kind"] == "sklearn":
            x = self.scaler.transform(features, groups)
            return np.asarray(self.classifier["estimator"].predict(x.reshape(len(x), -1)), dtype=np.int64)
        return self.probabilities(features, groups).argmax(axis=1)

    def head(self):
        import torch

        from .classifiers import FeatureHead

        if getattr(self, "_head", None) is None:
            head = FeatureHead(**self.classifier["config"])
            head.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in self.classifier["state"].items()})
            self._head = head.eval()
        return self._head

    def extractor(self, device: str = "cpu"):
        return make_extractor(self.spec, device)

    def features_of_signal(self, extractor, signal: np.ndarray) -> np.ndarray:
        vector = extract_signal(extractor, signal)
        if self.spec.kind == "whisper" and self.spec.layer != "all":   # Whisper gives every layer at once
            return vector[int(self.spec.layer)]
        return vector


def save_model(path: str | Path, model: BaselineModel) -> Path:
    import skops.io as sio

    state = {"format": FORMAT, "format_version": FORMAT_VERSION, "model_name": model.model_name,
             "class_names": list(model.class_names), "features": model.spec.as_dict(),
             "scaling": model.scaler.state(), "classifier": model.classifier, "info": model.info}
    path = Path(path)
    with atomic_path(path) as tmp:
        sio.dump(state, tmp)
    return path


def model_path(model: str | Path) -> Path:
    model = Path(model)
    return model / MODEL_NAME if model.is_dir() else model


def load_model(model: str | Path) -> BaselineModel:
    """Read ``model_best.skops`` (or a folder holding it), trusting scikit-learn and numpy types only."""
    import skops.io as sio

    path = model_path(model)
    if not path.is_file():
        raise BaselineModelError(f"{path}: saved baseline not found")
    try:
        untrusted = sio.get_untrusted_types(file=path)
        if untrusted:
            raise BaselineModelError(f"{path}: holds types specct does not load ({', '.join(untrusted[:3])})")
        state = sio.load(path, trusted=[])
    except BaselineModelError:
        raise
    except Exception as exc:  # skops raises several types for damaged files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise BaselineModelError(f"{path}: corrupt or unreadable baseline ({type(exc).__name__}: {first})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise BaselineModelError(f"{path}: not a specct baseline")
    problem = state_problem(state)
    if problem:
        raise BaselineModelError(f"{path}: damaged baseline ({problem})")
    f = state["features"]
    spec = FeatureSpec(f["kind"], f.get("source"), f.get("layer"), f.get("input"),
                       None if f.get("precision") in (None, "float32") else f.get("precision"))
    return BaselineModel(state["model_name"], list(state["class_names"]), spec,
                         FeatureScaler.from_state(state["scaling"]), state["classifier"], state.get("info", {}))


REQUIRED_KEYS = ("model_name", "class_names", "features", "scaling", "classifier")


def state_problem(state: dict) -> str | None:
    """What makes a loaded baseline unusable, or None: a key missing, or class names that do not
    cover every class its classifier can answer."""
    missing = [key for key in REQUIRED_KEYS if key not in state]
    if missing:
        return f"no {', '.join(missing)}"
    names, classifier = state["class_names"], state["classifier"]
    if not isinstance(names, (list, tuple)) or len(names) < 2 or not all(isinstance(n, str) for n in names):
        return f"class_names {names!r} is not a list of two or more names"
    if not isinstance(state["features"], dict) or "kind" not in state["features"]:
        return "its features do not say their kind"
    if not isinstance(state["scaling"], dict) or not {"mode", "mean", "scale"} <= set(state["scaling"]):
        return "its scaling lacks mode, mean or scale"
    if not isinstance(classifier, dict) or classifier.get("kind") not in ("sklearn", "torch_head"):
        return "its classifier is neither a scikit-learn estimator nor a torch head"
    if classifier["kind"] == "sklearn":   # an estimator may know fewer classes (none of some in training), never more
        classes = getattr(classifier.get("estimator"), "classes_", None)
        if classes is not None and (len(classes) > len(names)
                                    or not np.issubdtype(np.asarray(classes).dtype, np.integer)
                                    or int(np.max(classes)) >= len(names)):
            return f"{len(names)} class names but a classifier of classes {[int(c) for c in classes]}"
        return None
    if not isinstance(classifier.get("state"), dict):
        return "its torch head has no weights"
    answered = (classifier.get("config") or {}).get("num_classes")
    if answered is not None and int(answered) != len(names):
        return f"{len(names)} class names but a classifier of {answered} classes"
    return None
