"""spikeforge.heap: freed tensor memory stays in the heap for reuse (glibc)."""

from __future__ import annotations

import ctypes.util
import subprocess
import sys

import pytest

from spikeforge import cli, heap


def _is_glibc() -> bool:
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").gnu_get_libc_version  # noqa: B018
    except (OSError, AttributeError):
        return False
    return sys.platform.startswith("linux")


# A fresh process allocates, frees and allocates again 16 MiB, and prints the bytes glibc
# mapped with mmap (mallinfo2's hblkhd) and the bytes of its heap (arena) after the first
# allocation, and whether the second one returned the same block.
PROBE = """
import ctypes, ctypes.util, sys
FIELDS = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in FIELDS.split()]
libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
libc.mallinfo2.restype = Info
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
if sys.argv[1] == "keep":
    from spikeforge.heap import keep_freed_memory
    assert keep_freed_memory()
size = 16 << 20
before = libc.mallinfo2()
a = libc.malloc(size)
after = libc.mallinfo2()
libc.free(a)
b = libc.malloc(size)
print(after.hblkhd - before.hblkhd, after.arena - before.arena, int(a == b))
"""


def _probe(mode: str) -> tuple[int, int, int]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    ).stdout.split()
    mapped, arena, same = (int(v) for v in out)
    return mapped, arena, same


@pytest.mark.skipif(not _is_glibc(), reason="keep_freed_memory needs glibc's mallopt")
def test_a_large_block_comes_from_the_heap_and_is_reused() -> None:
    size = 16 << 20
    mapped, arena, _ = _probe("default")
    assert mapped >= size and arena < size  # glibc's default: 16 MiB is a fresh mmap
    mapped, arena, same = _probe("keep")
    assert mapped == 0 and arena >= size and same == 1


@pytest.mark.parametrize("limit", [4096, (1 << 20) - 1, -1, 1.5e9, "x", None, True])
def test_a_limit_that_is_not_an_integer_of_at_least_one_mebibyte_is_refused(limit) -> None:
    with pytest.raises(ValueError, match=r"integer number of bytes, at least 1 MiB .*got"):
        heap.keep_freed_memory(limit)


def test_the_command_keeps_freed_memory_before_it_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    order: list[str] = []
    monkeypatch.setattr(heap, "keep_freed_memory", lambda: order.append("heap") or True)
    monkeypatch.setattr(cli, "main", lambda: order.append("main") or 0)
    with pytest.raises(SystemExit) as exc:
        cli.console_main()
    assert exc.value.code == 0 and order == ["heap", "main"]
