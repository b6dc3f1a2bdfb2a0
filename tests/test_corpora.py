"""Every corpus importer on a small tree of tones named by that corpus's documented convention,
with wrong names and unknown codes that must be skipped with a reason."""
from __future__ import annotations

import csv
import importlib
import json
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from specct.data.corpora import CORPORA, CorpusError, UnknownCorpusError, canonical_corpus_name, get_importer
from specct.core.labels import EMOTIONS
from specct.core.naming import parse_name
from specct.data.prepare import import_corpus


def write_tone(path: Path, sr: int = 16000, seconds: float = 0.2, channels: int = 1, freq: float = 220.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(sr * seconds)) / sr
    tone = 0.3 * np.sin(2 * np.pi * freq * t)
    sf.write(str(path), np.stack([tone] * channels, axis=1) if channels > 1 else tone, sr, subtype="PCM_16")
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# CaFE's folders as a macOS zip carries them (NFD: "e" + combining accent) and garbled by a wrong zip encoding
DEGOUT_NFD = unicodedata.normalize("NFD", "Dégoût")
assert DEGOUT_NFD != "Dégoût"
COLERE_GARBLED = "ColКre"
# TurEV-DB as cloned: filtered copies of test words, under the same names, outside "Sound Source"
TUREVDB_FILTERED_COPY = "Model Output for Test Data/testEmotions500HighPass/sound/Angry/1157_kz_acik.wav"

