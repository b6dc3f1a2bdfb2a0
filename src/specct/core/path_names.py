"""Names that become folder names (an experiment, a system, a corpus): checked before any path is made.

A name with a separator or ``..`` would write outside its parent folder or make nested folders that
later readers do not find; a control character or an empty name makes a folder nobody can type.
"""
from __future__ import annotations

import os

from .errors import InputError

FORBIDDEN = set('/\\<>:"|?*')
MAX_BYTES = 255   # the longest file name common file systems take


def path_name_problem(name) -> str | None:
    """Why ``name`` cannot be one folder name, or None."""
    if not isinstance(name, str) or not name.strip():
        return "is empty"
    if name != name.strip():
        return "starts or ends with a space"
    if any(sep and sep in name for sep in (os.sep, os.altsep)) or FORBIDDEN & set(name):
        bad = "".join(sorted(FORBIDDEN & set(name))) or os.sep
        return f"holds {bad!r}; it must be one folder name (no / \\ < > : \" | ? *)"
    if ".." in name:
        return "holds '..'; it must name a folder inside its parent"
    if not name.isprintable():
        return "holds a character that cannot be printed (a tab, a newline, a control character)"
    if name.startswith(("-", ".")):
        return "starts with '-' or '.' (a flag, or a hidden folder)"
    if len(name.encode()) > MAX_BYTES:
        return f"is longer than {MAX_BYTES} bytes"
    return None


def check_path_name(name, what: str) -> str:
    """``name`` itself when it can be one folder name; else one-line InputError naming ``what``."""
    problem = path_name_problem(name)
    if problem is not None:
        raise InputError(f"{what} {name!r} {problem}")
    return name
