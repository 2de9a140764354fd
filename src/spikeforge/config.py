"""The resolved configuration of a training run: typed, validated, saved as JSON.

Strings (from the CLI or a saved ``config.json``) are parsed once here, into enums and
surrogate objects; the rest of the library only sees typed values.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass, field
from typing import Any

from spikeforge.coding import Decoding, Encoding
from spikeforge.errors import ConfigError
from spikeforge.models import Arch, NeuronKind, NeuronSpec
from spikeforge.neurons import Reset
from spikeforge.surrogate import SURROGATES, Surrogate

__all__ = [
    "MAX_EPOCHS",
    "MAX_SEED",
    "MAX_WIDTH",
    "MIN_TRAIN_SAMPLES",
    "TrainConfig",
    "check_int",
    "check_seed",
    "parse_enum",
    "parse_surrogate",
    "refuse_embedded_data_dir",
    "surrogate_name",
]

#: The largest ``--seed`` (2**32 - 1, numpy's limit too). A run seeds its generators with
#: ``seed`` plus small offsets (up to 303), which torch accepts below 2**64.
MAX_SEED = 2**32 - 1

#: The largest ``--epochs``: far beyond any useful run (the digits recipe needs 15), so a typo
#: such as an extra row of zeros is refused instead of training for ever.
MAX_EPOCHS = 100_000

#: The largest layer width (``--hidden``) or channel count (``--channels``): a million neurons
#: per layer; wider weights would not fit in memory, and beyond 2**63 torch cannot even
#: represent the size.
MAX_WIDTH = 1_000_000

#: The smallest ``--max-train-samples`` (a stratified validation split needs a few images).
MIN_TRAIN_SAMPLES = 10


def parse_enum(kind: type[enum.Enum], option: str, value: Any) -> Any:
    """``kind(value)`` or a :class:`ConfigError` naming the option and the accepted values."""
    if isinstance(value, kind):
        return value
    try:
        return kind(value)
    except ValueError:
        accepted = ", ".join(str(m.value) for m in kind)
        raise ConfigError(f"{option}: unknown value {value!r}; accepted: {accepted}") from None


def parse_surrogate(name: str, scale: float | None = None) -> Surrogate:
    """Surrogate object from its CLI name (``fast-sigmoid``, ``arctan``, ...) and scale."""
    if name not in SURROGATES:
        raise ConfigError(f"--surrogate: unknown value {name!r}; accepted: {', '.join(SURROGATES)}")
    cls = SURROGATES[name]
    return cls() if scale is None else cls(scale=scale)


def surrogate_name(s: Surrogate) -> str:
    """Inverse of :func:`parse_surrogate` for the name."""
    for name, cls in SURROGATES.items():
        if type(s) is cls:
            return name
    raise ConfigError(f"surrogate {s!r} has no CLI name; register it in SURROGATES")


def check_int(option: str, value: Any, minimum: int = 1, maximum: int | None = None) -> int:
    """``value`` if it is an integer in ``[minimum, maximum]`` (no upper bound when
    ``maximum`` is None), else a :class:`ConfigError` naming ``option`` and the range, e.g.
    ``--epochs: must be an integer from 1 to 100000, got '1.5'``."""
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= minimum
    if not ok or (maximum is not None and value > maximum):
        accepted = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        raise ConfigError(f"{option}: must be an integer {accepted}, got {value!r}")
    return value


def check_seed(value: Any, option: str = "--seed") -> int:
    """``value`` if it is an integer in ``[0, MAX_SEED]``, else a :class:`ConfigError`."""
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_SEED
    if not ok:
        raise ConfigError(
            f"{option}: must be an integer from 0 to {MAX_SEED} (2**32 - 1), got {value!r}"
        )
    return value


def _number(option: str, value: Any, low: float, high: float, *, open_low: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if open_low else value >= low) and value <= high
    if not ok:
        bracket = "(" if open_low else "["
        raise ConfigError(
            f"{option}: must be a number in {bracket}{low:g}, {high:g}], got {value!r}"
        )
    return float(value)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (the CLI flags mirror these names).

    Time is in steps of ``dt`` ms; ``lr`` is Adam's initial learning rate, annealed to 0
    with a cosine schedule over ``epochs``.
    """

    dataset: str = "digits"
    data_dir: str | None = None
    arch: Arch = Arch.CNN
    hidden: tuple[int, ...] = (128,)
    channels: tuple[int, ...] = (32, 64)
    num_steps: int = 8
    encoding: Encoding = Encoding.DIRECT
    decoding: Decoding = Decoding.RATE
    neuron: NeuronKind = NeuronKind.LIF
    beta: float = 0.9
    threshold: float = 1.0
    reset: Reset = Reset.SUBTRACT
    surrogate: Surrogate = field(default_factory=lambda: SURROGATES["arctan"]())
    detach_reset: bool = True
    learn_beta: bool = False
    learn_threshold: bool = False
    per_neuron: bool = False
    dropout: float = 0.0
    epochs: int = 15
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.0
    seed: int = 0
    val_fraction: float = 0.15
    test_fraction: float = 0.2
    max_train_samples: int | None = None

    def __post_init__(self) -> None:
        check_int("--epochs", self.epochs, maximum=MAX_EPOCHS)
        check_int("--num-steps", self.num_steps)
        check_int("--batch-size", self.batch_size)
        check_seed(self.seed)
        if self.max_train_samples is not None:
            check_int("--max-train-samples", self.max_train_samples, MIN_TRAIN_SAMPLES)
        for h in self.hidden:
            check_int("--hidden", h, maximum=MAX_WIDTH)
        for c in self.channels:
            check_int("--channels", c, maximum=MAX_WIDTH)
        _number("--lr", self.lr, 0.0, 10.0, open_low=True)
        _number("--weight-decay", self.weight_decay, 0.0, 1.0)
        _number("--dropout", self.dropout, 0.0, 0.95)
        _number("--beta", self.beta, 0.0, 1.0)
        _number("--threshold", self.threshold, 0.0, 1e6, open_low=True)
        _number("--val-fraction", self.val_fraction, 0.0, 0.5, open_low=True)
        _number("--test-fraction", self.test_fraction, 0.0, 0.5, open_low=True)
        if self.learn_beta and not 0.0 < self.beta < 1.0:
            raise ConfigError(f"--learn-beta needs --beta strictly inside (0, 1), got {self.beta}")

    def neuron_spec(self) -> NeuronSpec:
        """The :class:`NeuronSpec` every spiking layer is built from."""
        return NeuronSpec(
            kind=self.neuron,
            beta=self.beta,
            threshold=self.threshold,
            reset=self.reset,
            surrogate=self.surrogate,
            detach_reset=self.detach_reset,
            learn_beta=self.learn_beta,
            learn_threshold=self.learn_threshold,
            per_neuron=self.per_neuron,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (enums as their values, the surrogate as name and scale)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, enum.Enum):
                v = v.value
            elif f.name == "surrogate":
                v = {"name": surrogate_name(v), "scale": v.scale}
            elif isinstance(v, tuple):
                v = list(v)
            out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Parse a dict written by :meth:`to_dict` (or assembled from CLI flags)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown config keys {sorted(unknown)}; accepted: {sorted(known)}")
        kw = dict(d)
        enums = {
            "arch": (Arch, "--arch"),
            "encoding": (Encoding, "--encoding"),
            "decoding": (Decoding, "--decoding"),
            "neuron": (NeuronKind, "--neuron"),
            "reset": (Reset, "--reset"),
        }
        for key, (kind, option) in enums.items():
            if key in kw:
                kw[key] = parse_enum(kind, option, kw[key])
        if isinstance(kw.get("surrogate"), dict):
            s = kw["surrogate"]
            kw["surrogate"] = parse_surrogate(s.get("name", ""), s.get("scale"))
        for key in ("hidden", "channels"):
            if key in kw:
                kw[key] = tuple(kw[key])
        return cls(**kw)


def refuse_embedded_data_dir(
    dataset: str, data_dir: object, fix: str = "drop --data-dir or choose another --dataset"
) -> None:
    """``--data-dir`` with the embedded digits dataset is refused (it would be ignored)."""
    if dataset == "digits" and data_dir is not None:
        raise ConfigError(
            f"--data-dir {str(data_dir)!r} is not used: the digits dataset is embedded "
            f"(scikit-learn); {fix}"
        )
