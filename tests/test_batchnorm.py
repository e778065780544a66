"""BatchNorm1d / BatchNorm2d in training and evaluation mode.

Training normalises with the batch's statistics, per channel over every axis but 1 (N, H, W for 2d; N, L for 1d),
and moves the running statistics r <- (1 - momentum) r + momentum * stat, with the unbiased variance
var * M / (M - 1). Evaluation normalises with the running statistics.
"""

from __future__ import annotations

import numpy as np
import pytest

from minigan import backend, nn

EPS = 1e-5


def channels_apart(n=8, h=5, w=6, seed=0):
    """(n, 4, h, w) float64: channels with very different means and scales, plus a spatial pattern in each.

    The pattern makes per-channel statistics (over N, H, W) differ from per-location ones (over N only).
    """
    rng = np.random.default_rng(seed)
    means = np.array([-50.0, 0.0, 3.0, 1000.0])
    scales = np.array([0.5, 1.0, 10.0, 100.0])
    pattern = np.linspace(-2, 2, h * w).reshape(1, 1, h, w)
    x = rng.standard_normal((n, 4, h, w)) + pattern
    return means[None, :, None, None] + scales[None, :, None, None] * x


def manual(x, mean, var, gamma, beta, axes):
    """The BatchNorm formula, written out in float64 with the statistics given per channel."""
    shape = [1] * x.ndim
    shape[1] = -1
    r = lambda v: np.asarray(v, np.float64).reshape(shape)
    return (x - r(mean)) / np.sqrt(r(var) + EPS) * r(gamma) + r(beta)


def set_affine(bn, bk, seed=1):
    """Give gamma and beta values other than 1 and 0, so that a test sees whether they are used."""
    rng = np.random.default_rng(seed)
    c = bn.num_features
    bn.load_state_dict({**bn.state_dict(), "weight": 1 + rng.random(c), "bias": rng.standard_normal(c)})
    return bk.to_numpy(bn.weight).astype(np.float64), bk.to_numpy(bn.bias).astype(np.float64)


# --------------------------------------------------------------------------------------------------------------
# training mode: batch statistics per channel
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-9), (np.float32, 2e-4)], ids=["f64", "f32"])
def test_batchnorm2d_training_normalises_per_channel_over_n_h_w(bk, dtype, tol):
    backend.set_default_dtype(dtype)
    x = channels_apart()
    bn = nn.BatchNorm2d(4)
    y = bn.forward(bk.asarray(x, dtype))
    assert y.dtype == dtype and y.shape == x.shape
    y = bk.to_numpy(y).astype(np.float64)
    batch_var = x.var(axis=(0, 2, 3))
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=tol)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), batch_var / (batch_var + EPS), rtol=tol)
    np.testing.assert_allclose(y, manual(x, x.mean(axis=(0, 2, 3)), batch_var, 1, 0, (0, 2, 3)), atol=tol * 10)
    # not per location over N alone: the spatial pattern in each channel survives normalisation
    per_location_mean = y.mean(axis=0)  # (C, H, W)
    assert np.ptp(per_location_mean, axis=(1, 2)).min() > 1.0


def test_batchnorm2d_training_uses_gamma_and_beta(bk):
    x = channels_apart()
    bn = nn.BatchNorm2d(4)
    gamma, beta = set_affine(bn, bk)
    y = bk.to_numpy(bn.forward(bk.asarray(x, np.float32)))
    expected = manual(x, x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3)), gamma, beta, (0, 2, 3))
    np.testing.assert_allclose(y, expected, atol=2e-3)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), beta, atol=1e-4)


@pytest.mark.parametrize("shape, axes", [((16, 3), (0,)), ((6, 3, 5), (0, 2))], ids=["NC", "NCL"])
def test_batchnorm1d_training_normalises_per_feature(bk, shape, axes):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape) * np.array([0.5, 3.0, 40.0]).reshape(1, 3, *[1] * (len(shape) - 2))
    x += np.array([-7.0, 0.0, 200.0]).reshape(1, 3, *[1] * (len(shape) - 2))
    bn = nn.BatchNorm1d(3)
    y = bk.to_numpy(bn.forward(bk.asarray(x, np.float32)))
    np.testing.assert_allclose(y.mean(axis=axes), 0, atol=1e-4)
    np.testing.assert_allclose(y.var(axis=axes), 1, atol=1e-3)
    np.testing.assert_allclose(y, manual(x, x.mean(axis=axes), x.var(axis=axes), 1, 0, axes), atol=1e-3)


