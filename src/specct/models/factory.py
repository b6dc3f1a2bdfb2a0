"""Creating models: for training, and again from a checkpoint.

One place decides three things about a model name:

- how to build it: a registered timm name (`import specct.models` registers every family), or
  `speaker_<timm name>` for any other image model, wrapped in the speaker fusion
  (`speaker_resnet18`; `fusion=concat` among the model kwargs picks the concatenation);
- whether it takes a speaker vector: the model's `takes_speaker` attribute (speaker_fusion's
  SpeakerInput sets it; every other model lacks it and takes an image only);
- which arguments it accepts: training offers `img_size`, `drop_rate`, `drop_path_rate` and the
  speaker widths, and passes only those the model's constructor takes (timm's ResNet, for
  one, has no `img_size`: it reads any size).

To learn the last two before building the real model (the speaker widths come from the split's
PCA, needed only by speaker models), `model_traits` builds the named model once with its
defaults and reads its class; the answer is cached per process.
"""
from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, FrozenSet, Optional, Tuple

import torch.nn as nn

from ..core.errors import InputError, MissingInputError
from .speaker_fusion import SPEAKER_PREFIX, speaker_model

__all__ = ['create_model', 'takes_speaker', 'model_traits', 'ModelTraits', 'accepted_kwargs',
           'create_for_training', 'model_from_checkpoint', 'wrapped_name']


def wrapped_name(name: str) -> Optional[str]:
    """`speaker_resnet18` -> `resnet18` when the name is not registered itself but its remainder is;
    None otherwise (registered names, the speaker CCTs and `speaker_<family>` included, win)."""
    import timm

    if timm.is_model(name) or not name.startswith(SPEAKER_PREFIX):
        return None
    base = name[len(SPEAKER_PREFIX):]
    return base if timm.is_model(base) else None


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """`timm.create_model` that also knows the `speaker_<timm name>` pattern."""
    import timm

    from . import cct  # noqa: F401  (importing the package registers every family)

    base = wrapped_name(name)
    if base is not None:
        return speaker_model(base, **kwargs)
    if not timm.is_model(name):
        raise InputError(f'unknown model {name!r}: not a registered timm name, nor speaker_<registered name> '
                         '(see Variants.md)')
    return timm.create_model(name, **kwargs)


def takes_speaker(model: nn.Module) -> bool:
    """Whether `model` is called as `model((image, speaker_vector))`: stated by the model itself."""
    return bool(getattr(model, 'takes_speaker', False))


