"""Readable tables of metrics for the terminal (rich, imported lazily)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["format_metrics", "print_metrics"]


def format_metrics(metrics: dict[str, Any]) -> str:
    """Render the per-class table and the summary lines of a ``metrics.json`` dict as text."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Test metrics ({metrics['num_samples']} samples)")
    for col in ("class", "precision", "recall", "f1", "support"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for name, row in metrics["per_class"].items():
        table.add_row(
            name,
            f"{row['precision']:.4f}",
            f"{row['recall']:.4f}",
            f"{row['f1']:.4f}",
            str(row["support"]),
        )
    table.add_row(
        "macro",
        f"{metrics['precision_macro']:.4f}",
        f"{metrics['recall_macro']:.4f}",
        f"{metrics['f1_macro']:.4f}",
        str(metrics["num_samples"]),
        style="bold",
    )
    console = Console(width=100, record=True, file=_Null())
    console.print(table)
    console.print(
        f"accuracy {100 * metrics['accuracy']:.2f} %   "
        f"output spikes/sample {metrics['output_spikes_per_sample']:.2f}   "
        f"all spikes/sample {metrics['spikes_per_sample']:.1f}"
    )
    rates = ", ".join(f"{k} {v:.3f}" for k, v in metrics["layer_firing_rates"].items())
    console.print(f"firing rate per layer (spikes/neuron/step): {rates}")
    return console.export_text()


def print_metrics(metrics: dict[str, Any], say: Callable[[str], None] = print) -> None:
    """Print :func:`format_metrics` through ``say``."""
    say(format_metrics(metrics).rstrip())


class _Null:
    def write(self, s: str) -> int:
        return len(s)

    def flush(self) -> None:
        pass
