"""A restricted unpickler for CIFAR's python-version batches: no arbitrary code runs.

A pickle names callables (``GLOBAL``/``STACK_GLOBAL`` opcodes) that the loader imports and calls;
a malicious file can name ``os.system``. This unpickler resolves only the few names a pickled
numpy ``uint8`` array needs and refuses every other one before anything is called.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import numpy as np

from spikeforge.errors import DataError

__all__ = ["ALLOWED_GLOBALS", "safe_load"]


def _numpy_reconstruct() -> Any:
    """numpy's array-reconstruction helper under its current module name."""
    try:
        from numpy._core.multiarray import _reconstruct as found
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct as found
    return found


def _encode(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles of ``bytes`` use it (str -> bytes only)."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise DataError(f"refused _codecs.encode({type(text).__name__}, {encoding!r}) in a pickle")
    return text.encode("latin1")


#: ``(module, name)`` pairs a CIFAR batch may reference, mapped to what they resolve to.
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct(),
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct(),
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _encode,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler whose ``find_class`` serves only :data:`ALLOWED_GLOBALS`."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise DataError(
                f"refused to load {module}.{name} from a pickle: a CIFAR batch only needs numpy "
                "arrays, so this file is not one (or was tampered with)"
            ) from None


def safe_load(data: bytes, *, what: str) -> Any:
    """Unpickle ``data`` allowing only plain containers, numbers, strings and numpy arrays.

    Args:
        data: the pickled bytes (protocol 0–5, Python 2 strings read as ``bytes``).
        what: the file name, for error messages.

    Raises:
        DataError: the pickle references any other callable, or is corrupt or truncated.
    """
    try:
        return _RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except DataError as exc:
        raise DataError(f"{what}: {exc}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError) as exc:
        raise DataError(f"{what}: corrupt or truncated pickle ({exc})") from exc
