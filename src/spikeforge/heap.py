"""Keep freed tensor memory in the process's heap, so that a training loop reuses it.

A training step allocates the same large tensors every time (a spiking layer's spikes and
saved membranes, ``[T, B, N]``: 12.8 MB each for T = 25, batch 128, 1,000 neurons) and
frees them after the optimizer step. glibc's ``malloc`` serves blocks above its *mmap
threshold* with a fresh ``mmap`` and unmaps them on ``free``, and returns free memory at
the top of its heap to the system above the *trim threshold*; either way the next step
touches new pages, and every 4 KiB page then costs a page fault (about 0.7 us on our
virtual machines: 2 ms for a 12.8 MB tensor, against 0.2 ms to fill it once mapped).
glibc raises the mmap threshold on its own after a large free, so a step is sometimes fast
and sometimes slow: the FC benchmark step of ``benchmarks/peers.py`` with direct input took
7.4-24 ms (bimodal) by default and 7.2-9.4 ms with :func:`keep_freed_memory`.

:func:`keep_freed_memory` sets both thresholds (``mallopt``) for the whole process. It is
process-wide, so the library never calls it on import: the ``spikeforge`` command calls it
at start, and a script can call it once before training. Peak memory is unchanged (blocks
are reused rather than added), but the process keeps its high-water mark until it exits.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["DEFAULT_LIMIT", "keep_freed_memory"]

#: Blocks up to this size come from the heap, and free heap memory up to it is kept (1 GiB).
DEFAULT_LIMIT = 1 << 30

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def keep_freed_memory(limit: int = DEFAULT_LIMIT) -> bool:
    """Make glibc's ``malloc`` serve blocks up to ``limit`` bytes from its heap and keep up
    to ``limit`` bytes of freed heap memory for reuse, instead of mapping and unmapping it
    for each tensor (see the module docstring).

    Args:
        limit: bytes, an integer of at least 1 MiB (else ``ValueError``).

    Returns:
        ``True`` if both settings were applied; ``False`` where the C library is not glibc
        (or has no ``mallopt``), which changes nothing.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1 << 20:
        raise ValueError(
            f"limit must be an integer number of bytes, at least 1 MiB (1048576), got {limit!r}"
        )
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
        gnu = libc.gnu_get_libc_version  # musl has a mallopt that does nothing
    except (OSError, AttributeError):
        return False
    gnu.restype = ctypes.c_char_p
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    value = min(limit, 2**31 - 1)
    ok = mallopt(_M_MMAP_THRESHOLD, value) == 1
    return mallopt(_M_TRIM_THRESHOLD, value) == 1 and ok
