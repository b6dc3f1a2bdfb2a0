"""A whole study from one experiment file: ``specct run study.yml``.

The file names the corpora (folders as distributed, imported once), the class set, the
spectrogram, speaker and split settings, the seed, the protocols and the systems; ``specct run``
runs every stage that is missing, in order, and ends with one line naming report.html::

    name: my-study                  # the study's folder: <output>/<name>/
    corpora:                        # CORPUS: folder as distributed, or {source: FOLDER, options: {...}},
      EMODB: /data/emodb/wav        # or "demo" for a built-in demo corpus (DEMOA, DEMOB, DEMOC)
      RAVDESS: /data/ravdess
    classes: [anger, happy, sad]    # or num_classes: 4 (anger, happy, neutral, sad), 3, all
    spectrogram: {size: 64}         # and any SpectrogramConfig field (n_mels, cmap, mean_norm, ...)
    seed: 0
    systems:                        # as run_loco.py's experiment files
      - name: speaker_cct
        model: speaker_vgg_cct_7_7x2_112
        config: configs/scratch/speaker_vgg_cct_7-7x2_112.yml
      - {name: egemaps_svm, model: egemaps_svm}

Optional keys: ``output`` (default ``output``), ``datasets_dir`` (default ``<output>/<name>/datasets``;
point several studies at one to import and draw once), ``demo`` (``speakers``, ``sentences``, ``seed``
of the demo corpora), ``speaker`` (``n_components`` of the split's PCA), ``split`` (``validation``,
``validation_corpus``, ``percent_subject_validation``, ``augmentation``, ``balanced``), ``train_flags``
(train.py flags for every system, a list or a mapping), ``seeds`` (training seeds, one job per
system, corpus and seed on the split of ``seed``; ``split: {vary_split: true}`` redraws the split per
seed), ``protocols`` (``[loco]``, ``[loco, pairwise]``),
``reference``, ``bootstrap``, ``report`` (default true), ``held_out`` (the corpora held out in turn;
default every corpus, the others train only), ``cluster`` (``--executor slurm``'s resources:
:func:`specct.loco.slurm.cluster_settings`). A system may carry ``sweep`` (a grid of train.py flags or
named variants, chosen per fold on validation rows: :mod:`specct.loco.sweeps`), and its own ``split``
and ``spectrogram`` over the study's (its splits and images in folders of their own:
:func:`specct.loco.experiment.system_options`); a named variant its own offline group, images and
``against`` (the variant it is tried on top of).

Stages (each resumes by itself, so a run after a kill redoes nothing finished): import, images,
speaker vectors, features (the ones the baselines read), jobs (splits, trainings, evaluations:
:mod:`specct.loco`), tables, report. The file is checked whole before anything is written: an
unknown key, a value of the wrong type or range, a missing folder, an unknown corpus or model, a class
no corpus has, a missing config file are each one line naming the key or path and what is allowed. Relative paths are read from
the working directory; a ``configs/...`` path not found there is read from the installed package.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Callable, Mapping, Sequence

from ..core import paths, values
from ..core.errors import InputError, MissingInputError, run_script
from ..core.fileio import read_yaml

DEMO_SOURCE = "demo"
STAGES = ("import", "images", "speaker vectors", "features", "jobs", "tables", "report")
UNTIL_CHOICES = tuple(name.replace(" ", "_") for name in STAGES)   # --until's spelling: one shell word each
PACKAGE_DIR = Path(__file__).resolve().parents[1]   # the specct package: its configs/ and examples/


@dataclass
class CorpusEntry:
    name: str                     # canonical name (the folder under datasets/)
    source: Path | None           # folder as distributed; None for a demo corpus
    options: dict = field(default_factory=dict)   # the importer's corpus options (e.g. merge_calm)

    @property
    def demo(self) -> bool:
        return self.source is None


@dataclass
class Study:
    """An experiment file, checked: everything a run needs, nothing read from disk yet but the file."""
    file: str
    name: str
    workdir: Path
    datasets_dir: Path
    corpora: list[CorpusEntry]
    spectrogram: dict
    augmentations: list[str]          # offline augmentations drawn beside the plain images
    demo: dict
    report: bool
    loco: object                      # specct.loco.LocoOptions
    held_out: list[str] | None = None  # the corpora held out in turn when not all (the others train only)
    cluster: dict = field(default_factory=dict)   # --executor slurm's resources (loco.slurm.cluster_settings)

    @property
    def corpus_names(self) -> list[str]:
        return [c.name for c in self.corpora]


@dataclass
class Stage:
    name: str
    state: str                        # what exists: "done", or what is left
    run: Callable[[], object]

    @property
    def done(self) -> bool:
        return self.state == "done"


@dataclass
class StudyResult:
    """What a study produced: the tables as DataFrames and where its files are."""
    folder: Path
    results: object                   # pandas.DataFrame or None (no loco job finished)
    comparison: object
    report: Path | None


# --------------------------------------------------------------------------- reading the file

def _mapping(value, where: str, allowed: Sequence[str]) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"{where}: expected a mapping of {', '.join(allowed)}")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]!r}{_did_you_mean(unknown[0], allowed)}; "
                         f"allowed: {', '.join(allowed)}")
    return dict(value)


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    return values.did_you_mean(word, choices)


def _corpora(value, where: str) -> list[CorpusEntry]:
    from ..data.corpora import CORPORA, CorpusError, canonical_corpus_name
    from ..data.demo import DEMO_CORPORA

    if not isinstance(value, dict) or not value:
        raise InputError(f"{where}: expected a mapping CORPUS: folder (or 'demo'), at least two corpora")
    entries = []
    for name, spec in value.items():
        key = f"{where}.{name}"
        if str(name).upper() in DEMO_CORPORA:
            if spec != DEMO_SOURCE:
                raise InputError(f"{key}: a demo corpus takes the value 'demo', not {spec!r}")
            entries.append(CorpusEntry(str(name).upper(), None))
            continue
        try:
            canonical = canonical_corpus_name(name)
        except CorpusError as exc:
            raise InputError(f"{key}: {exc} (or a demo corpus: {', '.join(DEMO_CORPORA)})") from None
        spec = spec if isinstance(spec, dict) else {"source": spec}
        spec = _mapping(spec, key, ("source", "options"))
        if not spec.get("source"):
            raise InputError(f"{key}: needs the corpus folder as distributed (source)")
        options = _mapping(spec.get("options"), f"{key}.options", list(CORPORA[canonical].options))
        entries.append(CorpusEntry(canonical, Path(str(spec["source"])), {k: bool(v) for k, v in options.items()}))
    names = [e.name for e in entries]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"{where}: {twice[0]} listed twice")
    if len(entries) < 2:
        raise InputError(f"{where}: leave-one-corpus-out needs at least two corpora, got {len(entries)}")
    return entries


def _corpus_emotions(entry: CorpusEntry, demo_seed: int) -> set[str]:
    from ..data.corpora import CORPORA
    from ..data.demo import corpus_profile

    if entry.demo:
        return set(corpus_profile(entry.name, demo_seed).emotions)
    return set(CORPORA[entry.name].emotions)


def _check_classes(content: dict, corpora: list[CorpusEntry], demo_seed: int) -> tuple[str, str | None]:
    from ..core.labels import class_set

    if "classes" in content and "num_classes" in content:
        raise InputError("classes and num_classes: give one of them")
    classes = content.get("classes")
    if isinstance(classes, (list, tuple)):
        classes = ",".join(str(c) for c in classes)
    num_classes = str(content.get("num_classes", "4"))
    try:
        names, mapping = class_set(num_classes, classes)
    except InputError as exc:
        raise InputError(f"{'classes' if classes else 'num_classes'}: {exc}") from None
    having = {c.name: {mapping[e] for e in _corpus_emotions(c, demo_seed) if e in mapping} for c in corpora}
    for name in names:
        if not any(name in given for given in having.values()):
            raise InputError(f"{'classes' if classes else 'num_classes'}: no corpus of this study has {name!r} "
                             f"({', '.join(f'{c}: {sorted(g)}' for c, g in having.items())})")
    return num_classes, classes


def resolve_config(config: str | None, where: str) -> str | None:
    """A train.py config named in the file: from the working directory, else (``configs/...``) from the
    installed package, which ships configs/."""
    if config is None:
        return None
    for candidate in (Path(config), PACKAGE_DIR / config):
        if candidate.is_file():
            read_yaml(candidate, InputError, "train.py config")
            return str(candidate)
    raise MissingInputError(f"{where}: config file {config} not found")


def _systems(value, reference, where: str, spectrogram: dict | None = None) -> list:
    from .. import systems
    from ..loco.experiment import SYSTEM_SPLIT_KEYS, SystemSpec, check_systems, flags_of_entry, system_name

    if not isinstance(value, list) or not value:
        raise InputError(f"{where}: expected a list of systems (name, model, config, flags), at least one")
    specs = []
    for i, entry in enumerate(value, start=1):
        key = f"{where}[{i}]"
        entry = _mapping(entry, key, ("name", "model", "config", "flags", "sweep", "split", "spectrogram"))
        if not entry.get("model"):
            raise InputError(f"{key}: needs a model")
        try:
            systems.check_model(str(entry["model"]))
        except InputError as exc:
            raise InputError(f"{key}.model: {exc}") from None
        config = resolve_config(entry.get("config"), f"{key}.config")
        name = str(entry.get("name") or system_name(str(entry["model"]), entry.get("config")))
        flags = flags_of_entry(entry.get("flags"), key)
        sweep = _sweep(entry.get("sweep"), f"{key}.sweep", spectrogram)
        _check_kind_reads(str(entry["model"]), flags, sweep, key)
        specs.append(SystemSpec(name, str(entry["model"]), config, flags, sweep,
                                _own_split(entry.get("split"), f"{key}.split", SYSTEM_SPLIT_KEYS),
                                _own_spectrogram(entry.get("spectrogram"), f"{key}.spectrogram", spectrogram)))
    check_systems(specs, where)
    if reference is not None and reference not in [s.name for s in specs]:
        raise InputError(f"reference: {reference!r} is not a system of this study ({', '.join(s.name for s in specs)})")
    return specs


def _check_kind_reads(model: str, flags: dict, sweep: list[dict] | None, key: str) -> None:
    """A flag of the system, or of one of its sweep variants, that its kind's training would ignore:
    one line with its key path (``systems[2].flags: --mixup: not an option of baseline systems ...``)."""
    from .. import systems

    kind = systems.system_for_model(model)
    for where, given in [(f"{key}.flags", flags)] + [(f"{key}.sweep[{i}] ({v['name']})", v.get("flags") or {})
                                                      for i, v in enumerate(sweep or [], start=1)]:
        try:
            kind.check_flags(model, given)
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None


def _sweep(value, where: str, spectrogram: dict | None = None) -> list[dict] | None:
    """A system's ``sweep`` (a grid of train.py flags, or named variants) as its variants; None without."""
    from ..loco.experiment import flags_of_entry
    from ..loco.sweeps import VARIANT_SPLIT_KEYS, read_sweep

    if value is None:
        return None
    variants = read_sweep(value, where, flags_of_entry)
    for i, variant in enumerate(variants, start=1):   # a named variant's own offline group and images
        if "split" in variant:
            variant["split"] = _own_split(variant["split"], f"{where}[{i}].split", VARIANT_SPLIT_KEYS)
        if "spectrogram" in variant:
            variant["spectrogram"] = _own_spectrogram(variant["spectrogram"], f"{where}[{i}].spectrogram", spectrogram)
    return variants


