"""The built-in demo corpora: cross-corpus emotion recognition in miniature, synthesised in seconds.

Three small corpora (DEMOA, DEMOB, DEMOC) of speech-like utterances (see ``demo_voice``),
written in the canonical layout that the corpus importer produces::

    <out>/<C>/<C>_wav/<emotion>_<C>_<speaker>_<stem>.wav     16 kHz mono PCM_16
    <out>/<C>/manifest.csv     file,source,emotion,speaker,gender,duration,orig_sr

Each corpus has its own speakers, its own sentences and its own channel (sample rate before
resampling to 16 kHz, band limits, room, noise, hum, recording level), so a model trained on
two of them meets a new recording setup on the third, as with real corpora.

Corpus names hold no underscore: the canonical name splits on underscores.

Every random draw comes from a generator seeded by (seed, corpus, what is drawn), so the same
seed writes byte-identical files, and a re-run leaves identical files untouched.

    python -m specct.data.demo [--datasets_dir datasets] [--seed 0]
"""
from __future__ import annotations

import functools
import io
import json
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import soundfile as sf
from scipy import signal as sps
from scipy.fft import next_fast_len
from tqdm import tqdm

from ..core import paths
from ..audio.loading import DEFAULT_SR, resample, write_wav
from ..audio.demo_voice import (EMOTION_STYLES, Sentence, Speaker, draw_delivery, draw_sentence, draw_speaker,
    synthesize)
from ..core.cli import ArgumentParser
from ..core.errors import InputError, run_script
from ..core.fileio import remove_stale_temporaries, write_csv_atomic, write_text_atomic
from ..core.naming import make_name
from .prepare import MANIFEST_COLUMNS
from ..core.seeding import rng_for

DEMO_CORPORA = ("DEMOA", "DEMOB", "DEMOC")
CORE_EMOTIONS = ("anger", "happy", "neutral", "sad")
SOURCE = "synthetic"
SETTINGS_FILE = "demo_settings.json"
GENERATOR_VERSION = 1   # raise whenever the same settings would render different audio


@dataclass(frozen=True)
class Channel:
    """A recording setup: what happens between the mouth and the file."""

    orig_sr: int                     # rate the corpus was recorded at (resampled to 16 kHz on writing)
    band_hz: tuple[float, float]     # microphone and line pass band
    shelf_db: float                  # microphone colouring: gain above about 1 kHz (+ = brighter)
    rt60_s: float                    # room reverberation time
    reverb_mix: float                # reverberant energy relative to the direct sound
    snr_db: float                    # speech-to-noise ratio (per-utterance spread of 3 dB)
    noise_color: float               # noise spectrum slope: 0 white, 1 pink, 2 brown
    hum_db: float | None             # mains hum relative to speech, None = none
    level_db: float                  # recording gain


@dataclass(frozen=True)
class CorpusProfile:
    channel: Channel
    emotions: tuple[str, ...]        # acted emotions, the basic four plus the corpus's extras
    first_gender: str                # speakers alternate gender starting here


# A clean studio at 16 kHz, a reverberant room with mains hum at 44.1 kHz, a dull narrow-band
# microphone in noise at 22.05 kHz.
PROFILES: dict[str, CorpusProfile] = {
    "DEMOA": CorpusProfile(Channel(16000, (60.0, 7600.0), 0.0, 0.15, 0.05, 32.0, 0.0, None, -2.0),
                           CORE_EMOTIONS + ("fearful",), "female"),
    "DEMOB": CorpusProfile(Channel(44100, (110.0, 9000.0), 2.0, 0.45, 0.25, 28.0, 1.0, -42.0, -4.0),
                           CORE_EMOTIONS + ("surprised",), "male"),
    "DEMOC": CorpusProfile(Channel(22050, (250.0, 5500.0), -2.0, 0.25, 0.12, 22.0, 2.0, None, 0.0),
                           CORE_EMOTIONS + ("disgust",), "female"),
}


def derive_rng(seed: int, *keys: object) -> np.random.Generator:
    """A generator that depends only on the seed and the keys (stable across runs and machines).

    The demo joins its keys into one stream name (``specct.core.seeding.rng_for``), as it always has,
    so the demo corpora stay byte-identical."""
    return rng_for(seed, "\x1f".join(str(k) for k in keys))


