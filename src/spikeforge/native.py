"""Small C++ libraries built from the package's own sources at first use, loaded with ctypes.

The sources (``*.cpp`` next to the modules that use them) include no torch headers, so each
builds with the system C++ compiler (``$CXX``, else ``g++``/``c++``/``clang++``) in about a
second. A built library is cached in ``$SPIKEFORGE_CACHE`` (default
``$XDG_CACHE_HOME/spikeforge``, else ``~/.cache/spikeforge``) under a name that hashes the
source and the headers ``*.h`` next to it, the flags, the compiler and the CPU
(``-march=native`` code runs only on such a CPU), so it is rebuilt only when one of them
changes. Builds write to a temporary file and rename it, so concurrent first uses never load
a half-written library.

No library here is built with ``-ffast-math``: a shared object built with it runs
crtfastmath's constructor on load, which turns on flush-to-zero for the whole process.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["NativeLibrary", "cache_dir", "compiler"]

#: Flags every library is built with; a library adds its own (e.g. ``-ffp-contract=off``).
BASE_FLAGS = ("-O3", "-march=native", "-fopenmp", "-fPIC", "-shared", "-std=c++17")


def cache_dir() -> Path:
    """Where built libraries are kept (see the module docstring)."""
    root = os.environ.get("SPIKEFORGE_CACHE")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "spikeforge"


def compiler() -> str | None:
    """The C++ compiler to use: ``$CXX`` if set, else the first of g++, c++, clang++ found."""
    cxx = os.environ.get("CXX")
    if cxx:
        return shutil.which(cxx)
    return shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")


def _cpu_signature() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.machine() + platform.processor()
    keep = [ln for ln in lines if ln.startswith(("model name", "flags"))]
    return "\n".join(sorted(set(keep)))


@dataclass
class NativeLibrary:
    """One C++ source built into a cached shared library on first :meth:`load`.

    Args:
        source: the ``.cpp`` file.
        flags: extra compiler flags, after :data:`BASE_FLAGS`.
        signatures: ``{function: (argtypes, restype)}`` set on the loaded library.
    """

    source: Path
    flags: tuple[str, ...] = ()
    signatures: dict[str, tuple[list[Any], Any]] = field(default_factory=dict)
    _lib: ctypes.CDLL | None = field(default=None, init=False, repr=False)
    _tried: bool = field(default=False, init=False, repr=False)
    error: str | None = field(default=None, init=False)

    def path(self) -> Path | None:
        """Path of the built library, building it if needed; ``None`` (and :attr:`error`) if
        it cannot be built."""
        cxx = compiler()
        if cxx is None:
            self.error = "no C++ compiler found (set $CXX or install g++)"
            return None
        flags = (*BASE_FLAGS, *self.flags)
        # headers next to the source may be included: they are part of what is built
        headers = [h.read_bytes() for h in sorted(self.source.parent.glob("*.h"))]
        key = hashlib.sha256(
            b"\0".join(
                [
                    self.source.read_bytes(),
                    *headers,
                    " ".join(flags).encode(),
                    cxx.encode(),
                    _cpu_signature().encode(),
                ]
            )
        ).hexdigest()[:20]
        target = cache_dir() / f"{self.source.stem}-{key}.so"
        if target.exists():
            return target
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
            os.close(fd)
            proc = subprocess.run(
                [cxx, *flags, str(self.source), "-o", tmp],
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if proc.returncode != 0:
                os.unlink(tmp)
                self.error = proc.stderr.strip()[-2000:] or f"{cxx} failed"
                return None
            os.replace(tmp, target)
        except (OSError, subprocess.SubprocessError) as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            return None
        return target

    def load(self) -> ctypes.CDLL | None:
        """The loaded library (built on first call), or ``None`` if it cannot be built/loaded;
        :attr:`error` then says why. Later calls return the first result."""
        if not self._tried:
            self._tried = True
            path = self.path()
            if path is not None:
                try:
                    lib = ctypes.CDLL(str(path))
                    for name, (argtypes, restype) in self.signatures.items():
                        fn = getattr(lib, name)
                        fn.argtypes, fn.restype = argtypes, restype
                    self._lib = lib
                except (OSError, AttributeError) as exc:
                    self.error = f"cannot load {path}: {exc}"
        return self._lib
