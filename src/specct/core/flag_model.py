"""Options models whose fields are command-line flags: one declaration gives the argparse argument,
the typed field and its JSON Schema.

A group of flags is a pydantic model (:class:`FlagGroup`) with a ``title`` (its ``--help`` heading);
each field carries a :class:`Flag` in its metadata: the option strings and argparse's keywords. The
field's default is the flag's default and its description the help text, so ``--help``, a study
file's check and ``specct schema`` say the same. A kind's options are a model of the fields it
reads, taken from the groups (:func:`specct.train.option_models.kind_options`).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True)
class Switch:
    """One more option string writing a constant to the same field (``--no_pretrained`` beside
    ``--pretrained``), with its own help."""
    names: tuple[str, ...]
    const: Any
    help: str


@dataclass(frozen=True)
class Flag:
    """A field's command-line form: option strings and argparse's
    keywords other than ``dest``, ``default`` and ``help``; ``switches`` add option strings that
    store constants."""
    names: tuple[str, ...]
    kwargs: dict = field(default_factory=dict)
    switches: tuple[Switch, ...] = ()
    bounds: Any = None   # a numeric flag's range (specct.core.values.Range); a list flag's, each item's


def option(annotation, default, *names: str, help: str, switches: tuple[Switch, ...] = (), bounds=None, **kwargs):
    """A field for a group's body: ``lr: option(float, 5e-5, "--lr", bounds=NON_NEGATIVE, type=float, help=...)``
    is the field ``lr`` (default 5e-5, described by the help, within its bounds) and the flag ``--lr``
    (``kwargs`` for argparse)."""
    return Annotated[annotation, Flag(tuple(names), kwargs, switches, bounds),
                     Field(default, description=help, json_schema_extra={"flag": names[0]} if names else None)]


class FlagGroup(BaseModel):
    """A titled group of flags; subclasses declare fields with :func:`option`."""
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    title: ClassVar[str] = ""


def flag_of(info) -> Flag:
    return next(meta for meta in info.metadata if isinstance(meta, Flag))


def own_fields(group: type[FlagGroup]) -> list[str]:
    """The fields a group declares itself (not those of a group it extends)."""
    return [name for name in group.model_fields if name in group.__dict__.get("__annotations__", {})]


def add_group(parser: argparse.ArgumentParser, group: type[FlagGroup]):
    """The group's flags as an argparse argument group, in declaration order."""
    target = parser.add_argument_group(group.title)
    for name in own_fields(group):
        info = group.model_fields[name]
        declared = flag_of(info)
        target.add_argument(*declared.names, dest=name, default=info.default, help=info.description,
                            **declared.kwargs)
        for switch in declared.switches:   # every argument of the field has the field's default
            kind = {True: dict(action="store_true"), False: dict(action="store_false")}.get(
                switch.const, dict(action="store_const", const=switch.const))
            target.add_argument(*switch.names, dest=name, default=info.default, help=switch.help, **kind)
    return target


def negations(groups) -> dict[str, str]:
    """``{field: option string}`` of the switches that store False (``refit`` -> ``--no_refit``): how a
    False value is written as a flag."""
    return {name: switch.names[0] for group in groups for name in own_fields(group)
            for switch in flag_of(group.model_fields[name]).switches if switch.const is False}


def flags_schema(groups, note=None) -> dict:
    """The JSON Schema of a ``flags`` mapping (``flag: value``, the flag's long name without ``--``), as
    a study file gives train.py flags: every flag of ``groups`` typed, with its choices and help, and
    ``note(field)`` after the help (which kinds read it)."""
    properties = {}
    for group in groups:
        for name in own_fields(group):
            info = group.model_fields[name]
            declared = flag_of(info)
            schema = value_schema(declared.kwargs, declared.bounds)
            after = note(name) if note else ""
            for option in (n for n in declared.names if n.startswith("--")):
                properties[option[2:]] = {**schema, "description": info.description + after}
            for switch in declared.switches:
                properties[switch.names[0][2:]] = {"const": True, "description": switch.help + after}
    return {"type": "object", "properties": properties, "additionalProperties": False}


SCALARS = {int: {"type": "integer"}, float: {"type": "number"}}


def value_schema(kwargs: dict, bounds=None) -> dict:
    """What a flag takes in a mapping: ``true`` for a switch; one value, or a list where it takes several
    (one value stands for a list of one); a text flag also takes a number (``layer: 3``)."""
    if kwargs.get("action") in ("store_true", "store_false"):
        return {"const": True}
    if kwargs.get("choices"):
        item = {"enum": list(kwargs["choices"])}
    elif kwargs.get("type") in SCALARS:
        item = {**SCALARS[kwargs["type"]], **(bounds.json_schema if bounds is not None else {})}
    else:
        item = {"type": ["string", "number"]}
    nargs = kwargs.get("nargs")
    if nargs == "?":   # the flag alone takes its constant
        return {"anyOf": [{"const": True}, item]}
    if isinstance(nargs, int):
        return {"type": "array", "items": item, "minItems": nargs, "maxItems": nargs}
    if nargs in ("+", "*"):
        return {"anyOf": [item, {"type": "array", "items": item}]}
    return item


def flag_ranges(groups) -> dict:
    """``{field: Range}`` of the numeric flags of ``groups`` that have bounds, in declaration order."""
    return {name: flag_of(group.model_fields[name]).bounds for group in groups for name in own_fields(group)
            if flag_of(group.model_fields[name]).bounds is not None}
