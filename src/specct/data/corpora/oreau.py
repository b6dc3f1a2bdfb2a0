"""Oréau (OréauFR): French acted emotional speech, 7 emotions.

As distributed (Zenodo record 4405783): ``OréauFR_01/<m|f>/<session>/<name>.wav`` (and a second
part ``OréauFR_02``). In the file stem, characters 0-1 are the speaker number, 2-4 the sentence
code, 5 the emotion letter (French initials: C colère anger, D dégoût disgust, J joie happiness,
N neutre, P peur fear, S surprise, T tristesse sadness), and one more character follows.

Not established from the corpus documentation: whether speaker numbers are shared between the
``m`` and ``f`` folders. To be safe the speaker id includes the gender folder (``m01``, ``f01``);
files outside an ``m``/``f`` folder get gender "unknown" and the bare number as speaker.
"""
from __future__ import annotations

import re
from pathlib import Path

from .base import FEMALE, MALE, UNKNOWN, CorpusImporter, Utterance

EMOTIONS = {"C": "anger", "D": "disgust", "J": "happy", "N": "neutral",
            "P": "fearful", "S": "surprised", "T": "sad"}
GENDER_FOLDERS = {"m": MALE, "f": FEMALE}
NAME = re.compile(r"^(\d{2})([A-Za-z0-9]{3})([A-Za-z])([A-Za-z0-9])$")


class Oreau(CorpusImporter):
    name = "OREAU"
    emotions = frozenset(EMOTIONS.values())   # every label the corpus can give
    description = "Oréau: French, acted, 7 emotions"
    layout = "OréauFR_01/<m|f>/<session>/ wavs whose stem is speaker(2) sentence(3) emotion letter(1) + 1 char"

    def parse(self, path: Path) -> Utterance:
        number, _sentence, code, _extra = self.match(
            NAME, path.stem, "2-digit speaker, 3-char sentence, emotion letter CDJNPST, 1 char").groups()
        emotion = self.lookup(EMOTIONS, code.upper())
        folder = next((p.name.lower() for p in path.parents[:3] if p.name.lower() in GENDER_FOLDERS), None)
        if folder is None:
            return Utterance(path, emotion, number, path.stem, UNKNOWN)
        return Utterance(path, emotion, f"{folder}{number}", path.stem, GENDER_FOLDERS[folder])
