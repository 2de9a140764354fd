"""Argument types and the help formatter shared by the sub-commands (not a sub-command).

Type functions run at parse time, so a bad value is argparse's one-line usage error with
exit code 2 (``spikeforge COMMAND: error: argument --opt: ...``) before any work starts.
"""

from __future__ import annotations

import argparse
import enum
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["HelpFormatter", "as_typed", "non_empty"]

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


def as_typed(value: Any) -> str:
    """A default as the user would type it: enums by value, sequences comma-separated
    (``(Encoding.DIRECT, Encoding.RATE)`` -> ``direct,rate``, ``(128, 64)`` -> ``128,64``)."""
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, (tuple, list)):
        return ",".join(as_typed(v) for v in value)
    return str(value)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends ``(default: ...)`` written as it would be typed (:func:`as_typed`); a required
    option gets ``(required)`` instead, and a ``None`` default (the help says what happens
    then) or a flag that is off unless given gets nothing."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help
        default = action.default
        if text is not None and action.required and action.option_strings:
            return f"{text} (required)"
        if (
            text is None
            or "%(default)" in text  # placed by the help itself (BooleanOptionalAction)
            or not action.option_strings
            or default is None
            or default is argparse.SUPPRESS
            or (action.nargs == 0 and default is False)
        ):
            return text
        return f"{text} (default: {as_typed(default).replace('%', '%%')})"
