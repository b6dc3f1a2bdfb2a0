"""One family of errors, and one boundary where every failure becomes one line.

Every error specct raises on purpose is a :class:`SpecctError`; its message is the one-line reason,
naming the file where there is one. Each script's ``main`` runs its work through :func:`run_script`,
which also turns what the system raises (an :class:`OSError`: disk full, permission denied, a name
too long, a missing file) and what a damaged file raises while it is read (a truncated zip, a file
that is not text, bad YAML or CSV) into ``script: error: <file>: <reason>`` on stderr and exit
status 2. Anything else is a bug and keeps its traceback; ``--debug`` (every parser of
:mod:`specct.core.cli` has it) or ``SPECCT_DEBUG=1`` shows the traceback of the expected failures too.
"""
from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import Callable


class SpecctError(Exception):
    """Base of specct's errors; ``str(error)`` is the one-line reason shown to the user."""


class InputError(SpecctError, ValueError):
    """Bad input to a stage: a missing folder, an unknown corpus, a bad option value."""


class MissingInputError(SpecctError, FileNotFoundError):
    """A file or folder an earlier stage should have made is not there."""


class DamagedFileError(SpecctError, ValueError):
    """A file specct wrote earlier that cannot be used as it is (truncated, edited, of another layout)."""


class PartialFailure(SpecctError):
    """A stage over several corpora that finished some of them and failed on others (listed)."""


# --------------------------------------------------------------------------- debug switch

_debug: list[bool] = [False]


def set_debug(on: bool = True) -> None:
    """Ask :func:`run_script` to let expected failures end in their traceback (``--debug``)."""
    _debug[0] = on


def debug_wanted() -> bool:
    return _debug[0] or os.environ.get("SPECCT_DEBUG", "") not in ("", "0")


# --------------------------------------------------------------------------- describing a failure

OS_REASONS = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "read-only file system",
    errno.ENAMETOOLONG: "file name too long",
    errno.ENOENT: "no such file or folder",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.EISDIR: "is a folder, not a file",
    errno.EEXIST: "already exists",
}


def corrupt_file_errors() -> tuple[type[BaseException], ...]:
    """What reading a damaged file raises: the standard library's, and those of yaml and pandas when
    they are loaded (a module never imported cannot have raised)."""
    import json
    import pickle
    import zipfile

    found: list[type[BaseException]] = [zipfile.BadZipFile, EOFError, pickle.UnpicklingError, UnicodeDecodeError,
                                        json.JSONDecodeError]
    if "yaml" in sys.modules:
        found.append(sys.modules["yaml"].YAMLError)
    if "pandas" in sys.modules:
        import pandas.errors

        found += [pandas.errors.ParserError, pandas.errors.EmptyDataError]
    return tuple(found)


def expected_errors() -> tuple[type[BaseException], ...]:
    """The failures a user can cause or meet (bad input, the file system, damaged files), as opposed to bugs."""
    return (SpecctError, OSError, *corrupt_file_errors())


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def describe_os_error(exc: OSError) -> str:
    """``<file>: <reason>``; a full disk also names the folder that is full."""
    reason = OS_REASONS.get(exc.errno) or (exc.strerror or one_line(exc))
    name = exc.filename if exc.filename is not None else None
    if is_disk_full(exc):
        folder = Path(name).parent if name is not None else None
        reason += f" (no space left on the device of {folder})" if folder is not None else " (no space left on device)"
    if name is None:
        return reason
    target = f"{name} -> {exc.filename2}" if exc.filename2 is not None else f"{name}"
    return f"{target}: {reason}"


def describe(exc: BaseException) -> str:
    """The one line a user reads for an expected failure."""
    if isinstance(exc, SpecctError):
        return one_line(exc)
    if isinstance(exc, OSError):
        return describe_os_error(exc)
    if isinstance(exc, UnicodeDecodeError):
        return f"a file that should be text is not ({one_line(exc)})"
    return f"a damaged or truncated file ({type(exc).__name__}: {one_line(exc)})"


# --------------------------------------------------------------------------- the boundary

def run_script(prog: str, body: Callable[[], object]) -> int:
    """Run a script's body; an expected failure ends it with ``prog: error: reason`` on stderr and exit status 2."""
    try:
        body()
    except expected_errors() as exc:
        if debug_wanted():
            raise
        print(f"{prog}: error: {describe(exc)}", file=sys.stderr)
        raise SystemExit(2) from None
    finally:
        set_debug(False)   # one script's --debug does not outlive it (tests call several mains in one process)
    return 0
