"""Whisper's encoder as a frozen utterance feature extractor, with every layer pooled at once.

Sources (``--features whisper:<source>``):

- a hub name (``openai/whisper-base``): ``transformers``' ``WhisperFeatureExtractor`` and the
  encoder of ``WhisperModel``, downloaded where there is network;
- a folder ``save_pretrained`` wrote (a ``WhisperModel``, ``WhisperForConditionalGeneration`` or
  ``WhisperEncoder``);
- a CTranslate2 / faster-whisper folder (``config.json`` + ``model.bin``, what ``make weights``
  fetches): ``model.bin`` is read by :mod:`specct.baselines.ct2_file`, its encoder weights are loaded
  into ``transformers``' ``WhisperEncoder`` with a strict load (every weight filled, nothing left
  over), once, and the result is cached as a ``save_pretrained`` folder under
  ``<cache>/whisper-encoders/<sha256 of model.bin>``, so later runs load it directly.

Without a source (``--features whisper``) the folder ``make weights`` fills is used:
``~/.cache/specct/whisper-base`` (``$SPECCT_CACHE/whisper-base`` when ``SPECCT_CACHE`` is set).

Layers: 0 is the input of the first block (convolutions + positions), k the output of block k, and
the last one has the encoder's final layer norm applied (as ``output_hidden_states`` numbers them).
The vector of an utterance is, per layer, the mean and standard deviation over the frames that
hold audio: (layers, 2 x hidden) in one pass, so choosing a layer never re-extracts.

Input: ``real`` (default) cuts the log-mel to the audio's own length and the positional table to
as many frames, so the cost follows the audio; ``padded`` gives the encoder the 30-s window it was
trained on (silence after the audio) and pools the frames of the audio only. Audio longer than
30 s is cut to its first 30 s in both. The features stage passes 8 clips at a time through the
encoder, zero-padded and masked so that each gives what it gives alone; ``precision`` bfloat16 runs
the encoder under autocast (a cache of its own, see :mod:`specct.baselines.features`).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..audio import loading as audio
from ..core.errors import InputError, MissingInputError, SpecctError
from .ct2_file import CT2FileError, read_ct2_model

INPUTS = ("real", "padded")
PRECISIONS = ("float32", "bfloat16")   # bfloat16: autocast, about 2.3x the files per CPU second (docs/baselines.md)
CACHE_ENV = "SPECCT_CACHE"
DEFAULT_FOLDER = "whisper-base"
CHECKSUM_FILE = "model.bin.sha256"    # written by `make weights`; checked when present
HOW_TO_GET = "run `make weights` (or python scripts/fetch_whisper_weights.py), or give --features whisper:<folder>"


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or "~/.cache/specct").expanduser()


def default_source() -> Path:
    """The folder ``make weights`` fills with Whisper base in the CTranslate2 layout."""
    return cache_root() / DEFAULT_FOLDER


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_local(source: str) -> bool:
    return source.startswith(("/", ".", "~")) or Path(source).expanduser().exists()


# --------------------------------------------------------------------------- CTranslate2 -> transformers

def _require_transformers():
    try:
        import transformers  # noqa: F401
    except ImportError:
        raise InputError("Whisper features need the transformers package: pip install 'specct[ssl]'") from None


def encoder_state_from_ct2(variables: dict[str, np.ndarray], float_weight) -> tuple[dict, dict]:
    """``(config values, state dict)`` of ``WhisperEncoder`` from CTranslate2's encoder variables.

    CTranslate2 fuses the self-attention's query, key and value projections into one ``linear_0``
    (rows q, k, v; the key has no bias in Whisper, stored as zeros) and names layer norms
    ``gamma``/``beta``; everything else maps one to one. Raises KeyError naming a missing variable.
    """
    import torch

    def weight(name):
        used.add(name)
        used.add(f"{name}_scale")
        return torch.from_numpy(np.ascontiguousarray(float_weight(name)))

    used: set[str] = {"encoder/num_heads"}
    conv1 = variables["encoder/conv1/weight"]
    d_model, mel_bins = int(conv1.shape[0]), int(conv1.shape[1])
    layers = 0
    while f"encoder/layer_{layers}/ffn/linear_0/weight" in variables:
        layers += 1
    config = {"d_model": d_model, "num_mel_bins": mel_bins, "encoder_layers": layers,
              "encoder_attention_heads": int(variables["encoder/num_heads"]),
              "encoder_ffn_dim": int(variables["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
              "max_source_positions": int(variables["encoder/position_encodings/encodings"].shape[0])}
    state = {}
    for conv in ("conv1", "conv2"):
        state[f"{conv}.weight"] = weight(f"encoder/{conv}/weight")
        state[f"{conv}.bias"] = weight(f"encoder/{conv}/bias")
    state["embed_positions.weight"] = weight("encoder/position_encodings/encodings")
    state["layer_norm.weight"] = weight("encoder/layer_norm/gamma")
    state["layer_norm.bias"] = weight("encoder/layer_norm/beta")
    for i in range(layers):
        ct2, hf = f"encoder/layer_{i}", f"layers.{i}"
        q, k, v = weight(f"{ct2}/self_attention/linear_0/weight").split(d_model)
        qb, kb, vb = weight(f"{ct2}/self_attention/linear_0/bias").split(d_model)
        if kb.abs().max() > 0:
            raise KeyError(f"{ct2}/self_attention/linear_0/bias (a non-zero key bias: not a Whisper encoder)")
        pairs = {"self_attn.q_proj.weight": q, "self_attn.q_proj.bias": qb, "self_attn.k_proj.weight": k,
                 "self_attn.v_proj.weight": v, "self_attn.v_proj.bias": vb,
                 "self_attn.out_proj.weight": weight(f"{ct2}/self_attention/linear_1/weight"),
                 "self_attn.out_proj.bias": weight(f"{ct2}/self_attention/linear_1/bias"),
                 "self_attn_layer_norm.weight": weight(f"{ct2}/self_attention/layer_norm/gamma"),
                 "self_attn_layer_norm.bias": weight(f"{ct2}/self_attention/layer_norm/beta"),
                 "fc1.weight": weight(f"{ct2}/ffn/linear_0/weight"), "fc1.bias": weight(f"{ct2}/ffn/linear_0/bias"),
                 "fc2.weight": weight(f"{ct2}/ffn/linear_1/weight"), "fc2.bias": weight(f"{ct2}/ffn/linear_1/bias"),
                 "final_layer_norm.weight": weight(f"{ct2}/ffn/layer_norm/gamma"),
                 "final_layer_norm.bias": weight(f"{ct2}/ffn/layer_norm/beta")}
        state.update({f"{hf}.{key}": value for key, value in pairs.items()})
    left = sorted(n for n in variables if n.startswith("encoder/") and n not in used)
    if left:   # strict in both directions: no encoder weight of the file goes unread
        raise KeyError(f"{left[0]} (an encoder variable the Whisper encoder has no place for)")
    return config, state


def encoder_from_ct2(folder: Path):
    """``transformers``' ``WhisperEncoder`` holding the encoder weights of a CTranslate2 folder."""
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    model_bin = folder / "model.bin"
    model = read_ct2_model(model_bin)
    if model.spec != "WhisperSpec":
        raise InputError(f"{model_bin}: a CTranslate2 {model.spec}, not a Whisper model")
    try:
        values, state = encoder_state_from_ct2(model.variables, model.float_weight)
    except KeyError as missing:
        raise InputError(f"{model_bin}: not a Whisper encoder CTranslate2 can write (no {missing.args[0]})") from None
    config = WhisperConfig(**values, encoder_layerdrop=0.0, dropout=0.0)
    encoder = WhisperEncoder(config)
    try:
        encoder.load_state_dict(state, strict=True)
    except RuntimeError as exc:   # a key missing or left over, or a shape that differs
        first = str(exc).strip().splitlines()[1 if len(str(exc).strip().splitlines()) > 1 else 0].strip()
        raise InputError(f"{model_bin}: the encoder weights do not fit transformers' WhisperEncoder ({first[:160]})") \
            from None
    return encoder.eval()


