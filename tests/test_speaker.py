"""Speaker embeddings and their PCA, on real EmoDB and RAVDESS speech (a per-speaker subset, embedded once)."""
from __future__ import annotations

import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from specct.audio import loading as audio
from specct.core import paths
from specct.data import speaker
from specct.core.naming import parse_name
from script_helpers import load_script, one_line_error

pytestmark = pytest.mark.shared

FILES_PER_SPEAKER = {"EMODB": 5, "RAVDESS": 8}
REPO_ROOT = Path(__file__).resolve().parents[1]



def link_wavs(source_root: Path, target_root: Path, per_speaker: dict[str, int] | None = None) -> None:
    """A datasets folder whose wav folders link to the imported files (optionally a few per speaker)."""
    for corpus in paths.list_corpora(source_root):
        wavs = sorted(paths.wav_dir(source_root, corpus).glob("*.wav"))
        if per_speaker:
            by_speaker = defaultdict(list)
            for wav in wavs:
                by_speaker[parse_name(wav).speaker].append(wav)
            wavs = [w for group in by_speaker.values() for w in group[:per_speaker[corpus]]]
        out = paths.wav_dir(target_root, corpus)
        out.mkdir(parents=True)
        for wav in wavs:
            (out / wav.name).symlink_to(wav.resolve())


def copy_datasets(source_root: Path, target_root: Path) -> Path:
    """A private copy of a small datasets folder (wav links stay links), for tests that change it."""
    shutil.copytree(source_root, target_root, symlinks=True)
    return target_root


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Threads that wait on each other make the encoder several times slower on a busy 2-core machine."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def embedded(tmp_path_factory, real_datasets) -> Path:
    """EmoDB (5 files per speaker) and RAVDESS (8 per actor), embedded once for the session."""
    root = tmp_path_factory.mktemp("embedded_subset")
    link_wavs(real_datasets, root, FILES_PER_SPEAKER)
    summaries = speaker.embed_corpora(root, progress=False, threads=1)   # one thread: faster on a busy machine
    assert [s.corpus for s in summaries] == ["EMODB", "RAVDESS"]
    return root


def test_embeddings_are_256d_unit_norm_and_cover_every_wav(embedded):
    for corpus in ("EMODB", "RAVDESS"):
        vectors = speaker.load_embeddings(embedded, corpus)
        wavs = {w.stem for w in paths.wav_dir(embedded, corpus).glob("*.wav")}
        assert set(vectors) == wavs
        matrix = np.stack(list(vectors.values()))
        assert matrix.shape == (len(wavs), 256) and matrix.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)
        # different utterances give different vectors
        assert len({row.tobytes() for row in matrix}) == len(wavs)


def test_utterances_are_closer_to_their_own_speaker(embedded):
    for corpus in ("EMODB", "RAVDESS"):
        vectors = speaker.load_embeddings(embedded, corpus)
        names = sorted(vectors)
        matrix = np.stack([vectors[n] for n in names])
        spk = np.array([parse_name(n).speaker for n in names])
        sims = matrix @ matrix.T
        same = spk[:, None] == spk[None, :]
        np.fill_diagonal(same, False)
        other = spk[:, None] != spk[None, :]
        within = (sims * same).sum(1) / same.sum(1)
        across = (sims * other).sum(1) / other.sum(1)
        assert within.mean() > across.mean() + 0.05, corpus
        assert (within > across).mean() >= 0.9, corpus


def test_batched_embedding_equals_resemblyzer_per_utterance(embedded):
    wavs = sorted(paths.wav_dir(embedded, "EMODB").glob("*.wav"))[:4]
    prepared = [speaker.prepare_for_encoder(audio.load_trimmed(w)) for w in wavs]
    encoder = speaker.get_encoder("cpu")
    expected = np.stack([encoder.embed_utterance(p) for p in prepared])
    np.testing.assert_allclose(speaker.embed_prepared(prepared), expected, atol=1e-5)


def test_embed_signal_reproduces_the_stored_vector(embedded):
    """Prediction embeds a new file with embed_signal; it must match what training used."""
    wav = sorted(paths.wav_dir(embedded, "RAVDESS").glob("*.wav"))[3]
    stored = speaker.load_embeddings(embedded, "RAVDESS")[wav.stem]
    np.testing.assert_allclose(speaker.embed_signal(audio.load_trimmed(wav)), stored, atol=1e-5)


