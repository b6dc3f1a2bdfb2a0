"""Leave-one-corpus-out runs: split -> train -> eval with each corpus held out in turn.

Each fold is an ordinary split folder, training folder and test folder (as made by the three
scripts), so a fold can be inspected or re-run alone. A fold whose ``performance.yaml`` exists is
skipped on a re-run; an interrupted training resumes from its ``last.pth.tar``. The summary table
(CSV and Markdown: held-out corpus, accuracy, UAR with its 95% CI, macro-F1, per-class recall)
and a heatmap of the per-class recalls go to ``output/loco/<model>-<pretrained|scratch>/<n>_classes/<aug>/<balance>/``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import pandas as pd
import yaml

from . import paths
from .checkpoint import BEST_NAME, LAST_NAME, load_checkpoint
from .cli import ArgumentParser, add_datasets_arguments
from .errors import InputError, run_script
from .evaluate import PERFORMANCE_NAME, default_output_dir, evaluate
from .fileio import write_csv_atomic, write_text_atomic
from .labels import class_set_name
from .plots import plot_heatmap
from .splits import LOCO_ARGUMENTS, SplitOptions, add_split_arguments, check_recorded_choices, split_options_from

SUMMARY_CSV = "loco_summary.csv"
SUMMARY_MD = "loco_summary.md"
HEATMAP = "loco_heatmap.png"


@dataclass
class LocoOptions:
    datasets_dir: str = str(paths.DATASETS_DIR)
    corpora: list[str] | None = None          # held-out corpora, in turn (default: every imported corpus)
    model: str = "speaker_vgg_cct_7_7x2_112"
    config: str | None = None                 # train.py -c
    # the split options of every fold (class set, augmentation, balance, validation, PCA width, seed);
    # eval_dataset, datasets_dir and output_dir are set per fold from the fields here
    split: SplitOptions = field(default_factory=lambda: SplitOptions(eval_dataset=""))
    data_dir: str = str(paths.DATA_DIR)
    output: str = "output"
    train_args: list[str] = field(default_factory=list)   # extra train.py flags
    bootstrap: int = 1000
    progress: bool = True


def fold_train_args(opts: LocoOptions, train_dir: Path) -> list[str]:
    argv = [str(train_dir), "--model", opts.model, "--output", str(Path(opts.output) / "train"),
            "--seed", str(opts.split.seed)]
    if opts.config:
        argv += ["-c", opts.config]
    return argv + list(opts.train_args)


def ensure_split(opts: LocoOptions, held_out: str) -> Path:
    """The fold's split folder, made if it is not there yet."""
    so = opts.split
    split = paths.split_dir(opts.data_dir, held_out, class_set_name(so.num_classes, so.classes), so.augmentation,
                            so.balanced)
    fold = replace(so, eval_dataset=held_out, datasets_dir=opts.datasets_dir, output_dir=opts.data_dir)
    if not (paths.train_data_dir(split) / "train.csv").is_file() or \
            not (paths.eval_data_dir(split) / "test.csv").is_file():
        from .splits import run_split_stage

        run_split_stage(fold)
    else:
        check_recorded_choices(split, fold)
    return split


def training_finished(out_dir: Path, args) -> bool:
    """True when last.pth.tar holds the final epoch or an early stop."""
    last = out_dir / LAST_NAME
    if not last.is_file():
        return False
    state = load_checkpoint(last)
    stopped_early = bool(args.patience) and int(state.get("stale_epochs", 0)) >= args.patience
    same_schedule = int(state.get("args", {}).get("epochs", args.epochs)) == args.epochs
    return same_schedule and (int(state["epoch"]) >= int(state.get("num_epochs", args.epochs)) or stopped_early)


def run_fold(opts: LocoOptions, held_out: str) -> dict:
    """Split, train (or resume) and evaluate one fold; returns its performance."""
    from .train import parse_args, train
    from .train.outputs import output_dir

    split = ensure_split(opts, held_out)
    args = parse_args(fold_train_args(opts, paths.train_data_dir(split)))
    out_dir = output_dir(args, paths.train_data_dir(split))
    test_dir = default_output_dir(out_dir)
    performance_file = test_dir / PERFORMANCE_NAME
    if performance_file.is_file() and (out_dir / BEST_NAME).is_file():
        print(f"fold {held_out}: finished earlier, skipped ({performance_file})")
        return yaml.safe_load(performance_file.read_text())
    if not training_finished(out_dir, args):
        if (out_dir / LAST_NAME).is_file():
            args.resume = "auto"
        args.no_progress = args.no_progress or not opts.progress
        train(args)
    result = evaluate(out_dir, output=test_dir, bootstrap=opts.bootstrap, seed=opts.split.seed,
                      progress=opts.progress)
    return result.performance


