#!/usr/bin/env python
"""One self-contained report of an experiment: ``python report.py output/loco/<experiment>``.

Gathers the finished jobs of a run_loco.py experiment and writes report.html (figures embedded,
opens from a file with no network) and report.md (the same tables, for papers) into its folder.
"""
import sys

from specct.commands.report import main

if __name__ == "__main__":
    sys.exit(main())
