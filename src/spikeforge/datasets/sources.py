"""Official download locations and published checksums of every downloadable dataset.

``md5`` is the checksum the dataset's authors publish for the file as served (MNIST: the
values every mirror and torchvision use; Fashion-MNIST: its README; CIFAR-10: its home page;
N-MNIST: its authors' Mendeley Data record, as tonic also checks them). ``content_sha256`` is the
sha256 of the *decompressed* file, for formats that are verified by content because mirrors and
distributions re-compress them (Debian's Fashion-MNIST has rewritten gzip headers).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["OFFICIAL", "RemoteFile", "describe_file", "file_digest", "manual_hint"]


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset as its publisher serves it.

    Attributes:
        filename: the official file name, kept on disk.
        url: the official URL.
        md5: the published md5 of the file as served (hex).
        size: its size in bytes, or ``None`` where the publisher does not state it.
        content_sha256: sha256 (hex) of the decompressed content, or ``None``.
    """

    filename: str
    url: str
    md5: str
    size: int | None = None
    content_sha256: str | None = None


_MNIST = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_FASHION = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_NMNIST = "https://data.mendeley.com/public-files/datasets/468j46mzdv/files/"

#: name -> the files a download fetches, in the publisher's names.
OFFICIAL: dict[str, tuple[RemoteFile, ...]] = {
    "mnist": (
        RemoteFile("train-images-idx3-ubyte.gz", _MNIST + "train-images-idx3-ubyte.gz",
                   "f68b3c2dcbeaaa9fbdd348bbdeb94873", 9912422,
                   "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
        RemoteFile("train-labels-idx1-ubyte.gz", _MNIST + "train-labels-idx1-ubyte.gz",
                   "d53e105ee54ea40749a09fcbcd1e9432", 28881,
                   "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
        RemoteFile("t10k-images-idx3-ubyte.gz", _MNIST + "t10k-images-idx3-ubyte.gz",
                   "9fb629c4189551a2d022fa330f9573f3", 1648877,
                   "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
        RemoteFile("t10k-labels-idx1-ubyte.gz", _MNIST + "t10k-labels-idx1-ubyte.gz",
                   "ec29112dd5afa0611ce80d1b7f02629c", 4542,
                   "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
    ),
    "fashion-mnist": (
        RemoteFile("train-images-idx3-ubyte.gz", _FASHION + "train-images-idx3-ubyte.gz",
                   "8d4fb7e6c68d591d4c3dfef9ec88bf0d", 26421880,
                   "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
        RemoteFile("train-labels-idx1-ubyte.gz", _FASHION + "train-labels-idx1-ubyte.gz",
                   "25c81989df183df01b3e8a0aad5dffbe", 29515,
                   "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
        RemoteFile("t10k-images-idx3-ubyte.gz", _FASHION + "t10k-images-idx3-ubyte.gz",
                   "bef4ecab320f06d8554ea6380940ec79", 4422102,
                   "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
        RemoteFile("t10k-labels-idx1-ubyte.gz", _FASHION + "t10k-labels-idx1-ubyte.gz",
                   "bb300cfdad3c16e7a12a480ee83cd310", 5148,
                   "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
    ),
    "cifar10": (
        RemoteFile("cifar-10-binary.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
                   "c32a1d4ab5d03f1284b67883e8d87530", 170052171),
    ),
    "nmnist": (
        RemoteFile("Train.zip", _NMNIST + "39c25547-014b-4137-a934-9d29fa53c7a0/file_downloaded",
                   "20959b8e626244a1b502305a9e6e2031"),
        RemoteFile("Test.zip", _NMNIST + "05a4d654-7e03-4c15-bdfa-9bb2bcbea494/file_downloaded",
                   "69ca8762b2fe404d9b9bad1103e97832"),
    ),
}


def file_digest(path: Path, algorithm: str = "md5") -> str:
    """Hex digest of the file at ``path`` (read in 1 MiB chunks)."""
    h = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def describe_file(remote: RemoteFile) -> str:
    """``"name (md5 ..., decompressed sha256 ...)"``: a file and the checksums it must have."""
    extra = f", decompressed sha256 {remote.content_sha256}" if remote.content_sha256 else ""
    return f"{remote.filename} (md5 {remote.md5}{extra})"


def manual_hint(name: str, folder: Path) -> str:
    """One sentence telling where to put dataset ``name``'s files by hand and their checksums."""
    listed = "; ".join(describe_file(f) for f in OFFICIAL.get(name, ()))
    return f"put {listed or 'its files'} into {folder} (or pass --data-dir DIR holding them)"
