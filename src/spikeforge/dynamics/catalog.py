"""The five models by name: parameters, binding, initial state and sensible defaults.

Used by the CLI (``spikeforge simulate MODEL``); the model name is parsed once into
:class:`ModelKind`.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from spikeforge.dynamics.fitzhugh_nagumo import FHNParams, fhn_initial_state, fhn_system
from spikeforge.dynamics.hindmarsh_rose import HRParams, hr_initial_state, hr_system
from spikeforge.dynamics.hodgkin_huxley import HHParams, hh_initial_state, hh_system
from spikeforge.dynamics.integrators import Method
from spikeforge.dynamics.izhikevich import (
    IzhikevichParams,
    IzhikevichPreset,
    izhikevich_initial_state,
    izhikevich_system,
)
from spikeforge.dynamics.lif import LIFParams, lif_initial_state, lif_system
from spikeforge.dynamics.system import System
from spikeforge.errors import ConfigError


class ModelKind(enum.Enum):
    """Model names as spelled on the command line."""

    LIF = "lif"
    HH = "hh"
    FHN = "fhn"
    HR = "hr"
    IZHIKEVICH = "izhikevich"

    @classmethod
    def parse(cls, text: str) -> ModelKind:
        """Parse a CLI model name (case-insensitive); ``ConfigError`` lists the choices."""
        try:
            return cls(text.lower())
        except ValueError:
            names = ", ".join(k.value for k in cls)
            raise ConfigError(f"unknown model {text!r}; choose one of: {names}") from None


@dataclass(frozen=True)
class ModelSpec:
    """What the CLI needs to know about one model.

    Attributes:
        params_type: the frozen parameter dataclass.
        system: binds parameters into a :class:`System`.
        initial_state: ``initial_state(params, batch, dtype) -> [B, D]``.
        current_unit: unit of the input current.
        dt, duration, method, current: defaults for a quick run.
        traces: state variables drawn in the second figure (gates or recovery).
    """

    params_type: type
    system: Callable[[Any], System]
    initial_state: Callable[[Any, int, torch.dtype], torch.Tensor]
    current_unit: str
    dt: float
    duration: float
    method: Method
    current: float
    traces: tuple[str, ...]


SPECS: dict[ModelKind, ModelSpec] = {
    ModelKind.LIF: ModelSpec(
        LIFParams, lif_system, lif_initial_state, "nA", 0.1, 100.0, Method.EXP_EULER, 2.0, ()
    ),
    ModelKind.HH: ModelSpec(
        HHParams, hh_system, hh_initial_state, "uA/cm2", 0.01, 100.0, Method.RK4, 10.0,
        ("m", "h", "n"),
    ),
    ModelKind.FHN: ModelSpec(
        FHNParams, fhn_system, fhn_initial_state, "dimensionless", 0.05, 200.0, Method.RK4,
        0.5, ("w",),
    ),
    ModelKind.HR: ModelSpec(
        HRParams, hr_system, hr_initial_state, "dimensionless", 0.05, 1000.0, Method.RK4,
        3.0, ("y", "z"),
    ),
    ModelKind.IZHIKEVICH: ModelSpec(
        IzhikevichParams, izhikevich_system, izhikevich_initial_state, "uA/cm2", 0.1, 500.0,
        Method.RK4, 10.0, ("u",),
    ),
}


def parse_params(kind: ModelKind, tokens: Sequence[str]) -> Any:
    """Build the parameter dataclass from CLI tokens: a preset name (Izhikevich: RS, IB, CH,
    FS, LTS, RZ, TC) and/or ``key=value`` pairs (floats) that override it. Raises
    ``ConfigError``, also for two presets or a key given twice (one would silently win)."""
    spec = SPECS[kind]
    fields = [f.name for f in dataclasses.fields(spec.params_type)]
    values: dict[str, float] = {}
    written: dict[str, str] = {}  # key -> its token, to name both of a repeated key
    preset: IzhikevichPreset | None = None
    preset_token = ""
    for token in tokens:
        if "=" not in token:
            if kind is not ModelKind.IZHIKEVICH:
                raise ConfigError(
                    f"model {kind.value} has no presets, got {token!r}; pass key=value pairs "
                    f"with keys {', '.join(fields)}"
                )
            try:
                chosen = IzhikevichPreset[token.upper()]
            except KeyError:
                names = ", ".join(p.name for p in IzhikevichPreset)
                raise ConfigError(f"unknown Izhikevich preset {token!r}; choose {names}") from None
            if preset is not None:
                raise ConfigError(
                    f"--params names two presets, {preset_token!r} and {token!r}; give one "
                    f"preset (key=value pairs after it change its values)"
                )
            preset, preset_token = chosen, token
            continue
        key, _, raw = token.partition("=")
        if key not in fields:
            raise ConfigError(
                f"model {kind.value} has no parameter {key!r}; accepted: {', '.join(fields)}"
            )
        if key in written:
            raise ConfigError(
                f"--params sets {key} twice, {written[key]!r} and {token!r}; give each "
                f"parameter once"
            )
        written[key] = token
        try:
            values[key] = float(raw)
        except ValueError:
            raise ConfigError(f"parameter {key} needs a number, got {raw!r}") from None
    if preset is not None:
        return IzhikevichParams.from_preset(preset, **values)
    return spec.params_type(**values)
