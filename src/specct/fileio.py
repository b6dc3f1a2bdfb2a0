"""Atomic writes and skip lists: an interrupted run leaves no half-written file."""
from __future__ import annotations

import contextlib
import csv
import errno
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    The temporary name keeps the suffix, so writers that look at the extension still work. A failed
    write names ``path``, not the temporary (the file the user knows): an OSError raised without a
    file name, or a writer's own error on a full disk (torch: ``unexpected pos ...``), becomes an
    OSError of ``path`` (errno ENOSPC when the disk is full).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
        yield tmp
        os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp makes 0600; give the file a normal file's mode
        os.replace(tmp, path)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
    except Exception as exc:
        if disk_nearly_full(path.parent):   # a writer that hides ENOSPC in its own error
            raise OSError(errno.ENOSPC, f"No space left on device ({type(exc).__name__}: {exc})", str(path)) from exc
        raise
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()


FULL_BELOW_BYTES = 1 << 20   # under this much free space a failed write is taken for a full disk


def disk_nearly_full(folder: str | Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < FULL_BELOW_BYTES
    except OSError:
        return False


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_text_if_changed(path: str | Path, text: str) -> bool:
    """Write ``text`` atomically unless the file already holds exactly it (so a re-run leaves
    its mtime alone); returns whether it wrote."""
    path = Path(path)
    if path.exists():
        with open(path, newline="") as fh:  # as written: csv rows end in \r\n
            if fh.read() == text:
                return False
    write_text_atomic(path, text)
    return True


def write_csv_atomic(path: str | Path, frame) -> None:
    """Write a pandas DataFrame as CSV, atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def remove_stale_temporaries(folder: str | Path) -> int:
    """Delete temporaries that a killed run left behind; returns how many."""
    count = 0
    for tmp in Path(folder).glob(".*.tmp*"):
        tmp.unlink(missing_ok=True)
        count += 1
    return count


class SkipList:
    """Collects (file, reason) pairs and writes them to ``skipped.csv``.

    Every reason is one line, printed as it happens, so a user sees why a file was left out.
    """

    def __init__(self, path: str | Path, echo=print):
        self.path = Path(path)
        self.rows: list[tuple[str, str]] = []
        self.echo = echo

    def add(self, file: str | Path, reason: str) -> None:
        reason = " ".join(str(reason).split())  # one line, always
        self.rows.append((str(file), reason))
        if self.echo:
            self.echo(f"skip {file}: {reason}")

    def __len__(self) -> int:
        return len(self.rows)

    def write(self) -> None:
        """Write the list (an empty list still writes the header, replacing a stale one); a list
        identical to the one on disk is left as it is."""
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer)
        writer.writerow(["file", "reason"])
        writer.writerows(self.rows)
        write_text_if_changed(self.path, buffer.getvalue())


def read_yaml(path: str | Path, error: type[Exception], what: str, missing: type[Exception] | None = None):
    """A YAML file's content (``{}`` when empty). A missing file is one ``missing`` (default ``error``)
    naming it as ``what``; a malformed one is one ``error`` with the parser's first line."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise (missing or error)(f"{path}: {what} not found")
    try:
        return yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from exc
    except UnicodeDecodeError:
        raise error(f"{path}: not valid YAML (not a text file)") from None
