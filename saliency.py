#!/usr/bin/env python
"""Where an image model looks: ``python saliency.py <model folder> [--data_test_path CSV]``.

Per emotion, the mean Grad-CAM over the test rows drawn over their mean spectrogram (frequency and
time axes labelled), into ``<model folder>/saliency.png`` (``--paper``: 300 dpi and an SVG beside it).
"""
import sys

from specct.stages.saliency import main

if __name__ == "__main__":
    sys.exit(main())
