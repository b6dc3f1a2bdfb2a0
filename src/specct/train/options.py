"""Command-line options of train.py, with timm's convention for configs.

``-c FILE.yml`` holds defaults whose keys are the flag names (``weight_decay`` or ``weight-decay``);
flags given on the command line override them.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

import yaml

from ..core.cli import ArgumentParser
from ..core.errors import InputError, SpecctError
from ..core.fileio import read_yaml
from ..core.flag_model import add_group, flag_ranges, negations
from ..core.precision import from_legacy_flags
from ..core.values import is_number
from .option_models import TRAIN_GROUPS


class ConfigError(SpecctError, ValueError):
    """A config file that cannot be used; the message names the file and the key."""


def build_parser() -> argparse.ArgumentParser:
    """train.py's parser, generated from the groups of :mod:`specct.train.option_models`."""
    p = ArgumentParser(
        prog="train.py", description="Train a spectrogram emotion classifier on a leave-one-corpus-out split.")
    p.add_argument("data_dir", nargs="?", default=None,
                   help="train_data folder of a split (data/<EVAL>/<n>_classes/<aug>/<balance>/train_data), "
                        "or the split folder holding it")
    for group in TRAIN_GROUPS:
        add_group(p, group)
    return p


def parse_model_kwargs(items) -> dict:
    """``["depth=2", "mlp_ratio=1.5"]`` (or a mapping, from a config) -> ``{"depth": 2, "mlp_ratio": 1.5}``."""
    if not items:
        return {}
    if isinstance(items, dict):
        return dict(items)
    kwargs = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        if not sep or not key:
            raise InputError(f"--model_kwargs {item!r}: expected KEY=VALUE")
        kwargs[key.strip()] = yaml.safe_load(value)
    return kwargs


def read_config(path: str | Path, parser: argparse.ArgumentParser) -> dict:
    """Flag defaults from a YAML file; unknown keys are an error, naming the file and key."""
    path = Path(path)
    values = read_yaml(path, ConfigError, "config file")
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of flag names to values")
    known = {a.dest for a in parser._actions}
    config = {}
    for key, value in values.items():
        dest = str(key).lstrip("-").replace("-", "_")
        if dest not in known:
            raise ConfigError(f"{path}: unknown option {key!r} (not a train.py flag)")
        config[dest] = value
    return config


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse ``-c/--config`` first, use it as defaults, then parse the remaining flags."""
    config_parser = ArgumentParser(add_help=False)
    config_parser.add_argument("-c", "--config", default=None, help="YAML file of flag defaults")
    known, remaining = config_parser.parse_known_args(argv)
    parser = build_parser()
    parser.add_argument("-c", "--config", default=None, help="YAML file of flag defaults (flags override it)")
    if known.config:
        try:
            parser.set_defaults(**read_config(known.config, parser))
        except ConfigError as exc:
            parser.error(str(exc))
    args = parser.parse_args(remaining)
    args.config = known.config
    resolve_pretrained(args, parser.error)
    resolve_precision_flag(args)
    check_spectrogram_safe(args, parser.error)
    # a value out of its range is one line, as every expected failure (no usage block: the flag is known)
    check_counts(args, lambda problem: parser.exit(2, f"{parser.prog}: error: {problem}\n"))
    check_domain_adversarial(args, parser.error)
    if args.data_dir is None:
        parser.error("the train_data folder is required (positional argument or data_dir in the config)")
    return args


def resolve_pretrained(args: argparse.Namespace, error) -> None:
    """A weights file implies --pretrained; asking for both a file and --no_pretrained is a contradiction."""
    if args.pretrained is None:
        args.pretrained = bool(args.pretrained_path)
    elif not args.pretrained and args.pretrained_path:
        error("--pretrained_path given together with --no_pretrained: drop one of them")


def resolve_precision_flag(args: argparse.Namespace) -> None:
    """--precision, or what --amp / --amp_dtype asked for; decided for the device when training starts."""
    args.precision = from_legacy_flags(args.precision, args.amp, args.amp_dtype)


def check_spectrogram_safe(args: argparse.Namespace, error) -> None:
    """Reject image augmentations that do not fit spectrograms (timm configs may carry them)."""
    if args.crop_pct != 1.0:
        error(f"crop_pct {args.crop_pct}: images are used whole (crop_pct 1.0); cropping cuts the time "
              "and frequency axes")
    if args.cutmix:
        error("cutmix is not supported for spectrograms; use --mixup")


# What each numeric flag may hold (argparse checks the type, not the range): the groups' bounds.
FLAG_RANGES = flag_ranges(TRAIN_GROUPS)


def range_problem(flags: dict) -> str | None:
    """The first flag of ``flags`` (``{name: value}``, as typed by argparse) outside its range, said in one line."""
    for name, bounds in FLAG_RANGES.items():
        given = flags.get(name)
        for value in (given if isinstance(given, (list, tuple)) else [given]):
            if is_number(value) and not bounds.holds(value):   # a config's text is typed elsewhere
                return f"--{name}: expected {bounds.text}, got {value!r}"
    return None


def check_counts(args: argparse.Namespace, error=None) -> None:
    """Every numeric flag within its range (``FLAG_RANGES``); ``error`` (default: an InputError) gets the line."""
    problem = range_problem(vars(args))
    if problem:
        if error is None:
            raise InputError(problem)
        error(problem)


def check_domain_adversarial(args: argparse.Namespace, error) -> None:
    """DANN's corpus head needs one corpus per image, so it refuses mixup (which the scratch configs
    switch on) before anything runs; the one-process condition is checked when training starts."""
    if args.domain_adversarial > 0 and (args.mixup > 0 or args.torchcompile):
        error("--domain_adversarial runs without --torchcompile and --mixup (a mixed image has no one "
              "corpus; the scratch configs mix: add --mixup 0)")


def default_args(data_dir: str | Path, **overrides) -> argparse.Namespace:
    """The flags' defaults as a namespace, for calling :func:`specct.train.train` from Python."""
    return training_options(data_dir, None, **overrides)


