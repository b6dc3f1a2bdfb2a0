"""The command-line vocabulary every specct script shares.

One rule for flag names: the documented spelling uses underscores (``--datasets_dir``,
``--batch_size``), as the original preprocessing scripts did; the hyphen spelling of timm's
``train.py`` (``--batch-size``) is accepted everywhere too, without a second line in ``--help``.
Two rules for meaning: ``--datasets_dir`` is always the folder of imported corpora, ``--datasets``
always a space-separated list of corpus names; every list is space-separated. An older spelling
of a flag stays accepted as a hidden alias (:func:`add_alias`); docs/cli.md lists the vocabulary.

Every flag's help shows its default once: :class:`HelpFormatter` appends ``(default: X)`` unless
the help already says what the default is. ``specct <subcommand>`` names the parser it runs
through :func:`command_name`, so its usage and errors read ``specct train`` rather than ``train.py``.
"""
from __future__ import annotations

import argparse
import copy
import sys
from contextlib import contextmanager
from typing import Iterator, Sequence

# The prog the next top-level parser takes, and the name of the command running (both set by
# ``specct <subcommand>``; empty otherwise).
_next_prog: list[str] = []
_running: list[str] = []


@contextmanager
def command_name(prog: str) -> Iterator[None]:
    """Inside, the first :class:`ArgumentParser` built with ``--help`` is named ``prog`` (its own
    prog, e.g. ``train.py``, is what a top-level script shows), and :func:`program_name` is ``prog``."""
    _next_prog[:] = [prog]
    _running[:] = [prog]
    try:
        yield
    finally:
        _next_prog.clear()
        _running.clear()


def program_name(default: str) -> str:
    """The name errors should give: ``specct <subcommand>`` while the dispatcher runs one, else
    ``default`` (the script's own name, e.g. ``run_loco.py``)."""
    return _running[0] if _running else default


SWITCHES = (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse._StoreConstAction,
            argparse._CountAction, argparse._HelpAction, argparse._VersionAction)


def format_default(value) -> str:
    """A default as it is typed on the command line: lists space-separated."""
    if isinstance(value, (list, tuple)):
        return " ".join(map(str, value))
    return str(value)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends ``(default: X)`` to a flag's help, once: not when the help already says "default",
    not when the default is None (the help says what happens then), not for an on/off switch
    (``--no_pretrained``'s stored value is no default a user types)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (action.default in (None, argparse.SUPPRESS) or isinstance(action, SWITCHES)
                or "default" in text.lower() or not (action.option_strings or action.nargs in ("?", "*"))):
            return text
        # the help is a %-template (argparse expands %(prog)s ...): the default's own % stays literal
        return f"{text} (default: {format_default(action.default).replace('%', '%%')})"

    def _format_text(self, text: str) -> str:
        """A description taken from a docstring, without its reST markup (``make demo`` reads make demo)."""
        return super()._format_text(text.replace("``", ""))

    def _expand_help(self, action: argparse.Action) -> str:
        return super()._expand_help(action).replace("``", "")


class RawDescriptionHelpFormatter(HelpFormatter, argparse.RawDescriptionHelpFormatter):
    """:class:`HelpFormatter` that keeps the description's line breaks (a script's docstring)."""


class DebugAction(argparse.Action):
    """``--debug``: the failures :func:`specct.core.errors.run_script` would end in one line keep their traceback."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from .errors import set_debug

        set_debug(True)


DEBUG_HELP = "on an error, show the full traceback instead of the one-line message (or set SPECCT_DEBUG=1)"


class ArgumentParser(argparse.ArgumentParser):
    """An ``argparse.ArgumentParser`` that also accepts ``--a-b`` for a flag declared as ``--a_b``,
    shows each default once (:class:`HelpFormatter`), takes the name ``specct <subcommand>``
    gives it (:func:`command_name`) and, as a script's own parser (one with ``--help``), ``--debug``."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        if self.add_help and _next_prog:
            self.prog = _next_prog.pop()

    def parse_known_args(self, args: Sequence[str] | None = None, namespace=None):
        args = sys.argv[1:] if args is None else list(args)
        self.add_debug_flag()
        return super().parse_known_args(self.underscore_spelling(args), namespace)

    def add_debug_flag(self) -> None:
        """``--debug``, added when the parser first parses rather than when it is built: a parser
        only built (train.py's, read for its flag list) never holds it, so it is no training flag."""
        if self.add_help and "--debug" not in self._option_string_actions:
            self.add_argument("--debug", action=DebugAction, help=DEBUG_HELP)

    def underscore_spelling(self, args: Sequence[str]) -> list[str]:
        """``--batch-size=8`` -> ``--batch_size=8`` where the underscore flag exists; the rest untouched."""
        out: list[str] = []
        for i, token in enumerate(args):
            if token == "--":  # everything after a bare -- is a positional value
                return out + list(args[i:])
            if token.startswith("--") and "-" in token[2:]:
                name, sep, value = token.partition("=")
                candidate = "--" + name[2:].replace("-", "_")
                if candidate in self._option_string_actions:
                    token = candidate + sep + value
            out.append(token)
        return out


