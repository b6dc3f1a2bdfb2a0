#!/usr/bin/env python
"""Evaluate a trained model on its held-out test corpus: ``python eval.py <output folder> [--data_test_path DIR]``."""
import sys

from specct.stages.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
