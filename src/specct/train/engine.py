"""One training epoch and one pass of inference over a loader; the loop that calls them is in loop.py."""
from __future__ import annotations

import contextlib
import time

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .distributed import DistInfo, gather_objects, mean_across


def autocast_context(device: torch.device, amp: bool, amp_dtype: str = "bfloat16"):
    """Mixed precision: bfloat16 on CPU; float16 or bfloat16 on GPU. A no-op when ``amp`` is off."""
    if not amp:
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if device.type == "cpu" or amp_dtype == "bfloat16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def forward(model, images: torch.Tensor, speaker: torch.Tensor, speaker_model: bool) -> torch.Tensor:
    """Speaker models take one tuple ``(image, speaker_vector)``; image models take the image."""
    return model((images, speaker)) if speaker_model else model(images)


def train_one_epoch(model, loader, criterion, optimizer, *, device, speaker_model: bool, epoch: int,
                    num_epochs: int, scheduler=None, num_updates: int = 0, amp: bool = False,
                    amp_dtype: str = "bfloat16", scaler=None, ema=None, mixup=None,
                    rng: np.random.Generator | None = None, clip_grad: float | None = None,
                    max_steps: int = 0, info: DistInfo = DistInfo(), progress: bool = True) -> dict:
    """Train for one epoch; returns the mean loss, throughput and the running count of updates."""
    model.train()
    unwrapped = model.module if hasattr(model, "module") else model
    total_loss, total_samples, steps = 0.0, 0, 0
    started = time.perf_counter()
    bar = tqdm(loader, desc=f"train {epoch + 1}/{num_epochs}", leave=False, dynamic_ncols=True,
               disable=not (progress and info.is_main))
    for images, speaker, targets, _ in bar:
        if max_steps and steps >= max_steps:
            break
        images, speaker, targets = images.to(device), speaker.to(device), targets.to(device)
        loss_targets = targets
        if mixup is not None:
            images, speaker, loss_targets = mixup(images, speaker, targets, rng)
        with autocast_context(device, amp, amp_dtype):
            logits = forward(model, images, speaker, speaker_model)
        loss = criterion(logits.float(), loss_targets)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            if clip_grad:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            if clip_grad:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
            optimizer.step()
        num_updates += 1
        steps += 1
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
def predict_loader(model, loader, *, device, speaker_model: bool, amp: bool = False,
                   amp_dtype: str = "bfloat16", info: DistInfo = DistInfo(), progress: bool = True,
                   desc: str = "eval") -> tuple[np.ndarray, np.ndarray]:
    """Logits and targets for every row of the loader's dataset, in dataset order.

    Under DDP each rank sees a shard (the sampler pads it); the shards are gathered and the
    padding dropped by row index, so every rank returns the same full arrays.
    """
    model.eval()
    indices, logits_parts, target_parts = [], [], []
    bar = tqdm(loader, desc=desc, leave=False, dynamic_ncols=True, disable=not (progress and info.is_main))
    for images, speaker, targets, index in bar:
        with autocast_context(device, amp, amp_dtype):
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
