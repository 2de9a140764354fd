"""End-to-end: train, eval, bad input, resume — through ``main(argv)`` and the console script."""

from __future__ import annotations

import math
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
from spikeforge.config import TrainConfig

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


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["train", "--hidden", ""], "--hidden"),
        (["train", "--hidden", "128,,64"], "--hidden"),
        (["train", "--channels", ""], "--channels"),
        (["train", "--channels", "0"], "--channels"),
        (["train", "--tau", "0"], "--tau"),
        (["train", "--tau", "nan"], "--tau"),
        (["train", "--surrogate-scale", "nan"], "--surrogate-scale"),
        (["train", "--data-dir", "/tmp"], "--data-dir"),
        (["train", "--arch", "mlp", "--num-steps", "100000000", "--epochs", "1"], "memory"),
        (["train", "--num-steps", "20000"], "memory"),
    ],
)
def test_more_bad_input_exits_2_with_one_line(
    args: list[str], needle: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run_cli([*args, "--out", str(tmp_path / "run"), "--no-progress"], capsys)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert needle in err


def test_checkpoint_path_errors_say_what_is_wrong(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    for path, needle in ((tiny_run, "is a directory"), (empty, "is empty")):
        code, _, err = run_cli(["eval", str(path)], capsys)
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1


def test_run_files_have_normal_permissions(tiny_run: Path) -> None:
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    for name in ("config.json", "metrics.json", "history.json", "best.pt", "last.pt"):
        assert (tiny_run / name).stat().st_mode & 0o777 == 0o666 & ~mask, name


def test_cnn_uses_every_hidden_width() -> None:
    from spikeforge.config import TrainConfig
    from spikeforge.models import Arch
    from spikeforge.train import make_model

    model = make_model(TrainConfig(arch=Arch.CNN, hidden=(40, 20)), (1, 8, 8), 10)
    widths = [m.out_features for m in model if isinstance(m, torch.nn.Linear)]
    assert widths == [40, 20, 10]


def test_interrupt_before_any_epoch_says_nothing_to_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import spikeforge.experiment as exp

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(exp, "train_epoch", interrupt)
    code, out, _ = run_cli(["train", *TINY, "--out", str(tmp_path / "run")], capsys)
    assert code == 130
    assert "nothing to resume" in out and "--resume" not in out


def test_quick_runs_shrink_validation_in_proportion() -> None:
    from spikeforge.config import TrainConfig
    from spikeforge.datasets import load_dataset
    from spikeforge.train import make_splits

    s = make_splits(load_dataset("digits"), TrainConfig(max_train_samples=300))
    assert len(s.train) == 300
    # 300 * 0.15 / 0.85 = 53 in all, rounded per class (10 classes: at most 5 off)
    assert abs(len(s.val) - round(300 * 0.15 / 0.85)) <= 5
    assert set(s.val.y.tolist()) == set(range(10))
    assert len(s.test) == 359


def test_out_that_cannot_be_a_folder_exits_2_with_one_line(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--out naming a file, a path inside a file, or a folder that cannot be created is
    refused before any work, for train, eval and compare alike (no traceback, exit 2)."""
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    cases = [
        (a_file, "is a file"),
        (a_file / "run", f"is inside {a_file}, which is a file"),
        (Path("/proc/spikeforge-run"), "cannot create this folder"),
    ]
    commands = [
        ["train", *TINY],
        ["eval", str(tiny_run / "best.pt")],
        ["compare", "--epochs", "1", "--encodings", "direct", "--decodings", "rate"],
    ]
    for out, needle in cases:
        for command in commands:
            code, _, err = run_cli([*command, "--out", str(out)], capsys)
            assert code == 2, (command, err)
            lines = [line for line in err.splitlines() if line.strip()]
            assert len(lines) == 1 and needle in lines[0] and "--out" in lines[0], (command, err)
    assert a_file.read_text() == "not a folder"


def test_resume_refuses_a_checkpoint_that_is_not_a_last_pt(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A best.pt copied over last.pt has the model but no optimiser, schedule or generator
    states: --resume names the file and what it lacks instead of failing on a missing key."""
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(tiny_run / "best.pt", run / "last.pt")
    code, _, err = run_cli(["train", "--resume", str(run), "--no-progress"], capsys)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert "not a resumable last.pt" in err and "optimizer" in err


def _plain_pickle(path: Path) -> Path:
    """A dict written by ``pickle.dump`` (protocol 4+, not torch's format): torch.load warns
    about the protocol before it fails."""
    import pickle

    with open(path, "wb") as f:
        pickle.dump({"model": [1.0, 2.0], "epoch": 3}, f, protocol=4)
    return path


def test_plain_pickle_checkpoint_is_one_line_without_torch_warning(tmp_path: Path) -> None:
    """Through a real process with Python's default warning filters (which show UserWarning):
    stderr is the error line alone, no 'UserWarning: Detected pickle protocol 4 ...'."""
    path = _plain_pickle(tmp_path / "x.pt")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    env.pop("PYTHONWARNINGS", None)
    proc = subprocess.run(
        [sys.executable, "-m", "spikeforge", "eval", str(path)],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"spikeforge eval: error: checkpoint {str(path)!r} is corrupt or not a torch "
        "checkpoint file; use a best.pt or last.pt written by 'spikeforge train'"
    ]
    assert not (tmp_path / "eval").exists()


def test_load_checkpoint_silences_only_the_pickle_protocol_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import warnings

    from spikeforge.errors import CheckpointError

    path = _plain_pickle(tmp_path / "x.pt")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        before = list(warnings.filters)
        with pytest.raises(CheckpointError, match="corrupt or not a torch checkpoint"):
            load_checkpoint(path)
        assert list(warnings.filters) == before  # the caller's filters are untouched
    assert [str(w.message) for w in caught] == []
    # the same file really makes torch warn (so the test above tests something)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(Exception):  # noqa: B017 - torch's own unpickling error
            torch.load(path, map_location="cpu", weights_only=True)
    assert any("Detected pickle protocol" in str(w.message) for w in caught)
    # any other warning during torch.load still reaches the caller
    real_load = torch.load

    def load_with_other_warning(*args, **kwargs):
        warnings.warn("some other torch warning", UserWarning, stacklevel=2)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", load_with_other_warning)
    good = tmp_path / "good.pt"
    save_checkpoint(good, {"epoch": 1})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert load_checkpoint(good)["epoch"] == 1
    assert [str(w.message) for w in caught] == ["some other torch warning"]


def _resume_refusal(options: list[str]) -> str:
    it = "it" if len(options) == 1 else "them"
    return (
        "spikeforge train: error: --resume continues the run with its saved configuration, "
        f"which {', '.join(options)} cannot change; drop {it} (only --no-progress and "
        "--data-dir go with --resume) or start a new run with --out"
    )


def test_resume_with_a_training_option_is_refused_and_leaves_the_run_alone(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The user trial: ``--resume RUN --epochs 20`` used to train on with the saved 3 epochs."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    before = {p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file()}
    code, out, err = run_cli(["train", "--resume", str(run), "--epochs", "20"], capsys)
    assert code == 2 and out == ""
    assert err.splitlines() == [_resume_refusal(["--epochs"])]
    after = {p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert after == before


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        # equal to the default: still given, still refused
        (["--epochs", str(TrainConfig().epochs)], ["--epochs"]),
        (["--seed", "0", "--no-progress"], ["--seed"]),
        (["-T", "8", "--lr", "1e-3"], ["-T", "--lr"]),
        (["--detach-reset"], ["--detach-reset"]),
        (["--no-detach-reset", "--learn-beta"], ["--no-detach-reset", "--learn-beta"]),
        (["--dataset", "digits", "--data-dir", "/tmp"], ["--dataset"]),  # where data lives: ok
        (["--epo", "3", "--epochs", "4"], ["--epochs"]),  # abbreviation, named once
    ],
)
def test_resume_names_every_option_it_would_ignore(
    extra: list[str], named: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(["train", "--resume", str(tmp_path), *extra], capsys)
    assert code == 2
    assert err.splitlines() == [_resume_refusal(named)]


def test_parser_records_exactly_the_options_given() -> None:
    from spikeforge.cli import build_parser
    from spikeforge.commands._args import GIVEN

    parser = build_parser()
    plain = parser.parse_args(["train"])
    assert getattr(plain, GIVEN) == ()
    d = TrainConfig()
    assert (plain.epochs, plain.detach_reset, plain.learn_beta, plain.hidden) == (
        d.epochs,
        d.detach_reset,
        False,
        d.hidden,
    )
    args = parser.parse_args(
        ["train", "--epochs", str(d.epochs), "-T", "3", "--no-detach-reset", "--learn-beta",
         "--hidden", "8,4", "--no-progress"]
    )  # fmt: skip
    assert getattr(args, GIVEN) == (
        "--epochs", "-T", "--no-detach-reset", "--learn-beta", "--hidden", "--no-progress"
    )  # fmt: skip
    assert (args.epochs, args.num_steps, args.detach_reset, args.learn_beta) == (
        d.epochs,
        3,
        False,
        True,
    )
    assert (args.hidden, args.no_progress) == ((8, 4), True)
    assert getattr(parser.parse_args(["train"]), GIVEN) == ()  # the default is not shared


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        (["--threshold", "1e6"], "output layer"),
        (["--beta", "0"], "output layer"),
        (["--threshold", "1e6", "--decoding", "membrane"], "hidden layers"),
    ],
)
def test_silent_network_gets_one_warning_line_after_epoch_1(
    extra: list[str], where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Zero spikes are legal (no error), but a run that cannot learn says so once."""
    argv = ["train", *TINY, "--epochs", "2", "--out", str(tmp_path / "run"), *extra]
    code, out, err = run_cli(argv, capsys)
    assert code == 0
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert warnings == [
        f"spikeforge train: warning: epoch 1: the {where} emitted no spikes at all, so the "
        f"network cannot learn; lower --threshold (now {1e6 if '1e6' in extra else 1:g}) or "
        f"raise --beta (now {0 if '0' in extra else 0.9:g}), or check the input scale"
    ]
    assert "epoch   2/2" in out  # training went on


def test_a_spiking_network_gets_no_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(["train", *TINY, "--epochs", "1", "--out", str(tmp_path / "r")], capsys)
    assert code == 0 and "warning" not in err


def _int_refusal(command: str, shown: str, accepted: str, text: str) -> str:
    return (
        f"spikeforge {command}: error: argument {shown}: must be an integer {accepted}, "
        f"got {text}"
    )


#: (option, its name in argparse's message, the accepted range as the message words it)
_INT_OPTIONS = [
    ("--epochs", "--epochs", None),
    ("--batch-size", "--batch-size", ">= 1"),
    ("--num-steps", "--num-steps/-T", ">= 1"),
    ("-T", "--num-steps/-T", ">= 1"),
    ("--max-train-samples", "--max-train-samples", ">= 10"),
]


@pytest.mark.parametrize("command", ["train", "compare"])
@pytest.mark.parametrize(("option", "shown", "accepted"), _INT_OPTIONS)
@pytest.mark.parametrize("text", ["1.5", "x", "", "1e3", "64.0", "nan"])
def test_non_integer_for_an_integer_option_is_one_line_in_project_style(
    command: str,
    option: str,
    shown: str,
    accepted: str | None,
    text: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--epochs 1.5`` used to be argparse's "invalid int value: '1.5'"."""
    from spikeforge.config import MAX_EPOCHS

    accepted = accepted or f"from 1 to {MAX_EPOCHS}"
    required = ["--out", "cmp"] if command == "compare" else []
    code, out, err = run_cli([command, *required, option, text], capsys)
    assert code == 2 and out == ""
    expected = _int_refusal(command, shown, accepted, repr(text))
    minimum = 10 if option == "--max-train-samples" else 1
    try:  # a whole number written as a float gets the digits to write instead
        whole = float(text)
    except ValueError:
        whole = math.nan
    if math.isfinite(whole) and whole == int(whole) and int(whole) >= minimum:
        expected += f"; write it as {int(whole)}"
    assert err.splitlines() == [expected]


@pytest.mark.parametrize("command", ["train", "compare"])
def test_epochs_have_an_upper_bound(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``--epochs 99999999999999999999999`` used to start training for ever."""
    from spikeforge.cli import build_parser
    from spikeforge.config import MAX_EPOCHS
    from spikeforge.errors import ConfigError

    required = ["--out", "cmp"] if command == "compare" else []
    for too_many in (MAX_EPOCHS + 1, 10**23):
        code, out, err = run_cli([command, *required, "--epochs", str(too_many)], capsys)
        assert code == 2 and out == ""
        assert err.splitlines() == [
            _int_refusal(command, "--epochs", f"from 1 to {MAX_EPOCHS}", str(too_many))
        ]
    assert build_parser().parse_args([command, *required, "--epochs", str(MAX_EPOCHS)]).epochs == (
        MAX_EPOCHS
    )
    with pytest.raises(ConfigError, match=f"--epochs: must be an integer from 1 to {MAX_EPOCHS}"):
        TrainConfig(epochs=MAX_EPOCHS + 1)  # a saved config.json is held to the same bound


@pytest.mark.parametrize("option", ["--hidden", "--channels"])
def test_layer_width_beyond_the_bound_is_one_line_not_a_traceback(
    option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--hidden 99999999999999999999`` used to end in torch's overflow traceback."""
    from spikeforge.config import MAX_WIDTH

    for text in (str(MAX_WIDTH + 1), "99999999999999999999", f"16,{2**63}"):
        code, _, err = run_cli(["train", "--arch", "cnn", option, text], capsys)
        assert code == 2
        assert err.splitlines() == [
            f"spikeforge train: error: argument {option}: {option} takes one or more "
            f"comma-separated integers from 1 to {MAX_WIDTH} like 128,64, got {text!r}"
        ]


@pytest.mark.parametrize(
    "option",
    ["--lr", "--beta", "--tau", "--threshold", "--dropout", "--weight-decay",
     "--val-fraction", "--test-fraction", "--surrogate-scale"],
)  # fmt: skip
def test_non_number_for_a_float_option_is_one_line(
    option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(["train", option, "abc"], capsys)
    assert code == 2 and out == ""
    assert err.splitlines() == [
        f"spikeforge train: error: argument {option}: must be a number, got 'abc'"
    ]
