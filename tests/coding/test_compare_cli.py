"""End-to-end: ``spikeforge compare`` on digits with a tiny budget, through ``main(argv)``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from spikeforge.cli import main
from spikeforge.comparison import RECORD_KEYS

STEPS = 4
TINY = [
    "--dataset", "digits", "--encodings", "direct,latency", "--decodings", "ttfs",
    "--hidden", "32", "-T", str(STEPS), "--epochs", "2", "--lr", "1e-2",
    "--max-train-samples", "300",
]  # fmt: skip


@pytest.fixture(scope="module")
def compare_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("compare")
    assert main(["compare", *TINY, "--out", str(out)]) == 0
    return out


def test_comparison_json_structure_and_ranges(compare_dir: Path) -> None:
    records = json.loads((compare_dir / "comparison.json").read_text())
    assert [(r["encoding"], r["decoding"]) for r in records] == [
        ("direct", "ttfs"),
        ("latency", "ttfs"),
    ]
    for r in records:
        assert list(r)[: len(RECORD_KEYS)] == list(RECORD_KEYS)
        assert 0.0 <= r["accuracy"] <= 1.0 and 0.0 <= r["f1_macro"] <= 1.0
        assert 0.0 <= r["decision_latency"] <= STEPS
        assert r["spikes_per_sample"] >= 0 and math.isfinite(r["spikes_per_sample"])
        assert r["synops_per_sample"] > 0 and math.isfinite(r["synops_per_sample"])
        assert 0.0 <= r["undecided_fraction"] <= 1.0
        by_steps = r["accuracy_by_steps"]
        assert len(by_steps) == STEPS and by_steps[-1] == pytest.approx(r["accuracy"])
        # the run folder's own evaluation (spikeforge.train.evaluate) agrees
        metrics = json.loads((Path(r["run_dir"]) / "metrics.json").read_text())
        assert metrics["accuracy"] == pytest.approx(r["accuracy"])
    direct, latency = records
    assert direct["input_spikes_per_sample"] == 0.0
    assert latency["input_spikes_per_sample"] > 0.0
    # tiny budget, real digits: far above chance (10 %)
    assert direct["accuracy"] > 0.3
    for name in ("comparison.md", "accuracy_vs_steps.png"):
        assert (compare_dir / name).is_file()
    assert "| direct | ttfs |" in (compare_dir / "comparison.md").read_text()


def test_rerun_reuses_finished_rows(compare_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = json.loads((compare_dir / "comparison.json").read_text())
    assert main(["compare", *TINY, "--out", str(compare_dir)]) == 0
    assert capsys.readouterr().out.count("not trained again") == 2
    after = json.loads((compare_dir / "comparison.json").read_text())
    for a, b in zip(before, after, strict=True):
        assert a["accuracy"] == b["accuracy"] and a["synops_per_sample"] == b["synops_per_sample"]


def test_other_options_on_same_folder_and_bad_names_fail(
    compare_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    changed = [*TINY, "--epochs", "3", "--out", str(compare_dir)]
    assert main(["compare", *changed]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"spikeforge compare: error: {str(compare_dir)!r} holds a comparison made with other "
        "options: --epochs 2 (now 3); rerun with the same options to continue it, or choose "
        "another --out"
    ]
    assert main(["compare", "--out", str(compare_dir), "--decodings", "ttfs,spiky"]) == 2
    assert "spiky" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--encodings", "--decodings"])
@pytest.mark.parametrize("empty_at", ["middle", "end", "start"])
def test_empty_entry_in_a_list_is_one_line_naming_the_option(
    option: str,
    empty_at: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--decodings rate,,ttfs`` used to be read as ``rate,ttfs``."""
    from spikeforge.coding import Decoding, Encoding

    kind = Encoding if option == "--encodings" else Decoding
    first, second = (m.value for m in list(kind)[:2])
    text = {"middle": f"{first},,{second}", "end": f"{first},", "start": f",{second}"}[empty_at]
    out = tmp_path / "cmp"
    assert main(["compare", "--out", str(out), option, text]) == 2
    captured = capsys.readouterr()
    accepted = ", ".join(m.value for m in kind)
    assert captured.err.splitlines() == [
        f"spikeforge compare: error: argument {option}: {option} must be names separated by "
        f"commas (no empty entries), got {text!r}; accepted: {accepted}"
    ]
    assert captured.out == "" and not out.exists()


