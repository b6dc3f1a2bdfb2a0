"""Import a corpus as distributed into the canonical layout of docs/design.md.

``import_corpus("emodb", "/data/emodb/wav", "datasets")`` writes

    datasets/EMODB/EMODB_wav/<emotion>_EMODB_<speaker>_<stem>.wav   (16 kHz mono PCM_16 by default)
    datasets/EMODB/manifest.csv   file,source,emotion,speaker,gender,duration,orig_sr
    datasets/EMODB/skipped.csv    file,reason   (this run's skips, one line each)
    datasets/EMODB/import_options.json   the corpus options (e.g. --merge_calm) the wavs carry

The corpus module (``specct.data.corpora``) knows the names and labels; this module does the rest:
reading (wavs, and .flac/.ogg/.mp3 beside them: see ``OTHER_AUDIO``), downmixing, resampling, atomic
writing, resuming, the warnings (clipped or very long files) and the summary. A canonical wav that
already exists (at the requested sample rate) is never rewritten, so a re-run or a run after an
interruption only does what is left; the manifest keeps one row per wav that is there.
"""
from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import soundfile as sf
from tqdm import tqdm

from ..core import paths
from ..audio.loading import DEFAULT_SR, AudioError, check_signal, read_audio, resample, to_mono, write_wav
from .corpora import CORPORA, CorpusError, LabelError, Utterance, canonical_corpus_name
from ..core.fileio import SkipList, remove_stale_temporaries, write_text_if_changed
from ..core.labels import EMOTIONS
from ..core.naming import NameError_, make_name

MANIFEST_COLUMNS = ("file", "source", "emotion", "speaker", "gender", "duration", "orig_sr")
ECHO_SKIPS = 20  # skip reasons printed as they happen; all of them go to skipped.csv
# Audio of other formats found beside a corpus's wavs (libsndfile reads them): imported when no wav of the
# same name is beside it, else listed in skipped.csv as a copy, never passed over without a word.
OTHER_AUDIO = (".flac", ".ogg", ".mp3")
LONG_SECONDS = 600.0     # a longer file is imported with a warning: one spectrogram image squeezes all of it
CLIPPED_SHARE = 0.001    # more samples than this at full scale: imported with a warning (clipped)
FULL_SCALE = 0.999


class SourceDirError(CorpusError):
    """The source folder given on the command line is missing or not a folder."""


@dataclass
class ImportSummary:
    """What one import run did; ``str(summary)`` is the report printed at the end."""

    corpus: str
    wav_dir: Path
    manifest: Path
    skip_list: Path
    imported: int = 0      # canonical wavs listed in the manifest after this run
    written: int = 0       # converted in this run
    already_done: int = 0  # present from an earlier run, left as they were
    skipped: int = 0       # this run's skips (see skip_list)
    resampled: int = 0     # of those written, how many came at another sample rate
    downmixed: int = 0     # of those written, how many had more than one channel
    relabelled: int = 0    # earlier wavs removed because their source now gets another name
    warnings: list[str] = field(default_factory=list)   # "file: why", files imported that need a look
    per_emotion: dict[str, int] = field(default_factory=dict)
    per_speaker: dict[str, int] = field(default_factory=dict)
    options: dict[str, bool] = field(default_factory=dict)  # the corpus's options, on or off, for this run

    @property
    def from_source(self) -> int:
        """Files of this run's source folder that are now in place (written now or earlier)."""
        return self.written + self.already_done

    def format(self) -> str:
        lines = [
            f"{self.corpus}: {self.imported} files in {self.wav_dir} "
            f"({self.written} written now, {self.already_done} already there), {self.skipped} skipped",
            "  emotions: " + (", ".join(f"{e} {n}" for e, n in self.per_emotion.items()) or "none"),
            f"  speakers ({len(self.per_speaker)}): "
            + (", ".join(f"{s} {n}" for s, n in self.per_speaker.items()) or "none"),
        ]
        if self.options:
            lines.append("  options: " + ", ".join(f"--{o} {'on' if v else 'off'}" for o, v in self.options.items()))
        if self.resampled or self.downmixed:
            lines.append(f"  converted: {self.resampled} resampled, {self.downmixed} multi-channel downmixed to mono")
        if self.relabelled:
            lines.append(f"  relabelled: {self.relabelled} earlier wavs replaced under their new names")
        if self.warnings:
            lines.append(f"  warnings: {len(self.warnings)} imported files to check (clipped or very long): "
                         + "; ".join(self.warnings[:3]) + ("; ..." if len(self.warnings) > 3 else ""))
        lines.append(f"  manifest: {self.manifest}")
        if self.skipped:
            lines.append(f"  skip list (one reason per file): {self.skip_list}")
        return "\n".join(lines)

    __str__ = format


