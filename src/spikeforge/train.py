"""Backprop-through-time training and evaluation: plain functions, explicit generators.

The pieces a training run is made of — splitting, building the model, one epoch of
training, evaluation — are separate functions so other commands (``compare``, tuning)
reuse them. :mod:`spikeforge.experiment` strings them together with checkpoints.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from spikeforge.coding import decide, loss_for, readout_for, run_encoded
from spikeforge.config import TrainConfig
from spikeforge.datasets import ImageDataset
from spikeforge.errors import ConfigError, SilentNetworkWarning, SpikeforgeError
from spikeforge.metrics import SpikeCounter
from spikeforge.models import build_model
from spikeforge.network import Sequential

__all__ = [
    "EvalResult",
    "NonFiniteLossError",
    "Split",
    "Splits",
    "evaluate",
    "make_model",
    "make_splits",
    "stratified_split",
    "train_epoch",
]


class NonFiniteLossError(SpikeforgeError):
    """The loss became NaN or infinite."""


@dataclass(frozen=True)
class Split:
    """Images ``x`` ``[N, C, H, W]`` (float32, [0, 1]) and labels ``y`` ``[N]`` (int64)."""

    x: Tensor
    y: Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass(frozen=True)
class Splits:
    """Train, validation and test splits of one dataset."""

    train: Split
    val: Split
    test: Split


def stratified_split(
    y: Tensor, fractions: tuple[float, ...], generator: torch.Generator
) -> list[Tensor]:
    """Indices split per class in the given fractions (the rest goes to the first part).

    Each class is shuffled with ``generator`` and cut so every part holds
    ``round(fraction * class_size)`` samples of it. Returns one sorted int64 index tensor
    per part: ``len(fractions) + 1`` parts, the first being the remainder.
    """
    parts: list[list[Tensor]] = [[] for _ in range(len(fractions) + 1)]
    for c in torch.unique(y).tolist():
        idx = torch.nonzero(y == c).flatten()
        idx = idx[torch.randperm(idx.numel(), generator=generator)]
        start = 0
        for k, frac in enumerate(fractions, start=1):
            n = round(frac * idx.numel())
            parts[k].append(idx[start : start + n])
            start += n
        parts[0].append(idx[start:])
    return [torch.sort(torch.cat(p)).values for p in parts]


def make_splits(data: ImageDataset, config: TrainConfig) -> Splits:
    """Stratified train/validation/test splits, reproducible from ``config.seed``.

    A dataset with an official test split keeps it and takes the validation set from its
    training images; one without (digits) has its test set split off too. With
    ``max_train_samples`` the training set is a random subset of that size and the
    validation set shrinks in proportion (``val_fraction`` of the pair); the test set is
    never reduced.
    """
    g = torch.Generator().manual_seed(config.seed)
    if data.x_test is None or data.y_test is None:
        train_idx, val_idx, test_idx = stratified_split(
            data.y_train, (config.val_fraction, config.test_fraction), g
        )
        test = Split(data.x_train[test_idx], data.y_train[test_idx])
    else:
        train_idx, val_idx = stratified_split(data.y_train, (config.val_fraction,), g)
        test = Split(data.x_test, data.y_test)
    if config.max_train_samples is not None and config.max_train_samples < train_idx.numel():
        keep = torch.randperm(train_idx.numel(), generator=g)[: config.max_train_samples]
        train_idx = torch.sort(train_idx[keep]).values
        # keep validation in proportion to the reduced training set (quick runs stay quick)
        val_cap = max(
            1, round(config.max_train_samples * config.val_fraction / (1.0 - config.val_fraction))
        )
        if val_cap < val_idx.numel():
            _, chosen = stratified_split(data.y_train[val_idx], (val_cap / val_idx.numel(),), g)
            val_idx = val_idx[chosen]
    return Splits(
        Split(data.x_train[train_idx], data.y_train[train_idx]),
        Split(data.x_train[val_idx], data.y_train[val_idx]),
        test,
    )


def make_model(config: TrainConfig, input_shape: tuple[int, ...], num_classes: int) -> Sequential:
    """Build the network of ``config``; weights initialised from ``config.seed``.

    The caller's global RNG state is left untouched.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return build_model(
            config.arch,
            input_shape,
            num_classes,
            neuron=config.neuron_spec(),
            readout=readout_for(config.decoding),
            hidden=config.hidden,
            channels=config.channels,
            dropout=config.dropout,
        )


def _batches(n: int, batch_size: int, order: Tensor | None = None):
    idx = order if order is not None else torch.arange(n)
    for i in range(0, n, batch_size):
        yield idx[i : i + batch_size]


