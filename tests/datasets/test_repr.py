"""``repr(ImageDataset)`` is one short line: name, classes, sizes, shape; never the tensors."""

from __future__ import annotations

import torch

from spikeforge.datasets import ImageDataset, load_dataset


def test_repr_of_the_embedded_digits_is_short() -> None:
    data = load_dataset("digits")
    assert repr(data) == (
        "ImageDataset(name='digits', classes=10, train=1,797, test=none, image=1x8x8 float32, "
        "source='sklearn.datasets.load_digits')"
    )
    assert str(data) == repr(data)


def test_repr_with_a_test_split_stays_short_for_large_tensors() -> None:
    data = ImageDataset(
        name="big", x_train=torch.zeros(70_000, 3, 32, 32), y_train=torch.zeros(70_000).long(),
        x_test=torch.zeros(500, 3, 32, 32), y_test=torch.zeros(500).long(),
        class_names=tuple("abcdefghij"), source="/data/big",
    )  # fmt: skip
    text = repr(data)
    assert text == (
        "ImageDataset(name='big', classes=10, train=70,000, test=500, image=3x32x32 float32, "
        "source='/data/big')"
    )
    assert "tensor" not in text and len(text) < 200
