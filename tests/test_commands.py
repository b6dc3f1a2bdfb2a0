"""The `specct` command: every subcommand's help, one flag vocabulary, old spellings kept, lazy imports."""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import re
import subprocess
import sys

import pytest
import yaml

from script_helpers import REPO_ROOT, load_script, one_line_error, record_parsers
from specct.core import cli
from specct import commands

SUBCOMMANDS = sorted(commands.COMMANDS)
# Parsers that live outside specct.commands and its stage modules, still to be given help on each flag.
HELP_GAPS: dict[str, str] = {}   # subcommand -> module whose flags still lack help


def needs_module(sub: str) -> None:
    module = commands.COMMANDS[sub][0].split(":")[0]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"specct {sub}: {module} is not in this checkout yet")


def help_of(sub: str, monkeypatch, capsys) -> tuple[argparse.ArgumentParser, str]:
    """The parser ``specct <sub> --help`` prints, and what it prints."""
    needs_module(sub)
    made = record_parsers(monkeypatch)
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        commands.main([sub, "--help"])
    assert stop.value.code == 0
    named = [p for p in made if p.prog == f"specct {sub}"]
    assert named, f"specct {sub} --help did not parse with a specct.core.cli.ArgumentParser named 'specct {sub}'"
    return named[-1], capsys.readouterr().out