def _own_split(value, where: str, allowed: Sequence[str]) -> dict | None:
    """A system's (or a variant's) own split options over the study's; None without."""
    if value is None:
        return None
    from .schema import check_section

    settings = _mapping(value, where, allowed)
    check_section(settings, where, "split")
    return settings or None


def _own_spectrogram(value, where: str, study: dict | None) -> dict | None:
    """A system's (or a variant's) own image settings over the study's ``spectrogram`` (its images drawn in
    a datasets folder of their own); None without. The offline augmentations stay the study's."""
    from ..data.spectrogram import SpectrogramConfig

    if value is None:
        return None
    allowed = [f.name for f in fields(SpectrogramConfig) if f.name != "sample_rate"]
    from .schema import check_section

    settings = _mapping(value, where, allowed)
    check_section(settings, where, "spectrogram")
    if "size" in settings and isinstance(settings["size"], int):
        settings["size"] = [settings["size"]] * 2
    try:
        SpectrogramConfig(**_config_values({**(study or {}), **settings}))
    except (InputError, TypeError, ValueError) as exc:
        raise InputError(f"{where}: {exc}") from None
    return settings or None


def _config_values(settings: dict) -> dict:
    """SpectrogramConfig's arguments from settings as read (a size as a pair)."""
    size = settings.get("size")
    return {**settings, "size": tuple(size)} if isinstance(size, (list, tuple)) else dict(settings)


