"""Sweeps: one system trained in several variants, one variant chosen per held-out corpus on validation rows.

A study system may carry ``sweep``: a grid of train.py flags (``{lr: [1.0e-4, 3.0e-4], mixup: [0, 0.2]}``,
every combination, the first one the base) or a list of named variants judged against the first
(``[{name: base, flags: {}}, {name: mixup, flags: {mixup: 0.2}}]``). Each variant is an ordinary
system with its own jobs, named ``<system>@<variant>`` (``speaker_cct@lr=0.0001,mixup=0.2``).

Per held-out corpus the variant with the best validation UAR, averaged over training seeds, is chosen,
but only when it beats the base by ``MARGIN`` (benchmarks/bench_loco.py's rule, made general); else the
base is kept. The held-out corpus never enters the choice: its UAR is reported beside every variant
(``sweep.csv``), marked as not used to choose. Everything here is pure (rows in, rows out).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import replace
from typing import Sequence

import pandas as pd

from ..errors import InputError
from ..path_names import path_name_problem

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


def _named(entries: list, where: str, flags_of_entry) -> list[dict]:
    variants = []
    for i, entry in enumerate(entries, start=1):
        key = f"{where}[{i}]"
        if not isinstance(entry, dict) or not entry.get("name"):
            raise InputError(f"{key}: expected a mapping with a name (and flags), got {entry!r}")
        unknown = sorted(set(entry) - {"name", "flags"})
        if unknown:
            raise InputError(f"{key}: unknown key {unknown[0]!r}; allowed: name, flags")
        variants.append({"name": str(entry["name"]), "flags": flags_of_entry(entry.get("flags"), f"{key}.flags")})
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
                    sweep=None) for v in system.sweep]


# --------------------------------------------------------------------------- choosing

def is_kept(gain: float, margin: float = MARGIN) -> bool:
    """Whether a variant's validation UAR gain over the base earns it the place (a hair of float slack)."""
    return gain >= margin - 1e-9


def choose_variant(validation: dict[str, float], margin: float = MARGIN) -> str:
    """The chosen variant of one fold from ``{variant: seed-mean validation UAR}`` in sweep order (the
    first is the base): the best one if it beats the base by ``margin``, else the base. A variant
    without a validation score (no validation rows) cannot be chosen; without the base's, the base stays."""
    base = next(iter(validation))
    scored = {v: u for v, u in validation.items() if not math.isnan(u)}
    if base not in scored or not scored:
        return base
    best = max(scored, key=scored.get)   # the first of equals, in sweep order
    return best if best != base and is_kept(scored[best] - scored[base], margin) else base


def sweep_table(rows: pd.DataFrame | Sequence[dict], margin: float = MARGIN) -> pd.DataFrame:
    """Rows ``system, held_out, variant, seed, validation_uar, held_out_uar`` (one per finished job;
    variants in sweep order) -> one row per (system, held-out corpus, variant): the seed means, the
    validation gain over the base, which variant is chosen (on validation alone) and the held-out UAR,
    in a column whose name says it was not used to choose."""
    rows = pd.DataFrame(rows, columns=list(ROW_COLUMNS))
    out = []
    for (system, held_out), fold in rows.groupby(["system", "held_out"], sort=False):
        means = fold.groupby("variant", sort=False).agg(seeds=("seed", "nunique"), validation_uar=("validation_uar", "mean"),
                                                        held_out_uar=("held_out_uar", "mean"))
        chosen = choose_variant(means["validation_uar"].to_dict(), margin)
        base = means["validation_uar"].iloc[0]
        for variant, row in means.iterrows():
            out.append({"system": system, "held_out": held_out, "variant": variant, "seeds": int(row.seeds),
                        "validation_uar": row.validation_uar, "validation_gain": row.validation_uar - base,
                        "chosen": variant == chosen, HELD_OUT_COLUMN: row.held_out_uar})
    return pd.DataFrame(out, columns=list(TABLE_COLUMNS))


def chosen_variants(table: pd.DataFrame) -> dict[tuple[str, str], str]:
    """``{(system, held-out corpus): chosen variant}`` of a sweep table."""
    picked = table[table["chosen"].astype(str).str.lower() == "true"]
    return {(r.system, r.held_out): r.variant for r in picked.itertuples()}


def sweep_caption(margin: float = MARGIN) -> str:
    return (f"Sweeps: every variant of each swept system per held-out corpus, seed means. The chosen variant "
            f"(reported under the system's name in the results) has the best validation UAR and beats the first "
            f"(base) variant by at least {margin:g}, else the base is kept. The held-out UAR is {NOT_USED}.")


def sweep_cells(table: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """The sweep table as text cells (results.md and the report)."""
    header = ["system", "held out", "variant", "seeds", "validation UAR", "vs base", "chosen",
              f"held-out UAR ({NOT_USED})"]
    rows = [[r.system, r.held_out, r.variant, str(r.seeds), f"{r.validation_uar:.3f}", f"{r.validation_gain:+.3f}",
             "yes" if str(r.chosen).lower() == "true" else "", f"{getattr(r, HELD_OUT_COLUMN):.3f}"]
            for r in table.itertuples()]
    return header, rows


def sweep_markdown(table: pd.DataFrame, margin: float = MARGIN) -> str:
    from ..compare import markdown_table

    return "\n".join(["## Sweeps", "", sweep_caption(margin), "", *markdown_table(*sweep_cells(table), left=3), ""])
