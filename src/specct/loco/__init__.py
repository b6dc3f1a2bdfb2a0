"""Experiments over corpora: K systems x N held-out corpora, each an independent, resumable job.

Two protocols, one experiment folder ``output/loco/<experiment>/``:

- ``loco`` (leave-one-corpus-out): every system is trained on all other imported corpora and tested
  on the held-out one. All systems on one held-out corpus share one split (same seed, same train,
  validation and test rows): the split folder ``data/<HELD>/...`` is made once and reused.
- ``pairwise`` (one-to-one): every system is trained on one corpus (validation speakers drawn from
  it) and tested on each other corpus's whole set of rows (the loco test set of that corpus), which
  fills the off-diagonal of an N x N matrix; the diagonal is a speaker-independent split inside the
  corpus (k-fold or leave-one-speaker-out, :mod:`specct.data.splits`), its folds' predictions pooled.

The package, by job: :mod:`.experiment` (systems, options, experiment.yaml), :mod:`.split_folders`
(the shared splits), :mod:`.jobs` (list, run through :mod:`specct.systems`, resume),
:mod:`.results` (collect, tables, figures), :mod:`.cli` (run_loco.py). The layout::

    output/loco/<experiment>/
        experiment.yaml                  options, systems, command, versions
        jobs.csv                         job, protocol, system, corpus, fold, finished
        results.csv  comparison.csv  heatmap.png  results.md
        pairwise.csv  pairwise_summary.csv  pairwise_matrix_<system>.csv  pairwise_<system>.png
        jobs/loco/<system>/<HELD>/{train,test}/
        jobs/pairwise/<system>/<TRAIN>/train/ and test-<OTHER>/
        jobs/pairwise/<system>/<TRAIN>/<fold-NN>/{train,test}/
"""
from __future__ import annotations

import importlib

# each public name -> the submodule that defines it, imported on first use (PEP 562), so that
# ``specct loco --help`` parses its flags without the job runner (systems, pandas) loaded
_HOMES = {
    "cli": ("build_parser", "job_command", "main", "options_from_args", "run_command", "run_experiment"),
    "experiment": ("DEFAULT_MODEL", "EXPERIMENT_FILE", "LocoOptions", "SystemSpec", "experiment_dir",
                   "experiment_name", "load_experiment", "options_from_record", "read_experiment_file",
                   "recorded_options", "reference_system", "write_experiment_record"),
    "jobs": ("JOB_RECORD", "Job", "job_training_options", "list_jobs", "run_experiments", "run_job", "run_jobs",
             "select_job"),
    "results": ("COMPARISON_CSV", "HEATMAP", "JOBS_CSV", "PAIRWISE_CSV", "PAIRWISE_SUMMARY_CSV", "RESULTS_CSV",
                "RESULTS_MD", "SEEDS_FIGURE", "Collected", "best_validation_uar", "collect", "finished_jobs",
                "finished_runs", "held_out_predictions", "held_out_uar", "read_collected"),
    "split_folders": ("split_options",),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str):
    """A public name from its submodule, or a submodule itself (``specct.loco.jobs``), loaded when first asked."""
    if name.startswith("__"):   # never a submodule such as __main__ (it runs the command)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name in _HOME_OF:
        value = getattr(importlib.import_module(f"{__name__}.{_HOME_OF[name]}"), name)
    else:
        try:
            value = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME_OF))


__all__ = ["build_parser", "job_command", "main", "options_from_args", "run_command", "run_experiment",
           "DEFAULT_MODEL", "EXPERIMENT_FILE", "LocoOptions", "SystemSpec", "experiment_dir",
           "experiment_name", "load_experiment", "options_from_record", "read_experiment_file",
           "recorded_options", "reference_system", "write_experiment_record", "JOB_RECORD", "Job",
           "job_training_options", "list_jobs", "run_experiments", "run_job", "run_jobs", "select_job",
           "COMPARISON_CSV", "HEATMAP", "SEEDS_FIGURE", "JOBS_CSV", "PAIRWISE_CSV", "PAIRWISE_SUMMARY_CSV",
           "RESULTS_CSV", "RESULTS_MD", "Collected", "best_validation_uar", "collect", "finished_jobs",
           "finished_runs",
           "held_out_predictions", "held_out_uar", "read_collected", "split_options"]