def _held_out(value, corpora: list[CorpusEntry]) -> list[str] | None:
    """``held_out``: the corpora held out in turn, each one of the study's (the others train only);
    None: every corpus, as without the key."""
    if value is None:
        return None
    names = [c.name for c in corpora]
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, list) or not value:
        raise InputError(f"held_out: expected a list of corpora of this study ({', '.join(names)}), got {value!r}")
    held = []
    for item in value:
        name = str(item).upper()
        if name not in names:
            raise InputError(f"held_out: {item!r} is not a corpus of this study{_did_you_mean(name, names)}; "
                             f"allowed: {', '.join(names)}")
        if name in held:
            raise InputError(f"held_out: {name} listed twice")
        held.append(name)
    return [n for n in names if n in held]   # in the study's order, as without the key


def _spectrogram(value) -> tuple[dict, list[str]]:
    from ..data.augment import AUGMENTATION_GROUPS, AUGMENTATIONS
    from ..data.spectrogram import SpectrogramConfig

    allowed = [f.name for f in fields(SpectrogramConfig) if f.name != "sample_rate"] + ["augmentations"]
    settings = _mapping(value, "spectrogram", allowed)
    augmentations = settings.pop("augmentations", None)
    if augmentations is not None:
        augmentations = [augmentations] if isinstance(augmentations, str) else list(augmentations)
        unknown = [a for a in augmentations if a not in AUGMENTATIONS and a not in AUGMENTATION_GROUPS]
        if unknown:
            raise InputError(f"spectrogram.augmentations: unknown {unknown[0]!r}; choose from "
                             f"{', '.join([*AUGMENTATION_GROUPS, *AUGMENTATIONS])}")
    if "size" in settings:
        size = settings["size"]
        settings["size"] = (size, size) if isinstance(size, int) else tuple(size)
    try:
        SpectrogramConfig(**settings)
    except (InputError, TypeError, ValueError) as exc:
        raise InputError(f"spectrogram: {exc}") from None
    return settings, augmentations