def test_batchnorm_without_affine_has_no_parameters(bk):
    bn = nn.BatchNorm2d(4, affine=False)
    assert bn.params == {}
    assert list(bn.state_dict()) == ["running_mean", "running_var", "num_batches_tracked"]
    x = channels_apart()
    y = bk.to_numpy(bn.forward(bk.asarray(x, np.float32)))
    np.testing.assert_allclose(y, manual(x, x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3)), 1, 0, None), atol=2e-3)


# --------------------------------------------------------------------------------------------------------------
# running statistics
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("momentum", [0.1, 0.3])
def test_running_statistics_update_rule(bk, momentum):
    backend.set_default_dtype(np.float64)
    bn = nn.BatchNorm2d(4, momentum=momentum)
    np.testing.assert_array_equal(bk.to_numpy(bn.running_mean), 0)
    np.testing.assert_array_equal(bk.to_numpy(bn.running_var), 1)
    assert int(bn.num_batches_tracked) == 0
    rm, rv = np.zeros(4), np.ones(4)
    for step, (n, h, w) in enumerate([(2, 1, 1), (3, 2, 2), (4, 3, 5)], start=1):
        x = channels_apart(n, h, w, seed=step)
        bn.forward(bk.asarray(x))
        m = n * h * w
        mean, unbiased = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3), ddof=1)
        np.testing.assert_allclose(unbiased, x.var(axis=(0, 2, 3)) * m / (m - 1))
        rm = (1 - momentum) * rm + momentum * mean
        rv = (1 - momentum) * rv + momentum * unbiased
        np.testing.assert_allclose(bk.to_numpy(bn.running_mean), rm, rtol=1e-12)
        np.testing.assert_allclose(bk.to_numpy(bn.running_var), rv, rtol=1e-12)
        assert int(bn.num_batches_tracked) == step


def test_running_variance_is_unbiased_with_two_values(bk):
    # M = 2: the unbiased variance is twice the biased one, so a biased update would be far off
    bn = nn.BatchNorm1d(1, momentum=1.0)
    bn.forward(bk.asarray([[1.0], [3.0]], np.float32))
    assert float(bn.running_mean[0]) == pytest.approx(2.0)
    assert float(bn.running_var[0]) == pytest.approx(2.0)  # ((1-2)^2 + (3-2)^2) / (2 - 1)


def test_running_statistics_match_torch():
    torch = pytest.importorskip("torch")
    x = channels_apart(4, 3, 3)
    bn = nn.BatchNorm2d(4, momentum=0.2).to(dtype=np.float64)
    ref = torch.nn.BatchNorm2d(4, momentum=0.2).double()
    for shift in (0.0, 5.0, -3.0):
        y = bn.forward(x + shift)
        y_ref = ref(torch.from_numpy(x + shift))
        np.testing.assert_allclose(y, y_ref.detach().numpy(), atol=1e-9)
    state, ref_state = bn.state_dict(), ref.state_dict()
    assert list(state) == list(ref_state)
    for k in state:
        np.testing.assert_allclose(state[k], ref_state[k].numpy(), rtol=1e-12)


# --------------------------------------------------------------------------------------------------------------
# evaluation mode: running statistics
# --------------------------------------------------------------------------------------------------------------
def test_eval_uses_running_statistics(bk):
    bn = nn.BatchNorm2d(4)
    gamma, beta = set_affine(bn, bk)
    mean, var = np.array([1.0, -2.0, 30.0, 0.5]), np.array([4.0, 0.25, 100.0, 1.0])
    bn.load_state_dict({**bn.state_dict(), "running_mean": mean, "running_var": var})
    bn.eval()
    assert bn.training is False
    x = channels_apart(3, 2, 2)
    y = bk.to_numpy(bn.forward(bk.asarray(x, np.float32)))
    np.testing.assert_allclose(y, manual(x, mean, var, gamma, beta, None), rtol=1e-4, atol=1e-3)
    # each sample on its own: the same as in the batch
    y0 = bk.to_numpy(bn.forward(bk.asarray(x[:1], np.float32)))
    np.testing.assert_allclose(y0, y[:1], rtol=1e-6)
    # nothing moved
    np.testing.assert_allclose(bk.to_numpy(bn.running_mean), mean, rtol=1e-6)
    np.testing.assert_allclose(bk.to_numpy(bn.running_var), var, rtol=1e-6)
    assert int(bn.num_batches_tracked) == 0


