"""The study file's schema: one typed model per section (pydantic), read by ``specct run`` and printed
as JSON Schema by ``specct schema`` so that editors check a study file while it is written.

Every leaf value carries the check that tells a wrong one (:mod:`specct.core.values`) and the JSON Schema
that says the same to an editor, both built from one set of bounds. A wrong value, a section of the
wrong type or an unknown key is one :class:`~specct.core.errors.InputError` line naming the key path
(``systems[1].split: unknown key 'validaton' (did you mean 'validation'?); allowed: ...``).

What needs more than the file (does the corpus folder exist, is the model registered, which classes
do the corpora have, a sweep's variants, the cluster's resources) is checked by the readers in
:mod:`specct.study.engine` after this, with the same one-line form.
"""
import typing
from typing import Annotated, Any, Callable, Sequence

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, WithJsonSchema, model_validator

from ..core import values
from ..data.augment import AUGMENTATION_GROUPS, AUGMENTATIONS
from ..figures.colormaps import CMAPS
from ..core.errors import InputError
from ..core.flag_model import flags_schema
from ..core.labels import CLASS_SETS
from ..loco.experiment import PROTOCOLS
from ..data.spectrogram import WINDOWS
from ..data.splits import BALANCE_MODES, VALIDATION_CHOICES
from ..train.option_models import TRAIN_GROUPS

HERE = "\x00"   # the key path in a check's message: known only once pydantic locates the error


# --------------------------------------------------------------------------- checked leaves

class Check:
    """A leaf's check (``check(value, where)`` raising InputError), whether YAML ``null`` means the
    default, and the key paths under it the check covers (a corpus entry's ``source`` and ``options``)."""

    def __init__(self, check: Callable, nullable: bool = False, covers: Sequence[str] = (), passed_on: bool = False):
        self.check, self.nullable, self.covers, self.passed_on = check, nullable, tuple(covers), passed_on

    def __call__(self, value):
        if value is None and self.nullable:
            return None
        try:
            self.check(value, HERE)
        except InputError as exc:
            raise ValueError(str(exc)) from None   # pydantic adds where it was
        return value


def checked(check: Callable, schema: dict, description: str, nullable: bool = False, covers: Sequence[str] = (),
            passed_on: bool = False):
    """An annotated leaf type: the value as YAML gave it, checked by ``check``, shown as ``schema``."""
    if nullable:
        schema = {"anyOf": [schema, {"type": "null"}]}
    return Annotated[Any, BeforeValidator(Check(check, nullable, covers, passed_on)),
                     WithJsonSchema({**schema, "description": description})]


def _bounds(bounds: values.Range) -> dict:
    return bounds.json_schema


def integer(bounds: values.Range, description: str, nullable: bool = False):
    return checked(lambda v, w: values.integer(v, w, bounds), {"type": "integer", **_bounds(bounds)}, description,
                   nullable)


def number(bounds: values.Range, description: str, nullable: bool = False):
    return checked(lambda v, w: values.number(v, w, bounds), {"type": "number", **_bounds(bounds)}, description,
                   nullable)


def choice(choices: Sequence[str], description: str):
    return checked(lambda v, w: values.text(v, w, list(choices)), {"enum": list(choices)}, description)


TEXT = {"type": "string", "pattern": r"\S"}   # a non-empty string: something other than spaces


def text(description: str, nullable: bool = False):
    return checked(values.text, TEXT, description, nullable)


def text_list(description: str, choices: Sequence[str] | None = None):
    item = {"enum": list(choices)} if choices else TEXT
    return checked(lambda v, w: values.text_list(v, w, choices), {"anyOf": [item, {"type": "array", "minItems": 1,
                                                                                  "items": item}]}, description)


def boolean(description: str):
    return checked(values.boolean, {"type": "boolean"}, description)


def _seed(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"{where}: expected a non-negative integer, got {value!r}")
    return value


def seed_value(description: str):
    return checked(_seed, {"type": "integer", "minimum": 0}, description)