class _FlagParser(ArgumentParser):
    """train.py's parser with no defaults, raising an InputError instead of printing and exiting."""

    def __init__(self, source: str, **kwargs):
        super().__init__(**kwargs)
        self.source = source

    def error(self, message):
        raise InputError(f"{self.source}: {message}")


def given_flags(tokens: Sequence[str], source: str = "train.py flags") -> dict:
    """The train.py flags written in ``tokens`` (as on a command line), as ``{name: value}``: only
    those given, typed as train.py types them. Used once, where flags enter as text (run_loco.py's
    command line, an experiment file); an unknown or bad flag is one InputError naming ``source``."""
    parser = build_parser()
    flags = _FlagParser(source, prog="train.py", add_help=False, argument_default=argparse.SUPPRESS)
    for action in parser._actions:
        if action.option_strings and not isinstance(action, argparse._HelpAction):
            kwargs = {"dest": action.dest, "default": argparse.SUPPRESS}
            if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction,
                                   argparse._StoreConstAction)):
                kwargs.update(action="store_const", const=action.const)
            else:   # a flag with an optional value (--torchcompile) takes its constant alone
                kwargs.update(nargs=action.nargs, type=action.type, choices=action.choices, const=action.const)
            flags.add_argument(*action.option_strings, **kwargs)
    given, extra = flags.parse_known_args(list(tokens))
    if extra:
        import difflib

        unknown = next((t for t in extra if t.startswith("--")), None)
        close = difflib.get_close_matches(unknown, [o for a in parser._actions for o in a.option_strings
                                                    if o.startswith("--")], n=1) if unknown else []
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise InputError(f"{source}: not train.py flags: {' '.join(extra)}{hint}")
    problem = range_problem(vars(given))
    if problem:
        raise InputError(f"{source}: {problem}")
    return vars(given)


def training_options(data_dir: str | Path, config: str | Path | None = None, **values) -> argparse.Namespace:
    """train.py's options as its command line would give them: the flags' defaults, then the config
    file's values (``-c``), then ``values`` (flag names as keys), checked as train.py checks them."""
    parser = build_parser()
    if config:
        parser.set_defaults(**read_config(config, parser))
    args = parser.parse_args([str(data_dir)])
    args.config = str(config) if config else None
    unknown = [k for k in values if not hasattr(args, k)]
    if unknown:   # a programming error (names come from code or from given_flags), not bad input
        raise TypeError(f"unknown training option(s): {', '.join(unknown)}")
    for key, value in values.items():
        setattr(args, key, value)

    def error(message):
        raise InputError(message)

    resolve_pretrained(args, error)
    resolve_precision_flag(args)
    check_spectrogram_safe(args, error)
    check_counts(args, error)
    check_domain_adversarial(args, error)
    return args


# Flags whose False value is written with a flag of its own (``{"refit": False}`` is ``--no_refit``).
NEGATIONS = negations(TRAIN_GROUPS)


def flag_tokens(values: dict) -> list[str]:
    """``{name: value}`` as train.py command-line tokens, for printing a command."""
    tokens: list[str] = []
    for key, value in values.items():
        flag = f"--{key}"
        if value is True:
            tokens.append(flag)
        elif value is False:
            tokens += [NEGATIONS[key]] if key in NEGATIONS else []
        elif isinstance(value, (list, tuple)):
            tokens += [flag, *map(str, value)]
        elif value is not None:
            tokens += [flag, str(value)]
    return tokens
