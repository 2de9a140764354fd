"""``spikeforge train``: train a spiking network with backprop through time."""

from __future__ import annotations

import argparse
import dataclasses
import math
from typing import Any

from spikeforge.coding import Decoding, Encoding
from spikeforge.commands._args import (
    BooleanOptional,
    HelpFormatter,
    absolute,
    given,
    int_list,
    integer,
    non_empty,
    number,
    record_given,
    refuse_channels_without_cnn,
    refuse_embedded_data_dir,
    refuse_inapplicable,
    refuse_together,
    seed,
)
from spikeforge.config import (
    MAX_EPOCHS,
    MAX_SEED,
    MAX_WIDTH,
    MIN_TRAIN_SAMPLES,
    TrainConfig,
    parse_surrogate,
)
from spikeforge.errors import ConfigError
from spikeforge.models import NeuronKind

__all__ = ["add_parser", "config_from_args", "run"]

_D = TrainConfig()


#: What may accompany ``--resume``: it affects only the output, or (``--data-dir``) where the
#: data lives, not the training (the dataset is verified by checksum when loaded).
_RESUME_COMPATIBLE = frozenset({"--resume", "--no-progress", "--data-dir"})


def add_parser(subparsers: Any) -> None:
    """Register ``train``."""
    p = subparsers.add_parser(
        "train",
        help="train a spiking network (default: spiking CNN on the embedded digits)",
        description=(
            "Train a spiking network with backprop through time (Adam, cosine learning-rate "
            "schedule), keep the best model on the validation split, evaluate it on the test "
            "split, and write config.json, best.pt, last.pt, history.json, metrics.json and "
            "PNG figures to the run folder."
        ),
        formatter_class=HelpFormatter,
    )
    record_given(p)  # every option below notes that it was given (for --resume)
    g = p.add_argument_group("data")
    g.add_argument(
        "--dataset",
        default=_D.dataset,
        help="digits (embedded), mnist, fashion-mnist, ... (see 'spikeforge datasets list')",
    )
    g.add_argument(
        "--data-dir",
        type=non_empty("--data-dir", "the folder holding the dataset files, or omit --data-dir"),
        default=None,
        help=(
            "folder holding the dataset files (saved as an absolute path; may be given with "
            "--resume when the data has moved)"
        ),
    )
    g.add_argument(
        "--val-fraction",
        type=number,
        default=_D.val_fraction,
        help="fraction of the training images held out for validation (stratified)",
    )
    g.add_argument(
        "--test-fraction",
        type=number,
        default=_D.test_fraction,
        help="fraction held out for testing when the dataset has no test split",
    )
    g.add_argument(
        "--max-train-samples",
        type=integer("--max-train-samples", MIN_TRAIN_SAMPLES),
        default=None,
        help="train on a random subset of this many images (quick runs); the validation set "
        "shrinks in proportion, the test set is never reduced",
    )
    g = p.add_argument_group("model")
    g.add_argument("--arch", default=_D.arch.value, help="mlp or cnn")
    g.add_argument(
        "--hidden",
        type=int_list("--hidden", MAX_WIDTH),
        default=_D.hidden,
        help="hidden layer widths (mlp) or the fully connected widths after the conv blocks (cnn)",
    )
    g.add_argument(
        "--channels",
        type=int_list("--channels", MAX_WIDTH),
        default=_D.channels,
        help="conv channels per block (cnn)",
    )
    g.add_argument(
        "--num-steps", "-T", type=integer("--num-steps"), default=_D.num_steps, help="time steps T"
    )
    g.add_argument(
        "--encoding",
        default=_D.encoding.value,
        help="input encoding: " + ", ".join(e.value for e in Encoding) + " (docs/coding.md)",
    )
    g.add_argument(
        "--decoding",
        default=_D.decoding.value,
        help="output decoding: " + ", ".join(d.value for d in Decoding) + " (docs/coding.md)",
    )
    g.add_argument("--neuron", default=_D.neuron.value, help="lif or if")
    g.add_argument("--beta", type=number, default=_D.beta, help="membrane decay per step")
    g.add_argument(
        "--tau",
        type=number,
        default=None,
        help="membrane time constant in steps; sets beta = exp(-1/tau)",
    )
    g.add_argument("--threshold", type=number, default=_D.threshold, help="firing threshold")
    g.add_argument("--reset", default=_D.reset.value, help="subtract or zero")
    g.add_argument(
        "--surrogate", default="arctan", help="fast-sigmoid, arctan, sigmoid or triangle"
    )
    g.add_argument(
        "--surrogate-scale",
        type=number,
        default=None,
        help="surrogate slope; the surrogate's own when omitted",
    )
    g.add_argument(
        "--detach-reset",
        action=BooleanOptional,
        default=_D.detach_reset,
        help="cut the gradient through the reset",
    )
    g.add_argument(
        "--learn-beta", action="store_true", help="train the decay (kept strictly inside (0, 1))"
    )
    g.add_argument("--learn-threshold", action="store_true", help="train the threshold (kept > 0)")
    g.add_argument(
        "--per-neuron",
        action="store_true",
        help="one learnable decay/threshold per neuron instead of one per layer",
    )
    g.add_argument("--dropout", type=number, default=_D.dropout, help="dropout probability")
    g = p.add_argument_group("optimisation")
    g.add_argument(
        "--epochs",
        type=integer("--epochs", maximum=MAX_EPOCHS),
        default=_D.epochs,
        help=f"training epochs (1 to {MAX_EPOCHS})",
    )
    g.add_argument(
        "--batch-size", type=integer("--batch-size"), default=_D.batch_size, help="mini-batch size"
    )
    g.add_argument("--lr", type=number, default=_D.lr, help="initial Adam learning rate")
    g.add_argument("--weight-decay", type=number, default=_D.weight_decay, help="Adam weight decay")
    g.add_argument(
        "--seed", type=seed, default=_D.seed, help=f"seed of every random choice (0 to {MAX_SEED})"
    )
    g = p.add_argument_group("run")
    g.add_argument(
        "--out",
        type=non_empty("--out", "a run folder, or omit --out for runs/<UTC timestamp>"),
        default=None,
        help="run folder; runs/<UTC timestamp> when omitted",
    )
    g.add_argument(
        "--resume",
        metavar="RUN_DIR",
        type=non_empty("--resume", "the run folder to continue, e.g. runs/20261203-120000"),
        default=None,
        help=(
            "continue the interrupted run in RUN_DIR (or RUN_DIR/last.pt) with its saved "
            "options (no other option but --no-progress and --data-dir may be given)"
        ),
    )
    g.add_argument("--no-progress", action="store_true", help="no live progress bar")
    p.set_defaults(run=run)