def test_embeddings_for_wavs_finds_vectors_and_names_a_missing_one(embedded, tmp_path):
    wavs = sorted(paths.wav_dir(embedded, "EMODB").glob("*.wav"))[:3]
    stored = speaker.load_embeddings(embedded, "EMODB")
    np.testing.assert_array_equal(speaker.embeddings_for_wavs(wavs), np.stack([stored[w.stem] for w in wavs]))
    stranger = paths.wav_dir(embedded, "EMODB") / "anger_EMODB_03_not-embedded.wav"
    with pytest.raises(speaker.MissingEmbeddingError, match="anger_EMODB_03_not-embedded.wav"):
        speaker.embeddings_for_wavs([wavs[0], stranger])


def test_resume_embeds_only_missing_files_and_drops_stale_ones(embedded, tmp_path):
    root = copy_datasets(embedded, tmp_path / "datasets")
    before = speaker.load_embeddings(root, "RAVDESS")
    removed = sorted(before)[:2]
    kept = {n: v for n, v in before.items() if n not in removed}
    kept["neutral_RAVDESS_01_file-that-was-deleted"] = np.ones(256, np.float32) / 16
    speaker.write_embeddings_file(speaker.embeddings_path(root, "RAVDESS"), kept)

    summary = speaker.embed_corpus(root, "RAVDESS", progress=False)
    assert (summary.embedded, summary.reused, summary.pruned, summary.skipped) == (2, len(before) - 2, 1, 0)
    after = speaker.load_embeddings(root, "RAVDESS")
    assert set(after) == set(before)
    for name in before:
        if name in removed:
            np.testing.assert_allclose(after[name], before[name], atol=1e-5)
        else:
            np.testing.assert_array_equal(after[name], before[name])   # untouched, not recomputed

    again = speaker.embed_corpus(root, "RAVDESS", progress=False)
    assert again.embedded == 0 and again.reused == len(before)


def test_killed_embedding_resumes_from_its_checkpoint_without_re_embedding(embedded, tmp_path, monkeypatch):
    """The shared vector loop (specct.data.vectors) under the speaker encoder: a run killed after two
    batches has saved them; the rerun embeds only the rest and gives the vectors of a clean run."""
    from specct.data import vectors

    root = copy_datasets(embedded, tmp_path / "datasets")
    clean = speaker.load_embeddings(root, "RAVDESS")
    speaker.embeddings_path(root, "RAVDESS").unlink()
    monkeypatch.setattr(vectors, "CHECKPOINT_SECONDS", 0.0)   # checkpoint after every batch
    real, batches = speaker.embed_prepared, []

    def dies_on_third_batch(prepared, device="cpu"):
        if len(batches) == 2:
            raise KeyboardInterrupt("killed")
        batches.append(len(prepared))
        return real(prepared, device)

    monkeypatch.setattr(speaker, "embed_prepared", dies_on_third_batch)
    with pytest.raises(KeyboardInterrupt):
        speaker.embed_corpus(root, "RAVDESS", batch_size=3, progress=False)
    saved = speaker.load_embeddings(root, "RAVDESS")
    assert list(saved) == sorted(clean)[:6]                      # two batches of three, on disk

    def counted(prepared, device="cpu"):
        batches.append(len(prepared))
        return real(prepared, device)

    batches.clear()
    monkeypatch.setattr(speaker, "embed_prepared", counted)
    summary = speaker.embed_corpus(root, "RAVDESS", batch_size=3, progress=False)
    assert (summary.embedded, summary.reused, summary.skipped) == (len(clean) - 6, 6, 0)
    assert sum(batches) == len(clean) - 6                        # the saved six were not embedded again
    after = speaker.load_embeddings(root, "RAVDESS")
    assert list(after) == sorted(clean)
    for name in sorted(clean)[:6]:
        np.testing.assert_array_equal(after[name], saved[name])
    for name in clean:
        np.testing.assert_allclose(after[name], clean[name], atol=1e-5)
    skipped = (paths.speaker_dir(root, "RAVDESS") / "skipped.csv").read_text().splitlines()
    assert skipped == ["file,reason"]