def read_study(source: str | Path | Mapping, where: str | None = None) -> Study:
    """Check an experiment file (a path, or its content as a mapping) whole; writes nothing."""
    from ..loco.experiment import (LocoOptions, NAME_PATTERN, PROTOCOLS, check_trainable, flags_of_entry,
        training_seeds)
    from ..loco.slurm import cluster_settings
    from .schema import Study as Schema, check_study

    if isinstance(source, Mapping):
        content, file = dict(source), where or "experiment"
    else:
        file = str(source)
        content = read_yaml(Path(source), InputError, "experiment file", missing=MissingInputError)
    if not isinstance(content, dict):
        raise InputError(f"{file}: expected a mapping of {', '.join(Schema.model_fields)}")
    check_study(content, file)   # every key, type and range; what follows needs the corpora and systems
    name = str(content.get("name") or (Path(file).stem if not isinstance(source, Mapping) else ""))
    if not NAME_PATTERN.match(name):
        raise InputError(f"{file}: name {name!r} must be a plain folder name (letters, digits, . _ + -)")
    demo = dict(content.get("demo") or {})
    corpora = _corpora(content.get("corpora"), "corpora")
    seed = content.get("seed", 0)
    seeds = content.get("seeds")
    if seeds is not None and not isinstance(seeds, list):
        raise InputError(f"seeds: expected a list of non-negative integers, got {seeds!r}")
    num_classes, classes = _check_classes(content, corpora, demo.get("seed", 0))
    spectrogram, augmentations = _spectrogram(content.get("spectrogram"))
    split = dict(content.get("split") or {})
    speaker = dict(content.get("speaker") or {})
    protocols = content.get("protocols", ["loco"])
    if not isinstance(protocols, list) or not protocols or any(p not in PROTOCOLS for p in protocols):
        raise InputError(f"protocols: expected a list of {', '.join(PROTOCOLS)}, got {protocols!r}")
    reference = content.get("reference")
    systems = _systems(content.get("systems"), reference, "systems", spectrogram)
    held_out = _held_out(content.get("held_out"), corpora)
    swept = [s.name for s in systems if s.sweep]
    if swept and split.get("validation") == "none":
        raise InputError(f"systems: {swept[0]} has a sweep, chosen on validation rows; split.validation none has none")
    blind = [s.name for s in systems if s.sweep and (s.split or {}).get("validation") == "none"]
    if blind:
        raise InputError(f"systems: {blind[0]} has a sweep, chosen on validation rows; its split.validation none "
                         f"has none")
    if swept and "pairwise" in protocols:
        raise InputError(f"systems: {swept[0]} has a sweep, chosen per held-out corpus; protocols: pairwise has none")
    output = Path(str(content.get("output", paths.OUTPUT_DIR)))
    workdir = output / name
    datasets_dir = Path(str(content.get("datasets_dir") or workdir / paths.DATASETS_DIR))
    for entry in corpora:
        imported = any(paths.wav_dir(datasets_dir, entry.name).glob("*.wav"))
        if not entry.demo and not imported and not entry.source.is_dir():
            raise MissingInputError(f"corpora.{entry.name}: folder {entry.source} not found")
    if augmentations is None:     # draw what the splits train on (the study's and its systems'), nothing more
        augmentations = _split_groups(split, systems)
    try:
        loco = LocoOptions(datasets_dir=str(datasets_dir), corpora=held_out or [e.name for e in corpora], systems=systems,
                           num_classes=num_classes, classes=classes, seed=seed, data_dir=str(workdir / paths.DATA_DIR),
                           output=str(workdir), train_flags=flags_of_entry(content.get("train_flags"), "train_flags"),
                           bootstrap=content.get("bootstrap", 1000), experiment=name,
                           reference=reference, protocols=list(protocols), seeds=seeds,
                           n_components=speaker.get("n_components", 256),
                           reuse_root=str(output), **split)   # trainings shared by the studies under one output
    except TypeError as exc:
        raise InputError(f"split: {exc}") from None
    training_seeds(loco)   # distinct non-negative integers, as run_loco.py --seeds
    check_trainable(loco, file)   # every system's train.py options, before any stage runs
    return Study(file, name, workdir, datasets_dir, corpora, spectrogram, augmentations, demo,
                 bool(content.get("report", True)), loco, held_out, cluster_settings(content.get("cluster")))


