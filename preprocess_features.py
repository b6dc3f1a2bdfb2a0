#!/usr/bin/env python
"""Utterance features of the baselines, cached per corpus in datasets/<C>/<C>_features/<set>.npz.

    python preprocess_features.py --features egemaps                     # openSMILE eGeMAPSv02 (88 values)
    python preprocess_features.py --features compare --datasets EMODB    # openSMILE ComParE_2016 (6373 values)
    python preprocess_features.py --features ssl:facebook/wav2vec2-base --layer 8
    python preprocess_features.py --features ssl:/models/wavlm-base-plus --layer all   # offline: a local directory
    python preprocess_features.py --features resemblyzer                  # the speaker vectors (<C>_speaker/embeddings.npz)

Resumes where it stopped; bad audio is listed with a reason in <C>_features/skipped_<set>.csv.
See docs/baselines.md.

The same as ``specct features`` (src/specct/commands/features.py).
"""
import sys

from specct.commands.features import main, build_parser  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
