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


def _help(command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """``spikeforge COMMAND --help`` with every option's help on one line."""
    from spikeforge.cli import main

    monkeypatch.setenv("COLUMNS", "400")
    assert main([command, "--help"]) == 0
    return capsys.readouterr().out


def _entries(text: str) -> list[str]:
    """Each option's help as one line (argparse puts the help of a long option on the next
    line): ``"--encodings ENCODINGS  comma-separated: ... (default: ...)"``."""
    entries: list[str] = []
    for line in text.splitlines():
        if line.startswith("  -"):
            entries.append(line.strip())
        elif entries and line.startswith("   ") and line.strip():
            entries[-1] += "  " + line.strip()
    return entries


def _option_line(text: str, option: str) -> str:
    (line,) = [e for e in _entries(text) if e.startswith(f"{option} ")]
    return line


def test_compare_help_shows_defaults_as_typed_and_no_default_for_required_out(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from spikeforge.coding import Decoding, Encoding
    from spikeforge.commands.compare import DEFAULTS

    text = _help("compare", capsys, monkeypatch)
    assert "<Encoding." not in text and "<Decoding." not in text and "None" not in text
    encodings = ",".join(e.value for e in Encoding)
    decodings = ",".join(d.value for d in Decoding)
    assert _option_line(text, "--encodings").endswith(f"(default: {encodings})")
    assert _option_line(text, "--decodings").endswith(f"(default: {decodings})")
    assert _option_line(text, "--hidden").endswith(
        f"(default: {','.join(str(h) for h in DEFAULTS.hidden)})"
    )
    assert _option_line(text, "--channels").endswith(
        f"(default: {','.join(str(c) for c in DEFAULTS.channels)})"
    )
    out_line = _option_line(text, "--out")
    assert out_line.endswith("output folder (required)") and "default" not in out_line


@pytest.mark.parametrize("command", ["train", "compare", "eval"])
def test_every_default_shown_in_help_parses_back_to_the_default(
    command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Copying a shown default onto the command line gives the value used when it is omitted."""
    import re

    from spikeforge.cli import build_parser

    text = _help(command, capsys, monkeypatch)
    assert "(default: None)" not in text and "(default: False)" not in text
    assert "(default: <" not in text and "(default: (" not in text  # no repr of enum/tuple
    required = {"compare": ["--out", "o"], "eval": ["x.pt"], "train": []}[command]
    # a value as typed has no spaces ("an 'eval' folder beside ..." is the help's own words)
    pattern = re.compile(r"^(--[a-z-]+) [A-Z_]+(?:, -\w [A-Z_]+)?\s{2,}.*\(default: (\S+)\)$")
    shown = [m.groups() for e in _entries(text) if (m := pattern.match(e))]
    assert len(shown) >= {"train": 20, "compare": 10, "eval": 0}[command]
    parser = build_parser()
    omitted = vars(parser.parse_args([command, *required]))
    for option, value in shown:
        given = vars(parser.parse_args([command, *required, option, value]))
        dest = option.lstrip("-").replace("-", "_")
        assert given[dest] == omitted[dest], (option, value)


def test_as_typed() -> None:
    import enum

    from spikeforge.commands._args import as_typed

    class Colour(enum.Enum):
        DARK_RED = "dark-red"
        BLUE = "blue"

    assert as_typed((Colour.DARK_RED, Colour.BLUE)) == "dark-red,blue"
    assert as_typed(Colour.BLUE) == "blue"
    assert as_typed((128, 64)) == "128,64" and as_typed([3]) == "3"
    assert as_typed(0.005) == "0.005" and as_typed("digits") == "digits"


def test_too_many_conv_blocks_names_channels_and_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It used to say "spiking_cnn: 5 pooling blocks need ..." without naming --channels."""
    code, _, err = run_cli(
        ["train", "--channels", "3,3,3,3,3", "--no-progress", "--out", str(tmp_path / "r")],
        capsys,
    )
    assert code == 2
    assert err.splitlines() == [
        "spikeforge train: error: --channels 3,3,3,3,3: 5 conv blocks each halve the image "
        "side, so they need images of at least 32x32 pixels, but these are 8x8; give at most 3 "
        "blocks, e.g. --channels 3,3,3"
    ]
