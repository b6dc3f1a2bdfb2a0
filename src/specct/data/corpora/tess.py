"""TESS (Toronto Emotional Speech Set): two actresses, older (OAF) and younger (YAF), 7 emotions.

File names are ``<speaker>_<word>_<emotion>.wav``, e.g. ``OAF_back_angry.wav`` or
``YAF_dog_ps.wav``; emotions angry, disgust, fear, happy, neutral, ps (pleasant surprise ->
surprised), sad. Files sit in per-speaker-and-emotion folders (``OAF_angry/``,
``YAF_pleasant_surprised/``) or in one flat folder; only the file name is read. Some files of the
older speaker carry the corpus's own typo ``OA_`` for ``OAF_``; they are read as OAF.
"""
from __future__ import annotations

import re
from pathlib import Path

from .base import FEMALE, CorpusImporter, Utterance

EMOTIONS = {"angry": "anger", "disgust": "disgust", "fear": "fearful", "happy": "happy",
            "neutral": "neutral", "ps": "surprised", "sad": "sad"}
SPEAKERS = {"OAF": "OAF", "OA": "OAF", "YAF": "YAF"}  # OA_ is a typo in the corpus itself
NAME = re.compile(r"^([A-Za-z]+)_([A-Za-z]+)_([A-Za-z]+)$")


class Tess(CorpusImporter):
    name = "TESS"
    emotions = frozenset(EMOTIONS.values())   # every label the corpus can give
    description = "Toronto Emotional Speech Set: Canadian English, 2 actresses, 7 emotions (2800 files)"
    layout = "wavs named like OAF_back_angry.wav (speaker_word_emotion; ps = pleasant surprise), any folders"

    def parse(self, path: Path) -> Utterance:
        speaker, word, code = self.match(NAME, path.stem, "OAF_back_angry (speaker_word_emotion)").groups()
        speaker = self.lookup(SPEAKERS, speaker.upper(), "speaker")
        emotion = self.lookup(EMOTIONS, code.lower())
        # Speaker and emotion are fields of the canonical name already; the word alone is the stem,
        # so the OA_ typo does not leak into canonical names.
        return Utterance(path, emotion, speaker, word.lower(), FEMALE)
