"""CaFE (Canadian French Emotional speech dataset, Gournay, Lahaie & Lefebvre 2018): 12 actors.

Six sentences by 12 actors (odd numbers men, even women) in six emotions at two intensities plus
neutral. The corpus Readme.txt names files ``AA-E-I-S``: actor (01-12), emotion letter (C Colère
anger, D Dégoût disgust, J Joie happiness, N Neutre, P Peur fear, S Surprise, T Tristesse
sadness), intensity (1 Faible, 2 Fort) and sentence (1-6), in ``<Emotion>/<Intensity>/`` folders,
e.g. ``Colère/Faible/01-C-1-1.wav``; neutral has no intensity folder. The 48 kHz release names
neutral files ``Neutre/03-N-1-6.wav`` (intensity 1); the 192 kHz release (AIFF) leaves the field
out, ``Neutre/03-N-6.aiff``; both are read.

The labels come from the file name. The folders are a cross-check: a file under an emotion or
intensity folder that disagrees with its name is skipped. Folder names are compared after Unicode
NFC normalisation and case folding, so ``Colère`` unpacked as NFD (as zips made on macOS carry
it) still counts; a folder name garbled by a wrong zip encoding (``ColКre``, ``Col√®re``) is
not recognised and so not checked, and the file is imported from its name alone.
"""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from .base import FEMALE, MALE, CorpusImporter, LabelError, Utterance

EMOTIONS = {"C": "anger", "D": "disgust", "J": "happy", "N": "neutral", "P": "fearful", "S": "surprised",
            "T": "sad"}
NEUTRAL = "N"
FOLDERS = {"colère": "C", "dégoût": "D", "joie": "J", "neutre": "N", "peur": "P", "surprise": "S",
           "tristesse": "T"}
INTENSITY_FOLDERS = {"faible": "1", "fort": "2"}
NAME = re.compile(r"^(\d{2})-([A-Za-z])(?:-(\d))?-(\d)$")
ACTORS = range(1, 13)


def folder_key(name: str) -> str:
    """A folder name as compared: NFC (a macOS zip's NFD ``Colère`` equals the NFC one), case-folded."""
    return unicodedata.normalize("NFC", name).casefold()


class Cafe(CorpusImporter):
    name = "CAFE"
    emotions = frozenset(EMOTIONS.values())   # every label the corpus can give
    description = "CaFE: Canadian French, 12 actors, 6 emotions x 2 intensities + neutral"
    layout = ("<Emotion>/<Faible|Fort>/ folders (Neutre/ has none) of wavs or aiffs named like "
              "Colère/Faible/01-C-1-1.wav (actor, emotion letter, intensity, sentence)")
    audio_suffixes = (".wav", ".aiff", ".aif")

    def parse(self, path: Path) -> Utterance:
        actor, code, intensity, _sentence = self.match(
            NAME, path.stem, "01-C-1-1 (actor-emotion-intensity-sentence; neutral may omit the intensity)").groups()
        code = code.upper()
        emotion = self.lookup(EMOTIONS, code)
        if intensity is None and code != NEUTRAL:
            raise LabelError("no intensity field (only neutral files may omit it)")
        if intensity is not None and intensity not in INTENSITY_FOLDERS.values():
            raise LabelError(f"unknown intensity {intensity!r} (1 Faible, 2 Fort)")
        if int(actor) not in ACTORS:
            raise LabelError(f"unknown actor {actor!r} (01-12)")
        for folder in self._folders(path):
            key = folder_key(folder)
            if key in FOLDERS and FOLDERS[key] != code:
                raise LabelError(f"emotion letter {code!r} disagrees with folder {folder!r}")
            if key in INTENSITY_FOLDERS and intensity is not None and INTENSITY_FOLDERS[key] != intensity:
                raise LabelError(f"intensity {intensity} disagrees with folder {folder!r}")
        gender = MALE if int(actor) % 2 else FEMALE
        return Utterance(path, emotion, actor, path.stem, gender)

    def _folders(self, path: Path) -> tuple[str, ...]:
        """The folders between the source folder and the file (the source folder's own name is not read)."""
        try:
            return path.parent.relative_to(self.source_dir).parts
        except ValueError:
            return path.parent.parts[-2:]
