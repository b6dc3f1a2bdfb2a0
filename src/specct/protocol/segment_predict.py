"""Emotion over time: every segment of every file classified by any trained system, with a summary
per file, written as it goes so that a rerun skips the files already done.

The chain per segment is the one training saw: the segment's samples trimmed and checked as a whole
file is (:func:`specct.audio.loading.load_trimmed`), then the system's own inputs (spectrogram image and
speaker vector, or features) through :meth:`TrainedSystem.inputs_of_signals`, a group of segments
at a time (the speaker encoder is several times faster over many segments' windows at once), and
:meth:`TrainedSystem.classify`. With ``workers`` > 0, worker processes (each with its own copy of
the system) decode, cut and prepare the files while this process runs the model on batches.
"""
from __future__ import annotations

import csv
import json
import multiprocessing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence


from ..audio.loading import DEFAULT_SR, MIN_SECONDS, AudioError, check_signal, trim_silence
from ..core.fileio import write_text_atomic
from ..data.segments import Envelope, Segment, SegmentOptions, segment_stream

SEGMENT_COLUMNS = ("file", "start", "end", "emotion")
SUMMARY_COLUMNS = ("file", "segments", "seconds", "emotion", "error")


@dataclass
class SegmentPrediction:
    file: str
    start: float
    end: float
    emotion: str | None
    probabilities: dict[str, float] | None
    note: str = ""              # why a segment has no emotion (silent after trimming, too short)


@dataclass
class PreparedFile:
    """One file's segments, each ``(segment, inputs, note)`` (inputs None and a note when left out), in
    time order: a generator while streaming here, a list when a worker process made them."""
    file: str
    items: Iterator | list
    envelope: Envelope | None = None
    error: str | None = None


def segment_items(trained, path, options: SegmentOptions, envelope: Envelope | None) -> Iterator[tuple]:
    """``(segment, inputs or None, note)`` in time order; the inputs of a group of usable segments at a
    time (``trained.group_full``), so memory holds at most that group beside the block being read."""
    held: list[tuple[Segment, object, str]] = []       # signals until their group's inputs are made

    def made() -> list[tuple]:
        usable = [i for i, (_, signal, _) in enumerate(held) if signal is not None]
        inputs = trained.inputs_of_signals([held[i][1] for i in usable]) if usable else []
        by_index = dict(zip(usable, inputs))
        out = [(segment, by_index.get(i), note) for i, (segment, _, note) in enumerate(held)]
        held.clear()
        return out

    for segment, samples in segment_stream(path, options, envelope=envelope):
        try:
            signal = trim_silence(samples)
            check_signal(signal, DEFAULT_SR, MIN_SECONDS)
            held.append((segment, signal, ""))
        except AudioError as exc:
            held.append((segment, None, str(exc)))
        if trained.group_full([signal for _, signal, _ in held if signal is not None]):
            yield from made()
    yield from made()


def classify_file(trained, prepared: PreparedFile, batch_size: int) -> list[SegmentPrediction]:
    """The file's segment predictions in time order, classified ``batch_size`` segments at a time as
    they arrive (a baseline takes a file's segments together); audio that fails part way keeps the
    segments before it and sets ``prepared.error``."""
    rows: list[SegmentPrediction] = []
    pending: list[tuple[Segment, object]] = []
    at_once = trained.predict_batch_size(batch_size)

    def flush():
        if pending:
            probabilities, predicted = trained.classify([inputs for _, inputs in pending], echo=None)
            for (segment, _), row, index in zip(pending, probabilities, predicted):
                rows.append(SegmentPrediction(prepared.file, segment.start, segment.end,
                                              trained.class_names[int(index)],
                                              {c: float(v) for c, v in zip(trained.class_names, row)}))
            pending.clear()

    try:
        for segment, inputs, note in prepared.items:
            if inputs is None:
                rows.append(SegmentPrediction(prepared.file, segment.start, segment.end, None, None, note))
                continue
            pending.append((segment, inputs))
            if at_once is not None and len(pending) >= at_once:
                flush()
    except AudioError as exc:
        prepared.error = str(exc)
    flush()
    return sorted(rows, key=lambda r: (r.start, r.end))


