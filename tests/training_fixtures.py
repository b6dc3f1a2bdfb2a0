"""Session fixtures of the training, evaluation, prediction and LOCO tests (imported by conftest.py).

One small pipeline is built once per session: demo corpora (few speakers and sentences, the four
core emotions) -> plain spectrogram images at 32 px -> speaker embeddings -> a leave-one-corpus-out
split, and one short training run on it. Small images keep the CPU-sized models fast: the 7x2
tokenizer turns 32 px into a 2x2 token grid.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

TINY_MODEL = "speaker_vgg_cct_7_7x2_112"
TINY_SIZE = 32
HELD_OUT = "DEMOC"
# Flags of every short training run in the tests (train.py names, as in a config file).
TINY_FLAGS = dict(input_size=[3, TINY_SIZE, TINY_SIZE], batch_size=8, lr=1e-3, warmup_epochs=0,
                  no_progress=True, workers=0)


@dataclass(frozen=True)
class DemoSplit:
    root: Path
    datasets: Path
    split_dir: Path

    @property
    def train_dir(self) -> Path:
        return self.split_dir / "train_data"

    @property
    def test_csv(self) -> Path:
        return self.split_dir / "eval_data" / "test.csv"


def tiny_args(train_dir, out_dir, **overrides):
    """A namespace of train.py flags for a short, seeded run."""
    from specct.train import default_args

    return default_args(train_dir, **{"model": TINY_MODEL, "experiment": str(out_dir), "epochs": 2,
                                      "max_steps": 3, **TINY_FLAGS, **overrides})


@pytest.fixture(scope="session")
def demo_split(tmp_path_factory) -> DemoSplit:
    """demo corpora -> 32 px images -> speaker vectors -> split testing on DEMOC."""
    from specct.data.demo import CORE_EMOTIONS, generate_demo
    from specct.data.images import preprocess_corpora
    from specct.data.speaker import embed_corpora
    from specct.data.splits import SplitOptions, run_split_stage

    root = tmp_path_factory.mktemp("training_pipeline")
    datasets = root / "datasets"
    generate_demo(datasets, seed=0, speakers=4, sentences=2, emotions=CORE_EMOTIONS, progress=False)
    preprocess_corpora(datasets, augmentations=[], size=(TINY_SIZE, TINY_SIZE), workers=1, progress=False)
    embed_corpora(datasets, progress=False)
    split = run_split_stage(SplitOptions(eval_dataset=HELD_OUT, num_classes="4", seed=0,
                                         datasets_dir=str(datasets), output_dir=str(root / "data")))[0]
    return DemoSplit(root, datasets, split.out_dir)


@pytest.fixture(scope="session")
def trained_run(demo_split) -> Path:
    """The output folder of a two-epoch run of a CPU-sized speaker model on the demo split."""
    from specct.train import train

    out_dir = demo_split.root / "output" / "train" / "tiny"
    train(tiny_args(demo_split.train_dir, out_dir))
    return out_dir
