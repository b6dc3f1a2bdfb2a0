"""Speech-like voices for the demo corpora: source-filter synthesis with emotional prosody.

A glottal pulse train (pitch contour, jitter, shimmer, spectral tilt, breathiness) goes
through vowel formant resonators; each syllable is an optional fricative onset followed by
a voiced vowel nucleus. Emotion moves the cues that carry it in real speech: pitch level
and range, speaking rate, loudness, spectral tilt, jitter and shimmer. Every utterance
draws its own intensity and cue values, so the classes overlap as they do in recordings.
Speakers differ in pitch, formant scale, rate and voice quality, so the same cue value
means different things for different speakers (a high voice's neutral sits near a low
voice's happy).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, fields

import numpy as np
from scipy import signal as sps

# F1-F4 of an adult male voice in Hz (classic averages for five cardinal vowels).
VOWEL_FORMANTS_HZ = {
    "a": (730, 1090, 2440, 3400),
    "e": (530, 1840, 2480, 3500),
    "i": (270, 2290, 3010, 3600),
    "o": (570, 840, 2410, 3400),
    "u": (300, 870, 2240, 3350),
}
FORMANT_BANDWIDTHS_HZ = (80, 100, 150, 220)
EXTRA_FORMANT_HZ = 4500        # a fixed F5 gives the upper spectrum its usual shape
# Voiceless onsets: pass band in Hz of the noise burst (before the speaker's formant scale).
FRICATIVE_BANDS_HZ = {"s": (4200, 7800), "sh": (2300, 5000), "f": (1500, 7000), "h": (600, 3200)}
CONSONANTS = (None, "s", "sh", "f", "h")   # None = vowel onset (or a voiced consonant)
CONTROL_HZ = 1000              # rate of the slow contours (pitch, vowel weights)
REFERENCE_RMS_DBFS = -26.0     # level of a neutral utterance before speaker and channel gains
GLOTTAL_CUTOFF_HZ = 200.0      # glottal flow falls at 12 dB/octave above this
NEUTRAL_TILT_DB = 15.0         # extra source attenuation at 3 kHz in neutral speech


@dataclass(frozen=True)
class Speaker:
    """Fixed traits of one voice."""

    speaker_id: str
    gender: str
    f0_hz: float             # median pitch of neutral speech
    formant_scale: float     # shorter vocal tract -> higher formants (female voices ~1.17)
    rate_syl_per_s: float    # neutral speaking rate
    tilt_db: float           # spectral tilt offset, dB at 3 kHz (pressed voices < 0, breathy > 0)
    breathiness: float       # aspiration noise relative to the voiced source
    jitter: float            # cycle-to-cycle period variation (fraction of a period)
    expressiveness: float    # how strongly this speaker shows emotion (1 = average)
    level_db: float          # microphone distance and vocal effort


@dataclass(frozen=True)
class EmotionStyle:
    """How an emotion moves the cues relative to the speaker's neutral voice."""

    pitch_ratio: float       # median f0
    pitch_range_st: float    # size of syllable accents, semitones
    rate_ratio: float        # syllables per second
    loudness_db: float       # level
    tilt_db: float           # spectral tilt change, dB at 3 kHz (flatter, brighter voice < 0)
    jitter: float            # added period variation
    shimmer: float           # cycle-to-cycle amplitude variation
    breathiness: float       # added aspiration noise
    formant_ratio: float     # smiling shortens the tract; a lowered larynx lengthens it
    final_st: float          # pitch movement over the last syllable (rise > 0)


EMOTION_STYLES: dict[str, EmotionStyle] = {
    "neutral": EmotionStyle(1.00, 2.0, 1.00, 0.0, 0.0, 0.000, 0.04, 0.00, 1.00, -2.0),
    "anger": EmotionStyle(1.22, 3.5, 1.12, 8.0, -12.0, 0.008, 0.08, -0.02, 1.02, -3.0),
    "happy": EmotionStyle(1.30, 5.5, 1.10, 4.0, -6.0, 0.000, 0.05, 0.01, 1.05, 1.0),
    "sad": EmotionStyle(0.90, 1.0, 0.78, -6.0, 9.0, 0.015, 0.09, 0.12, 0.98, -1.0),
    "fearful": EmotionStyle(1.38, 2.5, 1.22, -1.0, -1.0, 0.030, 0.10, 0.10, 1.01, 1.5),
    "surprised": EmotionStyle(1.40, 6.5, 1.00, 3.0, -3.0, 0.003, 0.05, 0.03, 1.04, 5.0),
    "disgust": EmotionStyle(0.95, 3.0, 0.85, 1.0, -2.0, 0.010, 0.07, 0.06, 0.97, -3.5),
    "boredom": EmotionStyle(0.92, 0.8, 0.85, -3.0, 4.0, 0.005, 0.05, 0.05, 1.00, -1.5),
    "calm": EmotionStyle(0.97, 1.5, 0.90, -2.0, 2.0, 0.000, 0.04, 0.04, 1.00, -2.0),
}


