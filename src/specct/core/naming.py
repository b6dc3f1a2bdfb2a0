"""Canonical file names: ``emotion_corpus_speaker_stem.wav``.

This module is the one home of the naming rule; every stage imports it from here.
The name splits on the first three underscores, so the stem may hold more of them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .errors import SpecctError

_FIELD_OK = re.compile(r"^[A-Za-z0-9.\-]+$")


class NameError_(SpecctError, ValueError):
    """A file name that does not follow the canonical pattern."""


@dataclass(frozen=True)
class CanonicalName:
    emotion: str
    corpus: str
    speaker: str
    stem: str

    @property
    def speaker_key(self) -> str:
        """Speakers are unique only within a corpus: key them as CORPUS-SPEAKER."""
        return speaker_key(self.corpus, self.speaker)

    @property
    def basename(self) -> str:
        """The name without extension, as images and embeddings are keyed."""
        return f"{self.emotion}_{self.corpus}_{self.speaker}_{self.stem}"

    def wav_name(self) -> str:
        return self.basename + ".wav"


def clean_field(value: str) -> str:
    """Make a value safe for a name field: no underscores, slashes or spaces."""
    value = re.sub(r"[_\s/\\]+", "-", str(value).strip())
    return value.strip("-")


def make_name(emotion: str, corpus: str, speaker: str, stem: str) -> CanonicalName:
    """Build a canonical name; the corpus field is upper case, other fields are cleaned."""
    emotion, speaker = clean_field(emotion).lower(), clean_field(speaker)
    corpus = clean_field(corpus).upper()
    stem = re.sub(r"[\s/\\]+", "-", str(stem).strip())
    for field, value in (("emotion", emotion), ("corpus", corpus), ("speaker", speaker)):
        if not value or not _FIELD_OK.match(value):
            raise NameError_(f"invalid {field} field {value!r}")
    if not stem:
        raise NameError_("empty stem")
    return CanonicalName(emotion, corpus, speaker, stem)


def parse_name(name: str | Path) -> CanonicalName:
    """Parse ``emotion_corpus_speaker_stem[.ext]`` (a path or a bare name)."""
    base = Path(name).name
    stem_part = base.rsplit(".", 1)[0] if "." in base else base
    parts = stem_part.split("_", 3)
    if len(parts) != 4 or not all(parts):
        raise NameError_(f"{base}: not a canonical name emotion_corpus_speaker_stem")
    return CanonicalName(*parts)


def speaker_key(corpus: str, speaker: str) -> str:
    return f"{corpus.upper()}-{speaker}"
