"""A command whose standard output fails (the reader of a pipe quit, the device is full)
runs to its end: its files are written, no traceback, and a full device is named once."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from spikeforge.cli import main

SIMULATE = ["simulate", "izhikevich", "--params", "FS", "--no-figures"]
FILES = {"summary.json", "traces.csv", "traces.npz"}


class _FailingStdout:
    """A stream whose every write and flush fails with ``code``."""

    def __init__(self, code: int) -> None:
        self.code, self.writes = code, 0

    def write(self, text: str) -> int:
        self.writes += 1
        raise OSError(self.code, os.strerror(self.code))

    def flush(self) -> None:
        raise OSError(self.code, os.strerror(self.code))


@pytest.mark.parametrize("code", [errno.EPIPE, errno.ENOSPC], ids=["closed-pipe", "full"])
def test_the_command_finishes_when_its_output_fails(
    code: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    stream = _FailingStdout(code)
    monkeypatch.setattr(sys, "stdout", stream)
    assert main([*SIMULATE, "--out", str(tmp_path / "run")]) == 0
    assert sys.stdout is stream  # the caller's stream is back
    assert stream.writes == 0  # the first failure (a flush) stopped all output
    assert {p.name for p in (tmp_path / "run").iterdir()} >= FILES
    err = capsys.readouterr().err
    if code == errno.EPIPE:
        assert err == ""  # the reader chose to stop: nothing to say
    else:
        assert err.count("\n") == 1
        assert "standard output could not be written (No space left on device)" in err


def test_a_pipe_closed_by_its_reader_gives_no_traceback(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "spikeforge", *SIMULATE, "--out", str(tmp_path / "run")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # like `| head -0`: the reader is gone before the first line
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=300) == 0, err
    assert "Traceback" not in err and "Exception ignored" not in err
    assert {p.name for p in (tmp_path / "run").iterdir()} >= FILES


@pytest.mark.parametrize(
    ("command", "fix"),
    [
        ("train", "--batch-size"),
        ("compare", "--batch-size"),
        ("simulate", "--duration"),
        ("eval", "smaller sizes"),
    ],
)
def test_out_of_memory_names_what_to_make_smaller_for_that_command(
    command: str, fix: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import importlib

    module = importlib.import_module(f"spikeforge.commands.{command}")

    def run(_args: object) -> int:
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried 1 TB")

    monkeypatch.setattr(module, "run", run)
    argv = {
        "train": ["train"],
        "compare": ["compare", "--out", "x"],
        "simulate": ["simulate", "hh"],
        "eval": ["eval", "x.pt"],
    }[command]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"spikeforge {command}: error: out of memory")
    assert fix in err and ("simulate" in err) == (command == "simulate")