def describe_corpora() -> str:
    """The text of ``prepare_corpus.py --list``: each corpus and the layout it expects."""
    width = max(len(name) for name in CORPORA)
    lines = ["Supported corpora (names are case-insensitive; CREMA-D may be written CREMAD):"]
    for name, importer in CORPORA.items():
        lines.append(f"  {name:<{width}}  {importer.description}")
        lines.append(f"  {'':<{width}}  expects: {importer.layout}")
        for option, help_text in importer.options.items():
            lines.append(f"  {'':<{width}}  option --{option}: {help_text}")
    return "\n".join(lines)


def import_corpus(corpus: str, source_dir: str | Path, datasets_dir: str | Path = paths.DATASETS_DIR,
                  sample_rate: int = DEFAULT_SR, progress: bool = True, subtype: str = "PCM_16",
                  **corpus_options) -> ImportSummary:
    """Convert the corpus in ``source_dir`` into ``datasets_dir/<CORPUS>/``; see the module docstring.

    Raises :class:`specct.data.corpora.CorpusError` (unknown corpus, missing source folder, an option
    the corpus does not take); every problem with a single file is a skip, not an exception.
    """
    name = canonical_corpus_name(corpus)
    source_dir = Path(source_dir)
    if not source_dir.exists():
        raise SourceDirError(f"source folder {source_dir} does not exist")
    if not source_dir.is_dir():
        raise SourceDirError(f"source {source_dir} is not a folder")
    importer = CORPORA[name](source_dir, **corpus_options)
    options = {option: bool(corpus_options.get(option, False)) for option in importer.options}

    out_dir = paths.wav_dir(datasets_dir, name)
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out_dir)  # left by a killed run; never a finished file
    corpus_dir = paths.corpus_dir(datasets_dir, name)
    summary = ImportSummary(name, out_dir, corpus_dir / "manifest.csv", corpus_dir / "skipped.csv", options=options)
    run = _ImportRun(name, source_dir, out_dir, sample_rate, subtype, summary,
                     rows=read_manifest(summary.manifest, out_dir),
                     skips=SkipList(summary.skip_list, echo=_first_lines(ECHO_SKIPS, summary.skip_list)))

    # The output may lie inside the source folder; never import our own wavs.
    own = out_dir.resolve()
    candidates = [p for p in importer.files() if own not in p.resolve().parents]
    others, copies = other_audio(importer, candidates, source_dir, own)
    try:
        for copy, wav in copies:
            run.skips.add(_relative(copy, source_dir), f"a {copy.suffix} copy of {wav.name} (the file beside it that is read)")
        for path in tqdm(candidates + others, desc=f"import {name}", unit="file", disable=not progress):
            run.import_file(importer, path)
    finally:  # an interrupted run still records what it finished, so the next run resumes
        run.drop_relabelled()
        write_manifest(summary.manifest, run.rows)
        run.skips.write()
        write_import_options(datasets_dir, name, options)

    summary.imported = len(run.rows)
    summary.skipped = len(run.skips)
    summary.per_emotion = dict(sorted(Counter(r["emotion"] for r in run.rows.values()).items()))
    summary.per_speaker = dict(sorted(Counter(r["speaker"] for r in run.rows.values()).items()))
    if progress:
        print(summary.format())
    return summary


