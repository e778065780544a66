r"""Measuring image-to-image translation at digit scale, the way pix2pix and CycleGAN are measured.

* **Classifier accuracy of the outputs** (pix2pix's "FCN-score": a network trained on real images of the target
  domain should recognise a good output as what it is meant to be). Here minigan's held-out MNIST classifier reads
  each translated digit and is scored against the class of its source, next to its accuracy on the real targets
  (the ceiling, as the paper's "ground truth" row).
* **L1 and SSIM to the target** (for aligned pairs): mean absolute pixel difference on the [0, 1] intensity
  scale, and the structural similarity of Wang et al. 2004.
* **Label preservation** (CycleGAN; :func:`label_preservation`): a classifier of the target domain reading the
  translated images, next to the same classifier on the untranslated source ("source only") and on real target
  images.

Images are 32x32 digits (28x28 padded with 2 black pixels, as the task loaders make them) in [-1, 1]; the
classifiers read the central 28x28 (:func:`crop_28`), where the digit is.

SSIM (Wang, Bovik, Sheikh & Simoncelli 2004, eq. 13), with local statistics under an 11x11 Gaussian window of
sigma 1.5 (their choice; ``truncate = 3.5`` gives radius 5):

    SSIM(x, y) = (2 mu_x mu_y + C1)(2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2))
    C1 = (0.01 L)^2,  C2 = (0.03 L)^2,  L = the data range (2 for [-1, 1])

mu, sigma^2 and sigma_xy are Gaussian-weighted means of x, x^2 - mu_x^2 and xy - mu_x mu_y; the map is averaged
over the pixels at least 5 from the border (scikit-image's ``structural_similarity(..., gaussian_weights=True,
sigma=1.5, use_sample_covariance=False)`` computes the same, which the tests check).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from minigan import backend

USPS_LIKE_CLASSIFIER = Path(__file__).with_name("usps_like_classifier.npz")  # the target-domain classifier of
# cyclegan-digits: minigan's classifier network trained on the usps-like digits (python -m
# minigan.metrics.train_classifier --domain usps-like), 98.0% on their 355 held-out digits
SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5  # radius int(3.5 * 1.5 + 0.5) = 5: the 11x11 window


def crop_28(images) -> np.ndarray:
    """The central 28x28 of (N, 1, 32, 32) images (any even size >= 28), as a host float array."""
    x = backend.to_numpy(images)
    if x.ndim != 4 or x.shape[2] < 28 or x.shape[3] < 28:
        raise ValueError(f"crop_28: expected images (N, C, H, W) of at least 28x28, got {x.shape}")
    top, left = (x.shape[2] - 28) // 2, (x.shape[3] - 28) // 2
    return x[:, :, top : top + 28, left : left + 28]


def l1_distance(x, y) -> np.ndarray:
    """Per image: mean |x - y| over its pixels, on the [0, 1] intensity scale (images in [-1, 1]). (N,)"""
    x, y = backend.to_numpy(x).astype(np.float64), backend.to_numpy(y).astype(np.float64)
    if x.shape != y.shape:
        raise ValueError(f"l1_distance: shapes differ, {x.shape} and {y.shape}")
    return np.abs(x - y).reshape(len(x), -1).mean(axis=1) / 2.0


def ssim(x, y, data_range: float = 2.0) -> np.ndarray:
    """Per image: mean SSIM of x and y (N, C, H, W) over pixels 5 or more from the border, channels averaged.
    (N,) float64."""
    x, y = backend.to_numpy(x).astype(np.float64), backend.to_numpy(y).astype(np.float64)
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"ssim: expected two arrays (N, C, H, W) of one shape, got {x.shape} and {y.shape}")
    sigma = (0, 0, SSIM_SIGMA, SSIM_SIGMA)  # smooth over H and W only

    def blur(a):
        return ndimage.gaussian_filter(a, sigma, truncate=SSIM_TRUNCATE)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x * mu_x
    var_y = blur(y * y) - mu_y * mu_y
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    pad = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)
    return s[:, :, pad:-pad, pad:-pad].mean(axis=(1, 2, 3))


def classifier_accuracy(images, labels, classifier_path=None) -> float:
    """Share of ``images`` (N, 1, 32 or 28, ...) that a digit classifier (default: minigan's MNIST classifier;
    ``classifier_path``: another weights file, e.g. the usps-like one) reads as ``labels``."""
    from minigan.metrics.classifier import accuracy

    return accuracy(crop_28(images).astype(np.float32), labels, path=classifier_path)


def translate(G, inputs, batch_size: int = 250) -> np.ndarray:
    """G(inputs) in evaluation mode, batch by batch, as a host array."""
    outs = []
    for start in range(0, len(inputs), batch_size):
        x = backend.to_backend(np.asarray(inputs[start : start + batch_size], np.float32))
        outs.append(backend.to_numpy(G.forward(x, train=False)))
    return np.concatenate(outs)


@dataclass
class PairedScores:
    """pix2pix at digit scale on n held-out pairs."""

    n: int
    accuracy_outputs: float  # the MNIST classifier on G(A), against the source digit's class
    accuracy_targets: float  # the same classifier on the real B (the ceiling)
    l1: float  # mean |G(A) - B| on [0, 1]
    ssim: float  # mean SSIM(G(A), B)

    def __str__(self) -> str:
        return (f"{self.n} held-out pairs: classifier accuracy {100 * self.accuracy_outputs:.1f}% on outputs "
                f"({100 * self.accuracy_targets:.1f}% on real targets), L1 {self.l1:.4f}, SSIM {self.ssim:.3f}")


def evaluate_pairs(G, A, B, labels) -> PairedScores:
    """Scores of a pix2pix G on aligned held-out pairs A -> B (arrays (N, 1, 32, 32) in [-1, 1]) of digit
    ``labels``."""
    fake = translate(G, A)
    B = backend.to_numpy(B)
    return PairedScores(len(fake), classifier_accuracy(fake, labels), classifier_accuracy(B, labels),
                        float(l1_distance(fake, B).mean()), float(ssim(fake, B).mean()))


@dataclass
class UnpairedScores:
    """CycleGAN at digit scale: label preservation in each direction and cycle reconstruction, on held-out images.

    A -> B: the target-domain classifier (trained on B) reads G_A(a); "source only" is the same classifier on the
    untranslated a, "target" on real b (the ceiling). B -> A likewise with the classifier of A (MNIST).
    """

    n_a: int
    n_b: int
    a_to_b: float  # B's classifier on G_A(a), against a's class
    a_source_only: float  # B's classifier on a itself
    b_target: float  # B's classifier on real b
    b_to_a: float  # A's classifier on G_B(b)
    b_source_only: float  # A's classifier on b itself
    a_target: float  # A's classifier on real a
    cycle_l1_a: float  # mean |G_B(G_A(a)) - a| on [0, 1]
    cycle_l1_b: float  # mean |G_A(G_B(b)) - b|

    def __str__(self) -> str:
        return (f"A->B label preservation {100 * self.a_to_b:.1f}% (source only {100 * self.a_source_only:.1f}%, "
                f"real B {100 * self.b_target:.1f}%); B->A {100 * self.b_to_a:.1f}% (source only "
                f"{100 * self.b_source_only:.1f}%, real A {100 * self.a_target:.1f}%); cycle L1 A "
                f"{self.cycle_l1_a:.4f}, B {self.cycle_l1_b:.4f} ({self.n_a} + {self.n_b} held-out images)")


def label_preservation(G, a, a_labels, b, b_labels, classifier_a=None, classifier_b=USPS_LIKE_CLASSIFIER):
    """:class:`UnpairedScores` of a CycleGAN generator pair ``G`` (a ModuleDict with G_A: A -> B and G_B: B -> A)
    on held-out images a, b ((N, 1, 32, 32) in [-1, 1]) of known classes. ``classifier_a`` / ``classifier_b``:
    weights files of the two domains' classifiers (default: MNIST's and the usps-like one)."""
    fake_b, fake_a = translate(G["G_A"], a), translate(G["G_B"], b)
    rec_a, rec_b = translate(G["G_B"], fake_b), translate(G["G_A"], fake_a)
    a, b = backend.to_numpy(a), backend.to_numpy(b)
    return UnpairedScores(
        len(a), len(b),
        classifier_accuracy(fake_b, a_labels, classifier_b), classifier_accuracy(a, a_labels, classifier_b),
        classifier_accuracy(b, b_labels, classifier_b),
        classifier_accuracy(fake_a, b_labels, classifier_a), classifier_accuracy(b, b_labels, classifier_a),
        classifier_accuracy(a, a_labels, classifier_a),
        float(l1_distance(rec_a, a).mean()), float(l1_distance(rec_b, b).mean()))
