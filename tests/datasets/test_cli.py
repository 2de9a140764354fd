"""``spikeforge datasets list | info | download | verify`` through ``main(argv)``."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from spikeforge.cli import main
from tests.datasets.conftest import FASHION_DIR, MNIST_DIR, need
from tests.datasets.httpserver import Files, serve


def test_list_shows_every_dataset(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("digits", "mnist", "fashion-mnist", "cifar10"):
        assert name in out
    assert "embedded: sklearn.datasets.load_digits" in out


def test_info_shows_classes_place_and_size(capsys: pytest.CaptureFixture[str]) -> None:
    need(FASHION_DIR, "Debian's dataset-fashion-mnist")
    assert main(["datasets", "info", "fashion-mnist"]) == 0
    out = capsys.readouterr().out
    assert "T-shirt/top, Trouser, Pullover" in out
    size = sum(f.stat().st_size for f in FASHION_DIR.iterdir() if f.name.endswith(".gz"))
    assert f"system: {FASHION_DIR}, {size / 1e6:.1f} MB" in out


def test_verify_reports_ok_and_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    need(MNIST_DIR, "MNIST copy (../shared/data/mnist)")
    assert main(["datasets", "verify", "mnist", "--data-dir", str(MNIST_DIR)]) == 0
    assert capsys.readouterr().out.count("content sha256 ok") == 4
    bad = tmp_path / "mnist"
    shutil.copytree(MNIST_DIR, bad)
    labels = bad / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(gzip.decompress(labels.read_bytes()))
    data[100] = (data[100] + 1) % 10  # one wrong label
    labels.write_bytes(gzip.compress(bytes(data)))
    assert main(["datasets", "verify", "mnist", "--data-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  t10k-labels-idx1-ubyte.gz" in out and "1 check(s) failed" in out


def test_errors_are_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "info", "nope"]) == 2
    assert main(["datasets", "verify"]) == 2
    assert main(["datasets", "verify", "mnist", "--data-dir", str(tmp_path)]) == 2
    assert main(["datasets", "list", "--data-dir", str(tmp_path / "absent")]) == 2
    assert main(["datasets", "download", "digits"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 5 and all(line.startswith("spikeforge datasets: error: ") for line in err)
    assert "unknown dataset 'nope'" in err[0] and "has no download" in err[4]


def test_download_command_from_mirror(
    isolated_cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    need(MNIST_DIR, "MNIST copy (../shared/data/mnist)")
    content = {f"/{f.name}": f.read_bytes() for f in MNIST_DIR.iterdir()}
    with serve(Files(content)) as base:
        monkeypatch.setenv("SPIKEFORGE_MIRROR", base)
        assert main(["datasets", "download", "mnist", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert out.count("verified") == 4 and str(isolated_cache / "mnist") in out
    assert main(["datasets", "verify", "mnist"]) == 0
    assert "where: cache:" in capsys.readouterr().out


def test_a_loader_registered_without_details_is_still_listed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from spikeforge.datasets import base

    monkeypatch.setitem(base._REGISTRY, "extra", base._REGISTRY["digits"])
    assert main(["datasets", "list"]) == 0
    assert "extra" in capsys.readouterr().out
    assert main(["datasets", "info", "extra"]) == 0
    assert "(no details registered)" in capsys.readouterr().out


@pytest.mark.parametrize("extra", [["foo"], ["foo", "bar"]])
def test_list_rejects_extra_arguments(extra: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "list", *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "list" in err[0] and "foo" in err[0], err


def test_download_creates_a_new_data_dir_with_its_parents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--data-dir is the folder "to receive" the files: download makes it; info and verify
    still want an existing one."""
    need(MNIST_DIR, "MNIST copy (../shared/data/mnist)")
    dest = tmp_path / "new" / "nested"
    content = {f"/{f.name}": f.read_bytes() for f in MNIST_DIR.iterdir()}
    with serve(Files(content)) as base:
        monkeypatch.setenv("SPIKEFORGE_MIRROR", base)
        code = main(["datasets", "download", "mnist", "--data-dir", str(dest), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert capsys.readouterr().out.count("verified") == 4
    assert sorted(p.name for p in dest.iterdir()) == sorted(name[1:] for name in content)
    assert main(["datasets", "verify", "mnist", "--data-dir", str(dest)]) == 0
    assert main(["datasets", "info", "mnist", "--data-dir", str(tmp_path / "absent")]) == 2
    assert not (tmp_path / "absent").exists()


@pytest.mark.parametrize("mirror", ["notaurl", "ftp://example.org/data", "http://", "/tmp/x"])
def test_mirror_that_is_not_a_url_is_one_line_and_makes_nothing(
    mirror: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """It used to end in ``ValueError: unknown url type`` (a traceback)."""
    monkeypatch.setenv("SPIKEFORGE_MIRROR", mirror)
    dest = tmp_path / "d"
    assert main(["datasets", "download", "fashion-mnist", "--data-dir", str(dest)]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "spikeforge datasets: error: $SPIKEFORGE_MIRROR must be an http(s):// or file:// URL "
        f"of a folder serving the official file names, got {mirror!r}; fix it or unset "
        "SPIKEFORGE_MIRROR"
    ]
    assert captured.out == "" and not dest.exists()


def test_download_refusals_make_no_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "d"
    assert main(["datasets", "download", "digits", "--data-dir", str(dest)]) == 2
    assert "has no download" in capsys.readouterr().err and not dest.exists()
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["datasets", "download", "mnist", "--data-dir", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "--data-dir" in err[0] and "which is a file" in err[0]


def test_a_failed_download_leaves_no_folder_it_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mirror without the files: one line (no progress bar off a terminal), exit 2, and
    the folders the command made for the download are gone again (found by a trial)."""
    with serve(Files({})) as base:  # serves nothing: every file is a 404
        monkeypatch.setenv("SPIKEFORGE_MIRROR", base)
        dest = tmp_path / "new" / "nested"
        assert main(["datasets", "download", "fashion-mnist", "--data-dir", str(dest)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("spikeforge datasets: error: ")
    assert not (tmp_path / "new").exists()
