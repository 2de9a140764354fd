"""Figures for the dynamics lab (matplotlib imported lazily, Agg backend, files only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spikeforge.dynamics.analysis import FICurve, PhasePortrait
from spikeforge.dynamics.simulation import Trajectory


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _time_label(time_unit: str) -> str:
    return "time (ms)" if time_unit == "ms" else "time (dimensionless)"


def plot_variables(
    traj: Trajectory, names: tuple[str, ...], path: Path, title: str, time_unit: str = "ms"
) -> Path:
    """Plot the traces of the variables ``names`` (one panel each) for every neuron in
    ``traj`` (at most 8 drawn) and save a PNG to ``path``."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(names), 1, sharex=True, figsize=(8, 2.2 * len(names) + 0.6))
    axes = [axes] if len(names) == 1 else list(axes)
    t = traj.t.numpy()
    for ax, name in zip(axes, names, strict=True):
        ax.plot(t, traj.variable(name)[:, :8].detach().cpu().double().numpy(), lw=0.8)
        ax.set_ylabel(name)
    axes[0].set_title(title)
    axes[-1].set_xlabel(_time_label(time_unit))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_phase_portrait(pp: PhasePortrait, path: Path, title: str) -> Path:
    """Nullclines and trajectories of a :class:`PhasePortrait`, saved as a PNG."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 5))
    grid = pp.grid.numpy()
    ax.plot(grid, pp.nullcline_x.numpy(), "k-", lw=1.2, label=f"{pp.labels[0]}-nullcline")
    ax.plot(grid, pp.nullcline_y.numpy(), "k--", lw=1.2, label=f"{pp.labels[1]}-nullcline")
    traj = pp.trajectories.detach().cpu().double().numpy()
    for k in range(traj.shape[1]):
        ax.plot(traj[:, k, 0], traj[:, k, 1], lw=0.8)
        ax.plot(traj[0, k, 0], traj[0, k, 1], "o", ms=3)
    # vertical range: the trajectories and the nullclines over the trajectories' x range
    x_lo, x_hi = traj[..., 0].min(), traj[..., 0].max()
    x_pad = 0.1 * (x_hi - x_lo) + 1e-9
    near = (grid >= x_lo - x_pad) & (grid <= x_hi + x_pad)
    values = [traj[..., 1].ravel()]
    values += [pp.nullcline_x.numpy()[near], pp.nullcline_y.numpy()[near]]
    lo = min(float(v.min()) for v in values if v.size)
    hi = max(float(v.max()) for v in values if v.size)
    ax.set_xlim(x_lo - x_pad, x_hi + x_pad)
    pad = 0.1 * (hi - lo) + 1e-9
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlabel(pp.labels[0])
    ax.set_ylabel(pp.labels[1])
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_fi_curve(curve: FICurve, path: Path, title: str, current_unit: str) -> Path:
    """Rate versus current, saved as a PNG."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(curve.currents.numpy(), curve.rates_hz.numpy(), "o-", ms=3)
    ax.set_xlabel(f"current ({current_unit})")
    ax.set_ylabel("rate (Hz)")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