def _split_groups(split: dict, systems: list) -> list[str]:
    """The offline augmentation groups the study's splits train on: its own and its systems' (variants')."""
    from ..loco.sweeps import variant_systems

    groups = [split.get("augmentation", "no_aug")]
    groups += [(v.split or {}).get("augmentation") for s in systems for v in variant_systems(s)]
    return [g for i, g in enumerate(groups) if g and g != "no_aug" and g not in groups[:i]]


# --------------------------------------------------------------------------- the stages

def _wavs(study: Study, corpus: str) -> list[Path]:
    return sorted(paths.wav_dir(study.datasets_dir, corpus).glob("*.wav"))


def feature_sets(study: Study) -> list:
    """The feature sets (FeatureSpecs) the systems and their sweep variants read beside the split, one
    per cache (a Whisper cache holds every layer; its input and precision name it); their kinds say which."""
    from .. import systems
    from ..loco.sweeps import variant_systems

    wanted = []
    for system in (v for s in study.loco.systems for v in variant_systems(s)):
        flags = {**study.loco.train_flags, **system.flags}
        for spec in systems.system_for_model(system.model).vector_sets(system.model, flags):
            if spec.name not in (known.name for known in wanted):
                wanted.append(spec)
    return wanted


def _missing_vectors(study: Study, store, problems: list[str] | None = None) -> int:
    """Wavs without a vector the stage would keep (vectors.reusable_names checks each cache against what
    the stage writes); why a cache is not kept is added to ``problems``."""
    from ..data.vectors import reusable_names

    missing = 0
    for corpus in study.corpus_names:
        done, problem = reusable_names(store.path(study.datasets_dir, corpus), store)
        if problem and problems is not None:
            problems.append(problem)
        skipped = store.skipped_path(study.datasets_dir, corpus)
        if skipped.is_file():
            done |= {line.split(",")[0] for line in skipped.read_text().splitlines()[1:]}
        missing += sum(wav.name not in done and wav.stem not in done for wav in _wavs(study, corpus))
    return missing


def _state(left: int, what: str, problems: Sequence[str] = ()) -> str:
    why = f" ({problems[0]}{f'; and {len(problems) - 1} more' if len(problems) > 1 else ''})" if problems else ""
    return "done" if left == 0 else f"{left} {what} to do{why}"


def _import_stage(study: Study, progress: bool) -> Stage:
    from ..data.demo import generate_demo
    from ..data.prepare import import_once

    missing = [c for c in study.corpora if not _wavs(study, c.name)]

    def run():
        demo = [c.name for c in study.corpora if c.demo]
        if demo:    # writes the demo corpora that are missing; files already there are left as they are
            generate_demo(study.datasets_dir, corpora=demo, progress=progress, **study.demo)
        for entry in (c for c in study.corpora if not c.demo):
            reason = import_once(entry.name, entry.source, study.datasets_dir, progress=progress, **entry.options)
            if reason:
                raise InputError(f"corpora.{entry.name}: {reason}")

    return Stage("import", _state(len(missing), "corpora"), run)


def image_folders(study: Study) -> dict[Path, dict]:
    """Each datasets folder the study draws images in, with its image settings over the study's: the
    study's own folder, then one per other ``spectrogram`` a system or a sweep variant sets."""
    from ..loco.experiment import images_dir
    from ..loco.sweeps import variant_systems

    folders = {study.datasets_dir: {}}
    for system in (v for s in study.loco.systems for v in variant_systems(s) if v.spectrogram):
        folders.setdefault(images_dir(study.datasets_dir, system.spectrogram), system.spectrogram)
    return folders


def _link_images_folder(study: Study, folder: Path) -> None:
    """A folder of other images: each corpus's wavs, speaker vectors and features linked (relative) to the
    study's folder, so that only the images are its own."""
    import os

    for corpus in study.corpus_names:
        for place in (paths.wav_dir, paths.speaker_dir, paths.features_dir):
            link, target = place(folder, corpus), place(study.datasets_dir, corpus)
            if link.is_symlink() or link.exists():
                continue
            target.mkdir(parents=True, exist_ok=True)   # the vectors come in later stages, into the target
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(os.path.relpath(target, link.parent), target_is_directory=True)


