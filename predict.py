#!/usr/bin/env python
"""Emotion of wav files: ``python predict.py WAV [WAV ...|DIR] --model_dir <output folder> [--format table|csv|json]``."""
import sys

from specct.stages.predict import main

if __name__ == "__main__":
    sys.exit(main())
