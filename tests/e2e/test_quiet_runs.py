"""End-to-end: a run writes nothing to stderr that is not an error."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from .conftest import TINY, run_cli


def test_learn_threshold_run_emits_no_warning_and_no_progress_without_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """stderr is captured (not a TTY): no progress bar, no blank lines, even without
    --no-progress; and the traces figure detaches the learnt threshold (torch warned)."""
    args = [a for a in TINY if a != "--no-progress"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, _, err = run_cli(
            ["train", *args, "--learn-threshold", "--out", str(tmp_path / "r")], capsys
        )
    assert code == 0
    assert err == ""
    assert [str(w.message) for w in caught if issubclass(w.category, UserWarning)] == []
