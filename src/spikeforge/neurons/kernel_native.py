"""Fused LIF/ALIF recurrences as a small C++/OpenMP library, compiled at first use.

The source (``csrc/fused_cpu.cpp``) is built and cached by :mod:`spikeforge.native` (no
torch headers; about a second with the system C++ compiler) and called through
:mod:`ctypes`. OpenMP threads follow ``torch.get_num_threads()`` and share torch's OpenMP
runtime (``libgomp.so.1`` is already loaded by torch). Without a compiler :func:`usable` is
False and ``Backend.FUSED`` uses the vectorised torch kernel instead.

Supports float32/float64 CPU tensors and the built-in surrogates (:class:`FastSigmoid`,
:class:`Arctan`, :class:`Sigmoid`, :class:`Triangle`). Shapes as in
:mod:`spikeforge.neurons.kernel_types`.
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

import torch
from torch import Tensor

from spikeforge.errors import ConfigError
from spikeforge.native import NativeLibrary
from spikeforge.neurons.base import Reset
from spikeforge.neurons.kernel_types import (
    SURROGATE_ID,
    Forward,
    FusedConfig,
    Grads,
    Needs,
    Params,
    Result,
    surrogate_constants,
)
from spikeforge.surrogate import Surrogate

__all__ = ["backward", "build_error", "check", "forward", "library_path", "usable"]

_NATIVE = NativeLibrary(
    Path(__file__).with_name("csrc") / "fused_cpu.cpp",
    ("-ffp-contract=off", "-fno-trapping-math"),
)
_DTYPES = (torch.float32, torch.float64)


def library_path() -> Path | None:
    """Path of the compiled library, building it if needed; ``None`` if it cannot be built."""
    return _NATIVE.path()


@functools.lru_cache(maxsize=1)
def _library() -> ctypes.CDLL | None:
    lib = _NATIVE.load()
    return _bind(lib) if lib is not None else None


def _bind(lib: ctypes.CDLL) -> ctypes.CDLL:
    """Declare the entry points' signatures on a loaded build of ``fused_cpu.cpp``."""
    i64, ptrs = ctypes.c_int64, ctypes.POINTER(ctypes.c_void_p)
    lib.sf_forward.argtypes = [i64, i64, i64, i64, i64, ptrs, ptrs, i64, i64, i64]
    lib.sf_forward.restype = None
    dbl = ctypes.c_double
    lib.sf_backward.argtypes = [i64] * 5 + [ptrs, ptrs, dbl, dbl] + [i64] * 5
    lib.sf_backward.restype = None
    return lib


def build_error() -> str | None:
    """Why the library could not be built or loaded (``None`` if it was, or was not tried)."""
    return _NATIVE.error


def usable(x: Tensor, surrogate: Surrogate) -> bool:
    """True when this kernel can run on ``x`` with ``surrogate`` (builds it on first call)."""
    return (
        x.device.type == "cpu"
        and x.dtype in _DTYPES
        and type(surrogate) in SURROGATE_ID
        and _library() is not None
    )


def check(x: Tensor, surrogate: Surrogate) -> None:
    """Raise :class:`ConfigError` saying why this kernel cannot run on ``x``, if it cannot."""
    if x.device.type != "cpu" or x.dtype not in _DTYPES:
        raise ConfigError(
            f"Backend.NATIVE runs float32/float64 CPU tensors, got {x.dtype} on {x.device}; "
            "use Backend.FUSED to pick a kernel automatically"
        )
    if type(surrogate) not in SURROGATE_ID:
        raise ConfigError(
            f"Backend.NATIVE supports the built-in surrogates, got {type(surrogate).__name__}; "
            "use Backend.TORCH for a custom surrogate"
        )
    if _library() is None:
        raise ConfigError(f"Backend.NATIVE could not be built: {build_error()}")


def _pointers(tensors: list[Tensor | None]) -> ctypes.Array:
    return (ctypes.c_void_p * len(tensors))(
        *[t.data_ptr() if t is not None else None for t in tensors]
    )


def _contig(t: Tensor | None, dtype: torch.dtype) -> Tensor | None:
    return t.to(dtype).contiguous() if t is not None else None


def forward(
    x: Tensor, num_steps: int, v0: Tensor, a0: Tensor | None, p: Params, cfg: FusedConfig
) -> Forward:
    """Run ``num_steps`` steps from state ``(v0, a0)`` (see :mod:`kernel_types`)."""
    lib = _library()
    assert lib is not None  # checked by usable()/check() before selection
    b, n = v0.shape
    adaptive = p.rho is not None
    dt = x.dtype
    ins = [_contig(t, dt) for t in (x, v0, a0, *p)]
    shape = (num_steps, b, n)
    s, u = x.new_empty(shape), x.new_empty(shape)
    a_prev = x.new_empty(shape) if adaptive else None
    v = x.new_empty((b, n))
    a = x.new_empty((b, n)) if adaptive else None
    lib.sf_forward(
        int(dt == torch.float64),
        num_steps,
        x.shape[0],
        b,
        n,
        _pointers(ins),
        _pointers([s, u, a_prev, v, a]),
        int(adaptive),
        int(cfg.reset is Reset.ZERO),
        torch.get_num_threads(),
    )
    return Forward(s, u, a_prev, v, a)


def backward(
    x_steps: int,
    fwd_u: Tensor,
    fwd_a_prev: Tensor | None,
    v0: Tensor,
    p: Params,
    g: Grads,
    needs: Needs,
    cfg: FusedConfig,
) -> Result:
    """Reverse-time recurrence (see :mod:`kernel_torch` for the same maths in torch)."""
    lib = _library()
    assert lib is not None
    num_steps, b, n = fwd_u.shape
    dt = fwd_u.dtype
    adaptive = p.rho is not None
    ins = [_contig(t, dt) for t in (fwd_u, fwd_a_prev, v0, *p, *g)]
    gx = fwd_u.new_empty((x_steps, b, n))
    gv0 = fwd_u.new_empty((b, n))
    ga0 = fwd_u.new_empty((b, n)) if adaptive else None
    per = [fwd_u.new_empty((b, n)) if want else None for want in needs]
    c0, c1 = surrogate_constants(cfg.surrogate)
    lib.sf_backward(
        int(dt == torch.float64),
        num_steps,
        x_steps,
        b,
        n,
        _pointers(ins),
        _pointers([gx, gv0, ga0, *per]),
        c0,
        c1,
        int(adaptive),
        int(cfg.reset is Reset.ZERO),
        int(cfg.detach_reset),
        SURROGATE_ID[type(cfg.surrogate)],
        torch.get_num_threads(),
    )
    return Result(gx, gv0, ga0, *per)