def check_checksum(folder: Path) -> str:
    """The sha256 of ``model.bin``; a ``model.bin.sha256`` beside it (from ``make weights``) must agree."""
    model_bin = folder / "model.bin"
    checksum = file_sha256(model_bin)
    recorded = folder / CHECKSUM_FILE
    if recorded.is_file():
        words = recorded.read_text().split()   # "<sha256>  model.bin", as sha256sum writes it
        expected = words[0].lower() if words else ""
        if checksum != expected:
            raise InputError(f"{model_bin}: sha256 {checksum[:16]}... differs from {recorded.name} "
                             f"({expected[:16]}...); the file is damaged, fetch it again ({HOW_TO_GET})")
    return checksum


def converted_folder(folder: Path) -> Path:
    """The ``save_pretrained`` folder of a CTranslate2 folder's encoder, converted on first use."""
    from transformers import WhisperFeatureExtractor

    checksum = check_checksum(folder)
    target = cache_root() / "whisper-encoders" / checksum
    if (target / "config.json").is_file():
        return target
    encoder = encoder_from_ct2(folder)
    preprocessor = folder / "preprocessor_config.json"
    extractor = (WhisperFeatureExtractor.from_pretrained(str(folder)) if preprocessor.is_file()
                 else WhisperFeatureExtractor(feature_size=encoder.config.num_mel_bins))
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{checksum[:12]}-"))
    try:   # written beside, then renamed: a killed conversion leaves no half folder under the final name
        encoder.save_pretrained(str(staging))
        extractor.save_pretrained(str(staging))
        (staging / "specct_source.json").write_text(json.dumps(
            {"converted_from": str(folder), "model_bin_sha256": checksum}, indent=1) + "\n")
        staging.rename(target)
    except OSError:
        if not (target / "config.json").is_file():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


