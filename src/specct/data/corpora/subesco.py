"""SUBESCO (SUST Bangla Emotional Speech Corpus): 10 female and 10 male speakers, 7 emotions.

File names are ``F_01_OISHI_S_1_ANGRY_1.wav``: gender (F/M), speaker number within that gender,
speaker's name, ``S``, sentence number, emotion (ANGRY DISGUST FEAR HAPPY NEUTRAL SAD SURPRISE)
and take. Speaker numbers restart for each gender, so the speaker id is gender plus number
(``F01``, ``M01``).
"""
from __future__ import annotations

import re
from pathlib import Path

from .base import FEMALE, MALE, CorpusImporter, Utterance

EMOTIONS = {"ANGRY": "anger", "DISGUST": "disgust", "FEAR": "fearful", "HAPPY": "happy",
            "NEUTRAL": "neutral", "SAD": "sad", "SURPRISE": "surprised"}
NAME = re.compile(r"^([MF])_(\d+)_([A-Za-z]+)_S_(\d+)_([A-Za-z]+)_(\d+)$")


class Subesco(CorpusImporter):
    name = "SUBESCO"
    emotions = frozenset(EMOTIONS.values())   # every label the corpus can give
    description = "SUBESCO: Bangla, 20 speakers (10 F, 10 M), 7 emotions (7000 files)"
    layout = "wavs named like F_01_OISHI_S_1_ANGRY_1.wav (gender_number_name_S_sentence_emotion_take), any folders"

    def parse(self, path: Path) -> Utterance:
        gender, number, _name, _sentence, code, _take = self.match(
            NAME, path.stem, "F_01_OISHI_S_1_ANGRY_1 (gender_number_name_S_sentence_emotion_take)").groups()
        speaker = f"{gender}{int(number):02d}"
        return Utterance(path, self.lookup(EMOTIONS, code.upper()), speaker, path.stem,
                         FEMALE if gender == "F" else MALE)
