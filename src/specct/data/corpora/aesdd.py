"""AESDD (Acted Emotional Speech Dynamic Database, Vryzas et al. 2018): Greek actors, 5 emotions.

Distributed as five folders named after the emotions (``anger disgust fear happiness sadness``) of
files named ``xAA (B).wav`` (the corpus README): ``x`` the emotion letter (a d f h s), ``AA`` the
utterance (01-20), ``B`` the speaker; a second qualified take carries a lower-case letter after
the bracket (``f18 (5)b.wav``). The speaker is written ``(1)`` or ``(01)`` in different files and
is read as a number (speaker ``1``). The canonical stem is letter, utterance and take
(``f18``, ``f18b``). The README gives no gender per speaker (gender ``unknown``). A file in another
emotion's folder is skipped.
"""
from __future__ import annotations

import re
from pathlib import Path

from .base import CorpusImporter, LabelError, Utterance

EMOTIONS = {"a": "anger", "d": "disgust", "f": "fearful", "h": "happy", "s": "sad"}
FOLDERS = {"anger": "a", "disgust": "d", "fear": "f", "happiness": "h", "sadness": "s"}
NAME = re.compile(r"^([a-z])(\d{2})\s*\((\d+)\)([a-z]?)$", re.IGNORECASE)


class Aesdd(CorpusImporter):
    name = "AESDD"
    emotions = frozenset(EMOTIONS.values())   # every label the corpus can give
    description = "AESDD: Greek, acted, anger disgust fear happiness sadness (speakers added over time)"
    layout = ("anger/ disgust/ fear/ happiness/ sadness/ folders of wavs named like 'a03 (4).wav' "
              "(emotion letter, utterance, speaker in brackets, optional take letter)")

    def parse(self, path: Path) -> Utterance:
        letter, utterance, speaker, take = self.match(
            NAME, path.stem, "'a03 (4)' (emotion letter, utterance, speaker in brackets, take letter)").groups()
        letter = letter.lower()
        emotion = self.lookup(EMOTIONS, letter)
        folder_letter = FOLDERS.get(path.parent.name.lower())
        if folder_letter is not None and folder_letter != letter:
            raise LabelError(f"emotion letter {letter!r} disagrees with folder {path.parent.name!r}")
        if int(speaker) == 0:
            raise LabelError("speaker number 0 (speakers count from 1)")
        return Utterance(path, emotion, str(int(speaker)), f"{letter}{utterance}{take.lower()}")
