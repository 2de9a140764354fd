"""``spikeforge eval``: reproduce the test metrics of a checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from spikeforge.commands._args import HelpFormatter, absolute, non_empty, refuse_embedded_data_dir

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> None:
    """Register ``eval``."""
    p = subparsers.add_parser(
        "eval",
        help="evaluate a checkpoint on its run's test split",
        description=(
            "Rebuild the model saved in CHECKPOINT (best.pt or last.pt of a run), evaluate it "
            "on the same test split as the run, print the metrics table and write "
            "metrics.json and figures to --out."
        ),
        formatter_class=HelpFormatter,
    )
    p.add_argument(
        "checkpoint",
        metavar="CHECKPOINT",
        type=non_empty("CHECKPOINT", "the path of a .pt checkpoint, e.g. RUN_DIR/best.pt"),
        help="path of a .pt checkpoint",
    )
    p.add_argument(
        "--out",
        type=non_empty(
            "--out", "an output folder, or omit --out for an 'eval' folder beside the checkpoint"
        ),
        default=None,
        help="output folder (default: an 'eval' folder beside the checkpoint)",
    )
    p.add_argument(
        "--data-dir",
        type=non_empty("--data-dir", "the folder holding the dataset files, or omit --data-dir"),
        default=None,
        help="folder holding the dataset files, if not where the run found them",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``spikeforge eval``."""
    from spikeforge.experiment import evaluate_checkpoint

    ckpt = Path(args.checkpoint)
    if args.data_dir is not None:  # the run's dataset decides whether --data-dir applies
        from spikeforge.checkpoint import load_checkpoint

        saved = load_checkpoint(ckpt).get("config")
        if isinstance(saved, dict):
            refuse_embedded_data_dir(
                str(saved.get("dataset")), args.data_dir,
                "drop --data-dir (this run was trained on digits)",
            )  # fmt: skip
    out = Path(args.out) if args.out is not None else ckpt.parent / "eval"
    evaluate_checkpoint(ckpt, out, data_dir=absolute(args.data_dir))
    return 0