def _images_stage(study: Study, progress: bool) -> Stage:
    from ..data.augment import resolve_augmentations
    from ..data.images import plan_corpus, preprocess_corpora
    from ..data.spectrogram import SpectrogramConfig

    names = resolve_augmentations(study.augmentations)
    folders = image_folders(study)
    left = sum(len(plan_corpus(folder, c, names)[0]) if paths.wav_dir(folder, c).is_dir() else len(_wavs(study, c))
               for folder in folders for c in study.corpus_names)

    def run():
        for folder, own in folders.items():
            if own:
                _link_images_folder(study, folder)
            preprocess_corpora(folder, datasets=study.corpus_names, augmentations=study.augmentations,
                               config=SpectrogramConfig(**_config_values({**study.spectrogram, **own})),
                               seed=study.loco.seed, progress=progress)

    return Stage("images", _state(left, "wavs"), run)


def _speaker_stage(study: Study, progress: bool) -> Stage:
    from ..data.speaker import STORE, embed_corpora

    problems: list[str] = []
    left = _missing_vectors(study, STORE, problems)
    return Stage("speaker vectors", _state(left, "wavs", problems),
                 lambda: embed_corpora(study.datasets_dir, datasets=study.corpus_names, progress=progress))


def _features_stage(study: Study, progress: bool) -> Stage:
    from ..baselines.features import extract_corpora, store_for

    sets = feature_sets(study)
    problems: list[str] = []
    left = sum(_missing_vectors(study, store_for(spec), problems) for spec in sets)

    def run():
        for spec in sets:
            extract_corpora(study.datasets_dir, datasets=study.corpus_names, features=spec.text, layer=spec.layer,
                            progress=progress, whisper_input=spec.input, whisper_precision=spec.precision)

    return Stage("features", "none needed" if not sets else _state(left, "wavs", problems), run)


def _jobs_stage(study: Study, command: str, redo: Sequence[str] = ()) -> Stage:
    from ..loco import EXPERIMENT_FILE, experiment_dir, list_jobs, write_experiment_record
    from ..loco.executor import run_experiment_jobs
    from ..loco.cli import job_command

    opts = study.loco
    if all(_wavs(study, c) for c in study.corpus_names):
        left = sum(not job.finished for job in list_jobs(opts))
    else:
        from ..loco.jobs import is_seeded
        from ..loco.sweeps import variant_systems

        seeds = len(opts.seeds or [opts.seed])
        trained = [v for s in opts.systems for v in variant_systems(s)]   # a sweep's variants each have jobs
        runs = sum(seeds if seeds == 1 or is_seeded(v, opts) else 1 for v in trained)   # a baseline runs once
        left = len(study.held_out or study.corpora) * (
            runs + ("pairwise" in opts.protocols) * len(trained) * len(study.corpora))
    state = _state(left, "jobs")
    if study.held_out and left:   # the folds the plan covers; the other corpora only train
        training = [c for c in study.corpus_names if c not in study.held_out]
        state += f" (held out: {', '.join(study.held_out)}; training only: {', '.join(training) or 'none'})"
    if left == 0 and not redo and (experiment_dir(opts) / EXPERIMENT_FILE).is_file():
        write_experiment_record(opts, None)   # finished, but with this file's settings? Stops if not; writes nothing
    if redo:   # finished jobs named again: never "done"
        state = f"--redo {' '.join(redo)}" + ("" if left == 0 else f", and {state}")
    return Stage("jobs", state, lambda: run_experiment_jobs(opts, command, lambda job: job_command(opts, job),
                                                             redo=redo))


def _tables_stage(study: Study) -> Stage:
    from ..loco import experiment_dir

    done = (experiment_dir(study.loco) / "results.csv").is_file()
    return Stage("tables", "done" if done else "after the jobs", lambda: None)


def _report_stage(study: Study) -> Stage:
    from ..loco import experiment_dir

    done = (experiment_dir(study.loco) / "report.html").is_file()
    return Stage("report", "done" if done else "after the tables", lambda: None)


def stage(study: Study, name: str, progress: bool = True, command: str | None = None,
          redo: Sequence[str] = ()) -> Stage:
    """One stage with what exists now (what comes after the import is counted once the corpora are there);
    ``redo``: the jobs stage clears and runs these again (run_loco.py's ``--redo``)."""
    if name == "import":
        return _import_stage(study, progress)
    if name in ("images", "speaker vectors", "features"):
        if not all(_wavs(study, c) for c in study.corpus_names):
            return Stage(name, "after the import", lambda: None)
        make = {"images": _images_stage, "speaker vectors": _speaker_stage, "features": _features_stage}[name]
        return make(study, progress)
    if name == "jobs":
        return _jobs_stage(study, command or _rerun(study), redo)
    return _tables_stage(study) if name == "tables" else _report_stage(study)


