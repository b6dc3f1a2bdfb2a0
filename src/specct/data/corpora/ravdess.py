"""RAVDESS (Ryerson Audio-Visual Database of Emotional Speech and Song): 24 North-American actors.

File names have seven two-digit fields, ``03-01-05-01-02-01-12.wav``: modality (01 full AV,
02 video only, 03 audio only), vocal channel (01 speech, 02 song), emotion (01 neutral, 02 calm,
03 happy, 04 sad, 05 angry, 06 fearful, 07 disgust, 08 surprised), intensity (01 normal,
02 strong), statement (01, 02), repetition (01, 02), actor (01-24; odd male, even female).
Files sit in ``Actor_XX/`` folders or in one flat folder; both are read. Song files and anything
that is not audio-only are skipped with a reason. The audio is 48 kHz; a few files are stereo
(the import engine averages them to mono).

``calm`` is kept as ``calm`` by default; ``merge_calm=True`` (``--merge_calm``) labels it ``neutral``,
a common choice when RAVDESS meets corpora without calm (off by default, recorded in the import's
``import_options.json``).
"""
from __future__ import annotations

import re
from pathlib import Path

from .base import FEMALE, MALE, CorpusImporter, LabelError, Utterance

EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad",
            "05": "anger", "06": "fearful", "07": "disgust", "08": "surprised"}
NAME = re.compile(r"^(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})$")
AUDIO_ONLY, SPEECH, SONG = "03", "01", "02"


class Ravdess(CorpusImporter):
    name = "RAVDESS"
    emotions = frozenset(EMOTIONS.values())   # every label the corpus can give
    description = "RAVDESS speech: North-American English, 24 actors, 8 emotions incl. calm"
    layout = "Actor_XX/ folders (or flat) of wavs named like 03-01-05-01-02-01-12.wav (7 numeric fields)"
    options = {"merge_calm": "TUREVDB and RAVDESS: label calm as neutral (default: keep calm)"}

    def __init__(self, source_dir, merge_calm: bool = False, **options):
        super().__init__(source_dir, **options)
        self.merge_calm = bool(merge_calm)

    def parse(self, path: Path) -> Utterance:
        modality, channel, code, _intensity, _statement, _rep, actor = self.match(
            NAME, path.stem, "03-01-05-01-02-01-12 (modality-channel-emotion-intensity-statement-repetition-actor)"
        ).groups()
        if channel == SONG:
            raise LabelError("song (vocal channel 02), not speech")
        if channel != SPEECH:
            raise LabelError(f"unknown vocal channel {channel!r} (01 speech, 02 song)")
        if modality != AUDIO_ONLY:
            raise LabelError(f"modality {modality} is not audio-only (03)")
        if not 1 <= int(actor) <= 24:
            raise LabelError(f"unknown actor {actor!r} (01-24)")
        gender = MALE if int(actor) % 2 else FEMALE
        emotion = self.lookup(EMOTIONS, code)
        if emotion == "calm" and self.merge_calm:
            emotion = "neutral"
        return Utterance(path, emotion, actor, path.stem, gender)