def accepted_kwargs(model: nn.Module) -> Optional[FrozenSet[str]]:
    """Constructor arguments of `model`'s class (following `**kwargs` up the classes it passes
    them to) and of its `backbone`, if it wraps one; None when they cannot be told (anything goes)."""
    names: set = set()
    open_ended = True
    for cls in type(model).__mro__:
        init = cls.__dict__.get('__init__')
        if init is None or cls is nn.Module:
            continue
        params = inspect.signature(init).parameters
        names |= {n for n, p in params.items() if n != 'self' and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            open_ended = False
            break
    backbone = getattr(model, 'backbone', None)
    if isinstance(backbone, nn.Module):
        inner = accepted_kwargs(backbone)
        return None if inner is None else frozenset(names | inner)
    return None if open_ended else frozenset(names)


@dataclass(frozen=True)
class ModelTraits:
    takes_speaker: bool
    accepted: Optional[FrozenSet[str]]   # None: the constructor takes any keyword

    def accepts(self, key: str) -> bool:
        return self.accepted is None or key in self.accepted


@functools.lru_cache(maxsize=None)
def model_traits(name: str) -> ModelTraits:
    """What `name` builds, read from one default instance (cached)."""
    import torch

    state = torch.get_rng_state()  # the probe must not shift the seeded initial weights
    try:
        model = create_model(name, pretrained=False)
    finally:
        torch.set_rng_state(state)
    return ModelTraits(takes_speaker(model), accepted_kwargs(model))


def fit_kwargs(name: str, offered: Dict[str, Any]) -> Tuple[Dict[str, Any], list]:
    """The offered arguments the model accepts, and the names of those it does not."""
    traits = model_traits(name)
    kept = {k: v for k, v in offered.items() if traits.accepts(k)}
    return kept, sorted(set(offered) - set(kept))


def create_for_training(
        name: str,
        num_classes: int,
        *,
        img_size: Optional[Tuple[int, int]] = None,
        drop_rate: Optional[float] = None,
        drop_path_rate: Optional[float] = None,
        model_kwargs: Optional[Dict[str, Any]] = None,
        speaker_pca=None,
        speaker_width: Optional[int] = None,
        pretrained: bool = False,
        pretrained_path: Optional[str] = None,
) -> Tuple[nn.Module, Dict[str, Any], list]:
    """Build `name` for a training run; returns `(model, model_kwargs, ignored)`.

    `model_kwargs` (the checkpoint's record) rebuild the same architecture with
    `model_from_checkpoint`. Offered settings the model does not accept (`img_size` for timm's
    ResNet, say) are left out and named in `ignored`; explicit `model_kwargs` pass as given.
    For a speaker model, `speaker_pca` (an object with `mean` (raw,) and `components`
    (k, raw)) is held by the model, or else vectors of `speaker_width` are fed as they are.
    """
    offered: Dict[str, Any] = {}
    if img_size is not None:
        offered['img_size'] = tuple(int(v) for v in img_size)
    if drop_rate is not None:
        offered['drop_rate'] = drop_rate
    if drop_path_rate is not None:
        offered['drop_path_rate'] = drop_path_rate
    speaker = model_traits(name).takes_speaker
    if speaker:
        if speaker_pca is not None:
            offered.update(speaker_dim=int(speaker_pca.components.shape[0]),
                           speaker_raw_dim=int(speaker_pca.components.shape[1]))
        elif speaker_width is not None:
            offered['speaker_dim'] = int(speaker_width)
    kwargs, ignored = fit_kwargs(name, offered)
    kwargs = {'num_classes': num_classes, **kwargs, **(model_kwargs or {})}
    extra: Dict[str, Any] = {}
    if pretrained:
        extra['pretrained'] = True
        if pretrained_path:
            if not Path(pretrained_path).is_file():
                raise MissingInputError(f'{pretrained_path}: pretrained weights file not found')
            extra['pretrained_cfg_overlay'] = {'file': str(pretrained_path)}
    model = create_model(name, **kwargs, **extra)
    if speaker and speaker_pca is not None:
        import torch

        model.attach_speaker_pca(torch.as_tensor(speaker_pca.mean), torch.as_tensor(speaker_pca.components))
    if 'img_size' in kwargs and isinstance(kwargs['img_size'], tuple):
        kwargs['img_size'] = list(kwargs['img_size'])  # checkpoints hold plain lists
    return model, kwargs, ignored


def model_from_checkpoint(state: Dict[str, Any], use_ema: bool = True) -> nn.Module:
    """Rebuild the model of a checkpoint and load its weights (EMA weights when saved and wanted).

    The checkpoint's `takes_speaker` (absent in checkpoints written before it existed) must
    agree with the rebuilt model."""
    from ..core.checkpoint import CheckpointError

    kwargs = dict(state['model_kwargs'])
    if isinstance(kwargs.get('img_size'), list):
        kwargs['img_size'] = tuple(kwargs['img_size'])
    model = create_model(state['model_name'], pretrained=False, **kwargs)
    weights = state.get('state_dict_ema') if use_ema and state.get('state_dict_ema') is not None \
        else state['state_dict']
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint weights do not fit {state['model_name']}: "
                              f"{str(exc).splitlines()[0]}") from exc
    if 'takes_speaker' in state and bool(state['takes_speaker']) != takes_speaker(model):
        raise CheckpointError(f"checkpoint says takes_speaker={state['takes_speaker']}, "
                              f"but {state['model_name']} {'does' if takes_speaker(model) else 'does not'}")
    return model.eval()