def plan(study: Study, progress: bool = True, command: str | None = None) -> list[Stage]:
    """The stages in order, each with what exists now."""
    return [stage(study, name, progress, command) for name in STAGES if name != "report" or study.report]


def _collect_and_report(study: Study, report: bool) -> StudyResult:
    from ..loco import collect
    from ..report.document import write_report

    collected = collect(study.loco)
    html = write_report(collected.folder, collected)[0] if report else None
    if collected.results is not None:   # what the run found, before the line naming where the rest is
        from ..stats.compare import markdown_results
        from ..report.document import verdict_of

        print("\n" + markdown_results(collected.results, collected.comparison).rstrip())
        print(f"\nverdict: {verdict_of(collected.folder, collected)}")
    return StudyResult(collected.folder, collected.results, collected.comparison, html)


def _rerun(study: Study) -> str:
    return f"specct run {shlex.quote(study.file)}"


def _check_flags(study: Study, dry_run: bool, until: str | None, print_jobs: bool, force_new: bool,
                 redo: Sequence[str]) -> None:
    """--until, and --force_new and --redo as run_loco.py takes them, checked before anything is written."""
    from ..loco.jobs import redo_patterns

    if until is not None and until not in STAGES:
        raise InputError(f"--until {until}: choose one of {', '.join(STAGES)}")
    if not redo:
        return
    if force_new:
        raise InputError("--force_new starts a new experiment; it does not go with --redo")
    if dry_run or print_jobs:
        raise InputError(f"--redo runs jobs again; it does not go with {'--dry_run' if dry_run else '--print_jobs'}")
    if until is not None and STAGES.index(until) < STAGES.index("jobs"):
        raise InputError(f"--redo runs jobs again; --until {until} stops before them")
    redo_patterns(study.loco, redo)


def run_study(source: str | Path | Mapping, dry_run: bool = False, until: str | None = None,
              progress: bool = True, print_jobs: bool = False, command: str | None = None,
              force_new: bool = False, redo: Sequence[str] = (), executor=None) -> StudyResult | None:
    """Every stage of a study that is missing, in order; ``until``: stop after that stage;
    ``print_jobs``: prepare the corpora, then print the job commands instead of running them.
    An experiment run before with other settings stops the jobs stage, unless ``force_new`` (a new
    experiment beside it, ``<name>-2``) or ``redo`` (``SYSTEM[/CORPUS]``: those jobs cleared and run
    again), as run_loco.py's ``--force_new`` and ``--redo``; ``executor``: where the jobs run
    (:class:`specct.loco.executor.Executor`; None: one after another, here)."""
    from ..loco.experiment import SettingsChangedError

    study = read_study(packaged_example(source))
    until = stage_name(until) if until is not None else None
    if executor is not None and executor.kind != "serial" and print_jobs:
        raise InputError(f"--executor {executor.kind} runs the jobs; --print_jobs prints them instead")
    if executor is not None:
        study.loco.executor = replace(executor, cluster=study.cluster)
        if executor.detach and (until is None or STAGES.index(until) > STAGES.index("jobs")):
            until = "jobs"   # submitted and left running: the tables come with the next run
    study.loco.progress = progress   # --no_progress reaches every training and evaluation of the jobs
    redo = list(redo or ())
    _check_flags(study, dry_run, until, print_jobs, force_new, redo)
    reached: list[str] = []
    try:
        return _run_stages(study, dry_run, until, progress, print_jobs, command, force_new, redo, reached)
    except SettingsChangedError as exc:
        if isinstance(source, Mapping):   # no file to name: the flags alone (run_study's own arguments)
            raise
        raise exc.for_study(_rerun(study), _rename(study)) from None
    except KeyboardInterrupt:
        raise StudyInterrupted(_interrupted(study, reached[-1] if reached else None, command)) from None


class StudyInterrupted(KeyboardInterrupt):
    """Ctrl-C during a study; the message says what was kept and the command that goes on."""


def _interrupted(study: Study, where: str | None, command: str | None) -> str:
    from ..core.errors import SpecctError

    done = ""
    if where == "jobs":
        from ..loco import list_jobs

        try:
            jobs = list_jobs(study.loco)
            done = f" ({sum(job.finished for job in jobs)} of {len(jobs)} jobs finished)"
        except (SpecctError, OSError):
            done = ""
    stage_said = f"in the {where} stage{done}" if where else "before any stage ran"
    return (f"interrupted {stage_said}; every finished file is kept and each stage goes on where it stopped: "
            f"run {command or _rerun(study)} again")