def shown_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The flags and positionals --help lists (hidden aliases and -h itself left out)."""
    return [a for a in parser._actions if a.help != argparse.SUPPRESS and not isinstance(a, argparse._HelpAction)]


@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_every_subcommand_prints_its_own_help(sub, monkeypatch, capsys):
    _, text = help_of(sub, monkeypatch, capsys)
    assert text.startswith(f"usage: specct {sub}")
    assert cli._next_prog == [] and cli._running == []   # dropped when the command ended


@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_every_flag_has_help_and_says_its_default_once(sub, monkeypatch, capsys):
    parser, text = help_of(sub, monkeypatch, capsys)
    missing = [a.option_strings or [a.dest] for a in shown_actions(parser) if not (a.help or "").strip()]
    if missing and sub in HELP_GAPS:
        pytest.xfail(f"specct {sub}: {HELP_GAPS[sub]} has flags without help: {missing}")
    assert not missing, f"specct {sub}: flags without help: {missing}"
    formatter = parser._get_formatter()
    for action in shown_actions(parser):
        line = formatter._expand_help(action)
        assert line.lower().count("(default") <= 1, f"specct {sub} {action.option_strings}: {line}"
        if isinstance(action, cli.SWITCHES):   # an on/off switch shows no stored value as a default
            assert "(default: true)" not in line.lower() and "(default: false)" not in line.lower(), line
    for line in text.splitlines():
        assert line.lower().count("(default") <= 1, f"specct {sub}: {line}"
        assert "(default " not in line.lower(), f"specct {sub}: a default is said '(default: X)': {line}"
    assert "``" not in text, f"specct {sub} --help shows reST markup"


def test_the_overview_lists_every_subcommand(capsys):
    for argv in ([], ["--help"], ["-h"]):
        assert commands.main(argv) == 0
        out = capsys.readouterr().out
        assert out.startswith("usage: specct <subcommand>")
        for sub, (_, text) in commands.COMMANDS.items():
            assert f"  {sub} " in out and text in out
    assert commands.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("specct 0.")


@pytest.mark.parametrize("argv, named", [(["trian"], "did you mean train"), (["nope", "--help"], "unknown subcommand"),
                                         (["--datasets_dir", "x"], "give a subcommand first")])
def test_a_wrong_subcommand_is_one_line_naming_the_known_ones(argv, named, capsys):
    capsys.readouterr()
    assert commands.main(argv) == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("specct: error: ") and named in lines[0], lines
    assert ", ".join(commands.COMMANDS) in lines[0] and not captured.out


def test_a_subcommand_error_names_the_subcommand(tmp_path, capsys):
    argv = ["--eval_dataset", "X", "--datasets_dir", str(tmp_path / "none")]
    one_line_error(capsys, lambda: commands.main(["split", *argv]), r"^specct split: error: .*none")
    # the top-level script keeps its own name
    one_line_error(capsys, lambda: load_script("preprocess_split_dataset").main(argv),
                   r"^preprocess_split_dataset.py: error: .*none")
    one_line_error(capsys, lambda: commands.main(["loco", "--datasets_dir", str(tmp_path / "none")]),
                   r"^specct loco: error: .*none")
    one_line_error(capsys, lambda: commands.main(["eval", str(tmp_path)]), r"^specct eval: error: ")
    assert cli.program_name("run_loco.py") == "run_loco.py"   # outside the dispatcher


def test_the_scripts_are_the_subcommands():
    for script, module in [("prepare_corpus", "prepare"), ("preprocess_spectrograms", "spectrograms"),
                           ("preprocess_embedding", "embed"), ("preprocess_features", "features"),
                           ("preprocess_split_dataset", "split")]:
        assert load_script(script).main is importlib.import_module(f"specct.commands.{module}").main
        assert commands.COMMANDS[module][0] == f"specct.commands.{module}:main"


# --------------------------------------------------------------------------- one vocabulary

def dest_of(parser: argparse.ArgumentParser, argv: list[str]) -> dict:
    return vars(parser.parse_known_args(argv)[0])


@pytest.mark.parametrize("build, new, old, dest", [
    ("specct.commands.split:build_parser", "--data_dir", "--output_dir", "output_dir"),
    ("specct.loco:build_parser", "--experiment_file", "--experiment", "experiment_file"),
])
def test_old_flag_spellings_parse_as_the_new_ones(build, new, old, dest):
    module, name = build.split(":")
    parser = getattr(importlib.import_module(module), name)()
    base = ["--eval_dataset", "EMODB"] if "split" in module else []
    results = [dest_of(parser, base + [flag, "some/where"]) for flag in
               (new, old, "--" + old[2:].replace("_", "-"), "--" + new[2:].replace("_", "-"))]
    assert all(r == results[0] for r in results) and results[0][dest] == "some/where"
    # an alias sets no default of its own
    assert dest_of(parser, base)[dest] == parser._option_string_actions[new].default
    usage = parser.format_usage()
    assert new in usage and old not in usage.replace(new, "")   # the old spelling is not listed


def test_the_two_augmentation_flags_say_which_is_which():
    from specct.commands.spectrograms import build_parser as images
    from specct.commands.split import build_parser as split

    drawn = images()._option_string_actions["--augmentations"].help
    trained = split()._option_string_actions["--augmentation"].help
    assert "draw" in drawn and re.search(r"--augmentation\b(?!s)", drawn)
    assert "trains on" in trained and "--augmentations" in trained


@pytest.mark.parametrize("sub", ["prepare", "spectrograms", "embed", "features", "train", "eval", "predict", "loco",
                                 "demo", "run"])
def test_no_progress_wherever_progress_bars_are_drawn(sub, monkeypatch, capsys):
    parser, _ = help_of(sub, monkeypatch, capsys)
    assert "--no_progress" in parser._option_string_actions


def test_train_help_prints_one_correct_default_per_flag(monkeypatch, capsys):
    parser, text = help_of("train", monkeypatch, capsys)
    helps = {a.option_strings[0]: parser._get_formatter()._expand_help(a) for a in shown_actions(parser)
             if a.option_strings}
    assert helps["--lr"].endswith("(default: 5e-05)") and helps["--epochs"].endswith("(default: 50)")
    assert helps["--svm_c"].endswith("(default: 0.001 0.01 0.1 1.0 10.0)")   # a list, as typed
    assert "(default" not in helps["--no_pretrained"] and "(default" not in helps["--amp"]
    assert helps["--pretrained"].count("default") == 1 and "None" not in helps["--pretrained"]
    assert "(default: None)" not in text


# --------------------------------------------------------------------------- the model folder

def usage_error(capsys, call, pattern: str) -> None:
    """``call`` ends as argparse ends a wrong command line: exit 2, usage, then one error line."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        call()
    assert stop.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert lines[0].startswith("usage: ") and re.search(pattern, lines[-1]), lines


@pytest.mark.parametrize("module", ["specct.stages.evaluate", "specct.stages.predict"])
def test_the_model_folder_is_positional_or_a_flag(module, capsys):
    main = importlib.import_module(module).main
    usage_error(capsys, lambda: main(["--batch_size", "2"]), "error: the model folder is required")
    if module == "specct.stages.evaluate":
        usage_error(capsys, lambda: main(["run_a", "--model_dir", "run_b"]), "error: two model folders")
        parser = importlib.import_module(module).build_parser()
        for argv in (["run_a"], ["--model_dir", "run_a"], ["--model-dir=run_a"], ["run_a", "--model_dir", "run_a"]):
            args = parser.parse_args(argv)
            assert cli.model_dir_of(args, parser) == "run_a" and args.model_dir == "run_a"
    else:
        parse = importlib.import_module(module).parse_args
        for argv in (["run_a", "a.wav", "b.wav"], ["a.wav", "b.wav", "--model_dir", "run_a"]):
            args = parse(argv)
            assert (args.model_dir, args.inputs) == ("run_a", ["a.wav", "b.wav"])
        assert parse(["run_a", "--export_onnx", "m.onnx"]).inputs == []


