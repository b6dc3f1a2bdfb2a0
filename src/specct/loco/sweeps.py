"""Sweeps: one system trained in several variants, one variant chosen per held-out corpus on validation rows.

A study system may carry ``sweep``: a grid of train.py flags (``{lr: [1.0e-4, 3.0e-4], mixup: [0, 0.2]}``,
every combination, the first one the base) or a list of named variants judged against the first
(``[{name: base, flags: {}}, {name: mixup, flags: {mixup: 0.2}}]``). Each variant is an ordinary
system with its own jobs, named ``<system>@<variant>`` (``speaker_cct@lr=0.0001,mixup=0.2``). A named
variant may also set its own images (``spectrogram``) and offline group (``split: {augmentation, balanced}``),
and name the variant it is tried on top of (``against``): it must beat that one by the margin as well.

Per held-out corpus the variant with the best validation UAR, averaged over training seeds, is chosen,
but only when it beats the base by ``MARGIN`` (the former ablation script's rule, made general); else the
base is kept. The held-out corpus never enters the choice: its UAR is reported beside every variant
(``sweep.csv``), marked as not used to choose. Everything here is pure (rows in, rows out).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import replace
from typing import Sequence

import pandas as pd

from ..core.errors import InputError
from ..core.path_names import path_name_problem
from ..core.values import did_you_mean

MARGIN = 0.02          # a variant replaces the base when its validation UAR is higher by this much
SEPARATOR = "@"        # between the system's name and its variant's
SWEEP_CSV = "sweep.csv"
NOT_USED = "not used to choose"
HELD_OUT_COLUMN = "held_out_uar_not_used_to_choose"
ROW_COLUMNS = ("system", "held_out", "variant", "seed", "validation_uar", "held_out_uar")
TABLE_COLUMNS = ("system", "held_out", "variant", "seeds", "validation_uar", "validation_gain", "chosen",
                 HELD_OUT_COLUMN)


# --------------------------------------------------------------------------- reading a sweep

def read_sweep(value, where: str, flags_of_entry) -> list[dict]:
    """A system's ``sweep`` as its variants, ``[{name, flags}]`` (flags as train.py values, through
    ``flags_of_entry``), the base first; at least two, each name distinct and usable as a folder name."""
    if isinstance(value, dict):
        variants = _grid(value, where, flags_of_entry)
    elif isinstance(value, list):
        variants = _named(value, where, flags_of_entry)
    else:
        raise InputError(f"{where}: expected a grid {{flag: [values]}} or a list of {{name, flags}}, got {value!r}")
    if len(variants) < 2:
        raise InputError(f"{where}: a sweep needs at least two variants, got {len(variants)}")
    names = [v["name"] for v in variants]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"{where}: variant {twice[0]!r} named twice")
    for name in names:
        problem = path_name_problem(name)
        if problem or SEPARATOR in name:
            raise InputError(f"{where}: variant name {name!r} {problem or f'holds {SEPARATOR!r}'}")
    return variants


def _grid(grid: dict, where: str, flags_of_entry) -> list[dict]:
    if not grid:
        raise InputError(f"{where}: an empty grid")
    axes = {str(flag): values if isinstance(values, list) else [values] for flag, values in grid.items()}
    empty = [flag for flag, values in axes.items() if not values]
    if empty:
        raise InputError(f"{where}.{empty[0]}: no value to try")
    variants = []
    for combination in itertools.product(*axes.values()):
        chosen = dict(zip(axes, combination))
        name = ",".join(f"{flag}={_value_text(value)}" for flag, value in chosen.items())
        variants.append({"name": name, "flags": flags_of_entry(chosen, f"{where}: {name}")})
    return variants


VARIANT_KEYS = ("name", "flags", "against", "split", "spectrogram")
# what a variant may change of its split: the training rows, never the validation rows it is chosen on
VARIANT_SPLIT_KEYS = ("augmentation", "balanced")


def _named(entries: list, where: str, flags_of_entry) -> list[dict]:
    """Named variants; ``split`` and ``spectrogram`` kept as given (the study checks their values)."""
    variants = []
    for i, entry in enumerate(entries, start=1):
        key = f"{where}[{i}]"
        if not isinstance(entry, dict) or not entry.get("name"):
            raise InputError(f"{key}: expected a mapping with a name (and flags), got {entry!r}")
        unknown = sorted(set(entry) - set(VARIANT_KEYS))
        if unknown:
            raise InputError(f"{key}: unknown key {unknown[0]!r}{did_you_mean(unknown[0], VARIANT_KEYS)}; "
                             f"allowed: {', '.join(VARIANT_KEYS)}")
        variant = {"name": str(entry["name"]), "flags": flags_of_entry(entry.get("flags"), f"{key}.flags")}
        against = entry.get("against")
        if against is not None:
            earlier = [v["name"] for v in variants]
            if str(against) not in earlier:
                raise InputError(f"{key}.against: {against!r} is not a variant above it"
                                 f"{did_you_mean(str(against), earlier)}; allowed: {', '.join(earlier) or 'none'}")
            variant["against"] = str(against)
        split = entry.get("split")
        if split is not None:
            bad = sorted(set(split) - set(VARIANT_SPLIT_KEYS)) if isinstance(split, dict) else ["?"]
            if bad:
                raise InputError(f"{key}.split: a variant sets only {', '.join(VARIANT_SPLIT_KEYS)} (the variants "
                                 f"of a sweep are chosen on the same validation rows), got {split!r}")
            variant["split"] = dict(split)
        if entry.get("spectrogram") is not None:
            variant["spectrogram"] = entry["spectrogram"]
        variants.append(variant)
    return variants


def _value_text(value) -> str:
    if isinstance(value, (list, tuple)):
        return "-".join(_value_text(v) for v in value)
    return str(value).lower() if isinstance(value, bool) else str(value)


# --------------------------------------------------------------------------- variants as systems

def variant_name(system: str, variant: str) -> str:
    return f"{system}{SEPARATOR}{variant}"


def variant_systems(system) -> list:
    """The systems a study system trains: itself, or with a sweep one system per variant (its flags on
    top of the system's own), the base first."""
    if not getattr(system, "sweep", None):
        return [system]
    return [replace(system, name=variant_name(system.name, v["name"]), flags={**system.flags, **v["flags"]},
                    split=_over(system.split, v.get("split")), spectrogram=_over(system.spectrogram,
                                                                                  v.get("spectrogram")),
                    sweep=None) for v in system.sweep]


def _over(mine: dict | None, variant: dict | None) -> dict | None:
    merged = {**(mine or {}), **(variant or {})}
    return merged or None


def against_of(system) -> dict[str, str]:
    """``{variant: the variant it is tried on top of}`` of a swept system (only those that name one)."""
    return {v["name"]: v["against"] for v in system.sweep or () if v.get("against")}


# --------------------------------------------------------------------------- choosing

def is_kept(gain: float, margin: float = MARGIN) -> bool:
    """Whether a variant's validation UAR gain over the base earns it the place (a hair of float slack)."""
    return gain >= margin - 1e-9


def choose_variant(validation: dict[str, float], margin: float = MARGIN, against: dict[str, str] | None = None) -> str:
    """The chosen variant of one fold from ``{variant: seed-mean validation UAR}`` in sweep order (the
    first is the base): the best one that beats the base by ``margin`` (and the variant it is tried on
    top of, ``against``, by as much), else the base. A variant without a validation score (no
    validation rows) cannot be chosen; without the base's, the base stays."""
    base = next(iter(validation))
    scored = {v: u for v, u in validation.items() if not math.isnan(u)}
    if base not in scored or not scored:
        return base
    against = against or {}

    def earns(variant: str) -> bool:
        over = [base, against.get(variant, base)]
        return all(o in scored and is_kept(scored[variant] - scored[o], margin) for o in over)

    fit = {v: u for v, u in scored.items() if v != base and earns(v)}
    return max(fit, key=fit.get) if fit else base   # the first of equals, in sweep order


def sweep_table(rows: pd.DataFrame | Sequence[dict], margin: float = MARGIN,
                against: dict[str, dict[str, str]] | None = None) -> pd.DataFrame:
    """Rows ``system, held_out, variant, seed, validation_uar, held_out_uar`` (one per finished job;
    variants in sweep order) -> one row per (system, held-out corpus, variant): the seed means, the
    validation gain over the base (or over the variant it is tried on top of: ``against``, per system
    ``{variant: other}``), which variant is chosen (on validation alone) and the held-out UAR, in a
    column whose name says it was not used to choose."""
    rows = pd.DataFrame(rows, columns=list(ROW_COLUMNS))
    out = []
    for (system, held_out), fold in rows.groupby(["system", "held_out"], sort=False):
        means = fold.groupby("variant", sort=False).agg(seeds=("seed", "nunique"), validation_uar=("validation_uar", "mean"),
                                                        held_out_uar=("held_out_uar", "mean"))
        on_top = (against or {}).get(system, {})
        chosen = choose_variant(means["validation_uar"].to_dict(), margin, on_top)
        scores = means["validation_uar"]
        for variant, row in means.iterrows():
            other = scores.get(on_top.get(variant), scores.iloc[0])
            out.append({"system": system, "held_out": held_out, "variant": variant, "seeds": int(row.seeds),
                        "validation_uar": row.validation_uar, "validation_gain": row.validation_uar - other,
                        "chosen": variant == chosen, HELD_OUT_COLUMN: row.held_out_uar})
    return pd.DataFrame(out, columns=list(TABLE_COLUMNS))


def chosen_variants(table: pd.DataFrame) -> dict[tuple[str, str], str]:
    """``{(system, held-out corpus): chosen variant}`` of a sweep table."""
    picked = table[table["chosen"].astype(str).str.lower() == "true"]
    return {(r.system, r.held_out): r.variant for r in picked.itertuples()}


def sweep_caption(margin: float = MARGIN) -> str:
    return (f"Sweeps: every variant of each swept system per held-out corpus, seed means. The chosen variant "
            f"(reported under the system's name in the results) has the best validation UAR and beats the first "
            f"(base) variant by at least {margin:g} (a variant tried on top of another, that one too, and its "
            f"gain is over that one), else the base is kept. The held-out UAR is {NOT_USED}.")


def sweep_cells(table: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """The sweep table as text cells (results.md and the report)."""
    header = ["system", "held out", "variant", "seeds", "validation UAR", "vs base", "chosen",
              f"held-out UAR ({NOT_USED})"]
    rows = [[r.system, r.held_out, r.variant, str(r.seeds), f"{r.validation_uar:.3f}", f"{r.validation_gain:+.3f}",
             "yes" if str(r.chosen).lower() == "true" else "", f"{getattr(r, HELD_OUT_COLUMN):.3f}"]
            for r in table.itertuples()]
    return header, rows


def sweep_markdown(table: pd.DataFrame, margin: float = MARGIN) -> str:
    from ..stats.compare import markdown_table

    return "\n".join(["## Sweeps", "", sweep_caption(margin), "", *markdown_table(*sweep_cells(table), left=3), ""])