# corpus -> (good files: path -> (emotion, speaker, gender), bad files: path -> words expected in the reason)
CASES = {
    "EMODB": (
        {"03a01Fa.wav": ("happy", "03", "male"), "16b10Td.wav": ("sad", "16", "female"),
         "08a02Lb.wav": ("boredom", "08", "female"), "10a04Wc.wav": ("anger", "10", "male")},
        {"03a01Xa.wav": "unknown emotion code 'X'", "05a01Wa.wav": "unknown speaker '05'",
         "03-a01-Fa.wav": "does not fit"},
    ),
    "EMOVO": (
        {"f1/dis-f1-b1.wav": ("disgust", "f1", "female"), "m3/gio-m3-n5.wav": ("happy", "m3", "male"),
         "f2/rab-f2-l3.wav": ("anger", "f2", "female"), "m1/pau-m1-d2.wav": ("fearful", "m1", "male")},
        {"f1/xyz-f1-b1.wav": "unknown emotion code 'xyz'", "f1/dis_f1_b1.wav": "does not fit"},
    ),
    "RAVDESS": (
        {"Actor_01/03-01-05-01-02-01-01.wav": ("anger", "01", "male"),
         "Actor_02/03-01-02-02-01-02-02.wav": ("calm", "02", "female"),
         "03-01-08-01-01-01-24.wav": ("surprised", "24", "female")},  # flat layout
        {"Actor_01/03-02-03-01-01-01-01.wav": "song (vocal channel 02)",
         "Actor_01/03-01-09-01-01-01-01.wav": "unknown emotion code '09'",
         "Actor_01/01-01-03-01-01-01-01.wav": "not audio-only",
         "Actor_01/03-01-05-01.wav": "does not fit"},
    ),
    "TESS": (
        {"OAF_angry/OAF_back_angry.wav": ("anger", "OAF", "female"),
         "YAF_pleasant_surprised/YAF_dog_ps.wav": ("surprised", "YAF", "female"),
         "OAF_neutral/OA_bite_neutral.wav": ("neutral", "OAF", "female"),  # the corpus's own typo
         "YAF_fear/YAF_dog_fear.wav": ("fearful", "YAF", "female")},
        {"YAF_bored/YAF_dog_bored.wav": "unknown emotion code 'bored'", "OAF_back.wav": "does not fit",
         "XAF_back_sad.wav": "unknown speaker 'XAF'"},
    ),
    "SAVEE": (
        {"AudioData/DC/a01.wav": ("anger", "DC", "male"), "AudioData/KL/su15.wav": ("surprised", "KL", "male"),
         "AudioData/JK/sa02.wav": ("sad", "JK", "male"), "ALL/JE_sa03.wav": ("sad", "JE", "male"),
         "ALL/DC_f04.wav": ("fearful", "DC", "male")},
        {"AudioData/DC/x01.wav": "unknown emotion code 'x'", "AudioData/XY/a01.wav": "not a SAVEE speaker",
         "ALL/DC_f04_copy.wav": "does not fit",
         # the same recording in both layouts is imported once
         "AudioData/DC/f04.wav": "duplicate of ALL/DC_f04.wav"},
    ),
    "CREMAD": (
        {"AudioWAV/1001_DFA_ANG_XX.wav": ("anger", "1001", "male"),
         "AudioWAV/1002_IEO_HAP_HI.wav": ("happy", "1002", "female"),
         "AudioWAV/1003_TIE_SAD_LO.wav": ("sad", "1003", "unknown")},  # not in the demographics table
        {"AudioWAV/1001_DFA_SUR_XX.wav": "unknown emotion code 'SUR'",
         "AudioWAV/1001_ABC_ANG_XX.wav": "unknown sentence code 'ABC'",
         "AudioWAV/1001-DFA-ANG-XX.wav": "does not fit"},
    ),
    "IEMOCAP": (
        {"Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav": ("neutral", "01F", "female"),
         "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F001.wav": ("excited", "01F", "female"),
         "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_M000.wav": ("anger", "01M", "male"),
         "Session2/sentences/wav/Ses02M_script01_1/Ses02M_script01_1_F003.wav": ("frustration", "02F", "female")},
        {"Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_M001.wav": "no majority label (xxx)",
         "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F002.wav": "unknown emotion code 'zzz'",
         "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F004.wav": "no label line",
         "Session1/sentences/wav/Ses01F_impro01/notes.wav": "does not fit"},
    ),
    "ESD": (
        {"0011/Angry/0011_000351.wav": ("anger", "0011", "male"),
         "0015/Surprise/train/0015_001401.wav": ("surprised", "0015", "female"),
         "0001/Neutral/0001_000001.wav": ("neutral", "0001", "female")},
        {"0011/Bored/0011_000999.wav": "no emotion folder", "0011/Angry/0011-000352.wav": "does not fit",
         "0021/Angry/0021_000351.wav": "unknown speaker '0021'"},
    ),
    "SUBESCO": (
        {"F_01_OISHI_S_1_ANGRY_1.wav": ("anger", "F01", "female"),
         "M_10_RAKIB_S_10_SURPRISE_5.wav": ("surprised", "M10", "male"),
         "M_01_ANIK_S_3_FEAR_2.wav": ("fearful", "M01", "male")},
        {"F_01_OISHI_S_1_BORED_1.wav": "unknown emotion code 'BORED'", "F01_OISHI_ANGRY.wav": "does not fit"},
    ),
    "URDU": (
        {"Angry/SM1_F10_A010.wav": ("anger", "SM1", "male"), "Sad/SF3_F2_S05.wav": ("sad", "SF3", "female"),
         "Neutral/SM22_F7_N100.wav": ("neutral", "SM22", "male")},
        {"Happy/SM1_F10_X010.wav": "unknown emotion code 'X'", "Happy/SM1_F10_A011.wav": "disagrees with folder",
         "Angry/M1_F10_A010.wav": "does not fit"},
    ),
    "JTES": (
        {"wav/f01/ang/f01_ang_01.wav": ("anger", "f01", "female"), "wav/m50/joy/m50_joy_50.wav": ("happy", "m50", "male")},
        {"wav/f01/sur/f01_sur_01.wav": "unknown emotion code 'sur'", "wav/f01/ang/f1_ang_1.wav": "does not fit"},
    ),
    "MESD": (
        {"Anger_C_A_abajo.wav": ("anger", "C", "unknown"), "Happiness_F_B_casa.wav": ("happy", "F", "female"),
         "Sadness_M_A_adios.wav": ("sad", "M", "male")},
        {"Surprise_F_A_casa.wav": "unknown emotion code 'surprise'", "Anger_X_A_abajo.wav": "unknown voice type 'X'",
         "Anger-C-A-abajo.wav": "does not fit"},
    ),
    "OREAU": (
        {"OréauFR_01/m/sess1/01a01Ca.wav": ("anger", "m01", "male"),
         "OréauFR_01/f/sess2/12b02Ja.wav": ("happy", "f12", "female"),
         "03c03Tb.wav": ("sad", "03", "unknown")},  # outside an m/f folder
        {"OréauFR_01/m/sess1/01a01Xa.wav": "unknown emotion code 'X'", "OréauFR_01/m/sess1/1a01C.wav": "does not fit"},
    ),
    "EMOUERJ": (
        {"w04a11.wav": ("anger", "w04", "female"), "m01h01.wav": ("happy", "m01", "male"),
         "m02n05.wav": ("neutral", "m02", "male"), "w01s10.wav": ("sad", "w01", "female")},
        {"w04x11.wav": "unknown emotion code 'x'", "x04a11.wav": "does not fit"},
    ),
    "TUREVDB": (
        {"Sound Source/Angry/1157_kz_acik.wav": ("anger", "1157", "unknown"),
         "Sound Source/Calm/1234_sk_algi.wav": ("calm", "1234", "unknown"),
         "Sound Source/Happy/6783_mt_beste.wav": ("happy", "6783", "unknown"),
         "Sound Source/Sad/7895_hl_ogul1.wav": ("sad", "7895", "unknown")},
        {"Sound Source/Calm/1358_kz_cene.wav": "disagrees with folder 'Calm'",
         "Sound Source/Happy/1358_xx_cene.wav": "unknown emotion tag 'xx'",
         "Sound Source/Neutral/1358_hl_cene.wav": "not in an Angry, Calm, Happy or Sad folder",
         "Sound Source/Sad/1358-hl-cene.wav": "does not fit"},
    ),
    "ASED": (
        {"05Angry/a5-03-01-02-50.wav": ("anger", "50", "male"),
         "01Neutral/n1-01-02-01-05.wav": ("neutral", "05", "female"),
         "02Fearful/f2-06-02-02-55.wav": ("fearful", "55", "male"),
         "03Happy/h3-05-02-02-53.wav": ("happy", "53", "male"),
         "04Sad/S4-04-02-01-29.wav": ("sad", "29", "female")},  # upper-case letter, as in the corpus
        {"05Angry/x5-03-01-02-50.wav": "unknown emotion code 'x'",
         "05Angry/a4-03-01-02-50.wav": "goes with folder number 5",
         "04Sad/a5-03-01-02-51.wav": "disagrees with folder '04Sad'",
         "05Angry/a5-03-01-03-50.wav": "unknown gender code '03'",
         "05Angry/a5-03-01-02-66.wav": "unknown speaker '66'",
         "05Angry/a5-03-01-02.wav": "does not fit"},
    ),
    "CAFE": (
        {"Colère/Faible/01-C-1-1.wav": ("anger", "01", "male"),
         "Colère/Fort/02-C-2-3.wav": ("anger", "02", "female"),
         f"{DEGOUT_NFD}/Fort/07-D-2-6.wav": ("disgust", "07", "male"),
         "Joie/Faible/12-J-1-1.wav": ("happy", "12", "female"),
         "Neutre/03-N-1-6.wav": ("neutral", "03", "male"),       # 48 kHz release: intensity 1
         "Neutre/06-N-4.aiff": ("neutral", "06", "female"),      # 192 kHz release: AIFF, no intensity
         "Peur/Fort/05-P-2-4.wav": ("fearful", "05", "male"),
         "Surprise/Faible/08-S-1-1.wav": ("surprised", "08", "female"),
         "Tristesse/Fort/09-T-2-2.wav": ("sad", "09", "male"),
         f"{COLERE_GARBLED}/Fort/04-C-2-5.wav": ("anger", "04", "female")},  # unrecognised folder: name alone
        {"Colère/Faible/01-J-1-2.wav": "emotion letter 'J' disagrees with folder 'Colère'",
         f"{DEGOUT_NFD}/Faible/01-C-1-3.wav": "emotion letter 'C' disagrees with folder",
         "Joie/Fort/01-J-1-3.wav": "intensity 1 disagrees with folder 'Fort'",
         "Joie/Faible/01-X-1-1.wav": "unknown emotion code 'X'",
         "Peur/Fort/13-P-2-1.wav": "unknown actor '13'",
         "Peur/01-P-2.wav": "no intensity field",
         "Tristesse/Fort/01_T_2_1.wav": "does not fit"},
    ),
    "SHEMO": (
        {"female/F03S02.wav": ("sad", "F03", "female"), "male/M03A46.wav": ("anger", "M03", "male"),
         "female/F26F02.wav": ("fearful", "F26", "female"), "male/M12W09.wav": ("surprised", "M12", "male"),
         "male/M04N80.wav": ("neutral", "M04", "male"), "female/F01H05.wav": ("happy", "F01", "female")},
        {"female/M05N09.wav": "disagrees with folder 'female'", "male/M05X09.wav": "unknown emotion code 'X'",
         "male/X05N09.wav": "unknown gender letter 'X'", "male/M5N09.wav": "does not fit"},
    ),
    "AESDD": (
        {"anger/a03 (4).wav": ("anger", "4", "unknown"), "fear/f18 (5).wav": ("fearful", "5", "unknown"),
         "fear/f18 (5)b.wav": ("fearful", "5", "unknown"),          # a second take
         "fear/f12 (01).wav": ("fearful", "1", "unknown"),          # speaker written with a leading zero
         "disgust/d19 (3).wav": ("disgust", "3", "unknown"), "happiness/h03 (1).wav": ("happy", "1", "unknown"),
         "sadness/s01 (5)a.wav": ("sad", "5", "unknown")},
        {"sadness/a01 (2).wav": "disagrees with folder 'sadness'", "anger/x01 (2).wav": "unknown emotion code 'x'",
         "anger/a01.wav": "does not fit",
         "fear/f12 (1).wav": "duplicate of fear/f12 (01).wav"},  # (1) and (01) are the same speaker
    ),
}

