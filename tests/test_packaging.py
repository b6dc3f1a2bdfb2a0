"""specct as an installed package: its set-up files agree, its wheel carries the configs and runs the
demo outside a checkout, and the README names only commands, scripts and docs that exist."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import yaml

tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11")

from conftest import REPO_ROOT

README_MAX_WORDS = 900
# What the wheel must carry: setuptools' package data (pyproject.toml) and the license.
WHEEL_SOURCES = ["pyproject.toml", "README.md", "LICENSE", "src"]


def _pyproject() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def _readme() -> str:
    return (REPO_ROOT / "README.md").read_text()


# ---------------------------------------------------------------------------- set-up files agree

def test_environment_yml_installs_the_project_with_the_extras_it_names():
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    [python] = [d for d in env["dependencies"] if isinstance(d, str) and re.match(r"python\b", d)]
    conda_python = tuple(int(n) for n in re.fullmatch(r"python=(\d+)\.(\d+)", python).groups())
    required = re.fullmatch(r">=(\d+)\.(\d+)", _pyproject()["project"]["requires-python"])
    assert conda_python >= tuple(int(n) for n in required.groups()), "the conda python must satisfy requires-python"
    assert conda_python >= (3, 11), "the tests read pyproject.toml with tomllib (Python 3.11)"
    [pip_section] = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    # Only the project itself: its dependencies are read from pyproject.toml, so they cannot drift.
    assert pip_section == ["-e .[test,ssl]"], pip_section
    extras = set(re.search(r"\[(.*)\]", pip_section[0]).group(1).split(","))
    assert extras <= set(_pyproject()["project"]["optional-dependencies"])


def test_package_data_and_license_are_declared():
    project = _pyproject()
    assert project["project"]["license"] == "MIT" and project["project"]["license-files"] == ["LICENSE"]
    assert "MIT License" in (REPO_ROOT / "LICENSE").read_text()
    data = project["tool"]["setuptools"]["package-data"]["specct"]
    assert "configs/**/*.yml" in data and "examples/*.yml" in data
    configs = REPO_ROOT / "src" / "specct" / "configs"
    kinds = {p.suffix for p in configs.rglob("*") if p.is_file()}
    assert kinds == {".yml"}, f"configs/ holds files package-data does not ship: {kinds}"


def test_checkout_folders_link_to_the_package_data():
    for name in ("configs", "examples"):
        link = REPO_ROOT / name
        assert link.is_symlink() and link.resolve() == (REPO_ROOT / "src" / "specct" / name).resolve(), name
    from specct.stages.pipeline import SCRATCH_CONFIGS

    assert SCRATCH_CONFIGS == (REPO_ROOT / "src" / "specct" / "configs" / "scratch").resolve()


def test_citation_names_the_software_version_and_the_paper():
    cff = yaml.safe_load((REPO_ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["title"] == "specct"
    assert str(cff["version"]) == _pyproject()["project"]["version"]
    paper = cff["preferred-citation"]
    assert "SPEAKER VGG CCT" in paper["title"] and paper["year"] == 2022
    assert [a["family-names"] for a in paper["authors"]] == ["Arezzo", "Berretti"]


# ---------------------------------------------------------------------------- the README

def test_readme_is_short():
    words = len(_readme().split())
    assert words <= README_MAX_WORDS, f"README.md has {words} words (at most {README_MAX_WORDS})"


def test_readme_keeps_the_test_command_ci_runs():
    ci = [line.strip() for line in (REPO_ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.startswith("#")]
    command = ci[-1]
    assert command == "make test"
    assert re.search(rf"^\s*{re.escape(command)}\b", _readme(), re.M), f"README lost CI's test command: {command}"


def _make_targets() -> set[str]:
    text = (REPO_ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][\w-]*):", text, re.M))


def test_every_make_target_in_the_readme_exists():
    named = set(re.findall(r"(?:`|^\s*)make ([a-z][\w-]*)", _readme(), re.M))
    assert named, "the README names no make target"
    assert named <= _make_targets(), f"README names make targets the Makefile lacks: {named - _make_targets()}"


def test_make_help_lists_every_target():
    out = subprocess.run(["make", "-s", "help"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    listed = set(re.findall(r"^\s*make ([\w-]+)\s+\S", out, re.M))
    assert listed == _make_targets()


def test_every_script_in_the_readme_exists():
    scripts = set(re.findall(r"python ([\w./-]+\.py)\b", _readme()))
    assert {"train.py", "eval.py", "predict.py"} <= scripts
    missing = sorted(s for s in scripts if not (REPO_ROOT / s).is_file())
    assert not missing, f"README names scripts that do not exist: {missing}"


def test_every_doc_and_image_in_the_readme_exists():
    readme = _readme()
    named = set(re.findall(r"\b((?:docs|images)/[\w./-]+\.(?:md|png|svg|jpg))", readme))
    named |= {f"docs/{name}" for name in re.findall(r"\(docs/([\w-]+\.md)\)", readme)}
    assert any(n.startswith("docs/") for n in named)
    missing = sorted(n for n in named if not (REPO_ROOT / n).is_file())
    assert not missing, f"README names files that do not exist: {missing}"


def test_readme_experiment_file_names_a_real_config():
    configs = re.findall(r"config: (configs/[\w./-]+\.yml)", _readme())
    assert configs and all((REPO_ROOT / c).is_file() for c in configs), configs


# ---------------------------------------------------------------------------- the installed wheel

def _run(cmd: list, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A wheel built from a copy of the sources, installed with --no-deps into a fresh venv outside
    the checkout; the heavy dependencies come from this interpreter's site-packages through a .pth
    file (whose own .pth files, the editable install of specct among them, are not read)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"  # a copy, so the build leaves no build/ or egg-info in the checkout
    for name in WHEEL_SOURCES:
        src = REPO_ROOT / name
        if src.is_dir():
            shutil.copytree(src, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(src, source / name)
    wheels = root / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
          "-w", wheels, source], cwd=root)
    [wheel] = sorted(wheels.glob("specct-*.whl"))
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=root)
    python = venv / "bin" / "python"
    purelib = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                        cwd=root).stdout.strip())
    (purelib / "specct_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", wheel], cwd=root)
    cwd = root / "elsewhere"
    cwd.mkdir()
    yield {"wheel": wheel, "venv": venv, "python": python, "purelib": purelib, "cwd": cwd}
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_wheel_carries_the_configs_and_the_license(installed):
    names = zipfile.ZipFile(installed["wheel"]).namelist()
    shipped = {n for n in names if n.startswith("specct/configs/")}
    expected = {"specct/" + p.relative_to(REPO_ROOT / "src" / "specct").as_posix()
                for p in (REPO_ROOT / "src" / "specct" / "configs").rglob("*.yml")}
    assert shipped == expected
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    examples = {"specct/" + p.relative_to(REPO_ROOT / "src" / "specct").as_posix()
                for p in (REPO_ROOT / "src" / "specct" / "examples").glob("*.yml")}
    assert examples <= set(names)


@pytest.mark.slow
def test_installed_package_is_imported_from_site_packages_with_its_configs(installed):
    out = _run([installed["python"], "-c", "import specct, pathlib; assert 'site-packages' in specct.__file__; "
                "print(pathlib.Path(specct.__file__).parent)"], cwd=installed["cwd"]).stdout.strip()
    package = Path(out)
    assert package == installed["purelib"] / "specct"
    assert sorted(p.name for p in (package / "configs" / "scratch").glob("*.yml")) == \
        sorted(p.name for p in (REPO_ROOT / "configs" / "scratch").glob("*.yml"))
    found = _run([installed["python"], "-c", "from specct.stages.pipeline import scratch_config; "
                  "print(scratch_config('speaker_vgg_cct_7_7x2_112'))"], cwd=installed["cwd"]).stdout.strip()
    assert Path(found).is_relative_to(package)


@pytest.mark.slow
def test_installed_demo_runs_into_its_workdir(installed):
    workdir = installed["cwd"].parent / "demo"
    out = _run([installed["python"], "-m", "specct.stages.pipeline", "--workdir", workdir, "--epochs", "1",
                "--speakers", "2", "--sentences", "1", "--image_size", "32", "--workers", "1"],
               cwd=installed["cwd"]).stdout
    assert "held-out corpus DEMOC: UAR" in out
    assert (workdir / "datasets" / "DEMOC" / "DEMOC_wav").is_dir()
    assert list((workdir / "output" / "train").rglob("model_best.pth.tar"))
    assert list((workdir / "output" / "test").rglob("performance.yaml"))
    assert not list(installed["cwd"].iterdir()), "the demo wrote outside its workdir"


@pytest.mark.slow
def test_installed_console_command(installed):
    command = installed["venv"] / "bin" / "specct"
    if not command.exists():
        pytest.skip("the wheel declares no `specct` console command ([project.scripts]) yet")
    out = _run([command, "--help"], cwd=installed["cwd"]).stdout
    assert "run" in out and "demo" in out


@pytest.mark.slow
def test_installed_quick_study_runs(installed):
    command = installed["venv"] / "bin" / "specct"
    study = installed["purelib"] / "specct" / "examples" / "quick_baselines.yml"
    has_study = subprocess.run([installed["python"], "-c", "import specct.study.engine"], cwd=installed["cwd"],
                               capture_output=True).returncode == 0
    if not (command.exists() and has_study and study.is_file()):
        pytest.skip("needs the `specct` command, specct.study.engine and a packaged examples/quick_baselines.yml; "
                    f"found command {command.exists()}, study {has_study}, example {study.is_file()}")
    workdir = installed["cwd"].parent / "study"
    workdir.mkdir()
    _run([command, "run", study], cwd=workdir, timeout=900)