def summarise(file: str, rows: Sequence[SegmentPrediction], class_names: Sequence[str],
              error: str | None = None) -> dict:
    """Share of the classified time per emotion, and the emotion that holds most of it."""
    seconds = {c: 0.0 for c in class_names}
    for row in rows:
        if row.emotion is not None:
            seconds[row.emotion] += row.end - row.start
    total = sum(seconds.values())
    summary = {"file": file, "segments": sum(r.emotion is not None for r in rows), "seconds": round(total, 3),
               "emotion": max(seconds, key=seconds.get) if total > 0 else "",
               "error": error or ("" if total > 0 else "no segment could be classified")}
    summary.update({f"share_{c}": round(seconds[c] / total, 4) if total > 0 else 0.0 for c in class_names})
    return summary


class SegmentOutput:
    """``<output>``: the segments CSV, and ``<output stem>.summary.csv`` beside it; a file counts as done
    once its summary row is written, so a rerun drops any rows of a file cut off by a kill and does it again."""

    def __init__(self, path: str | Path, class_names: Sequence[str]):
        self.path = Path(path)
        self.summary_path = self.path.with_name(self.path.stem + ".summary.csv")
        self.class_names = list(class_names)
        self.segment_header = [*SEGMENT_COLUMNS, *self.class_names, "note"]
        self.summary_header = [*SUMMARY_COLUMNS, *(f"share_{c}" for c in self.class_names)]
        self.done = self._resume()

    def _read(self, path: Path, header: list[str]) -> list[list[str]]:
        if not path.is_file():
            return []
        with path.open(newline="") as handle:
            lines = list(csv.reader(handle))
        if not lines:
            return []
        if lines[0] != header:
            from ..core.errors import InputError

            raise InputError(f"{path}: written by another model or classes (header {','.join(lines[0])}); "
                             f"give another --output")
        return [line for line in lines[1:] if len(line) == len(header)]      # a line cut by a kill is dropped

    def _resume(self) -> set[str]:
        summaries = self._read(self.summary_path, self.summary_header)
        done = {line[0] for line in summaries}
        segments = [line for line in self._read(self.path, self.segment_header) if line[0] in done]
        self._rewrite(self.path, self.segment_header, segments)
        self._rewrite(self.summary_path, self.summary_header, summaries)
        return done

    @staticmethod
    def _rewrite(path: Path, header: list[str], lines: list[list[str]]) -> None:
        import io

        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows([header, *lines])
        write_text_atomic(path, buffer.getvalue())

    def add(self, rows: Sequence[SegmentPrediction], summary: dict) -> None:
        """A finished file: its segment rows, then its summary row (each appended in one write)."""
        import io

        for path, lines in ((self.path, [segment_cells(r, self.class_names) for r in rows]),
                            (self.summary_path, [[summary.get(c, "") for c in self.summary_header]])):
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\n").writerows(lines)
            with path.open("a", newline="") as handle:
                handle.write(buffer.getvalue())
                handle.flush()
        self.done.add(summary["file"])

    def write_json(self) -> Path:
        """Everything written so far as one JSON file, ``<output stem>.json``."""
        import pandas as pd

        segments = pd.read_csv(self.path, keep_default_na=False)
        summaries = pd.read_csv(self.summary_path, keep_default_na=False)
        target = self.path.with_suffix(".json")
        write_text_atomic(target, json.dumps({"segments": segments.to_dict("records"),
                                              "files": summaries.to_dict("records")}, indent=1))
        return target


def segment_cells(row: SegmentPrediction, class_names: Sequence[str]) -> list:
    probabilities = row.probabilities or {}
    return [row.file, f"{row.start:.3f}", f"{row.end:.3f}", row.emotion or "",
            *(f"{probabilities[c]:.4f}" if probabilities else "" for c in class_names), row.note]


# --------------------------------------------------------------------------- worker processes

_WORKER: dict = {}


def _init_worker(loader, model: str, device: str, options: SegmentOptions, envelope: bool) -> None:
    import torch

    torch.set_num_threads(1)       # one core per worker; the main process runs the model
    _WORKER.update(trained=loader(model, device), options=options, envelope=envelope)


def _prepare_in_worker(path: str) -> PreparedFile:
    envelope = Envelope() if _WORKER["envelope"] else None
    prepared = PreparedFile(path, [], envelope)
    try:
        prepared.items = list(segment_items(_WORKER["trained"], path, _WORKER["options"], envelope))
    except AudioError as exc:
        prepared.error = str(exc)
    return prepared