def blend_style(neutral: EmotionStyle, target: EmotionStyle, weight: float) -> EmotionStyle:
    """Interpolate between neutral (0) and the full emotion (1); weights above 1 exaggerate."""
    return EmotionStyle(*(getattr(neutral, f.name) + weight * (getattr(target, f.name) - getattr(neutral, f.name))
                          for f in fields(EmotionStyle)))


def draw_speaker(rng: np.random.Generator, speaker_id: str, gender: str) -> Speaker:
    """Draw one voice; women and men differ in pitch and formant scale, as on average they do."""
    female = gender == "female"
    return Speaker(
        speaker_id=speaker_id,
        gender=gender,
        f0_hz=float((205.0 if female else 112.0) * np.exp(rng.normal(0, 0.13))),
        formant_scale=float((1.17 if female else 1.0) * np.exp(rng.normal(0, 0.04))),
        rate_syl_per_s=float(rng.uniform(4.3, 5.6)),
        tilt_db=float(rng.normal(0, 2.5)),
        breathiness=float(rng.uniform(0.02, 0.10) + (0.03 if female else 0.0)),
        jitter=float(rng.uniform(0.004, 0.012)),
        expressiveness=float(rng.uniform(0.8, 1.2)),
        level_db=float(rng.normal(0, 2.0)),
    )


@dataclass(frozen=True)
class Sentence:
    """What is said: (onset consonant or None, vowel) per syllable, with word boundaries."""

    syllables: tuple[tuple[str | None, str], ...]
    word_end: tuple[bool, ...]
    stressed: tuple[bool, ...]


def draw_sentence(rng: np.random.Generator, min_syllables: int = 4, max_syllables: int = 8) -> Sentence:
    n = int(rng.integers(min_syllables, max_syllables + 1))
    vowels = list(VOWEL_FORMANTS_HZ)
    syllables = tuple((CONSONANTS[int(rng.integers(len(CONSONANTS)))], vowels[int(rng.integers(len(vowels)))])
                      for _ in range(n))
    word_end, stressed, left_in_word = [], [], 0
    for i in range(n):
        if left_in_word == 0:  # a new word of 1-3 syllables, stressed on its first
            left_in_word = int(rng.integers(1, 4))
            stressed.append(bool(rng.random() < 0.7))
        else:
            stressed.append(False)
        left_in_word -= 1
        word_end.append(left_in_word == 0 or i == n - 1)
    return Sentence(syllables, tuple(word_end), tuple(stressed))


@dataclass(frozen=True)
class Delivery:
    """The cue values of one utterance: the style, scaled and varied."""

    f0_hz: float
    pitch_range_st: float
    final_st: float
    rate_syl_per_s: float
    loudness_db: float
    spectral_tilt_db: float    # source attenuation at 3 kHz (Klatt's TL)
    jitter: float
    shimmer: float
    breathiness: float
    formant_scale: float


