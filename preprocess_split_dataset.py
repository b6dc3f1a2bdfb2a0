#!/usr/bin/env python
"""Train / validation / test split files, speaker-independent and checked for leakage.

    python preprocess_split_dataset.py --eval_dataset EMODB --num_classes 4
    python preprocess_split_dataset.py --eval_dataset EMODB --augmentation time_aug --balanced undersampling
    python preprocess_split_dataset.py --eval_dataset EMODB --protocol kfold --folds 5   # inside EMODB
    python preprocess_split_dataset.py --eval_dataset EMODB --validation corpus          # validate on a corpus

Leave-one-corpus-out writes <data_dir>/<EVAL>/<n>_classes/<aug>/<balance>/{train_data,eval_data};
within-corpus protocols write one such folder per fold under <data_dir>/<CORPUS>/<protocol>/fold-NN/.
See docs/splits.md.

The same as ``specct split`` (src/specct/commands/split.py).
"""
import sys

from specct.commands.split import main, build_parser  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