IEMOCAP_LABELS = {
    "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt": [
        ("Ses01F_impro01_F000", "neu"), ("Ses01F_impro01_F001", "exc"), ("Ses01F_impro01_M000", "ang"),
        ("Ses01F_impro01_M001", "xxx"), ("Ses01F_impro01_F002", "zzz")],
    "Session2/dialog/EmoEvaluation/Ses02M_script01_1.txt": [("Ses02M_script01_1_F003", "fru")],
}


def write_side_files(corpus: str, root: Path) -> None:
    """The files some corpora keep beside the audio: CREMA-D demographics, IEMOCAP label files."""
    if corpus == "CREMAD":
        (root / "VideoDemographics.csv").write_text(
            "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n1002,21,Female,Caucasian,Not Hispanic\n")
    if corpus == "IEMOCAP":
        for rel, entries in IEMOCAP_LABELS.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
            for i, (utt, code) in enumerate(entries):
                lines += [f"[{i + 1.5:.4f} - {i + 2.75:.4f}]\t{utt}\t{code}\t[2.5000, 3.0000, 2.5000]",
                          "C-E1:\tNeutral;\t()", "A-E1:\tval 3; act 2; dom  2;\t()", ""]
            path.write_text("\n".join(lines))
    if corpus == "TUREVDB":
        write_tone(root / TUREVDB_FILTERED_COPY, sr=44100)


