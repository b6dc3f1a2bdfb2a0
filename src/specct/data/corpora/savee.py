"""SAVEE (Surrey Audio-Visual Expressed Emotion): 4 male British English speakers DC, JE, JK, KL.

Each speaker recorded 15 sentences per emotion category; the letters before the sentence number
name the emotion: a anger, d disgust, f fear, h happiness, n neutral, sa sadness, su surprise
(``d03.wav`` is the 3rd disgust sentence). Two layouts are in circulation, both read: the
original ``AudioData/DC/a01.wav`` (speaker from the folder) and a flat ``DC_a01.wav``. Both give
the same canonical name, so a tree holding both copies imports each recording once.
"""
from __future__ import annotations

import re
from pathlib import Path

from .base import MALE, CorpusImporter, LabelError, Utterance

EMOTIONS = {"a": "anger", "d": "disgust", "f": "fearful", "h": "happy",
            "n": "neutral", "sa": "sad", "su": "surprised"}
SPEAKERS = ("DC", "JE", "JK", "KL")
FLAT = re.compile(r"^([A-Z]{2})_([a-z]+)(\d{2})$")
IN_FOLDER = re.compile(r"^([a-z]+)(\d{2})$")


class Savee(CorpusImporter):
    name = "SAVEE"
    emotions = frozenset(EMOTIONS.values())   # every label the corpus can give
    description = "SAVEE: British English, 4 male speakers (DC JE JK KL), 7 emotions (480 files)"
    layout = "AudioData/DC/a01.wav or flat DC_a01.wav (a d f h n sa su + sentence number)"

    def parse(self, path: Path) -> Utterance:
        flat = FLAT.match(path.stem)
        if flat:
            speaker, code, number = flat.groups()
        else:
            code, number = self.match(IN_FOLDER, path.stem, "DC_a01 or DC/a01 (speaker, emotion letters, number)").groups()
            speaker = path.parent.name
            if speaker not in SPEAKERS:
                raise LabelError(f"folder {speaker!r} is not a SAVEE speaker ({', '.join(SPEAKERS)})")
        if speaker not in SPEAKERS:
            raise LabelError(f"unknown speaker {speaker!r} ({', '.join(SPEAKERS)})")
        return Utterance(path, self.lookup(EMOTIONS, code), speaker, f"{code}{number}", MALE)
