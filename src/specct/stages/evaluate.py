"""eval.py: a trained system on its held-out test corpus.

``evaluate(model_dir)`` loads the run through :mod:`specct.systems` (whatever its kind), scores the
test rows of the run's own split (or ``--data_test_path``) and writes, with
:mod:`specct.protocol.evaluation`, ``performance.yaml``, ``conf_matrix.png`` and ``predictions.csv`` to
``output/test/...``.
"""
from __future__ import annotations

from pathlib import Path

from ..core.checkpoint import BEST_NAME
from ..core.cli import ArgumentParser, add_model_dir_arguments, add_progress_argument, model_dir_of
from ..core.errors import run_script
from ..core.paths import eval_output_dir as default_output_dir  # output/train/<run> -> output/test/<run>

# specct.protocol.evaluation's names that eval.py's users import from here, loaded on first use: `eval --help`
# loads no systems, pandas or torch
_FROM_EVALUATION = ("CONFUSION_NAME", "PERFORMANCE_NAME", "PREDICTIONS_NAME", "EvalResult")


def __getattr__(name: str):
    if name in _FROM_EVALUATION:
        from ..protocol import evaluation

        return getattr(evaluation, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def evaluate(model_dir: str | Path, data_test_path: str | Path | None = None, output: str | Path | None = None,
             checkpoint: str = BEST_NAME, batch_size: int = 64, workers: int = 0, device: str = "auto",
             bootstrap: int = 1000, seed: int = 0, progress: bool = True, threads: int | None = None) -> EvalResult:
    """Test a trained system on its held-out corpus; ``threads``: torch CPU threads (None: half the cores)."""
    from .. import systems
    from ..protocol.evaluation import classification_report, read_test_rows, test_csv_for, write_evaluation

    model_dir = Path(model_dir)
    trained = systems.load(model_dir, device, checkpoint)
    test_csv = test_csv_for(model_dir, data_test_path)
    frame = read_test_rows(test_csv, trained.class_names)
    scores = trained.score(frame, systems.ScoreSettings(batch_size, workers, threads, progress, str(test_csv)))
    performance = classification_report(frame["target"].to_numpy(), scores.predicted, trained.class_names,
                                        bootstrap=bootstrap, seed=seed)
    identity = trained.record()
    performance.update({key: identity.pop(key) for key in ("model", "checkpoint", "checkpoint_epoch")})
    performance.update({"test_csv": str(test_csv.resolve()), "test_corpora": sorted(set(frame["corpus"])),
                        **identity, **scores.record})
    out_dir = Path(output) if output else default_output_dir(model_dir)
    return write_evaluation(out_dir, frame, trained.class_names, scores.predicted, scores.probabilities,
                            performance, progress, scores.note)


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="eval.py", description="Evaluate a trained model on its test corpus.")
    add_model_dir_arguments(parser, "training output folder (holds args.yaml and the saved model)")
    parser.add_argument("--data_test_path", default=None,
                        help="test CSV, eval_data folder or split folder; default: the run's own split")
    parser.add_argument("--output", default=None, help="results folder; default output/test/<run>")
    parser.add_argument("--checkpoint", default=BEST_NAME, help="checkpoint file name inside the model folder")
    parser.add_argument("--batch_size", "-b", type=int, default=64, help="test images per forward pass")
    parser.add_argument("--workers", "-j", type=int, default=0, help="data loading processes")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: half the cores available, which keeps the speed "
                             "when other work shares the machine)")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the 95%% CIs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    add_progress_argument(parser)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    model_dir = model_dir_of(args, parser)
    return run_script(parser.prog, lambda: evaluate(model_dir, args.data_test_path, args.output, args.checkpoint,
                                                    args.batch_size, args.workers, args.device, args.bootstrap,
                                                    args.seed, progress=not args.no_progress,
                                                    threads=args.threads))
