"""Downloads against a local HTTP server: success, resume, checksum failure, atomicity."""

from __future__ import annotations

import gzip
import hashlib
import socket
from pathlib import Path

import numpy as np
import pytest

from spikeforge.datasets import load_dataset
from spikeforge.datasets.download import download_dataset, download_file
from spikeforge.datasets.idx import find_idx
from spikeforge.datasets.sources import OFFICIAL, RemoteFile
from spikeforge.errors import DataError
from tests.datasets.conftest import MNIST_DIR, need
from tests.datasets.httpserver import Files, serve
from tests.datasets.test_idx import idx_bytes

NAME = "train-labels-idx1-ubyte.gz"


def labels_file(n: int = 50_000) -> bytes:
    """A gzip IDX label file (the official format) of ``n`` pseudo-random labels, incompressible
    enough to be several chunks long."""
    rng = np.random.default_rng(0)
    return gzip.compress(idx_bytes(rng.integers(0, 256, size=n, dtype=np.uint8)), compresslevel=1)


def remote_for(body: bytes, url: str) -> RemoteFile:
    """A RemoteFile entry with the md5 and size of ``body``."""
    return RemoteFile(NAME, url, hashlib.md5(body).hexdigest(), len(body))


def free_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_download_verifies_and_renames(tmp_path: Path) -> None:
    body = labels_file()
    files = Files({f"/{NAME}": body})
    with serve(files) as base:
        path = download_file(remote_for(body, f"{base}/{NAME}"), tmp_path, progress=False)
    assert path == tmp_path / NAME and path.read_bytes() == body
    assert sorted(p.name for p in tmp_path.iterdir()) == [NAME]


def test_resume_after_dropped_connection(tmp_path: Path) -> None:
    body = labels_file()
    cut = len(body) // 3
    files = Files({f"/{NAME}": body}, drop_after={f"/{NAME}": cut}, drops={f"/{NAME}": 1})
    with serve(files) as base:
        path = download_file(remote_for(body, f"{base}/{NAME}"), tmp_path, progress=False)
    assert path.read_bytes() == body
    assert files.requests == [(f"/{NAME}", None), (f"/{NAME}", f"bytes={cut}-")]
    assert files.bytes_sent == len(body)  # nothing fetched twice


def test_resume_in_a_later_run_and_partial_is_never_loaded(tmp_path: Path) -> None:
    body = labels_file()
    cut = len(body) // 2
    files = Files({f"/{NAME}": body}, drop_after={f"/{NAME}": cut}, drops={f"/{NAME}": 1})
    with serve(files) as base:
        remote = remote_for(body, f"{base}/{NAME}")
        with pytest.raises(DataError, match="kept and resumed next time"):
            download_file(remote, tmp_path, attempts=1, progress=False)
        # the interrupted run left only the .part file, which no loader looks at
        assert [p.name for p in tmp_path.iterdir()] == [f"{NAME}.part"]
        assert (tmp_path / f"{NAME}.part").stat().st_size == cut
        assert find_idx(tmp_path, ("train-labels-idx1-ubyte",)) is None
        path = download_file(remote, tmp_path, progress=False)
    assert path.read_bytes() == body
    assert files.requests[-1] == (f"/{NAME}", f"bytes={cut}-")


def test_server_ignoring_range_restarts_cleanly(tmp_path: Path) -> None:
    body = labels_file()
    files = Files(
        {f"/{NAME}": body}, drop_after={f"/{NAME}": 1000}, drops={f"/{NAME}": 1}, ignore_range=True
    )
    with serve(files) as base:
        path = download_file(remote_for(body, f"{base}/{NAME}"), tmp_path, progress=False)
    assert path.read_bytes() == body


def test_wrong_checksum_deletes_download_and_says_what_to_do(tmp_path: Path) -> None:
    body = labels_file()
    remote = RemoteFile(NAME, "https://example.org/official/" + NAME, "0" * 32, len(body))
    with serve(Files({f"/{NAME}": body})) as base, pytest.raises(DataError) as info:
        download_file(remote, tmp_path, url=f"{base}/{NAME}", progress=False)
    msg = str(info.value)
    assert f"expected {'0' * 32}" in msg and hashlib.md5(body).hexdigest() in msg
    assert "https://example.org/official/" + NAME in msg and str(tmp_path) in msg
    assert list(tmp_path.iterdir()) == []  # neither the final file nor a .part


def test_offline_error_names_file_place_and_checksum(tmp_path: Path) -> None:
    remote = OFFICIAL["mnist"][0]
    with pytest.raises(DataError) as info:
        download_file(
            remote,
            tmp_path,
            url=f"http://127.0.0.1:{free_port()}/{remote.filename}",
            attempts=2,
            timeout=2,
            progress=False,
        )
    msg = str(info.value)
    assert "\n" not in msg and remote.md5 in msg and str(tmp_path) in msg
    assert remote.content_sha256 is not None and remote.content_sha256 in msg
    assert not (tmp_path / remote.filename).exists()


def test_missing_file_is_not_retried(tmp_path: Path) -> None:
    files = Files({})
    with serve(files) as base, pytest.raises(DataError, match="HTTP 404"):
        download_file(remote_for(b"x", f"{base}/{NAME}"), tmp_path, progress=False)
    assert len(files.requests) == 1


def test_progress_bar_goes_to_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = labels_file()
    with serve(Files({f"/{NAME}": body})) as base:
        download_file(remote_for(body, f"{base}/{NAME}"), tmp_path, progress=True)
    out, err = capsys.readouterr()
    assert out == "" and NAME in err


def test_load_with_download_from_mirror(
    tmp_path: Path, isolated_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole path: not found, download=True, fetched from a mirror of re-compressed official
    files (accepted by their decompressed content), then loaded from the cache folder."""
    need(MNIST_DIR, "MNIST copy (../shared/data/mnist)")
    content = {f"/{f.name}": f.read_bytes() for f in MNIST_DIR.iterdir()}
    with serve(Files(content)) as base:
        monkeypatch.setenv("SPIKEFORGE_MIRROR", base)
        with pytest.raises(DataError, match="not found"):
            load_dataset("mnist")
        ds = load_dataset("mnist", download=True)
        assert ds.source == str(isolated_cache / "mnist")
        assert ds.y_train.bincount()[1] == 6742
        again = download_dataset("mnist", isolated_cache / "mnist", progress=False)
    assert [p.name for p in again] == [f.filename for f in OFFICIAL["mnist"]]


def test_a_url_that_is_not_one_is_a_config_error_before_anything_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spikeforge.errors import ConfigError

    remote = remote_for(b"x", "notaurl")
    with pytest.raises(ConfigError, match="http\\(s\\):// or file:// URL"):
        download_file(remote, tmp_path / "a", progress=False)
    monkeypatch.setenv("SPIKEFORGE_MIRROR", "mirror.example.org")
    with pytest.raises(ConfigError, match="SPIKEFORGE_MIRROR must be"):
        download_dataset("mnist", tmp_path / "b", progress=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
