"""``spikeforge simulate MODEL``: simulate a neuron model, print spike statistics, write
traces (CSV, NPZ), figures and ``summary.json``; or an f-I curve with ``--fi-curve``."""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spikeforge.checkpoint import output_folder
from spikeforge.commands._args import (
    given,
    non_empty,
    number,
    record_given,
    refuse_inapplicable,
    refuse_together,
    seed,
)
from spikeforge.config import MAX_SEED
from spikeforge.dynamics import stimulus
from spikeforge.dynamics.analysis import (
    FICurve,
    fhn_phase_portrait,
    fi_curve,
    hr_fast_phase_portrait,
    izhikevich_phase_portrait,
    onset_current,
)
from spikeforge.dynamics.catalog import SPECS, ModelKind, ModelSpec, parse_params
from spikeforge.dynamics.integrators import Method
from spikeforge.dynamics.simulation import Trajectory, n_steps, simulate
from spikeforge.dynamics.spikes import (
    firing_rate,
    first_spike_latency,
    isi_cv,
    isi_mean,
    spike_count,
)
from spikeforge.dynamics.stimulus import StimulusKind
from spikeforge.errors import ConfigError, SimulationError
from spikeforge.runfolder import claimed_folder, refuse_outputs


def add_parser(subparsers: Any) -> None:
    """Register ``simulate`` on the CLI's sub-parsers."""
    p = subparsers.add_parser(
        "simulate",
        help="simulate a neuron model (lif, hh, fhn, hr, izhikevich)",
        description=(
            "Simulate a neuron model as a differential equation; print spike times, count, "
            "rate and ISI statistics; write traces, figures and summary.json to --out. "
            "Units: ms, mV, uA/cm2 (hh, izhikevich), nA (lif); fhn and hr are dimensionless."
        ),
    )
    record_given(p)  # every option below notes that it was given (to refuse ignored ones)
    p.add_argument("model", help="lif, hh, fhn, hr or izhikevich")
    p.add_argument("--stimulus", default="constant", help="constant, step, ramp, noisy or file")
    p.add_argument(
        "--current", default=None,
        help="amplitude; a comma-separated list simulates one neuron per value (batched)",
    )
    p.add_argument("--current-end", type=number, default=None, help="ramp: final amplitude")
    p.add_argument("--onset", type=number, default=0.0, help="step: start time")
    p.add_argument("--offset", type=number, default=None, help="step: end time")
    p.add_argument("--noise-std", type=number, default=1.0, help="noisy: std per step")
    p.add_argument("--seed", type=seed, default=0, help=f"noisy: random seed (0 to {MAX_SEED})")
    p.add_argument(
        "--stimulus-file",
        type=non_empty("--stimulus-file", "a .npy or .csv file of samples", Path),
        default=None,
        help="file: .npy or .csv samples",
    )
    p.add_argument("--duration", type=number, default=None,
                   help=f"simulated time (default per model: {_defaults('duration')})")
    p.add_argument("--dt", type=number, default=None,
                   help=f"time step (default per model: {_defaults('dt')})")
    p.add_argument("--method", default=None,
                   help=f"euler, exp_euler, rk4 or dopri5 (default per model: "
                        f"{_defaults('method')})")
    p.add_argument(
        "--params", nargs="+", default=[], metavar="P",
        help="a preset (izhikevich: RS IB CH FS LTS RZ TC) and/or key=value pairs",
    )
    p.add_argument("--fi-curve", default=None, metavar="START:STOP:STEP",
                   help="f-I curve over constant currents START..STOP (inclusive)")
    p.add_argument("--settle", type=number, default=None,
                   help="f-I curve: ignore spikes before this time (default: half the duration)")
    p.add_argument(
        "--out",
        type=non_empty("--out", "an output folder, or omit --out to only print the results", Path),
        default=None,
        help="output folder",
    )
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    p.set_defaults(run=run)


