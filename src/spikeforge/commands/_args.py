"""Argument types shared by the sub-commands (not a sub-command itself).

Type functions run at parse time, so a bad value is argparse's one-line usage error with
exit code 2 (``spikeforge COMMAND: error: argument --opt: ...``) before any work starts.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

__all__ = ["non_empty"]

T = TypeVar("T")


def non_empty(
    option: str,
    accepted: str,
    convert: Callable[[str], T] = str,  # type: ignore[assignment]
) -> Callable[[str], T]:
    """A type function for a path option that refuses an empty (or all-blank) value.

    ``Path("")`` is ``.``, so without this ``--out ""`` would silently mean the current
    folder. ``accepted`` completes the message "give ...", e.g. ``"a folder path, or omit
    --out"``; ``convert`` turns the accepted text into the stored value (``str``, ``Path``).
    """

    def parse(text: str) -> T:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"{option} must not be empty; give {accepted}")
        return convert(text)

    return parse
