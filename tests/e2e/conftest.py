"""Shared helpers for end-to-end tests through ``spikeforge.cli.main``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spikeforge.cli import main

#: A run small enough for CI (a few seconds) that still trains on real digits.
TINY_ARGS = "--arch mlp --hidden 64 --num-steps 4 --epochs 3 --lr 1e-2 --max-train-samples 300 "
TINY_ARGS += "--batch-size 32 --no-progress"
TINY = TINY_ARGS.split()

#: A comparison of one pair, one epoch (a few seconds).
TINY_COMPARE = [
    "compare", "--encodings", "direct", "--decodings", "rate", "--epochs", "1",
    "--hidden", "16", "-T", "2", "--max-train-samples", "200",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _in_tmp_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every end-to-end test runs in its own empty current folder, so a command that writes
    to the default ``runs/<timestamp>`` (or fails to clean up) never touches the repository."""
    monkeypatch.chdir(tmp_path)


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the CLI in-process; return ``(exit_code, stdout, stderr)``."""
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    """The only line of ``err`` (asserting there is exactly one, and no traceback)."""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny training run shared by the tests that only read its outputs."""
    out = tmp_path_factory.mktemp("tiny") / "run"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    return out