def build_tree(corpus: str, root: Path) -> Path:
    good, bad = CASES[corpus]
    for rel in [*good, *bad]:
        write_tone(root / rel)
    write_side_files(corpus, root)
    return root


def test_every_corpus_has_a_case():
    assert set(CASES) == set(CORPORA)


@pytest.mark.parametrize("module", ["emodb", "emovo", "ravdess", "tess", "savee", "cremad", "iemocap", "esd",
                                    "subesco", "urdu", "jtes", "mesd", "oreau", "emouerj",
                                    "turevdb", "ased", "cafe", "shemo", "aesdd"])
def test_label_maps_use_canonical_emotions(module):
    emotions = importlib.import_module(f"specct.data.corpora.{module}").EMOTIONS
    assert set(emotions.values()) <= set(EMOTIONS), set(emotions.values()) - set(EMOTIONS)


@pytest.mark.parametrize("corpus", sorted(CASES))
def test_importer_on_conventional_names(corpus, tmp_path):
    source = build_tree(corpus, tmp_path / "source")
    summary = import_corpus(corpus.lower(), source, tmp_path / "datasets", progress=False)
    good, bad = CASES[corpus]

    rows = {Path(r["source"]).relative_to(source.resolve()).as_posix(): r
            for r in read_csv(tmp_path / "datasets" / corpus / "manifest.csv")}
    assert set(rows) == set(good)
    for rel, (emotion, speaker, gender) in good.items():
        row = rows[rel]
        assert (row["emotion"], row["speaker"], row["gender"]) == (emotion, speaker, gender), rel
        name = parse_name(row["file"])
        assert (name.emotion, name.corpus, name.speaker) == (emotion, corpus, speaker)
        assert (tmp_path / "datasets" / corpus / f"{corpus}_wav" / row["file"]).is_file()

    skipped = {r["file"]: r["reason"] for r in read_csv(tmp_path / "datasets" / corpus / "skipped.csv")}
    assert set(skipped) == set(bad)
    for rel, words in bad.items():
        assert words in skipped[rel], (rel, skipped[rel])
        assert "\n" not in skipped[rel]
    assert (summary.imported, summary.skipped) == (len(good), len(bad))


