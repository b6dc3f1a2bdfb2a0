"""ESD (Emotional Speech Dataset): 10 Mandarin (0001-0010) and 10 English (0011-0020) speakers,
5 emotions, 350 parallel utterances per speaker and emotion.

Layout ``<speaker>/<Emotion>/<speaker>_<number>.wav``, e.g. ``0011/Angry/0011_000351.wav``, with
emotion folders Angry, Happy, Neutral, Sad, Surprise; some copies add ``train/``, ``evaluation/``
or ``test/`` below the emotion folder. The speaker comes from the file name, the emotion from the
nearest emotion folder above the file. Genders are those of the corpus README: female 0001 0002
0003 0007 0009 0015 0016 0017 0018 0019, male the others.
"""
from __future__ import annotations

import re
from pathlib import Path

from .base import FEMALE, MALE, CorpusImporter, LabelError, Utterance

EMOTIONS = {"angry": "anger", "happy": "happy", "neutral": "neutral", "sad": "sad", "surprise": "surprised"}
FEMALE_SPEAKERS = {"0001", "0002", "0003", "0007", "0009", "0015", "0016", "0017", "0018", "0019"}
NAME = re.compile(r"^(\d{4})_(\d{6})$")


class Esd(CorpusImporter):
    name = "ESD"
    emotions = frozenset(EMOTIONS.values())   # every label the corpus can give
    description = "ESD: 10 Mandarin + 10 English speakers, 5 emotions (35000 files)"
    layout = "<speaker>/<Emotion>/[train|evaluation|test/]<speaker>_<number>.wav, e.g. 0011/Angry/0011_000351.wav"

    def parse(self, path: Path) -> Utterance:
        speaker, _number = self.match(NAME, path.stem, "0011_000351 (speaker_number)").groups()
        if not 1 <= int(speaker) <= 20:
            raise LabelError(f"unknown speaker {speaker!r} (0001-0020)")
        emotion = next((EMOTIONS[p.name.lower()] for p in path.parents if p.name.lower() in EMOTIONS), None)
        if emotion is None:
            raise LabelError("no emotion folder (Angry, Happy, Neutral, Sad, Surprise) above the file")
        return Utterance(path, emotion, speaker, path.stem, FEMALE if speaker in FEMALE_SPEAKERS else MALE)
