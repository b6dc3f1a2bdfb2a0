"""predict.py: the emotion of new wav files, from a saved run alone, whatever its kind.

The chain is the one training saw (:meth:`specct.systems.TrainedSystem.predict_files`): for an
image network, ``audio.load_trimmed`` (16 kHz mono, trimmed) -> the spectrogram image drawn in
memory with the checkpoint's settings -> the resemblyzer vector of the same samples -> the model
(which holds the speaker PCA) -> class probabilities; for a baseline, the same signal -> its
feature extractor -> the saved scaler -> the classifier.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Sequence

from ..core.cli import MODEL_DIR_REQUIRED, ArgumentParser, add_progress_argument
from ..core.errors import InputError, run_script
from ..data.segments import SEGMENTERS, SegmentOptions
from ..core.threads import torch_threads


def __getattr__(name: str):
    """specct.systems' names predict.py's users find here, loaded on first use (``--help`` loads no pandas)."""
    if name in ("SpeakerNormError", "checkpoint_path"):
        from .. import systems

        return getattr(systems, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")


def collect_audio_files(inputs: Iterable[str | Path]) -> list[Path]:
    """Files as given, and the audio files inside any folder (recursively, sorted)."""
    files: list[Path] = []
    for item in inputs:
        item = Path(item)
        if item.is_dir():
            files += sorted(p for p in item.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
        else:
            files.append(item)  # a missing file is reported by the predictor with its reason
    return files


def Predictor(model: str | Path, device: str = "cpu") -> systems.TrainedSystem:  # noqa: N802 (a loader, named as a class for its users)
    """A saved run (folder or model file) ready to classify wav files; refuses one that cannot
    classify single files (a speaker model trained with --speaker_norm)."""
    from .. import systems

    trained = systems.load(model, device)
    trained.check_predicts_files()
    return trained


def format_predictions(results: Sequence[Prediction], class_names: Sequence[str], fmt: str = "table") -> str:
    """The results as an aligned table, CSV or JSON."""
    if fmt == "json":
        return json.dumps([{"file": r.file, "emotion": r.emotion, "probabilities": r.probabilities or None,
                            "error": r.error} for r in results], indent=2)
    if fmt == "csv":
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["file", "emotion", *class_names, "error"])
        for r in results:
            writer.writerow([r.file, r.emotion or "", *[f"{r.probabilities[c]:.4f}" if r.probabilities else ""
                                                        for c in class_names], r.error or ""])
        return buffer.getvalue().rstrip("\n")
    if fmt != "table":
        raise InputError(f"unknown format {fmt!r}; choose table, csv or json")
    width = max([len("file")] + [len(Path(r.file).name) for r in results])
    columns = [max(len(c), 6) for c in class_names]
    lines = [f"{'file':<{width}}  {'emotion':<12}" + "".join(f"  {c:>{w}}" for c, w in zip(class_names, columns))]
    for r in results:
        name = Path(r.file).name
        if r.error:
            lines.append(f"{name:<{width}}  {'-':<12}  ({r.error})")
        else:
            lines.append(f"{name:<{width}}  {r.emotion:<12}" +
                         "".join(f"  {r.probabilities[c]:>{w}.3f}" for c, w in zip(class_names, columns)))
    return "\n".join(lines)


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="predict.py", description="Emotion of wav files from a trained model.")
    parser.add_argument("inputs", nargs="*", metavar="[MODEL_DIR] WAV",
                        help="the model folder first, unless --model_dir gives it; then wav files or folders of them")
    parser.add_argument("--model_dir", default=None,
                        help="training output folder (its model_best.pth.tar) or a checkpoint file")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table",
                        help="table (aligned columns), csv or json, on stdout")
    parser.add_argument("--batch_size", type=int, default=16, help="wav files per forward pass")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: half the cores available, which keeps the speed "
                             "when other work shares the machine)")
    parser.add_argument("--export_onnx", metavar="FILE", default=None, help="also export the model to ONNX")
    g = parser.add_argument_group("long recordings (specct.data.segments)")
    g.add_argument("--segment", choices=("none", *SEGMENTERS), default="none",
                   help="none: one emotion per file; vad: one per stretch of speech (webrtcvad); fixed: one per "
                        "window of --window s every --hop s. Segments give one row each and a summary per file")
    g.add_argument("--window", type=float, default=SegmentOptions.window, help="fixed: window length, s")
    g.add_argument("--hop", type=float, default=SegmentOptions.hop, help="fixed: window start to start, s")
    g.add_argument("--min_pause", type=float, default=SegmentOptions.min_pause,
                   help="vad: shorter pauses stay inside a segment, s")
    g.add_argument("--max_segment", type=float, default=SegmentOptions.max_seconds,
                   help="vad: longer speech is cut into pieces of this length, s")
    g.add_argument("--min_segment", type=float, default=SegmentOptions.min_seconds,
                   help="vad: shorter speech is not a segment, s")
    g.add_argument("--vad_aggressiveness", type=int, default=SegmentOptions.aggressiveness, choices=range(4),
                   help="vad: 0 keeps the most audio as speech, 3 the least")
    g.add_argument("--output", default=None, metavar="CSV",
                   help="with --segment: write the segments here and a summary per file beside it "
                        "(<name>.summary.csv; <name>.json too with --format json) as each file finishes; a "
                        "rerun skips the files already written")
    g.add_argument("--plot", default=None, metavar="DIR",
                   help="with --segment: a timeline figure per file (probabilities over time above the waveform)")
    g.add_argument("--workers", type=int, default=0,
                   help="with --segment: processes that decode, cut and prepare files while the model runs "
                        "(0: all here, each file streamed in blocks)")
    add_progress_argument(parser, "no progress bar (there is none either when stderr is not a terminal)")
    return parser


def parse_args(argv=None):
    """predict.py's flags; the model folder is ``--model_dir`` or else the first positional path."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.model_dir is None:
        if not args.inputs:
            parser.error(MODEL_DIR_REQUIRED)
        args.model_dir = args.inputs.pop(0)
    if not args.inputs and not args.export_onnx:
        parser.error("give wav files or folders (or --export_onnx FILE)")
    args.prog = parser.prog
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    outcome: list[int] = []
    run_script(args.prog, lambda: outcome.append(run(args)))
    return outcome[0]


