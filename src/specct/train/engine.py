"""One training epoch and one pass of inference over a loader; the loop that calls them is in loop.py."""
from __future__ import annotations

import contextlib
import time

import numpy as np
import torch
import torch.nn.functional as F
from timm.utils import unwrap_model
from tqdm import tqdm

from ..core.precision import autocast
from .domain import pooled_and_logits
from .distributed import DistInfo, gather_objects, mean_across


def forward(model, images: torch.Tensor, speaker: torch.Tensor, speaker_model: bool) -> torch.Tensor:
    """Speaker models take one tuple ``(image, speaker_vector)``; image models take the image."""
    return model((images, speaker)) if speaker_model else model(images)


def batches_per_epoch(loader_batches: int, max_steps: int = 0, accum_steps: int = 1) -> int:
    """Batches one epoch reads: all of them, or enough for ``max_steps`` updates."""
    return min(loader_batches, max_steps * accum_steps) if max_steps else loader_batches


def updates_per_epoch(loader_batches: int, max_steps: int = 0, accum_steps: int = 1) -> int:
    """Optimizer updates in one epoch; a last, shorter group of batches makes one update too."""
    return -(-batches_per_epoch(loader_batches, max_steps, accum_steps) // accum_steps)


def train_one_epoch(model, loader, criterion, optimizer, *, device, speaker_model: bool, epoch: int,
                    num_epochs: int, scheduler=None, num_updates: int = 0, precision: str = "float32",
                    scaler: torch.amp.GradScaler | None = None, ema=None, mixup=None,
                    rng: np.random.Generator | None = None, specaugment=None, time_crop=None,
                    clip_grad: float | None = None,
                    max_steps: int = 0, accum_steps: int = 1, info: DistInfo = DistInfo(),
                    progress: bool = True, domain=None) -> dict:
    """Train for one epoch; returns the mean loss, throughput and the running count of updates.

    With ``accum_steps`` > 1 the gradients of that many batches are summed (each loss divided by
    the group's size) before one optimizer update, so the update is that of the larger batch;
    under DDP the gradients are exchanged only on the last batch of a group.
    """
    model.train()
    # One optimizer step for every precision: a disabled scaler passes the loss and the step through.
    scaler = scaler if scaler is not None else torch.amp.GradScaler(device.type, enabled=False)
    unwrapped = unwrap_model(model)
    num_batches = batches_per_epoch(len(loader), max_steps, accum_steps)
    last_group_start = num_batches - (num_batches % accum_steps or accum_steps)
    total_loss, total_samples = 0.0, 0
    started = time.perf_counter()
    bar = tqdm(loader, desc=f"train {epoch + 1}/{num_epochs}", leave=False, dynamic_ncols=True,
               disable=not (progress and info.is_main), total=num_batches)
    optimizer.zero_grad(set_to_none=True)
    if domain is not None:
        domain.start_epoch(epoch)
    for index, (images, speaker, targets, rows) in enumerate(bar):
        if index >= num_batches:
            break
        group_size = accum_steps if index < last_group_start else num_batches - last_group_start
        update = (index + 1) % accum_steps == 0 or index + 1 == num_batches
        images, speaker, targets = images.to(device), speaker.to(device), targets.to(device)
        loss_targets = targets
        if time_crop is not None:    # training images only, as the masks; cropped before masking
            images = time_crop(images, rng)
        if specaugment is not None:  # training images only; validation and test are never masked
            images = specaugment(images, rng)
        if mixup is not None:
            images, speaker, loss_targets = mixup(images, speaker, targets, rng)
        exchange = contextlib.nullcontext() if update or not hasattr(model, "no_sync") else model.no_sync()
        with exchange:
            with autocast(device.type, precision):
                if domain is None:
                    logits = forward(model, images, speaker, speaker_model)
                else:   # DANN: the corpus head reads the pooled features through the reversal layer
                    pooled, logits = pooled_and_logits(model, images, speaker, speaker_model)
            loss = criterion(logits.float(), loss_targets)
            if domain is not None:
                domains = domain.domains[rows].to(device)
                if domain.unlabelled is not None:   # transductive: a batch of held-out rows, corpus head only
                    other_images, other_speaker = domain.next_unlabelled()
                    with autocast(device.type, precision):
                        other, _ = pooled_and_logits(model, other_images.to(device), other_speaker.to(device),
                                                     speaker_model)
                    pooled = torch.cat([pooled, other])
                    domains = torch.cat([domains, torch.full((len(other),), domain.unlabelled_domain,
                                                             dtype=torch.long, device=device)])
                loss = loss + domain.adversary.loss(pooled, domains, domain.scale(num_updates))
            scaled = loss / group_size
            scaler.scale(scaled).backward()
        if update:
            if clip_grad:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            num_updates += 1
            if ema is not None:
                ema.update(unwrapped, step=num_updates)
            if scheduler is not None:
                scheduler.step_update(num_updates=num_updates)
        total_loss += float(loss.detach()) * images.shape[0]
        total_samples += images.shape[0]
        elapsed = max(time.perf_counter() - started, 1e-9)
        bar.set_postfix(loss=f"{total_loss / total_samples:.4f}", samples_per_s=f"{total_samples / elapsed:.1f}")
    bar.close()
    elapsed = max(time.perf_counter() - started, 1e-9)
    mean_loss = total_loss / max(total_samples, 1)
    return {"train_loss": mean_across(mean_loss, info),
            "samples_per_s": mean_across(total_samples / elapsed, info) * info.world_size,
            "num_updates": num_updates}


@torch.no_grad()
def predict_loader(model, loader, *, device, speaker_model: bool, precision: str = "float32",
                   info: DistInfo = DistInfo(), progress: bool = True,
                   desc: str = "eval") -> tuple[np.ndarray, np.ndarray]:
    """Logits and targets for every row of the loader's dataset, in dataset order.

    Under DDP each rank sees a shard (the sampler pads it); the shards are gathered and the
    padding dropped by row index, so every rank returns the same full arrays.
    """
    model.eval()
    indices, logits_parts, target_parts = [], [], []
    bar = tqdm(loader, desc=desc, leave=False, dynamic_ncols=True, disable=not (progress and info.is_main))
    for images, speaker, targets, index in bar:
        with autocast(device.type, precision):
            logits = forward(model, images.to(device), speaker.to(device), speaker_model)
        logits_parts.append(logits.float().cpu().numpy())
        target_parts.append(targets.numpy())
        indices.append(index.numpy())
    bar.close()
    num_classes = logits_parts[0].shape[1] if logits_parts else 0
    local = (np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64),
             np.concatenate(logits_parts) if logits_parts else np.zeros((0, num_classes), np.float32),
             np.concatenate(target_parts) if target_parts else np.zeros(0, dtype=np.int64))
    parts = gather_objects(local, info)
    index = np.concatenate([p[0] for p in parts])
    logits = np.concatenate([p[1] for p in parts if len(p[0])]) if len(index) else local[1]
    targets = np.concatenate([p[2] for p in parts])
    _, first = np.unique(index, return_index=True)  # sorted unique rows; drops the sampler's padding
    return logits[first], targets[first]


def cross_entropy(logits: np.ndarray, targets: np.ndarray) -> float:
    if len(targets) == 0:
        return float("nan")
    return float(F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(targets).long()))


def softmax(logits: np.ndarray) -> np.ndarray:
    return torch.softmax(torch.from_numpy(np.asarray(logits, dtype=np.float32)), dim=-1).numpy()