def corpus_profile(corpus: str, seed: int) -> CorpusProfile:
    """The fixed profile of a named demo corpus; any other name gets a channel drawn from the seed."""
    if corpus in PROFILES:
        return PROFILES[corpus]
    rng = derive_rng(seed, corpus, "channel")
    channel = Channel(
        orig_sr=int(rng.choice([16000, 22050, 44100, 48000])),
        band_hz=(float(rng.uniform(50, 300)), float(rng.uniform(4500, 7800))),
        shelf_db=float(rng.uniform(-3, 3)),
        rt60_s=float(rng.uniform(0.1, 0.5)),
        reverb_mix=float(rng.uniform(0.03, 0.3)),
        snr_db=float(rng.uniform(20, 40)),
        noise_color=float(rng.uniform(0, 2)),
        hum_db=None if rng.random() < 0.5 else float(rng.uniform(-50, -38)),
        level_db=float(rng.uniform(-9, 0)),
    )
    return CorpusProfile(channel, CORE_EMOTIONS, "female" if rng.random() < 0.5 else "male")


def _colored_noise(rng: np.random.Generator, n: int, color: float) -> np.ndarray:
    """Noise with power falling as 1/f**color, unit RMS."""
    size = next_fast_len(n, real=True)
    spectrum = np.fft.rfft(rng.normal(0, 1, size))
    freqs = np.fft.rfftfreq(size)
    freqs[0] = freqs[1]
    noise = np.fft.irfft(spectrum / freqs ** (color / 2), size)[:n]
    return noise / (np.std(noise) + 1e-12)


@functools.lru_cache(maxsize=64)
def _butter(order: int, cutoff_hz, btype: str, sr: int) -> np.ndarray:
    return sps.butter(order, cutoff_hz, btype=btype, fs=sr, output="sos")


def apply_channel(dry: np.ndarray, channel: Channel, rng: np.random.Generator) -> np.ndarray:
    """Room and microphone at the corpus's own rate, resampled to 16 kHz, then noise, hum and gain."""
    sr = channel.orig_sr
    speech_rms = np.sqrt(np.mean(dry ** 2))
    wet = dry
    if channel.reverb_mix > 0:
        t = np.arange(int(channel.rt60_s * sr)) / sr
        impulse = rng.normal(0, 1, t.size) * np.exp(-6.9 * t / channel.rt60_s)
        reverb = sps.fftconvolve(dry, impulse)[: dry.size]
        wet = dry + np.sqrt(channel.reverb_mix) * reverb * speech_rms / (np.sqrt(np.mean(reverb ** 2)) + 1e-12)
    high = min(channel.band_hz[1], 0.45 * sr)
    wet = sps.sosfilt(_butter(4, (channel.band_hz[0], high), "bandpass", sr), wet)
    if channel.shelf_db:
        # A first-order shelf around 1 kHz: brighter or duller microphones.
        gain = 10 ** (channel.shelf_db / 20) - 1
        wet = wet + gain * sps.sosfilt(_butter(1, 1000.0, "highpass", sr), wet)
    # Noise, hum and gain are added after resampling: the same as before it, for content below 8 kHz.
    wet = resample(wet.astype(np.float32), sr, DEFAULT_SR).astype(np.float64)
    recorded_rms = np.sqrt(np.mean(wet ** 2))
    snr_db = channel.snr_db + rng.normal(0, 3.0)
    noise = _colored_noise(rng, wet.size, channel.noise_color) * recorded_rms * 10 ** (-snr_db / 20)
    noise_top = min(0.45 * sr, 0.49 * DEFAULT_SR)
    out = wet + sps.sosfilt(_butter(2, (20.0, noise_top), "bandpass", DEFAULT_SR), noise)
    if channel.hum_db is not None:
        t = np.arange(out.size) / DEFAULT_SR
        hum = sum(np.sin(2 * np.pi * 50 * k * t + rng.uniform(0, 2 * np.pi)) / k for k in (1, 2, 3))
        out = out + hum * recorded_rms * 10 ** (channel.hum_db / 20)
    out = out * 10 ** (channel.level_db / 20)
    peak = np.max(np.abs(out))
    if peak > 0.98:  # the recording engineer lowers the gain rather than clip
        out *= 0.98 / peak
    return out


@dataclass(frozen=True)
class Utterance:
    wav_name: str
    emotion: str
    speaker: Speaker
    sentence_index: int