def _seeds(value, where: str):
    if isinstance(value, list):
        return [_seed(v, f"{where}[{i}]") for i, v in enumerate(value, start=1)]
    return _seed(value, where)


def _flags(value, where: str):
    if not isinstance(value, (list, dict)):
        raise InputError(f"{where}: expected train.py flags as a list [--flag, value, ...] or a mapping "
                         f"flag: value, got {value!r}")
    return value


def _kinds_reading(field: str) -> str:
    """`` (read by: network, baseline systems)``: the kinds whose options hold the flag."""
    from .. import systems

    kinds = [system.kind for system in systems.SYSTEMS
             if system.options is not None and field in system.options.model_fields]
    return f" (read by: {', '.join(kinds)} systems)" if kinds else ""


# as tokens [--flag, value, ...], or a mapping flag: value typed by train.py's own declarations
FLAGS_SCHEMA = {"anyOf": [{"type": "array", "items": {"type": ["string", "number", "boolean"]}},
                          flags_schema(TRAIN_GROUPS, note=_kinds_reading)]}


def flags_value(description: str):
    return checked(_flags, FLAGS_SCHEMA, description, nullable=True)


def _name(value, where: str):
    if value not in (None, "") and not isinstance(value, str):
        raise InputError(f"{where}: expected a string, got {value!r}")
    return value


def _num_classes(value, where: str):
    if isinstance(value, bool) or str(value) not in CLASS_SETS or not isinstance(value, (int, str)):
        raise InputError(f"{where}: expected one of {', '.join(CLASS_SETS)}, got {value!r}")
    return value


def _classes(value, where: str):
    if isinstance(value, str) and value.strip():
        return value
    return values.text_list(value, where)


def _size(value, where: str):
    pair = value if isinstance(value, list) and len(value) == 2 else [value]
    if not all(values.is_integer(v) and v >= 1 for v in pair):
        raise InputError(f"{where}: expected a whole number of pixels (at least 1) or [height, width], got {value!r}")
    return value


def _corpora(value, where: str):
    """Each entry of ``corpora`` (a mapping that is not one is the corpus reader's to refuse, with the form)."""
    if isinstance(value, dict):
        for name, entry in value.items():
            _corpus(entry, f"{where}.{name}")
    return value


def _corpus(value, where: str):
    """A corpus entry: a folder (or ``demo``), or ``{source, options}``; its keys are checked by the
    corpus reader, which knows each corpus's options."""
    if not isinstance(value, dict):
        return values.text(value, where)
    if "source" in value:
        values.text(value["source"], f"{where}.source")
    options = value.get("options")
    if isinstance(options, dict):
        for key, given in options.items():
            values.boolean(given, f"{where}.options.{key}")
    return value


PIXELS = {"anyOf": [{"type": "integer", "minimum": 1},
                    {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 2, "maxItems": 2}]}
CORPUS = {"anyOf": [TEXT,
                    {"type": "object", "properties": {"source": TEXT,
                                                      "options": {"type": "object",
                                                                  "additionalProperties": {"type": "boolean"}}},
                     "required": ["source"], "additionalProperties": False}]}
SWEEP = {"anyOf": [
    {"type": "object", "additionalProperties": {"type": "array", "minItems": 1},
     "description": "a grid: train.py flag -> the values tried, one variant per combination"},
    {"type": "array", "minItems": 2, "items": {
        "type": "object", "required": ["name"], "additionalProperties": False,
        "properties": {"name": {"type": "string"}, "flags": FLAGS_SCHEMA, "split": {"type": "object"},
                       "spectrogram": {"type": "object"}, "against": {"type": "string"}}},
     "description": "named variants, each judged against the first (or the one it names in against)"}]}
CLUSTER = {"type": "object", "additionalProperties": False, "properties": {
    "partition": {"type": "string"}, "gpus_per_job": {"type": "integer", "minimum": 0},
    "cpus_per_job": {"type": "integer", "minimum": 1}, "mem_gb": {"type": "integer", "minimum": 1},
    "time_minutes": {"type": "integer", "minimum": 1}, "max_running": {"type": "integer", "minimum": 1},
    "sbatch": {"type": "object", "description": "extra sbatch options, without --"}}}


