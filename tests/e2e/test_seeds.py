"""End-to-end: --seed is checked at parse time, the same way in train, compare and simulate
(a huge seed used to end in 'Overflow when unpacking long long', seed + 202 past 2**64 in
another traceback, and simulate accepted -1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from spikeforge.config import MAX_SEED

from .conftest import TINY, TINY_COMPARE, one_line, run_cli


@pytest.mark.parametrize("value", ["-1", str(MAX_SEED + 1), str(2**64 - 1), "9" * 23, "x"])
@pytest.mark.parametrize(
    "command",
    [["train", *TINY], TINY_COMPARE, ["simulate", "hh", "--stimulus", "noisy"]],
    ids=["train", "compare", "simulate"],
)
def test_seed_out_of_range_is_a_usage_error(
    command: list[str], value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, _, err = run_cli([*command, "--seed", value, "--out", str(out)], capsys)
    assert code == 2
    line = one_line(err)
    assert line.startswith(f"spikeforge {command[0]}: error: argument --seed: must be an integer")
    if value != "x":
        assert line.endswith(f"from 0 to {MAX_SEED} (2**32 - 1), got {int(value)}")
    assert not out.exists()


def test_largest_seed_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """MAX_SEED plus every offset a run adds fits torch's generators."""
    seed = ["--seed", str(MAX_SEED)]
    fast = ["--epochs", "1", "--max-train-samples", "100"]
    assert run_cli(["train", *TINY, *fast, *seed, "--out", str(tmp_path / "r")], capsys)[0] == 0
    sim = ["simulate", "lif", "--stimulus", "noisy", "--duration", "5", *seed]
    assert run_cli(sim, capsys)[0] == 0