def plan_corpus(corpus: str, seed: int, speakers: int, sentences: int,
                emotions: Sequence[str] | None) -> tuple[CorpusProfile, list[Utterance], list[Sentence]]:
    """Who says which sentence in which emotion: every speaker says every sentence in every emotion."""
    profile = corpus_profile(corpus, seed)
    emotions = tuple(dict.fromkeys(emotions)) if emotions else profile.emotions
    unknown = [e for e in emotions if e not in EMOTION_STYLES]
    if unknown:
        raise InputError(f"demo voices know no emotion {', '.join(unknown)}; known: {', '.join(EMOTION_STYLES)}")
    genders = ("female", "male") if profile.first_gender == "female" else ("male", "female")
    voices = [draw_speaker(derive_rng(seed, corpus, "speaker", i), f"{i + 1:02d}", genders[i % 2])
              for i in range(speakers)]
    texts = [draw_sentence(derive_rng(seed, corpus, "sentence", k)) for k in range(sentences)]
    utterances = [Utterance(make_name(emotion, corpus, voice.speaker_id, f"s{k + 1:02d}").wav_name(),
                            emotion, voice, k)
                  for voice in voices for emotion in emotions for k in range(sentences)]
    return replace(profile, emotions=emotions), utterances, texts


def render_utterance(utterance: Utterance, sentence: Sentence, channel: Channel, corpus: str, seed: int) -> np.ndarray:
    """One file's 16 kHz signal; depends only on (seed, corpus, file name) and the speaker's traits."""
    rng = derive_rng(seed, corpus, utterance.wav_name)
    delivery = draw_delivery(rng, utterance.speaker, utterance.emotion)
    dry = synthesize(sentence, delivery, rng, channel.orig_sr) * 10 ** (utterance.speaker.level_db / 20)
    return apply_channel(dry, channel, rng)


def _wav_bytes(signal: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(signal, -1.0, 1.0), DEFAULT_SR, subtype="PCM_16", format="WAV")
    return buffer.getvalue()


def _check_corpus_name(corpus: str) -> None:
    if make_name("neutral", corpus, "x", "x").corpus != corpus:
        raise InputError(f"demo corpus name {corpus!r} must be upper case letters, digits, '-' or '.' "
                         "(canonical names split on '_')")


def _check_owned(corpus_root: Path) -> None:
    """Refuse to write over an imported (real) corpus of the same name."""
    manifest = corpus_root / "manifest.csv"
    if manifest.exists():
        table = pd.read_csv(manifest, dtype=str)
        if "source" not in table or not (table["source"] == SOURCE).all():
            raise InputError(f"{corpus_root}: holds an imported corpus, not a demo one; choose another --datasets_dir")


def _settings(seed: int, speakers: int, sentences: int, emotions: Sequence[str]) -> dict:
    return {"generator": GENERATOR_VERSION, "seed": int(seed), "speakers": speakers, "sentences": sentences,
            "emotions": list(emotions)}


def _up_to_date(corpus_root: Path, wav_folder: Path, settings: dict, utterances: list[Utterance]) -> bool:
    """True when an earlier run with the same settings left every file of this corpus in place."""
    settings_file = corpus_root / SETTINGS_FILE
    if not (settings_file.exists() and (corpus_root / "manifest.csv").exists()):
        return False
    try:
        if json.loads(settings_file.read_text()) != settings:
            return False
    except json.JSONDecodeError:
        return False
    return all((wav_folder / u.wav_name).exists() for u in utterances)


def read_demo_manifest(corpus_root: str | Path) -> pd.DataFrame:
    """A manifest as written here (speaker ids stay strings: ``01`` is not the number 1)."""
    return pd.read_csv(Path(corpus_root) / "manifest.csv", dtype={"speaker": str, "file": str})


