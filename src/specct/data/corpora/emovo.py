"""EMOVO: Italian, 6 actors (f1-f3, m1-m3), 7 emotions, 14 sentences each (588 files).

Distributed as one folder per actor, ``f1/dis-f1-b1.wav``: emotion code, actor, sentence code
(b1, b2, d1, d2, l1-l4, n1-n5), joined by hyphens. Emotion codes are Italian: dis disgusto,
gio gioia (happy), neu neutro, pau paura (fear), rab rabbia (anger), sor sorpresa, tri tristezza.
"""
from __future__ import annotations

import re
from pathlib import Path

from .base import FEMALE, MALE, CorpusImporter, Utterance

EMOTIONS = {"dis": "disgust", "gio": "happy", "neu": "neutral", "pau": "fearful",
            "rab": "anger", "sor": "surprised", "tri": "sad"}
NAME = re.compile(r"^([a-z]{3})-([fm][1-3])-([a-z]\d)$", re.IGNORECASE)


class Emovo(CorpusImporter):
    name = "EMOVO"
    emotions = frozenset(EMOTIONS.values())   # every label the corpus can give
    description = "EMOVO: Italian, 6 actors, 7 emotions (588 files)"
    layout = "actor folders f1..m3 (or flat) of wavs named like dis-f1-b1.wav (emotion-actor-sentence)"

    def parse(self, path: Path) -> Utterance:
        found = self.match(NAME, path.stem, "dis-f1-b1 (emotion-actor-sentence)")
        code, actor, _sentence = (g.lower() for g in found.groups())
        gender = FEMALE if actor.startswith("f") else MALE
        return Utterance(path, self.lookup(EMOTIONS, code), actor, path.stem, gender)