def test_iemocap_merge_excited(tmp_path):
    source = build_tree("IEMOCAP", tmp_path / "source")
    summary = import_corpus("IEMOCAP", source, tmp_path / "datasets", progress=False, merge_excited=True)
    assert "excited" not in summary.per_emotion
    assert summary.per_emotion["happy"] == 1
    assert (tmp_path / "datasets/IEMOCAP/IEMOCAP_wav/happy_IEMOCAP_01F_Ses01F_impro01_F001.wav").is_file()


def test_changed_labelling_replaces_earlier_wavs(tmp_path):
    source = build_tree("IEMOCAP", tmp_path / "source")
    wav_dir = tmp_path / "datasets/IEMOCAP/IEMOCAP_wav"
    import_corpus("IEMOCAP", source, tmp_path / "datasets", progress=False)
    assert (wav_dir / "excited_IEMOCAP_01F_Ses01F_impro01_F001.wav").is_file()
    summary = import_corpus("IEMOCAP", source, tmp_path / "datasets", progress=False, merge_excited=True)
    assert summary.relabelled == 1 and summary.imported == 4
    assert not (wav_dir / "excited_IEMOCAP_01F_Ses01F_impro01_F001.wav").exists()
    assert len(list(wav_dir.iterdir())) == 4
    rows = read_csv(tmp_path / "datasets/IEMOCAP/manifest.csv")
    assert sorted(r["emotion"] for r in rows) == ["anger", "frustration", "happy", "neutral"]


def test_aesdd_stems_carry_utterance_and_take(tmp_path):
    source = build_tree("AESDD", tmp_path / "source")
    import_corpus("aesdd", source, tmp_path / "datasets", progress=False)
    names = sorted(p.name for p in (tmp_path / "datasets/AESDD/AESDD_wav").iterdir())
    assert "fearful_AESDD_5_f18.wav" in names and "fearful_AESDD_5_f18b.wav" in names
    assert "fearful_AESDD_1_f12.wav" in names and "sad_AESDD_5_s01a.wav" in names


