"""Several training seeds in one experiment: a job per (system, held-out corpus, seed) on one split,
systems without randomness once, the split redrawn per seed only when asked, the tables over seeds."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from specct import loco, systems
from specct.core.errors import InputError
from specct.systems import Scores, System, TrainedSystem

SAVED = "guess.json"


class TrainedGuess(TrainedSystem):
    def __init__(self, path: Path):
        self.path = path / SAVED if path.is_dir() else path
        saved = json.loads(self.path.read_text())
        self.class_names, self.seed = saved["class_names"], saved["seed"]

    def record(self) -> dict:
        return {"model": "guess", "checkpoint": str(self.path), "checkpoint_epoch": 0, "seed": self.seed}

    def _guess(self, rows: int):
        predicted = np.random.default_rng(self.seed).integers(len(self.class_names), size=rows)
        return np.eye(len(self.class_names))[predicted], predicted

    def score(self, frame, settings) -> Scores:
        return Scores(*self._guess(len(frame)))

    def inputs_of_signal(self, signal):
        return len(signal)

    def classify(self, inputs, echo=print):
        return self._guess(len(inputs))


class GuessSystem(System):
    """A uniform random guess drawn from the training seed: what another seed changes, and nothing else."""
    kind = "guess"
    saved_name = SAVED

    def handles(self, model_name):
        return model_name == "guess"

    def run_name(self, args):
        return "guess"

    def fit(self, args, on_epoch_end=None):
        from specct.data import split_rows as data
        from specct.protocol import runs

        train_dir = runs.resolve_train_dir(args.data_dir)
        out_dir = systems.output_dir(args)
        out_dir.mkdir(parents=True, exist_ok=True)
        runs.write_args(out_dir, args, train_dir)
        (out_dir / SAVED).write_text(json.dumps({"class_names": list(data.read_class_names(train_dir)),
                                                 "seed": int(args.seed)}))
        return out_dir

    def is_trained(self, out_dir, args):
        return (Path(out_dir) / SAVED).is_file()

    def load(self, path, device="cpu", checkpoint=None):
        return TrainedGuess(Path(path))


@pytest.fixture
def guess_kind():
    kind = systems.register_system(GuessSystem())
    yield kind
    systems.unregister_system(kind)


def options(demo_split, tmp_path, **changes) -> loco.LocoOptions:
    values = dict(datasets_dir=str(demo_split.datasets), corpora=["DEMOA", "DEMOB"],
                  systems=[loco.SystemSpec("guess", "guess"), loco.SystemSpec("egemaps_svm", "egemaps_svm")],
                  data_dir=str(tmp_path / "data"), output=str(tmp_path / "output"), bootstrap=50, progress=False,
                  experiment="seeds", seeds=[0, 1, 2])
    values.update(changes)
    return loco.LocoOptions(**values)


def test_one_job_per_seed_for_a_seeded_system_and_one_for_a_deterministic_baseline(guess_kind, demo_split, tmp_path):
    ids = [job.id for job in loco.list_jobs(options(demo_split, tmp_path))]
    assert ids == ["loco/guess/DEMOA/seed-0", "loco/guess/DEMOA/seed-1", "loco/guess/DEMOA/seed-2",
                   "loco/egemaps_svm/DEMOA/seed-0",
                   "loco/guess/DEMOB/seed-0", "loco/guess/DEMOB/seed-1", "loco/guess/DEMOB/seed-2",
                   "loco/egemaps_svm/DEMOB/seed-0"]
    # one seed keeps the layout of every experiment before seeds
    single = [job.id for job in loco.list_jobs(options(demo_split, tmp_path, seeds=[4]))]
    assert single == ["loco/guess/DEMOA", "loco/egemaps_svm/DEMOA", "loco/guess/DEMOB", "loco/egemaps_svm/DEMOB"]
    with pytest.raises(InputError, match="names a seed twice"):
        loco.list_jobs(options(demo_split, tmp_path, seeds=[1, 1]))


@pytest.mark.slow
def test_the_seeds_train_on_one_split_and_the_tables_hold_their_spread(guess_kind, demo_split, tmp_path, capsys):
    from specct.baselines.features import extract_corpora

    extract_corpora(demo_split.datasets, datasets=["DEMOA", "DEMOB", "DEMOC"], features="egemaps", progress=False)
    opts = options(demo_split, tmp_path)
    loco.run_jobs(opts)
    assert "egemaps_svm: no random choice in its training, so it runs once (seed 0)" in capsys.readouterr().out
    jobs = [job for job in loco.list_jobs(opts) if job.system.name == "guess" and job.corpus == "DEMOA"]
    records = [yaml.safe_load((job.folder / loco.JOB_RECORD).read_text()) for job in jobs]
    assert len({record["train_data"] for record in records}) == 1        # the same split for every seed
    assert [yaml.safe_load((job.train_dir / "args.yaml").read_text())["seed"] for job in jobs] == [0, 1, 2]
    predictions = [pd.read_csv(job.test_dir("DEMOA") / "predictions.csv")["prediction"] for job in jobs]
    assert not predictions[0].equals(predictions[1])                   # the seeds did change something

    collected = loco.collect(opts)
    table = pd.read_csv(collected.folder / loco.JOBS_CSV)
    assert sorted(table.loc[table["system"] == "guess", "seed"].unique()) == [0, 1, 2]
    results = collected.results.set_index(["system", "held_out"])
    assert results.loc[("guess", "DEMOA"), "seeds"] == 3 and results.loc[("egemaps_svm", "DEMOA"), "seeds"] == 1
    per_seed = [float(v) for v in str(results.loc[("guess", "DEMOA"), "uar_per_seed"]).split(";")]
    assert len(per_seed) == 3 and results.loc[("guess", "DEMOA"), "uar"] == pytest.approx(np.mean(per_seed), abs=2e-3)
    assert len(collected.comparison) == 3 and (collected.comparison["seeds"] == 3).all()
    assert (collected.folder / loco.SEEDS_FIGURE).is_file()                # the spread, drawn


@pytest.mark.slow
def test_vary_split_draws_a_split_per_seed(guess_kind, demo_split, tmp_path):
    opts = options(demo_split, tmp_path, systems=[loco.SystemSpec("guess", "guess")], seeds=[0, 1],
                   vary_split=True, validation="speakers")
    loco.run_jobs(opts)
    splits = sorted((tmp_path / "data").glob("seed-*/DEMOA/*/*/*/split_options.json"))
    assert [p.relative_to(tmp_path / "data").parts[0] for p in splits] == ["seed-0", "seed-1"]
    drawn = [json.loads(p.read_text()) for p in splits]
    assert [d["seed"] for d in drawn] == [0, 1]
    assert drawn[0]["validation_speakers"] != drawn[1]["validation_speakers"]
