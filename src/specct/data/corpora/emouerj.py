"""emoUERJ: Brazilian Portuguese, 8 actors (4 men, 4 women), 4 emotions (377 files).

File names (Zenodo record 5427549): position 1 the gender (m man, w woman), 2-3 the actor id
(01-04 within each gender), 4 the emotion (h happiness, a anger, s sadness, n neutral), 5-6 the
recording number; ``w04a11.wav`` is the eleventh recording of actress 04 in anger. The speaker
id is gender plus number (``w04``).
"""
from __future__ import annotations

import re
from pathlib import Path

from .base import FEMALE, MALE, CorpusImporter, Utterance

EMOTIONS = {"h": "happy", "a": "anger", "s": "sad", "n": "neutral"}
NAME = re.compile(r"^([mw])(\d{2})([a-z])(\d{2})$", re.IGNORECASE)


class EmoUerj(CorpusImporter):
    name = "EMOUERJ"
    emotions = frozenset(EMOTIONS.values())   # every label the corpus can give
    description = "emoUERJ: Brazilian Portuguese, 8 actors, 4 emotions (377 files)"
    layout = "wavs named like w04a11.wav (gender m/w, actor 01-04, emotion h/a/s/n, recording), any folders"

    def parse(self, path: Path) -> Utterance:
        found = self.match(NAME, path.stem, "w04a11 (gender, actor, emotion, recording)")
        gender, number, code, _rec = (g.lower() for g in found.groups())
        return Utterance(path, self.lookup(EMOTIONS, code), f"{gender}{number}", path.stem,
                         FEMALE if gender == "w" else MALE)