def draw_delivery(rng: np.random.Generator, speaker: Speaker, emotion: str) -> Delivery:
    """Per-utterance cues: an intensity toward the emotion, then independent variation of each cue."""
    if emotion not in EMOTION_STYLES:
        raise ValueError(f"no voice style for emotion {emotion!r}; known: {', '.join(EMOTION_STYLES)}")
    intensity = float(np.clip(rng.normal(0.95 * speaker.expressiveness, 0.2), 0.3, 1.5))
    style = blend_style(EMOTION_STYLES["neutral"], EMOTION_STYLES[emotion], intensity)
    return Delivery(
        f0_hz=speaker.f0_hz * style.pitch_ratio * float(np.exp(rng.normal(0, 0.08))),
        pitch_range_st=style.pitch_range_st * float(np.exp(rng.normal(0, 0.3))),
        final_st=style.final_st + float(rng.normal(0, 1.0)),
        rate_syl_per_s=speaker.rate_syl_per_s * style.rate_ratio * float(np.exp(rng.normal(0, 0.08))),
        loudness_db=style.loudness_db + float(rng.normal(0, 2.0)),
        spectral_tilt_db=float(np.clip(NEUTRAL_TILT_DB + speaker.tilt_db + style.tilt_db + rng.normal(0, 2.0), 0, 35)),
        jitter=speaker.jitter + max(style.jitter, 0.0) * float(np.exp(rng.normal(0, 0.3))),
        shimmer=max(style.shimmer * float(np.exp(rng.normal(0, 0.3))), 0.0),
        breathiness=max(speaker.breathiness + style.breathiness + float(rng.normal(0, 0.02)), 0.0),
        formant_scale=speaker.formant_scale * style.formant_ratio * float(np.exp(rng.normal(0, 0.015))),
    )


@dataclass
class _Timeline:
    """Sample-level plan of an utterance."""

    voicing: np.ndarray                 # voiced amplitude envelope, 0..1
    vowel_weights: dict[str, np.ndarray]
    f0_hz: np.ndarray                   # pitch contour
    glottal_phase: np.ndarray           # cycles elapsed (integer steps = glottal closures)
    frication: list[tuple[int, int, str]]   # (start, stop, consonant)


def _plan(sentence: Sentence, delivery: Delivery, rng: np.random.Generator, sr: int) -> _Timeline:
    syllable_s = 1.0 / delivery.rate_syl_per_s
    lead, tail = rng.uniform(0.1, 0.25), rng.uniform(0.1, 0.25)
    # Durations first, so the arrays can be allocated once.
    segments = []  # (consonant_s, vowel_s, pause_after_s)
    for (consonant, _), stressed, word_end in zip(sentence.syllables, sentence.stressed, sentence.word_end):
        consonant_s = 0.0 if consonant is None else syllable_s * rng.uniform(0.25, 0.35)
        vowel_s = (syllable_s - consonant_s) * rng.uniform(0.8, 1.15) * (1.3 if stressed else 1.0)
        pause_s = rng.uniform(0.05, 0.16) * syllable_s / 0.2 if word_end and rng.random() < 0.3 else 0.0
        segments.append((consonant_s, vowel_s, pause_s))
    segments[-1] = (segments[-1][0], segments[-1][1] * 1.25, 0.0)  # phrase-final lengthening
    total = lead + tail + sum(c + v + p for c, v, p in segments)
    n = int(round(total * sr))
    voicing = np.zeros(n)
    vowel_spans: dict[str, list[tuple[float, float]]] = {v: [] for v in VOWEL_FORMANTS_HZ}
    frication = []
    knots_t, knots_st = [0.0], [0.0]
    t = lead
    n_syl = len(segments)
    for i, ((consonant, vowel), (consonant_s, vowel_s, pause_s)) in enumerate(zip(sentence.syllables, segments)):
        c0, v0 = int(t * sr), int((t + consonant_s) * sr)
        v1 = int((t + consonant_s + vowel_s) * sr)
        if consonant is not None:
            frication.append((c0, v0, consonant))
        voicing[v0:v1] = sps.windows.tukey(v1 - v0, alpha=0.35)
        # The tract takes its vowel shape already during the onset (coarticulation).
        vowel_spans[vowel].append((t, t + consonant_s + vowel_s + 0.02))
        # Pitch: declination over the phrase, accents on stressed syllables, a final movement.
        accent = delivery.pitch_range_st * (rng.uniform(0.6, 1.2) if sentence.stressed[i] else rng.uniform(0.0, 0.3))
        if rng.random() < 0.15:
            accent = -0.5 * accent
        declination = -2.5 * (t - lead) / max(total - lead - tail, 1e-3)
        knots_t.append(t + consonant_s + 0.5 * vowel_s)
        knots_st.append(declination + accent)
        if i == n_syl - 1:
            knots_t.append(t + consonant_s + vowel_s)
            knots_st.append(declination + delivery.final_st)
        t += consonant_s + vowel_s + pause_s
    knots_t.append(total)
    knots_st.append(knots_st[-1])
    # Slow contours are planned at a control rate and interpolated to the audio rate.
    control_times = np.arange(int(total * CONTROL_HZ) + 1) / CONTROL_HZ
    pitch_st = np.interp(control_times, knots_t, knots_st)
    # Smooth the contour (about 60 ms) and add a slow wander, as real intonation is not piecewise linear.
    pitch_st = _smooth(pitch_st, int(0.06 * CONTROL_HZ))
    wander = _smooth(rng.normal(0, 1, control_times.size), int(0.15 * CONTROL_HZ))
    pitch_st += 0.6 * wander / (np.std(wander) + 1e-9)
    times = np.arange(n) / sr
    pitch_st = np.interp(times, control_times, pitch_st)
    pitch_st -= np.median(pitch_st[voicing > 0.5]) if np.any(voicing > 0.5) else 0.0
    # Formant transitions of about 40 ms between neighbouring vowels.
    weights = {}
    for vowel, spans in vowel_spans.items():
        if spans:
            mask = np.zeros(control_times.size)
            for start, stop in spans:
                mask[int(start * CONTROL_HZ):int(stop * CONTROL_HZ) + 1] = 1.0
            weights[vowel] = _smooth(mask, int(0.04 * CONTROL_HZ))
    total_weight = sum(weights.values())
    total_weight[total_weight < 1e-6] = 1.0
    vowel_weights = {v: np.interp(times, control_times, w / total_weight) for v, w in weights.items()}
    f0_hz = delivery.f0_hz * 2.0 ** (pitch_st / 12.0)
    return _Timeline(voicing, vowel_weights, f0_hz, np.cumsum(f0_hz) / sr, frication)


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    if width < 2:
        return x
    kernel = np.hanning(width + 2)[1:-1]
    return sps.oaconvolve(x, kernel / kernel.sum(), mode="same")


