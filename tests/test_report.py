"""The report a paper can use and a reader can trust: a baseline and a CCT, leave-one-corpus-out
and pairwise, on the demo corpora, rendered and read back in headless Chromium with the network off;
then the same experiment renamed (a system called ``<script>alert(1)</script>``) and without its
pairwise protocol. The verdict, LaTeX and breakdown helpers on their own, on made-up tables."""
from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from PIL import Image

from test_loco import BROWSER_FLAGS, assert_self_contained, browser
from training_fixtures import TINY_SIZE

from specct import loco

HOSTILE = "<script>alert(1)</script>"
HELD_OUT = ["DEMOA", "DEMOB"]
TRAIN_FLAGS = ["--input-size", "3", str(TINY_SIZE), str(TINY_SIZE), "--epochs", "1", "--max-steps", "1",
               "--batch-size", "8", "--no-progress", "--model_kwargs", "depth=1"]
# the order a paper uses
PAPER_ORDER = ["Verdict", "Protocol", "Results (leave-one-corpus-out)", "Comparison with the reference",
               "Two views of the same corpora: leave-one-corpus-out and the one-to-one matrix", "Recall per class",
               "UAR by gender and by speaker", "Confusion matrices", "Calibration", "Training curves",
               "Where the image models look", "Speaker embeddings", "Rows used", "Transductive normalisation",
               "Reproduction"]

DOM_CHECK = """<script>
window.addEventListener('load', () => {
  const verdict = document.getElementById('verdict');
  const found = {
    headings: [...document.querySelectorAll('h2')].map(h => h.textContent),
    verdict: verdict ? verdict.textContent : null,
    text: document.body.innerText,
    scripts: document.scripts.length,
    images: [...document.images].map(i => [i.complete, i.naturalWidth, i.naturalHeight, i.alt]),
    shown: [...document.images].map(i => [i.alt, i.getBoundingClientRect().width]),
    requests: performance.getEntriesByType('resource').map(e => e.name),
  };
  const out = document.createElement('pre');
  out.id = 'dom-check';
  out.textContent = JSON.stringify(found);
  document.body.appendChild(out);
});
</script>"""


WINDOW_PX = 1400    # a laptop's browser window, at 100% zoom


