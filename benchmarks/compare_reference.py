"""Each system of a finished experiment against another reference than the experiment's own, on the
same test rows: comparison.csv's paired bootstrap (two-level with several training seeds), nothing
retrained. A study compares with one reference; a paper often needs a second (the new method against
the strongest baseline as well as against the published one).

    python benchmarks/compare_reference.py output/loco-whisper-fusion/loco/loco-whisper-fusion --reference egemaps_svm

prints the table as Markdown and, with ``--out FILE.csv``, writes it in comparison.csv's columns. With
the experiment's own reference it gives its comparison.csv, row for row.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from specct.core.errors import InputError, run_script


def comparison(experiment: Path, reference: str):
    from specct.loco.experiment import recorded_options
    from specct.loco.jobs import held_out_corpora
    from specct.loco.results import choose_swept_runs, finished_runs, loco_predictions
    from specct.stats.compare import comparison_table

    opts = recorded_options(experiment)
    systems = [s.name for s in opts.systems]
    if reference not in systems:
        raise InputError(f"{experiment}: no system {reference!r} (systems: {', '.join(systems)})")
    runs, _ = choose_swept_runs(opts, finished_runs(opts))
    predictions = loco_predictions([job for jobs in runs.values() for job in jobs])
    return comparison_table(predictions, systems, held_out_corpora(opts), reference, opts.bootstrap, opts.seed)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="compare_reference.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment", type=Path, help="an experiment folder (output/<study>/loco/<name>)")
    parser.add_argument("--reference", required=True, help="the system every other is compared with")
    parser.add_argument("--out", type=Path, default=None, help="also write the table here (CSV)")
    args = parser.parse_args(argv)

    def run():
        table = comparison(args.experiment, args.reference)
        if args.out:
            table.to_csv(args.out, index=False)
        print(table.to_string(index=False))
    return run_script("compare_reference.py", run)


if __name__ == "__main__":
    sys.exit(main())
