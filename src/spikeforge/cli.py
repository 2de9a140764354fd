"""Command-line entry point: parses arguments and calls the library.

Each sub-command lives in ``spikeforge.commands.<name>`` and exposes
``add_parser(subparsers)`` and ``run(args) -> int``. ``main(argv)`` returns the exit
code; errors a user can fix (:class:`~spikeforge.errors.SpikeforgeError`) become a
one-line message on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from spikeforge import __version__, heap
from spikeforge.errors import SpikeforgeError, SpikeforgeWarning

#: Sub-command modules, in the order ``--help`` lists them.
COMMANDS: tuple[str, ...] = ("train", "eval", "compare", "simulate", "datasets")


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line and exit code 2 (argparse's own code)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """Build the full argument parser with every sub-command registered."""
    parser = _Parser(
        prog="spikeforge",
        description="Build, simulate, train and evaluate spiking neural networks.",
    )
    parser.add_argument("--version", action="version", version=f"spikeforge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMANDS:
        module = importlib.import_module(f"spikeforge.commands.{name}")
        module.add_parser(sub)
    return parser


class _GuardedStdout:
    """``sys.stdout`` while a command runs: when a write fails (the reader of a pipe quit,
    as ``| head`` does; the device is full), this and all later output are dropped instead
    of stopping the command, whose results are in its files; :attr:`failure` keeps the
    first error."""

    def __init__(self, stream: Any) -> None:
        self.stream, self.failure = stream, None

    def write(self, text: str) -> int:
        if self.failure is None:
            try:
                return self.stream.write(text)
            except OSError as exc:
                self.failure = exc
        return len(text)

    def flush(self) -> None:
        if self.failure is None:
            try:
                self.stream.flush()
            except OSError as exc:
                self.failure = exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # --help, --version and usage errors
        return int(exc.code) if isinstance(exc.code, int) else 2
    guard = _GuardedStdout(sys.stdout)
    sys.stdout = guard  # type: ignore[assignment]
    try:
        guard.flush()  # a command's output starts after what was written before
        return _run(args)
    finally:
        sys.stdout = guard.stream
        _after_output_failure(args.command, guard)


def _after_output_failure(command: str, guard: _GuardedStdout) -> None:
    """Say why output stopped (nothing for a closed pipe: its reader chose to stop), and
    keep the interpreter from failing again when it flushes the dead stream at exit."""
    exc = guard.failure
    if exc is None:
        return
    if exc.errno != errno.EPIPE:
        print(
            f"spikeforge {command}: warning: standard output could not be written "
            f"({exc.strerror}); the command ran to its end and its files are written",
            file=sys.stderr,
        )
    try:
        fd = guard.stream.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)  # what is still buffered for it goes nowhere
    os.close(devnull)


def _run(args: argparse.Namespace) -> int:
    """Run the parsed command; a user's error becomes one line on stderr and exit code 2."""
    try:
        with warnings.catch_warnings():  # restores the caller's filters and showwarning
            warnings.simplefilter("always", SpikeforgeWarning)
            warnings.showwarning = _one_line_warnings(args.command, warnings.showwarning)
            return int(args.run(args))
    except SpikeforgeError as exc:
        print(f"spikeforge {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as exc:
        if not isinstance(exc, MemoryError) and not _is_out_of_memory(exc):
            raise
        fix = _SMALLER.get(args.command, "smaller sizes")
        print(
            f"spikeforge {args.command}: error: out of memory for these sizes; try {fix}",
            file=sys.stderr,
        )
        return 2
    except OSError as exc:
        if exc.errno not in _FILE_SYSTEM_ERRORS:
            raise
        where = f"{exc.filename!s}: " if exc.filename else ""
        print(
            f"spikeforge {args.command}: error: {where}{exc.strerror}; free space or fix the "
            "folder's permissions and try again",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print(f"spikeforge {args.command}: interrupted", file=sys.stderr)
        return 130


def _one_line_warnings(command: str, show: Any) -> Any:
    """A ``warnings.showwarning`` that prints a :class:`SpikeforgeWarning` as one line
    ``spikeforge COMMAND: warning: ...`` on stderr and hands other warnings to ``show``."""

    def showwarning(message: Any, category: type[Warning], *rest: Any, **kw: Any) -> None:
        if issubclass(category, SpikeforgeWarning):
            print(f"spikeforge {command}: warning: {message}", file=sys.stderr)
        else:
            show(message, category, *rest, **kw)

    return showwarning


#: OSErrors that say the disk or folder refused a write (full, quota, read-only, denied, I/O):
#: a file written outside the atomic writer (a figure, a CSV) fails with one of these.
_FILE_SYSTEM_ERRORS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}
)


#: What to make smaller when a command runs out of memory.
_SMALLER = {
    "train": "a smaller --num-steps, --batch-size, --hidden or --channels",
    "eval": "closing other programs, or a model trained with smaller sizes",
    "compare": "a smaller --num-steps, --batch-size, --hidden or --channels",
    "simulate": "a shorter --duration, a larger --dt or fewer --current values",
}


def _is_out_of_memory(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(k in text for k in ("can't allocate memory", "out of memory", "not enough memory"))


def console_main() -> None:
    """Console-script wrapper around :func:`main`: the command owns its process, so it
    first keeps freed tensor memory for reuse (:func:`spikeforge.heap.keep_freed_memory`)."""
    heap.keep_freed_memory()
    sys.exit(main())
