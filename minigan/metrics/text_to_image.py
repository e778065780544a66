r"""Measuring text-to-digit generation (StackGAN at digit scale), the way the captions were made.

A caption of :mod:`minigan.data.captions` says three things about a digit: its class, its stroke thickness
(thin / medium / thick) and its slant (leaning left / upright / leaning right). A generated image is read back
the same way:

* **caption-class accuracy**: minigan's held-out MNIST classifier on the central 28x28, against the caption's
  digit (the analogue of the text-to-image papers' "does a classifier see the object the text names");
* **attribute agreement**: :func:`minigan.data.captions.measure` (thickness from the distance transform of the ink,
  slant from image moments) put into the same buckets the training captions came from, against the caption's;
* **within-caption diversity**: the mean L1 distance (on [0, 1]) between samples drawn for the same caption, next
  to the same quantity for real digits that carry one caption: a collapsed G draws one image per caption and
  scores near 0.

Stage-I images (16x16) are scaled to 32x32 by repeating each pixel 2x2 before they are read (the classifier and the
measures work at MNIST's 28x28).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minigan import backend
from minigan.data.captions import caption_parts, measure, slant_bucket, thickness_bucket
from minigan.metrics.translation import classifier_accuracy, crop_28


def to_32(images) -> np.ndarray:
    """(N, C, 16, 16) -> (N, C, 32, 32) by 2x2 pixel repetition; 32x32 images as they are (host arrays)."""
    x = backend.to_numpy(images)
    if x.shape[-1] == 16:
        x = x.repeat(2, axis=2).repeat(2, axis=3)
    if x.ndim != 4 or x.shape[-2:] != (32, 32):
        raise ValueError(f"to_32: expected images (N, C, 16 or 32, 16 or 32), got {x.shape}")
    return x


def within_caption_diversity(images, caption_ids) -> float:
    """Mean over captions (with >= 2 images) of the mean pairwise L1 distance (on [0, 1]) of their images."""
    x = to_32(images).reshape(len(caption_ids), -1).astype(np.float64)
    ids = np.asarray(backend.to_numpy(caption_ids))
    per_caption = []
    for i in np.unique(ids):
        group = x[ids == i]
        if len(group) < 2:
            continue
        d = np.abs(group[:, None, :] - group[None, :, :]).mean(axis=2) / 2.0  # (k, k), [-1, 1] -> [0, 1]
        k = len(group)
        per_caption.append(d.sum() / (k * (k - 1)))
    return float(np.mean(per_caption)) if per_caption else float("nan")


@dataclass
class CaptionScores:
    n: int
    digit_accuracy: float  # the classifier reads the caption's digit
    thickness_agreement: float  # the measured thickness falls in the caption's bucket
    slant_agreement: float  # the measured slant falls in the caption's bucket
    diversity: float  # mean pairwise L1 within a caption

    def __str__(self) -> str:
        return (f"{self.n} samples: digit {100 * self.digit_accuracy:.1f}%, thickness "
                f"{100 * self.thickness_agreement:.1f}%, slant {100 * self.slant_agreement:.1f}% as captioned; "
                f"within-caption L1 diversity {self.diversity:.3f}")


def caption_scores(images, caption_ids) -> CaptionScores:
    """How well ``images`` (N, 1, 16 or 32, ...) in [-1, 1] match their ``caption_ids`` (N,)."""
    ids = np.asarray(backend.to_numpy(caption_ids))
    x = to_32(images)
    digits, thick, slanted = caption_parts(ids)
    m = measure(crop_28(x)[:, 0])
    return CaptionScores(
        len(ids), classifier_accuracy(x.astype(np.float32), digits),
        float(np.mean(thickness_bucket(m["thickness"]) == thick)),
        float(np.mean(slant_bucket(m["slant"]) == slanted)),
        within_caption_diversity(x, ids))
