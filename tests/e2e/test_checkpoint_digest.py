"""A checkpoint whose stored tensors were damaged is refused, not evaluated as other weights.

``torch.load`` does not check the zip archive's CRCs, so the checkpoint carries the SHA-256
of its contents (spikeforge.checkpoint.content_digest) and load_checkpoint checks it.
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest
import torch

from spikeforge.checkpoint import (
    DIGEST_KEY,
    content_digest,
    load_checkpoint,
    save_checkpoint,
)

from .conftest import one_line, run_cli


def _damaged_copy(src: Path, dst: Path, edit) -> Path:
    """``dst``: ``src`` with the bytes of its first stored weight tensor replaced by
    ``edit(bytes) -> bytes`` (same length), found by searching the file for them."""
    data = load_checkpoint(src)
    weight = next(t for k, t in data["model"].items() if k.endswith("weight"))
    raw = weight.contiguous().numpy().tobytes()
    blob = src.read_bytes()
    at = blob.find(raw)
    assert at > 0 and blob.count(raw) == 1, "the tensor's bytes are stored as they are"
    new = edit(raw)
    assert len(new) == len(raw) and new != raw
    dst.write_bytes(blob[:at] + new + blob[at + len(raw) :])
    return dst


EDITS = {
    "one-bit": lambda b: bytes([b[0] ^ 1]) + b[1:],
    "nan": lambda b: struct.pack("<f", float("nan")) * 4 + b[16:],
    "huge": lambda b: struct.pack("<f", 1e30) * 64 + b[256:],
}


@pytest.mark.parametrize("edit", list(EDITS), ids=list(EDITS))
def test_eval_refuses_a_checkpoint_whose_weights_were_damaged(
    edit: str, tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _damaged_copy(tiny_run / "best.pt", tmp_path / "best.pt", EDITS[edit])
    code, _, err = run_cli(["eval", str(bad), "--out", str(tmp_path / "ev")], capsys)
    assert code == 2
    assert "is corrupt: its contents do not match the checksum" in one_line(err)
    assert not (tmp_path / "ev").exists()


def test_an_intact_copy_loads_and_the_digest_is_not_in_the_payload(
    tiny_run: Path, tmp_path: Path
) -> None:
    copy = shutil.copy(tiny_run / "best.pt", tmp_path / "copy.pt")
    data = load_checkpoint(copy)
    assert DIGEST_KEY not in data
    raw = torch.load(copy, map_location="cpu", weights_only=True)
    assert raw[DIGEST_KEY] == content_digest(data)  # over everything else, in order


def test_a_checkpoint_without_a_digest_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "old.pt"
    save_checkpoint(path, {"epoch": 3, "model": {"w": torch.arange(4.0)}})
    data = torch.load(path, map_location="cpu", weights_only=True)
    del data[DIGEST_KEY]  # as written before digests existed
    torch.save(data, path)
    assert load_checkpoint(path)["epoch"] == 3


def test_the_digest_sees_dtype_shape_order_and_values() -> None:
    base = {"a": torch.zeros(2, 3), "b": [1, 2.5, "x", None], "c": {"d": torch.tensor(True)}}
    variants = [
        {**base, "a": torch.zeros(3, 2)},
        {**base, "a": torch.zeros(2, 3, dtype=torch.float64)},
        {**base, "a": torch.zeros(2, 3).index_fill(1, torch.tensor([2]), -0.0)},  # -0.0 bits
        {**base, "b": [1, 2.5, "x", 0]},
        {**base, "b": (1, 2.5, "x", None)},
        {"b": base["b"], "a": base["a"], "c": base["c"]},
        {**base, "c": {"d": torch.tensor(False)}},
    ]
    digest = content_digest(base)
    assert digest == content_digest({k: v for k, v in base.items()})
    assert all(content_digest(v) != digest for v in variants)
