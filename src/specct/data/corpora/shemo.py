"""ShEMO (Sharif Emotional Speech Database, Mohamad Nezami et al. 2019): Persian radio plays.

3000 utterances of 87 speakers (31 female, 56 male), distributed as ``female/`` and ``male/``
folders (``female.zip``, ``male.zip``) of files named like ``F03S02.wav`` (the corpus README):
gender (F, M), speaker code (2 digits, numbered per gender, so the speaker id is gender + code:
``F03`` and ``M03`` are different people), emotion (A anger, H happiness, N neutral, S sadness,
W surprise, F fear) and the utterance's number for that speaker and emotion. A file in the
folder of the other gender is skipped.
"""
from __future__ import annotations

import re
from pathlib import Path

from .base import FEMALE, MALE, CorpusImporter, LabelError, Utterance

EMOTIONS = {"A": "anger", "H": "happy", "N": "neutral", "S": "sad", "W": "surprised", "F": "fearful"}
GENDERS = {"F": FEMALE, "M": MALE}
FOLDERS = {"female": FEMALE, "male": MALE}
NAME = re.compile(r"^([A-Z])(\d{2})([A-Z])(\d{2,})$")


class Shemo(CorpusImporter):
    name = "SHEMO"
    emotions = frozenset(EMOTIONS.values())   # every label the corpus can give
    description = "ShEMO: Persian radio plays, 87 speakers, 6 emotions (3000 files)"
    layout = ("female/ and male/ folders (or flat) of wavs named like F03S02.wav "
              "(gender, speaker, emotion letter A H N S W F, number)")

    def parse(self, path: Path) -> Utterance:
        gender_code, number, code, _utterance = self.match(
            NAME, path.stem, "F03S02 (gender, speaker, emotion, number)").groups()
        gender = self.lookup(GENDERS, gender_code, "gender letter")
        emotion = self.lookup(EMOTIONS, code)
        folder_gender = FOLDERS.get(path.parent.name.lower())
        if folder_gender is not None and folder_gender != gender:
            raise LabelError(f"gender letter {gender_code!r} disagrees with folder {path.parent.name!r}")
        return Utterance(path, emotion, f"{gender_code}{number}", path.stem, gender)
