"""The member weights of a late-fusion ensemble (``--member_weights``), one home for how they are chosen.

- ``auto`` (the default, unchanged): a grid over the simplex in steps of ``--ensemble_step`` scored by
  the validation UAR of the fused probabilities, ties to the most even weights; no validation rows:
  equal weights; a member refit on training + validation rows is only named (``weights_seen_by``).
- ``validation``: the same search, held to validation rows the members never fitted on. The candidates
  are the grid plus the equal weights (off the grid when the step does not divide them, e.g. three
  members in steps of 0.1); ties go to the equal weights, then to the smallest change from them. A
  split without validation rows is refused, and so is a member refit on them unless it kept its first
  fit (a network's ``before_refit/``), whose scores then stand in for it on the validation rows.
- ``equal``: the plain average; no rows are read.

The held-out rows are never read here: the weights are fixed in ensemble.yaml before any test row is
scored.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from ..core.errors import InputError

MODES = ("auto", "validation", "equal")
FIRST_FIT_DIR = "before_refit"     # where a refit network keeps its first training (specct.train.refit)


def weight_grid(members: int, step: float) -> list[np.ndarray]:
    """Every weight vector on the simplex with entries in multiples of ``step`` (summing to 1)."""
    units = int(round(1.0 / step))
    grid = [np.array(c, dtype=float) / units for c in itertools.product(range(units + 1), repeat=members)
            if sum(c) == units]
    return grid or [np.full(members, 1.0 / members)]


def candidates_with_equal(members: int, step: float) -> list[np.ndarray]:
    """The grid, with the equal weights first when the step does not reach them."""
    grid = weight_grid(members, step)
    equal = np.full(members, 1.0 / members)
    return grid if any(np.allclose(w, equal) for w in grid) else [equal, *grid]


def fuse(probabilities: list[np.ndarray], weights) -> np.ndarray:
    return sum(w * p for w, p in zip(weights, probabilities))


def choose_weights(probabilities: list[np.ndarray], targets: np.ndarray, step: float,
                   candidates: list[np.ndarray] | None = None) -> tuple[np.ndarray, float]:
    """The candidates' (default: the grid's) weights of best validation UAR; ties to the most even
    (smallest spread, which is the smallest distance from the equal weights), then the first."""
    from ..stats.metrics import uar

    best, best_key = None, None
    for weights in candidates if candidates is not None else weight_grid(len(probabilities), step):
        score = uar(targets, fuse(probabilities, weights).argmax(axis=1))
        key = (round(score, 12), -float(np.std(weights)))
        if best_key is None or key > best_key:
            best, best_key = weights, key
    return best, float(best_key[0])


def leaks_validation(record: dict) -> bool:
    """Whether a member's validation rows were among its training rows (a refit, or an ensemble whose
    own members were)."""
    return bool(record.get("refit") or record.get("weights_seen_by"))


def validation_stand_in(folder: Path, member, device: str = "cpu"):
    """The model whose scores on the validation rows are honest for ``member``: itself, or the first
    fit a refit member kept (returned with its folder); a refit member without one is refused."""
    from . import SYSTEMS, load

    if not leaks_validation(member.record()):
        return member, None
    first = Path(folder) / FIRST_FIT_DIR
    if member.record().get("refit") and any(kind.recognises(first) for kind in SYSTEMS):
        return load(first, device), first
    raise InputError(f"--member_weights validation: {folder} was fitted on the validation rows too (refit on "
                     f"training + validation rows) and kept no earlier fit, so weights chosen on its validation "
                     f"scores would favour it; train it with --no_refit, or use --member_weights equal")


def explicit_choice(mode: str, names: list[str], folders: list[Path], members: list, frame, val_csv: Path,
                    settings, step: float, device: str = "cpu") -> tuple[np.ndarray, dict]:
    """The weights of ``--member_weights validation`` or ``equal`` and the ensemble.yaml that records them."""
    count = len(members)
    if mode == "equal":
        weights = np.full(count, 1.0 / count)
        entries = [{"name": n, "folder": str(f.resolve()), "weight": round(float(w), 6)}
                   for n, f, w in zip(names, folders, weights)]
        return weights, {"members": entries, "member_weights": mode,
                         "weights_chosen_on": "equal weights (--member_weights equal): no rows read",
                         "validation_uar": None}
    if not len(frame):
        raise InputError(f"--member_weights validation: the split has no validation rows ({val_csv} is empty; "
                         f"validation: none), so there is nothing to choose the weights on; use --member_weights "
                         f"equal, or a split with validation rows")
    from ..stats.metrics import uar

    stand_ins = [validation_stand_in(f, m, device) for f, m in zip(folders, members)]
    targets = frame["target"].to_numpy()
    probabilities = [model.score(frame, settings).probabilities for model, _ in stand_ins]
    weights, fused_uar = choose_weights(probabilities, targets, step, candidates_with_equal(count, step))
    entries = [{"name": n, "folder": str(f.resolve()), "weight": round(float(w), 6),
                "validation_uar": round(float(uar(targets, p.argmax(axis=1))), 6),
                **({"validation_scored_by": str(first.resolve())} if first else {})}
               for n, f, w, p, (_, first) in zip(names, folders, weights, probabilities, stand_ins)]
    return weights, {"members": entries, "member_weights": mode,
                     "weights_chosen_on": f"{len(frame)} validation rows ({val_csv}), never the held-out rows",
                     "step": step, "validation_uar": round(fused_uar, 6)}
