"""``spikeforge compare``: train one network per encoding/decoding pair and tabulate them."""

from __future__ import annotations

import argparse
import enum
import itertools
from typing import Any

from spikeforge.coding import Decoding, Encoding
from spikeforge.commands._args import (
    HelpFormatter,
    absolute,
    int_list,
    integer,
    non_empty,
    number,
    record_given,
    refuse_channels_without_cnn,
    refuse_embedded_data_dir,
    seed,
)
from spikeforge.config import (
    MAX_EPOCHS,
    MAX_SEED,
    MAX_WIDTH,
    MIN_TRAIN_SAMPLES,
    TrainConfig,
    parse_enum,
)
from spikeforge.errors import ConfigError
from spikeforge.models import Arch

__all__ = ["DEFAULTS", "add_parser", "config_from_args", "run"]

#: The shared recipe of a comparison (measured in docs/coding.md): a spiking MLP that
#: reaches >= 90 % on digits with every pair, 20 epochs in a few seconds per row.
DEFAULTS = TrainConfig(
    arch=Arch.MLP,
    hidden=(256,),
    num_steps=12,
    epochs=20,
    lr=5e-3,
)


def _enum_list(kind: type[enum.Enum], option: str):
    accepted = ", ".join(str(m.value) for m in kind)

    def parse(text: str) -> tuple[Any, ...]:
        names = [v.strip() for v in text.split(",")]
        if not any(names):
            raise argparse.ArgumentTypeError(
                f"{option} needs at least one value; accepted: {accepted}"
            )
        if not all(names):
            raise argparse.ArgumentTypeError(
                f"{option} must be names separated by commas (no empty entries), got {text!r}; "
                f"accepted: {accepted}"
            )
        try:
            values = tuple(parse_enum(kind, option, v) for v in names)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        twice = [v.value for i, v in enumerate(values) if v in values[:i]]
        if twice:
            raise argparse.ArgumentTypeError(
                f"{option} lists {', '.join(dict.fromkeys(twice))} more than once, got "
                f"{text!r}; give each name once"
            )
        return values

    return parse


def add_parser(subparsers: Any) -> None:
    """Register ``compare``."""
    p = subparsers.add_parser(
        "compare",
        help="compare input encodings and output decodings on one dataset",
        description=(
            "Train the same network once per encoding/decoding pair, then measure test "
            "accuracy, macro F1, decision latency, spikes and synaptic operations per sample, "
            "and accuracy against the number of steps used. Writes comparison.json, "
            "comparison.md, accuracy_vs_steps.png and one run folder per pair (runs/) to "
            "--out; rerunning with the same --out and options continues an interrupted comparison "
            "(other options on that folder are refused)."
        ),
        formatter_class=HelpFormatter,
    )
    record_given(p)  # every option below notes that it was given (to refuse ignored ones)
    p.add_argument(
        "--out",
        type=non_empty("--out", "the comparison's output folder"),
        required=True,
        help="output folder",
    )
    p.add_argument("--dataset", default="digits", help="dataset name (see 'datasets list')")
    p.add_argument(
        "--data-dir",
        type=non_empty("--data-dir", "the folder holding the dataset files, or omit --data-dir"),
        default=None,
        help="folder holding the dataset files",
    )
    p.add_argument(
        "--encodings",
        type=_enum_list(Encoding, "--encodings"),
        default=tuple(Encoding),
        help="comma-separated: " + ", ".join(e.value for e in Encoding),
    )
    p.add_argument(
        "--decodings",
        type=_enum_list(Decoding, "--decodings"),
        default=tuple(Decoding),
        help="comma-separated: " + ", ".join(d.value for d in Decoding),
    )
    p.add_argument("--arch", default=DEFAULTS.arch.value, help="mlp or cnn")
    p.add_argument(
        "--hidden",
        type=int_list("--hidden", MAX_WIDTH),
        default=DEFAULTS.hidden,
        help="hidden widths",
    )
    p.add_argument(
        "--channels",
        type=int_list("--channels", MAX_WIDTH),
        default=DEFAULTS.channels,
        help="conv channels per block (cnn)",
    )
    p.add_argument(
        "--num-steps", "-T", type=integer("--num-steps"), default=DEFAULTS.num_steps,
        help="time steps",
    )  # fmt: skip
    p.add_argument(
        "--epochs", type=integer("--epochs", maximum=MAX_EPOCHS), default=DEFAULTS.epochs,
        help=f"epochs per pair (1 to {MAX_EPOCHS})",
    )  # fmt: skip
    p.add_argument(
        "--batch-size", type=integer("--batch-size"), default=DEFAULTS.batch_size,
        help="mini-batch",
    )  # fmt: skip
    p.add_argument("--lr", type=number, default=DEFAULTS.lr, help="initial Adam learning rate")
    p.add_argument(
        "--max-train-samples",
        type=integer("--max-train-samples", MIN_TRAIN_SAMPLES),
        default=None,
        help="train on a random subset of this many images; the validation set shrinks in "
        "proportion, the test set is never reduced",
    )
    p.add_argument(
        "--seed",
        type=seed,
        default=DEFAULTS.seed,
        help=f"seed of every random choice (0 to {MAX_SEED})",
    )
    # --progress is off by default (a comparison prints a line per row); --no-progress, the
    # spelling of every other command, is accepted too (the last one given wins)
    p.add_argument("--progress", action="store_true", help="live progress bar per epoch")
    p.add_argument(
        "--no-progress", dest="progress", action="store_false", default=False,
        help="no live progress bar (the default)",
    )  # fmt: skip
    p.set_defaults(run=run)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The base :class:`TrainConfig` every pair is trained with."""
    base = DEFAULTS.to_dict()
    base.update(
        dataset=args.dataset,
        data_dir=absolute(args.data_dir),
        arch=args.arch,
        hidden=list(args.hidden),
        channels=list(args.channels),
        num_steps=args.num_steps,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        max_train_samples=args.max_train_samples,
        seed=args.seed,
    )
    config = TrainConfig.from_dict(base)
    refuse_embedded_data_dir(config.dataset, config.data_dir)
    refuse_channels_without_cnn(args, config.arch)
    return config


def run(args: argparse.Namespace) -> int:
    """Run ``spikeforge compare``."""
    from spikeforge.comparison import check_rerun, compare_codings, format_table
    from spikeforge.datasets import load_dataset

    config = config_from_args(args)
    pairs = list(itertools.product(args.encodings, args.decodings))
    check_rerun(args.out, config, pairs)  # before loading the data or printing anything
    data = load_dataset(config.dataset, config.data_dir)
    records = compare_codings(config, pairs, args.out, data=data, progress=args.progress)
    print(format_table(records))
    print(f"wrote comparison.json, comparison.md and accuracy_vs_steps.png to {args.out}")
    return 0
