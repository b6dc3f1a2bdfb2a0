"""What every corpus importer shares: the parsed utterance, the error for a file that does not fit,
and a base class that finds the audio files of a corpus folder.

A corpus module subclasses :class:`CorpusImporter`, sets ``name``, ``description`` and ``layout``,
and implements :meth:`CorpusImporter.parse`, which turns one source path into an
:class:`Utterance` or raises :class:`LabelError` with a one-line reason.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Iterator, Mapping

from ...core.errors import SpecctError

MALE, FEMALE, UNKNOWN = "male", "female", "unknown"


class LabelError(SpecctError, ValueError):
    """A file whose name, folder or label does not fit its corpus's convention (message = reason)."""


class CorpusError(SpecctError, ValueError):
    """Arguments or a source folder that no import can start from (message = what is wrong)."""


class SourceLayoutError(CorpusError):
    """A source folder that cannot be this corpus at all (for example IEMOCAP without label files)."""


@dataclass(frozen=True)
class Utterance:
    """One source file, labelled: what the import engine needs to name and convert it."""

    source: Path
    emotion: str   # canonical emotion word (specct.core.labels)
    speaker: str   # speaker id within the corpus
    stem: str      # last field of the canonical name; unique within (emotion, speaker)
    gender: str = UNKNOWN


class CorpusImporter:
    """Base class of the per-corpus importers.

    An instance is made for one source folder (so that importers that need side files, such as
    IEMOCAP's label files or CREMA-D's demographics table, read them once in ``__init__``).
    """

    name: ClassVar[str] = ""         # upper-case registry key and folder name, e.g. "EMODB"
    description: ClassVar[str] = ""  # one line for `prepare_corpus.py --list`
    layout: ClassVar[str] = ""       # one line: the folder layout and file names it expects
    options: ClassVar[Mapping[str, str]] = {}  # corpus-specific keyword options -> help text
    audio_suffixes: ClassVar[tuple[str, ...]] = (".wav",)
    emotions: ClassVar[frozenset[str]] = frozenset()  # every canonical emotion its labels map to

    def __init__(self, source_dir: str | Path, **options):
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            flags = ", ".join(f"--{o}" for o in unknown)
            takes = ", ".join(f"--{o}" for o in self.options) or "no corpus-specific options"
            raise CorpusError(f"{self.name} does not take {flags} (it takes {takes})")
        self.source_dir = Path(source_dir)
        self.settings = dict(options)

    def files(self) -> Iterator[Path]:
        """Every audio file under the source folder, in a stable order."""
        suffixes = {s.lower() for s in self.audio_suffixes}
        paths = (p for p in self.source_dir.rglob("*") if p.suffix.lower() in suffixes and p.is_file())
        return iter(sorted(paths))

    def parse(self, path: Path) -> Utterance:  # pragma: no cover - every corpus overrides it
        raise NotImplementedError

    # Helpers for the corpus modules: each raises LabelError with a reason a user can act on.

    @staticmethod
    def match(pattern: re.Pattern, text: str, convention: str) -> re.Match:
        found = pattern.match(text)
        if not found:
            raise LabelError(f"name {text!r} does not fit the convention {convention}")
        return found

    @staticmethod
    def lookup(table: Mapping[str, str], code: str, what: str = "emotion code") -> str:
        if code not in table:
            raise LabelError(f"unknown {what} {code!r} (known: {', '.join(sorted(table))})")
        return table[code]
