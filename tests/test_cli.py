"""One vocabulary across the scripts: flag spelling, the meaning of --datasets(_dir), one-line errors."""
from __future__ import annotations

import importlib
import pkgutil
import re

import pytest

import specct
from script_helpers import REPO_ROOT, load_script, one_line_error, record_parsers
from specct.core import cli
from specct.core.errors import SpecctError

# Every user-facing script, with the arguments that get it past parsing into its work.
SCRIPTS = {
    "prepare_corpus": (["emodb", "some/folder"], "specct.commands.prepare.import_corpus"),
    "preprocess_spectrograms": ([], "specct.commands.spectrograms.preprocess_corpora"),
    "preprocess_embedding": ([], "specct.commands.embed.run_embedding_stage"),
    "preprocess_features": ([], "specct.baselines.features.extract_corpora"),
    "preprocess_split_dataset": (["--eval_dataset", "EMODB"], "specct.data.splits.run_split_stage"),
    "train": (["some/train_data", "--model", "cct_2_3x2_32"], "specct.train.train"),
    "eval": (["some/output"], "specct.stages.evaluate.evaluate"),
    "predict": (["some.wav", "--model_dir", "some/output"], "specct.stages.predict.Predictor"),
    "run_loco": ([], "specct.loco.cli.run_command"),
    "report": (["some/experiment"], "specct.report.document.write_report"),
    "saliency": (["some/output"], "specct.stages.saliency.run"),
}
OPTION = re.compile(r"(?<![\w-])--[A-Za-z0-9][\w-]*")


def domain_errors() -> list[type[SpecctError]]:
    """Every SpecctError subclass the package defines (its modules imported first)."""
    for module in pkgutil.walk_packages(specct.__path__, "specct."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    found, todo = [], [SpecctError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo += cls.__subclasses__()
    return sorted(set(found), key=lambda c: c.__qualname__)


def parser_of(script: str, monkeypatch, capsys) -> tuple[cli.ArgumentParser, str]:
    """The parser a script builds, caught while it prints --help, and the help text."""
    made = record_parsers(monkeypatch)
    module = load_script(script)
    with pytest.raises(SystemExit) as stop:
        module.main(["--help"])
    assert stop.value.code == 0
    assert made, f"{script}.py does not parse with specct.core.cli.ArgumentParser"
    return made[-1], capsys.readouterr().out


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_help_documents_underscore_flags_and_accepts_hyphens(script, monkeypatch, capsys):
    parser, text = parser_of(script, monkeypatch, capsys)
    assert "usage:" in text
    shown = set(OPTION.findall(text)) - {"--help"}
    hyphenated = sorted(o for o in shown if "-" in o[2:])
    assert not hyphenated, f"{script}.py documents hyphenated flags {hyphenated}; the rule is underscores"
    for option in sorted(o for o in shown if "_" in o):
        hyphen = "--" + option[2:].replace("_", "-")
        assert parser.underscore_spelling([hyphen, "x"]) == [option, "x"]
        assert parser.underscore_spelling([hyphen + "=x"]) == [option + "=x"]


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_datasets_flags_mean_the_same_everywhere(script, monkeypatch, capsys):
    parser, _ = parser_of(script, monkeypatch, capsys)
    actions = {s: a for a in parser._actions for s in a.option_strings}
    if "--datasets_dir" in actions:  # the folder: one value
        assert actions["--datasets_dir"].nargs is None
    if "--datasets" in actions:  # corpus names: a space-separated list
        assert actions["--datasets"].nargs in ("+", "*")
    for action in parser._actions:  # no comma-separated lists anywhere
        assert not re.search(r"\bcomma\b|comma-separated", action.help or ""), f"{script}.py {action.option_strings}: {action.help}"


def test_hyphen_and_underscore_spellings_parse_the_same():
    from specct.train import parse_args

    a = parse_args(["d", "--batch-size", "4", "--weight-decay=0.1", "--no-pretrained", "--model-kwargs", "depth=2"])
    b = parse_args(["d", "--batch_size", "4", "--weight_decay=0.1", "--no_pretrained", "--model_kwargs", "depth=2"])
    assert vars(a) == vars(b)
    assert (a.batch_size, a.weight_decay, a.pretrained, a.model_kwargs) == (4, 0.1, False, ["depth=2"])
    # a value that looks like a flag after a bare -- is left alone
    assert cli.ArgumentParser().underscore_spelling(["--", "--batch-size"]) == ["--", "--batch-size"]


@pytest.mark.parametrize("error", domain_errors(), ids=lambda c: c.__name__)
@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_every_domain_error_ends_a_script_in_one_line(script, error, monkeypatch, capsys):
    argv, target = SCRIPTS[script]
    module = load_script(script)

    def fail(*args, **kwargs):
        raise error(f"somewhere/file.wav: {error.__name__} reason\nsecond line never shown")

    if "." in target:
        owner, name = target.rsplit(".", 1)
        monkeypatch.setattr(importlib.import_module(owner), name, fail)
    else:
        monkeypatch.setattr(module, target, fail)
    line = one_line_error(capsys, lambda: module.main(argv))
    assert line == f"{script}.py: error: somewhere/file.wav: {error.__name__} reason"


def test_every_script_is_covered():
    scripts = {p.stem for p in REPO_ROOT.glob("*.py")}
    assert scripts == set(SCRIPTS), "add new scripts to SCRIPTS so the vocabulary rules cover them"