def stage_name(value: str) -> str:
    """A stage as --until names it: ``speaker_vectors`` (or ``speaker-vectors``, or the stage's own
    ``speaker vectors``) is the stage ``speaker vectors``."""
    return str(value).replace("_", " ").replace("-", " ")


def packaged_example(source):
    """``examples/<name>.yml`` not found from here is the example the package ships (as configs are found)."""
    if isinstance(source, Mapping) or Path(source).is_file():
        return source
    packaged = PACKAGE_DIR / source
    return packaged if Path(source).parts[:1] == ("examples",) and packaged.is_file() else source


def _rename(study: Study) -> str:
    """The split stays with the study's folder: another name or output in the file starts a study of its own."""
    return (f"change name: {study.name} or output: {study.workdir.parent} in {study.file} "
            f"(a study folder of its own)")


def _run_stages(study: Study, dry_run: bool, until: str | None, progress: bool, print_jobs: bool,
                command: str | None, force_new: bool, redo: Sequence[str],
                reached: list[str] | None = None) -> StudyResult | None:
    """The stages in order; ``reached`` gets each stage's name as it starts (what an interrupt names)."""
    reached = [] if reached is None else reached
    if force_new:
        from ..loco import experiment_dir
        from ..loco.experiment import new_experiment

        new = new_experiment(study.loco)
        own_splits = new.data_dir != study.loco.data_dir
        study.loco.experiment, study.loco.data_dir = new.experiment, new.data_dir
        print(f"new experiment: {experiment_dir(study.loco)}"
              + (f" (its splits in {new.data_dir}: the split options changed)" if own_splits else ""))
    if dry_run:
        from .plan import describe

        print("\n".join(describe(study)) + "\n")
        for planned in plan(study, progress, command):
            print(f"{planned.name:<16} {planned.state}")
        return None
    study.workdir.mkdir(parents=True, exist_ok=True)
    last = "features" if print_jobs else until
    for name in STAGES[:STAGES.index("jobs") + 1]:
        # each stage looked at when its turn comes: what the images stage has to do is known after the import
        reached.append(name)
        current = stage(study, name, progress, command, redo)
        print(f"=== {current.name}: {current.state}", flush=True)
        if not current.done:
            current.run()
        if name == last:
            break
    if print_jobs:
        from ..loco import list_jobs, write_experiment_record
        from ..loco.cli import job_command

        write_experiment_record(study.loco, command)
        for job in list_jobs(study.loco):
            print(job_command(study.loco, job))
        return None
    if last is not None and STAGES.index(last) <= STAGES.index("jobs"):
        return None
    reached.append("tables")
    result = _collect_and_report(study, report=study.report and until != "tables")
    print(f"report: {result.report}" if result.report else f"tables: {result.folder}")
    return result


def run_experiment(source: str | Path | Mapping, progress: bool = False, force_new: bool = False,
                   redo: Sequence[str] = ()) -> StudyResult:
    """A study from Python (a notebook): ``specct.run_experiment("study.yml").results`` is a DataFrame;
    ``force_new`` and ``redo`` as ``specct run``'s flags of those names."""
    return run_study(source, progress=progress, force_new=force_new, redo=redo)


def build_parser() -> argparse.ArgumentParser:
    from ..core.cli import ArgumentParser, add_executor_arguments, add_rerun_arguments

    p = ArgumentParser(prog="specct run", description="Run a whole study from one experiment file: import, "
                       "images, speaker vectors, features, splits, jobs, tables, report; what exists is kept.")
    p.add_argument("experiment_file", help="the study's YAML file (docs/experiments.md)")
    p.add_argument("--dry_run", action="store_true",
                   help="print the stages, what exists and what will run; run nothing")
    p.add_argument("--until", choices=UNTIL_CHOICES, default=None, type=lambda v: stage_name(v).replace(" ", "_"),
                   help="stop after this stage")
    p.add_argument("--print_jobs", action="store_true",
                   help="prepare the corpora, then print one shell command per job (for a cluster) instead of running")
    add_rerun_arguments(p)
    add_executor_arguments(p)
    p.add_argument("--no_progress", action="store_true", help="no progress bars")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    command = shlex.join(["specct", "run", *argv])
    try:
        return run_script("specct run", lambda: run_study(args.experiment_file, args.dry_run, args.until,
                                                          not args.no_progress, args.print_jobs, command,
                                                          args.force_new, args.redo or (), _executor(args)))
    except KeyboardInterrupt as exc:   # one line, no traceback: what was kept and how to go on
        said = str(exc) if isinstance(exc, StudyInterrupted) else f"interrupted; run {command} again"
        print(f"specct run: {said}", file=sys.stderr)
        return 130


def _executor(args: argparse.Namespace):
    from ..loco.executor import executor_from_args

    return executor_from_args(args)


if __name__ == "__main__":
    raise SystemExit(main())