def _defaults(field: str) -> str:
    """``lif 0.1, hh 0.01, ...``: the per-model default of a ``ModelSpec`` field, for --help
    (argparse's %(default)s would show None, the marker for 'use the model's default')."""
    parts = []
    for kind, spec in SPECS.items():
        value = getattr(spec, field)
        parts.append(f"{kind.value} {value.value if isinstance(value, Method) else f'{value:g}'}")
    return ", ".join(parts)


def _parse_enum(enum_type: Any, text: str, what: str) -> Any:
    try:
        return enum_type(text.lower())
    except ValueError:
        names = ", ".join(e.value for e in enum_type)
        raise ConfigError(f"unknown {what} {text!r}; choose one of: {names}") from None


def _floats(text: str, what: str) -> list[float]:
    pieces = [x.strip() for x in text.split(",")]
    if not all(pieces):
        raise ConfigError(
            f"{what} must be numbers separated by commas (no empty entries), got {text!r}"
        )
    try:
        values = [float(x) for x in pieces]
    except ValueError:
        raise ConfigError(f"{what} must be numbers separated by commas, got {text!r}") from None
    if not values or not all(math.isfinite(v) for v in values):
        raise ConfigError(f"{what} must be finite numbers, got {text!r}")
    return values


def _fi_range(text: str) -> tuple[float, float, int]:
    """``(start, step, count)`` of ``--fi-curve START:STOP:STEP`` (validated, not built)."""
    form = "START:STOP:STEP, three numbers separated by colons like 5:10:0.5"
    parts = text.split(":")
    if len(parts) != 3:
        raise ConfigError(f"--fi-curve must be {form}, got {text!r}")
    try:
        start, stop, step = (float(x) for x in parts)
    except ValueError:
        raise ConfigError(f"--fi-curve must be {form}, got {text!r}") from None
    if not all(math.isfinite(v) for v in (start, stop, step)):
        raise ConfigError(f"--fi-curve needs finite START, STOP and STEP, got {text!r}")
    if step <= 0 or stop < start:
        raise ConfigError(f"--fi-curve needs STEP > 0 and STOP >= START, got {text!r}")
    span = (stop - start) / step + 1e-9  # START, START + STEP, ... up to STOP inclusive
    count = math.floor(span) + 1 if math.isfinite(span) else math.inf
    if count > _MAX_NEURONS:
        asked = (
            f"{count:,}" if count < 1e15 else f"about {count:.3g}" if count < math.inf
            else "more than 1e+308"
        )  # fmt: skip
        raise ConfigError(
            f"--fi-curve {text} asks for {asked} currents; at most {_MAX_NEURONS:,} are "
            f"simulated at once; use a larger STEP or a narrower START:STOP"
        )
    return start, step, int(count)


# Sanity bounds checked before anything is allocated (a huge --duration or a tiny --dt would
# otherwise end in an allocator traceback minutes later).
_MAX_NEURONS = 1_000_000
_MAX_STEPS = 1_000_000_000
_PER_STEP_OVERHEAD = 512  # bytes: a stored state tensor per step plus the time vector


def _memory_limit() -> int:
    """Half the machine's physical memory in bytes (8 GiB if it cannot be read)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 16 << 30
    return max(total, 1 << 30) // 2


def _check_size(steps: int, neurons: int, state_size: int, neuron_option: str) -> None:
    """Raise ``ConfigError`` naming the option to reduce when a run of ``steps`` steps of
    ``neurons`` neurons with ``state_size`` float64 state variables (plus the current) would
    need more than half the machine's memory or more than the hard caps."""
    if steps > _MAX_STEPS:
        raise ConfigError(
            f"--duration / --dt give {steps:.3g} steps, more than {_MAX_STEPS:.0e}; reduce "
            f"--duration or increase --dt"
        )
    if neurons > _MAX_NEURONS:
        raise ConfigError(
            f"{neuron_option} gives {neurons:,} neurons, more than {_MAX_NEURONS:,}; pass fewer"
        )
    need = (steps + 1) * (neurons * (state_size + 1) * 8 + _PER_STEP_OVERHEAD)
    limit = _memory_limit()
    if need > limit:
        option = "--duration / --dt" if neurons == 1 else f"--duration / --dt or {neuron_option}"
        raise ConfigError(
            f"{option}: {steps:,} steps x {neurons:,} neurons x {state_size} state variables "
            f"need about {need / 2**30:.3g} GiB, more than {limit / 2**30:.3g} GiB (half this "
            f"machine's memory); reduce --duration, increase --dt or simulate fewer neurons"
        )


