"""Output folders (spikeforge.runfolder) and the atomic writer's disk errors."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from spikeforge.errors import ConfigError
from spikeforge.runfolder import LOCK_NAME, claimed_folder, folder_lock, refuse_outputs


def test_claimed_folder_removes_what_it_created_when_nothing_was_written(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "run"
    with pytest.raises(RuntimeError), claimed_folder(target):
        assert (target / LOCK_NAME).is_file()
        raise RuntimeError("the command failed before writing")
    assert os.listdir(tmp_path) == []  # a/ and a/b/ were created by the claim too


def test_claimed_folder_keeps_folders_with_results_and_folders_it_found(tmp_path: Path) -> None:
    target = tmp_path / "run"
    with claimed_folder(target):
        (target / "result.json").write_text("{}")
    assert sorted(os.listdir(target)) == [LOCK_NAME, "result.json"]
    existing = tmp_path / "existing"
    existing.mkdir()
    with claimed_folder(existing):
        pass
    assert existing.is_dir()


def test_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    with folder_lock(tmp_path), pytest.raises(ConfigError) as info, folder_lock(tmp_path):
        pass  # flock conflicts between two open files, even in one process
    assert str(info.value) == (
        f"another spikeforge process is writing to {str(tmp_path)!r}; wait for it to end (or "
        "stop it), or choose another --out"
    )
    with folder_lock(tmp_path):
        pass


def test_refuse_outputs_checks_before_and_under_the_lock(tmp_path: Path) -> None:
    (tmp_path / "b.json").write_text("mine")
    check = refuse_outputs(["a.json", "b.json"], "choose another folder")
    with pytest.raises(ConfigError) as info, claimed_folder(tmp_path, check=check):
        pass
    assert str(info.value) == (
        f"--out {str(tmp_path)!r} already holds b.json; choose another folder"
    )
    assert os.listdir(tmp_path) == ["b.json"]  # refused before the lock file was made


def test_unwritable_folder_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulated EROFS on the write test (root ignores permissions; mounts need privileges)."""
    import spikeforge.runfolder as rf

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(rf.tempfile, "mkstemp", read_only)
    with pytest.raises(ConfigError) as info:
        rf.output_folder(tmp_path, "--out")
    assert str(info.value) == (
        f"--out {str(tmp_path)!r}: cannot write into this folder (read-only file system); "
        "give a writable folder"
    )
