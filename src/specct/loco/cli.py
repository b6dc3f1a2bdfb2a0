"""run_loco.py's command line: flags -> :class:`LocoOptions`, then the jobs, the tables, the report.

Job commands (``--print_jobs``) name the experiment's record, not its flags: ``--from_record
<experiment folder> --job ID`` runs one job with the options experiment.yaml holds.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from ..core import paths
from ..core.cli import (ArgumentParser, add_alias, add_datasets_arguments, add_executor_arguments,
    add_progress_argument, add_rerun_arguments, program_name)
from ..core.errors import InputError, run_script
from ..data.split_settings import LOCO_ARGUMENTS, add_split_arguments, split_settings_of
from ..core.path_names import check_path_name
from .experiment import (DEFAULT_MODEL, DIAGONALS, PROTOCOLS, LocoOptions, SystemSpec, check_systems, check_trainable,
                         experiment_dir, new_experiment, read_experiment_file, recorded_options, system_name,
                         write_experiment_record)

# the parser needs only the light modules above; the job runner (systems, pandas) loads when a command runs
if TYPE_CHECKING:
    from .jobs import Job
    from .results import Collected


class ModelAction(argparse.Action):
    """``--model NAME`` starts a new system; a following ``-c CONFIG`` belongs to it."""

    def __call__(self, parser, namespace, values, option_string=None):
        systems = list(getattr(namespace, "systems", None) or [])
        systems.append({"model": values, "config": None})
        namespace.systems = systems


class ConfigAction(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        systems = getattr(namespace, "systems", None)
        if not systems:
            parser.error(f"{option_string} {values}: a config belongs to the --model before it")
        if systems[-1]["config"] is not None:
            parser.error(f"{option_string} {values}: --model {systems[-1]['model']} has a config already")
        systems[-1]["config"] = values


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="run_loco.py",
        description="Several systems, each corpus held out in turn (and, with --protocol pairwise, the "
                    "one-to-one matrix): split, train and evaluate as independent, resumable jobs, then "
                    "results.csv, comparison.csv and heatmaps. Flags not listed here go to train.py.")
    add_datasets_arguments(p, "corpora to hold out in turn (default: every imported corpus)",
                           default_dir=str(paths.DATASETS_DIR))
    g = p.add_argument_group("systems")
    g.add_argument("--model", action=ModelAction, dest="systems", metavar="NAME",
                   help=f"a system (repeat for several); default {DEFAULT_MODEL}")
    g.add_argument("-c", "--config", action=ConfigAction, dest="systems", metavar="CONFIG",
                   help="train.py config of the --model before it")
    g.add_argument("--experiment_file", default=None, metavar="FILE.yml",
                   help="YAML file listing the systems (name, model, config, flags) instead of --model "
                        "(--experiment, its older name, still works; train.py's --experiment is an output folder)")
    add_alias(g, "--experiment", "--experiment_file")
    g.add_argument("--reference", default=None, help="system the others are compared with (default: the first)")
    g.add_argument("--name", default=None,
                   help="experiment name, its folder under <output>/loco (default: the systems' names)")
    g = p.add_argument_group("protocol and split")
    g.add_argument("--protocol", nargs="+", choices=PROTOCOLS, default=["loco"],
                   help="loco: each corpus held out; pairwise: train on one corpus, test on each")
    g.add_argument("--diagonal", choices=DIAGONALS, default="kfold",
                   help="within-corpus split of the pairwise diagonal")
    g.add_argument("--folds", type=int, default=5, help="folds of the diagonal (0 with loso: one per speaker)")
    add_split_arguments(g, LOCO_ARGUMENTS)  # the split options, declared once in specct.data.splits
    g.add_argument("--seeds", type=int, nargs="+", default=None, metavar="SEED",
                   help="training seeds: one job per system, corpus and seed, all on the split of --seed "
                        "(default: --seed alone); results.csv gives the mean over seeds and its spread")
    g.add_argument("--vary_split", action="store_true",
                   help="with --seeds: redraw the split for each training seed (under <data_dir>/seed-<n>)")
    g.add_argument("--data_dir", default=str(paths.DATA_DIR),
                   help="where the split folders go (the --data_dir of preprocess_split_dataset.py)")
    g.add_argument("--output", default="output", help="experiments go to <output>/loco/<name>")
    g.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples of the CIs and tests")
    g = p.add_argument_group("jobs")
    g.add_argument("--print_jobs", action="store_true",
                   help="record the experiment, print one self-contained shell command per job and exit")
    g.add_argument("--job", default=None, metavar="ID", help="run this job only (as --print_jobs prints it)")
    g.add_argument("--from_record", default=None, metavar="FOLDER",
                   help="the experiment recorded in FOLDER/experiment.yaml instead of the flags above "
                        "(what --print_jobs commands use)")
    g.add_argument("--collect", action="store_true",
                   help="only gather the finished jobs into the tables and list what is missing")
    g.add_argument("--max_jobs", type=int, default=None,
                   help="stop after running this many jobs (finished ones are skipped, not counted)")
    g.add_argument("--report", action="store_true", help="also write report.html and report.md")
    add_rerun_arguments(g)
    add_executor_arguments(g)
    add_progress_argument(g)
    return p


def launcher() -> list[str]:
    """This interpreter and run_loco.py (or ``-m specct.loco`` when called from Python)."""
    script = Path(sys.argv[0]).resolve() if Path(sys.argv[0]).name == "run_loco.py" else None
    return [sys.executable, str(script)] if script else [sys.executable, "-m", "specct.loco"]


def shell_command(argv: Sequence[str]) -> str:
    return f"cd {shlex.quote(os.getcwd())} && {shlex.join([*launcher(), *argv])}"


def job_command(opts: LocoOptions, job: Job) -> str:
    """The shell command that runs one job from the experiment's record."""
    folder = experiment_dir(opts).resolve()
    return shell_command(["--from_record", str(folder), "--job", job.id]
                         + ([] if opts.progress else ["--no_progress"]))


