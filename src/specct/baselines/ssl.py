"""Frozen self-supervised speech models (wav2vec2, HuBERT, WavLM) as utterance feature extractors.

The model and its feature extractor come from ``transformers`` (``AutoModel``,
``AutoFeatureExtractor``), from a hub name when online or a local directory (what
``save_pretrained`` writes) when offline. The vector of one utterance is, for the chosen layer, the
mean and the standard deviation over time of its hidden states, concatenated (2 x hidden size);
``layer="all"`` keeps every layer (layers x 2 x hidden), for a head that learns a weighted sum of
them. Layer 0 is the output of the convolutional feature encoder after projection, layer k the
output of transformer block k. Inference only: the model is frozen and never fine-tuned.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..audio import loading as audio
from ..core.errors import InputError, MissingInputError

HOW_TO_GIVE_A_DIRECTORY = ("download it where there is network (huggingface-cli download <name> --local-dir DIR, "
                           "or save_pretrained) and give --features ssl:DIR")


def _offline_default() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes") or \
        os.environ.get("TRANSFORMERS_OFFLINE", "").lower() in ("1", "true", "yes")


def load_ssl_model(source: str, offline: bool | None = None, cache_dir: str | Path | None = None):
    """``(feature_extractor, model)`` of a hub name or a local directory, frozen and in eval mode."""
    try:
        from transformers import AutoFeatureExtractor, AutoModel
    except ImportError:
        raise InputError("SSL features need the transformers package: pip install 'specct[ssl]'") from None
    offline = _offline_default() if offline is None else offline
    path = Path(source).expanduser()
    local = source.startswith(("/", ".", "~")) or path.exists()
    if local:
        if not path.is_dir():
            raise MissingInputError(f"{source}: SSL model directory not found; give --features ssl:DIR with a "
                                    f"directory holding config.json, the weights and preprocessor_config.json")
        if not (path / "config.json").is_file():
            raise MissingInputError(f"{path}: no config.json, not a saved model directory; give --features "
                                    f"ssl:DIR with what save_pretrained writes")
    kwargs = {"local_files_only": bool(offline and not local)}
    if cache_dir is not None:
        kwargs["cache_dir"] = str(cache_dir)
    try:
        model = AutoModel.from_pretrained(str(path) if local else source, **kwargs)
        try:
            extractor = AutoFeatureExtractor.from_pretrained(str(path) if local else source, **kwargs)
        except (OSError, ValueError):
            from transformers import Wav2Vec2FeatureExtractor

            # a directory with the model alone: wav2vec2's defaults (16 kHz, normalised input)
            extractor = Wav2Vec2FeatureExtractor(sampling_rate=audio.DEFAULT_SR, do_normalize=True)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if local:
            raise InputError(f"{path}: cannot load the SSL model ({first})") from None
        raise MissingInputError(f"{source}: SSL model weights not available{' offline' if offline else ''} "
                                f"({first[:120]}); {HOW_TO_GIVE_A_DIRECTORY}") from None
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return extractor, model


class SSLExtractor:
    """Mean and std pooled hidden states of one layer (or all layers) of a frozen SSL model."""

    def __init__(self, source: str, layer: int | str = "all", device: str = "cpu", offline: bool | None = None,
                 cache_dir: str | Path | None = None):
        import torch

        self.source = str(source)
        self.layer = layer
        self.device = torch.device(device)
        self.processor, self.model = load_ssl_model(self.source, offline, cache_dir)
        self.model.to(self.device)
        config = self.model.config
        self.num_layers = int(config.num_hidden_layers) + 1
        self.hidden_size = int(config.hidden_size)
        if layer != "all" and not 0 <= int(layer) < self.num_layers:
            raise InputError(f"--layer {layer}: {self.source} has layers 0-{self.num_layers - 1}")
        width = 2 * self.hidden_size
        self.feature_names = [f"{stat}_{i}" for stat in ("mean", "std") for i in range(self.hidden_size)]
        self.shape = (self.num_layers, width) if layer == "all" else (width,)
        self.meta = {"ssl_model_type": str(config.model_type), "ssl_layers": self.num_layers,
                     "ssl_hidden_size": self.hidden_size}

    def __call__(self, signal: np.ndarray, sr: int = audio.DEFAULT_SR) -> np.ndarray:
        import torch

        inputs = self.processor(np.asarray(signal, dtype=np.float32), sampling_rate=sr, return_tensors="pt")
        with torch.inference_mode():
            out = self.model(inputs["input_values"].to(self.device), output_hidden_states=True)
        states = torch.stack(out.hidden_states)[:, 0].float()           # (layers, T, H)
        pooled = torch.cat([states.mean(dim=1), states.std(dim=1, unbiased=False)], dim=-1)  # (layers, 2H)
        pooled = pooled.cpu().numpy().astype(np.float32)
        return pooled if self.layer == "all" else pooled[int(self.layer)]
