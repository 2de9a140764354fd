"""Classification metrics and spike statistics. Pure functions on integer label tensors.

Precision, recall and F1 of a class with no predicted (or no true) samples are defined as
0.0 (there is nothing correct to count); macro averages are unweighted means over classes.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from spikeforge.neurons.base import Neuron

__all__ = ["LayerHooks", "SpikeCounter", "classification_metrics", "confusion_matrix"]


def confusion_matrix(y_true: Tensor, y_pred: Tensor, num_classes: int) -> Tensor:
    """``[C, C]`` int64 counts; row = true class, column = predicted class.

    Predictions outside ``[0, C)`` (e.g. ``-1`` for an undecided sample) are not counted in
    any column, so they lower recall but no class's precision.
    """
    valid = (y_pred >= 0) & (y_pred < num_classes)
    idx = y_true[valid] * num_classes + y_pred[valid]
    return torch.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, -1)


def classification_metrics(
    y_true: Tensor, y_pred: Tensor, class_names: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, macro and per-class precision/recall/F1 with support, and the confusion matrix.

    Args:
        y_true: int64 ``[N]`` true classes. y_pred: int64 ``[N]`` decisions.
        class_names: one name per class (keys of ``per_class``).

    Returns:
        ``{"accuracy", "precision_macro", "recall_macro", "f1_macro", "per_class":
        {name: {"precision", "recall", "f1", "support"}}, "confusion_matrix": [[...]]}``.
    """
    c = len(class_names)
    cm = confusion_matrix(y_true, y_pred, c).to(torch.float64)
    tp = cm.diagonal()
    predicted = cm.sum(0)
    support = torch.bincount(y_true, minlength=c).to(torch.float64)
    precision = torch.where(predicted > 0, tp / predicted.clamp_min(1), torch.zeros_like(tp))
    recall = torch.where(support > 0, tp / support.clamp_min(1), torch.zeros_like(tp))
    denom = precision + recall
    f1 = torch.where(denom > 0, 2 * precision * recall / denom.clamp_min(1e-300), 0.0)
    n = y_true.numel()
    return {
        "accuracy": float(tp.sum() / n) if n else 0.0,
        "precision_macro": float(precision.mean()),
        "recall_macro": float(recall.mean()),
        "f1_macro": float(f1.mean()),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(class_names)
        },
        "confusion_matrix": cm.to(torch.int64).tolist(),
    }


class LayerHooks(abc.ABC):
    """Context manager base: hooks on ``self._layers`` (``(name, module)`` pairs) while open.

    Subclasses fill ``self._layers`` and define ``_register(name, module) -> handle``.
    """

    _layers: list[tuple[str, nn.Module]]

    def __enter__(self) -> Any:
        self._handles = [self._register(name, module) for name, module in self._layers]
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    @abc.abstractmethod
    def _register(self, name: str, module: nn.Module) -> Any:
        """Register this counter's hook on ``module``; return the removable handle."""


class SpikeCounter(LayerHooks):
    """Counts the spikes every spiking layer of ``model`` emits while the context is open.

    Uses forward hooks, so it works with any execution path of the neurons. After the
    block, :meth:`rates` gives each layer's mean firing rate (spikes per neuron per step)
    and :meth:`counts` its total spike count.
    """

    def __init__(self, model: nn.Module) -> None:
        self._layers = [
            (f"{name}:{type(m).__name__}", m)
            for name, m in model.named_modules()
            if isinstance(m, Neuron) and m.spiking
        ]
        self._spikes: dict[str, float] = {name: 0.0 for name, _ in self._layers}
        self._slots: dict[str, int] = {name: 0 for name, _ in self._layers}

    def _register(self, name: str, module: nn.Module) -> Any:
        return module.register_forward_hook(self._hook(name))

    def _hook(self, name: str):
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            spikes = output[0]
            self._spikes[name] += float(spikes.detach().sum())
            self._slots[name] += spikes.numel()

        return hook

    def counts(self) -> dict[str, float]:
        """Total spikes per layer name."""
        return dict(self._spikes)

    def rates(self) -> dict[str, float]:
        """Mean spikes per neuron per time step, per layer name."""
        return {
            k: (self._spikes[k] / self._slots[k] if self._slots[k] else 0.0) for k in self._spikes
        }
