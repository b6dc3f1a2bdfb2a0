"""Everything that shapes an experiment's results, as recorded in experiment.yaml, and what a rerun changes.

Beyond the split options (checked by :func:`specct.loco.experiment.write_experiment_record`), a job's
result depends on the train.py flags (the experiment's and its system's), the system's model and
config file, the bootstrap, the pairwise folds and the inputs the splits and trainings read (each
corpus's wavs, images, speaker vectors and features: :mod:`specct.core.input_fingerprints`). A rerun
that differs in any of them would mix two settings in one results.csv, so it stops and names the
differences, unless it starts a new experiment (``--force_new``) or names the jobs to redo.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from ..core import paths
from ..core.input_fingerprints import (file_fingerprint, fingerprint_differences, inputs_fingerprint, read_now,
    reads_augmented_images)

GLOBAL_FIELDS = {"train_flags": "train.py flags", "bootstrap": "bootstrap", "diagonal": "diagonal", "folds": "folds"}
SYSTEM_FIELDS = ("model", "config", "flags", "sweep", "split", "spectrogram")


def plain(value):
    """``value`` as it reads back from YAML (tuples as lists), so that a record compares with options."""
    return yaml.safe_load(yaml.safe_dump(value))


def system_configs(opts) -> dict[str, str | None]:
    """Each system's config file, by content (None: the system has none)."""
    return {s.name: file_fingerprint(Path(s.config)) if s.config else None for s in opts.systems}


def feature_caches_read(opts) -> set[str]:
    """The feature caches the experiment's systems read (their kinds say which)."""
    from .. import systems
    from .sweeps import variant_systems

    return {name for declared in opts.systems for s in variant_systems(declared)
            for name in systems.system_for_model(s.model).feature_caches(s.model, {**opts.train_flags, **s.flags})}


def current_inputs(opts) -> dict:
    """The inputs of every corpus of the datasets folder (each one trains the others' splits), of the
    feature caches those its systems read, of the augmented images where its splits read them."""
    return inputs_fingerprint(opts.datasets_dir, paths.list_corpora(opts.datasets_dir), feature_caches_read(opts),
                              augmented=reads_augmented_images(opts.augmentation, opts.balanced))


def settings_record(opts) -> dict:
    return {"system_configs": system_configs(opts), "inputs": current_inputs(opts)}


def show_flags(flags) -> str:
    from ..train.options import flag_tokens

    tokens = flag_tokens(flags or {})
    return " ".join(tokens) if tokens else "(none)"


def show(field: str, value) -> str:
    return show_flags(value) if field in ("train_flags", "flags") else repr(value)


def global_differences(record: dict, options: dict, inputs: dict | None) -> list[str]:
    """What differs for every job: the experiment's train.py flags, bootstrap, folds; the inputs
    (``inputs`` None: not compared, as when only collecting)."""
    old = record.get("options") or {}
    changes = [f"{label} {show(field, old[field])}, now {show(field, options[field])}"
               for field, label in GLOBAL_FIELDS.items()
               if field in old and plain(old[field]) != plain(options[field])
               and (field not in ("diagonal", "folds") or "pairwise" in options.get("protocols", []))]
    recorded_inputs = record.get("inputs")
    if inputs is not None and isinstance(recorded_inputs, dict):
        changes += [f"inputs: {change}" for change in fingerprint_differences(read_now(recorded_inputs, inputs), inputs)]
    return changes


def system_differences(record: dict, options: dict, configs: dict) -> dict[str, list[str]]:
    """What differs per system (present then and now): its model, config file or its own flags."""
    old_systems = {s.get("name"): s for s in (record.get("options") or {}).get("systems", []) if isinstance(s, dict)}
    old_configs = record.get("system_configs") or {}
    found = {}
    for system in options["systems"]:
        name, old = system["name"], old_systems.get(system["name"])
        if old is None:
            continue
        changes = [f"{field} {show(field, old.get(field))}, now {show(field, system.get(field))}"
                   for field in SYSTEM_FIELDS if plain(old.get(field)) != plain(system.get(field))]
        before, after = old_configs.get(name), configs.get(name)
        if before and after and "absent" not in (before, after) and before != after and system.get("config") == old.get("config"):
            changes.append(f"config file {system['config']} edited since")
        if changes:
            found[name] = changes
    return found


def describe_differences(global_changes: list[str], per_system: dict[str, list[str]]) -> str:
    parts = list(global_changes) + [f"system {name}: {change}" for name, changes in per_system.items()
                                    for change in changes]
    return "; ".join(parts)
