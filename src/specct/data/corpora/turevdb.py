"""TurEV-DB (Turkish Emotion-Voice Database, Canpolat, Ormanoğlu & Zeyrek 2020): 6 speakers, 82 words.

Distributed as ``Sound Source/{Angry,Calm,Happy,Sad}/<speaker>_<tag>_<word>.wav`` (the folder name
has a space), 1735 single words at 44.1 kHz, e.g. ``Sound Source/Angry/1157_kz_acik.wav``. The
emotion is the folder; the first field is the speaker (1157, 1234, 1358, 1984, 6783, 7895), the
last the spoken word (``ogul1`` once). The middle tag is the same in every file of a folder (kz in
Angry, sk in Calm, mt in Happy, hl in Sad); a file whose tag belongs to another folder is skipped.
The corpus documents no speaker genders (gender ``unknown``) and has no neutral class.

The repository as cloned also holds filtered copies of the test words under the same names
(``Model Output for Test Data/.../sound/Angry/1157_kz_beste.wav``); when the source folder holds
a ``Sound Source`` folder, only that folder is read.

``calm`` is kept as ``calm`` (as RAVDESS has it; the 4-class set drops it). ``merge_calm=True``
(``--merge_calm``) labels it ``neutral`` instead.
"""
from __future__ import annotations

import re
from pathlib import Path

from .base import CorpusImporter, LabelError, Utterance

SOUND_SOURCE = "Sound Source"
EMOTIONS = {"angry": "anger", "calm": "calm", "happy": "happy", "sad": "sad"}   # folder -> emotion
TAGS = {"kz": "angry", "sk": "calm", "mt": "happy", "hl": "sad"}               # tag -> its folder
NAME = re.compile(r"^(\d{4})_([a-z]{2})_([a-z]+\d*)$", re.IGNORECASE)


class TurEVDB(CorpusImporter):
    name = "TUREVDB"
    emotions = frozenset(EMOTIONS.values())   # every label the corpus can give
    description = "TurEV-DB: Turkish single words, 6 speakers, angry calm happy sad (1735 files, 44.1 kHz)"
    layout = ("'Sound Source/{Angry,Calm,Happy,Sad}/' (or the emotion folders directly) of wavs named like "
              "1157_kz_acik.wav (speaker, tag, word); folder = emotion")
    options = {"merge_calm": "TUREVDB and RAVDESS: label calm as neutral (default: keep calm)"}

    def __init__(self, source_dir, merge_calm: bool = False, **options):
        super().__init__(source_dir, **options)
        self.merge_calm = bool(merge_calm)

    def files(self):
        roots = sorted(p for p in [self.source_dir / SOUND_SOURCE, *self.source_dir.rglob(SOUND_SOURCE)] if p.is_dir())
        if not roots:
            return super().files()
        found = {p for root in roots for p in root.rglob("*") if p.suffix.lower() == ".wav" and p.is_file()}
        return iter(sorted(found))

    def parse(self, path: Path) -> Utterance:
        speaker, tag, _word = self.match(NAME, path.stem, "1157_kz_acik (speaker_tag_word)").groups()
        folder = path.parent.name
        emotion = EMOTIONS.get(folder.lower())
        if emotion is None:
            raise LabelError(f"not in an Angry, Calm, Happy or Sad folder (folder {folder!r})")
        tag_folder = self.lookup(TAGS, tag.lower(), "emotion tag")
        if tag_folder != folder.lower():
            raise LabelError(f"tag {tag!r} belongs to the {tag_folder.capitalize()} folder; disagrees with folder {folder!r}")
        if emotion == "calm" and self.merge_calm:
            emotion = "neutral"
        return Utterance(path, emotion, speaker, path.stem)