def render(report: Path, tmp_path: Path) -> dict:
    """The report (with the DOM check added) loaded in headless Chromium, network off, in a window
    WINDOW_PX wide; what it held."""
    page = tmp_path / "page.html"
    page.write_text(report.read_text().replace("</body>", DOM_CHECK + "</body>"))
    done = subprocess.run([browser(), *BROWSER_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                           f"--window-size={WINDOW_PX},1000", page.as_uri()], capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<pre id="dom-check">(.*?)</pre>', done.stdout, re.S)
    assert found, f"the page did not finish loading: {done.stdout[-500:]}"
    return json.loads(html.unescape(found.group(1)))


@pytest.fixture(scope="module")
def baseline_and_cct(demo_split, tmp_path_factory) -> Path:
    """resemblyzer_svm (reads the speaker vectors) against a plain CCT (does not), both protocols."""
    root = tmp_path_factory.mktemp("report")
    (root / "systems.yml").write_text("name: both\nreference: resemblyzer_svm\nsystems:\n"
                                      "  - {name: resemblyzer_svm, model: resemblyzer_svm, flags: {svm_c: 1.0}}\n"
                                      "  - {name: cct, model: cct_7_7x2_112}\n")
    argv = ["--datasets_dir", str(demo_split.datasets), "--datasets", *HELD_OUT, "--experiment",
            str(root / "systems.yml"), "--protocol", "loco", "pairwise", "--folds", "2", "--bootstrap", "100",
            "--data_dir", str(root / "data"), "--output", str(root / "output"), *TRAIN_FLAGS]
    assert loco.main(argv) == 0
    yield root / "output" / "loco" / "both"
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_the_report_of_a_baseline_and_a_cct_reads_true_in_a_browser(baseline_and_cct, tmp_path):
    from specct.report.document import write_report

    folder = baseline_and_cct
    report, markdown = write_report(folder)
    assert_self_contained(report.read_text())
    dom = render(report, tmp_path)
    assert dom["requests"] == []                                   # nothing fetched
    assert dom["headings"] == PAPER_ORDER
    results = pd.read_csv(folder / loco.RESULTS_CSV)
    means = results[results["held_out"] == "mean"].set_index("system")["uar"]
    best = means.idxmax()
    verdict = dom["verdict"]
    assert verdict.startswith(f"By the mean over 2 held-out corpora (DEMOA, DEMOB), the best system is {best}")
    assert "Chance level is a UAR of 0.250 (1/4; classes: anger, happy, neutral, sad)" in verdict
    comparison = pd.read_csv(folder / loco.COMPARISON_CSV).set_index(["system", "held_out"])
    row = comparison.loc[("cct", "mean")]
    assert f"{row['difference']:+.3f} (95% CI {row['ci_low']:+.3f} to {row['ci_high']:+.3f}, p = " in verdict
    assert ("Real differences" in verdict) == bool(row["significant"])
    # every image decoded: heatmap, 2 pairwise matrices, 4 confusion matrices, the reliability diagram,
    # the CCT's 2 curves (the baseline has none), its 2 saliency maps, 3 speaker maps (the baseline reads them)
    assert all(complete and w > 0 and h > 0 for complete, w, h, _ in dom["images"])
    alts = [alt for *_, alt in dom["images"]]
    assert len(alts) == 1 + 2 + 4 + 1 + 2 + 2 + 3
    assert sum(a.startswith("cct, held out") for a in alts) == 2
    assert not any("resemblyzer_svm, held out" in a for a in alts)
    assert "not finished" not in dom["text"]                        # every job finished
    assert "fitted without epochs, so no curves" in dom["text"]
    assert "validation on the whole of" in dom["text"]              # the split's own record: a corpus
    assert "Systems that read a speaker vector: resemblyzer_svm." in dom["text"]
    # per class, by gender and by speaker, calibration
    text = markdown.read_text()
    assert "| system | held-out corpus | recall anger | recall happy | recall neutral | recall sad |" in text
    assert "| system | held-out corpus | UAR female | UAR male | gap (best - worst) |" in text
    assert "worst speaker" in text and "| ECE |" in text
    groups = pd.read_csv(folder / "groups.csv")
    assert set(groups["kind"]) == {"gender", "speaker"} and groups["uar"].between(0, 1).all()
    # every figure for the paper: a 300 dpi PNG and an SVG in figures/
    pngs = sorted((folder / "figures").glob("*.png"))
    assert len(pngs) == len(alts)
    for png in pngs:
        assert png.with_suffix(".svg").is_file(), png
    with Image.open(pngs[0]) as image:
        assert image.info["dpi"][0] == pytest.approx(300, abs=1)
    latex = (folder / "results.tex").read_text()
    assert r"\toprule" in latex and r"resemblyzer\_svm" in latex and r"\bottomrule" in latex
    assert r"\midrule" in (folder / "comparison.tex").read_text()


def rename_system(folder: Path, to: Path, old: str, new: str) -> Path:
    """A loco-only copy of an experiment in which system ``old`` is called ``new`` (the job folders
    linked, not copied; a name with a slash gets a nested link)."""
    to.mkdir(parents=True)
    for name in ("results.csv", "comparison.csv", "jobs.csv"):
        (to / name).write_text((folder / name).read_text().replace(old, new))
    jobs = pd.read_csv(to / "jobs.csv")
    jobs[jobs["protocol"] == "loco"].to_csv(to / "jobs.csv", index=False)
    record = yaml.safe_load((folder / loco.EXPERIMENT_FILE).read_text())
    record["options"]["protocols"] = ["loco"]
    record["options"]["reference"] = new
    for system in record["options"]["systems"]:
        if system["name"] == old:
            system["name"] = new
    (to / loco.EXPERIMENT_FILE).write_text(yaml.safe_dump(record))
    for system in (folder / "jobs" / "loco").iterdir():
        link = to / "jobs" / "loco" / (new if system.name == old else system.name)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(system, target_is_directory=True)
    return to


@pytest.mark.slow
def test_markup_in_a_name_shows_as_text_and_no_pairwise_means_no_pairwise_heading(baseline_and_cct, tmp_path):
    from specct.report.document import write_report

    folder = rename_system(baseline_and_cct, tmp_path / "loco" / "renamed", "resemblyzer_svm", HOSTILE)
    report, _ = write_report(folder)
    dom = render(report, tmp_path)
    assert dom["scripts"] == 1                                     # the check's own script, no other
    assert HOSTILE in dom["verdict"] and HOSTILE in dom["text"]
    assert "&lt;script&gt;" in report.read_text() and HOSTILE not in report.read_text()
    assert "Leave-one-corpus-out heatmap" in dom["headings"]
    assert not any("one-to-one" in h for h in dom["headings"]) and "One-to-one" not in dom["text"]
    assert all(w > 0 for _, w, _, _ in dom["images"]) and dom["requests"] == []
    escaped = r"\textless{}script\textgreater{}alert(1)\textless{}/script\textgreater{}"
    assert escaped in (folder / "results.tex").read_text()


def svg_texts(svg: str) -> tuple[float, list[tuple[str, float]]]:
    """A figure's width in points and each text of it with its font size in points (matplotlib
    writes each text line as glyph paths under ``<!-- text -->``, scaled by size / 100)."""
    width = float(re.search(r'<svg[^>]* width="([\d.]+)pt"', svg).group(1))
    texts = re.findall(r"<!-- ([^<>]*?) -->\s*<g [^<>]*?scale\(([\d.]+) -[\d.]+\)", svg)
    return width, [(text, float(scale) * 100) for text, scale in texts]


NUMBER = re.compile(r"^(\d\.\d\d|\(\d+\)|\[\d\.\d\d, \d\.\d\d\])$")   # 0.58, (6), [0.44, 0.73]


@pytest.mark.slow
def test_the_numbers_of_the_heatmap_and_confusion_matrices_read_at_11_px_in_a_1400_px_window(baseline_and_cct,
                                                                                            tmp_path):
    from specct.report.document import write_report

    folder = baseline_and_cct
    report, _ = write_report(folder)
    shown = dict(render(report, tmp_path)["shown"])      # alt -> width on the page, CSS px
    figures = folder / "figures"
    measured = {"leave-one-corpus-out: UAR per system and held-out corpus (95% CI in brackets)": figures / "heatmap"}
    measured.update({f"{system} on {corpus}": figures / f"confusion_{system}_{corpus}"
                     for system in ("resemblyzer_svm", "cct") for corpus in HELD_OUT})
    for alt, stem in measured.items():
        width_pt, texts = svg_texts(stem.with_suffix(".svg").read_text())
        with Image.open(stem.with_suffix(".png")) as png:      # the page shows the PNG: the same figure, 300 dpi
            assert png.info["dpi"][0] == pytest.approx(300, abs=1)
            assert png.width / 300 * 72 == pytest.approx(width_pt, rel=0.02)
        sizes = [size for text, size in texts if NUMBER.match(text)]
        assert len(sizes) >= 4, (alt, texts)
        px_per_pt = shown[alt] / width_pt                    # how large a point of the figure is on the page
        smallest = min(sizes) * px_per_pt
        assert smallest >= 11, f"{alt}: numbers {smallest:.1f} px high on the page"


# --------------------------------------------------------------------------- the parts, on made-up tables

def results_of(uars: dict[str, tuple[float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"system": s, "held_out": "mean", "n": 64, "uar": u, "uar_ci_low": lo, "uar_ci_high": hi}
                         for s, (u, lo, hi) in uars.items()])


def comparison_of(rows: list[tuple[str, float, float, float, float, bool]]) -> pd.DataFrame:
    return pd.DataFrame([{"system": s, "reference": "ref", "held_out": "mean", "n": 64, "difference": d,
                          "ci_low": lo, "ci_high": hi, "p_value": p, "significant": real}
                         for s, d, lo, hi, p, real in rows])


def test_the_verdict_names_a_tie_as_a_tie_and_a_best_system_below_chance_as_such():
    from specct.report.verdict import verdict

    classes = ["anger", "sad"]
    text = verdict(results_of({"ref": (0.50, 0.45, 0.55), "new": (0.52, 0.47, 0.57)}),
                   comparison_of([("new", 0.02, -0.01, 0.05, 0.21, False)]), "ref", classes, 0.5, ["A", "B"])
    assert "the best system is new with a UAR of 0.520 (95% CI 0.470 to 0.570)" in text
    assert "Its margin over the reference, ref, is +0.020 (95% CI -0.010 to +0.050, p = 0.2100): a tie" in text
    assert "Chance level is a UAR of 0.500 (1/2; classes: anger, sad)" in text
    assert "lies around chance (it does not beat guessing)" in text
    text = verdict(results_of({"ref": (0.40, 0.35, 0.45), "new": (0.40, 0.36, 0.44)}),
                   comparison_of([("new", 0.0, -0.03, 0.03, 1.0, False)]), "ref", classes, 0.25, ["A", "B"])
    assert "ref and new tie for the best UAR, 0.400" in text and "lies above chance." in text


def test_latex_tables_escape_every_special_character_and_use_booktabs():
    from specct.stats.latex import comparison_latex, escape, results_latex

    assert escape("a_b & 50% #1 $x$ {y} ~^\\") == (r"a\_b \& 50\% \#1 \$x\$ \{y\} "
                                                    r"\textasciitilde{}\textasciicircum{}\textbackslash{}")
    table = results_latex(results_of({"svm_rbf": (0.41, 0.35, 0.47), "cct&co": (0.52, 0.47, 0.57)}))
    assert table.count(r"\toprule") == table.count(r"\midrule") == table.count(r"\bottomrule") == 1
    assert r"svm\_rbf & mean & 64 & 0.410 [0.350, 0.470]" in table
    assert r"cct\&co & mean & 64 & \textbf{0.520 [0.470, 0.570]}" in table
    comparison = comparison_latex(comparison_of([("a", 0.1, 0.05, 0.15, 0.002, True),
                                                 ("b", -0.01, -0.04, 0.02, 0.5, False)]))
    assert r"\textbf{a} & \textbf{ref}" in comparison and "better" in comparison
    assert "b & ref & mean & 64 & -0.010 & [-0.040, +0.020] & 0.5000 & tie" in comparison


def test_gender_gaps_and_a_corpus_without_gender_is_named():
    from specct.report.breakdowns import gender_rows, group_uar, speaker_rows

    rows = pd.DataFrame({"truth": ["a", "a", "b", "b"], "prediction": ["a", "b", "b", "b"]})
    assert group_uar(rows) == pytest.approx(0.75)
    groups = pd.DataFrame([
        ("cct", "A", "", "gender", "female", 10, 0.6), ("cct", "A", "", "gender", "male", 12, 0.4),
        ("cct", "B", "", "gender", "unknown", 20, 0.5),
        ("cct", "A", "", "speaker", "A-01", 5, 0.8), ("cct", "A", "", "speaker", "A-02", 5, 0.3),
        ("cct", "A", "", "speaker", "A-03", 5, 0.5)],
        columns=["system", "corpus", "seed", "kind", "group", "n", "uar"])
    header, table, without = gender_rows(groups)
    assert header == ["system", "held-out corpus", "UAR female", "UAR male", "gap (best - worst)"]
    assert table == [["cct", "A", "0.600 (n=10)", "0.400 (n=12)", "0.200"]] and without == ["B"]
    _, speakers = speaker_rows(groups)
    assert speakers == [["cct", "A", "3", "0.300 (A-02)", "0.500", "0.800 (A-01)", "0.500"]]


def test_which_systems_read_a_speaker_vector():
    from specct.report.facts import is_image_model, reads_speaker_vector

    speaker_features = [{"features": {"kind": "resemblyzer", "name": "resemblyzer"}}]
    assert reads_speaker_vector("resemblyzer_svm", speaker_features)
    assert not reads_speaker_vector("egemaps_svm", [{"features": {"kind": "egemaps", "name": "egemaps"}}])
    assert not reads_speaker_vector("resemblyzer_svm", [])            # nothing evaluated: nothing said
    assert reads_speaker_vector("speaker_vgg_cct_7_7x2_112", []) and not reads_speaker_vector("cct_7_7x2_112", [])
    assert is_image_model("cct_7_7x2_112") and not is_image_model("egemaps_svm")


@pytest.mark.slow
def test_a_report_written_again_redraws_only_the_figures_of_changed_jobs(baseline_and_cct):
    import os

    from specct.report.document import write_report

    folder = baseline_and_cct
    write_report(folder)
    figures = folder / "figures"
    saliency, confusion = figures / "saliency_cct_DEMOA.png", figures / "confusion_cct_DEMOB.png"
    heatmap, calibration = figures / "heatmap.png", figures / "calibration.png"
    before = {p: p.stat().st_mtime_ns for p in (saliency, confusion, heatmap, calibration)}
    performance = folder / "jobs" / "loco" / "cct" / "DEMOB" / "test" / "performance.yaml"
    later = max(before.values()) + 10**9
    os.utime(performance, ns=(later, later))               # the DEMOB job evaluated again
    results = folder / loco.RESULTS_CSV
    collected = results.read_text()
    results.write_text(collected)                          # collected again: the same table, a newer file
    write_report(folder)
    for kept in (saliency, heatmap, calibration):          # unchanged job, unchanged tables: kept
        assert kept.stat().st_mtime_ns == before[kept], kept.name
    assert confusion.stat().st_mtime_ns > before[confusion]  # changed job: drawn again
    table = pd.read_csv(results)
    table.loc[0, "uar_ci_low"] = 0.0                       # a table that says something else
    table.to_csv(results, index=False)
    write_report(folder)
    assert heatmap.stat().st_mtime_ns > before[heatmap]
    results.write_text(collected)                          # the fixture's table as collect wrote it


def test_a_report_before_any_job_finished_says_so_and_announces_nothing(demo_split, tmp_path, capsys):
    from specct.report.document import write_report

    argv = ["--datasets_dir", str(demo_split.datasets), "--datasets", *HELD_OUT, "--model", "cct_7_7x2_112",
            "--output", str(tmp_path), "--data_dir", str(tmp_path / "data"), "--name", "empty", "--collect"]
    assert loco.main(argv) == 0
    report, markdown = write_report(tmp_path / "loco" / "empty")
    text = markdown.read_text()
    assert re.findall(r"^## (.*)$", text, re.M) == ["Verdict", "Transductive normalisation", "Reproduction"]
    assert "No leave-one-corpus-out result yet: nothing to conclude." in text
    assert "0 of 2 job(s) finished. Missing: loco/cct_7_7x2_112/DEMOA, loco/cct_7_7x2_112/DEMOB." in text
    assert "not finished" not in text and "one-to-one" not in text.lower()
    assert not (tmp_path / "loco" / "empty" / "results.tex").exists()
