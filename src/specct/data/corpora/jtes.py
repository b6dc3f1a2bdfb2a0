"""JTES (Japanese Twitter-based Emotional Speech): 50 female and 50 male speakers, 4 emotions,
50 sentences each (20000 files).

Layout ``wav/<speaker>/<emotion>/<speaker>_<emotion>_<sentence>.wav``, e.g.
``wav/f01/ang/f01_ang_01.wav``: speaker f01-f50 / m01-m50, emotion ang (anger), joy, neu
(neutral), sad; only the file name is read.
"""
from __future__ import annotations

import re
from pathlib import Path

from .base import FEMALE, MALE, CorpusImporter, Utterance

EMOTIONS = {"ang": "anger", "joy": "happy", "neu": "neutral", "sad": "sad"}
NAME = re.compile(r"^([fm]\d{2})_([a-z]+)_(\d{2})$")


class Jtes(CorpusImporter):
    name = "JTES"
    emotions = frozenset(EMOTIONS.values())   # every label the corpus can give
    description = "JTES: Japanese, 100 speakers (50 F, 50 M), 4 emotions (20000 files)"
    layout = "wav/<speaker>/<emotion>/ folders of wavs named like f01_ang_01.wav (speaker_emotion_sentence)"

    def parse(self, path: Path) -> Utterance:
        speaker, code, _sentence = self.match(NAME, path.stem, "f01_ang_01 (speaker_emotion_sentence)").groups()
        return Utterance(path, self.lookup(EMOTIONS, code), speaker, path.stem,
                         FEMALE if speaker.startswith("f") else MALE)
