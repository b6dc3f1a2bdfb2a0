"""Files specct wrote and reads back (YAML records, CSV tables), checked before they are used.

A record or table edited by hand, truncated by a full disk or replaced by another file is a
:class:`~specct.core.errors.DamagedFileError` naming the file and what is wrong with it: detected and
reported, never guessed around. Callers that can make the file again (a finished job's predictions)
treat the error as "not there" and redo the work.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .errors import DamagedFileError, MissingInputError
from .fileio import read_yaml


def read_record(path: str | Path, what: str) -> dict:
    """A YAML mapping specct wrote (args.yaml, job.yaml, performance.yaml, experiment.yaml)."""
    path = Path(path)
    content = read_yaml(path, DamagedFileError, what, missing=MissingInputError)
    if content == {}:   # every record specct writes holds keys: an empty one was cut short, never "no record"
        raise DamagedFileError(f"{path}: damaged {what} (empty)")
    if not isinstance(content, dict):
        raise DamagedFileError(f"{path}: damaged {what} (a {type(content).__name__}, not a mapping of keys)")
    return content


def read_csv_table(path: str | Path, what: str, columns: Sequence[str] = (), rows: bool = False,
                   numeric: Sequence[str] = (), **read_kwargs):
    """A CSV table specct wrote, with at least ``columns``; ``rows``: it must hold at least one row;
    ``numeric``: columns that must hold numbers (or be empty)."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{path}: {what} not found")
    try:
        frame = pd.read_csv(path, **read_kwargs)
    except pd.errors.EmptyDataError:
        raise DamagedFileError(f"{path}: damaged {what} (empty file)") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DamagedFileError(f"{path}: damaged {what} ({first})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DamagedFileError(f"{path}: damaged {what} (no column {', '.join(missing)})")
    if rows and frame.empty:
        raise DamagedFileError(f"{path}: damaged {what} (no rows)")
    for column in numeric:
        values = frame[column].dropna() if column in frame.columns else None   # a table without rows has no text
        if values is not None and len(values) and not pd.api.types.is_numeric_dtype(values):
            raise DamagedFileError(f"{path}: damaged {what} (column {column} holds text, not numbers)")
    return frame
