"""One family of errors: every error specct raises on purpose is a :class:`SpecctError`.

Its message is the one-line reason, naming the file where there is one; each script's ``main``
catches the base class through :func:`run_script` and exits 2 with ``script: error: reason``.
"""
from __future__ import annotations

import sys
from typing import Callable


class SpecctError(Exception):
    """Base of specct's errors; ``str(error)`` is the one-line reason shown to the user."""


class InputError(SpecctError, ValueError):
    """Bad input to a stage: a missing folder, an unknown corpus, a bad option value."""


class MissingInputError(SpecctError, FileNotFoundError):
    """A file or folder an earlier stage should have made is not there."""


def one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def run_script(prog: str, body: Callable[[], object]) -> int:
    """Run a script's body; a SpecctError ends it with ``prog: error: reason`` on stderr and exit status 2."""
    try:
        body()
    except SpecctError as exc:
        print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
        raise SystemExit(2) from None
    return 0
