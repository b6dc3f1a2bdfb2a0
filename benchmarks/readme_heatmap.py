"""The README's heatmap (images/loco_heatmap.png) from the finished study its table comes from: UAR per
system and held-out corpus, with the README's row names.

    python benchmarks/readme_heatmap.py output/loco-main/loco/loco-main
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from specct.core.errors import InputError, run_script

# benchmarks/studies/main.yml's systems the README draws, in its table's order, with its names for them
README_ROWS = {"speaker_cct": "speaker CCT", "plain_cct": "plain CCT", "egemaps_svm": "eGeMAPS + SVM",
               "fusion_no_refit": "speaker CCT + SVM"}


def readme_rows(results_csv: Path):
    """results.csv's rows of the systems the README draws, named as the README names them."""
    import pandas as pd

    if not results_csv.is_file():
        raise InputError(f"{results_csv}: no results.csv (is the study finished? run it again to collect)")
    results = pd.read_csv(results_csv)
    missing = [s for s in README_ROWS if s not in set(results["system"])]
    if missing:
        raise InputError(f"{results_csv}: no rows for {', '.join(missing)} (the README draws "
                         f"benchmarks/studies/main.yml)")
    return results[results["system"].isin(README_ROWS)].assign(system=lambda r: r["system"].map(README_ROWS))


def draw(experiment: Path, out: Path) -> None:
    from specct.loco.results import plot_results_heatmap
    from specct.stats.compare import MEAN_ROW

    results = readme_rows(experiment / "results.csv")
    corpora = [c for c in dict.fromkeys(results["held_out"]) if c != MEAN_ROW]
    plot_results_heatmap(results, list(README_ROWS.values()), corpora, out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="readme_heatmap.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment", type=Path, help="the finished experiment folder of benchmarks/studies/main.yml")
    parser.add_argument("--out", type=Path, default=Path("images/loco_heatmap.png"))
    args = parser.parse_args(argv)
    return run_script("readme_heatmap.py", lambda: draw(args.experiment, args.out))


if __name__ == "__main__":
    sys.exit(main())
