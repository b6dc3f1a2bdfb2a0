"""Emotion words and the class sets that training uses (``3``, ``4``, ``all``, or a custom list)."""
from __future__ import annotations

from typing import Sequence

from .errors import InputError

# The seven basic emotions, in the order used for class indices of the `all` set.
BASIC_EMOTIONS = ("anger", "happy", "neutral", "sad", "fearful", "disgust", "surprised")
# Corpus-specific labels kept under their own names (not in the basic seven).
EXTRA_EMOTIONS = ("calm", "boredom", "excited", "frustration", "other")
EMOTIONS = BASIC_EMOTIONS + EXTRA_EMOTIONS

POSITIVE = ("happy", "surprised", "excited")
NEGATIVE = ("anger", "sad", "fearful", "disgust", "frustration")

# Each class set maps a canonical emotion word to a class name; the tuple gives class order.
CLASS_SETS: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "4": (("anger", "happy", "neutral", "sad"),
          {e: e for e in ("anger", "happy", "neutral", "sad")}),
    "3": (("negative", "neutral", "positive"),
          {"neutral": "neutral", **{e: "positive" for e in POSITIVE}, **{e: "negative" for e in NEGATIVE}}),
    "all": (BASIC_EMOTIONS, {e: e for e in BASIC_EMOTIONS}),
}


def class_set(num_classes: str | int = "4", classes: Sequence[str] | str | None = None):
    """Return ``(class_names, emotion_to_class)`` for a named set or a custom list.

    ``classes`` (for example ``"happy,sad"``) overrides ``num_classes``; emotions outside the
    mapping are not part of the task and are dropped by the caller.
    """
    if classes:
        names = [c.strip() for c in (classes.split(",") if isinstance(classes, str) else classes) if c.strip()]
        unknown = [c for c in names if c not in EMOTIONS]
        if unknown:
            raise InputError(f"unknown emotion(s) in --classes: {', '.join(unknown)}; known: {', '.join(EMOTIONS)}")
        if len(set(names)) != len(names) or len(names) < 2:
            raise InputError("--classes needs at least two distinct emotions")
        return tuple(names), {c: c for c in names}
    key = str(num_classes)
    if key not in CLASS_SETS:
        raise InputError(f"unknown class set {key!r}; choose one of {', '.join(CLASS_SETS)} or pass --classes")
    names, mapping = CLASS_SETS[key]
    return names, dict(mapping)


def class_set_name(num_classes: str | int = "4", classes: Sequence[str] | str | None = None) -> str:
    """Folder name of a class set: ``4_classes``, ``all_classes`` or ``happy-sad_classes``."""
    if classes:
        names, _ = class_set(classes=classes)
        return "-".join(names) + "_classes"
    return f"{num_classes}_classes"
