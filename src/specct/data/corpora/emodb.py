"""EmoDB (Berlin Database of Emotional Speech): 10 German actors, 7 emotions, 535 files.

Distributed as one flat folder ``wav/03a01Fa.wav``. Characters 0-1 are the speaker (03, 08-16),
2-4 the text code (a01 ... b10), 5 the emotion letter (German initial: W Wut anger, L Langeweile
boredom, E Ekel disgust, A Angst fear, F Freude happiness, T Trauer sadness, N neutral), 6 the
version. Speakers 03, 10, 11, 12, 15 are male; 08, 09, 13, 14, 16 female.
"""
from __future__ import annotations

import re
from pathlib import Path

from .base import FEMALE, MALE, CorpusImporter, Utterance

EMOTIONS = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fearful",
            "F": "happy", "T": "sad", "N": "neutral"}
GENDERS = {**dict.fromkeys(("03", "10", "11", "12", "15"), MALE),
           **dict.fromkeys(("08", "09", "13", "14", "16"), FEMALE)}
NAME = re.compile(r"^(\d{2})([a-z]\d{2})([A-Z])([a-z])$")


class EmoDB(CorpusImporter):
    name = "EMODB"
    emotions = frozenset(EMOTIONS.values())   # every label the corpus can give
    description = "Berlin EmoDB: German, 10 actors, 7 emotions incl. boredom (535 files)"
    layout = "flat folder of wavs named like 03a01Fa.wav (speaker, text, emotion letter, version)"

    def parse(self, path: Path) -> Utterance:
        speaker, _text, code, _version = self.match(NAME, path.stem, "03a01Fa (speaker text emotion version)").groups()
        gender = self.lookup(GENDERS, speaker, "speaker")
        return Utterance(path, self.lookup(EMOTIONS, code), speaker, path.stem, gender)