def import_once(corpus: str, source_dir: str | Path | None, datasets_dir: str | Path, **kwargs) -> str | None:
    """Import ``corpus`` unless ``datasets_dir`` already holds its wavs (then they are used as they are);
    ``source_dir`` may be the corpus folder or the folder around it (a download unpacked into a folder
    of its own), so the folders directly inside it are tried too. None when the wavs are there, else why not."""
    if any(paths.wav_dir(datasets_dir, corpus).glob("*.wav")):
        return None
    try:
        name = canonical_corpus_name(corpus)
    except CorpusError as exc:
        return str(exc)
    if source_dir is None or not Path(source_dir).is_dir():
        return f"source folder {source_dir} not found"
    reason = f"no {name} wavs found in {source_dir}"
    for folder in [Path(source_dir), *sorted(p for p in Path(source_dir).iterdir() if p.is_dir())]:
        try:
            import_corpus(name, folder, datasets_dir, **kwargs)
        except CorpusError as exc:
            reason = f"import failed ({exc})"
            continue
        if any(paths.wav_dir(datasets_dir, name).glob("*.wav")):
            return None
    return reason


def other_audio(importer, candidates: list[Path], source_dir: Path, own: Path) -> tuple[list[Path], list[tuple[Path, Path]]]:
    """Files of :data:`OTHER_AUDIO` the importer does not list, in the folders of the files it lists (the
    whole source folder when it lists none): ``(to import, [(copy, the wav of its name)])``."""
    suffixes = set(OTHER_AUDIO) - {s.lower() for s in importer.audio_suffixes}
    if not suffixes:
        return [], []
    folders = sorted({p.parent for p in candidates})
    found = ([p for folder in folders for p in folder.iterdir()] if folders else list(source_dir.rglob("*")))
    found = sorted(p for p in found if p.suffix.lower() in suffixes and p.is_file() and own not in p.resolve().parents)
    by_name = {(p.parent, p.stem): p for p in candidates}
    others, copies = [], []
    for path in found:
        wav = by_name.get((path.parent, path.stem))
        if wav is None:
            others.append(path)
        else:
            copies.append((path, wav))
    return others, copies


def audio_warnings(data, sample_rate: int) -> list[str]:
    """Why an imported file needs a look: clipped samples, or a length one utterance never has."""
    import numpy as np

    warnings = []
    clipped = float(np.mean(np.max(np.abs(data), axis=1) >= FULL_SCALE))
    if clipped > CLIPPED_SHARE:
        warnings.append(f"clipped ({clipped:.1%} of the samples at full scale)")
    seconds = data.shape[0] / sample_rate
    if seconds > LONG_SECONDS:
        warnings.append(f"{seconds / 60:.1f} min long (over {LONG_SECONDS / 60:.0f} min: one spectrogram squeezes "
                        f"all of it; cut it into utterances)")
    return warnings


@dataclass
class _ImportRun:
    """State of one import: the manifest rows, the skip list, and which names this run produced."""

    corpus: str
    source_dir: Path
    out_dir: Path
    sample_rate: int
    subtype: str
    summary: ImportSummary
    rows: dict[str, dict[str, str]]
    skips: SkipList
    claimed: dict[str, str] = field(default_factory=dict)  # canonical wav name -> source that made it
    produced: dict[str, str] = field(default_factory=dict)  # resolved source path -> its wav name now

    def import_file(self, importer, path: Path) -> None:
        shown = _relative(path, self.source_dir)
        try:
            utterance = importer.parse(path)
            wav_name = make_name(utterance.emotion, self.corpus, utterance.speaker, utterance.stem).wav_name()
        except (LabelError, NameError_) as exc:
            self.skips.add(shown, str(exc))
            return
        if utterance.emotion not in EMOTIONS:  # a corpus module bug, not bad input
            raise ValueError(f"{self.corpus} importer produced non-canonical emotion {utterance.emotion!r}")
        if wav_name in self.claimed:
            self.skips.add(shown, f"duplicate of {self.claimed[wav_name]} (both give {wav_name})")
            return
        self.claimed[wav_name] = shown

        target = self.out_dir / wav_name
        done = self._finished_output(target)
        if done is not None:
            previous = self.rows.get(wav_name)
            orig_sr = previous["orig_sr"] if previous else _source_rate(path)
            self.rows[wav_name] = _row(wav_name, utterance, done.frames / done.samplerate, orig_sr)
            self.produced[self.rows[wav_name]["source"]] = wav_name
            self.summary.already_done += 1
            return
        try:
            data, orig_sr, channels = read_audio(path)
            signal = to_mono(data)
            check_signal(signal, orig_sr, min_seconds=0)
        except AudioError as exc:
            self.skips.add(shown, str(exc))
            return
        for warning in audio_warnings(data, orig_sr):
            self.summary.warnings.append(f"{shown}: {warning}")
            if len(self.summary.warnings) <= ECHO_SKIPS:
                tqdm.write(f"warning: {shown}: {warning}")
        signal = resample(signal, orig_sr, self.sample_rate)
        write_wav(target, signal, self.sample_rate, subtype=self.subtype)
        self.rows[wav_name] = _row(wav_name, utterance, signal.size / self.sample_rate, orig_sr)
        self.produced[self.rows[wav_name]["source"]] = wav_name
        self.summary.written += 1
        self.summary.resampled += orig_sr != self.sample_rate
        self.summary.downmixed += channels > 1

    def drop_relabelled(self) -> None:
        """Remove earlier wavs whose source this run imported under another name.

        A changed labelling (IEMOCAP with and without --merge_excited) would otherwise leave the
        same recording in the corpus twice, under its old and its new emotion.
        """
        for name, row in list(self.rows.items()):
            now = self.produced.get(row["source"])
            if now is not None and now != name:
                (self.out_dir / name).unlink(missing_ok=True)
                del self.rows[name]
                self.summary.relabelled += 1

    def _finished_output(self, target: Path):
        """The header of an existing canonical wav at the requested rate, else None (redo it)."""
        if not target.exists():
            return None
        try:
            info = sf.info(str(target))
        except Exception:  # noqa: BLE001 - a damaged output is simply written again
            return None
        return info if info.samplerate == self.sample_rate and info.frames > 0 else None


