"""End-to-end: train, eval, bad input, resume — through ``main(argv)`` and the console script."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from spikeforge.checkpoint import load_checkpoint, save_checkpoint
from spikeforge.cli import main

from .conftest import TINY, read_json, run_cli

METRIC_KEYS = {
    "accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "per_class",
    "confusion_matrix",
}


def test_train_writes_run_folder(tiny_run: Path) -> None:
    for name in (
        "config.json",
        "best.pt",
        "last.pt",
        "history.json",
        "metrics.json",
        "confusion.png",
        "training_curves.png",
        "layer_traces.png",
    ):
        assert (tiny_run / name).is_file(), name
    m = read_json(tiny_run / "metrics.json")
    assert set(m) >= METRIC_KEYS
    cm = torch.tensor(m["confusion_matrix"])
    assert cm.shape == (10, 10)
    # rows are true classes: their sums are the per-class supports, the total the test size
    supports = [m["per_class"][str(c)]["support"] for c in range(10)]
    assert cm.sum(1).tolist() == supports
    assert int(cm.sum()) == m["num_samples"] == 359
    assert m["accuracy"] == pytest.approx(float(cm.diagonal().sum()) / int(cm.sum()))
    assert set(m["per_class"]["3"]) == {"precision", "recall", "f1", "support"}
    assert m["output_spikes_per_sample"] >= 0
    assert all(0.0 <= r <= 1.0 for r in m["layer_firing_rates"].values())
    assert len(read_json(tiny_run / "history.json")) == 3
    # a tiny MLP on 300 real digits for 3 epochs is far above chance (10 %)
    assert m["accuracy"] > 0.5


def test_eval_reproduces_metrics_exactly(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(["eval", str(tiny_run / "best.pt"), "--out", str(tmp_path)], capsys)
    assert code == 0
    assert "accuracy" in out
    a = read_json(tiny_run / "metrics.json")
    b = read_json(tmp_path / "metrics.json")
    for key in METRIC_KEYS | {"output_spikes_per_sample", "layer_firing_rates"}:
        assert a[key] == b[key], key
    assert (tmp_path / "confusion.png").is_file()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["train", "--epochs", "-1"], "--epochs"),
        (["train", "--epochs", "0"], "--epochs"),
        (["train", "--num-steps", "0"], "--num-steps"),
        (["train", "--dataset", "imagenet"], "--dataset"),
        (["train", "--encoding", "morse"], "--encoding"),
        (["train", "--surrogate", "magic"], "--surrogate"),
        (["train", "--reset", "sometimes"], "--reset"),
        (["train", "--lr", "-0.1"], "--lr"),
        (["train", "--dataset", "mnist", "--data-dir", "/nonexistent/dir"], "/nonexistent/dir"),
        (["train", "--epochs", "three"], "--epochs"),
        (["train", "--resume", "/nonexistent/run"], "--resume"),
        (["eval", "/nonexistent/best.pt"], "does not exist"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    args: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(args, capsys)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert needle in lines[0]
    assert "Traceback" not in err


def test_corrupt_and_foreign_checkpoints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x80\x04 this is not a checkpoint")
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, foreign)
    for path, needle in ((corrupt, "corrupt"), (foreign, "not a spikeforge checkpoint")):
        code, _, err = run_cli(["eval", str(path)], capsys)
        assert code == 2
        assert needle in err
        assert len(err.strip().splitlines()) == 1


def test_out_folder_with_a_run_is_not_overwritten(
    tiny_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (tiny_run / "last.pt").read_bytes()
    code, _, err = run_cli(["train", *TINY, "--out", str(tiny_run)], capsys)
    assert code == 2 and "--resume" in err
    assert (tiny_run / "last.pt").read_bytes() == before


def test_atomic_checkpoint_survives_failed_write(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"epoch": 1})

    class Boom(Exception):
        pass

    class Exploding:
        def __reduce__(self):
            raise Boom

    with pytest.raises(Boom):
        save_checkpoint(path, {"epoch": 2, "bad": Exploding()})
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp file left


def test_nan_loss_stops_with_epoch_and_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import spikeforge.train as train_mod

    real = train_mod.loss_for
    training_calls = {"n": 0}

    def poisoned(decoding):
        loss = real(decoding)

        def f(out, y):
            value = loss(out, y)
            if out.requires_grad:  # count training steps only
                training_calls["n"] += 1
                if training_calls["n"] == 12:
                    return value * float("nan")
            return value

        return f

    monkeypatch.setattr(train_mod, "loss_for", poisoned)
    out = tmp_path / "run"
    code, _, err = run_cli(["train", *TINY, "--out", str(out)], capsys)
    assert code == 2
    assert "epoch 2, step 2" in err  # 300 samples / 32 = 10 steps per epoch
    assert load_checkpoint(out / "last.pt")["epoch"] == 1


def test_resume_after_interrupt_matches_uninterrupted(
    tiny_run: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import spikeforge.experiment as exp

    real = exp.train_epoch

    def interrupt_in_epoch_3(*args, **kwargs):
        if kwargs["epoch"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    out = tmp_path / "run"
    monkeypatch.setattr(exp, "train_epoch", interrupt_in_epoch_3)
    code, _, _ = run_cli(["train", *TINY, "--out", str(out)], capsys)
    assert code == 130
    assert load_checkpoint(out / "last.pt")["epoch"] == 2
    monkeypatch.setattr(exp, "train_epoch", real)
    code, _, _ = run_cli(["train", "--resume", str(out), "--no-progress"], capsys)
    assert code == 0
    assert (
        read_json(out / "metrics.json")["confusion_matrix"]
        == read_json(tiny_run / "metrics.json")["confusion_matrix"]
    )
    assert _without_times(read_json(out / "history.json")) == _without_times(
        read_json(tiny_run / "history.json")
    )


def _without_times(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def _console_script() -> str:
    exe = shutil.which("spikeforge")
    if exe is None:
        pytest.skip("the spikeforge console script is not installed (pip install -e .)")
    return exe


def test_console_script_help_and_bad_input() -> None:
    exe = _console_script()
    ok = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "train" in ok.stdout and "eval" in ok.stdout
    bad = subprocess.run(
        [exe, "train", "--epochs", "-5"], capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1 and "--epochs" in bad.stderr


def test_killed_process_leaves_resumable_checkpoint(tiny_run: Path, tmp_path: Path) -> None:
    """SIGKILL a real training process after its first checkpoint, then resume it."""
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "spikeforge", "train", *TINY, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + 300
        while not (out / "last.pt").exists():
            assert proc.poll() is None, "training ended before writing a checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 300 s"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    epoch = load_checkpoint(out / "last.pt")["epoch"]
    assert 1 <= epoch <= 3
    assert main(["train", "--resume", str(out), "--no-progress"]) == 0
    assert (
        read_json(out / "metrics.json")["confusion_matrix"]
        == read_json(tiny_run / "metrics.json")["confusion_matrix"]
    )
