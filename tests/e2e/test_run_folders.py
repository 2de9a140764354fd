"""End-to-end: output folders are never overwritten, locked while written, checked up front;
seeds, data folders and resume messages (defects of the fresh-user trial)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from spikeforge.checkpoint import load_checkpoint, save_checkpoint
from spikeforge.errors import CheckpointError
from spikeforge.runfolder import COMPARE_OUTPUTS, LOCK_NAME, TRAIN_OUTPUTS

from .conftest import TINY, TINY_COMPARE, one_line, read_json, run_cli

SRC = Path(__file__).resolve().parents[2] / "src"
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"

def _copy_run(tiny_run: Path, tmp_path: Path, without: str | None = None) -> Path:
    """A copy of the shared tiny run (less the file ``without``) to change freely."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    if without is not None:
        (run / without).unlink()
    return run


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# --- 2. no silent overwrite -------------------------------------------------------------


@pytest.mark.parametrize("name", [*TRAIN_OUTPUTS, *COMPARE_OUTPUTS])
def test_train_refuses_a_folder_holding_a_file_it_would_write(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The user's own metrics.json (or any file a run or a comparison writes) is kept: one
    line naming --out, the folder and the file; nothing is added to the folder, not even
    the lock file."""
    out = tmp_path / "mine"
    out.mkdir()
    (out / name).write_bytes(b"the user's own file")
    code, stdout, err = run_cli(["train", *TINY, "--out", str(out)], capsys)
    assert code == 2 and stdout == ""
    line = one_line(err)
    if name == "last.pt":
        assert line.startswith(f"spikeforge train: error: --out {str(out)!r} already holds a run")
        assert f"--resume {out}" in line
    else:
        assert line == (
            f"spikeforge train: error: --out {str(out)!r} already holds {name}; a new run "
            "would overwrite them; choose another folder or move them away"
        )
    assert _snapshot(out) == {name: b"the user's own file"}


def test_finished_run_without_last_pt_is_not_overwritten(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _copy_run(tiny_run, tmp_path, without="last.pt")
    before = _snapshot(run)
    code, _, err = run_cli(["train", *TINY, "--out", str(run)], capsys)
    assert code == 2
    line = one_line(err)
    assert "config.json, best.pt, history.json, metrics.json" in line and "--out" in line
    assert _snapshot(run) == before


def test_compare_and_train_refuse_each_others_folders(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _copy_run(tiny_run, tmp_path)
    before = _snapshot(run)
    code, _, err = run_cli([*TINY_COMPARE, "--out", str(run)], capsys)
    assert code == 2
    line = one_line(err)
    assert line.startswith(f"spikeforge compare: error: --out {str(run)!r} already holds ")
    assert line.endswith("it holds a training run; give the comparison a folder of its own")
    assert _snapshot(run) == before

    cmp = tmp_path / "cmp"
    assert run_cli([*TINY_COMPARE, "--out", str(cmp)], capsys)[0] == 0
    before = _snapshot(cmp)
    code, _, err = run_cli(["train", *TINY, "--out", str(cmp)], capsys)
    assert code == 2
    assert "comparison.json, comparison.md, accuracy_vs_steps.png" in one_line(err)
    # eval refuses both: its metrics.json and figures would replace theirs
    for folder in (run, cmp):
        code, _, err = run_cli(["eval", str(tiny_run / "best.pt"), "--out", str(folder)], capsys)
        assert code == 2 and "give another --out" in one_line(err)
    assert _snapshot(cmp) == before
    # the same comparison again still continues (its own files are not refused)
    code, out, _ = run_cli([*TINY_COMPARE, "--out", str(cmp)], capsys)
    assert code == 0 and "finished run found" in out


def test_eval_never_replaces_another_checkpoints_evaluation(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "e"
    code, _, err = run_cli(["eval", str(tiny_run / "best.pt"), "--out", str(out)], capsys)
    assert code == 0, err
    before = _snapshot(out)
    code, _, err = run_cli(["eval", str(tiny_run / "last.pt"), "--out", str(out)], capsys)
    assert code == 2
    line = one_line(err)
    assert "already holds the evaluation of" in line and "best.pt" in line and "--out" in line
    assert _snapshot(out) == before
    # the same checkpoint again reproduces its own results: allowed
    code, _, err = run_cli(["eval", str(tiny_run / "best.pt"), "--out", str(out)], capsys)
    assert code == 0, err
    assert read_json(out / "metrics.json")["checkpoint"] == str(tiny_run / "best.pt")


def test_simulate_refuses_to_overwrite_its_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sim"
    assert run_cli(["simulate", "lif", "--duration", "5", "--out", str(out)], capsys)[0] == 0
    before = _snapshot(out)
    code, _, err = run_cli(["simulate", "lif", "--duration", "7", "--out", str(out)], capsys)
    assert code == 2
    assert one_line(err) == (
        f"spikeforge simulate: error: --out {str(out)!r} already holds summary.json, "
        "traces.csv, traces.npz, voltage.png; simulating would overwrite them; choose another "
        "--out or move them away"
    )
    assert _snapshot(out) == before
    # an f-I curve writes other files: it may share the folder
    fi = ["simulate", "lif", "--fi-curve", "1:2:1", "--duration", "5", "--no-figures"]
    code, _, err = run_cli([*fi, "--out", str(tmp_path / "fi")], capsys)
    assert code == 0, err


def _writing_commands(tiny_run: Path) -> list[list[str]]:
    """One command line per command that writes into --out (to be followed by --out DIR)."""
    return [
        ["train", *TINY],
        ["eval", str(tiny_run / "best.pt")],
        TINY_COMPARE,
        ["simulate", "lif", "--duration", "5"],
    ]


# --- 3. one process per folder --------------------------------------------------------

_HOLDER = """
import sys, time
from pathlib import Path
from spikeforge.runfolder import folder_lock
with folder_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(600)
"""


def _hold_lock(folder: Path) -> subprocess.Popen[str]:
    """A second, real process that holds ``folder``'s lock as a running command would."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(folder)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(SRC)},
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
    return proc


def test_a_second_process_on_the_same_folder_is_refused(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """While another process holds a folder, train, train --resume, eval, compare and
    simulate into it fail in one line; once that process is killed (SIGKILL: no cleanup
    runs), the kernel has released the lock and the run resumes."""
    run = _copy_run(tiny_run, tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    holders = [_hold_lock(run), _hold_lock(empty)]
    try:
        before = _snapshot(run)
        busy = f"another spikeforge process is writing to {str(run)!r}; wait for it to end"
        commands = [
            ["train", "--resume", str(run), "--no-progress"],
            ["train", "--resume", str(run / "last.pt"), "--no-progress"],
        ]
        for command in commands:
            code, _, err = run_cli(command, capsys)
            assert code == 2
            assert one_line(err) == f"spikeforge train: error: {busy} (or stop it)"
        assert _snapshot(run) == before
        busy = f"another spikeforge process is writing to {str(empty)!r}; wait for it to end"
        for command in _writing_commands(tiny_run):
            code, _, err = run_cli([*command, "--out", str(empty)], capsys)
            assert code == 2
            assert one_line(err) == (
                f"spikeforge {command[0]}: error: {busy} (or stop it), or choose another --out"
            )
            assert os.listdir(empty) == [LOCK_NAME]
    finally:
        for proc in holders:
            proc.kill()  # SIGKILL
            proc.wait()
            proc.stdout.close()
    code, _, err = run_cli(["train", "--resume", str(run), "--no-progress"], capsys)
    assert code == 0, err


def test_lock_is_held_during_the_run_and_released_after(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import spikeforge.experiment as exp
    from spikeforge.errors import ConfigError
    from spikeforge.runfolder import folder_lock

    out = tmp_path / "run"
    real = exp.train_epoch
    seen: list[str] = []

    def probe(*args, **kwargs):
        if kwargs["epoch"] == 2:  # mid-run: another claim of the folder must fail
            with (
                pytest.raises(ConfigError, match="another spikeforge process") as info,
                folder_lock(out),
            ):
                pass
            seen.append(str(info.value))
        return real(*args, **kwargs)

    monkeypatch.setattr(exp, "train_epoch", probe)
    assert run_cli(["train", *TINY, "--out", str(out)], capsys)[0] == 0
    assert len(seen) == 1
    with folder_lock(out):  # released when the run ended
        pass


# --- 4. seeds, read-only folders, full disks ------------------------------------------


def _unwritable_folder() -> Path:
    """/sys: an existing folder where even root cannot create a file (sysfs)."""
    try:
        fd, probe = tempfile.mkstemp(dir="/sys")
    except OSError:
        return Path("/sys")
    os.close(fd)
    os.unlink(probe)
    pytest.skip("/sys accepts new files here; no real unwritable folder to test with")


def test_existing_unwritable_out_is_refused_up_front(
    tiny_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real existing folder that cannot be written, for every command (no mock)."""
    ro = _unwritable_folder()
    for command in _writing_commands(tiny_run):
        code, out, err = run_cli([*command, "--out", str(ro)], capsys)
        assert code == 2 and out == ""
        assert one_line(err) == (
            f"spikeforge {command[0]}: error: --out {str(ro)!r}: cannot write into this folder "
            "(permission denied); give a writable folder"
        )


def test_eval_beside_a_checkpoint_on_read_only_media_fails_before_evaluating(
    tiny_run: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Simulated read-only medium (root ignores chmod, and mounting needs privileges): the
    kernel's EROFS is raised for any file created in the run copy; its eval/ folder exists,
    so only the write test can tell. Evaluation must not start."""
    import spikeforge.experiment as exp
    import spikeforge.runfolder as rf

    run = tmp_path / "media" / "run"
    shutil.copytree(tiny_run, run)
    (run / "eval").mkdir()
    real_mkstemp = tempfile.mkstemp

    def mkstemp(*args, **kwargs):
        if str(kwargs.get("dir", "")).startswith(str(tmp_path / "media")):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real_mkstemp(*args, **kwargs)

    def must_not_run(*args, **kwargs):
        raise AssertionError("evaluated although the output folder is read-only")

    monkeypatch.setattr(rf.tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(exp, "evaluate", must_not_run)
    code, _, err = run_cli(["eval", str(run / "best.pt")], capsys)
    assert code == 2
    assert one_line(err) == (
        f"spikeforge eval: error: --out {str(run / 'eval')!r}: cannot write into this folder "
        "(read-only file system); give a writable folder"
    )


class _FullDisk:
    """A file object whose writes fail with ENOSPC after ``room`` bytes, as on a full disk."""

    def __init__(self, f, room: int) -> None:
        self._f, self._room = f, room

    def write(self, data) -> int:
        if len(data) > self._room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._room -= len(data)
        return self._f.write(data)

    def __getattr__(self, name: str):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._f.close()


def _fill_disk_on(monkeypatch: pytest.MonkeyPatch, name: str, nth: int) -> None:
    """The ``nth`` atomic write of ``name`` (e.g. last.pt) finds the disk full."""
    import spikeforge.checkpoint as ck

    real_fdopen = os.fdopen
    count = {"n": 0}

    def fdopen(fd, *args, **kwargs):
        f = real_fdopen(fd, *args, **kwargs)
        if f".{name}." in os.readlink(f"/proc/self/fd/{fd}"):
            count["n"] += 1
            if count["n"] == nth:
                return _FullDisk(f, 4096)
        return f

    monkeypatch.setattr(ck.os, "fdopen", fdopen)


def test_full_disk_during_save_keeps_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"epoch": 1})
    _fill_disk_on(monkeypatch, "last.pt", 1)
    import torch

    with pytest.raises(CheckpointError) as info:
        save_checkpoint(path, {"epoch": 2, "w": torch.zeros(100_000)})
    assert str(info.value) == (
        f"cannot write {str(path)!r}: no space left on device; the previous last.pt is "
        "unchanged; free space or fix the folder and try again"
    )
    assert load_checkpoint(path)["epoch"] == 1
    assert os.listdir(tmp_path) == ["last.pt"]  # no temp file left


def test_full_disk_during_training_is_one_line_and_resumable(
    tiny_run: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "run"
    _fill_disk_on(monkeypatch, "last.pt", 2)  # the save after epoch 2
    code, _, err = run_cli(["train", *TINY, "--out", str(out)], capsys)
    assert code == 2
    assert one_line(err) == (
        f"spikeforge train: error: cannot write {str(out / 'last.pt')!r}: no space left on "
        "device; the previous last.pt is unchanged; free space or fix the folder and try "
        f"again; epoch 1 is saved: continue with 'spikeforge train --resume {out}'"
    )
    assert load_checkpoint(out / "last.pt")["epoch"] == 1
    assert not [p for p in os.listdir(out) if p.endswith(".tmp")]
    monkeypatch.undo()
    code, _, err = run_cli(["train", "--resume", str(out), "--no-progress"], capsys)
    assert code == 0, err
    assert (
        read_json(out / "metrics.json")["confusion_matrix"]
        == read_json(tiny_run / "metrics.json")["confusion_matrix"]
    )


# --- 5. no empty folders left behind ----------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["--dataset", "mnist", "--data-dir", "/nonexistent/dir"],
        ["--arch", "cnn", "--channels", "3,3,3,3,3"],
        ["--seed", "99999999999999999999999"],
    ],
    ids=["no-data", "too-many-pools", "seed"],
)
def test_failed_train_leaves_no_folder(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Neither --out (nor its new parents) nor the default runs/<timestamp> is left."""
    new = tmp_path / "new"
    code, _, err = run_cli(["train", *TINY, *args, "--out", str(new / "run")], capsys)
    assert code == 2
    one_line(err)
    assert not new.exists()
    code, _, err = run_cli(["train", *TINY, *args], capsys)  # cwd is tmp_path (conftest)
    assert code == 2
    assert sorted(os.listdir(tmp_path)) == []


def _train_interrupted_in(
    monkeypatch: pytest.MonkeyPatch, function: str, out: Path, capsys
) -> str:
    """Train TINY into ``out`` with Ctrl-C in ``spikeforge.experiment.<function>``; check the
    exit code and the CLI's own line, and return stdout."""
    import spikeforge.experiment as exp

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(exp, function, interrupt)
    code, stdout, err = run_cli(["train", *TINY, "--out", str(out)], capsys)
    assert code == 130 and err == "spikeforge train: interrupted\n"
    return stdout


def test_interrupted_first_epoch_leaves_nothing_so_the_command_can_run_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    stdout = _train_interrupted_in(monkeypatch, "evaluate", out, capsys)  # validation
    assert "no epoch finished" in stdout and "run the same command again" in stdout
    assert not out.exists()
    monkeypatch.undo()
    assert run_cli(["train", *TINY, "--out", str(out)], capsys)[0] == 0


# --- 7. resume messages ------------------------------------------------------------------


def test_resume_accepts_the_path_of_last_pt(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _copy_run(tiny_run, tmp_path)
    code, out, err = run_cli(["train", "--resume", str(run / "last.pt"), "--no-progress"], capsys)
    assert code == 0, err
    assert f"resuming {run} after epoch 3 of 3" in out


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (
            lambda run: run / "missing",
            "--resume {p!r} does not exist; give the folder of a run written by "
            "'spikeforge train'",
        ),
        (
            lambda run: run / "best.pt",
            "--resume {p!r} is a file; give the run folder that holds last.pt, e.g. {run!r}",
        ),
    ],
    ids=["missing", "best.pt"],
)
def test_resume_path_errors_say_what_is_wrong(
    make, expected: str, tiny_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = make(tiny_run)
    code, _, err = run_cli(["train", "--resume", str(p)], capsys)
    assert code == 2
    msg = expected.format(p=str(p), run=str(tiny_run))
    assert one_line(err) == f"spikeforge train: error: {msg}"


def test_resume_of_a_run_without_best_pt_names_it(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _copy_run(tiny_run, tmp_path, without="best.pt")
    before = _snapshot(run)
    code, _, err = run_cli(["train", "--resume", str(run), "--no-progress"], capsys)
    assert code == 2
    assert one_line(err) == (
        f"spikeforge train: error: --resume: {str(run)!r} has last.pt but no best.pt (the "
        "best model so far, written with the first epoch); put best.pt back, or evaluate the "
        f"last model with 'spikeforge eval {run / 'last.pt'}'"
    )
    assert _snapshot(run) == before


def test_interrupt_during_final_evaluation_gives_the_resume_hint(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    out = tmp_path / "run"
    stdout = _train_interrupted_in(monkeypatch, "_figures", out, capsys)
    assert stdout.splitlines()[-1] == (
        f"interrupted during the final evaluation: epoch 3 is saved in {out / 'last.pt'}; "
        f"continue with 'spikeforge train --resume {out}'"
    )
    monkeypatch.undo()
    assert run_cli(["train", "--resume", str(out), "--no-progress"], capsys)[0] == 0
    assert read_json(out / "metrics.json") == {
        **read_json(tiny_run / "metrics.json"),
        "checkpoint": str(out / "best.pt"),
    }


# --- 1. the data folder travels with the run ----------------------------------------------


@pytest.mark.skipif(
    not (SHARED_DATA / "mnist").is_dir(), reason=f"real MNIST not found in {SHARED_DATA}"
)
def test_relative_data_dir_run_resumes_and_evaluates_from_another_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trial: --data-dir ../shared/data from one folder, --resume from another."""
    here = tmp_path / "a" / "b"
    here.mkdir(parents=True)
    monkeypatch.chdir(here)
    rel = os.path.relpath(SHARED_DATA, here)
    run = tmp_path / "mn"
    quick = ["--arch", "mlp", "--hidden", "16", "-T", "2", "--epochs", "2", "--no-progress",
             "--max-train-samples", "500"]  # fmt: skip
    import spikeforge.experiment as exp

    real = exp.train_epoch

    def interrupt_in_epoch_2(*args, **kwargs):
        if kwargs["epoch"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(exp, "train_epoch", interrupt_in_epoch_2)
    args = ["train", "--dataset", "mnist", "--data-dir", rel, *quick, "--out", str(run)]
    assert run_cli(args, capsys)[0] == 130
    assert read_json(run / "config.json")["data_dir"] == str(SHARED_DATA)
    monkeypatch.setattr(exp, "train_epoch", real)
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["train", "--resume", str(run), "--no-progress"], capsys)
    assert code == 0, err
    code, _, err = run_cli(["eval", str(run / "best.pt"), "--out", "ev"], capsys)
    assert code == 0, err
    assert read_json(tmp_path / "ev" / "metrics.json")["accuracy"] == pytest.approx(
        read_json(run / "metrics.json")["accuracy"]
    )
    # the data moved: --data-dir goes with --resume (relative to the folder resumed from)
    moved = tmp_path / "moved"
    shutil.copytree(SHARED_DATA / "mnist", moved / "mnist")
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "data_dir": "/gone"}))
    ckpt = load_checkpoint(run / "last.pt")
    save_checkpoint(run / "last.pt", {**ckpt, "config": {**ckpt["config"], "data_dir": "/gone"}})
    code, _, err = run_cli(["train", "--resume", str(run), "--no-progress"], capsys)
    assert code == 2
    assert "'/gone' (saved in its config) does not exist" in one_line(err)
    assert "pass --data-dir" in err
    code, _, err = run_cli(["train", "--resume", str(run), "--data-dir", "moved"], capsys)
    assert code == 0, err
    assert read_json(run / "config.json")["data_dir"] == str(moved)
