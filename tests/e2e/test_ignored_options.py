"""End-to-end: options that contradict each other or do not apply are refused, never
silently ignored: exit code 2, one line on stderr naming the option(s), nothing written."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from .conftest import run_cli


def _refused(
    argv: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path, *names: str
) -> str:
    """Run ``argv`` in the empty folder ``tmp_path`` (``--out`` pointing inside it); assert the
    refusal and that nothing was written. Returns the error line."""
    before = sorted(os.listdir(tmp_path))
    code, out, err = run_cli(argv, capsys)
    assert code == 2, (out, err)
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"spikeforge {argv[0]}: error: "), lines[0]
    for name in names:
        assert name in lines[0], (name, lines[0])
    assert "Traceback" not in err and out == ""
    assert sorted(os.listdir(tmp_path)) == before  # nothing written
    return lines[0]


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty current folder (holding one valid stimulus file, ok.npy)."""
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "ok.npy", np.full(200_000, 5.0))
    return tmp_path


TRAIN = [
    (["--beta", "0.5", "--tau", "5"], ["--beta", "--tau", "cannot be combined"]),
    (["--tau", "5", "--beta", "0.9"], ["--beta and --tau"]),  # a value equal to the default
    (["--arch", "mlp", "--channels", "8"], ["--channels", "--arch cnn", "(here: mlp)"]),
    (["--per-neuron"], ["--per-neuron", "--learn-beta or --learn-threshold"]),
    (["--neuron", "if", "--learn-beta"], ["--learn-beta", "--neuron lif"]),
    (["--neuron", "if", "--beta", "0.5"], ["--beta", "--neuron lif or --decoding membrane"]),
    (["--neuron", "if", "--tau", "5"], ["--tau", "--neuron lif or --decoding membrane"]),
    (["--data-dir", "somewhere"], ["--data-dir", "digits dataset is embedded"]),
]


@pytest.mark.parametrize(("extra", "needles"), TRAIN)
def test_train_refuses_ignored_options(
    extra: list[str], needles: list[str], here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _refused(["train", "--out", "run", "--no-progress", *extra], capsys, here, *needles)


def test_train_accepts_what_applies(here: Path) -> None:
    """The rules refuse only what would be ignored: these parse and configure fine."""
    from spikeforge.cli import build_parser
    from spikeforge.commands.train import config_from_args

    parser = build_parser()
    for argv in (
        ["--tau", "5"],
        ["--beta", "0.5", "--arch", "cnn", "--channels", "8"],
        ["--per-neuron", "--learn-threshold"],
        ["--neuron", "if", "--decoding", "membrane", "--beta", "0.5"],
    ):
        config_from_args(parser.parse_args(["train", *argv]))


SIMULATE = [
    (["--fi-curve", "5:10:1", "--current", "3"], ["--fi-curve and --current"]),
    (["--stimulus-file", "ok.npy"], ["--stimulus-file", "--stimulus file", "constant"]),
    (["--stimulus", "step", "--stimulus-file", "ok.npy"], ["--stimulus-file", "(here: step)"]),
    (["--noise-std", "1"], ["--noise-std", "--stimulus noisy"]),
    (["--stimulus", "ramp", "--seed", "3"], ["--seed", "--stimulus noisy", "(here: ramp)"]),
    (["--onset", "20"], ["--onset", "--stimulus step"]),
    (["--stimulus", "noisy", "--offset", "20"], ["--offset", "--stimulus step"]),
    (["--stimulus", "step", "--current-end", "2"], ["--current-end", "--stimulus ramp"]),
    (
        ["--stimulus", "file", "--stimulus-file", "ok.npy", "--current", "5"],
        ["--current", "--stimulus file"],
    ),
    (["--fi-curve", "5:10:1", "--stimulus", "ramp"], ["--fi-curve", "--stimulus ramp"]),
    (["--fi-curve", "5:10:1", "--noise-std", "2"], ["--noise-std", "--fi-curve"]),
    (["--settle", "10"], ["--settle", "--fi-curve"]),
    (["--no-figures"], ["--no-figures", "--out"]),
]


@pytest.mark.parametrize(("extra", "needles"), SIMULATE)
def test_simulate_refuses_ignored_options(
    extra: list[str], needles: list[str], here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = [] if extra == ["--no-figures"] else ["--out", "sim"]
    _refused(["simulate", "hh", "--duration", "5", *out, *extra], capsys, here, *needles)


def test_simulate_still_runs_what_applies(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["simulate", "hh", "--duration", "2", "--no-figures"]
    for i, extra in enumerate(
        (
            ["--stimulus", "file", "--stimulus-file", "ok.npy"],
            ["--stimulus", "step", "--onset", "1", "--offset", "1.5", "--current", "5"],
            ["--stimulus", "noisy", "--noise-std", "1", "--seed", "2"],
            ["--stimulus", "ramp", "--current-end", "3"],
            ["--fi-curve", "5:6:1", "--settle", "1", "--stimulus", "constant"],
        )
    ):
        # a folder each: simulate refuses to overwrite its own outputs
        code, _, err = run_cli([*argv, "--out", f"s{i}", *extra], capsys)
        assert code == 0, err


COMPARE = [
    (["--encodings", "direct,direct"], ["--encodings", "direct", "more than once"]),
    (["--decodings", "rate,ttfs,rate"], ["--decodings", "rate", "more than once"]),
    (["--data-dir", "somewhere"], ["--data-dir", "digits dataset is embedded"]),
    (["--channels", "8"], ["--channels", "--arch cnn"]),
]


@pytest.mark.parametrize(("extra", "needles"), COMPARE)
def test_compare_refuses_ignored_options(
    extra: list[str], needles: list[str], here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _refused(["compare", "--out", "cmp", *extra], capsys, here, *needles)


def test_eval_refuses_data_dir_for_a_digits_run(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As train does: the digits dataset is embedded, so --data-dir would be ignored."""
    out = tmp_path / "ev"
    line = _refused(
        ["eval", str(tiny_run / "best.pt"), "--data-dir", str(tmp_path), "--out", str(out)],
        capsys, tmp_path, "--data-dir", "digits",
    )  # fmt: skip
    assert "drop --data-dir" in line and "--dataset" not in line  # eval has no --dataset
    assert not (tiny_run / "eval").exists()