def _first_lines(limit: int, skip_list: Path):
    """An echo for SkipList that prints the first ``limit`` reasons, then one line pointing to the file.

    A wrong corpus name or folder would otherwise print one line for each of thousands of files.
    """
    printed = 0

    def echo(line: str) -> None:
        nonlocal printed
        printed += 1
        if printed <= limit:
            tqdm.write(line)
        elif printed == limit + 1:
            tqdm.write(f"... more skips; every reason is listed in {skip_list}")

    return echo


def _row(wav_name: str, utterance: Utterance, duration: float, orig_sr) -> dict[str, str]:
    return {"file": wav_name, "source": str(utterance.source.resolve()), "emotion": utterance.emotion,
            "speaker": utterance.speaker, "gender": utterance.gender,
            "duration": f"{duration:.4f}", "orig_sr": str(orig_sr)}


def _source_rate(path: Path) -> str:
    try:
        return str(sf.info(str(path)).samplerate)
    except Exception:  # noqa: BLE001 - only the manifest's orig_sr column is lost
        return ""


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def read_manifest(manifest: Path, wav_dir: Path) -> dict[str, dict[str, str]]:
    """Rows of an earlier run's manifest whose wav is still there, keyed by file name."""
    if not manifest.exists():
        return {}
    with open(manifest, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {r["file"]: {c: r.get(c, "") for c in MANIFEST_COLUMNS} for r in rows
            if r.get("file") and (wav_dir / r["file"]).exists()}


def write_import_options(datasets_dir: str | Path, corpus: str, options: dict[str, bool]) -> None:
    """Record the corpus options the wavs now carry; the file is left untouched when nothing changed."""
    path = paths.import_options_file(datasets_dir, corpus)
    write_text_if_changed(path, json.dumps({"corpus": corpus, "options": options}, indent=2) + "\n")


def read_import_options(datasets_dir: str | Path, corpus: str) -> dict[str, bool]:
    """The corpus options an import recorded ({} for a corpus imported before they were recorded)."""
    path = paths.import_options_file(datasets_dir, corpus)
    if not path.exists():
        return {}
    return dict(json.loads(path.read_text()).get("options", {}))


def write_manifest(manifest: Path, rows: dict[str, dict[str, str]]) -> None:
    """Write the manifest atomically, sorted by file name so that every run writes the same bytes
    (and a run that changed nothing leaves the file untouched)."""
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=MANIFEST_COLUMNS)
    writer.writeheader()
    writer.writerows(rows[name] for name in sorted(rows))
    write_text_if_changed(manifest, buffer.getvalue())
