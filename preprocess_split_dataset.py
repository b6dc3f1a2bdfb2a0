"""Train / validation / test split files, speaker-independent and checked for leakage.

    python preprocess_split_dataset.py --eval_dataset EMODB --num_classes 4
    python preprocess_split_dataset.py --eval_dataset EMODB --augmentation time_aug --balanced undersampling
    python preprocess_split_dataset.py --eval_dataset EMODB --protocol kfold --folds 5   # inside EMODB
    python preprocess_split_dataset.py --eval_dataset EMODB --validation corpus          # validate on a corpus

Leave-one-corpus-out writes <output_dir>/<EVAL>/<n>_classes/<aug>/<balance>/{train_data,eval_data};
within-corpus protocols write one such folder per fold under <output_dir>/<CORPUS>/<protocol>/fold-NN/.
See docs/splits.md.
"""
import argparse

from specct.cli import ArgumentParser
from specct.errors import run_script
from specct.splits import add_split_arguments, run_split_stage, split_options_from


def main(argv=None):
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_split_arguments(p)  # every split option, declared once in specct.splits
    args = p.parse_args(argv)
    return run_script("preprocess_split_dataset.py", lambda: run_split_stage(split_options_from(args)))


if __name__ == "__main__":
    raise SystemExit(main())
