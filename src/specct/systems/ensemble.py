"""Late fusion of trained systems (``--model ensemble --members A B ...``): the members' class
probabilities averaged with weights chosen on the split's validation rows.

A member is a run folder, or, inside a leave-one-corpus-out experiment, the name of another system
of the same experiment: its run of the same held-out corpus (fold, seed) is used, so an ensemble is
a system in the experiment file like any other and gets intervals, paired tests and the report. The
ensemble trains nothing itself; list it after its members (it waits for a member that another
process is still training).

Weights (``--member_weights``, :mod:`specct.systems.member_weights`): by default every point of a grid
over the simplex (steps of ``--ensemble_step``) is scored by the validation UAR of the fused
probabilities; the best wins, ties going to the most even weights. No validation rows: equal weights,
said. A member refitted on training + validation rows (the baselines' default) has seen the
validation rows, so its weight is chosen on rows it trained on: recorded in ensemble.yaml and
performance.yaml as ``weights_seen_by``. ``--member_weights validation`` refuses both instead, and
``equal`` averages without reading any row.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import yaml

from ..core.errors import InputError
from ..core.fileio import write_text_atomic
from .base import Scores, ScoreSettings, System, TrainedSystem
from .member_weights import choose_weights, explicit_choice, fuse, weight_grid  # noqa: F401  (ensemble's names)
from ..train.option_models import EnsembleOptions

MODEL = "ensemble"
RECORD = "ensemble.yaml"
WAIT_SECONDS = 5.0


def member_folder(member: str, out_dir: Path) -> Path:
    """A member given as a folder, or as a system of the experiment whose job folder ``out_dir`` is in
    (``.../jobs/<protocol>/<ensemble>/<corpus>[/<fold or seed>]/train``): the same place of its own jobs."""
    path = Path(member)
    if path.is_dir():
        return path
    parts = out_dir.resolve().parts
    if "jobs" not in parts or len(parts) < parts.index("jobs") + 4:
        raise InputError(f"--members {member}: no such run folder (and {out_dir} is not an experiment's job)")
    at = parts.index("jobs") + 2
    sibling = Path(*parts[:at], member, *parts[at + 1:])
    if sibling.parent.exists() or not sibling.parent.name.startswith("seed-"):
        return sibling
    seeds = sorted(sibling.parent.parent.glob("seed-*"))   # a member without randomness ran for one seed only
    return (seeds[0] / sibling.name) if len(seeds) == 1 else sibling


def wait_until_trained(folder: Path) -> None:
    """A member another process is training (its job folder locked): wait until it lets go."""
    from ..core.job_lock import locked_by_other

    while locked_by_other(folder.parent):
        time.sleep(WAIT_SECONDS)


def load_members(folders: list[Path], device: str = "cpu") -> list[TrainedSystem]:
    from . import SYSTEMS, load

    members = []
    for folder in folders:
        if not any(kind.recognises(folder) for kind in SYSTEMS):
            raise InputError(f"{folder}: an ensemble member that is not trained (train it first; in an "
                             f"experiment, list the ensemble after its members)")
        members.append(load(folder, device))
    names = members[0].class_names
    for folder, member in zip(folders, members):
        if list(member.class_names) != list(names):
            raise InputError(f"{folder}: classes {', '.join(member.class_names)}, but the first member has "
                             f"{', '.join(names)}")
    return members


class TrainedEnsemble(TrainedSystem):
    def __init__(self, path: str | Path, device: str = "cpu"):
        from ..core.records import read_record

        self.path = Path(path)
        self.state = read_record(self.path / RECORD, "ensemble record")
        self.folders = [Path(m["folder"]) for m in self.state["members"]]
        self.weights = np.array([float(m["weight"]) for m in self.state["members"]])
        self.members = load_members(self.folders, device)
        self.class_names = list(self.members[0].class_names)

    def record(self) -> dict:
        explicit = "member_weights" in self.state     # --member_weights given: its mode and validation UAR too
        return {"model": MODEL, "checkpoint": str((self.path / RECORD).resolve()), "checkpoint_epoch": 0,
                "members": [{**({"name": s.get("name")} if explicit else {}),
                             "folder": str(f), "weight": float(w), "model": m.record().get("model")}
                            for f, w, m, s in zip(self.folders, self.weights, self.members, self.state["members"])],
                "weights_chosen_on": self.state.get("weights_chosen_on"),
                **({"weights_seen_by": self.state["weights_seen_by"]} if self.state.get("weights_seen_by") else {}),
                **({"member_weights": self.state["member_weights"],
                    "weights_validation_uar": self.state.get("validation_uar")} if explicit else {})}

    def score(self, frame, settings: ScoreSettings) -> Scores:
        scores = [m.score(frame, settings) for m in self.members]
        probabilities = fuse([s.probabilities for s in scores], self.weights)
        record = {}
        for folder, s in zip(self.folders, scores):     # a member's transductive notes stay visible
            record.update({f"{k} ({folder.parent.parent.name})": v for k, v in s.record.items()})
        return Scores(probabilities, probabilities.argmax(axis=1), record)

    def check_predicts_files(self) -> None:
        for member in self.members:
            member.check_predicts_files()

    def predict_batch_size(self, batch_size: int) -> int | None:
        sizes = [m.predict_batch_size(batch_size) for m in self.members]
        return None if None in sizes else min(sizes)

    def inputs_of_signal(self, signal: np.ndarray):
        return [m.inputs_of_signal(signal) for m in self.members]

    def inputs_of_signals(self, signals) -> list:
        per_member = [m.inputs_of_signals(signals) for m in self.members]
        return [list(one) for one in zip(*per_member)]

    def classify(self, inputs: list, echo=print) -> tuple[np.ndarray, np.ndarray]:
        parts = [m.classify([one[i] for one in inputs], echo)[0] for i, m in enumerate(self.members)]
        probabilities = fuse(parts, self.weights)
        return probabilities, probabilities.argmax(axis=1)


class EnsembleSystem(System):
    kind = "ensemble"
    options = EnsembleOptions   # the train.py flags its training reads
    saved_name = RECORD

    def handles(self, model_name: str) -> bool:
        return str(model_name) == MODEL

    def model_names(self) -> list[str]:
        return [MODEL]

    def uses_other_systems(self, model_name: str) -> bool:
        return True

    def run_name(self, args: argparse.Namespace) -> str:
        return "ensemble-" + "+".join(Path(m).name for m in (args.members or []))

    def is_trained(self, out_dir: Path, args: argparse.Namespace) -> bool:
        return (Path(out_dir) / RECORD).is_file()

    def load(self, path, device: str = "cpu", checkpoint: str | None = None) -> TrainedEnsemble:
        path = Path(path)
        return TrainedEnsemble(path.parent if path.is_file() else path, device)

    def fit(self, args: argparse.Namespace, on_epoch_end=None) -> Path:
        from ..data import split_rows as split_data
        from ..protocol import runs
        from . import output_dir

        if not args.members or len(args.members) < 1:
            raise InputError("--model ensemble needs --members (run folders, or systems of the experiment)")
        out_dir = output_dir(args)
        train_dir = runs.resolve_train_dir(args.data_dir)
        folders = [member_folder(m, out_dir) for m in args.members]
        for folder in folders:
            wait_until_trained(folder)
        members = load_members(folders, args.device)
        class_names = split_data.read_class_names(train_dir)
        if list(members[0].class_names) != list(class_names):
            raise InputError(f"{folders[0]}: classes {', '.join(members[0].class_names)}, but the split "
                             f"{train_dir} has {', '.join(class_names)}")
        val_csv = train_dir / "validation.csv"
        frame = split_data.read_split(val_csv, class_names)
        settings = ScoreSettings(progress=not args.no_progress, source=str(val_csv))
        mode = getattr(args, "member_weights", None) or "auto"
        if mode != "auto":
            weights, record = explicit_choice(mode, list(args.members), folders, members, frame, val_csv, settings,
                                              args.ensemble_step, args.device)
            return self._write(args, out_dir, train_dir, weights, record)
        member_uars, seen_by = [], []
        if len(frame):
            from ..stats.metrics import uar

            targets = frame["target"].to_numpy()
            probabilities = [m.score(frame, settings).probabilities for m in members]
            member_uars = [uar(targets, p.argmax(axis=1)) for p in probabilities]
            weights, fused_uar = choose_weights(probabilities, targets, args.ensemble_step)
            chosen_on = f"{len(frame)} validation rows ({val_csv})"
            seen_by = [str(f) for f, m in zip(folders, members) if m.record().get("refit")]
        else:
            weights, fused_uar = np.full(len(members), 1.0 / len(members)), None
            chosen_on = "none: the split has no validation rows, equal weights"
        record = {"members": [{"name": name, "folder": str(f.resolve()), "weight": round(float(w), 6),
                               **({"validation_uar": round(float(u), 6)} if member_uars else {})}
                              for name, f, w, u in zip(args.members, folders, weights,
                                                       member_uars or [None] * len(folders))],
                  "weights_chosen_on": chosen_on, "step": args.ensemble_step,
                  "validation_uar": None if fused_uar is None else round(fused_uar, 6),
                  **({"weights_seen_by": seen_by} if seen_by else {})}
        return self._write(args, out_dir, train_dir, weights, record, fused_uar)

    @staticmethod
    def _write(args, out_dir: Path, train_dir: Path, weights, record: dict, fused_uar=None) -> Path:
        from ..protocol import runs

        out_dir.mkdir(parents=True, exist_ok=True)
        runs.write_args(out_dir, args, train_dir)
        write_text_atomic(out_dir / RECORD, yaml.safe_dump(record, sort_keys=False))   # written last: finished
        fused_uar = record["validation_uar"] if fused_uar is None else fused_uar
        print(f"ensemble of {', '.join(args.members)}: weights {', '.join(f'{w:.2f}' for w in weights)} "
              f"({record['weights_chosen_on']}{'' if fused_uar is None else f', validation UAR {fused_uar:.4f}'})")
        return out_dir