def test_eval_after_train(bk):
    backend.set_default_dtype(np.float64)
    rng = np.random.default_rng(3)
    means, stds = np.array([5.0, -1.0, 0.0]), np.array([3.0, 0.1, 20.0])
    batch = lambda n: means[None, :, None] + stds[None, :, None] * rng.standard_normal((n, 3, 4))
    bn = nn.BatchNorm1d(3, momentum=0.2)
    for _ in range(60):
        bn.forward(bk.asarray(batch(64)))
    assert int(bn.num_batches_tracked) == 60
    assert np.all(np.abs(bk.to_numpy(bn.running_mean) - means) < 0.05 * stds)
    np.testing.assert_allclose(bk.to_numpy(bn.running_var), stds**2, rtol=0.1)
    bn.eval()
    state = {k: bk.to_numpy(v) for k, v in bn.state_dict().items()}
    x = batch(512)
    y = bk.to_numpy(bn.forward(bk.asarray(x)))
    np.testing.assert_allclose(y, manual(x, state["running_mean"], state["running_var"], 1, 0, None), rtol=1e-12)
    np.testing.assert_allclose(y.mean(axis=(0, 2)), 0, atol=0.1)
    np.testing.assert_allclose(y.std(axis=(0, 2)), 1, atol=0.1)
    for k, v in bn.state_dict().items():
        np.testing.assert_array_equal(bk.to_numpy(v), state[k])


@pytest.mark.parametrize("train", [True, False])
def test_backward_follows_the_mode_of_the_forward(bk, train):
    backend.set_default_dtype(np.float64)
    bn = nn.BatchNorm2d(4)
    gamma, _ = set_affine(bn, bk)
    bn.load_state_dict({**bn.state_dict(), "running_var": np.array([4.0, 0.25, 9.0, 1.0])})
    x = channels_apart(3, 2, 2)
    dy = np.random.default_rng(4).standard_normal(x.shape)
    bn.forward(bk.asarray(x), train=train)
    dx = bk.to_numpy(bn.backward(bk.asarray(dy)))
    eval_dx = dy * (gamma / np.sqrt(np.array([4.0, 0.25, 9.0, 1.0]) + EPS))[None, :, None, None]
    if train:
        # per channel, the batch statistics absorb a constant shift of x: dx sums to zero; and its component along
        # x_hat is only what eps leaves, sum(g x_hat) (1 - <x_hat^2>) / sqrt(var + eps) with g = gamma dy
        var = x.var(axis=(0, 2, 3))
        x_hat = manual(x, x.mean(axis=(0, 2, 3)), var, 1, 0, None)
        g = dy * gamma[None, :, None, None]
        along = (g * x_hat).sum(axis=(0, 2, 3)) * (1 - (x_hat**2).mean(axis=(0, 2, 3))) / np.sqrt(var + EPS)
        np.testing.assert_allclose(dx.sum(axis=(0, 2, 3)), 0, atol=1e-9)
        np.testing.assert_allclose((dx * x_hat).sum(axis=(0, 2, 3)), along, rtol=1e-6, atol=1e-12)
        assert not np.allclose(dx, eval_dx, atol=1e-3)
    else:
        np.testing.assert_allclose(dx, eval_dx, rtol=1e-12)


def test_training_backward_matches_torch():
    torch = pytest.importorskip("torch")
    x = channels_apart(3, 2, 3)
    dy = np.random.default_rng(5).standard_normal(x.shape)
    bn = nn.BatchNorm2d(4).to(dtype=np.float64)
    ref = torch.nn.BatchNorm2d(4).double()
    with torch.no_grad():
        ref.weight.copy_(torch.tensor([1.5, 0.5, 2.0, 1.0]))
        ref.bias.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0]))
    bn.load_state_dict(ref.state_dict())
    xt = torch.from_numpy(x).requires_grad_(True)
    ref(xt).backward(torch.from_numpy(dy))
    bn.forward(x)
    dx = bn.backward(dy)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(bn.grads["weight"], ref.weight.grad.numpy(), rtol=1e-9)
    np.testing.assert_allclose(bn.grads["bias"], ref.bias.grad.numpy(), rtol=1e-9)