def passed_on(schema: dict, description: str):
    """A value the study's own reader checks (it needs the corpora or the systems): shown, not checked here."""
    return checked(lambda v, w: v, schema, description, nullable=True, passed_on=True)


# --------------------------------------------------------------------------- sections

class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Demo(Section):
    """The built-in demo corpora's size and seed."""
    speakers: integer(values.AT_LEAST_ONE, "speakers per demo corpus") = None
    sentences: integer(values.AT_LEAST_ONE, "sentences per speaker and emotion") = None
    seed: seed_value("the demo voices' seed") = None


class Speaker(Section):
    """The speaker vectors' PCA, fitted on the training corpora of each split."""
    n_components: integer(values.AT_LEAST_ONE, "width of the speaker vector after PCA") = None


class ImageSettings(Section):
    """Spectrogram image settings (specct.data.spectrogram.SpectrogramConfig, 16 kHz audio)."""
    window: choice(WINDOWS, "analysis window") = None
    window_ms: number(values.POSITIVE, "window length in milliseconds") = None
    hop_ms: number(values.POSITIVE, "hop in milliseconds") = None
    n_fft: integer(values.AT_LEAST_ONE, "FFT length in samples (default: the window's)", nullable=True) = None
    n_mels: integer(values.AT_LEAST_ONE, "mel bands") = None
    fmin_hz: number(values.Range(low=0, below=8000), "lowest mel frequency") = None
    fmax_hz: number(values.Range(above=0, high=8000), "highest mel frequency (default 8000)", nullable=True) = None
    db_floor: number(values.Range(below=0), "dB below the utterance maximum drawn darkest") = None
    cmap: choice(CMAPS, "colour map") = None
    size: checked(_size, PIXELS, "image size in pixels: one number, or [height, width]") = None
    mean_norm: boolean("subtract each mel band's mean over the utterance") = None
    min_seconds: number(values.POSITIVE, "pad shorter utterances with silence to this length",
                        nullable=True) = None


class Spectrogram(ImageSettings):
    """The study's images, and the offline augmentations drawn beside them."""
    augmentations: text_list("offline augmentations (groups or single ones) drawn beside the plain images",
                             [*AUGMENTATION_GROUPS, *AUGMENTATIONS]) = None


class SystemSplit(Section):
    """How a split chooses its validation rows and training images (a system's own, over the study's)."""
    validation: choice(VALIDATION_CHOICES, "where the validation rows come from") = None
    validation_corpus: text("the training corpus that validates (validation: corpus)", nullable=True) = None
    percent_subject_validation: number(values.Range(low=0, below=1), "share of the training speakers that "
                                                                      "validate (validation: speakers)") = None
    augmentation: choice(AUGMENTATION_GROUPS, "the offline augmentation group the split trains on") = None
    balanced: choice(BALANCE_MODES, "class balancing of the training rows") = None


class Split(SystemSplit):
    vary_split: boolean("draw the split again for each training seed") = None


class System(Section):
    """One system: a registered model, its train.py config and flags, and optionally a sweep."""
    model_config = ConfigDict(extra="forbid", json_schema_extra={"required": ["model"]})
    name: text("the system's name in the tables (default: from the model and config)", nullable=True) = None
    model: text("a registered model: an image network, a baseline or an ensemble") = None
    config: text("a train.py config file (configs/... is also read from the installed package)",
                 nullable=True) = None
    flags: flags_value("train.py flags of this system") = None
    sweep: passed_on(SWEEP, "variants trained per fold and seed, one chosen per fold on validation rows") = None
    split: SystemSplit | None = None
    spectrogram: ImageSettings | None = None


SystemList = Annotated[list[System], Field(min_length=1)]


