"""CREMA-D (Crowd-sourced Emotional Multimodal Actors Dataset): 91 actors (1001-1091), 6 emotions.

Audio is distributed as ``AudioWAV/1001_DFA_ANG_XX.wav``: actor id, sentence code (one of 12:
IEO TIE IOM IWW TAI MTI IWL ITH DFA ITS TSI WSI), emotion (ANG anger, DIS disgust, FEA fear,
HAP happy, NEU neutral, SAD sad) and intensity (LO, MD, HI, or XX unspecified). The actors'
sex is not in the file name; when the corpus's ``VideoDemographics.csv`` (columns ActorID, Sex,
...) lies anywhere under the source folder it fills the gender column, otherwise gender is
"unknown". The folder and corpus field are ``CREMAD`` (``CREMA-D`` is accepted on the command
line) so that ``CORPUS-SPEAKER`` keys stay unambiguous.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

from .base import FEMALE, MALE, UNKNOWN, CorpusImporter, LabelError, Utterance

EMOTIONS = {"ANG": "anger", "DIS": "disgust", "FEA": "fearful", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
SENTENCES = {"IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI"}
INTENSITIES = {"LO", "MD", "HI", "XX"}
NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")
DEMOGRAPHICS = "VideoDemographics.csv"


def read_demographics(source_dir: Path) -> dict[str, str]:
    """ActorID -> male/female from VideoDemographics.csv, if the source folder holds one."""
    tables = sorted(source_dir.rglob(DEMOGRAPHICS))
    if not tables:
        return {}
    genders = {"male": MALE, "female": FEMALE}
    with open(tables[0], newline="") as fh:
        return {row["ActorID"].strip(): genders.get(row.get("Sex", "").strip().lower(), UNKNOWN)
                for row in csv.DictReader(fh) if row.get("ActorID")}


class CremaD(CorpusImporter):
    name = "CREMAD"
    emotions = frozenset(EMOTIONS.values())   # every label the corpus can give
    description = "CREMA-D: US English, 91 actors of varied age and ethnicity, 6 emotions (7442 files)"
    layout = "AudioWAV/ (or any folder) of wavs named like 1001_DFA_ANG_XX.wav; VideoDemographics.csv optional"

    def __init__(self, source_dir, **options):
        super().__init__(source_dir, **options)
        self.genders = read_demographics(self.source_dir)

    def parse(self, path: Path) -> Utterance:
        actor, sentence, code, intensity = self.match(
            NAME, path.stem, "1001_DFA_ANG_XX (actor_sentence_emotion_intensity)").groups()
        if sentence not in SENTENCES:
            raise LabelError(f"unknown sentence code {sentence!r}")
        if intensity not in INTENSITIES:
            raise LabelError(f"unknown intensity {intensity!r} (LO MD HI XX)")
        emotion = self.lookup(EMOTIONS, code)
        return Utterance(path, emotion, actor, path.stem, self.genders.get(actor, UNKNOWN))
