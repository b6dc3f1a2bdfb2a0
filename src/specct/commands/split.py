"""Train / validation / test split files, speaker-independent and checked for leakage.

    specct split --eval_dataset EMODB --num_classes 4          (or: python preprocess_split_dataset.py ...)
    specct split --eval_dataset EMODB --augmentation time_aug --balanced undersampling
    specct split --eval_dataset EMODB --protocol kfold --folds 5   # inside EMODB
    specct split --eval_dataset EMODB --validation corpus          # validate on a corpus

Leave-one-corpus-out writes <data_dir>/<EVAL>/<n>_classes/<aug>/<balance>/{train_data,eval_data};
within-corpus protocols write one such folder per fold under <data_dir>/<CORPUS>/<protocol>/fold-NN/.
See docs/splits.md.
"""
from __future__ import annotations

from ..core.cli import ArgumentParser, RawDescriptionHelpFormatter
from ..core.errors import run_script
from ..data.split_settings import add_split_arguments, split_options_from


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog="preprocess_split_dataset.py", description=__doc__,
                       formatter_class=RawDescriptionHelpFormatter)
    add_split_arguments(p)  # every split option, declared once in specct.data.split_settings
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    def split() -> None:
        from ..data.splits import run_split_stage  # pandas and the speaker PCA, once the flags are read

        run_split_stage(split_options_from(args))

    return run_script(parser.prog, split)
