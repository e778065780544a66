"""The mode-coverage protocol of VEEGAN / PacGAN / GDPP (minigan.metrics.modes) and the two toy mixtures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from minigan.data import grid, ring
from minigan.metrics import ModeCoverage, mode_coverage
from minigan.metrics.modes import MIN_SAMPLES, N_SAMPLES, N_STD, score_generator


def at_modes(mixture, modes, n=N_SAMPLES, spread=0.0, seed=0):
    """n samples, spread evenly over the given modes, each ``spread`` std from its mean in a random direction."""
    rng = np.random.default_rng(seed)
    idx = np.asarray(modes)[np.arange(n) % len(modes)]
    angle = rng.uniform(0, 2 * np.pi, n)
    offset = spread * mixture.std * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return mixture.means[idx] + offset


def test_the_protocol_defaults():
    assert (N_SAMPLES, N_STD, MIN_SAMPLES) == (2500, 3.0, 1)


def test_ring_has_eight_distinct_angles_at_radius_one():
    mix = ring()
    assert mix.means.shape == (8, 2) and mix.std == 0.01
    np.testing.assert_allclose(np.hypot(mix.means[:, 0], mix.means[:, 1]), 1.0)
    angles = np.round(np.mod(np.arctan2(mix.means[:, 1], mix.means[:, 0]), 2 * np.pi), 9)
    assert len(set(angles)) == 8
    np.testing.assert_allclose(np.sort(angles), 2 * np.pi * np.arange(8) / 8, atol=1e-9)


def test_grid_has_25_distinct_means_on_minus4_to_4():
    mix = grid()
    assert mix.means.shape == (25, 2) and mix.std == 0.05
    assert {tuple(m) for m in mix.means} == {(a, b) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)}


@pytest.mark.parametrize("make", [ring, grid])
def test_samples_from_the_mixture_itself_cover_every_mode(make):
    """The true distribution scores (nearly) perfectly: 3 std in 2D holds 1 - exp(-9/2) = 98.9% of the mass."""
    from minigan import backend

    mix = make()
    result = score_generator(mix.sampler(backend.Random(0)), mix)
    assert result.modes_covered == mix.n_modes
    assert abs(result.high_quality - (1 - math.exp(-4.5))) < 0.01
    assert result.kl < 0.02


def test_a_sampler_covering_5_of_8_ring_modes_scores_5_of_8():
    mix = ring()
    result = mode_coverage(at_modes(mix, [0, 1, 3, 4, 6], spread=1.0), mix.means, mix.std)
    assert isinstance(result, ModeCoverage)
    assert (result.modes_covered, result.n_modes) == (5, 8)
    assert result.high_quality == 1.0
    np.testing.assert_array_equal(result.counts, [500, 500, 0, 500, 500, 0, 500, 0])
    assert result.kl == pytest.approx(math.log(8 / 5), rel=1e-12)  # uniform over 5 of 8 modes
    assert "5/8 modes" in str(result)


@pytest.mark.parametrize("make", [ring, grid])
def test_all_samples_at_the_means(make):
    mix = make()
    K = mix.n_modes
    uniform = mode_coverage(at_modes(mix, range(K), n=100 * K), mix.means, mix.std)
    assert uniform.modes_covered == K and uniform.high_quality == 1.0
    assert abs(uniform.kl) < 1e-12
    single = mode_coverage(at_modes(mix, [3]), mix.means, mix.std)
    assert single.modes_covered == 1 and single.high_quality == 1.0
    assert single.kl == pytest.approx(math.log(K), rel=1e-12)


@pytest.mark.parametrize("make", [ring, grid])
def test_samples_just_outside_3_std_are_not_high_quality(make):
    mix = make()
    inside = mode_coverage(at_modes(mix, range(mix.n_modes), spread=2.999), mix.means, mix.std)
    outside = mode_coverage(at_modes(mix, range(mix.n_modes), spread=3.001), mix.means, mix.std)
    assert inside.high_quality == 1.0 and inside.modes_covered == mix.n_modes
    assert outside.high_quality == 0.0 and outside.modes_covered == 0
    # n_std is an argument: with 4 std the same samples are high quality again
    assert mode_coverage(at_modes(mix, range(mix.n_modes), spread=3.001), mix.means, mix.std, n_std=4).high_quality == 1


def test_no_high_quality_sample_reports_kl_inf_not_nan():
    mix = grid()
    far = np.full((N_SAMPLES, 2), 1.0)  # halfway between four modes: 1.41 from each, far beyond 3 std = 0.15
    result = mode_coverage(far, mix.means, mix.std)
    assert (result.modes_covered, result.high_quality) == (0, 0.0)
    assert result.kl == math.inf
    assert result.counts.sum() == 0


def test_min_samples_is_the_coverage_threshold():
    mix = ring()
    x = np.concatenate([at_modes(mix, [0], n=10), at_modes(mix, [1], n=1)])
    assert mode_coverage(x, mix.means, mix.std).modes_covered == 2
    assert mode_coverage(x, mix.means, mix.std, min_samples=2).modes_covered == 1


def test_high_quality_share_counts_every_sample_and_nan_is_never_high_quality():
    mix = ring()
    x = np.concatenate([at_modes(mix, [0, 1], n=6), np.full((2, 2), np.nan), np.full((2, 2), 5.0)])
    result = mode_coverage(x, mix.means, mix.std)
    assert result.high_quality == pytest.approx(6 / 10)
    assert result.modes_covered == 2 and result.counts.sum() == 6


def test_score_generator_draws_n_samples():
    mix = ring()
    asked = []

    def sample(n):
        asked.append(n)
        return at_modes(mix, range(8), n=n)

    assert score_generator(sample, mix).modes_covered == 8
    assert asked == [N_SAMPLES]
    score_generator(sample, mix, n_samples=80)
    assert asked[-1] == 80


@pytest.mark.parametrize("samples, means, match", [
    (np.zeros((10, 3)), ring().means, r"\(M, 2\)"),
    (np.zeros(10), ring().means, r"\(M, 2\)"),
    (np.zeros((10, 2, 1)), ring().means, r"\(M, 2\)"),
    (np.zeros((0, 2)), ring().means, "no samples"),
    (np.zeros((10, 2)), np.zeros(2), r"\(K, D\)"),
    (np.zeros((10, 2)), np.zeros((0, 2)), r"\(K, D\)"),
])
def test_shape_errors(samples, means, match):
    with pytest.raises(ValueError, match=match):
        mode_coverage(samples, means, 0.01)


def test_argument_errors():
    means = ring().means
    x = np.zeros((4, 2))
    for kwargs in ({"std": 0.0}, {"std": -1.0}, {"std": 0.01, "n_std": 0}, {"std": 0.01, "min_samples": 0}):
        with pytest.raises(ValueError, match="mode_coverage"):
            mode_coverage(x, means, **kwargs)
    with pytest.raises(ValueError, match="n_samples"):
        score_generator(lambda n: x, ring(), n_samples=0)