class Study(Section):
    """A study: ``specct run study.yml``. Only corpora and systems are required."""
    model_config = ConfigDict(extra="forbid", json_schema_extra={"required": ["corpora", "systems"]},
                              title="specct study")
    name: checked(_name, {"type": "string", "pattern": r"^([A-Za-z0-9][A-Za-z0-9_.+-]*)?$"},
                  "the study's folder under output (default: the file's name), a plain folder name",
                  nullable=True) = None
    output: text("the output root (default output)") = None
    datasets_dir: text("where corpora are imported and drawn (default <output>/<name>/datasets)", nullable=True) = None
    corpora: checked(_corpora, {"type": "object", "additionalProperties": CORPUS, "minProperties": 2},
                     "CORPUS: folder as distributed, 'demo', or {source, options}",
                     covers=(".*", ".*.source", ".*.options.*")) = None
    demo: Demo | None = None
    classes: checked(_classes, {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"},
                                                               "minItems": 1}]},
                     "the classes, named (or num_classes)", nullable=True) = None
    num_classes: checked(_num_classes, {"enum": [*CLASS_SETS, *(int(c) for c in CLASS_SETS if c.isdigit())]},
                         "a named class set (default 4: anger, happy, neutral, sad)") = None
    spectrogram: Spectrogram | None = None
    speaker: Speaker | None = None
    split: Split | None = None
    seed: seed_value("the split's seed (and the training seed without seeds)") = None
    seeds: checked(_seeds, {"anyOf": [{"type": "integer", "minimum": 0},
                                      {"type": "array", "items": {"type": "integer", "minimum": 0}}]},
                   "training seeds: one job per system, corpus and seed", nullable=True) = None
    protocols: text_list("the protocols run", PROTOCOLS) = None
    train_flags: flags_value("train.py flags for every system") = None
    systems: SystemList = None
    reference: text("the system the others are compared with", nullable=True) = None
    bootstrap: seed_value("bootstrap resamples of the intervals") = None
    report: boolean("write report.html and report.md (default true)") = None
    held_out: passed_on({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
                        "the corpora held out in turn (default every corpus; the others train only)") = None
    cluster: passed_on(CLUSTER, "--executor slurm's resources") = None

    @model_validator(mode="after")
    def _related_values(self):
        """Values checked against each other: the mel range, the FFT length, the validation corpus."""
        spectrogram = self.spectrogram
        if spectrogram is not None:
            low = spectrogram.fmin_hz if spectrogram.fmin_hz is not None else 0.0
            high = spectrogram.fmax_hz
            if high is not None and not low < high:
                raise ValueError(f"spectrogram.fmax_hz: expected a number above fmin_hz ({low!r}), got {high!r}")
            window = spectrogram.window_ms if spectrogram.window_ms is not None else 25.0
            n_fft = spectrogram.n_fft
            if n_fft is not None and n_fft < window * 16:   # samples of the window at 16 kHz
                raise ValueError(f"spectrogram.n_fft: expected at least the window's {window * 16:g} samples "
                                 f"(window_ms {window!r} at 16 kHz), got {n_fft!r}")
        corpus = self.split.validation_corpus if self.split is not None else None
        names = [str(n).upper() for n in self.corpora] if isinstance(self.corpora, dict) else []
        if corpus is not None and names and corpus.upper() not in names:
            raise ValueError(f"split.validation_corpus: expected one of {', '.join(names)}, got {corpus!r}")
        return self


SECTIONS = {"split": Split, "spectrogram": Spectrogram}   # a system's own settings, checked as the study's


# --------------------------------------------------------------------------- errors as one line

def _inner(annotation):
    """The model or list of models a field holds (``X | None`` and ``list[X]`` looked through)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is Annotated:
        return _inner(args[0])
    if typing.get_origin(annotation) in (list, typing.Union) or type(annotation).__name__ == "UnionType":
        return _inner(args[0]) if args else annotation
    return annotation


def _model_at(model: type[BaseModel], loc: Sequence) -> type[BaseModel] | None:
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            return None
        model = _inner(field.annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def key_path(loc: Sequence, start: str = "") -> str:
    path = start
    for part in loc:
        path += f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _description(model: type[BaseModel], loc: Sequence) -> str:
    owner = _model_at(model, loc[:-1]) if loc else None
    field = owner.model_fields.get(loc[-1]) if owner is not None and isinstance(loc[-1], str) else None
    if field is None:
        return "a value of another type"
    if loc[-1] == "systems":
        return "a list of systems (name, model, config, flags), at least one"
    for meta in field.metadata:
        if isinstance(meta, WithJsonSchema):
            return meta.json_schema.get("description", "")
    return field.description or "a value of another type"


def one_line(error: dict, model: type[BaseModel], where: str = "", file: str = "") -> str:
    """One pydantic error as specct's one line: ``<key path>: <what is wrong>``."""
    loc = [part for part in error["loc"] if not isinstance(part, str) or not part.startswith("function-")]
    path = key_path(loc, where)
    if error["type"] == "value_error":
        message = str(error["ctx"]["error"])
        if message.startswith(HERE):
            return (path + message[len(HERE):]).lstrip(".")
        return f"{path}: {message}" if path else message
    if error["type"] == "extra_forbidden":
        owner = _model_at(model, loc[:-1])
        allowed = list(owner.model_fields) if owner is not None else []
        return (f"{key_path(loc[:-1], where) or file}: unknown key {loc[-1]!r}{values.did_you_mean(loc[-1], allowed)}; "
                f"allowed: {', '.join(allowed)}")
    section = _model_at(model, loc)
    if section is not None and error["type"] in ("model_type", "model_attributes_type", "dict_type"):
        return f"{path or file}: expected a mapping of {', '.join(section.model_fields)}"
    return f"{path}: expected {_description(model, loc)}, got {error['input']!r}"


def _first(errors: list[dict]) -> dict:
    """The error to report: an unknown key of the file's top level first (a typo explains what follows),
    then in the schema's order."""
    top = [e for e in errors if e["type"] == "extra_forbidden" and len(e["loc"]) == 1]
    return (top or errors)[0]


def check_study(content: dict, file: str) -> None:
    """The file's keys, types and ranges, before anything else is read: one InputError line."""
    try:
        Study.model_validate(content)
    except ValidationError as exc:
        raise InputError(one_line(_first(exc.errors()), Study, file=file)) from None


def check_section(settings: dict, where: str, section: str) -> None:
    """A system's (or a sweep variant's) own ``split`` or ``spectrogram`` by the study's checks of those keys."""
    model = SECTIONS[section]
    try:
        model.model_validate(settings)
    except ValidationError as exc:
        raise InputError(one_line(exc.errors()[0], model, where=where)) from None


def section_keys(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(model.model_fields)


def checked_paths(model: type[BaseModel] = Study, prefix: str = "") -> set[str]:
    """Every key path with a check of its own (``systems[].flags``, ``corpora.*.source``), for the test
    that gives each a wrong value."""
    found = set()
    for name, field in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        inner = _inner(field.annotation)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            listed = typing.get_origin(field.annotation) is list   # pydantic keeps list[X], not its Annotated
            found |= checked_paths(inner, f"{path}[]" if listed else path)
            continue
        for meta in field.metadata:
            if isinstance(meta, BeforeValidator) and isinstance(meta.func, Check):
                if meta.func.passed_on:
                    continue
                if meta.func.covers:   # a mapping of corpora: each entry, and what the entry holds
                    found |= {f"{path}{c}" for c in meta.func.covers}
                else:
                    found.add(path)
    return found


def json_schema() -> dict:
    """The study file's JSON Schema (draft 2020-12), as ``specct schema`` prints it."""
    def tidy(node):   # a key left out means its default; pydantic's "default: null" would read as a value
        if isinstance(node, dict):
            return {k: tidy(v) for k, v in node.items() if not (k == "default" and v is None)}
        return [tidy(v) for v in node] if isinstance(node, list) else node

    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **tidy(Study.model_json_schema())}