@pytest.mark.slow
def test_eval_and_predict_give_the_same_results_either_way(trained_run, demo_split, tmp_path, capsys):
    """A real two-epoch run: the model folder positionally and as --model_dir, through `specct`."""
    folder = demo_split.datasets / "DEMOC" / "DEMOC_wav"
    capsys.readouterr()
    assert commands.main(["predict", str(trained_run), str(folder), "--format", "csv", "--no_progress"]) == 0
    positional = capsys.readouterr().out
    assert commands.main(["predict", str(folder), "--model_dir", str(trained_run), "--format", "csv"]) == 0
    assert capsys.readouterr().out == positional and positional.count(".wav") >= 8
    uars = []
    for how, argv in [("a", [str(trained_run)]), ("b", ["--model_dir", str(trained_run)])]:
        assert commands.main(["eval", *argv, "--output", str(tmp_path / how), "--bootstrap", "20",
                              "--no_progress"]) == 0
        uars.append(yaml.safe_load((tmp_path / how / "performance.yaml").read_text())["uar"])
    assert uars[0] == uars[1]


# --------------------------------------------------------------------------- fast, lazy start

HEAVY = ("pandas", "numpy", "sklearn", "librosa", "matplotlib", "resemblyzer", "yaml", "PIL",
         "specct.train", "specct.loco", "specct.data.splits", "specct.commands.prepare")


def test_the_command_parses_before_any_stage_library_loads():
    """`specct --help` adds no stage library to what `import specct` loads; and (once the package's
    own import is light) no torch at all."""
    code = ("import sys, json; import specct; base = set(sys.modules); from specct.commands import main; "
            "main(['--help']); added = set(sys.modules) - base; "
            f"print(json.dumps({{'added': sorted(m for m in added if m.split('.')[0] in {HEAVY!r} or m in {HEAVY!r}), "
            "'torch_from_package': 'torch' in base}))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["added"] == [], f"specct --help imported {report['added']}"
    run = subprocess.run([sys.executable, "-m", "specct", "--help"], cwd=REPO_ROOT, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.startswith("usage: specct <subcommand>"), run.stderr
    assert not report["torch_from_package"], "`import specct` imports torch: every `specct` start pays for it"


# subcommand -> why its --help still loads a table library (its parser's package imports the job runner)
HELP_IMPORT_GAPS: dict[str, str] = {}


@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_no_subcommand_imports_torch_sklearn_or_pandas_to_print_its_help(sub):
    """Each `specct <sub> --help` answers before torch, timm, librosa, scikit-learn or pandas load (the
    seconds they take on a busy machine)."""
    if sub in HELP_IMPORT_GAPS:
        pytest.xfail(HELP_IMPORT_GAPS[sub])
    code = ("import sys; from specct.commands import main\n"
            f"try:\n    main([{sub!r}, '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'timm', 'librosa', 'resemblyzer', 'opensmile', 'sklearn', 'pandas') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]", f"specct {sub} --help imported {result.stdout}"


TABLE_LIBRARIES = "('torch', 'timm', 'librosa', 'resemblyzer', 'opensmile', 'sklearn', 'pandas')"


def test_run_loco_script_help_imports_no_table_library():
    code = ("import runpy, sys; sys.argv = ['run_loco.py', '--help']\n"
            "try:\n    runpy.run_path('run_loco.py', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            f"print(sorted(m for m in {TABLE_LIBRARIES} if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "usage: run_loco.py" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "[]", f"run_loco.py --help imported {result.stdout}"


def test_the_loco_package_loads_its_names_when_first_used():
    """specct.loco's public names and submodules come from their modules on first use, the same objects."""
    code = ("import sys\nimport specct.loco as loco\n"
            f"print(sorted(m for m in {TABLE_LIBRARIES} if m in sys.modules))\n"
            "from specct.loco import collect, main\nimport specct.loco.cli, specct.loco.results\n"
            "assert collect is specct.loco.results.collect and main is specct.loco.cli.main\n"
            "assert loco.jobs.list_jobs is loco.list_jobs and loco.split_options is loco.split_folders.split_options\n"
            "assert not set(loco.__all__) - set(dir(loco))\n"
            "assert all(getattr(loco, name) is not None for name in loco.__all__)\n"
            "assert not hasattr(loco, 'no_such_name') and not hasattr(loco, '__main__')\n"
            "print('ok')")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["[]", "ok"], result.stdout
