"""Figures people would rather look at than read. matplotlib is imported lazily (Agg backend).

Every function writes one PNG to ``path`` and returns the path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["plot_confusion", "plot_layer_traces", "plot_training_curves"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(
    cm: Sequence[Sequence[int]], class_names: Sequence[str], path: str | Path, title: str = ""
) -> Path:
    """Heatmap of a confusion matrix (rows = true class) with counts and row-normalised colour."""
    import numpy as np

    plt = _pyplot()
    m = np.asarray(cm, dtype=float)
    rows = m.sum(1, keepdims=True)
    frac = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    n = len(class_names)
    size = max(4.0, 0.55 * n + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    ax.set_xticks(
        range(n),
        class_names,
        rotation=45 if max(map(len, class_names)) > 2 else 0,
        ha="right" if max(map(len, class_names)) > 2 else "center",
    )
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    for i in range(n):
        for j in range(n):
            if m[i, j]:
                ax.text(
                    j,
                    i,
                    f"{int(m[i, j])}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if frac[i, j] > 0.5 else "black",
                )
    ax.set_title(title or "Confusion matrix (test set)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_training_curves(history: Sequence[dict[str, float]], path: str | Path) -> Path:
    """Loss and accuracy per epoch (train and validation) from the run history."""
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    a1.plot(epochs, [h["train_loss"] for h in history], "o-", label="train")
    a1.plot(epochs, [h["val_loss"] for h in history], "s-", label="validation")
    a1.set_xlabel("epoch")
    a1.set_ylabel("loss")
    a1.legend()
    a1.grid(alpha=0.3)
    a2.plot(epochs, [100 * h["train_accuracy"] for h in history], "o-", label="train")
    a2.plot(epochs, [100 * h["val_accuracy"] for h in history], "s-", label="validation")
    a2.set_xlabel("epoch")
    a2.set_ylabel("accuracy (%)")
    a2.legend()
    a2.grid(alpha=0.3)
    fig.suptitle("Training curves")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def _spread(ranked: Any, k: int) -> Any:
    """``k`` entries of ``ranked`` spread evenly from its first to its last."""
    import numpy as np

    if len(ranked) <= k:
        return ranked
    return ranked[np.linspace(0, len(ranked) - 1, k).round().astype(int)]


def plot_layer_traces(
    layers: Sequence[tuple[str, Any, Any, float | None]],
    path: str | Path,
    *,
    max_neurons: int = 64,
    traced: int = 3,
    title: str = "",
) -> Path:
    """Spike raster and membrane traces of one sample through each layer.

    Args:
        layers: ``(name, spikes [T, N], membrane [T, N], threshold or None)`` per layer;
            ``spikes`` may be ``None`` for a non-spiking readout.
        max_neurons: neurons shown in a raster, spread from the most to the least active
            of those that fired.
        traced: neurons whose membrane is drawn, chosen the same way.
    """
    import numpy as np

    plt = _pyplot()
    fig, axes = plt.subplots(len(layers), 2, figsize=(11, 2.6 * len(layers)), squeeze=False)
    for row, (name, spikes, membrane, threshold) in enumerate(layers):
        mem = np.asarray(membrane, dtype=float)
        t = np.arange(mem.shape[0])
        ax_r, ax_m = axes[row]
        if spikes is not None:
            sp = np.asarray(spikes, dtype=float)
            activity = sp.sum(0)
            ranked = np.argsort(-activity, kind="stable")
            ranked = ranked[activity[ranked] > 0] if activity.any() else ranked
            order = _spread(ranked, max_neurons)
            ts, ns = np.nonzero(sp[:, order])
            ax_r.scatter(ts, ns, marker="|", s=60, color="black")
            ax_r.set_ylim(-0.5, len(order) - 0.5)
            ax_r.set_title(
                f"{name}: raster ({int(sp.sum())} spikes, {sp.shape[1]} neurons)", fontsize=9
            )
            picks = _spread(ranked, traced)
        else:
            ax_r.imshow(mem.T, aspect="auto", cmap="viridis", origin="lower")
            ax_r.set_title(f"{name}: readout membrane (no spikes)", fontsize=9)
            picks = np.argsort(-mem.max(0))[:traced]
        ax_r.set_xlim(-0.5, mem.shape[0] - 0.5)
        ax_r.set_xlabel("time step")
        ax_r.set_ylabel("neuron")
        for k in picks:
            ax_m.plot(t, mem[:, k], marker=".", label=f"neuron {int(k)}")
        if threshold is not None:
            ax_m.axhline(threshold, color="red", ls="--", lw=1, label="threshold")
        ax_m.set_title(f"{name}: membrane before reset", fontsize=9)
        ax_m.set_xlabel("time step")
        ax_m.legend(fontsize=7, loc="upper right")
        ax_m.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