def test_bad_audio_is_skipped_with_a_reason(embedded, tmp_path):
    root = tmp_path / "datasets"
    wav_folder = paths.wav_dir(root, "BAD")
    wav_folder.mkdir(parents=True)
    good = sorted(paths.wav_dir(embedded, "EMODB").glob("*.wav"))[0]
    shutil.copy(good.resolve(), wav_folder / "anger_BAD_01_good.wav")
    audio.write_wav(wav_folder / "anger_BAD_01_silent.wav", np.zeros(16000, np.float32), 16000)
    rng = np.random.default_rng(0)
    audio.write_wav(wav_folder / "anger_BAD_01_short.wav", 0.3 * rng.standard_normal(800).astype(np.float32), 16000)
    (wav_folder / "anger_BAD_01_empty.wav").write_bytes(b"")

    summary = speaker.embed_corpus(root, "BAD", progress=False)
    assert (summary.embedded, summary.skipped) == (1, 3)
    assert list(speaker.load_embeddings(root, "BAD")) == ["anger_BAD_01_good"]
    skipped = (paths.speaker_dir(root, "BAD") / "skipped.csv").read_text().splitlines()
    assert skipped[0] == "file,reason"
    reasons = dict(line.split(",", 1) for line in skipped[1:])
    assert "silent" in reasons["anger_BAD_01_silent.wav"]
    assert "too short" in reasons["anger_BAD_01_short.wav"]
    assert "empty" in reasons["anger_BAD_01_empty.wav"]


def test_pca_with_emodb_held_out_ignores_emodb(embedded, tmp_path):
    root = copy_datasets(embedded, tmp_path / "datasets")
    corpora = speaker.pca_corpora_for(root, "EMODB", fit_on_all=False)
    assert corpora == ["RAVDESS"]
    before = speaker.fit_pca_on_corpora(root, corpora, n_components=16)
    leaky_before = speaker.fit_pca_on_corpora(root, speaker.pca_corpora_for(root, "EMODB", True), 16)

    rng = np.random.default_rng(1)
    changed = {n: v / np.linalg.norm(v) for n, v in
               ((n, rng.standard_normal(256).astype(np.float32)) for n in speaker.load_embeddings(root, "EMODB"))}
    speaker.write_embeddings_file(speaker.embeddings_path(root, "EMODB"), changed)

    after = speaker.fit_pca_on_corpora(root, speaker.pca_corpora_for(root, "EMODB", False), 16)
    np.testing.assert_array_equal(after.mean, before.mean)
    np.testing.assert_array_equal(after.components, before.components)
    assert after.corpora == ["RAVDESS"]
    # the paper's choice does see the test corpus: the same change moves it
    leaky_after = speaker.fit_pca_on_corpora(root, speaker.pca_corpora_for(root, "EMODB", True), 16)
    assert not np.allclose(leaky_after.mean, leaky_before.mean)


def test_pca_save_load_project_and_capping(tmp_path):
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((40, 256)).astype(np.float32)
    pca = speaker.fit_pca(vectors, n_components=256, corpora=["ravdess", "EMODB"])
    assert pca.n_components == 40        # capped at the number of vectors
    assert pca.corpora == ["EMODB", "RAVDESS"]
    small = speaker.fit_pca(vectors, n_components=8)
    assert small.components.shape == (8, 256)
    from sklearn.decomposition import PCA

    reference = PCA(n_components=8, svd_solver="full").fit(vectors.astype(np.float64))
    np.testing.assert_allclose(speaker.project(vectors, small), reference.transform(vectors), atol=1e-4)

    path = speaker.save_pca(speaker.default_pca_path(tmp_path, small.n_components, ["RAVDESS", "EMODB"]), small)
    assert path.name == "pca8_EMODB+RAVDESS.npz"
    loaded = speaker.load_pca(path)
    np.testing.assert_array_equal(loaded.mean, small.mean)
    np.testing.assert_array_equal(loaded.components, small.components)
    np.testing.assert_array_equal(loaded.explained_variance_ratio, small.explained_variance_ratio)
    assert loaded.corpora == small.corpora
    with np.load(path, allow_pickle=False) as data:   # the documented keys, loadable without pickle
        assert {"mean", "components", "corpora", "explained_variance_ratio"} <= set(data.files)
    with pytest.raises(ValueError, match="at least two"):
        speaker.fit_pca(vectors[:1])


