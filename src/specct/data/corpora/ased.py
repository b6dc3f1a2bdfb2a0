"""ASED v1 (Amharic Speech Emotion Dataset, Retta et al. 2022): 65 speakers, 5 emotions, 2474 files.

Distributed as five folders, ``01Neutral 02Fearful 03Happy 04Sad 05Angry``, of files named
``xn-yy-aa-gg-bb.wav`` (the corpus README): ``xn`` the emotion letter and its folder number (n1
neutral, f2 fearful, h3 happy, s4 sad, a5 angry), ``yy`` the sentence, ``aa`` the repetition
(01, 02), ``gg`` the gender (01 female, 02 male), ``bb`` the speaker (01-65). E.g.
``05Angry/a5-03-01-02-50.wav`` is sentence 3, first repetition, male speaker 50, angry. Some names
have an upper-case letter (``S4-04-02-01-29.wav``); the letter is read in either case. A file whose
letter and folder number disagree, or that lies in another emotion's folder, is skipped.
"""
from __future__ import annotations

import re
from pathlib import Path

from .base import FEMALE, MALE, CorpusImporter, LabelError, Utterance

EMOTIONS = {"n": "neutral", "f": "fearful", "h": "happy", "s": "sad", "a": "anger"}
FOLDER_NUMBERS = {"n": "1", "f": "2", "h": "3", "s": "4", "a": "5"}
FOLDERS = {"01neutral": "n", "02fearful": "f", "03happy": "h", "04sad": "s", "05angry": "a"}
GENDERS = {"01": FEMALE, "02": MALE}
NAME = re.compile(r"^([a-z])(\d)-(\d{2})-(\d{2})-(\d{2})-(\d{2})$", re.IGNORECASE)
SPEAKERS = range(1, 66)


class Ased(CorpusImporter):
    name = "ASED"
    emotions = frozenset(EMOTIONS.values())   # every label the corpus can give
    description = "ASED v1: Amharic, 65 speakers, neutral fearful happy sad angry (2474 files)"
    layout = ("01Neutral/ 02Fearful/ 03Happy/ 04Sad/ 05Angry/ of wavs named like a5-03-01-02-50.wav "
              "(emotion letter + folder number, sentence, repetition, gender 01 f / 02 m, speaker)")

    def parse(self, path: Path) -> Utterance:
        letter, number, _sentence, _repetition, gender, speaker = self.match(
            NAME, path.stem, "a5-03-01-02-50 (emotion+folder-sentence-repetition-gender-speaker)").groups()
        letter = letter.lower()
        emotion = self.lookup(EMOTIONS, letter)
        if number != FOLDER_NUMBERS[letter]:
            raise LabelError(f"emotion letter {letter!r} goes with folder number {FOLDER_NUMBERS[letter]}, not {number}")
        folder_letter = FOLDERS.get(path.parent.name.lower())
        if folder_letter is not None and folder_letter != letter:
            raise LabelError(f"emotion letter {letter!r} disagrees with folder {path.parent.name!r}")
        if int(speaker) not in SPEAKERS:
            raise LabelError(f"unknown speaker {speaker!r} (01-65)")
        return Utterance(path, emotion, speaker, path.stem, self.lookup(GENDERS, gender, "gender code"))