def _check_times(args: argparse.Namespace, duration: float) -> None:
    """--onset, --offset, --settle and --noise-std against each other and the duration."""
    if not (math.isfinite(args.onset) and 0 <= args.onset < duration):
        raise ConfigError(
            f"--onset must be in [0, duration) = [0, {duration:g}), got {args.onset:g}; "
            f"lower --onset or lengthen --duration"
        )
    if args.offset is not None and not (math.isfinite(args.offset) and args.offset > args.onset):
        raise ConfigError(
            f"--offset must be a finite time after --onset {args.onset:g}, got {args.offset:g}"
        )
    if args.settle is not None and not (math.isfinite(args.settle) and 0 <= args.settle < duration):
        raise ConfigError(
            f"--settle must be in [0, duration) = [0, {duration:g}), got {args.settle:g}; "
            f"lower --settle or lengthen --duration"
        )
    if not (math.isfinite(args.noise_std) and args.noise_std >= 0):
        raise ConfigError(f"--noise-std must be a finite number >= 0, got {args.noise_std}")
    if args.current_end is not None and not math.isfinite(args.current_end):
        raise ConfigError(f"--current-end must be a finite number, got {args.current_end}")


#: The options that shape one kind of stimulus, and the kind they belong to.
_STIMULUS_OPTIONS = {
    StimulusKind.STEP: ("--onset", "--offset"),
    StimulusKind.RAMP: ("--current-end",),
    StimulusKind.NOISY: ("--noise-std", "--seed"),
    StimulusKind.FILE: ("--stimulus-file",),
}


def _refuse_ignored(args: argparse.Namespace, kind: StimulusKind) -> None:
    """Refuse, naming them, the options that contradict each other or do not apply to the
    chosen stimulus ``kind`` or mode (they would be silently ignored)."""
    here = f"(here: {kind.value}{'' if '--stimulus' in given(args) else ', the default'})"
    if args.fi_curve is not None:
        refuse_together(
            args, ("--fi-curve", "--current"),
            "the f-I curve simulates its own constant currents START..STOP",
        )  # fmt: skip
        refuse_inapplicable(
            args, [o for options in _STIMULUS_OPTIONS.values() for o in options], False,
            "without --fi-curve (the f-I curve uses constant currents)",
            "simulate without --fi-curve",
        )  # fmt: skip
        if kind is not StimulusKind.CONSTANT:
            raise ConfigError(
                f"--fi-curve and --stimulus {kind.value} cannot be combined: the f-I curve "
                "uses constant currents; drop --stimulus or --fi-curve"
            )
    refuse_inapplicable(
        args, ("--settle",), args.fi_curve is not None, "with --fi-curve",
        "add --fi-curve START:STOP:STEP",
    )  # fmt: skip
    for owner, options in _STIMULUS_OPTIONS.items():
        refuse_inapplicable(
            args, options, kind is owner, f"with --stimulus {owner.value} {here}",
            f"add --stimulus {owner.value}",
        )  # fmt: skip
    refuse_inapplicable(
        args, ("--current",), kind is not StimulusKind.FILE,
        "without --stimulus file (the file gives the current)", "choose another --stimulus",
    )  # fmt: skip
    refuse_inapplicable(
        args, ("--no-figures",), args.out is not None,
        "with --out (without it no figures are written)", "add --out DIR",
    )  # fmt: skip


