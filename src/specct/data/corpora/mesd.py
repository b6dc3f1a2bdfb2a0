"""MESD (Mexican Emotional Speech Database): single Spanish words, 6 emotions, adult and child voices.

File names are ``Anger_C_A_abajo.wav``: emotion (Anger, Disgust, Fear, Happiness, Neutral,
Sadness), voice type (F adult female, M adult male, C child), word corpus (A or B) and the word.

Limitation: the names carry no speaker id (the corpus has several adult and child speakers), so
the speaker field is the voice type (``F``, ``M``, ``C``). Speaker-independent splits of MESD are
therefore only voice-type-independent; held out as a whole test corpus it is unaffected.
Children's gender is not given: "unknown".
"""
from __future__ import annotations

import re
from pathlib import Path

from .base import FEMALE, MALE, UNKNOWN, CorpusImporter, Utterance

EMOTIONS = {"anger": "anger", "disgust": "disgust", "fear": "fearful", "happiness": "happy",
            "neutral": "neutral", "sadness": "sad"}
VOICES = {"F": FEMALE, "M": MALE, "C": UNKNOWN}
NAME = re.compile(r"^([A-Za-z]+)_([A-Za-z])_([AB])_(.+)$")


class Mesd(CorpusImporter):
    name = "MESD"
    emotions = frozenset(EMOTIONS.values())   # every label the corpus can give
    description = "MESD: Mexican Spanish single words, adult and child voices, 6 emotions (864 files)"
    layout = "flat folder of wavs named like Anger_C_A_abajo.wav (emotion_voice_corpus_word); speaker = voice type"

    def parse(self, path: Path) -> Utterance:
        code, voice, _corpus, _word = self.match(NAME, path.stem, "Anger_C_A_abajo (emotion_voice_corpus_word)").groups()
        gender = self.lookup(VOICES, voice.upper(), "voice type")
        return Utterance(path, self.lookup(EMOTIONS, code.lower()), voice.upper(), path.stem, gender)
