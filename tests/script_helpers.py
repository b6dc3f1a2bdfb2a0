"""The repository's top-level scripts in tests: loading one as a module, and checking its one-line errors."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str) -> ModuleType:
    """A top-level script of the repository (``train`` for train.py), imported as a module."""
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def one_line_error(capsys, call, pattern: str = "") -> str:
    """Run ``call`` (a script's main); assert it exits 2 with one stderr line matching ``pattern``; return it."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        call()
    assert stop.value.code == 2, f"exit status {stop.value.code!r}, expected 2"
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {lines}"
    assert re.search(pattern, lines[0]), f"{lines[0]!r} does not match {pattern!r}"
    return lines[0]


def record_parsers(monkeypatch) -> list:
    """Every specct.core.cli.ArgumentParser that parses from now on, in order (how a test catches the parser a
    command builds while it prints --help)."""
    from specct.core import cli

    made = []
    original = cli.ArgumentParser.parse_known_args

    def record(self, args=None, namespace=None):
        made.append(self)
        return original(self, args, namespace)

    monkeypatch.setattr(cli.ArgumentParser, "parse_known_args", record)
    return made