def _positive(value: float, name: str) -> float:
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{name} must be a positive number, got {value}")
    return value


def _build_current(
    args: argparse.Namespace, spec: ModelSpec, steps: int, dt: float
) -> torch.Tensor:
    kind = _parse_enum(StimulusKind, args.stimulus, "stimulus")
    if kind is StimulusKind.FILE:
        if args.stimulus_file is None:
            raise ConfigError("--stimulus file needs --stimulus-file PATH")
        return stimulus.from_file(args.stimulus_file, steps)
    text = str(spec.current) if args.current is None else args.current
    amp = torch.tensor(_floats(text, "--current"), dtype=torch.float64)
    if kind is StimulusKind.CONSTANT:
        return stimulus.constant(amp, steps)
    if kind is StimulusKind.STEP:
        return stimulus.step(amp, steps, dt, args.onset, args.offset)
    if kind is StimulusKind.RAMP:
        end = torch.full_like(amp, 0.0 if args.current_end is None else args.current_end)
        return stimulus.ramp(amp, end, steps)
    gen = torch.Generator().manual_seed(args.seed)
    return stimulus.noisy(amp, args.noise_std, steps, gen)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _json_list(t: torch.Tensor) -> list[Any]:
    return [None if not math.isfinite(x) else x for x in t.double().tolist()]


