"""Argument types, the record of the options given, the refusal of options that would be
ignored, and the help formatter shared by the sub-commands (not a sub-command).

Type functions run at parse time, so a bad value is argparse's one-line usage error with
exit code 2 (``spikeforge COMMAND: error: argument --opt: ...``) before any work starts.
"""

from __future__ import annotations

import argparse
import decimal
import enum
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from spikeforge.config import check_int, check_seed, refuse_embedded_data_dir
from spikeforge.errors import ConfigError
from spikeforge.models import Arch

__all__ = [
    "GIVEN",
    "BooleanOptional",
    "HelpFormatter",
    "absolute",
    "as_typed",
    "given",
    "int_list",
    "integer",
    "non_empty",
    "number",
    "record_given",
    "refuse_channels_without_cnn",
    "refuse_embedded_data_dir",
    "refuse_inapplicable",
    "refuse_together",
    "seed",
]

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


#: Attribute of the parsed namespace: the options given on the command line, as typed (full
#: names, abbreviations expanded), in order. Defaults never appear, even when a given value
#: equals the default, so a command can refuse exactly what it would otherwise ignore
#: (``train --resume``, options that do not apply to the chosen mode).
GIVEN = "given_options"


def _note_given(namespace: argparse.Namespace, option_string: str | None) -> None:
    noted = getattr(namespace, GIVEN, ())
    if option_string is not None and option_string not in noted:
        setattr(namespace, GIVEN, (*noted, option_string))  # a new tuple: defaults stay ()


class _Noting(argparse.Action):
    """An action that stores as its class does (``_store``), then notes the option as given."""

    _store: Callable[..., None]

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        self._store(parser, namespace, values, option_string)
        _note_given(namespace, option_string)


class _Store(_Noting):
    """argparse's plain ``store`` (or, with ``nargs=0``, ``store_const``), noting the option."""

    def _store(self, parser: Any, namespace: Any, values: Any, option_string: Any) -> None:
        setattr(namespace, self.dest, self.const if self.nargs == 0 else values)


class _StoreTrue(_Store):
    """argparse's ``store_true`` that also notes the option as given."""

    def __init__(
        self,
        option_strings: list[str],
        dest: str,
        default: bool = False,
        required: bool = False,
        help: str | None = None,
    ) -> None:
        super().__init__(
            option_strings, dest, nargs=0, const=True, default=default, required=required,
            help=help,
        )  # fmt: skip


class BooleanOptional(_Noting, argparse.BooleanOptionalAction):
    """``--flag / --no-flag`` that also notes the option as given."""

    _store = argparse.BooleanOptionalAction.__call__


def record_given(parser: argparse.ArgumentParser) -> None:
    """Make every ``store`` and ``store_true`` option added to ``parser`` from now on note
    that it was given (:data:`GIVEN`, read with :func:`given`); call before adding them."""
    parser.register("action", None, _Store)
    parser.register("action", "store", _Store)
    parser.register("action", "store_true", _StoreTrue)
    parser.set_defaults(**{GIVEN: ()})


def given(args: argparse.Namespace) -> tuple[str, ...]:
    """The options given on the command line (:data:`GIVEN`), in order."""
    return tuple(getattr(args, GIVEN, ()))


def refuse_inapplicable(
    args: argparse.Namespace, options: Iterable[str], applies: bool, where: str, fix: str
) -> None:
    """When ``applies`` is false, refuse those of ``options`` that were given (they would be
    ignored) with one line naming them, where they apply and how to fix it, e.g. ``--onset
    applies only with --stimulus step (here: constant), so it would be ignored; add
    --stimulus step or drop --onset`` (``where`` = ``"with --stimulus step (here:
    constant)"``, ``fix`` = ``"add --stimulus step"``)."""
    if applies:
        return
    noted = given(args)
    found = [o for o in options if o in noted]
    if found:
        names = ", ".join(found)
        one = len(found) == 1
        raise ConfigError(
            f"{names} {'applies' if one else 'apply'} only {where}, so "
            f"{'it' if one else 'they'} would be ignored; {fix} or drop {names}"
        )


