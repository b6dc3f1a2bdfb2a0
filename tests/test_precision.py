"""The numeric precision: ``auto`` follows the CPU's flags, the choice is recorded in args.yaml and the
checkpoint, and a saved model is predicted in the precision it asked for."""
from __future__ import annotations

import pytest

from specct.core import precision
from specct.core.errors import InputError


@pytest.mark.parametrize("flags, expected", [
    ({"avx2", "avx512f", "avx512_bf16"}, "bfloat16"),      # AMD EPYC Genoa, Intel Cooper Lake
    ({"avx2", "amx_bf16", "amx_tile"}, "bfloat16"),        # Intel Sapphire Rapids and later
    ({"avx2", "avx512f", "avx512_vnni"}, "float32"),       # AVX-512 without bfloat16: emulated, slower
    (set(), "float32"),
])
def test_auto_follows_the_cpu_flags(flags, expected):
    assert precision.resolve("auto", "cpu", flags) == expected


def test_explicit_choices_are_kept_and_float16_is_bfloat16_on_a_cpu():
    assert precision.resolve("float32", "cpu", {"avx512_bf16"}) == "float32"
    assert precision.resolve("bfloat16", "cpu", set()) == "bfloat16"
    assert precision.resolve("float16", "cpu", set()) == "bfloat16"
    with pytest.raises(InputError, match="precision 'half'"):
        precision.resolve("half", "cpu")


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse2 avx2 avx512_bf16\n\nprocessor\t: 1\n")
    assert precision.cpu_flags(info) == {"fpu", "sse2", "avx2", "avx512_bf16"}
    assert precision.cpu_flags(tmp_path / "missing") == set()


def test_older_flags_map_to_a_precision():
    from specct.train.options import parse_args

    assert parse_args(["data", "--amp"]).precision == "bfloat16"
    assert parse_args(["data", "--amp", "--amp_dtype", "float16"]).precision == "float16"
    assert parse_args(["data"]).precision == precision.DEFAULT_PRECISION
    assert parse_args(["data", "--precision", "float32", "--amp"]).precision == "float32"   # the new flag wins


@pytest.mark.parametrize("asked", ["float32", "bfloat16"])
def test_the_precision_is_recorded_and_read_back_by_prediction(demo_split, tmp_path, asked):
    from training_fixtures import tiny_args

    from specct import systems
    from specct.core.checkpoint import BEST_NAME, load_checkpoint
    from specct.protocol.runs import read_args
    from specct.train import train

    out = train(tiny_args(demo_split.train_dir, tmp_path / asked, epochs=1, max_steps=1, precision=asked))
    assert read_args(out)["precision"] == asked and read_args(out)["precision_used"] == asked
    assert load_checkpoint(out / BEST_NAME)["args"]["precision_used"] == asked
    trained = systems.load(out, "cpu")
    assert trained.precision_used == asked and trained.record()["precision"] == asked


def test_auto_resolves_again_on_the_host_that_loads_the_model(demo_split, tmp_path, monkeypatch):
    from training_fixtures import tiny_args

    from specct import systems
    from specct.protocol.runs import read_args
    from specct.train import train

    monkeypatch.setattr(precision, "cpu_flags", lambda cpuinfo=None: {"avx2"})            # a host without bf16
    out = train(tiny_args(demo_split.train_dir, tmp_path / "auto", epochs=1, max_steps=1, precision="auto"))
    assert read_args(out)["precision"] == "auto" and read_args(out)["precision_used"] == "float32"
    monkeypatch.setattr(precision, "cpu_flags", lambda cpuinfo=None: {"avx2", "avx512_bf16"})  # one with it
    assert systems.load(out, "cpu").precision_used == "bfloat16"