# --------------------------------------------------------------------------- loading

@contextmanager
def quiet_transformers():
    """No progress bars of transformers' own while a model loads or saves (the stage has its own bar)."""
    from transformers.utils import logging

    was = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            logging.enable_progress_bar()


def _load_saved(path: Path, offline: bool, local: bool, name: str):
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    kwargs = {"local_files_only": bool(offline and not local)}
    config = WhisperConfig.from_pretrained(name, **kwargs)
    if getattr(config, "model_type", "") != "whisper":
        raise InputError(f"{name}: a {config.model_type} model, not Whisper; give --features ssl:{name} instead")
    if "WhisperEncoder" in (config.architectures or []):
        encoder = WhisperEncoder.from_pretrained(name, **kwargs)
    else:
        encoder = WhisperModel.from_pretrained(name, **kwargs).get_encoder()
    try:
        extractor = WhisperFeatureExtractor.from_pretrained(name, **kwargs)
    except (OSError, ValueError):   # a model saved without its feature extractor: Whisper's defaults
        extractor = WhisperFeatureExtractor(feature_size=config.num_mel_bins)
    return extractor, encoder


def load_whisper(source: str | Path | None = None, offline: bool | None = None):
    """``(WhisperFeatureExtractor, WhisperEncoder, checksum or None)`` of a source, frozen, in eval mode."""
    from .ssl import _offline_default

    _require_transformers()
    offline = _offline_default() if offline is None else offline
    source = str(source) if source else str(default_source())
    path = Path(source).expanduser()
    local = is_local(source)
    checksum = None
    if local:
        if not path.is_dir():
            raise MissingInputError(f"{path}: Whisper model folder not found; {HOW_TO_GET}")
        if (path / "model.bin").is_file():
            if not (path / "config.json").is_file():
                raise InputError(f"{path}: model.bin without config.json, not a CTranslate2 model folder")
            try:
                with quiet_transformers():
                    converted = converted_folder(path)
            except CT2FileError as exc:
                raise InputError(str(exc)) from None
            checksum = converted.name
            path = converted
        elif not (path / "config.json").is_file():
            raise InputError(f"{path}: not a Whisper model folder (neither config.json + model.bin of "
                             f"CTranslate2 nor what save_pretrained writes)")
    try:
        with quiet_transformers():
            extractor, encoder = _load_saved(path, offline, local, str(path) if local else source)
    except (OSError, ValueError) as exc:
        if isinstance(exc, SpecctError):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if local:
            raise InputError(f"{path}: cannot load the Whisper model ({first[:160]})") from None
        raise MissingInputError(f"{source}: Whisper weights not available{' offline' if offline else ''} "
                                f"({first[:120]}); {HOW_TO_GET}") from None
    encoder.eval()
    for parameter in encoder.parameters():
        parameter.requires_grad_(False)
    return extractor, encoder, checksum