def _pulse_train(timeline: _Timeline, delivery: Delivery, rng: np.random.Generator, sr: int) -> np.ndarray:
    """Glottal excitation: one impulse per cycle, with jitter and shimmer, placed with sub-sample precision."""
    f0, phase = timeline.f0_hz, timeline.glottal_phase
    cycles = np.floor(phase)
    idx = np.nonzero(np.diff(cycles) > 0)[0] + 1
    # Fractional crossing position inside the sample step.
    frac = (phase[idx] - cycles[idx]) / np.maximum(f0[idx] / sr, 1e-9)
    times = idx - frac
    periods = sr / f0[idx]
    times = times + rng.normal(0, delivery.jitter, times.size) * periods
    amplitude = np.interp(times, np.arange(timeline.voicing.size), timeline.voicing)
    amplitude *= np.clip(1.0 + rng.normal(0, delivery.shimmer, times.size), 0.2, None)
    # Larger amplitude for lower pitch in the same effort: a glottal pulse carries energy per cycle.
    amplitude *= np.sqrt(periods / periods.mean())
    keep = (amplitude > 1e-4) & (times >= 0) & (times < timeline.voicing.size - 1)
    times, amplitude = times[keep], amplitude[keep]
    pulses = np.zeros(timeline.voicing.size)
    base = np.floor(times).astype(int)
    weight = times - base
    np.add.at(pulses, base, amplitude * (1 - weight))
    np.add.at(pulses, base + 1, amplitude * weight)
    return pulses


def _glottal_source(pulses: np.ndarray, timeline: _Timeline, delivery: Delivery, rng: np.random.Generator, sr: int):
    """Shape the impulses like glottal flow (two real poles), radiate at the lips, add aspiration."""
    r = np.exp(-2 * np.pi * GLOTTAL_CUTOFF_HZ / sr)
    flow = sps.lfilter([(1 - r) ** 2], [1, -2 * r, r * r], pulses)
    voiced = np.diff(flow, prepend=0.0)
    # Vocal effort: a pressed voice keeps its high harmonics, a lax or breathy one loses them.
    a = _tilt_pole(delivery.spectral_tilt_db, sr)
    voiced = sps.lfilter([1 - a], [1, -a], voiced)
    cycle = 0.6 + 0.4 * np.cos(2 * np.pi * timeline.glottal_phase)   # noise pulses with the glottis
    aspiration = rng.normal(0, 1, pulses.size) * cycle * timeline.voicing
    voiced_rms = np.sqrt(np.mean(voiced[timeline.voicing > 0.5] ** 2)) if np.any(timeline.voicing > 0.5) else 1.0
    return voiced + delivery.breathiness * 1.2 * voiced_rms * aspiration