def test_lists_without_empty_entries_still_parse() -> None:
    from spikeforge.cli import build_parser
    from spikeforge.coding import Decoding, Encoding

    args = build_parser().parse_args(
        ["compare", "--out", "o", "--encodings", " rate , latency", "--decodings", "ttfs"]
    )
    assert args.encodings == (Encoding.RATE, Encoding.LATENCY)
    assert args.decodings == (Decoding.TTFS,)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        (["--encodings", "direct"], "--encodings direct,latency (now direct)"),
        (["--encodings", "latency,direct"], "--encodings direct,latency (now latency,direct)"),
        (["--decodings", "ttfs,rate"], "--decodings ttfs (now ttfs,rate)"),
        (["--hidden", "16", "--seed", "1"], "--hidden 32 (now 16); --seed 0 (now 1)"),
    ],
)
def test_rerun_with_other_rows_or_options_is_refused_and_writes_nothing(
    changes: list[str], named: str, compare_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/coding.md: other options on the same folder are refused. A subset of the
    encodings used to be accepted and rewrote comparison.json with only those rows."""
    before = _snapshot(compare_dir)
    assert main(["compare", *TINY, *changes, "--out", str(compare_dir)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and named in lines[0], lines
    assert "holds a comparison made with other options" in lines[0]
    assert captured.out == ""  # refused before loading the data or training
    assert _snapshot(compare_dir) == before


def test_folder_without_saved_options_keeps_its_rows(
    compare_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A comparison written before the options were saved: leaving out rows it holds is
    refused, the same options continue it (and save them)."""
    import shutil

    from spikeforge.comparison import OPTIONS_FILE

    old = tmp_path / "old"
    shutil.copytree(compare_dir, old)
    (old / OPTIONS_FILE).unlink()
    assert main(["compare", *TINY, "--encodings", "latency", "--out", str(old)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "--encodings direct,latency (now latency)" in err[0]
    assert not (old / OPTIONS_FILE).exists()
    # the copied run folders hold finished rows of the same configuration: reused
    assert main(["compare", *TINY, "--out", str(old)]) == 0
    assert capsys.readouterr().out.count("not trained again") == 2
    saved = json.loads((old / OPTIONS_FILE).read_text())
    assert saved["encodings"] == ["direct", "latency"] and saved["decodings"] == ["ttfs"]


@pytest.mark.parametrize(
    ("flags", "progress"),
    [
        ([], False),  # the default: a comparison prints one line per row
        (["--progress"], True),
        (["--no-progress"], False),
        (["--progress", "--no-progress"], False),  # the last one given wins
        (["--no-progress", "--progress"], True),
    ],
)
def test_compare_takes_no_progress_like_every_other_command(
    flags: list[str], progress: bool
) -> None:
    """``compare ... --no-progress`` used to fail with "unrecognized arguments"."""
    from spikeforge.cli import build_parser

    args = build_parser().parse_args(["compare", "--out", "o", *flags])
    assert args.progress is progress


def test_compare_reruns_with_no_progress_and_the_flag_is_not_a_saved_option(
    compare_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The progress bar changes only the output: a rerun with --no-progress (or --progress)
    continues the comparison, and compare_codings gets the flag as given."""
    import spikeforge.comparison as comparison

    seen: list[bool] = []
    real = comparison.compare_codings

    def spy(*args: object, progress: bool, **kw: object) -> object:
        seen.append(progress)
        return real(*args, progress=progress, **kw)

    monkeypatch.setattr(comparison, "compare_codings", spy)
    for flag in ("--no-progress", "--progress"):
        assert main(["compare", *TINY, "--out", str(compare_dir), flag]) == 0
        assert capsys.readouterr().out.count("not trained again") == 2
    assert seen == [False, True]


def test_compare_help_lists_both_progress_flags(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # each option's help on its own line
    assert main(["compare", "--help"]) == 0
    lines = {" ".join(line.split()) for line in capsys.readouterr().out.splitlines()}
    assert "--progress live progress bar per epoch" in lines
    assert "--no-progress no live progress bar (the default)" in lines