def _write_traces(traj: Trajectory, current: torch.Tensor, out: Path) -> None:
    states = traj.states.detach().double()
    names = [f"{v}[{b}]" for b in range(states.shape[1]) for v in traj.variables]
    with open(out / "traces.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["t", *names])
        flat = states.reshape(states.shape[0], -1).numpy()
        for t, row in zip(traj.t.numpy(), flat, strict=True):
            writer.writerow([f"{t:.6g}", *(f"{x:.9g}" for x in row)])
    np.savez(
        out / "traces.npz", t=traj.t.numpy(), states=states.numpy(),
        variables=np.array(traj.variables), current=current.double().numpy(),
    )


def _figures(kind: ModelKind, spec: ModelSpec, traj: Trajectory, params: Any,
             current: torch.Tensor, out: Path) -> list[Path]:
    from spikeforge.dynamics import plot

    unit = "ms" if spec.current_unit != "dimensionless" else "1"
    voltage = traj.variables[0]
    v_unit = "dimensionless" if spec.current_unit == "dimensionless" else "mV"
    paths = [plot.plot_variables(traj, (voltage,), out / "voltage.png",
                                 f"{kind.value}: {voltage}", unit, {voltage: v_unit})]
    if spec.traces:
        name = "gating.png" if kind is ModelKind.HH else "recovery.png"
        paths.append(plot.plot_variables(traj, spec.traces, out / name, f"{kind.value}", unit))
    i0 = float(current[-1, 0])
    y0 = traj.states[0, :1].detach()
    if kind is ModelKind.FHN:
        pp = fhn_phase_portrait(params, i0, y0, duration=float(traj.t[-1]), dt=traj.dt)
    elif kind is ModelKind.IZHIKEVICH:
        pp = izhikevich_phase_portrait(params, i0, y0, duration=float(traj.t[-1]), dt=traj.dt)
    elif kind is ModelKind.HR:
        z = float(traj.variable("z")[:, 0].mean())
        picks = torch.linspace(0, traj.states.shape[0] - 1, 4).round().long()
        starts = traj.states[picks, 0, :2].detach()  # four points of the simulated orbit
        pp = hr_fast_phase_portrait(params, i0, z, starts, duration=20.0, dt=0.02)
    else:
        return paths
    paths.append(plot.plot_phase_portrait(pp, out / "phase.png", f"{kind.value} phase plane"))
    return paths


#: A current beyond this many times the model's default (or 1, if larger) is taken to be
#: what made a diverging simulation diverge, rather than --dt or --method.
_LARGE_CURRENT = 1000.0


@contextlib.contextmanager
def _blame_large_current(spec: ModelSpec, current: torch.Tensor, option: str) -> Iterator[None]:
    """Turn a diverged simulation (``SimulationError``, which suggests a smaller dt) into a
    one-line error naming ``option`` when the current is far outside the model's range."""
    try:
        yield
    except SimulationError as exc:
        peak = float(current.abs().max()) if current.numel() else 0.0
        bound = _LARGE_CURRENT * max(1.0, abs(spec.current))
        if not peak > bound:
            raise
        unit = spec.current_unit
        model, _, what = str(exc).partition(": ")  # "<model>: the state became ... at t = ..."
        where = what.split(" with method")[0]
        raise ConfigError(
            f"{option}: a current of {peak:.3g} {unit} is too large for {model} "
            f"({where}); use currents within +-{bound:g} {unit} (the default is "
            f"{spec.current:g}), or, if this current is meant, a smaller --dt"
        ) from None


def _make_out(args: argparse.Namespace) -> None:
    """Create --out once every input is checked (a refusal writes nothing) and before
    simulating (a bad --out fails at once)."""
    if args.out is not None:
        output_folder(args.out)


def _run_fi(args: argparse.Namespace, kind: ModelKind, spec: ModelSpec, params: Any,
            method: Method, dt: float, duration: float) -> int:
    start, step, count = _fi_range(args.fi_curve)
    state_size = spec.initial_state(params, 1, torch.float64).shape[1]
    _check_size(n_steps(duration, dt), count, state_size, "--fi-curve")
    _make_out(args)
    currents = start + step * torch.arange(count, dtype=torch.float64)
    system = spec.system(params)
    y0 = spec.initial_state(params, currents.numel(), torch.float64)
    with _blame_large_current(spec, currents, "--fi-curve"):
        curve: FICurve = fi_curve(system, y0, currents, duration, dt, method, args.settle)
    onset = onset_current(curve)
    print(f"{kind.value} f-I curve ({method.value}, dt={dt:g}, duration={duration:g}):")
    for c, r in zip(curve.currents.tolist(), curve.rates_hz.tolist(), strict=True):
        print(f"  I = {c:10.4g} {spec.current_unit}: {r:9.4g} Hz")
    print(f"onset of repetitive firing: {onset:g} {spec.current_unit}")
    if args.out is not None:
        summary = {"model": kind.value, "method": method.value, "dt": dt, "duration": duration,
                   "currents": curve.currents.tolist(), "rates_hz": _json_list(curve.rates_hz),
                   "onset_current": None if math.isnan(onset) else onset}
        (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        with open(args.out / "fi_curve.csv", "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow([f"current_{spec.current_unit}", "rate_hz"])
            writer.writerows(zip(curve.currents.tolist(), curve.rates_hz.tolist(), strict=True))
        if not args.no_figures:
            from spikeforge.dynamics import plot

            plot.plot_fi_curve(curve, args.out / "fi_curve.png", f"{kind.value} f-I curve",
                               spec.current_unit)
        print(f"wrote {args.out}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``spikeforge simulate``; returns the exit code (errors raise ``ConfigError``)."""
    kind = ModelKind.parse(args.model)
    _refuse_ignored(args, _parse_enum(StimulusKind, args.stimulus, "stimulus"))
    spec = SPECS[kind]
    params = parse_params(kind, args.params)
    method = spec.method if args.method is None else _parse_enum(Method, args.method, "method")
    dt = _positive(spec.dt if args.dt is None else args.dt, "--dt")
    duration = _positive(spec.duration if args.duration is None else args.duration, "--duration")
    steps = n_steps(duration, dt)
    if steps < 1:
        raise ConfigError(f"--duration {duration:g} is shorter than one step of --dt {dt:g}")
    with contextlib.ExitStack() as stack:
        if args.out is not None:  # before simulating: a bad or busy --out fails at once
            check = refuse_outputs(
                _outputs(args, kind, spec),
                "simulating would overwrite them; choose another --out or move them away",
            )
            stack.enter_context(claimed_folder(args.out, check=check))
        return _run_in(args, kind, spec, params, method, dt, duration, steps)


def _outputs(args: argparse.Namespace, kind: ModelKind, spec: ModelSpec) -> list[str]:
    """The files this simulation writes into ``--out`` (as :func:`_run_fi`, :func:`_run_in`
    and :func:`_figures` name them)."""
    if args.fi_curve is not None:
        return ["summary.json", "fi_curve.csv"] + ([] if args.no_figures else ["fi_curve.png"])
    names = ["summary.json", "traces.csv", "traces.npz"]
    if not args.no_figures:
        names.append("voltage.png")
        if spec.traces:
            names.append("gating.png" if kind is ModelKind.HH else "recovery.png")
        if kind in (ModelKind.FHN, ModelKind.IZHIKEVICH, ModelKind.HR):
            names.append("phase.png")
    return names


def _run_in(args: argparse.Namespace, kind: ModelKind, spec: ModelSpec, params: Any,
            method: Method, dt: float, duration: float, steps: int) -> int:
    """:func:`run` after the options checked so far, with ``--out`` (if any) claimed."""
    _check_times(args, duration)
    if args.fi_curve is not None:
        return _run_fi(args, kind, spec, params, method, dt, duration)
    state_size = spec.initial_state(params, 1, torch.float64).shape[1]
    if args.current is not None and args.stimulus.lower() != "file":
        _check_size(steps, len(_floats(args.current, "--current")), state_size, "--current")
    else:
        _check_size(steps, 1, state_size, "--current")
    current = _build_current(args, spec, steps, dt)
    _check_size(steps, current.shape[1], state_size, "--stimulus-file")
    _make_out(args)
    system = spec.system(params)
    y0 = spec.initial_state(params, current.shape[1], torch.float64)
    option = "--stimulus-file" if args.stimulus_file is not None else "--current"
    ramp = args.stimulus.lower() == StimulusKind.RAMP.value
    if ramp and float(current[-1].abs().max()) > float(current[0].abs().max()):
        option = "--current-end"  # the ramp's end is what is large
    with torch.no_grad(), _blame_large_current(spec, current, option):
        traj = simulate(system, y0, current, dt, method)
    sp = traj.spikes
    per_neuron = [t.tolist() for t in sp.per_neuron()]
    stats = {
        "spike_count": spike_count(sp).tolist(),
        "rate_hz": _json_list(firing_rate(sp, system.seconds_per_time_unit)),
        "isi_mean": _json_list(isi_mean(sp)),
        "isi_cv": _json_list(isi_cv(sp)),
        "first_spike_latency": _json_list(first_spike_latency(sp, args.onset)),
    }
    tu = "ms" if system.time_unit == "ms" else "time units"
    rate_unit = "Hz" if system.time_unit == "ms" else "per time unit"
    print(f"{kind.value} ({method.value}, dt={dt:g}, duration={duration:g} {tu}):")
    for b, times in enumerate(per_neuron):
        shown = ", ".join(f"{t:.3f}" for t in times[:20]) + (" ..." if len(times) > 20 else "")
        print(f"  neuron {b}: {stats['spike_count'][b]} spikes, rate {stats['rate_hz'][b]:.4g} "
              f"{rate_unit}, "
              f"ISI mean {_fmt(stats['isi_mean'][b])} {tu}, ISI CV {_fmt(stats['isi_cv'][b])}")
        print(f"    spike times ({tu}): {shown}")
    if args.out is not None:
        summary = {"model": kind.value, "method": method.value, "dt": dt, "duration": duration,
                   "time_unit": system.time_unit, "current_unit": spec.current_unit,
                   "spike_times": per_neuron, **stats}
        (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        _write_traces(traj, current, args.out)
        if not args.no_figures:
            _figures(kind, spec, traj, params, current, args.out)
        print(f"wrote {args.out}")
    return 0