# --------------------------------------------------------------------------------------------------------------
# modes: train() / eval(), through Sequential, and the one-call override
# --------------------------------------------------------------------------------------------------------------
def model_with_batchnorm():
    return nn.Sequential(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Dense(4 * 5 * 6, 3),
                         nn.BatchNorm1d(3), nn.Dropout(0.5))


def test_train_and_eval_propagate_through_sequential(bk):
    model = model_with_batchnorm()
    assert all(m.training for _, m in model.named_modules())
    assert model.eval() is model
    assert [m.training for _, m in model.named_modules()] == [False] * 8
    assert model.train() is model
    assert [m.training for _, m in model.named_modules()] == [True] * 8
    model.train(False)
    assert not any(m.training for _, m in model.named_modules())


def test_eval_sequential_uses_running_statistics(bk):
    model = model_with_batchnorm()
    x = bk.asarray(channels_apart(), np.float32)
    model.forward(x)
    state = {k: bk.to_numpy(v) for k, v in model.state_dict().items()}
    model.eval()
    y1 = bk.to_numpy(model.forward(x))
    y2 = bk.to_numpy(model.forward(x[:2]))  # evaluation: deterministic and per sample (no dropout, no batch stats)
    np.testing.assert_allclose(y2, y1[:2], rtol=1e-5, atol=1e-6)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(bk.to_numpy(v), state[k])
    # the same numbers layer by layer, each BatchNorm with its running statistics
    h = bk.to_numpy(model[0].forward(x)).astype(np.float64)
    h = manual(h, state["1.running_mean"], state["1.running_var"], state["1.weight"], state["1.bias"], None)
    h = np.maximum(h, 0).reshape(len(h), -1) @ state["4.weight"].T.astype(np.float64) + state["4.bias"]
    h = manual(h, state["5.running_mean"], state["5.running_var"], state["5.weight"], state["5.bias"], None)
    np.testing.assert_allclose(y1, h, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("make, shape", [(lambda: nn.BatchNorm2d(4), (8, 4, 5, 6)), (model_with_batchnorm, (8, 4, 5, 6))],
                         ids=["layer", "sequential"])
def test_forward_train_false_overrides_for_one_call(bk, make, shape):
    module = make()
    x = bk.asarray(channels_apart(*shape[:1], *shape[2:]), np.float32)
    module.forward(x)  # one training step, so that running statistics differ from the batch's
    state = {k: bk.to_numpy(v) for k, v in module.state_dict().items()}

    y_override = bk.to_numpy(module.forward(x, train=False))
    assert module.training is True
    assert all(m.training for _, m in module.named_modules())
    for k, v in module.state_dict().items():  # no running statistics moved, no batch counted
        np.testing.assert_array_equal(bk.to_numpy(v), state[k])

    module.eval()
    y_eval = bk.to_numpy(module.forward(x))
    np.testing.assert_array_equal(y_override, y_eval)

    # and the other way: train=True on a module in evaluation mode
    y_train = bk.to_numpy(module.forward(x, train=True))
    assert module.training is False
    assert not np.allclose(y_train, y_eval, atol=1e-2)
    tracked = [k for k in state if k.endswith("num_batches_tracked")]
    assert tracked and all(int(module.state_dict()[k]) == int(state[k]) + 1 for k in tracked)


def test_one_layer_in_eval_mode_inside_a_training_sequential(bk):
    # model[1].eval() freezes that BatchNorm alone (as in PyTorch); the rest of the model keeps training
    model = model_with_batchnorm()
    x = bk.asarray(channels_apart(), np.float32)
    model[1].eval()
    assert model.training and not model[1].training
    model.forward(x)
    assert int(model[1].num_batches_tracked) == 0
    np.testing.assert_array_equal(bk.to_numpy(model[1].running_mean), 0)
    assert int(model[5].num_batches_tracked) == 1
    # and a call-level override still wins over every layer's own mode
    model.forward(x, train=True)
    assert int(model[1].num_batches_tracked) == 1 and int(model[5].num_batches_tracked) == 2
    assert not model[1].training