def refuse_together(args: argparse.Namespace, options: Iterable[str], why: str) -> None:
    """Refuse two or more of ``options`` given together (one would silently win): one line
    naming them and ``why`` they contradict each other."""
    noted = given(args)
    found = [o for o in options if o in noted]
    if len(found) > 1:
        names = " and ".join(found)
        raise ConfigError(f"{names} cannot be combined: {why}; give only one of them")


def refuse_channels_without_cnn(args: argparse.Namespace, arch: Arch) -> None:
    """``--channels`` (conv blocks) is refused unless the network is a CNN."""
    refuse_inapplicable(
        args, ("--channels",), arch is Arch.CNN, f"with --arch cnn (here: {arch.value})",
        "add --arch cnn",
    )  # fmt: skip


def int_list(option: str, maximum: int | None = None) -> Callable[[str], tuple[int, ...]]:
    """A type function for ``128,64``: one or more comma-separated integers >= 1 (and <=
    ``maximum`` when given)."""
    accepted = ">= 1" if maximum is None else f"from 1 to {maximum}"

    def parse(text: str) -> tuple[int, ...]:
        items = text.split(",")
        try:
            values = tuple(int(v) for v in items)
        except ValueError:
            values = ()
        if not values or any(v < 1 or (maximum is not None and v > maximum) for v in values):
            raise argparse.ArgumentTypeError(
                f"{option} takes one or more comma-separated integers {accepted} like 128,64, "
                f"got {text!r}"
            )
        return values

    return parse


def integer(option: str, minimum: int = 1, maximum: int | None = None) -> Callable[[str], int]:
    """A type function for an integer option in ``[minimum, maximum]`` (no upper bound when
    ``maximum`` is None), checked by :func:`~spikeforge.config.check_int` as the run's
    configuration is. ``--epochs 1.5`` is then ``argument --epochs: must be an integer from
    1 to 100000, got '1.5'``; an integer written as a float (``1e3``) is refused too, with
    the digits to write instead."""

    def parse(text: str) -> int:
        try:
            value: object = int(text)
        except ValueError:
            value = text  # check_int refuses it and shows it quoted, as typed
        try:
            return check_int(option, value, minimum, maximum)
        except ConfigError as exc:
            message = str(exc).removeprefix(f"{option}: ")
            whole = _integral(text) if isinstance(value, str) else None
            if whole is not None and minimum <= whole <= (whole if maximum is None else maximum):
                message += f"; write it as {whole}"
            raise argparse.ArgumentTypeError(message) from None

    return parse


def _integral(text: str) -> int | None:
    """The exact integer that ``text`` writes as a decimal number (``1e3``, ``64.0``), or
    None (not a number, not finite, a fraction, or 1e19 or more: never in range)."""
    try:
        value = decimal.Decimal(text.strip())
    except decimal.InvalidOperation:
        return None
    if not value.is_finite() or value.adjusted() > 18 or value != value.to_integral_value():
        return None
    return int(value)


def number(text: str) -> float:
    """The type of every float option: ``float(text)``, or argparse's one-line usage error
    ``argument --lr: must be a number, got 'abc'`` (the range is checked where the value is
    used, which names the option again)."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None


def seed(text: str) -> int:
    """The ``--seed`` type of every command: an integer from 0 to ``MAX_SEED``, so the seed
    and the offsets added to it always fit torch's generators."""
    try:
        return check_seed(int(text))
    except ValueError as exc:  # int() failed, or check_seed's ConfigError (a ValueError)
        if not isinstance(exc, ConfigError):
            exc = ConfigError(f"--seed: must be an integer, got {text!r}")
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--seed: ")) from None


def absolute(path: str | None) -> str | None:
    """``path`` with ``~`` expanded, made absolute against the current folder (None stays).

    A run stores its ``--data-dir`` this way, so it can be resumed or evaluated from any
    folder."""
    return None if path is None else str(Path(path).expanduser().resolve())


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
