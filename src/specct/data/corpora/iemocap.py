"""IEMOCAP (Interactive Emotional Dyadic Motion Capture): 5 sessions, one actress and one actor each.

Labels are not in the file names: each session's ``dialog/EmoEvaluation/<dialog>.txt`` holds one
line per utterance, ``[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, ...]``,
with the majority label: ang hap exc sad neu fru fea sur dis oth, or xxx when the annotators had
no majority (skipped). The audio is ``sentences/wav/<dialog>/<utterance>.wav``. The speaker of an
utterance is the session plus the letter before its number (``..._F000`` -> ``01F``): the letter
in ``Ses01F`` names who wore the markers in that dialog, not who speaks.

``exc`` (excited) is kept as ``excited`` by default, as docs/design.md keeps corpus extras under their
own names (class set ``3`` already counts it as positive). ``merge_excited=True``
(``--merge_excited``) relabels it ``happy``, the usual choice for 4-class IEMOCAP results.
"""
from __future__ import annotations

import re
from pathlib import Path

from .base import FEMALE, MALE, CorpusImporter, LabelError, SourceLayoutError, Utterance

EMOTIONS = {"ang": "anger", "hap": "happy", "exc": "excited", "sad": "sad", "neu": "neutral",
            "fru": "frustration", "fea": "fearful", "sur": "surprised", "dis": "disgust", "oth": "other"}
NO_MAJORITY = "xxx"
LABEL_LINE = re.compile(r"^\[\s*\d+(?:\.\d+)?\s*-\s*\d+(?:\.\d+)?\s*\]\s+(Ses\S+)\s+(\w+)\s+\[")
UTTERANCE = re.compile(r"^Ses(0[1-5])[MF]_\w+_([MF])[X\d]{2}\d$")


def read_labels(source_dir: Path) -> dict[str, str]:
    """Utterance id -> label code from every EmoEvaluation file under the source folder."""
    labels: dict[str, str] = {}
    for table in sorted(source_dir.rglob("EmoEvaluation/*.txt")):
        if table.name.startswith("."):
            continue
        with open(table, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                found = LABEL_LINE.match(line.strip())
                if found:
                    labels[found.group(1)] = found.group(2)
    return labels


class Iemocap(CorpusImporter):
    name = "IEMOCAP"
    emotions = frozenset(EMOTIONS.values())   # every label the corpus can give
    description = "IEMOCAP: US English dyadic sessions, 10 actors, labels from EmoEvaluation files"
    layout = "Session1..5/dialog/EmoEvaluation/*.txt (labels) and Session1..5/sentences/wav/<dialog>/<utt>.wav"
    options = {"merge_excited": "IEMOCAP only: label 'exc' (excited) as happy instead of excited"}

    def __init__(self, source_dir, merge_excited: bool = False, **options):
        super().__init__(source_dir, **options)
        self.merge_excited = bool(merge_excited)
        self.labels = read_labels(self.source_dir)
        if not self.labels:
            raise SourceLayoutError("no IEMOCAP labels found: expected Session*/dialog/EmoEvaluation/*.txt "
                                    f"under {self.source_dir}")

    def files(self):
        return iter(sorted(p for p in self.source_dir.rglob("sentences/wav/*/*") if p.suffix.lower() == ".wav"))

    def parse(self, path: Path) -> Utterance:
        found = self.match(UTTERANCE, path.stem, "Ses01F_impro01_F000 (session, dialog, speaker letter, number)")
        session, letter = found.groups()
        if path.stem not in self.labels:
            raise LabelError("no label line for this utterance in the EmoEvaluation files")
        code = self.labels[path.stem]
        if code == NO_MAJORITY:
            raise LabelError("no majority label (xxx)")
        emotion = self.lookup(EMOTIONS, code)
        if emotion == "excited" and self.merge_excited:
            emotion = "happy"
        return Utterance(path, emotion, f"{session}{letter}", path.stem, FEMALE if letter == "F" else MALE)