def summary_table(performances: dict[str, dict]) -> pd.DataFrame:
    rows = []
    for held_out, perf in performances.items():
        low, high = perf["confidence_interval_95"]["uar"]
        row = {"held_out": held_out, "files": perf["samples"], "accuracy": perf["accuracy"], "uar": perf["uar"],
               "uar_ci_low": low, "uar_ci_high": high, "macro_f1": perf["macro"]["f1"]}
        for name, values in perf["per_class"].items():
            row[f"recall_{name}"] = values["recall"]
        rows.append(row)
    return pd.DataFrame(rows)


def markdown_table(table: pd.DataFrame) -> str:
    lines = ["| held-out corpus | files | accuracy | UAR (95% CI) | macro-F1 |", "|---|---:|---:|---:|---:|"]
    for row in table.itertuples():
        lines.append(f"| {row.held_out} | {row.files} | {row.accuracy:.3f} | "
                     f"{row.uar:.3f} ({row.uar_ci_low:.3f}-{row.uar_ci_high:.3f}) | {row.macro_f1:.3f} |")
    if len(table) > 1:
        lines.append(f"| mean | {int(table['files'].sum())} | {table['accuracy'].mean():.3f} | "
                     f"{table['uar'].mean():.3f} | {table['macro_f1'].mean():.3f} |")
    return "\n".join(lines) + "\n"


def summary_dir(opts: LocoOptions, pretrained: bool) -> Path:
    from .train.outputs import run_name

    so = opts.split
    return (Path(opts.output) / "loco" / run_name(opts.model, pretrained)
            / class_set_name(so.num_classes, so.classes) / so.augmentation / so.balanced)


def run_loco(opts: LocoOptions) -> pd.DataFrame:
    """Every fold in turn, then the summary files; returns the summary table."""
    from .train import parse_args

    corpora = paths.select_corpora(opts.datasets_dir, opts.corpora)
    if len(paths.list_corpora(opts.datasets_dir)) < 2:
        raise InputError(f"{opts.datasets_dir}: leave-one-corpus-out needs at least two corpora")
    performances = {}
    for i, held_out in enumerate(corpora, start=1):
        print(f"=== fold {i}/{len(corpora)}: test on {held_out}, train on the others")
        performances[held_out] = run_fold(opts, held_out)
    table = summary_table(performances)
    pretrained = parse_args(fold_train_args(opts, Path("."))).pretrained
    out = summary_dir(opts, pretrained)
    write_csv_atomic(out / SUMMARY_CSV, table)
    write_text_atomic(out / SUMMARY_MD, markdown_table(table))
    recall_columns = [c for c in table.columns if c.startswith("recall_")]
    heat = table.set_index("held_out")[recall_columns + ["uar"]]
    heat.columns = [c.removeprefix("recall_") for c in recall_columns] + ["UAR"]
    plot_heatmap(heat, out / HEATMAP, title=f"{opts.model}: recall per class, leave-one-corpus-out")
    print("\n" + markdown_table(table))
    print(f"summary: {out / SUMMARY_CSV}, {out / SUMMARY_MD}, {out / HEATMAP}")
    return table


def main(argv: Sequence[str] | None = None) -> int:

    p = ArgumentParser(
        prog="run_loco.py", description="Leave-one-corpus-out: split, train and evaluate with each corpus held out. "
                                        "Flags not listed here go to train.py.")
    add_datasets_arguments(p, "corpora to hold out, in turn (default: every imported corpus)",
                           default_dir=str(paths.DATASETS_DIR))
    p.add_argument("--model", default=LocoOptions.model)
    p.add_argument("-c", "--config", default=None, help="train.py config")
    add_split_arguments(p, LOCO_ARGUMENTS)  # the split options, declared once in specct.splits
    p.add_argument("--data_dir", default=str(paths.DATA_DIR), help="where the split folders go")
    p.add_argument("--output", default="output", help="base of output/train, output/test and output/loco")
    p.add_argument("--bootstrap", type=int, default=1000)
    args, train_args = p.parse_known_args(argv)
    opts = LocoOptions(datasets_dir=args.datasets_dir, corpora=args.datasets,
                       model=args.model, config=args.config, split=split_options_from(args, eval_dataset=""),
                       data_dir=args.data_dir, output=args.output, train_args=train_args,
                       bootstrap=args.bootstrap)
    return run_script("run_loco.py", lambda: run_loco(opts))
