"""``specct <subcommand> [args]``: every stage of the project behind one command.

``COMMANDS`` maps each subcommand to the ``module:function`` that runs it and one line of help. A
module is imported only when its subcommand runs, so ``specct --help`` parses before any stage
library loads. The function takes the remaining arguments (``main(argv) -> int``) and its parser
is named ``specct <subcommand>`` (:func:`specct.core.cli.command_name`). The top-level scripts
(``train.py``, ``preprocess_spectrograms.py``, ...) call the same functions with the same flags.

This package also holds the parsers that used to live in those scripts: :mod:`.prepare`,
:mod:`.spectrograms`, :mod:`.embed`, :mod:`.features`, :mod:`.split`. docs/cli.md lists the
subcommands and the flag vocabulary.
"""
from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
from typing import Sequence

# subcommand -> ("module:function", one line of help); the order is the order of the work.
COMMANDS: dict[str, tuple[str, str]] = {
    "prepare": ("specct.commands.prepare:main",
                "import a downloaded corpus into datasets/<CORPUS>/ (prepare_corpus.py)"),
    "spectrograms": ("specct.commands.spectrograms:main",
                     "draw the plain and augmented spectrogram images (preprocess_spectrograms.py)"),
    "embed": ("specct.commands.embed:main", "speaker embeddings of every imported wav (preprocess_embedding.py)"),
    "features": ("specct.commands.features:main",
                 "baseline features: eGeMAPS, ComParE, SSL, speaker vectors (preprocess_features.py)"),
    "split": ("specct.commands.split:main",
              "speaker-independent train / validation / test folders (preprocess_split_dataset.py)"),
    "train": ("specct.train:main", "train a model on a split (train.py)"),
    "eval": ("specct.stages.evaluate:main", "evaluate a trained model on its held-out corpus (eval.py)"),
    "predict": ("specct.stages.predict:main", "emotion of wav files from a trained model (predict.py)"),
    "loco": ("specct.loco:main", "systems x held-out corpora: split, train, evaluate, tables (run_loco.py)"),
    "report": ("specct.commands.report:main", "report.html and report.md of an experiment (report.py)"),
    "saliency": ("specct.stages.saliency:main",
                 "where an image model looks: mean Grad-CAM per emotion over a split's rows (saliency.py)"),
    "demo": ("specct.stages.pipeline:main", "the whole pipeline on generated demo corpora, on the CPU"),
    "run": ("specct.study.engine:main", "a whole study from one experiment file, every missing stage in order"),
    "schema": ("specct.commands.schema:main", "the study file's JSON Schema, for editors that check YAML"),
}


def overview() -> str:
    """``specct --help``: the subcommands and their one line each."""
    width = max(map(len, COMMANDS))
    lines = ["usage: specct <subcommand> [args]      (specct <subcommand> --help: its flags)", "",
             "Cross-corpus speech emotion recognition, one stage per subcommand.", "", "subcommands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "options:", f"  {'-h, --help':<{width}}  this list", f"  {'--version':<{width}}  specct's version", "",
              "The top-level scripts named in brackets run the same code with the same flags. See docs/cli.md."]
    return "\n".join(lines)


def fail(message: str) -> int:
    """One line on stderr, exit status 2 (as argparse ends a wrong command line)."""
    print(f"specct: error: {message}", file=sys.stderr)
    return 2


def unknown(name: str) -> str:
    close = difflib.get_close_matches(name, COMMANDS, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    return f"unknown subcommand {name!r}; {hint}known: {', '.join(COMMANDS)}"


def resolve(name: str):
    """The function that runs subcommand ``name`` (its module imported now)."""
    target, _ = COMMANDS[name]
    module_name, function_name = target.split(":")
    return getattr(importlib.import_module(module_name), function_name)


def available(name: str) -> bool:
    """Whether the module of subcommand ``name`` is installed (found without importing it)."""
    module_name = COMMANDS[name][0].split(":")[0]
    return importlib.util.find_spec(module_name) is not None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(overview())
        return 0
    name, rest = argv[0], argv[1:]
    if name == "--version":
        from specct import __version__

        print(f"specct {__version__}")
        return 0
    if name.startswith("-"):
        return fail(f"{name}: give a subcommand first ({', '.join(COMMANDS)})")
    if name not in COMMANDS:
        return fail(unknown(name))
    if not available(name):
        return fail(f"{name}: not available in this installation ({COMMANDS[name][0].split(':')[0]} is missing)")
    from ..core.cli import command_name

    function = resolve(name)
    with command_name(f"specct {name}"):
        return function(rest) or 0