def generate_corpus(out_dir: str | Path, corpus: str, seed: int = 0, speakers: int = 5, sentences: int = 5,
                    emotions: Sequence[str] | None = None, progress: bool = True) -> pd.DataFrame:
    """Write one demo corpus and its manifest; returns the manifest.

    A corpus already written with the same settings is left as it is; otherwise every file is
    rendered, and a file whose bytes would not change is not rewritten.
    """
    _check_corpus_name(corpus)
    corpus_root = paths.corpus_dir(out_dir, corpus)
    _check_owned(corpus_root)
    wav_folder = paths.wav_dir(out_dir, corpus)
    profile, utterances, texts = plan_corpus(corpus, seed, speakers, sentences, emotions)
    settings = _settings(seed, speakers, sentences, profile.emotions)
    if _up_to_date(corpus_root, wav_folder, settings, utterances):
        return read_demo_manifest(corpus_root)
    wav_folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(wav_folder)
    (corpus_root / SETTINGS_FILE).unlink(missing_ok=True)  # written again only once the corpus is complete
    rows = []
    for utterance in tqdm(utterances, desc=f"demo {corpus}", unit="file", disable=not progress, leave=False):
        samples = render_utterance(utterance, texts[utterance.sentence_index], profile.channel, corpus, seed)
        target = wav_folder / utterance.wav_name
        if not (target.exists() and target.read_bytes() == _wav_bytes(samples)):
            write_wav(target, samples, DEFAULT_SR)
        rows.append({"file": utterance.wav_name, "source": SOURCE, "emotion": utterance.emotion,
                     "speaker": utterance.speaker.speaker_id, "gender": utterance.speaker.gender,
                     "duration": round(samples.size / DEFAULT_SR, 4), "orig_sr": profile.channel.orig_sr})
    # Files of an earlier run with other settings would otherwise join this corpus.
    expected = {u.wav_name for u in utterances}
    for stale in wav_folder.glob("*.wav"):
        if stale.name not in expected:
            stale.unlink()
    manifest = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    write_csv_atomic(corpus_root / "manifest.csv", manifest)
    write_text_atomic(corpus_root / SETTINGS_FILE, json.dumps(settings, indent=1) + "\n")
    return manifest


def generate_demo(out_dir: str | Path, seed: int = 0, corpora: Sequence[str] = DEMO_CORPORA, *,
                  speakers: int = 5, sentences: int = 5, emotions: Sequence[str] | None = None,
                  progress: bool = True, summary: bool = False) -> list[str]:
    """Write the demo corpora under ``out_dir``; returns the names of the corpora written.

    ``speakers`` per corpus, each saying ``sentences`` sentences in every emotion (the corpus's
    own set, the basic four plus one extra, unless ``emotions`` is given).
    """
    if int(seed) < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed}")
    if speakers < 1 or sentences < 1:
        raise InputError("speakers and sentences must be at least 1")
    written = []
    for corpus in corpora:
        manifest = generate_corpus(out_dir, corpus, seed, speakers, sentences, emotions, progress)
        if summary:
            print(describe_corpus(corpus, manifest))
        written.append(corpus)
    return written


def describe_corpus(corpus: str, manifest: pd.DataFrame) -> str:
    channel = corpus_profile(corpus, 0).channel if corpus in PROFILES else None
    emotions = Counter(manifest["emotion"])
    genders = Counter(manifest.drop_duplicates("speaker")["gender"])
    lines = [f"{corpus}: {len(manifest)} files, {manifest['speaker'].nunique()} speakers "
             f"({', '.join(f'{n} {g}' for g, n in sorted(genders.items()))}), "
             f"{manifest['duration'].sum():.0f} s",
             "  emotions: " + ", ".join(f"{e} {n}" for e, n in sorted(emotions.items())),
             f"  recorded at {int(manifest['orig_sr'].iloc[0])} Hz, written at {DEFAULT_SR} Hz mono PCM_16"]
    if channel is not None:
        lines.append(f"  channel: band {channel.band_hz[0]:.0f}-{min(channel.band_hz[1], channel.orig_sr * 0.45):.0f} Hz, "
                     f"SNR {channel.snr_db:.0f} dB, RT60 {channel.rt60_s:.2f} s, level {channel.level_db:+.0f} dB"
                     + (f", mains hum {channel.hum_db:.0f} dB" if channel.hum_db is not None else ""))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m specct.data.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets_dir", default=str(paths.DATASETS_DIR), help="folder of corpora to write into")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--datasets", nargs="+", default=list(DEMO_CORPORA), metavar="CORPUS",
                        help="demo corpus names to generate")
    parser.add_argument("--speakers", type=int, default=5, help="speakers per corpus")
    parser.add_argument("--sentences", type=int, default=5, help="sentences per speaker and emotion")
    args = parser.parse_args(argv)
    corpora = [c.upper() for c in args.datasets]

    def generate():
        written = generate_demo(args.datasets_dir, args.seed, corpora, speakers=args.speakers,
                                sentences=args.sentences, summary=True)
        print(f"wrote {len(written)} demo corpora to {args.datasets_dir} (seed {args.seed})")

    return run_script("python -m specct.data.demo", generate)


if __name__ == "__main__":
    raise SystemExit(main())