def _refuse_ignored(args: argparse.Namespace, config: TrainConfig) -> None:
    """Options that contradict each other or do not apply to the chosen model are refused
    (they would be silently ignored)."""
    refuse_together(
        args, ("--beta", "--tau"), "both set the membrane decay (beta = exp(-1/tau))"
    )
    refuse_channels_without_cnn(args, config.arch)
    refuse_inapplicable(
        args, ("--per-neuron",), config.learn_beta or config.learn_threshold,
        "with --learn-beta or --learn-threshold (it shapes the learned parameters)",
        "add one of them",
    )  # fmt: skip
    refuse_inapplicable(
        args, ("--learn-beta",), config.neuron is not NeuronKind.IF,
        "with --neuron lif (IF neurons have no decay)", "use --neuron lif",
    )  # fmt: skip
    refuse_inapplicable(
        args, ("--beta", "--tau"), (
            config.neuron is not NeuronKind.IF or config.decoding is Decoding.MEMBRANE
        ),
        "with --neuron lif or --decoding membrane (IF neurons have no decay)",
        "choose one of those",
    )  # fmt: skip


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Build and validate the :class:`TrainConfig` from parsed flags."""
    beta = args.beta
    if args.tau is not None:
        if not (math.isfinite(args.tau) and args.tau > 0):
            raise ConfigError(
                f"--tau: must be a finite time constant > 0 (in steps), got {args.tau}"
            )
        beta = math.exp(-1.0 / args.tau)
    try:
        surrogate = parse_surrogate(args.surrogate, args.surrogate_scale)
    except ConfigError as exc:
        if args.surrogate_scale is None or "scale" not in str(exc):
            raise
        raise ConfigError(
            f"--surrogate-scale: must be a finite number > 0, got {args.surrogate_scale}"
        ) from None
    values: dict[str, Any] = {
        "dataset": args.dataset,
        "data_dir": absolute(args.data_dir),
        "arch": args.arch,
        "hidden": args.hidden,
        "channels": args.channels,
        "num_steps": args.num_steps,
        "encoding": args.encoding,
        "decoding": args.decoding,
        "neuron": args.neuron,
        "beta": beta,
        "threshold": args.threshold,
        "reset": args.reset,
        "surrogate": surrogate,
        "detach_reset": args.detach_reset,
        "learn_beta": args.learn_beta,
        "learn_threshold": args.learn_threshold,
        "per_neuron": args.per_neuron,
        "dropout": args.dropout,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "weight_decay": args.weight_decay,
        "seed": args.seed,
        "val_fraction": args.val_fraction,
        "test_fraction": args.test_fraction,
        "max_train_samples": args.max_train_samples,
    }
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    assert set(values) <= known
    config = TrainConfig.from_dict(values)
    _refuse_ignored(args, config)
    return config


def run(args: argparse.Namespace) -> int:
    """Run ``spikeforge train``."""
    from spikeforge.datasets import dataset_names
    from spikeforge.experiment import run_training

    if args.resume is not None:
        if args.out is not None:
            raise ConfigError(
                "--resume RUN_DIR and --out are exclusive: the run continues in RUN_DIR"
            )
        changed = [o for o in given(args) if o not in _RESUME_COMPATIBLE]
        if changed:
            raise ConfigError(
                f"--resume continues the run with its saved configuration, which "
                f"{', '.join(changed)} cannot change; drop {'it' if len(changed) == 1 else 'them'} "
                "(only --no-progress and --data-dir go with --resume) or start a new run with --out"
            )
        run_training(
            TrainConfig(),
            args.resume,
            resume=True,
            data_dir=absolute(args.data_dir),
            progress=not args.no_progress,
        )
        return 0
    config = config_from_args(args)
    refuse_embedded_data_dir(config.dataset, config.data_dir)
    if config.dataset not in dataset_names():
        raise ConfigError(
            f"--dataset: unknown value {config.dataset!r}; accepted: {', '.join(dataset_names())}"
        )
    run_training(config, args.out, progress=not args.no_progress)
    return 0
