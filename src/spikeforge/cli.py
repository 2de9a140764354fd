"""Command-line entry point: parses arguments and calls the library.

Each sub-command lives in ``spikeforge.commands.<name>`` and exposes
``add_parser(subparsers)`` and ``run(args) -> int``. ``main(argv)`` returns the exit
code; errors a user can fix (:class:`~spikeforge.errors.SpikeforgeError`) become a
one-line message on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from spikeforge import __version__
from spikeforge.errors import SpikeforgeError

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
        return int(args.run(args))
    except SpikeforgeError as exc:
        print(f"spikeforge {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"spikeforge {args.command}: interrupted", file=sys.stderr)
        return 130


def console_main() -> None:
    """Console-script wrapper around :func:`main`."""
    sys.exit(main())
