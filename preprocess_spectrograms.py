#!/usr/bin/env python
"""Draw the plain and augmented mel-spectrogram images of every imported corpus.

    python preprocess_spectrograms.py --datasets_dir ./datasets --augmentations time_freq_aug

Writes datasets/<C>/<C>_img/<stem>.png and datasets/<C>/<C>_augmented/<stem>_<aug>.png;
existing images are kept unless --overwrite, so a stopped run resumes.

The same as ``specct spectrograms`` (src/specct/commands/spectrograms.py).
"""
import sys

from specct.commands.spectrograms import main, parse_args, build_parser  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