def _tilt_pole(attenuation_db: float, sr: int, at_hz: float = 3000.0) -> float:
    """Pole of a one-pole low-pass that is ``attenuation_db`` down at ``at_hz`` (Klatt's TL)."""
    if attenuation_db <= 0:
        return 0.0
    g = 10 ** (-attenuation_db / 10)
    c = np.cos(2 * np.pi * min(at_hz, 0.45 * sr) / sr)
    return float(((1 - g * c) - np.sqrt((1 - g * c) ** 2 - (1 - g) ** 2)) / (1 - g))


def _resonator_sos(freq_hz: float, bandwidth_hz: float, sr: int) -> np.ndarray:
    """A two-pole formant resonator with unit gain at DC, as one second-order section."""
    c = -np.exp(-2 * np.pi * bandwidth_hz / sr)
    b = 2 * np.exp(-np.pi * bandwidth_hz / sr) * np.cos(2 * np.pi * freq_hz / sr)
    return np.array([1 - b - c, 0.0, 0.0, 1.0, -b, -c])


def _vocal_tract_sos(vowel: str, formant_scale: float, sr: int) -> np.ndarray:
    formants = [*VOWEL_FORMANTS_HZ[vowel], EXTRA_FORMANT_HZ]
    bandwidths = [*FORMANT_BANDWIDTHS_HZ, 300]
    sections = [_resonator_sos(f * formant_scale, bw, sr) for f, bw in zip(formants, bandwidths)
                if f * formant_scale < 0.45 * sr]
    return np.stack(sections)


@functools.lru_cache(maxsize=512)
def _bandpass_sos(low_hz: float, high_hz: float, sr: int) -> np.ndarray:
    return sps.butter(2, [low_hz, high_hz], btype="bandpass", fs=sr, output="sos")


def _fricatives(timeline: _Timeline, delivery: Delivery, rng: np.random.Generator, sr: int,
                level: float) -> np.ndarray:
    out = np.zeros(timeline.voicing.size)
    for start, stop, consonant in timeline.frication:
        low, high = (f * delivery.formant_scale for f in FRICATIVE_BANDS_HZ[consonant])
        high = min(high, 0.45 * sr)
        if stop - start < 8 or low >= high * 0.9:
            continue  # the band lies above this recording's Nyquist limit
        sos = _bandpass_sos(round(low, -1), round(high, -1), sr)
        burst = sps.sosfilt(sos, rng.normal(0, 1, stop - start))
        # Fricatives sit 10-20 dB below the vowels, as in speech.
        gain = level * rng.uniform(0.05, 0.12) * (0.5 if consonant == "h" else 1.0)
        out[start:stop] += gain * burst / (np.std(burst) + 1e-12) * sps.windows.tukey(stop - start, alpha=0.5)
    return out


def _active_spans(weights: np.ndarray, pad: int) -> list[tuple[int, int]]:
    """Runs where ``weights`` is not negligible, widened by ``pad`` samples on the left."""
    active = np.concatenate([[False], weights > 1e-4, [False]])
    edges = np.flatnonzero(np.diff(active.astype(np.int8)))
    return [(max(int(a) - pad, 0), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def synthesize(sentence: Sentence, delivery: Delivery, rng: np.random.Generator, sr: int) -> np.ndarray:
    """Render one dry utterance at ``sr`` (float64); voiced speech sits at the delivery's loudness."""
    timeline = _plan(sentence, delivery, rng, sr)
    source = _glottal_source(_pulse_train(timeline, delivery, rng, sr), timeline, delivery, rng, sr)
    voiced = np.zeros_like(source)
    for vowel, weights in timeline.vowel_weights.items():
        sos = _vocal_tract_sos(vowel, delivery.formant_scale, sr)
        # Filter only where this vowel sounds; the resonators settle within the weight's rise.
        for start, stop in _active_spans(weights, pad=int(0.005 * sr)):
            voiced[start:stop] += weights[start:stop] * sps.sosfilt(sos, source[start:stop])
    active = timeline.voicing > 0.5
    rms = np.sqrt(np.mean(voiced[active] ** 2)) if np.any(active) else 1.0
    target_rms = 10.0 ** ((REFERENCE_RMS_DBFS + delivery.loudness_db) / 20.0)
    voiced *= target_rms / max(rms, 1e-12)
    return voiced + _fricatives(timeline, delivery, rng, sr, level=target_rms)
