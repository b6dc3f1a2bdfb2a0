"""``specct schema``: the study file's JSON Schema (:mod:`specct.study.schema`), for editors."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from ..core.cli import ArgumentParser
from ..core.errors import run_script


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog="specct schema", description=(
        "Print the JSON Schema of a study file (specct run study.yml): its keys, their types and ranges, for "
        "editors that check YAML against a schema (in many, a first line "
        "'# yaml-language-server: $schema=study.schema.json')."))
    p.add_argument("--output", "-o", help="write the schema to this file instead of standard output")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)   # --help ends here, before pydantic and the checks load

    def write() -> None:
        from ..core.fileio import write_text_atomic
        from ..study.schema import json_schema

        text = json.dumps(json_schema(), indent=2) + "\n"
        if args.output:
            write_text_atomic(Path(args.output), text)
        else:
            print(text, end="")

    return run_script("specct schema", write)