def prepared_files(trained, files: Sequence[str | Path], options: SegmentOptions, workers: int = 0,
                   envelope: bool = False, model: str | Path | None = None, device: str = "cpu",
                   loader=None) -> Iterator[PreparedFile]:
    """Each file, in the order given: streamed here (memory bounded by a block and a batch, whatever
    the file's length), or prepared whole in one of ``workers`` processes, each loading ``model`` with
    ``loader(model, device)`` (``specct.systems.load``, passed in: this module does not pick kinds)."""
    if workers <= 0 or len(files) < 2:
        for path in files:
            gathered = Envelope() if envelope else None
            yield PreparedFile(str(path), segment_items(trained, path, options, gathered), gathered)
        return
    context = multiprocessing.get_context("spawn")   # fork would copy the parent's torch threads
    if loader is None or model is None:
        raise ValueError("prepared_files: workers need the model's path and its loader")
    with context.Pool(workers, _init_worker, (loader, str(model), device, options, envelope)) as pool:
        yield from pool.imap(_prepare_in_worker, [str(f) for f in files], chunksize=1)


def predict_segments(trained, files: Sequence[str | Path], options: SegmentOptions, batch_size: int = 16,
                     output: str | Path | None = None, workers: int = 0, plot_dir: str | Path | None = None,
                     model: str | Path | None = None, device: str = "cpu", progress: bool = True,
                     echo=print, loader=None) -> tuple[list[SegmentPrediction], list[dict]]:
    """Segments and summaries of ``files``; with ``output`` written as each file finishes, and the files
    already there skipped. Returns what this call classified."""
    from tqdm import tqdm

    options = options.check()
    writer = SegmentOutput(output, trained.class_names) if output else None
    todo = [Path(f) for f in files if writer is None or str(f) not in writer.done]
    if writer is not None and len(todo) < len(files) and echo:
        echo(f"{len(files) - len(todo)} file(s) already in {writer.path}, skipped")
    rows_out, summaries = [], []
    prepared = prepared_files(trained, todo, options, workers, plot_dir is not None, model, device, loader)
    for found in tqdm(prepared, total=len(todo), desc="segments", unit="file", disable=not progress, leave=False):
        rows = classify_file(trained, found, batch_size)
        summary = summarise(found.file, rows, trained.class_names, found.error)
        if found.error and echo:
            echo(f"skip {found.file}: {found.error}")
        if plot_dir is not None and rows and found.envelope is not None:
            from ..figures.timeline import plot_timeline

            plot_timeline(rows, found.envelope.arrays(), trained.class_names, Path(plot_dir) / f"{Path(found.file).stem}.png")
        if writer is not None:
            writer.add(rows, summary)
        rows_out += rows
        summaries.append(summary)
    return rows_out, summaries


def format_segments(rows: Sequence[SegmentPrediction], summaries: Sequence[dict], class_names: Sequence[str],
                    fmt: str) -> str:
    """The segments (csv), everything (json), or an aligned table of segments and the files' summaries."""
    import io

    if fmt == "json":
        return json.dumps({"segments": [dict(zip([*SEGMENT_COLUMNS, *class_names, "note"], segment_cells(r, class_names)))
                                        for r in rows], "files": list(summaries)}, indent=1)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([*SEGMENT_COLUMNS, *class_names, "note"])
        writer.writerows(segment_cells(r, class_names) for r in rows)
        return buffer.getvalue().rstrip("\n")
    lines = [f"{'file':<24} {'start':>8} {'end':>8}  {'emotion':<10}" + "".join(f" {c[:7]:>7}" for c in class_names)]
    for r in rows:
        cells = "".join(f" {r.probabilities[c]:>7.3f}" for c in class_names) if r.probabilities else f"  ({r.note})"
        lines.append(f"{Path(r.file).name[:24]:<24} {r.start:>8.2f} {r.end:>8.2f}  {r.emotion or '-':<10}{cells}")
    lines.append("")
    lines.append(f"{'file':<24} {'segments':>8} {'seconds':>8}  {'most time':<10}"
                 + "".join(f" {c[:7]:>7}" for c in class_names))
    for s in summaries:
        lines.append(f"{Path(s['file']).name[:24]:<24} {s['segments']:>8} {s['seconds']:>8.1f}  "
                     f"{s['emotion'] or '-':<10}" + "".join(f" {s[f'share_{c}']:>7.2f}" for c in class_names)
                     + (f"  ({s['error']})" if s["error"] else ""))
    return "\n".join(lines)