def add_datasets_arguments(parser: argparse.ArgumentParser, datasets_help: str, default_dir: str = "./datasets"):
    """``--datasets_dir`` (the folder of imported corpora) and ``--datasets`` (corpus names), worded the same everywhere."""
    parser.add_argument("--datasets_dir", default=default_dir,
                        help=f"folder of imported corpora, <CORPUS>/<CORPUS>_wav (default: {default_dir})")
    parser.add_argument("--datasets", nargs="+", default=None, metavar="CORPUS", help=datasets_help)


def add_alias(container, alias: str, of: str) -> argparse.Action:
    """``alias`` parses exactly as the flag ``of`` (same destination, type, choices), unlisted in
    ``--help``: an older spelling that keeps old commands working. ``container``: a parser or group."""
    action = container._option_string_actions[of]
    hidden = copy.copy(action)
    hidden.option_strings = [alias]
    hidden.help = argparse.SUPPRESS
    hidden.default = argparse.SUPPRESS
    hidden.required = False
    return container._add_action(hidden)


def add_progress_argument(parser, help: str = "no progress bars") -> None:
    """``--no_progress``, the one name of the switch on every command that draws progress bars."""
    parser.add_argument("--no_progress", action="store_true", help=help)


def add_rerun_arguments(parser) -> None:
    """``--force_new`` and ``--redo``: what a run of an experiment recorded with other settings does
    instead of stopping (run_loco.py and ``specct run`` alike)."""
    parser.add_argument("--force_new", action="store_true",
                        help="settings other than the experiment's record (train flags, systems, inputs): start a "
                             "new experiment beside it, <name>-2 (or the first free number), instead of stopping")
    parser.add_argument("--redo", nargs="+", default=None, metavar="SYSTEM[/CORPUS]",
                        help="clear and run again these jobs (a system's, or one held-out corpus of it); with changed "
                             "settings, every job that ran with the recorded ones must be named")


EXECUTORS = ("serial", "local", "slurm")


def add_executor_arguments(parser) -> None:
    """``--executor``, ``--jobs``, ``--detach``: where an experiment's jobs run (run_loco.py and ``specct
    run`` alike; :mod:`specct.loco.executor` reads them)."""
    parser.add_argument("--executor", choices=EXECUTORS, default="serial",
                        help="serial: one job after another in this process; local: --jobs at once on this "
                             "machine, each in its own process with its share of the cores and its own log; "
                             "slurm: Slurm job arrays through submitit (a study's cluster: section)")
    parser.add_argument("--jobs", type=int, default=None, metavar="N",
                        help="with --executor local: jobs at once (default: 2)")
    parser.add_argument("--detach", action="store_true",
                        help="with --executor slurm: submit the jobs and return; the same command later "
                             "waits for them (never submitting them twice) and collects")


MODEL_DIR_REQUIRED = "the model folder is required: give it as MODEL_DIR or as --model_dir MODEL_DIR"


def add_model_dir_arguments(parser, help: str) -> None:
    """A trained model's folder, given either way: positionally (``eval.py RUN``) or ``--model_dir RUN``;
    :func:`model_dir_of` reads it back."""
    parser.add_argument("model_folder", nargs="?", default=None, metavar="MODEL_DIR", help=f"{help} (or --model_dir)")
    parser.add_argument("--model_dir", default=None, help="the same as the positional MODEL_DIR")


def model_dir_of(args: argparse.Namespace, parser: argparse.ArgumentParser) -> str:
    """The model folder :func:`add_model_dir_arguments` parsed (stored in ``args.model_dir``); one
    error when it is missing or given twice, differently."""
    given = list(dict.fromkeys(v for v in (getattr(args, "model_folder", None), args.model_dir) if v))
    if not given:
        parser.error(MODEL_DIR_REQUIRED)
    if len(given) > 1:
        parser.error(f"two model folders given ({given[0]} and --model_dir {given[1]}): give one")
    args.model_dir = given[0]
    return given[0]
