"""Every command the README shows is one the project accepts: each script line parses with that
script's own parser (its flags, its config files), the experiment file is a valid study once its
corpus folders exist, and `specct` names real subcommands. The commands themselves run in the
tests of their stages, in the demo (tests/test_demo.py) and in the benchmark studies' test."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml


REPO_ROOT = Path(__file__).resolve().parents[1]
README = (REPO_ROOT / "README.md").read_text()


def readme_commands(prefix: str) -> list[list[str]]:
    """The README's command lines starting with ``prefix`` (continuation lines joined, comments dropped)."""
    text = README.replace("\\\n", " ")
    lines = [re.sub(r"\s+#.*$", "", line).strip() for line in text.splitlines()]
    return [shlex.split(line) for line in lines if line.startswith(prefix)]


def parse_script_line(tokens: list[str]):
    """Parse one `python <script>.py ...` line with that script's parser; nothing runs."""
    from specct import commands
    from specct.stages.evaluate import build_parser as eval_parser
    from specct.loco.cli import build_parser as loco_parser
    from specct.stages.predict import parse_args as predict_args
    from specct.train.options import given_flags, parse_args as train_args

    script, argv = Path(tokens[1]).stem, tokens[2:]
    parsers = {
        "prepare_corpus": lambda: commands.prepare.parse_args(argv),
        "preprocess_spectrograms": lambda: commands.spectrograms.parse_args(argv),
        "preprocess_embedding": lambda: commands.embed.build_parser().parse_args(argv),
        "preprocess_features": lambda: commands.features.build_parser().parse_args(argv),
        "preprocess_split_dataset": lambda: commands.split.build_parser().parse_args(argv),
        "train": lambda: train_args(argv),
        "eval": lambda: eval_parser().parse_args(argv),
        "predict": lambda: predict_args(argv),
        "run_loco": lambda: given_flags(loco_parser().parse_known_args(argv)[1], "run_loco.py (train.py flags)"),
    }
    assert script in parsers, f"README names {tokens[1]}, which this test does not know"
    return parsers[script]()


def test_every_python_command_of_the_readme_parses(monkeypatch):
    import specct.commands.embed  # noqa: F401  (the parsers above, loaded as the dispatcher would)
    import specct.commands.features  # noqa: F401
    import specct.commands.prepare  # noqa: F401
    import specct.commands.spectrograms  # noqa: F401
    import specct.commands.split  # noqa: F401

    monkeypatch.chdir(REPO_ROOT)    # config paths are read as the README's reader would, from the root
    lines = readme_commands("python ")
    assert len(lines) >= 8
    for tokens in lines:
        assert (REPO_ROOT / tokens[1]).is_file(), tokens[1]
        if "--list" in tokens:
            continue
        parse_script_line(tokens)


def test_every_specct_subcommand_of_the_readme_exists():
    from specct.commands import COMMANDS

    named = set(re.findall(r"`(\w+)`", README.split("## Stage by stage")[1].split("Or the scripts")[0]))
    assert named - {"specct"} <= set(COMMANDS) and len(named & set(COMMANDS)) == len(COMMANDS)
    for tokens in readme_commands("specct "):
        assert tokens[1] in COMMANDS, tokens


def test_the_readme_experiment_file_is_a_valid_study(tmp_path):
    from specct.study.engine import read_study

    block = re.search(r"```yaml\n(.*?)```", README, re.S).group(1)
    content = yaml.safe_load(block)
    for name in content["corpora"]:     # the corpus folders of the reader's machine, here empty ones
        (tmp_path / name).mkdir()
        content["corpora"][name] = str(tmp_path / name)
    study = read_study({**content, "output": str(tmp_path / "out")}, where="README.md")
    assert [s.name for s in study.loco.systems] == ["speaker_cct", "egemaps_svm"]
    assert study.loco.classes == "anger,happy,sad" and not (tmp_path / "out").exists()
