"""End-to-end: option values refused at parse time, and what ``--help`` shows."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .conftest import run_cli

#: (command line before the empty value, option as named in the message)
EMPTY_PATH_OPTIONS = [
    (["train", "--out"], "--out"),
    (["train", "--data-dir"], "--data-dir"),
    (["train", "--resume"], "--resume"),
    (["eval"], "CHECKPOINT"),
    (["eval", "best.pt", "--out"], "--out"),
    (["eval", "best.pt", "--data-dir"], "--data-dir"),
    (["compare", "--out"], "--out"),
    (["compare", "--out", "cmp", "--data-dir"], "--data-dir"),
    (["simulate", "lif", "--out"], "--out"),
    (["simulate", "lif", "--stimulus", "file", "--stimulus-file"], "--stimulus-file"),
    (["datasets", "download", "mnist", "--data-dir"], "--data-dir"),
]


@pytest.mark.parametrize("blank", ["", "  "])
@pytest.mark.parametrize(("args", "option"), EMPTY_PATH_OPTIONS)
def test_empty_path_option_is_refused_before_any_work(
    args: list[str],
    option: str,
    blank: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An empty path would be ``Path("") == "."``: the run, download or figures would land in
    the current folder. It is a one-line usage error naming the option instead."""
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli([*args, blank], capsys)
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1, err
    command = args[0]
    prefix = f"spikeforge {command}: error: argument {option}: {option} must not be empty; give "
    assert lines[0].startswith(prefix), lines[0]
    assert len(lines[0]) > len(prefix)  # says what to give instead
    assert "Traceback" not in err and out == ""
    assert os.listdir(tmp_path) == []  # nothing written into the current folder


def test_empty_value_with_equals_sign_is_refused_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["train", "--out=", "--no-progress"], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "argument --out: --out must not be empty" in err
    assert os.listdir(tmp_path) == []


def test_non_empty_path_options_keep_their_types() -> None:
    from spikeforge.cli import build_parser

    parser = build_parser()
    sim = parser.parse_args(["simulate", "lif", "--out", "o", "--stimulus-file", "s.npy"])
    assert sim.out == Path("o") and sim.stimulus_file == Path("s.npy")
    train = parser.parse_args(["train", "--out", "o", "--data-dir", "d"])
    assert (train.out, train.data_dir, train.resume) == ("o", "d", None)
