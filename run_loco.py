#!/usr/bin/env python
"""Leave-one-corpus-out: ``python run_loco.py --datasets_dir datasets --model NAME -c CONFIG [train.py flags]``.

Splits, trains and evaluates with each corpus held out in turn, then writes a summary table (CSV and
Markdown) and a heatmap; finished folds are skipped on a re-run.
"""
import sys

from specct.loco import main

if __name__ == "__main__":
    sys.exit(main())
