"""Train / validation / test split files, speaker-independent and checked for leakage.

    python preprocess_split_dataset.py --eval_dataset EMODB --num_classes 4
    python preprocess_split_dataset.py --eval_dataset EMODB --augmentation time_aug --balanced undersampling
    python preprocess_split_dataset.py --eval_dataset EMODB --protocol kfold --folds 5   # inside EMODB

Leave-one-corpus-out writes <output_dir>/<EVAL>/<n>_classes/<aug>/<balance>/{train_data,eval_data};
within-corpus protocols write one such folder per fold under <output_dir>/<CORPUS>/<protocol>/fold-NN/.
See docs/splits.md.
"""
import argparse

from specct.cli import ArgumentParser
from specct.errors import run_script
from specct.splits import BALANCE_MODES, PROTOCOLS, SplitOptions, run_split_stage


def main(argv=None):
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--eval_dataset", required=True,
                   help="held-out test corpus (loco), or the corpus to cut into folds (loso, kfold)")
    p.add_argument("--num_classes", default="4", choices=["3", "4", "all"], help="class set (default 4)")
    p.add_argument("--classes", nargs="+", default=None, metavar="EMOTION",
                   help="custom class list, e.g. happy sad (overrides --num_classes)")
    p.add_argument("--augmentation", default="no_aug", choices=["no_aug", "time_aug", "freq_aug", "time_freq_aug"],
                   help="augmented images of training speakers to add (default no_aug)")
    p.add_argument("--balanced", default="no_balanced", choices=BALANCE_MODES,
                   help="balancing of the training set (default no_balanced)")
    p.add_argument("--percent_subject_validation", type=float, default=0.25,
                   help="fraction of each training corpus's speakers held out for validation (default 0.25)")
    p.add_argument("--train_datasets", nargs="+", default=None,
                   help="training corpora (default: every imported corpus but the test one)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    p.add_argument("--datasets_dir", default="./datasets", help="imported corpora (default ./datasets)")
    p.add_argument("--output_dir", default="./data", help="where split folders go (default ./data)")
    p.add_argument("--protocol", default="loco", choices=PROTOCOLS,
                   help="loco: leave one corpus out (default); loso / kfold: speaker-independent folds in one corpus")
    p.add_argument("--folds", type=int, default=None,
                   help="number of folds (kfold; with loso, groups of speakers instead of one speaker per fold)")
    p.add_argument("--n_components", type=int, default=256,
                   help="width of the speaker PCA fitted on the training rows (default 256, capped at their number)")
    p.add_argument("--pca_file", default=None,
                   help="use this fitted PCA (.npz from preprocess_embedding.py; a bare name is looked up in "
                        "--encoder_dir) instead of fitting one on the training rows")
    p.add_argument("--allow_leaky_pca", action="store_true",
                   help="accept a --pca_file fitted on the test corpus (the paper's choice; leaks the test corpus)")
    p.add_argument("--encoder_dir", default="./encoder/models", help="where --pca_file names are looked up")
    args = p.parse_args(argv)
    return run_script("preprocess_split_dataset.py", lambda: run_split_stage(SplitOptions(**vars(args))))


if __name__ == "__main__":
    raise SystemExit(main())