def test_turevdb_reads_only_sound_source(tmp_path):
    """The cloned repository's filtered copies share the real files' names; they are never imported."""
    source = build_tree("TUREVDB", tmp_path / "source")
    import_corpus("TurEV-DB", source, tmp_path / "datasets", progress=False)
    sources = [r["source"] for r in read_csv(tmp_path / "datasets/TUREVDB/manifest.csv")]
    assert all("/Sound Source/" in s for s in sources)
    assert not any("Model Output" in s for s in sources)
    # pointed at "Sound Source" itself, the same files are read
    summary = import_corpus("turevdb", source / "Sound Source", tmp_path / "direct", progress=False)
    assert summary.imported == len(CASES["TUREVDB"][0])


@pytest.mark.parametrize("corpus, calm_file", [
    ("TUREVDB", "neutral_TUREVDB_1234_1234_sk_algi.wav"),
    ("RAVDESS", "neutral_RAVDESS_02_03-01-02-02-01-02-02.wav")])
def test_merge_calm_is_explicit_and_recorded(corpus, calm_file, tmp_path):
    source = build_tree(corpus, tmp_path / "source")
    datasets = tmp_path / "datasets"
    options_file = datasets / corpus / "import_options.json"

    summary = import_corpus(corpus, source, datasets, progress=False)
    assert summary.per_emotion["calm"] == 1 and "--merge_calm off" in str(summary)
    assert json.loads(options_file.read_text()) == {"corpus": corpus, "options": {"merge_calm": False}}

    summary = import_corpus(corpus, source, datasets, progress=False, merge_calm=True)
    assert "calm" not in summary.per_emotion and summary.relabelled == 1
    assert "--merge_calm on" in str(summary)
    assert (datasets / corpus / f"{corpus}_wav" / calm_file).is_file()
    assert not any(p.name.startswith("calm_") for p in (datasets / corpus / f"{corpus}_wav").iterdir())
    assert json.loads(options_file.read_text())["options"] == {"merge_calm": True}


def test_iemocap_without_label_files_is_an_argument_error(tmp_path):
    write_tone(tmp_path / "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav")
    with pytest.raises(CorpusError, match="EmoEvaluation"):
        import_corpus("iemocap", tmp_path, tmp_path / "datasets", progress=False)


def test_option_of_another_corpus_is_refused(tmp_path):
    with pytest.raises(CorpusError, match="merge_excited"):
        import_corpus("emodb", tmp_path, tmp_path / "datasets", progress=False, merge_excited=True)
    with pytest.raises(CorpusError, match="CAFE does not take --merge_calm"):
        import_corpus("cafe", tmp_path, tmp_path / "datasets", progress=False, merge_calm=True)


@pytest.mark.parametrize("spelling, expected", [("emodb", "EMODB"), ("EmoDB", "EMODB"), ("emo-db", "EMODB"),
                                                ("crema-d", "CREMAD"), ("CREMA_D", "CREMAD"), ("cremad", "CREMAD"),
                                                ("Oréau", "OREAU"), ("emouerj", "EMOUERJ"), ("emoUERJ", "EMOUERJ"),
                                                ("TurEV-DB", "TUREVDB"), ("turevdb", "TUREVDB"), ("ASED", "ASED"),
                                                ("CaFE", "CAFE"), ("ShEMO", "SHEMO"), ("aesdd", "AESDD")])
def test_corpus_names_are_case_insensitive(spelling, expected):
    assert canonical_corpus_name(spelling) == expected
    assert get_importer(spelling).name == expected


def test_unknown_corpus_names_the_supported_ones():
    with pytest.raises(UnknownCorpusError, match="supported: .*EMODB.*RAVDESS"):
        canonical_corpus_name("emodbx")
