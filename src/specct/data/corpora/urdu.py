"""URDU: spontaneous Urdu speech from talk shows, 4 emotions (400 files; Latif et al. 2018).

Files sit in ``Angry/ Happy/ Neutral/ Sad/`` folders and are named ``SM1_F10_A010.wav``:
``S`` + speaker gender (M/F) + speaker number, ``F`` + file number, emotion letter (A angry,
H happy, N neutral, S sad) + utterance number. The label is read from the file name; a file whose
folder names a different emotion is skipped as inconsistent.
"""
from __future__ import annotations

import re
from pathlib import Path

from .base import FEMALE, MALE, CorpusImporter, LabelError, Utterance

EMOTIONS = {"A": "anger", "H": "happy", "N": "neutral", "S": "sad"}
FOLDERS = {"angry": "anger", "happy": "happy", "neutral": "neutral", "sad": "sad"}
NAME = re.compile(r"^S([MF])(\d+)_F(\d+)_([A-Z])(\d+)$")


class Urdu(CorpusImporter):
    name = "URDU"
    emotions = frozenset(EMOTIONS.values())   # every label the corpus can give
    description = "URDU: spontaneous Urdu speech from talk shows, 4 emotions (400 files)"
    layout = "Angry/ Happy/ Neutral/ Sad/ folders of wavs named like SM1_F10_A010.wav (speaker_file_emotion+number)"

    def parse(self, path: Path) -> Utterance:
        found = self.match(NAME, path.stem, "SM1_F10_A010 (speaker_file_emotion+number)")
        gender, number, _file, code, _utt = found.groups()
        emotion = self.lookup(EMOTIONS, code)
        folder = FOLDERS.get(path.parent.name.lower())
        if folder is not None and folder != emotion:
            raise LabelError(f"emotion letter {code!r} ({emotion}) disagrees with folder {path.parent.name!r}")
        return Utterance(path, emotion, f"S{gender}{number}", path.stem, FEMALE if gender == "F" else MALE)
