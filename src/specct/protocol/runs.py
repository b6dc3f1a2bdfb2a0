"""A training run's folder, whatever the system: where it goes and the small files every kind keeps
there (args.yaml, summary.csv)."""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import yaml

from ..core.errors import MissingInputError
from ..core.fileio import write_csv_atomic, write_text_atomic
from ..core.paths import split_parts

SUMMARY_COLUMNS = ("epoch", "train_loss", "val_loss", "val_accuracy", "val_uar", "lr")
ARGS_NAME = "args.yaml"
SUMMARY_NAME = "summary.csv"
CURVES_NAME = "curves.png"


def resolve_train_dir(data_dir: str | Path) -> Path:
    """Accept the train_data folder itself or the split folder that holds it."""
    data_dir = Path(data_dir)
    if (data_dir / "train_data").is_dir():
        data_dir = data_dir / "train_data"
    if not data_dir.is_dir():
        raise MissingInputError(f"{data_dir}: train_data folder not found (make the split first)")
    return data_dir.resolve()


def output_dir(args: argparse.Namespace, train_dir: Path, run_name: str) -> Path:
    """``--experiment`` when given, else ``<output>/<run_name>/<the split's own folders>``; the run's
    name comes from its system (``specct.systems``)."""
    if args.experiment:
        return Path(args.experiment)
    return Path(args.output) / run_name / Path(*split_parts(train_dir))


def split_record(train_dir: Path) -> dict:
    """How the split chose its validation rows, from its split_options.json (for args.yaml)."""
    import json

    from ..core.paths import split_info_file

    path = split_info_file(Path(train_dir).parent)
    info = json.loads(path.read_text()) if path.is_file() else {}
    return {"split_validation": info.get("validation_used", info.get("validation", "speakers" if info else "unknown")),
            "split_validation_corpora": info.get("validation_corpora", []),
            "split_validation_rows": info.get("validation_rows")}


def write_args(out_dir: Path, args: argparse.Namespace, train_dir: Path, extra: dict | None = None) -> None:
    """args.yaml: every flag, the train_data folder, the split's validation choice and ``extra`` notes."""
    values = {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(args).items()}
    values["data_dir"] = str(train_dir)
    values.update(split_record(train_dir))
    values.update(extra or {})
    # sorted here, not only by sort_keys: oyaml (imported with opensmile) makes every yaml dump keep
    # insertion order, and args.yaml would then depend on what the process imported before
    write_text_atomic(out_dir / ARGS_NAME, yaml.safe_dump(sorted_mapping(values), sort_keys=True))


def sorted_mapping(value):
    """``value`` with the keys of every mapping in it sorted."""
    if isinstance(value, dict):
        return {k: sorted_mapping(value[k]) for k in sorted(value)}
    return [sorted_mapping(v) for v in value] if isinstance(value, list) else value


def read_args(out_dir: str | Path) -> dict:
    path = Path(out_dir) / ARGS_NAME
    if not path.is_file():
        raise MissingInputError(f"{path}: not a training output folder (no args.yaml)")
    from ..core.records import read_record

    return read_record(path, "training record")


def read_summary(out_dir: Path) -> pd.DataFrame:
    path = out_dir / SUMMARY_NAME
    if not path.is_file():
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    return pd.read_csv(path)


def write_summary(out_dir: Path, rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    write_csv_atomic(out_dir / SUMMARY_NAME, frame)
    return frame
