"""An experiment's definition and record: its systems, its options, ``experiment.yaml``.

Flags for train.py enter here as text (run_loco.py's command line, an experiment file) and leave
as values (``{name: value}``, :func:`specct.train.options.given_flags`); nothing below parses them
again.
"""
from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import yaml

from ..core import paths
from ..core.errors import DamagedFileError, InputError, MissingInputError
from ..core.fileio import read_yaml, write_text_atomic
from ..core.path_names import check_path_name
from ..core.records import read_record
from ..data.split_settings import LOCO_ARGUMENTS, SplitSettings
from .settings import (current_inputs, describe_differences, global_differences, settings_record, system_configs,
                       system_differences)

EXPERIMENT_FILE = "experiment.yaml"
PROTOCOLS = ("loco", "pairwise")
DIAGONALS = ("kfold", "loso")
DEFAULT_MODEL = "speaker_vgg_cct_7_7x2_112"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


@dataclass
class SystemSpec:
    """One system of an experiment: a name (its folder), a ``--model`` name, a train.py config and
    its own train.py flags (``{name: value}``)."""
    name: str
    model: str
    config: str | None = None
    flags: dict = field(default_factory=dict)
    sweep: list[dict] | None = None   # variants [{name, flags}] trained and chosen on validation (loco.sweeps)
    # the system's own split options (validation, augmentation, ...) and image settings (SpectrogramConfig
    # fields) over the experiment's: its jobs read splits and images of their own (system_options)
    split: dict | None = None
    spectrogram: dict | None = None


OPTIONAL_SYSTEM_FIELDS = ("sweep", "split", "spectrogram")


def system_record(system: SystemSpec) -> dict:
    """A system as the records keep it; ``sweep``, ``split``, ``spectrogram`` only where given (records
    without stay as they were)."""
    record = asdict(system)
    for key in OPTIONAL_SYSTEM_FIELDS:
        if not record.get(key):
            record.pop(key, None)
    return record


# The split options a system may set for itself (the rest are the experiment's, as the folds are).
SYSTEM_SPLIT_KEYS = ("validation", "validation_corpus", "percent_subject_validation", "augmentation", "balanced")


def settings_tag(settings: dict) -> str:
    """``key=value,...`` of a system's own settings, sorted: the name of the folder they draw or split into."""
    def text(value):
        return "-".join(map(text, value)) if isinstance(value, (list, tuple)) else str(value).lower()
    return ",".join(f"{key}={text(value)}" for key, value in sorted(settings.items()))


def images_dir(datasets_dir: str | Path, spectrogram: dict | None) -> Path:
    """The datasets folder of images drawn with ``spectrogram`` over the study's settings: the folder
    itself without, else ``<datasets_dir>@<settings>`` beside it (its wavs, speaker vectors and features
    linked to the folder's, images of its own; the images of one folder share one SpectrogramConfig)."""
    folder = Path(datasets_dir)
    return folder.with_name(f"{folder.name}@{settings_tag(spectrogram)}") if spectrogram else folder


def system_options(opts: LocoOptions, system: SystemSpec) -> LocoOptions:
    """The options a system's jobs split and train with: the experiment's, with the system's own split
    options and images. Its splits go to a data folder of their own where the validation rows or the
    images differ (the augmentation group and balancing have their own subfolders already)."""
    from dataclasses import replace

    split = {k: v for k, v in (system.split or {}).items() if getattr(opts, k) != v}
    if not split and not system.spectrogram:
        return opts
    own_rows = {k: v for k, v in split.items() if k not in ("augmentation", "balanced")}
    tag = settings_tag({**own_rows, **(system.spectrogram or {})})
    data_dir = Path(opts.data_dir)
    return replace(opts, **split, datasets_dir=str(images_dir(opts.datasets_dir, system.spectrogram)),
                   data_dir=str(data_dir.with_name(f"{data_dir.name}@{tag}")) if tag else opts.data_dir)


