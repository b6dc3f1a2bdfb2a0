"""The per-utterance vector a speaker-fused network takes (``--vector``).

- ``speaker`` (default): the resemblyzer speaker vector (:mod:`specct.data.speaker`), reduced by the split's
  ``pca.npz``, as before the flag existed;
- ``whisper:<source>:<layer>`` (``whisper:<layer>``: the ``make weights`` model): one layer of the
  pooled Whisper vectors (mean and standard deviation over the frames), read from the cache that
  ``--features whisper`` fills (:mod:`specct.baselines.features`), with ``--whisper_input`` and
  ``--whisper_precision`` choosing which cache;
- ``speaker+whisper:<source>:<layer>``: both, concatenated (speaker first).

Any vector but ``speaker`` gets a PCA fitted here on the training rows (each wav once; on the training
+ validation rows for a refit), with the split's number of components, capped by the width and by the
split's training wavs so that the refit keeps the model's shape. Each block (speaker, Whisper) is first
scaled to unit total variance on those rows, so neither outweighs the other through its units (Whisper's
states are orders of magnitude larger than the unit-norm speaker vectors); the scale is folded into the
PCA's mean and components, so the model holds it as it holds any PCA and takes the raw concatenation.

The checkpoint records the vector (``vector``); one without it (older) takes ``speaker``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..core.errors import InputError, MissingInputError, SpecctError

DEFAULT = "speaker"
FORMS = "speaker, whisper:<source>:<layer> or speaker+whisper:<source>:<layer>"


@dataclass(frozen=True)
class FusionVector:
    """Which blocks the vector holds: the speaker vector and/or one layer of a Whisper cache."""
    speaker: bool = True
    whisper: object = None   # a FeatureSpec of kind whisper with one layer, or None

    @property
    def is_default(self) -> bool:
        return self.speaker and self.whisper is None

    @property
    def text(self) -> str:
        """The ``--vector`` value that names this vector."""
        parts = ["speaker"] if self.speaker else []
        if self.whisper is not None:
            source = f"{self.whisper.source}:" if self.whisper.source else ""
            parts.append(f"whisper:{source}{self.whisper.layer}")
        return "+".join(parts)

    @property
    def slug(self) -> str:
        """A file-name-safe name: ``speaker``, ``whisper_<model>_<input>_layer<N>``, ``speaker+...``."""
        parts = ["speaker"] if self.speaker else []
        if self.whisper is not None:
            parts.append(f"{self.whisper.name}_layer{self.whisper.layer}")
        return "+".join(parts)

    def record(self) -> dict:
        """What the checkpoint keeps to build the same vector for new audio."""
        if self.whisper is None:
            return {"vector": self.text}
        return {"vector": self.text, "whisper_input": self.whisper.input or "real",
                "whisper_precision": self.whisper.precision or "float32", "whisper_cache": self.whisper.name}

    # ----------------------------------------------------------------------- rows of a split

    def rows(self, frame) -> np.ndarray:
        """The raw vector of each row's source wav (N x D float32), from the caches."""
        from ..data import split_rows as split_data

        blocks = [split_data.raw_speaker_vectors(frame)] if self.speaker else []
        if self.whisper is not None:
            blocks.append(self.whisper_rows(list(frame["wav"])))
        return blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=1).astype(np.float32)

    def whisper_rows(self, wavs: Sequence) -> np.ndarray:
        from ..baselines.features import features_for_wavs

        try:
            return np.asarray(features_for_wavs(wavs, self.whisper), dtype=np.float32)
        except SpecctError as exc:   # a cache missing or damaged: say which flag asked for it
            raise type(exc)(f"--vector {self.text}: {exc}{self.weights_hint()}") from None

    def weights_hint(self) -> str:
        """Where the cache is missing because the weights are: say how to get them."""
        from pathlib import Path

        from ..baselines.whisper import default_source, is_local

        folder = str(self.whisper.source or default_source())
        if is_local(folder) and not Path(folder).expanduser().is_dir():
            return f"; the Whisper weights are not at {folder} either: run `make weights`"
        return ""

    def block_widths(self, width: int) -> list[int]:
        """The widths of the blocks of a raw vector of ``width`` values (speaker first)."""
        from ..data.speaker import EMBEDDING_DIM

        if self.whisper is None:
            return [width]
        return [EMBEDDING_DIM, width - EMBEDDING_DIM] if self.speaker else [width]

    def fit_pca(self, frame, vectors: np.ndarray, n_components: int, train_wavs: int):
        """The PCA of a non-default vector on ``frame``'s rows (each wav once), each block scaled to unit
        total variance first; the scale folded into the returned mean and components."""
        from ..data.speaker import SpeakerPCA, fit_pca

        _, first = np.unique(frame["wav"].to_numpy(), return_index=True)
        once = np.asarray(vectors[first], dtype=np.float64)
        scale, start = np.ones(once.shape[1]), 0
        for width in self.block_widths(once.shape[1]):
            total = once[:, start:start + width].var(axis=0).sum()
            scale[start:start + width] = 1.0 / np.sqrt(total) if total > 0 else 1.0
            start += width
        k = min(int(n_components), once.shape[1], int(train_wavs))
        pca = fit_pca(once * scale, k, sorted(set(frame["corpus"])))
        return SpeakerPCA(mean=(pca.mean / scale).astype(np.float32),
                          components=(pca.components * scale).astype(np.float32),
                          corpora=pca.corpora, explained_variance_ratio=pca.explained_variance_ratio)

    # ----------------------------------------------------------------------- new audio

    def extractor(self, device: str = "cpu"):
        """The Whisper encoder that pools new audio as the cache was made; None for ``speaker``."""
        if self.whisper is None:
            return None
        from ..baselines.whisper import WhisperExtractor

        try:
            return WhisperExtractor(self.whisper.source, self.whisper.input or "real", device=device,
                                    precision=self.whisper.precision or "float32")
        except MissingInputError as exc:
            where = self.whisper.source or "the `make weights` folder"
            raise MissingInputError(f"--vector {self.text}: no Whisper weights at {where} (run `make weights`, "
                                    f"or give --vector whisper:<folder>:<layer>; {exc})") from None
        except SpecctError as exc:
            raise type(exc)(f"--vector {self.text}: {exc}") from None

    def of_signals(self, signals: Sequence[np.ndarray], extractor=None, device: str = "cpu") -> np.ndarray:
        """The raw vectors (N x D) of trimmed 16 kHz signals, computed as the caches were."""
        blocks = []
        if self.speaker:
            from ..data.speaker import embed_signals

            blocks.append(np.asarray(embed_signals(signals, device), dtype=np.float32))
        if self.whisper is not None:
            extractor = extractor or self.extractor(device)
            pooled = extractor.pool([extractor.prepare(signal) for signal in signals])
            layer = int(self.whisper.layer)
            if layer >= pooled[0].shape[0]:
                raise InputError(f"--vector {self.text}: the model has layers 0-{pooled[0].shape[0] - 1}")
            blocks.append(np.stack([every[layer] for every in pooled]).astype(np.float32))
        return blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=1).astype(np.float32)


