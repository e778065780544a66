"""The layer contract: gradients accumulate, parameter gradients can be skipped, names follow PyTorch, parameters are
the arrays an optimizer updates, state dicts copy, modules move between dtypes, Sequential behaves like a list,
Dropout keeps its mask for backward, and a seed makes initialisation reproducible.
"""

from __future__ import annotations

import numpy as np
import pytest

from minigan import backend, nn


def rand(bk, *shape, seed=0, dtype=np.float32):
    return bk.asarray(np.random.default_rng(seed).standard_normal(shape), dtype)


def every_layer_model():
    """A small model with every parameterised layer kind and the shape layers: (N, 6) -> (N, 2, 6, 6)."""
    return nn.Sequential(
        nn.Dense(6, 2 * 3 * 3), nn.BatchNorm1d(18), nn.LeakyReLU(0.2), nn.Reshape(2, 3, 3),
        nn.ConvTranspose2d(2, 3, 4, stride=2, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
        nn.Conv2d(3, 2, 3, padding=1), nn.Tanh(),
    )


def grads_np(module, bk):
    return {k: bk.to_numpy(v).copy() for k, v in module.grads.items()}


# --------------------------------------------------------------------------------------------------------------
# backward adds into grads; zero_grad zeroes them
# --------------------------------------------------------------------------------------------------------------
def test_backward_adds_into_grads(bk):
    model = every_layer_model()
    x, dy = rand(bk, 4, 6), rand(bk, 4, 2, 6, 6, seed=1)
    model.forward(x)
    model.backward(dy)
    once = grads_np(model, bk)
    assert all(np.abs(g).max() > 0 for g in once.values()), "every parameter should get a gradient"
    model.backward(dy)
    twice = grads_np(model, bk)
    for k in once:
        np.testing.assert_allclose(twice[k], 2 * once[k], rtol=1e-5, atol=1e-7, err_msg=k)


def test_gradients_of_two_batches_add_up(bk):
    # the papers' discriminator step: forward/backward on a real batch, then on a fake batch, one update
    model = every_layer_model()
    x1, x2 = rand(bk, 4, 6, seed=1), rand(bk, 3, 6, seed=2)
    dy1, dy2 = rand(bk, 4, 2, 6, 6, seed=3), rand(bk, 3, 2, 6, 6, seed=4)
    separate = []
    for x, dy in ((x1, dy1), (x2, dy2)):
        model.zero_grad()
        model.forward(x)
        model.backward(dy)
        separate.append(grads_np(model, bk))
    model.zero_grad()
    model.forward(x1)
    model.backward(dy1)
    model.forward(x2)
    model.backward(dy2)
    together = grads_np(model, bk)
    for k in together:
        np.testing.assert_allclose(together[k], separate[0][k] + separate[1][k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_zero_grad_zeroes_in_place(bk):
    model = every_layer_model()
    model.forward(rand(bk, 4, 6))
    model.backward(rand(bk, 4, 2, 6, 6, seed=1))
    held = model.grads  # an optimizer holds these arrays
    assert any(np.abs(bk.to_numpy(g)).max() > 0 for g in held.values())
    model.zero_grad()
    for k, g in model.grads.items():
        assert g is held[k]
        np.testing.assert_array_equal(bk.to_numpy(g), 0)


def test_backward_without_param_grads(bk):
    model = every_layer_model()
    x, dy = rand(bk, 4, 6), rand(bk, 4, 2, 6, 6, seed=1)
    model.forward(x)
    dx_full = bk.to_numpy(model.backward(dy))
    before = grads_np(model, bk)  # non-zero: a skipped backward must neither add nor zero them
    assert all(np.abs(g).max() > 0 for g in before.values())
    dx_only = bk.to_numpy(model.backward(dy, param_grads=False))
    np.testing.assert_array_equal(dx_only, dx_full)
    for k, g in grads_np(model, bk).items():
        np.testing.assert_array_equal(g, before[k], err_msg=k)


@pytest.mark.parametrize("make, shape", [
    (lambda: nn.Dense(5, 3), (4, 5)), (lambda: nn.Conv2d(2, 3, 3), (2, 2, 5, 5)),
    (lambda: nn.ConvTranspose2d(2, 3, 4, stride=2, padding=1), (2, 2, 3, 3)), (lambda: nn.BatchNorm1d(5), (4, 5)),
    (lambda: nn.BatchNorm2d(2), (3, 2, 2, 2)),
], ids=["dense", "conv", "convT", "bn1d", "bn2d"])
def test_each_layer_can_skip_param_grads(bk, make, shape):
    layer = make()
    y = layer.forward(rand(bk, *shape))
    dy = rand(bk, *y.shape, seed=1)
    dx = bk.to_numpy(layer.backward(dy, param_grads=False))
    for k, g in layer.grads.items():
        np.testing.assert_array_equal(bk.to_numpy(g), 0, err_msg=k)
    np.testing.assert_array_equal(bk.to_numpy(layer.backward(dy)), dx)
    assert all(np.abs(bk.to_numpy(g)).max() > 0 for g in layer.grads.values())


@pytest.mark.parametrize("make, shape", [
    (lambda: nn.Dense(5, 3), (4, 5)), (lambda: nn.Conv2d(2, 3, 3), (2, 2, 5, 5)),
    (lambda: nn.ConvTranspose2d(2, 3, 4, stride=2, padding=1), (2, 2, 3, 3)), (lambda: nn.BatchNorm1d(5), (4, 5)),
    (lambda: nn.BatchNorm2d(2), (3, 2, 2, 2)), (lambda: nn.LeakyReLU(0.2), (3, 4)), (every_layer_model, (4, 6)),
], ids=["dense", "conv", "convT", "bn1d", "bn2d", "leaky", "sequential"])
def test_backward_without_input_grad_gives_the_same_param_grads(bk, make, shape):
    """input_grad=False (a D step: the data needs no gradient) returns None and adds exactly the full backward's
    parameter gradients; with param_grads=False as well it adds nothing."""
    layer = make()
    y = layer.forward(rand(bk, *shape))
    dy = rand(bk, *y.shape, seed=1)
    layer.backward(dy)
    full = grads_np(layer, bk)
    layer.zero_grad()
    assert layer.backward(dy, input_grad=False) is None
    for k, g in grads_np(layer, bk).items():
        np.testing.assert_array_equal(g, full[k], err_msg=k)
    assert layer.backward(dy, param_grads=False, input_grad=False) is None
    for k, g in grads_np(layer, bk).items():
        np.testing.assert_array_equal(g, full[k], err_msg=k)


@pytest.mark.parametrize("first", ["dense", "conv"])
def test_sequential_without_input_grad_skips_the_first_layers_dx(bk, monkeypatch, first):
    """The work saved is real: the first layer is asked for no dx and computes none (its _backward returns None
    without the dx GEMM); later layers' dx still flow, so every parameter gets its gradient."""
    if first == "dense":
        model, x = nn.Sequential(nn.Dense(3, 4), nn.ReLU(), nn.Dense(4, 2)), rand(bk, 5, 3)
    else:
        model, x = nn.Sequential(nn.Conv2d(1, 2, 3), nn.LeakyReLU(0.2), nn.Conv2d(2, 1, 3)), rand(bk, 2, 1, 6, 6)
    cls = type(model[0])
    real = cls._backward

    def spy(self, dy, param_grads, input_grad):
        dx = real(self, dy, param_grads, input_grad)
        assert not (self is model[0] and (input_grad or dx is not None)), "dx of the first layer was computed"
        return dx

    monkeypatch.setattr(cls, "_backward", spy)
    dy = rand(bk, *model.forward(x).shape, seed=1)
    assert model.backward(dy, input_grad=False) is None
    assert all(np.abs(g).max() > 0 for g in grads_np(model, bk).values())
    with pytest.raises(AssertionError, match="dx of the first layer"):
        model.backward(dy)


# --------------------------------------------------------------------------------------------------------------
# names, parameters, state dicts
# --------------------------------------------------------------------------------------------------------------
EXPECTED_NAMES = [
    "0.weight", "0.bias",
    "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked",
    "4.weight", "4.bias",
    "5.weight", "5.bias", "5.running_mean", "5.running_var", "5.num_batches_tracked",
    "7.weight", "7.bias",
]


def test_names_of_params_grads_buffers_and_state_dict(bk):
    model = every_layer_model()
    param_names = [k for k in EXPECTED_NAMES if k.endswith(("weight", "bias"))]
    assert list(model.params) == param_names
    assert list(model.grads) == param_names
    assert list(model.buffers) == [k for k in EXPECTED_NAMES if k not in param_names]
    assert list(model.state_dict()) == EXPECTED_NAMES
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes["0.weight"] == (18, 6)  # Dense: (out, in)
    assert shapes["4.weight"] == (2, 3, 4, 4)  # ConvTranspose2d: (in, out, kh, kw)
    assert shapes["7.weight"] == (2, 3, 3, 3)  # Conv2d: (out, in, kh, kw)
    assert shapes["5.num_batches_tracked"] == ()
    for k, g in model.grads.items():
        assert g.shape == model.params[k].shape and g.dtype == model.params[k].dtype
    assert model.num_parameters() == sum(int(np.prod(s)) for k, s in shapes.items() if k in param_names)


def test_names_and_shapes_match_torch():
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    twin = tnn.Sequential(
        tnn.Linear(6, 18), tnn.BatchNorm1d(18), tnn.LeakyReLU(0.2), tnn.Unflatten(1, (2, 3, 3)),
        tnn.ConvTranspose2d(2, 3, 4, stride=2, padding=1), tnn.BatchNorm2d(3), tnn.ReLU(),
        tnn.Conv2d(3, 2, 3, padding=1), tnn.Tanh(),
    )
    ours = every_layer_model().state_dict()
    theirs = twin.state_dict()
    assert list(ours) == list(theirs)
    assert {k: tuple(v.shape) for k, v in ours.items()} == {k: tuple(v.shape) for k, v in theirs.items()}
    # loading the twin's tensors gives the twin's numbers
    model = every_layer_model()
    model.load_state_dict(theirs)
    model.eval()
    twin.eval()
    x = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    with torch.no_grad():
        expected = twin(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.forward(x), expected, rtol=1e-4, atol=1e-5)


def test_params_are_the_arrays_forward_reads(bk):
    model = nn.Sequential(nn.Dense(3, 2), nn.ReLU())
    params = model.params
    assert params["0.weight"] is model[0].weight is model[0].params["weight"]
    assert params["0.bias"] is model[0].bias
    assert model.grads["0.weight"] is model[0].grads["weight"]
    x = rand(bk, 5, 3)
    # an optimizer's in-place update is what the next forward sees
    params["0.weight"][...] = 0
    params["0.bias"][...] = bk.asarray([1.5, -2.0], np.float32)
    np.testing.assert_array_equal(bk.to_numpy(model.forward(x)), np.tile([1.5, 0.0], (5, 1)))
    params["0.weight"] -= 0.5 * bk.asarray(np.eye(2, 3), np.float32)  # w = -0.5 on the diagonal
    y = bk.to_numpy(model.forward(x))
    xn = bk.to_numpy(x)
    np.testing.assert_allclose(y, np.maximum(-0.5 * xn[:, :2] + [1.5, -2.0], 0), rtol=1e-6)


def test_state_dict_returns_copies(bk):
    model = every_layer_model()
    state = model.state_dict()
    for k, v in model.params.items():
        assert state[k] is not v
    for k, v in model.buffers.items():
        assert state[k] is not v
    before = {k: bk.to_numpy(v).copy() for k, v in state.items()}
    for v in state.values():
        v[...] = 7
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(bk.to_numpy(v), before[k], err_msg=k)


def test_load_state_dict_round_trip(bk):
    source = every_layer_model()
    source.forward(rand(bk, 4, 6))  # running statistics and num_batches_tracked away from their start
    backend.seed(123)
    target = every_layer_model()
    held = target.params
    state = source.state_dict()
    assert not np.array_equal(bk.to_numpy(state["0.weight"]), bk.to_numpy(held["0.weight"]))
    target.load_state_dict(state)
    for k, v in target.state_dict().items():
        np.testing.assert_array_equal(bk.to_numpy(v), bk.to_numpy(state[k]), err_msg=k)
        assert v.dtype == state[k].dtype
    for k, v in target.params.items():  # loaded in place: an optimizer's references stay valid
        assert v is held[k]
    source.eval()
    target.eval()
    x = rand(bk, 3, 6, seed=5)
    np.testing.assert_array_equal(bk.to_numpy(target.forward(x)), bk.to_numpy(source.forward(x)))


def test_load_state_dict_casts_and_moves(bk):
    layer = nn.Dense(3, 2)
    state = {"weight": np.arange(6, dtype=np.float64).reshape(2, 3), "bias": [0.5, -0.5]}  # NumPy, float64, a list
    layer.load_state_dict(state)
    assert layer.weight.dtype == np.float32 and backend.backend_of(layer.weight) == bk.name
    np.testing.assert_array_equal(bk.to_numpy(layer.weight), state["weight"])
    np.testing.assert_array_equal(bk.to_numpy(layer.bias), [0.5, -0.5])


# --------------------------------------------------------------------------------------------------------------
# dtype moves
# --------------------------------------------------------------------------------------------------------------
def test_to_float64_and_back(bk):
    model = every_layer_model()
    model.forward(rand(bk, 4, 6))
    original = {k: bk.to_numpy(v).copy() for k, v in model.state_dict().items()}
    assert model.to(dtype=np.float64) is model
    for k, v in model.state_dict().items():
        expected = np.int64 if k.endswith("num_batches_tracked") else np.float64
        assert v.dtype == expected, k
        assert backend.backend_of(v) == bk.name
        np.testing.assert_array_equal(bk.to_numpy(v), original[k])
    for k, g in model.grads.items():
        assert g.dtype == np.float64, k
    y = model.forward(rand(bk, 4, 6, dtype=np.float64))
    assert y.dtype == np.float64
    model.backward(bk.asarray(np.ones(y.shape), np.float64))
    assert all(g.dtype == np.float64 for g in model.grads.values())
    with pytest.raises(nn.LayerInputError, match="got dtype float32 while its parameters are float64"):
        model.forward(rand(bk, 4, 6))

    model.to(dtype=np.float32)
    for k, v in model.state_dict().items():
        assert v.dtype == (np.int64 if k.endswith("num_batches_tracked") else np.float32), k
    assert all(g.dtype == np.float32 for g in model.grads.values())
    assert model.forward(rand(bk, 4, 6)).dtype == np.float32


def test_float64_default_dtype_builds_float64_layers(bk):
    backend.set_default_dtype(np.float64)
    model = every_layer_model()
    assert {v.dtype for k, v in model.state_dict().items() if "num_batches" not in k} == {np.dtype(np.float64)}


# --------------------------------------------------------------------------------------------------------------
# Sequential as a list
# --------------------------------------------------------------------------------------------------------------
def test_sequential_indexing_len_iteration():
    layers = [nn.Dense(4, 3), nn.ReLU(), nn.Dense(3, 2), nn.Sigmoid()]
    model = nn.Sequential(*layers)
    assert len(model) == 4
    assert list(model) == layers
    assert model.layers == layers
    assert model[0] is layers[0] and model[2] is layers[2] and model[-1] is layers[3]
    with pytest.raises(IndexError):
        model[4]
    tail = model[2:]
    assert isinstance(tail, nn.Sequential) and len(tail) == 2 and tail[0] is layers[2]
    assert list(tail.params) == ["0.weight", "0.bias"]  # renumbered from 0
    assert tail.params["0.weight"] is model.params["2.weight"]  # the same layer, not a copy
    assert len(nn.Sequential()) == 0
    assert repr(model) == ("Sequential(\n  (0): Dense(4, 3, bias=True)\n  (1): ReLU()\n  (2): Dense(3, 2, bias=True)\n"
                           "  (3): Sigmoid()\n)")


def test_sequential_composes_its_layers(bk):
    model = nn.Sequential(nn.Dense(4, 3), nn.Tanh(), nn.Dense(3, 2))
    x = rand(bk, 5, 4)
    np.testing.assert_allclose(bk.to_numpy(model.forward(x)), bk.to_numpy(model[2](model[1](model[0](x)))), rtol=1e-6)
    dy = rand(bk, 5, 2, seed=1)
    dx = bk.to_numpy(model.backward(dy))
    model.zero_grad()
    chained = model[0].backward(model[1].backward(model[2].backward(dy)))
    np.testing.assert_allclose(dx, bk.to_numpy(chained), rtol=1e-6)
    assert nn.Sequential().forward(x) is x


# --------------------------------------------------------------------------------------------------------------
# Dropout
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_training_zeroes_about_p_and_scales_the_rest(bk, p):
    layer = nn.Dropout(p)
    x = bk.asarray(np.full((400, 250), 2.0), np.float32)
    y = bk.to_numpy(layer.forward(x))
    dropped = y == 0
    # 100,000 units: the share dropped is within 5 standard deviations of p
    assert abs(dropped.mean() - p) < 5 * np.sqrt(p * (1 - p) / y.size)
    np.testing.assert_allclose(y[~dropped], 2.0 / (1 - p), rtol=1e-6)
    assert y.dtype == np.float32
    # a new forward draws a new mask
    assert not np.array_equal(bk.to_numpy(layer.forward(x)) == 0, dropped)


def test_dropout_backward_uses_the_forward_mask(bk):
    layer = nn.Dropout(0.4)
    x = rand(bk, 50, 40) + 10  # no zeros of its own
    y = bk.to_numpy(layer.forward(x))
    dy = rand(bk, 50, 40, seed=1)
    dx = bk.to_numpy(layer.backward(dy))
    dyn = bk.to_numpy(dy)
    mask = y != 0
    assert 0 < mask.mean() < 1
    np.testing.assert_array_equal(dx[~mask], 0)
    np.testing.assert_allclose(dx[mask], dyn[mask] / 0.6, rtol=1e-6)
    # y = x * s and dx = dy * s with the same s
    np.testing.assert_allclose(dx * bk.to_numpy(x), y * dyn, rtol=1e-5)


def test_dropout_in_sequential_backward_uses_the_mask(bk):
    model = nn.Sequential(nn.Dense(20, 30), nn.Dropout(0.5), nn.Dense(30, 1))
    x = rand(bk, 8, 20)
    model.forward(x)
    mask = bk.to_numpy(model[1]._mask) != 0
    model.backward(bk.asarray(np.ones((8, 1)), np.float32))
    # the second Dense's weight gradient sees zeros exactly at the dropped hidden units of every sample
    h = bk.to_numpy(model[0].forward(x))
    expected = (h * mask * 2.0).sum(axis=0)
    np.testing.assert_allclose(bk.to_numpy(model.grads["2.weight"])[0], expected, rtol=1e-5, atol=1e-5)


def test_dropout_eval_is_identity(bk):
    layer = nn.Dropout(0.5)
    x = rand(bk, 10, 10)
    dy = rand(bk, 10, 10, seed=1)
    layer.eval()
    np.testing.assert_array_equal(bk.to_numpy(layer.forward(x)), bk.to_numpy(x))
    np.testing.assert_array_equal(bk.to_numpy(layer.backward(dy)), bk.to_numpy(dy))
    layer.train()
    np.testing.assert_array_equal(bk.to_numpy(layer.forward(x, train=False)), bk.to_numpy(x))
    np.testing.assert_array_equal(bk.to_numpy(layer.backward(dy)), bk.to_numpy(dy))
    assert layer.training
    zero = nn.Dropout(0.0)
    np.testing.assert_array_equal(bk.to_numpy(zero.forward(x)), bk.to_numpy(x))


def test_dropout_mask_reproducible_from_its_generator(bk):
    x = bk.asarray(np.ones((20, 30)), np.float32)
    a = nn.Dropout(0.5, rng=backend.Random(7)).forward(x)
    b = nn.Dropout(0.5, rng=backend.Random(7)).forward(x)
    c = nn.Dropout(0.5, rng=backend.Random(8)).forward(x)
    np.testing.assert_array_equal(bk.to_numpy(a), bk.to_numpy(b))
    assert not np.array_equal(bk.to_numpy(a), bk.to_numpy(c))
    backend.seed(3)
    d = nn.Dropout(0.5).forward(x)  # the library-wide generator
    backend.seed(3)
    e = nn.Dropout(0.5).forward(x)
    np.testing.assert_array_equal(bk.to_numpy(d), bk.to_numpy(e))


# --------------------------------------------------------------------------------------------------------------
# seeding
# --------------------------------------------------------------------------------------------------------------
def test_seed_makes_initialisation_reproducible(bk):
    backend.seed(42)
    a = every_layer_model().state_dict()
    backend.seed(42)
    b = every_layer_model().state_dict()
    backend.seed(43)
    c = every_layer_model().state_dict()
    for k in a:
        np.testing.assert_array_equal(bk.to_numpy(a[k]), bk.to_numpy(b[k]), err_msg=k)
    for k in ("0.weight", "4.weight", "7.weight", "7.bias"):
        assert not np.array_equal(bk.to_numpy(a[k]), bk.to_numpy(c[k])), k
    # consecutive layers draw from one stream: two layers built after one seed differ from each other
    backend.seed(42)
    first, second = nn.Dense(6, 18), nn.Dense(6, 18)
    assert not np.array_equal(bk.to_numpy(first.weight), bk.to_numpy(second.weight))
    np.testing.assert_array_equal(bk.to_numpy(first.weight), bk.to_numpy(a["0.weight"]))
