"""specct's eGeMAPS + linear SVM baseline beside nkululeko's ``os`` features + ``svm``, on one split.

One leave-one-corpus-out split of the shared corpora (default: TurEV-DB held out, trained on EmoDB
and the RAVDESS actors; anger, happy and sad, the classes the three share) is made the specct way
(import -> plain images -> speaker vectors -> split). Then, on exactly its rows:

- specct: ``preprocess_features.py --features egemaps`` (timed, every file of the corpora), then
  ``train.py --model egemaps_svm`` (C chosen on the split's validation rows) and ``eval.py``;
- nkululeko, installed into its own throwaway venv (a peer for comparison, never a dependency of
  specct): the split's training rows and test rows as two CSV databases (``file,speaker,emotion``),
  ``FEATS type = ['os']`` (eGeMAPSv02 functionals, standard scaling) and ``MODEL type = svm`` with
  the same kernel (linear) and the C that specct chose on validation. It runs twice: the first run
  extracts and trains, the second reuses its feature cache, so the difference is its extraction time.

Both UARs and both extraction speeds (files/s) are printed and written to ``<workdir>/results.json``.

    python benchmarks/bench_baselines.py                       # full run (minutes; an idle machine)
    python benchmarks/bench_baselines.py --quick 2             # smoke run: 2 files per speaker and emotion
    python benchmarks/bench_baselines.py --no_nkululeko        # specct alone
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from specct.core import paths

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPORA = REPO_ROOT.parent / "shared" / "corpora"


def import_corpora(corpora_dir: Path, datasets: Path, names: list[str], per_speaker: int | None) -> None:
    """Import each corpus once (keeping ``per_speaker`` files per speaker and emotion in a quick run)."""
    from specct.core.naming import parse_name
    from specct.data.prepare import import_corpus

    for name in names:
        if paths.wav_dir(datasets, name).is_dir():
            continue
        source = corpora_dir / name.lower() / "wav"
        if not source.is_dir():  # corpora distributed without a wav/ folder (TurEV-DB's "Sound Source")
            source = corpora_dir / name.lower()
        if not source.is_dir():
            raise SystemExit(f"bench_baselines: no source for {name} at {source} (is its importer there and "
                             f"the corpus in {corpora_dir}?)")
        import_corpus(name.lower(), source, datasets, progress=False)
        if per_speaker:
            kept = defaultdict(int)
            for wav in sorted(paths.wav_dir(datasets, name).glob("*.wav")):
                name_parts = parse_name(wav)
                key = (name_parts.speaker, name_parts.emotion)
                kept[key] += 1
                if kept[key] > per_speaker:
                    wav.unlink()


def make_split(workdir: Path, datasets: Path, held_out: str, train: list[str], classes: list[str] | None) -> Path:
    from specct.data.images import preprocess_corpora
    from specct.data.speaker import embed_corpora
    from specct.data.splits import SplitOptions, run_split_stage

    corpora = [held_out, *train]
    preprocess_corpora(datasets, datasets=corpora, augmentations=[], size=(32, 32), progress=False)
    embed_corpora(datasets, corpora, progress=False)
    split = run_split_stage(SplitOptions(eval_dataset=held_out, train_datasets=train, num_classes="4", classes=classes, seed=0,
                                         datasets_dir=str(datasets), output_dir=str(workdir / "data")))[0]
    return split.out_dir


def run_specct(workdir: Path, datasets: Path, split: Path, corpora: list[str]) -> dict:
    from specct.baselines.features import extract_corpora
    from specct.baselines.model import load_model
    from specct.stages.evaluate import evaluate
    from specct.train import default_args, train

    summaries = extract_corpora(datasets, corpora, "egemaps", overwrite=True, progress=False)
    files = sum(s.extracted for s in summaries)
    seconds = sum(s.seconds for s in summaries)
    out_dir = workdir / "output" / "train" / "egemaps_svm"
    started = time.perf_counter()
    train(default_args(split / "train_data", model="egemaps_svm", experiment=str(out_dir), no_progress=True))
    result = evaluate(out_dir, output=workdir / "output" / "test" / "egemaps_svm", bootstrap=1000, progress=False)
    chosen_c = float(load_model(out_dir).info["hyperparameters"]["C"])
    return {"uar": result.performance["uar"], "uar_ci_95": result.performance["confidence_interval_95"]["uar"],
            "accuracy": result.performance["accuracy"], "test_files": result.performance["samples"],
            "extraction_files": files, "extraction_seconds": seconds, "extraction_files_per_s": files / seconds,
            "train_eval_seconds": time.perf_counter() - started, "chosen_C": chosen_c}


def untrimmed_control(split: Path, c_value: float) -> float:
    """specct's classifier on eGeMAPS of the untrimmed 16 kHz files (the signal nkululeko reads),
    same rows and C: isolates the one difference between the two pipelines, the trimming."""
    import opensmile
    import soundfile as sf
    from sklearn.metrics import recall_score
    from sklearn.preprocessing import StandardScaler

    from specct.baselines.classifiers import make_estimator

    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                            feature_level=opensmile.FeatureLevel.Functionals)
    train = pd.read_csv(split / "train_data" / "train.csv").query("augmentation == 'none'").drop_duplicates("wav")
    test = pd.read_csv(split / "eval_data" / "test.csv").drop_duplicates("wav")

    def features(wavs):
        rows = []
        for wav in wavs:
            signal, sr = sf.read(wav, dtype="float32")
            rows.append(smile.process_signal(signal, sr).to_numpy()[0])
        return np.asarray(rows)

    train_features = features(train["wav"])
    scaler = StandardScaler().fit(train_features)
    classifier = make_estimator("svm_linear", c_value).fit(scaler.transform(train_features), train["label"])
    predicted = classifier.predict(scaler.transform(features(test["wav"])))
    return float(recall_score(test["label"], predicted, average="macro"))


def ensure_nkululeko(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"installing nkululeko into {venv} (a throwaway venv; it is never a dependency of specct)")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "nkululeko"], check=True)
    return python


def split_csvs(split: Path, out: Path) -> dict[str, Path]:
    """The split's training rows and test rows as nkululeko CSV databases (file, speaker, emotion)."""
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, path in (("train", split / "train_data" / "train.csv"), ("test", split / "eval_data" / "test.csv")):
        frame = pd.read_csv(path, dtype=str).drop_duplicates("wav")
        rows = pd.DataFrame({"file": frame["wav"], "speaker": frame["speaker"], "emotion": frame["label"]})
        written[name] = out / f"{name}.csv"
        rows.to_csv(written[name], index=False)
    return written