# --------------------------------------------------------------------------- the forward pass

def encoder_layers(encoder, mel, mel_frames=None, upto: int | None = None):
    """Every layer's hidden states (layers, batch, frames, hidden) of a log-mel batch of any length;
    with ``upto``, layers 0 to ``upto`` only (the blocks above it are not run: what a fine-tuning caches).

    The encoder's own modules in the order of its forward, with the positional table cut to the
    frames the convolutions give (``WhisperEncoder.forward`` itself accepts the 30-s window only).
    ``mel_frames``: each clip's own mel length in a zero-padded batch; what lies beyond it is zeroed
    before each convolution and masked out of the attention, so a clip gives in a batch the frames it
    gives alone.
    """
    import torch
    from torch.nn import functional as F

    mask = None
    if mel_frames is not None and min(mel_frames) < mel.shape[-1]:
        lengths = torch.as_tensor(mel_frames, device=mel.device)
        keep = (torch.arange(mel.shape[-1], device=mel.device)[None] < lengths[:, None]).to(mel.dtype)[:, None]
        mel = mel * keep
        x = F.gelu(encoder.conv1(mel)) * keep
        x = F.gelu(encoder.conv2(x)).permute(0, 2, 1)
        frames = torch.arange(x.shape[1], device=mel.device)[None] < ((lengths + 1) // 2)[:, None]
        mask = torch.zeros(frames.shape, dtype=x.dtype, device=mel.device).masked_fill(
            ~frames, torch.finfo(x.dtype).min)[:, None, None, :]       # (batch, 1, 1, keys)
    else:
        x = F.gelu(encoder.conv2(F.gelu(encoder.conv1(mel)))).permute(0, 2, 1)
    x = x + encoder.embed_positions.weight[:x.shape[1]]
    states = [x]
    blocks = encoder.layers if upto is None else encoder.layers[:upto]
    for block in blocks:
        x = block(x, mask)
        states.append(x)
    if len(blocks) == len(encoder.layers):
        states[-1] = encoder.layer_norm(x)
    return torch.stack(states)


def torch_pool_frames(steps, pool: int):
    """Means of each ``pool`` neighbouring frames of (T, ...) states; a shorter last group is its own mean."""
    from torch.nn import functional as F

    flat = steps.reshape(steps.shape[0], -1).T[None]                      # (1, features, T)
    pooled = F.avg_pool1d(flat, pool, pool, ceil_mode=True)                 # ceil: the odd last frame kept
    return pooled[0].T.reshape(-1, *steps.shape[1:])


class WhisperExtractor:
    """Mean and std over the audio's frames of every layer of a frozen Whisper encoder: (layers, 2 x hidden).

    ``prepare`` (the log-mel of one signal) and ``pool`` (the encoder over a batch of them) are the two
    steps of the shared vector loop; calling the extractor does both for one signal.
    """
    batch_size = 8   # clips per encoder pass in the features stage

    def __init__(self, source: str | Path | None = None, input: str = "real", device: str = "cpu",
                 offline: bool | None = None, threads: int | None = None, precision: str = "float32"):
        import torch

        if input not in INPUTS:
            raise InputError(f"--whisper_input {input!r}: choose {' or '.join(INPUTS)}")
        if precision not in PRECISIONS:
            raise InputError(f"--whisper_precision {precision!r}: choose {' or '.join(PRECISIONS)}")
        self.precision = precision
        self.source, self.input = str(source or default_source()), input
        self.threads = threads   # None: specct.core.threads.default_threads(), headroom on a shared machine
        self.device = torch.device(device)
        self.processor, self.encoder, checksum = load_whisper(source, offline)
        self.encoder.to(self.device)
        config = self.encoder.config
        self.num_layers = int(config.encoder_layers) + 1
        self.hidden_size = int(config.d_model)
        self.max_samples = int(self.processor.n_samples)
        self.hop = int(self.processor.hop_length)
        self.feature_names = [f"{stat}_{i}" for stat in ("mean", "std") for i in range(self.hidden_size)]
        self.shape = (self.num_layers, 2 * self.hidden_size)
        self.meta = {"whisper_input": input, "whisper_precision": precision, "whisper_layers": self.num_layers,
                     "whisper_hidden_size": self.hidden_size,
                     **({"whisper_model_bin_sha256": checksum} if checksum else {})}

    def mel(self, signal: np.ndarray, sr: int = audio.DEFAULT_SR):
        """The log-mel input (1, mels, frames) and how many encoder frames hold audio."""
        signal = np.asarray(signal, dtype=np.float32)[:self.max_samples]
        padding = "max_length" if self.input == "padded" else "longest"
        inputs = self.processor(signal, sampling_rate=sr, return_tensors="pt", padding=padding)
        real = max(1, -(-(len(signal) // self.hop) // 2))   # the convolutions halve the mel frames, rounding up
        return inputs["input_features"], real

    def prepare(self, signal: np.ndarray):
        mel, real = self.mel(signal)
        return mel[0], real

    def audio_states(self, prepared: list, upto: int | None = None) -> list:
        """Every layer's hidden states over each clip's audio frames (layers, frames, hidden), float32
        tensors, for a batch of prepared clips (one encoder pass); with ``upto``, layers 0 to ``upto``."""
        import torch

        from ..core.precision import autocast
        from ..core.threads import torch_threads

        mels = [mel for mel, _ in prepared]
        frames = [mel.shape[-1] for mel in mels]
        batch = torch.zeros(len(mels), mels[0].shape[0], max(frames))
        for i, mel in enumerate(mels):
            batch[i, :, :frames[i]] = mel
        with torch.inference_mode(), torch_threads(self.threads), autocast(self.device.type, self.precision):
            states = encoder_layers(self.encoder, batch.to(self.device), frames, upto).float()   # (layers, B, T, H)
        return [states[:, i, :real] for i, (_, real) in enumerate(prepared)]

    def pool(self, prepared: list) -> list[np.ndarray]:
        """Every layer's mean and std over each clip's audio frames, for a batch of prepared clips."""
        import torch

        return [torch.cat([mine.mean(dim=1), mine.std(dim=1, unbiased=False)], dim=-1).cpu().numpy().astype(np.float32)
                for mine in self.audio_states(prepared)]

    def frames(self, prepared: list, pool: int = 1, layer: int | None = None) -> list[np.ndarray]:
        """Every layer's frames of each clip's audio, (frames, layers, hidden) float16, each ``pool``
        neighbouring frames averaged (the last group may be shorter); with ``layer``, that layer alone
        (frames, 1, hidden), the blocks above it not run."""
        out = []
        for mine in self.audio_states(prepared, layer):
            steps = (mine if layer is None else mine[layer:layer + 1]).permute(1, 0, 2)   # (T, layers, hidden)
            if pool > 1:
                steps = torch_pool_frames(steps, pool)
            out.append(steps.cpu().numpy().astype(np.float16))
        return out

    def __call__(self, signal: np.ndarray, sr: int = audio.DEFAULT_SR) -> np.ndarray:
        if sr != audio.DEFAULT_SR:
            raise InputError(f"Whisper needs {audio.DEFAULT_SR} Hz audio, got {sr} Hz")
        return self.pool([self.prepare(signal)])[0]
