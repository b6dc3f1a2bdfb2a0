#!/usr/bin/env python
"""Speaker embeddings of every imported wav (resemblyzer), and optionally the PCA fitted on them.

    python preprocess_embedding.py                           # embed every corpus (resumes)
    python preprocess_embedding.py --eval_dataset EMODB      # also fit a PCA on every corpus but EMODB
    python preprocess_embedding.py --save_2D_embed_compare   # also draw images/speakers_2d_<CORPUS>.png

Without --eval_dataset no PCA is fitted here: preprocess_split_dataset.py fits one per split on its
training speakers only.

The same as ``specct embed`` (src/specct/commands/embed.py).
"""
import sys

from specct.commands.embed import main, build_parser  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