def nkululeko_ini(workdir: Path, csvs: dict[str, Path], labels: list[str], c_value: float) -> Path:
    text = f"""[EXP]
root = {workdir / 'nkululeko'}/
name = bench_os_svm
runs = 1
epochs = 1
save = False

[DATA]
databases = ['train', 'test']
train = {csvs['train']}
train.type = csv
train.absolute_path = True
train.split_strategy = train
test = {csvs['test']}
test.type = csv
test.absolute_path = True
test.split_strategy = test
target = emotion
labels = {labels!r}

[FEATS]
type = ['os']
set = eGeMAPSv02
level = functionals
scale = standard

[MODEL]
type = svm
kernel = linear
C_val = {c_value}
"""
    ini = workdir / "nkululeko" / "exp.ini"
    ini.parent.mkdir(parents=True, exist_ok=True)
    ini.write_text(text)
    return ini


# nkululeko's own entry point, doit(config) -> (test result, epoch); its measure for classification is UAR.
DRIVER = ("import json, sys; from nkululeko.nkululeko import doit; "
          "result, _ = doit(sys.argv[1]); print('BENCH_RESULT', json.dumps(float(result)))")


def parse_uar(output: str) -> float | None:
    lines = [line for line in output.splitlines() if line.startswith("BENCH_RESULT ")]
    return float(lines[-1].split()[1]) if lines else None


