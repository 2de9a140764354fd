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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # --help, --version and usage errors
        return int(exc.code) if isinstance(exc.code, int) else 2
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
        print(
            f"spikeforge {args.command}: error: out of memory for these sizes; reduce "
            "--num-steps, --batch-size or the layer sizes (or --duration / the number of "
            "neurons for simulate)",
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


def _is_out_of_memory(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(k in text for k in ("can't allocate memory", "out of memory", "not enough memory"))


def console_main() -> None:
    """Console-script wrapper around :func:`main`: the command owns its process, so it
    first keeps freed tensor memory for reuse (:func:`spikeforge.heap.keep_freed_memory`)."""
    heap.keep_freed_memory()
    sys.exit(main())