def options_from_args(args: argparse.Namespace, train_tokens: list[str]) -> LocoOptions:
    """The experiment's options from run_loco.py's flags; ``train_tokens`` (the flags run_loco does
    not know) are train.py's, read once here."""
    from ..train.options import given_flags

    systems = [SystemSpec(system_name(s["model"], s["config"]), s["model"], s["config"]) for s in args.systems or []]
    name = args.name
    reference = args.reference
    if args.experiment_file:
        if systems:
            raise InputError("give the systems either with --model or in --experiment_file, not both")
        systems, extra = read_experiment_file(args.experiment_file)
        name = name or extra.get("name") or Path(args.experiment_file).stem
        reference = reference or extra.get("reference")
    systems = systems or [SystemSpec(DEFAULT_MODEL, DEFAULT_MODEL)]
    check_systems(systems, "run_loco.py")
    if name is not None:
        check_path_name(name, "--name" if args.name is not None else "experiment name")
    return LocoOptions(datasets_dir=args.datasets_dir, corpora=args.datasets, systems=systems,
                       **asdict(split_settings_of(args)), data_dir=args.data_dir,
                       output=args.output, train_flags=given_flags(train_tokens, "run_loco.py (train.py flags)"),
                       bootstrap=args.bootstrap, progress=not args.no_progress, experiment=name,
                       reference=reference, protocols=list(dict.fromkeys(args.protocol)),
                       diagonal=args.diagonal, folds=args.folds or None, max_jobs=args.max_jobs,
                       seeds=args.seeds, vary_split=args.vary_split)


