"""Atomic writes and skip lists: an interrupted run leaves no half-written file."""
from __future__ import annotations

import contextlib
import csv
import errno
import io
import os
import re
import shutil
import socket
import tempfile
import time
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
        fd, name = tempfile.mkstemp(prefix=f".{path.stem}.{writer_tag()}.", suffix=f".tmp{path.suffix}",
                                    dir=path.parent)
        os.close(fd)
        tmp = Path(name)
        yield tmp
        _kill_before_rename_if_asked()
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


# Fault injection for the kill tests (tests/test_hostile_checkpoints.py, docs/reliability.md), read here
# only: with SPECCT_KILL_AT_WRITE=k the process kills itself with SIGKILL just before its k-th atomic
# rename, the temporary written and left behind, as a kill at that moment would.
KILL_AT_WRITE_VARIABLE = "SPECCT_KILL_AT_WRITE"
_renames_begun = 0


def _kill_before_rename_if_asked() -> None:
    global _renames_begun
    wanted = os.environ.get(KILL_AT_WRITE_VARIABLE)
    if not wanted:
        return
    _renames_begun += 1
    if _renames_begun == int(wanted):
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


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


# A temporary's name carries its writer (``w<pid>@<host>``), so that a run cleaning up after a killed
# one leaves alone the temporaries of a run still writing beside it (two imports of one corpus at once).
TEMPORARY_WRITER = re.compile(r"\.w(\d+)@([A-Za-z0-9-]+)\.[^.]+\.tmp")
ABANDONED_AFTER_SECONDS = 24 * 3600   # no single write takes this long: older is abandoned, whoever wrote it


def host_tag() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:24] or "host"


def writer_tag() -> str:
    return f"w{os.getpid()}@{host_tag()}"


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this host (one we may not signal still runs)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:   # an exited process its parent has not reaped yet (a zombie) answers the signal too
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def temporary_abandoned(tmp: Path) -> bool:
    """A temporary no running writer will finish: its writer's pid is dead on this host, it names
    no writer (made before names carried one), or it is older than ABANDONED_AFTER_SECONDS."""
    try:
        age = time.time() - tmp.stat().st_mtime
    except FileNotFoundError:
        return False
    if age > ABANDONED_AFTER_SECONDS:
        return True
    writer = TEMPORARY_WRITER.search(tmp.name)
    if writer is None:
        return True
    pid, host = int(writer.group(1)), writer.group(2)
    if host != host_tag():
        return False   # another machine's writer on a shared folder: only its age tells
    return pid != os.getpid() and not pid_alive(pid)


def remove_stale_temporaries(folder: str | Path, recursive: bool = False) -> int:
    """Delete the temporaries that killed runs left behind (never one a running writer still
    writes, see :func:`temporary_abandoned`), in ``folder`` (and below it, ``recursive``); returns how many."""
    count = 0
    for tmp in (Path(folder).rglob if recursive else Path(folder).glob)(".*.tmp*"):
        if temporary_abandoned(tmp):
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