@dataclass(kw_only=True)
class LocoOptions(SplitSettings):
    """An experiment: the split settings every fold shares (SplitSettings: classes, images, validation,
    PCA, seed: of the splits, and of the trainings when seeds is None), its corpora, systems and jobs."""
    datasets_dir: str = str(paths.DATASETS_DIR)
    corpora: list[str] | None = None          # --datasets: corpora held out in turn (default: every imported one)
    systems: list[SystemSpec] = field(default_factory=lambda: [SystemSpec(DEFAULT_MODEL, DEFAULT_MODEL)])
    seeds: list[int] | None = None            # training seeds: one job per (system, corpus, seed); None: [seed]
    vary_split: bool = False                  # redraw the split per training seed (its own data_dir/seed-<n>)
    data_dir: str = str(paths.DATA_DIR)
    output: str = "output"
    train_flags: dict = field(default_factory=dict)   # train.py flags for every system ({name: value})
    bootstrap: int = 1000
    progress: bool = True
    experiment: str | None = None             # folder name under <output>/loco; default: the systems' names
    reference: str | None = None              # system the others are compared with; default: the first
    protocols: list[str] = field(default_factory=lambda: ["loco"])
    diagonal: str = "kfold"                   # within-corpus split of the pairwise diagonal
    folds: int | None = 5                     # its folds (kfold, or speaker groups with loso); None: one per speaker
    max_jobs: int | None = None               # stop after running this many jobs (a finished job does not count)
    reuse_root: str | None = None             # where finished trainings are indexed for reuse (loco.reuse); None: off
    executor: object = None                   # how the jobs run (loco.executor.Executor; None: in turn, here)


SPLIT_FIELDS = ("datasets_dir", *LOCO_ARGUMENTS, "data_dir", "vary_split")   # what the experiment's splits depend on