def run_nkululeko(python: Path, ini: Path, workdir: Path) -> dict:
    store = workdir / "nkululeko"
    for old in ("bench_os_svm",):
        shutil.rmtree(store / old, ignore_errors=True)

    def once() -> tuple[float, str]:
        started = time.perf_counter()
        done = subprocess.run([str(python), "-c", DRIVER, str(ini)], cwd=store,
                              capture_output=True, text=True)
        seconds = time.perf_counter() - started
        log = done.stdout + done.stderr
        if done.returncode != 0:
            raise SystemExit(f"bench_baselines: nkululeko failed ({done.returncode}):\n{log[-3000:]}")
        return seconds, log

    first_seconds, first_log = once()     # extracts the features, trains, tests
    second_seconds, second_log = once()   # reuses its feature cache
    (store / "first_run.log").write_text(first_log)
    (store / "second_run.log").write_text(second_log)
    return {"uar": parse_uar(first_log), "uar_cached_run": parse_uar(second_log), "first_run_seconds": first_seconds,
            "cached_run_seconds": second_seconds, "extraction_seconds": first_seconds - second_seconds}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpora_dir", default=str(DEFAULT_CORPORA), help="folder holding <corpus>/wav as distributed")
    p.add_argument("--held_out", default="TUREVDB", help="test corpus (default TUREVDB)")
    p.add_argument("--train", nargs="+", default=["EMODB", "RAVDESS"], help="training corpora (default EMODB RAVDESS)")
    p.add_argument("--classes", nargs="+", default=["anger", "happy", "sad"],
                   help="class set (default anger happy sad, shared by the three corpora; 'none' for the 4-class set)")
    p.add_argument("--workdir", default="/tmp/specct_bench_baselines", help="scratch folder (default /tmp/...)")
    p.add_argument("--quick", type=int, default=None, metavar="N", help="smoke run: N files per speaker and emotion")
    p.add_argument("--nkululeko_venv", default="/tmp/nkululeko_venv",
                   help="throwaway venv for nkululeko, created when missing (default /tmp/nkululeko_venv)")
    p.add_argument("--no_nkululeko", action="store_true", help="run specct's side only")
    args = p.parse_args(argv)

    workdir = Path(args.workdir)
    datasets = workdir / "datasets"
    held_out, train = args.held_out.upper(), [c.upper() for c in args.train]
    import_corpora(Path(args.corpora_dir), datasets, [held_out, *train], args.quick)
    classes = None if args.classes == ["none"] else args.classes
    split = make_split(workdir, datasets, held_out, train, classes)
    specct_result = run_specct(workdir, datasets, split, [held_out, *train])
    results = {"held_out": held_out, "train": train, "quick_files_per_speaker": args.quick, "split": str(split),
               "specct_egemaps_svm": specct_result}
    print(f"specct egemaps_svm: UAR {specct_result['uar']:.4f} (C {specct_result['chosen_C']:g} chosen on "
          f"validation); extraction {specct_result['extraction_files']} files in "
          f"{specct_result['extraction_seconds']:.1f} s = {specct_result['extraction_files_per_s']:.1f} files/s")
    if not args.no_nkululeko:
        python = ensure_nkululeko(Path(args.nkululeko_venv))
        csvs = split_csvs(split, workdir / "nkululeko")
        labels = [line.strip() for line in (split / "train_data" / "classes.txt").read_text().splitlines() if line.strip()]
        ini = nkululeko_ini(workdir, csvs, labels, specct_result["chosen_C"])
        nk = run_nkululeko(python, ini, workdir)
        nk_files = sum(len(pd.read_csv(c)) for c in csvs.values())
        nk["extraction_files"] = nk_files
        nk["extraction_files_per_s"] = nk_files / nk["extraction_seconds"] if nk["extraction_seconds"] > 0 else None
        results["nkululeko_os_svm"] = nk
        uar = f"{nk['uar']:.4f}" if nk["uar"] is not None else "not found in its log"
        rate = f"{nk['extraction_files_per_s']:.1f}" if nk["extraction_files_per_s"] else "n/a"
        print(f"nkululeko os+svm: UAR {uar}; extraction about {nk_files} files in "
              f"{nk['extraction_seconds']:.1f} s = {rate} files/s (first run minus cached run)")
        if nk["uar"] is not None:
            print(f"difference (specct - nkululeko): {specct_result['uar'] - nk['uar']:+.4f} UAR")
    control = untrimmed_control(split, specct_result["chosen_C"])
    results["control_untrimmed_uar"] = control
    print(f"control: specct's classifier on eGeMAPS of the untrimmed files (nkululeko's signal): UAR {control:.4f}")
    (workdir / "results.json").write_text(json.dumps(results, indent=2))
    print(f"results in {workdir / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