def train_epoch(
    model: Sequential,
    data: Split,
    config: TrainConfig,
    optimizer: torch.optim.Optimizer,
    *,
    shuffle: torch.Generator,
    encode: torch.Generator,
    epoch: int,
    on_batch: Callable[[int, float, float], None] | None = None,
) -> dict[str, float]:
    """One epoch of BPTT over ``data`` in shuffled mini-batches.

    Args:
        shuffle / encode: generators for the batch order and for stochastic encoders.
        epoch: used in error messages.
        on_batch: called with ``(samples_done, running_loss, running_accuracy)``.

    Returns:
        ``{"loss": mean loss, "accuracy": training accuracy}`` over the epoch.

    Raises:
        NonFiniteLossError: the loss was NaN or infinite (the step is not applied).

    Warns:
        SilentNetworkWarning: after epoch 1, when the output layer (for a membrane read-out:
            every hidden layer) emitted no spike at all.
    """
    model.train()
    loss_fn = loss_for(config.decoding)
    order = torch.randperm(len(data), generator=shuffle)
    total_loss = 0.0
    correct = 0
    seen = 0
    out_spikes = 0.0
    spiking_out = bool(model[-1].spiking)  # type: ignore[union-attr]
    watch_hidden = epoch == 1 and not spiking_out
    with SpikeCounter(model) if watch_hidden else contextlib.nullcontext() as hidden:
        for step, idx in enumerate(_batches(len(data), config.batch_size, order), start=1):
            x, y = data.x[idx], data.y[idx]
            out = run_encoded(model, x, config.encoding, config.num_steps, encode)
            loss = loss_fn(out, y)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise NonFiniteLossError(
                    f"loss became {value} at epoch {epoch}, step {step}; lower --lr or check "
                    "the input data (the last good checkpoint is kept)"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_loss += value * len(idx)
            with torch.no_grad():
                correct += int((decide(config.decoding, out).prediction == y).sum())
                if epoch == 1 and spiking_out:
                    out_spikes += float(out.detach().sum())
            seen += len(idx)
            if on_batch is not None:
                on_batch(seen, total_loss / seen, correct / seen)
    if epoch == 1 and seen:
        silent = sum(hidden.counts().values()) == 0 if watch_hidden else out_spikes == 0
        if silent:
            warnings.warn(
                f"epoch 1: the {'hidden layers' if watch_hidden else 'output layer'} emitted no "
                f"spikes at all, so the network cannot learn; lower --threshold (now "
                f"{config.threshold:g}) or raise --beta (now {config.beta:g}), or check the "
                "input scale",
                SilentNetworkWarning,
                stacklevel=2,
            )
    return {"loss": total_loss / max(seen, 1), "accuracy": correct / max(seen, 1)}


@dataclass(frozen=True)
class EvalResult:
    """Predictions and statistics of a model on one split.

    Attributes:
        y_true / y_pred: int64 ``[N]``.
        loss: mean loss.
        output_spikes_per_sample: mean spikes of the output layer per sample (0 for a
            non-spiking readout).
        layer_firing_rates: mean spikes per neuron per step for every spiking layer.
        spikes_per_sample: mean spikes of the whole network per sample.
    """

    y_true: Tensor
    y_pred: Tensor
    loss: float
    output_spikes_per_sample: float
    layer_firing_rates: dict[str, float]
    spikes_per_sample: float

    @property
    def accuracy(self) -> float:
        """Fraction of correct decisions."""
        return float((self.y_true == self.y_pred).double().mean()) if len(self.y_true) else 0.0


def evaluate(
    model: Sequential, data: Split, config: TrainConfig, *, seed: int | None = None
) -> EvalResult:
    """Evaluate without gradients. Stochastic encoders draw from a generator seeded with
    ``seed`` (default ``config.seed + 1``), so the result is exactly reproducible."""
    if len(data) == 0:
        raise ConfigError("cannot evaluate on an empty split; lower the split fractions")
    model.eval()
    g = torch.Generator().manual_seed(config.seed + 1 if seed is None else seed)
    loss_fn = loss_for(config.decoding)
    preds: list[Tensor] = []
    total_loss = 0.0
    out_spikes = 0.0
    with torch.no_grad(), SpikeCounter(model) as counter:
        for idx in _batches(len(data), max(config.batch_size, 256)):
            x, y = data.x[idx], data.y[idx]
            out = run_encoded(model, x, config.encoding, config.num_steps, g)
            total_loss += float(loss_fn(out, y)) * len(idx)
            preds.append(decide(config.decoding, out).prediction)
            if model[-1].spiking:  # type: ignore[union-attr]
                out_spikes += float(out.sum())
    n = len(data)
    counts = counter.counts()
    return EvalResult(
        y_true=data.y.clone(),
        y_pred=torch.cat(preds),
        loss=total_loss / n,
        output_spikes_per_sample=out_spikes / n,
        layer_firing_rates=counter.rates(),
        spikes_per_sample=sum(counts.values()) / n,
    )


def optimizer_for(model: Sequential, config: TrainConfig) -> tuple[Any, Any]:
    """Adam with ``config.lr`` and a cosine learning-rate schedule over ``config.epochs``."""
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs)
    return opt, sched
