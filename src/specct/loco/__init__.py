"""Experiments over corpora: K systems x N held-out corpora, each an independent, resumable job.

Two protocols, one experiment folder ``output/loco/<experiment>/``:

- ``loco`` (leave-one-corpus-out): every system is trained on all other imported corpora and tested
  on the held-out one. All systems on one held-out corpus share one split (same seed, same train,
  validation and test rows): the split folder ``data/<HELD>/...`` is made once and reused.
- ``pairwise`` (one-to-one): every system is trained on one corpus (validation speakers drawn from
  it) and tested on each other corpus's whole set of rows (the loco test set of that corpus), which
  fills the off-diagonal of an N x N matrix; the diagonal is a speaker-independent split inside the
  corpus (k-fold or leave-one-speaker-out, :mod:`specct.splits`), its folds' predictions pooled.

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
from .cli import build_parser, job_command, main, options_from_args, run_command, run_experiment
from .experiment import (DEFAULT_MODEL, EXPERIMENT_FILE, LocoOptions, SystemSpec, experiment_dir, experiment_name,
                         load_experiment, options_from_record, read_experiment_file, recorded_options,
                         reference_system, write_experiment_record)
from .jobs import JOB_RECORD, Job, job_training_options, list_jobs, run_experiments, run_job, run_jobs, select_job
from .results import (COMPARISON_CSV, HEATMAP, JOBS_CSV, PAIRWISE_CSV, PAIRWISE_SUMMARY_CSV, RESULTS_CSV, RESULTS_MD,
                      SEEDS_FIGURE,
                      Collected, best_validation_uar, collect, finished_jobs, finished_runs, held_out_predictions,
                      held_out_uar, read_collected)
from .split_folders import split_options

__all__ = ["build_parser", "job_command", "main", "options_from_args", "run_command", "run_experiment",
           "DEFAULT_MODEL", "EXPERIMENT_FILE", "LocoOptions", "SystemSpec", "experiment_dir",
           "experiment_name", "load_experiment", "options_from_record", "read_experiment_file",
           "recorded_options", "reference_system", "write_experiment_record", "JOB_RECORD", "Job",
           "job_training_options", "list_jobs", "run_experiments", "run_job", "run_jobs", "select_job",
           "COMPARISON_CSV", "HEATMAP", "SEEDS_FIGURE", "JOBS_CSV", "PAIRWISE_CSV", "PAIRWISE_SUMMARY_CSV",
           "RESULTS_CSV", "RESULTS_MD", "Collected", "best_validation_uar", "collect", "finished_jobs",
           "finished_runs",
           "held_out_predictions", "held_out_uar", "read_collected", "split_options"]
