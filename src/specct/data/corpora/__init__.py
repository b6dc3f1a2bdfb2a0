"""Corpus importers, one small module per corpus, registered by upper-case name.

``get_importer("crema-d")`` returns the importer class for a name given in any case or common
spelling; ``CORPORA`` maps each canonical name (the folder name under datasets/) to its class.
"""
from __future__ import annotations

import unicodedata

from .aesdd import Aesdd
from .ased import Ased
from .base import CorpusError, CorpusImporter, LabelError, SourceLayoutError, Utterance
from .cafe import Cafe
from .cremad import CremaD
from .emodb import EmoDB
from .emouerj import EmoUerj
from .emovo import Emovo
from .esd import Esd
from .iemocap import Iemocap
from .jtes import Jtes
from .mesd import Mesd
from .oreau import Oreau
from .ravdess import Ravdess
from .savee import Savee
from .shemo import Shemo
from .subesco import Subesco
from .tess import Tess
from .turevdb import TurEVDB
from .urdu import Urdu

CORPORA: dict[str, type[CorpusImporter]] = {
    cls.name: cls
    for cls in (EmoDB, Emovo, Ravdess, Tess, Savee, CremaD, Iemocap, Esd, Subesco, Urdu, Jtes, Mesd, Oreau, EmoUerj,
                TurEVDB, Ased, Cafe, Shemo, Aesdd)
}


class UnknownCorpusError(CorpusError):
    """A corpus name that no importer answers to."""


def canonical_corpus_name(name: str) -> str:
    """``crema-d``, ``CREMA_D``, ``Oréau``, ``TurEV-DB`` -> ``CREMAD``, ``OREAU``, ``TUREVDB``."""
    plain = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    key = "".join(ch for ch in plain.upper() if ch.isalnum())
    if key not in CORPORA:
        raise UnknownCorpusError(f"unknown corpus {name!r}; supported: {', '.join(CORPORA)}")
    return key


def get_importer(name: str) -> type[CorpusImporter]:
    return CORPORA[canonical_corpus_name(name)]


__all__ = ["CORPORA", "CorpusError", "CorpusImporter", "LabelError", "SourceLayoutError", "UnknownCorpusError", "Utterance",
           "canonical_corpus_name", "get_importer"]