def run(args) -> int:
    """predict.py's work: 0 when some file was classified; a path that does not exist, or files none of
    which could be classified, are an InputError (one line, exit 2)."""
    with torch_threads(args.threads):
        return _classify(args)


def _classify(args) -> int:
    import sys

    predictor = Predictor(args.model_dir, args.device)
    if args.export_onnx:
        print(f"exported {predictor.export_onnx(args.export_onnx)}", file=sys.stderr)
    if not args.inputs:
        return 0
    missing = [item for item in args.inputs if not Path(item).exists()]
    if missing:   # a path mistyped: one line, not a table row
        raise InputError(f"{missing[0]}: no such file or folder" + (f" (and {len(missing) - 1} more)"
                                                                     if len(missing) > 1 else ""))
    files = collect_audio_files(args.inputs)
    if not files:
        raise InputError("no audio files found in the given inputs")
    if getattr(args, "segment", "none") != "none":
        return _classify_segments(args, predictor, files)
    if getattr(args, "output", None) or getattr(args, "plot", None):
        raise InputError("--output and --plot go with --segment vad or fixed")
    said: list[str] = []   # the skips, printed once some file was classified (else one error line)
    results = predictor.predict_files(files, args.batch_size, progress=sys.stderr.isatty() and not getattr(args, "no_progress", False),
                                      echo=said.append)
    failed = sum(r.error is not None for r in results)
    if failed == len(results):   # nothing to show: the reason, not a table of dashes
        first = results[0]
        raise InputError(f"{first.file}: {first.error}" if len(results) == 1 else
                         f"none of the {len(results)} files could be classified ({first.file}: {first.error}; ...)")
    for line in said:
        print(line, file=sys.stderr)
    print(format_predictions(results, predictor.class_names, args.format))
    print(f"{len(results) - failed} of {len(results)} files classified"
          + (f", {failed} skipped" if failed else ""), file=sys.stderr)
    return 0


def segment_options(args) -> SegmentOptions:
    return SegmentOptions(how=args.segment, min_pause=args.min_pause, max_seconds=args.max_segment,
                          min_seconds=args.min_segment, aggressiveness=args.vad_aggressiveness, window=args.window,
                          hop=args.hop).check()


def _classify_segments(args, predictor, files) -> int:
    import sys

    from .. import systems
    from ..protocol.segment_predict import format_segments, predict_segments

    echo = lambda line: print(line, file=sys.stderr)  # noqa: E731
    rows, summaries = predict_segments(
        predictor, files, segment_options(args), args.batch_size, output=args.output, workers=args.workers,
        plot_dir=args.plot, model=args.model_dir, device=args.device, loader=systems.load,
        progress=sys.stderr.isatty() and not getattr(args, "no_progress", False), echo=echo)
    if args.output:
        from ..protocol.segment_predict import SegmentOutput

        written = SegmentOutput(args.output, predictor.class_names)
        if args.format == "json":
            echo(f"wrote {written.write_json()}")
        echo(f"segments in {written.path}, one summary per file in {written.summary_path}")
    else:
        print(format_segments(rows, summaries, predictor.class_names, args.format))
    failed = sum(bool(s["error"]) for s in summaries)
    echo(f"{len(summaries) - failed} of {len(summaries)} files classified in {len(rows)} segments"
         + (f", {failed} without a usable segment" if failed else ""))
    return 0 if failed < len(summaries) or not summaries else 1