def test_embedding_script_fits_named_pca_warns_on_fit_on_all_and_draws_maps(embedded, tmp_path, capsys):
    preprocess_embedding = load_script("preprocess_embedding")
    root = copy_datasets(embedded, tmp_path / "datasets")
    encoder_dir, images_dir = tmp_path / "encoder", tmp_path / "images"
    common = ["--datasets_dir", str(root), "--encoder_dir", str(encoder_dir), "--n_components", "32"]
    preprocess_embedding.main(common + ["--eval_dataset", "EMODB", "--save_2D_embed_compare",
                                        "--images_dir", str(images_dir)])
    out = capsys.readouterr().out
    assert "0 embedded" in out                                   # resumed: nothing left to embed
    pca = speaker.load_pca(encoder_dir / "pca32_RAVDESS.npz")
    assert pca.corpora == ["RAVDESS"] and pca.n_components == 32
    for corpus in ("EMODB", "RAVDESS"):
        png = images_dir / f"speakers_2d_{corpus}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    preprocess_embedding.main(common + ["--fit_on_all"])
    assert "leaks test information" in capsys.readouterr().out
    assert speaker.load_pca(encoder_dir / "pca32_EMODB+RAVDESS.npz").corpora == ["EMODB", "RAVDESS"]
    one_line_error(capsys, lambda: preprocess_embedding.main(common + ["--eval_dataset", "NOPE"]),
                   "^preprocess_embedding.py: error: .*--eval_dataset NOPE not imported")


def test_embedding_script_refuses_missing_corpora_before_embedding(tmp_path, monkeypatch, capsys):
    preprocess_embedding = load_script("preprocess_embedding")
    one_line_error(capsys, lambda: preprocess_embedding.main(["--datasets_dir", str(tmp_path / "missing")]),
                   "no corpora in .*missing")
    (tmp_path / "datasets" / "ONE" / "ONE_wav").mkdir(parents=True)
    monkeypatch.setattr(speaker, "embed_corpora", lambda *a, **k: pytest.fail("embedded before checking"))
    one_line_error(capsys, lambda: preprocess_embedding.main(
        ["--datasets_dir", str(tmp_path / "datasets"), "--eval_dataset", "NOPE"]), "--eval_dataset NOPE not imported")


def test_default_threads_leave_headroom_on_the_available_cores(monkeypatch, tmp_path):
    from specct.core import threads

    monkeypatch.setattr(threads, "CGROUP_CPU_MAX", tmp_path / "no-quota")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    for cores, expected in [({0}, 1), ({0, 1}, 1), ({0, 1, 2}, 1), (set(range(8)), 4), (set(range(16)), 8)]:
        monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid, cores=cores: cores, raising=False)
        assert threads.default_threads() == expected
    quota = tmp_path / "cpu.max"
    for text, limit in [("max 100000\n", None), ("200000 100000\n", 2), ("150000 100000\n", 2), ("5000 100000", 1)]:
        quota.write_text(text)
        assert threads.cgroup_cpu_limit(quota) == limit
    monkeypatch.setattr(threads, "CGROUP_CPU_MAX", quota)   # a quota tighter than the affinity wins
    quota.write_text("200000 100000\n")
    assert threads.available_cores() == 2 and threads.default_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")   # the user's own setting is kept
    assert threads.default_threads() == 3


@pytest.mark.parametrize("flag, expected", [([], 3), (["--threads", "5"], 5)])
def test_embedding_runs_with_the_default_threads_unless_threads_is_given(flag, expected, tmp_path, monkeypatch):
    """The encoder runs under default_threads() (6 cores -> 3), --threads overrides it, and torch's
    own setting is restored afterwards."""
    import torch

    from specct.core import threads
    from specct.data.vectors import VectorSummary

    monkeypatch.setattr(threads, "available_cores", lambda: 6)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    (tmp_path / "DEMOA" / "DEMOA_wav").mkdir(parents=True)
    seen = []

    def fake_embed(datasets_dir, corpus, *args):
        seen.append(torch.get_num_threads())
        return VectorSummary(corpus)

    monkeypatch.setattr(speaker, "embed_corpus", fake_embed)
    before = torch.get_num_threads()
    load_script("preprocess_embedding").main(["--datasets_dir", str(tmp_path), *flag])
    assert seen == [expected]
    assert torch.get_num_threads() == before