def training_seeds(opts: LocoOptions) -> list[int]:
    """The experiment's training seeds, checked: distinct non-negative integers, ``[seed]`` by default."""
    seeds = [opts.seed] if opts.seeds is None else list(opts.seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise InputError(f"seeds: expected a list of non-negative integers, got {opts.seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise InputError(f"seeds: {seeds} names a seed twice")
    return seeds


def system_name(model: str, config: str | None) -> str:
    return f"{model}-{Path(config).stem}" if config else model


def check_systems(systems: Sequence[SystemSpec], source: str) -> None:
    if not systems:
        raise InputError(f"{source}: no system to run")
    names = [s.name for s in systems]
    for name in names:
        if not NAME_PATTERN.match(name):
            raise InputError(f"{source}: system name {name!r} must be a plain folder name "
                             f"(letters, digits, . _ + -)")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"{source}: system {', '.join(twice)} listed twice; give each a distinct name "
                         f"(an --experiment file names them)")


# train.py flags each job sets itself: as a system's or the experiment's flag they would override every job's
JOB_SET_FLAGS = {"seed": "each job's seed comes from the experiment's seed and seeds; as a flag it would give "
                         "every job the same one",
                 "experiment": "each job's folder is the experiment's; as a flag every job would write to one",
                 "model": "a system names its model with model, not with a flag"}


def check_trainable(opts: LocoOptions, source: str) -> None:
    """Every system's model known and its train.py options as a job would build them (config file read,
    its keys and the flags train.py's), before any job runs: a bad second system never lets the first
    one's jobs run, nor enters experiment.yaml."""
    from .. import systems
    from ..core.errors import SpecctError
    from ..train.options import training_options
    from .sweeps import variant_systems

    for spec in (variant for system in opts.systems for variant in variant_systems(system)):   # each sweep variant
        try:
            per_job = [f for f in JOB_SET_FLAGS if f in opts.train_flags or f in spec.flags]
            if per_job:
                raise InputError(f"--{per_job[0]}: {JOB_SET_FLAGS[per_job[0]]}")
            systems.check_model(spec.model)
            systems.system_for_model(spec.model).check_flags(spec.model, spec.flags)
            training_options(opts.data_dir, spec.config, **{**opts.train_flags, **spec.flags, "model": spec.model})
        except SpecctError as exc:
            raise type(exc)(f"{source}: system {spec.name}: {exc}") from None


def flags_of_entry(flags, source: str) -> dict:
    """An experiment file's ``flags``: a list of command-line tokens, or a mapping ``flag: value``."""
    from ..train.options import given_flags

    if isinstance(flags, dict):
        flags = [token for key, value in flags.items()
                 for token in ([f"--{key}"] + ([] if value is True else [str(v) for v in
                                               (value if isinstance(value, list) else [value])]))]
    return given_flags([str(f) for f in flags or []], source)


def read_experiment_file(path: str | Path) -> tuple[list[SystemSpec], dict]:
    """Systems (and optional ``name``, ``reference``) of an experiment YAML file::

        name: cct-vs-speaker          # optional: the folder under output/loco
        reference: cct                # optional: default the first system
        systems:
          - name: cct
            model: cct_7_7x2_112
            config: configs/cct.yml   # optional train.py config
            flags: [--epochs, "20"]   # optional extra train.py flags (a list, or a mapping flag: value)
    """
    path = Path(path)
    content = read_yaml(path, InputError, "experiment file", missing=MissingInputError)
    unknown = sorted(set(content) - {"name", "reference", "systems"}) if isinstance(content, dict) else []
    if not isinstance(content, dict) or not isinstance(content.get("systems"), list) or unknown:
        raise InputError(f"{path}: expected keys name, reference and a list 'systems'"
                         + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
    systems = []
    for i, entry in enumerate(content["systems"], start=1):
        if not isinstance(entry, dict) or "model" not in entry:
            raise InputError(f"{path}: system {i} needs at least a 'model'")
        extra = sorted(set(entry) - {"name", "model", "config", "flags"})
        if extra:
            raise InputError(f"{path}: system {i} has unknown key(s) {', '.join(extra)} "
                             f"(name, model, config, flags)")
        systems.append(SystemSpec(str(entry.get("name") or system_name(entry["model"], entry.get("config"))),
                                  str(entry["model"]), entry.get("config"),
                                  flags_of_entry(entry.get("flags"), f"{path}: system {i}")))
    check_systems(systems, str(path))
    if "name" in content:
        check_path_name(content["name"], f"{path}: experiment name")
    return systems, {k: content[k] for k in ("name", "reference") if content.get(k)}


def experiment_name(opts: LocoOptions) -> str:
    """The experiment's folder name under <output>/loco, checked: one folder, inside it."""
    if opts.experiment is not None:
        return check_path_name(opts.experiment, "experiment name")
    return check_path_name("+".join(s.name for s in opts.systems), "experiment name (the systems' names joined)")


def experiment_dir(opts: LocoOptions) -> Path:
    return Path(opts.output) / "loco" / experiment_name(opts)


class SettingsChangedError(InputError):
    """A rerun of an experiment with settings other than the ones its jobs ran with (``split``: other
    split options). The message says ``what`` differs, then the ways on: run_loco.py's flags, or with
    ``study`` (the command that ran a study file, ``specct run FILE``) that command's flags and the
    file's keys."""

    def __init__(self, what: str, split: bool = False, study: str | None = None, rename: str | None = None):
        self.what, self.split, self.study, self.rename = what, split, study, rename
        rerun = f"{study} " if study else ""
        if split:
            # the old splits stay in the data folder: a new name alone would meet them there
            rename = rename or ("give the study another name: or output:" if study
                                else "another --name with another --data_dir")
            choices = f"{rerun}--force_new for a new experiment beside it (with splits of its own), or {rename}"
        else:
            choices = (f"{rerun}--force_new starts a new experiment beside it, {rerun}--redo SYSTEM[/CORPUS] redoes "
                       f"the jobs they touch")
        super().__init__(f"{what}; {choices}")

    def for_study(self, command: str, rename: str | None = None) -> "SettingsChangedError":
        """The same error, its ways on said for ``command`` (``specct run FILE``); ``rename``: how the
        file names another study folder (its keys with their values now)."""
        return SettingsChangedError(self.what, self.split, command, rename)

    def __reduce__(self):   # rebuilt from its parts, not its message, when pickled (from a worker process)
        return type(self), (self.what, self.split, self.study, self.rename)


def recorded_differences(opts: LocoOptions, record: dict, inputs: bool | dict = True
                         ) -> tuple[list[str], dict[str, list[str]]]:
    """What the experiment's record holds other than ``opts`` would: for every job, and per system.
    ``inputs``: True to fingerprint the corpora now, or their fingerprints already taken; False: not
    compared (collecting reads only finished results)."""
    options = options_record(opts)
    now = (current_inputs(opts) if inputs is True else inputs) or None
    return (global_differences(record, options, now),
            system_differences(record, options, system_configs(opts)))


def new_experiment(opts: LocoOptions) -> LocoOptions:
    """``--force_new``: ``opts`` as the first ``<name>-<n>`` (n = 2, 3, ...) that holds no experiment, or
    one recorded with exactly these settings (so that the same command, run again after a kill, resumes
    it). Where the split options differ from the ones ``<name>`` was run with, its data folder holds
    splits made with those, so the new experiment makes its own beside it: ``<data_dir>-<n>``."""
    from dataclasses import replace

    base = experiment_name(opts)
    first = experiment_dir(opts) / EXPERIMENT_FILE
    own_splits = first.is_file() and bool(split_changes(opts, load_experiment(first.parent)))
    data_dir = Path(opts.data_dir)
    for n in range(2, 10_000):
        candidate = replace(opts, experiment=f"{base}-{n}",
                            data_dir=str(data_dir.with_name(f"{data_dir.name}-{n}")) if own_splits else opts.data_dir)
        folder = experiment_dir(candidate)
        if not (folder / EXPERIMENT_FILE).is_file():
            return candidate
        record = load_experiment(folder)
        if not split_changes(candidate, record) and recorded_differences(candidate, record) == ([], {}):
            return candidate
    raise InputError(f"{experiment_dir(opts)}: no free name for a new experiment (tried up to -9999)")


PATH_FIELDS = ("datasets_dir", "data_dir")


def split_changes(opts: LocoOptions, record: dict) -> list[str]:
    """The split options that differ from the record's; folders compare as the folders they name (a
    relative one from where each ran: --from_record gives them absolute)."""
    old_options = record.get("options") or {}
    options = options_record(opts)

    def same(key) -> bool:
        if key in PATH_FIELDS and isinstance(old_options[key], str):
            then = Path(record.get("cwd") or os.getcwd()) / old_options[key]
            return os.path.normpath(then) == os.path.normpath(Path.cwd() / options[key])
        return old_options[key] == options[key]

    return [k for k in SPLIT_FIELDS if k in old_options and not same(k)]


def reference_system(opts: LocoOptions) -> str:
    names = [s.name for s in opts.systems]
    if opts.reference and opts.reference not in names:
        raise InputError(f"--reference {opts.reference} is not a system of the experiment ({', '.join(names)})")
    return opts.reference or names[0]


def options_record(opts: LocoOptions) -> dict:
    record = asdict(opts)
    record.pop("progress")
    record.pop("max_jobs")
    record.pop("reuse_root")   # where to look for trainings to reuse, not what shapes the results
    record.pop("executor")   # where the jobs run is not a setting of the experiment (as max_jobs)
    record["systems"] = [system_record(s) for s in opts.systems]
    return record


def options_from_record(record: dict) -> LocoOptions:
    """The options experiment.yaml records; a record from before flags were values (``train_args``,
    command-line tokens) is read too."""
    from ..train.options import given_flags

    record = dict(record)
    if "train_args" in record and "train_flags" not in record:
        record["train_flags"] = given_flags(record.pop("train_args") or [], "experiment.yaml: train_args")
    systems = []
    for entry in record.get("systems", []):
        entry = dict(entry)
        if "train_args" in entry and "flags" not in entry:
            entry["flags"] = given_flags(entry.pop("train_args") or [], f"experiment.yaml: system {entry.get('name')}")
        systems.append(SystemSpec(**{k: v for k, v in entry.items() if k in SystemSpec.__dataclass_fields__}))
    record["systems"] = systems
    known = set(LocoOptions.__dataclass_fields__)
    return LocoOptions(**{k: v for k, v in record.items() if k in known})


def load_experiment(folder: str | Path) -> dict:
    path = Path(folder) / EXPERIMENT_FILE
    if not path.is_file():
        raise MissingInputError(f"{path}: not an experiment folder of run_loco.py (no {EXPERIMENT_FILE})")
    record = read_record(path, "experiment record")
    if not isinstance(record.get("options"), dict):   # without them nothing a rerun would change can be compared
        raise DamagedFileError(f"{path}: damaged experiment record (no options mapping)")
    return record


def recorded_options(folder: str | Path) -> LocoOptions:
    """The options of the experiment recorded in ``folder``, its relative paths taken from where it ran."""
    folder = Path(folder)
    record = load_experiment(folder)
    options = dict(record.get("options") or {})
    for key in ("datasets_dir", "data_dir", "output"):
        if key in options and record.get("cwd") and not Path(options[key]).is_absolute():
            options[key] = str(Path(record["cwd"]) / options[key])
    opts = options_from_record(options)
    opts.output, opts.experiment = str(folder.parent.parent), folder.name
    return opts


def versions() -> dict:
    """specct, torch, timm, numpy and python versions and the git commit of the specct source."""
    import platform
    import subprocess

    import numpy
    import timm
    import torch

    from .. import __version__

    source = Path(__file__).resolve().parent
    commit = "unknown"
    try:
        commit = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip() or "unknown"
        dirty = subprocess.run(["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        if dirty and commit != "unknown":
            commit += " (with uncommitted changes)"
    except (OSError, subprocess.SubprocessError):
        pass
    found = {"specct": __version__, "torch": torch.__version__, "timm": timm.__version__,
             "numpy": numpy.__version__, "python": platform.python_version(), "git_commit": commit}
    return {k: str(v) for k, v in found.items()}   # torch's version is a str subclass yaml cannot write


def write_experiment_record(opts: LocoOptions, command: str | None, *, inputs: bool = True,
                            accept_changes: bool = False) -> Path:
    """``experiment.yaml``: the options, each system's config file and the inputs' fingerprints. An
    existing one with other split options is an error (pick another name); one with other train.py
    flags, systems, bootstrap or inputs too (:mod:`specct.loco.settings`), unless ``accept_changes``
    (the jobs they touch were cleared for a redo). ``inputs`` False: the inputs are not compared."""
    folder = experiment_dir(opts)
    path = folder / EXPERIMENT_FILE
    record = {"experiment": experiment_name(opts), "options": options_record(opts)}
    settings = settings_record(opts)   # the corpora fingerprinted once, for the check and the record
    if path.is_file():
        old = load_experiment(folder)
        changed = split_changes(opts, old)
        if changed:
            then, now = old["options"], record["options"]
            values = "; ".join(f"{key} {then[key]!r}, now {now[key]!r}" for key in changed)
            raise SettingsChangedError(f"{path}: experiment {experiment_name(opts)} was run with other split "
                                       f"options ({values})", split=True)
        if not accept_changes:
            differences = recorded_differences(opts, old, settings["inputs"] if inputs else False)
            if differences != ([], {}):
                raise SettingsChangedError(f"{path}: experiment {experiment_name(opts)} was run with other "
                                           f"settings ({describe_differences(*differences)})")
        if command is None and not accept_changes:   # a redo records its settings, whoever called it
            return path
    record.update(settings)   # the keys in one order, a rerun's record as a first run's
    record["command"] = command
    record["cwd"] = os.getcwd()
    record["versions"] = versions()
    write_text_atomic(path, yaml.safe_dump(record, sort_keys=False))
    return path