def parse_vector(text: str | None, whisper_input: str | None = None,
                 whisper_precision: str | None = None) -> FusionVector:
    """``speaker``, ``whisper:<source>:<layer>`` (or ``whisper:<layer>``) or ``speaker+whisper:...``."""
    text = str(text or DEFAULT).strip()
    if text == "speaker":
        return FusionVector()
    speaker, rest = (True, text[len("speaker+"):]) if text.startswith("speaker+") else (False, text)
    if not rest.startswith("whisper:"):
        raise InputError(f"--vector {text!r}: choose {FORMS}")
    from ..baselines.features import parse_whisper

    after = rest[len("whisper:"):]
    spec = (parse_whisper("whisper", after, whisper_input, whisper_precision) if after.isdigit()
            else parse_whisper(rest, None, whisper_input, whisper_precision))
    if spec.layer == "all":
        raise InputError(f"--vector {text!r}: name one layer, as whisper:<source>:<layer>")
    return FusionVector(speaker, spec)


def from_flags(flags) -> FusionVector:
    """The vector of train.py options (a namespace or a mapping of flags)."""
    get = flags.get if isinstance(flags, dict) else (lambda key, default=None: getattr(flags, key, default))
    return parse_vector(get("vector"), get("whisper_input"), get("whisper_precision"))


def from_checkpoint(state: dict) -> FusionVector:
    """The vector a saved model takes; ``speaker`` for a checkpoint from before ``--vector``."""
    recorded = state.get("vector") or {}
    return parse_vector(recorded.get("vector"), recorded.get("whisper_input"), recorded.get("whisper_precision"))
