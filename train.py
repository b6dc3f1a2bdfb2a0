#!/usr/bin/env python
"""Train an emotion classifier on a split: ``python train.py data/<EVAL>/.../train_data --model NAME -c CONFIG``.

Works under ``torchrun --nproc_per_node N train.py ...`` (DDP; gloo on CPU, nccl on GPU).
"""
import sys

from specct.train import main

if __name__ == "__main__":
    sys.exit(main())