def run_command(argv: Sequence[str]) -> None:
    args, train_tokens = build_parser().parse_known_args(argv)   # --help ends here, before the job runner loads
    from .executor import executor_from_args, run_experiment_jobs
    from .jobs import list_jobs, run_job, select_job
    from .results import collect

    if args.from_record:
        if train_tokens:
            raise InputError(f"--from_record takes the experiment's flags from its record; drop "
                             f"{' '.join(train_tokens)}")
        opts = recorded_options(args.from_record)
        opts.progress, opts.max_jobs = not args.no_progress, args.max_jobs
    else:
        opts = options_from_args(args, train_tokens)
    opts.executor = executor_from_args(args)
    if opts.executor.kind != "serial" and (args.print_jobs or args.job or args.collect):
        raise InputError(f"--executor {opts.executor.kind} runs the experiment's jobs; it goes with neither "
                         f"--print_jobs, --job nor --collect")
    if not args.collect:   # every system, before any job runs or the record is written (collecting trains none)
        check_trainable(opts, args.experiment_file or args.from_record or "run_loco.py")
    if args.force_new and (args.from_record or args.collect or args.redo):
        raise InputError("--force_new starts a new experiment; it goes with neither --from_record, --collect nor --redo")
    if args.force_new:   # with split options of its own, its own data folder too (loco.experiment.new_experiment)
        new = new_experiment(opts)
        own_splits = new.data_dir != opts.data_dir
        opts.experiment, opts.data_dir = new.experiment, new.data_dir
        print(f"new experiment: {experiment_dir(opts)}"
              + (f" (its splits in {opts.data_dir}: the split options changed)" if own_splits else ""))
    if args.redo and (args.collect or args.print_jobs or args.job):
        raise InputError("--redo runs jobs again; it goes with neither --collect, --print_jobs nor --job")
    if args.print_jobs:
        jobs = list_jobs(opts)
        write_experiment_record(opts, shell_command(argv))
        for job in jobs:
            print(job_command(opts, job))
        return
    if args.job:
        job = select_job(list_jobs(opts), args.job)
        write_experiment_record(opts, None)
        run_job(opts, job, job_command(opts, job))
        return
    if args.collect:   # collecting reads finished results as they are: the inputs are not compared
        write_experiment_record(opts, None, inputs=False)
    else:
        run_experiment_jobs(opts, shell_command(argv), lambda job: job_command(opts, job), redo=args.redo or ())
        if opts.executor.detach:   # submitted and left running: the tables come with the next run
            return
    collected = collect(opts)
    if collected.results is not None:
        from ..stats.compare import markdown_results

        # its warnings are said below, louder, with the pairwise jobs' too
        print("\n" + markdown_results(collected.results, collected.comparison, warnings=False))
    print_result_warnings(list_jobs(opts))
    if args.report:
        from ..report.document import print_report_paths, write_report

        print_report_paths(write_report(collected.folder, collected))


def result_warnings(jobs: Sequence[Job]) -> list[str]:
    """The warnings the finished jobs' performance.yaml carry (degenerate data: one test class, a class
    never trained), ``"<job> (test <corpus>): <warning>"``."""
    from .results import evaluation_warnings

    found = []
    for job in jobs:
        for corpus in job.tests:
            if job.test_problem(corpus) is None:
                found += [f"{job.id} (test {corpus}): {w}" for w in evaluation_warnings(job, corpus)]
    return found


def print_result_warnings(jobs: Sequence[Job]) -> None:
    """Degenerate data said once more below the table, so that no one reads its numbers without it."""
    warnings = result_warnings(jobs)
    if warnings:
        print(f"\nWARNING: {len(warnings)} result(s) above are not what they seem (see their performance.yaml):")
        for warning in warnings:
            print(f"WARNING: {warning}")


def run_experiment(opts: LocoOptions, argv: Sequence[str] | None = None) -> Collected:
    """Every unfinished job in turn (at most ``max_jobs``), then collect what has finished (from Python)."""
    from .executor import run_experiment_jobs
    from .results import collect

    check_trainable(opts, "run_experiment")
    run_experiment_jobs(opts, shell_command(argv) if argv is not None else None, lambda job: job_command(opts, job))
    return collect(opts)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    return run_script(program_name("run_loco.py"), lambda: run_command(argv))
