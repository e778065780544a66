"""Bad input gets a clear error that names the layer (its repr) and what it expected, never a bare NumPy error.

Every check here matches the message: the layer's repr, the expectation, and what was received.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from minigan import backend, errors, nn
from minigan.errors import NonFiniteError, NonFiniteInputError
from minigan.nn import LayerInputError

needs_cupy = pytest.mark.skipif(not backend.cupy_available(), reason="CuPy or a GPU is not available")


def raises(error, *parts: str, start: bool = False):
    """``pytest.raises(error)`` whose message holds the literal ``parts`` in order (the first at its very start
    when ``start``); anything, newlines included, may stand between two parts."""
    return pytest.raises(error, match="(?s)" + ("^" if start else "") + ".*".join(re.escape(p) for p in parts))


def rand(bk, *shape, dtype=np.float32):
    return bk.asarray(np.random.default_rng(0).standard_normal(shape), dtype)


BN1 = "BatchNorm1d(3, eps=1e-05, momentum=0.1)"
BN2 = "BatchNorm2d(3, eps=1e-05, momentum=0.1)"
CONV = "Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(0, 0), bias=True)"
CONVT = ("ConvTranspose2d(4, 2, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), output_padding=(0, 0), "
         "bias=True)")


# --------------------------------------------------------------------------------------------------------------
# rank, size, channel count
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make, shape, parts", [
    (lambda: nn.Dense(4, 3), (2, 3, 4), ("Dense(4, 3, bias=True) expected input of shape (N, 4)",
                                         "got shape (2, 3, 4)")),
    (lambda: nn.Conv2d(3, 8, 3), (3, 8, 8), (f"{CONV} expected input of shape (N, 3, H, W)", "got shape (3, 8, 8)")),
    (lambda: nn.ConvTranspose2d(4, 2, 4, stride=2, padding=1), (2, 4, 5),
     (f"{CONVT} expected input of shape (N, 4, H, W)", "got shape (2, 4, 5)")),
    (lambda: nn.BatchNorm2d(3), (4, 3), (f"{BN2} expected input of shape (N, 3, H, W)", "got shape (4, 3)")),
    (lambda: nn.BatchNorm1d(3), (4, 3, 2, 2), (f"{BN1} expected input of shape (N, 3) or (N, 3, L)",
                                               "got shape (4, 3, 2, 2)")),
    (lambda: nn.Flatten(), (5,), ("Flatten() expected input of rank >= 2, (N, ...), got shape (5,)",)),
], ids=["dense", "conv", "convT", "bn2d", "bn1d", "flatten"])
def test_wrong_rank(bk, make, shape, parts):
    layer = make()
    with raises(LayerInputError, *parts, start=True):
        layer.forward(rand(bk, *shape))


@pytest.mark.parametrize("make, shape, parts", [
    (lambda: nn.Dense(4, 3), (2, 5), ("Dense(4, 3, bias=True) expected input of shape (N, 4), got shape (2, 5)",)),
    (lambda: nn.Conv2d(3, 8, 3), (2, 4, 8, 8), (f"{CONV} expected input of shape (N, 3, H, W) with H + 0 >= 3",
                                                "got shape (2, 4, 8, 8)")),
    (lambda: nn.ConvTranspose2d(4, 2, 4), (2, 2, 5, 5), ("ConvTranspose2d(4, 2, kernel_size=(4, 4)",
                                                         "expected input of shape (N, 4, H, W) with a positive",
                                                         "got shape (2, 2, 5, 5)")),
    (lambda: nn.BatchNorm1d(3), (4, 5), (f"{BN1} expected input of shape (N, 3) or (N, 3, L)", "got shape (4, 5)")),
    (lambda: nn.BatchNorm2d(3), (4, 2, 5, 5), (f"{BN2} expected input of shape (N, 3, H, W)",
                                               "got shape (4, 2, 5, 5)")),
    (lambda: nn.Reshape(2, 3), (4, 7), ("Reshape(2, 3) expected input (N, ...) with 6 values per sample",
                                        "got shape (4, 7)")),
], ids=["dense", "conv", "convT", "bn1d", "bn2d", "reshape"])
def test_wrong_feature_or_channel_count(bk, make, shape, parts):
    layer = make()
    with raises(LayerInputError, *parts, start=True):
        layer.forward(rand(bk, *shape))


def test_kernel_larger_than_padded_input(bk):
    conv = nn.Conv2d(3, 8, 5, padding=1)
    with raises(LayerInputError, "Conv2d(3, 8, kernel_size=(5, 5), stride=(1, 1), padding=(1, 1), bias=True) "
                                 "expected input of shape (N, 3, H, W) with H + 2 >= 5 and W + 2 >= 5, got shape "
                                 "(2, 3, 2, 4)", start=True):
        conv.forward(rand(bk, 2, 3, 2, 4))
    # the boundary itself is fine: H + 2p == k gives a 1 x 1 output
    assert conv.forward(rand(bk, 2, 3, 3, 3)).shape == (2, 8, 1, 1)


def test_transposed_conv_with_no_output(bk):
    layer = nn.ConvTranspose2d(2, 3, 1, padding=1)  # (H - 1) - 2 + 1 = H - 2 rows out
    with raises(LayerInputError, "ConvTranspose2d(2, 3, kernel_size=(1, 1)",
                "with a positive output size, got shape (1, 2, 2, 2)", start=True):
        layer.forward(rand(bk, 1, 2, 2, 2))
    assert layer.forward(rand(bk, 1, 2, 3, 3)).shape == (1, 3, 1, 1)


# --------------------------------------------------------------------------------------------------------------
# dtype, type, values
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.bool_])
@pytest.mark.parametrize("make, shape", [
    (lambda: nn.Dense(4, 3), (2, 4)), (lambda: nn.Conv2d(3, 8, 3), (2, 3, 5, 5)), (lambda: nn.ReLU(), (2, 4)),
    (lambda: nn.BatchNorm1d(4), (2, 4)),
], ids=["dense", "conv", "relu", "bn1d"])
def test_non_float_dtype(bk, make, shape, dtype):
    layer = make()
    name = np.dtype(dtype).name
    with raises(LayerInputError, f"{layer!r} expected input", f"got dtype {name} (expected float32 or float64)",
                start=True):
        layer.forward(bk.asarray(np.ones(shape), dtype))


@pytest.mark.parametrize("make, shape", [
    (lambda: nn.Dense(4, 3), (2, 4)), (lambda: nn.Conv2d(3, 8, 3), (2, 3, 5, 5)),
    (lambda: nn.ConvTranspose2d(3, 2, 4, stride=2, padding=1), (2, 3, 3, 3)),
    (lambda: nn.BatchNorm2d(3), (2, 3, 4, 4)), (lambda: nn.BatchNorm1d(4, affine=False), (2, 4)),
], ids=["dense", "conv", "convT", "bn2d", "bn1d-no-affine"])
@pytest.mark.parametrize("layer_dtype, input_dtype", [(np.float32, np.float64), (np.float64, np.float32)],
                         ids=["f64-into-f32", "f32-into-f64"])
def test_float_dtype_mismatch(bk, make, shape, layer_dtype, input_dtype):
    backend.set_default_dtype(layer_dtype)
    layer = make()
    got, has = np.dtype(input_dtype).name, np.dtype(layer_dtype).name
    what = "statistics" if not layer.params else "parameters"  # BatchNorm without affine has only statistics
    with raises(LayerInputError, f"{layer!r} expected input", f"got dtype {got} while its {what} are {has}",
                start=True):
        layer.forward(rand(bk, *shape, dtype=input_dtype))
    assert layer.forward(rand(bk, *shape, dtype=layer_dtype)).dtype == layer_dtype


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("make, shape", [
    (lambda: nn.Dense(4, 3), (2, 4)), (lambda: nn.Conv2d(3, 8, 3), (2, 3, 5, 5)), (lambda: nn.Tanh(), (2, 4)),
    (lambda: nn.BatchNorm2d(3), (2, 3, 4, 4)),
], ids=["dense", "conv", "tanh", "bn2d"])
def test_non_finite_input(bk, make, shape, bad):
    layer = make()
    x = np.ones(shape, np.float32)
    x.flat[3] = bad
    with raises(NonFiniteInputError, f"{layer!r} got an input containing NaN or inf", start=True):
        layer.forward(bk.asarray(x))


def test_non_finite_input_to_sequential(bk):
    model = nn.Sequential(nn.Dense(4, 3), nn.ReLU())
    x = np.zeros((2, 4), np.float32)
    x[1, 2] = np.nan
    with raises(NonFiniteInputError, "Sequential(\n  (0): Dense(4, 3, bias=True)",
                "got an input containing NaN or inf", start=True):
        model.forward(bk.asarray(x))


def test_a_non_finite_input_is_told_by_its_type():
    """NaN/inf in a layer's input raises NonFiniteInputError: a LayerInputError (code that catches those keeps
    working) and a NonFiniteError (what the trainer takes for divergence). Other bad inputs are neither."""
    assert nn.LayerInputError is errors.LayerInputError  # one class, whichever module it is imported from
    assert issubclass(NonFiniteInputError, LayerInputError) and issubclass(NonFiniteInputError, NonFiniteError)
    assert issubclass(LayerInputError, ValueError) and issubclass(NonFiniteError, FloatingPointError)
    layer = nn.Dense(4, 3)
    with pytest.raises(LayerInputError) as info:
        layer.forward(np.full((2, 4), np.inf, np.float32))
    assert type(info.value) is NonFiniteInputError
    with pytest.raises(LayerInputError) as info:
        layer.forward(np.zeros((2, 5), np.float32))
    assert not isinstance(info.value, NonFiniteError)


@pytest.mark.parametrize("value", [[[1.0, 2.0, 3.0, 4.0]], ((1.0, 2.0, 3.0, 4.0),), 3.0],
                         ids=["list", "tuple", "float"])
def test_non_array_input(bk, value):
    layer = nn.Dense(4, 3)
    with raises(LayerInputError, "Dense(4, 3, bias=True) expected input of shape (N, 4), got an object of type "
                                 f"{type(value).__name__} (not a NumPy or CuPy array)", start=True):
        layer.forward(value)


def test_torch_tensor_input_is_not_an_array():
    torch = pytest.importorskip("torch")
    layer = nn.Dense(4, 3)
    with raises(LayerInputError, "Dense(4, 3, bias=True) expected input of shape (N, 4), got an object of type "
                                 "Tensor (not a NumPy or CuPy array)", start=True):
        layer.forward(torch.ones(2, 4))


# --------------------------------------------------------------------------------------------------------------
# backward
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda: nn.Dense(4, 3), lambda: nn.ReLU(), lambda: nn.BatchNorm1d(4), lambda: nn.Sequential(nn.Dense(4, 3)),
], ids=["dense", "relu", "bn1d", "seq"])
def test_backward_before_forward(bk, make):
    layer = make()
    with raises(RuntimeError, f"{layer!r}: backward called before forward (nothing cached)", start=True):
        layer.backward(rand(bk, 2, 4))


def test_backward_after_to_needs_a_new_forward(bk):
    layer = nn.Dense(4, 3)
    layer.forward(rand(bk, 2, 4))
    layer.to(dtype=np.float64)  # the cache held float32 arrays: it is dropped
    with raises(RuntimeError, "Dense(4, 3, bias=True): backward called before forward", start=True):
        layer.backward(rand(bk, 2, 3, dtype=np.float64))


@pytest.mark.parametrize("make, x_shape, dy_shape, out_shape", [
    (lambda: nn.Dense(4, 3), (2, 4), (2, 4), (2, 3)),
    (lambda: nn.Conv2d(3, 8, 3), (2, 3, 5, 5), (2, 8, 5, 5), (2, 8, 3, 3)),
    (lambda: nn.Flatten(), (2, 3, 4), (2, 3, 4), (2, 12)),
], ids=["dense", "conv", "flatten"])
def test_backward_with_wrong_dy_shape(bk, make, x_shape, dy_shape, out_shape):
    layer = make()
    layer.forward(rand(bk, *x_shape))
    with raises(LayerInputError, f"{layer!r}: backward got dy of shape {dy_shape}, expected the forward output's "
                                 f"shape {out_shape}", start=True):
        layer.backward(rand(bk, *dy_shape))


def test_backward_with_non_array_dy(bk):
    layer = nn.Dense(4, 3)
    layer.forward(rand(bk, 2, 4))
    with raises(LayerInputError, "Dense(4, 3, bias=True): backward got dy of type list, expected a NumPy or CuPy "
                                 "array of the forward output's shape (2, 3)", start=True):
        layer.backward([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])


# --------------------------------------------------------------------------------------------------------------
# inside a Sequential: the message names the layer's index and the layer
# --------------------------------------------------------------------------------------------------------------
def test_sequential_forward_error_names_layer_index_and_layer(bk):
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Dense(4 * 4 * 4, 10))
    with raises(LayerInputError, "Sequential layer 3: Dense(64, 10, bias=True) expected input of shape (N, 64), "
                                 "got shape (2, 100)", start=True):
        model.forward(rand(bk, 2, 1, 7, 7))  # 7x7 -> 5x5 after the convolution: 4*5*5 = 100 features
    with raises(LayerInputError, "Sequential layer 0: Conv2d(1, 4, kernel_size=(3, 3)", "got shape (2, 2, 6, 6)",
                start=True):
        model.forward(rand(bk, 2, 2, 6, 6))
    with raises(LayerInputError, "Sequential layer 0: Conv2d(1, 4,",
                "got dtype float64 while its parameters are float32", start=True):
        model.forward(rand(bk, 2, 1, 6, 6, dtype=np.float64))


def test_sequential_forward_error_from_inside_a_layer(bk):
    model = nn.Sequential(nn.Dense(4, 3), nn.BatchNorm1d(3))
    with raises(LayerInputError, f"Sequential layer 1: {BN1} needs more than one value per channel in training "
                                 "mode", start=True):
        model.forward(rand(bk, 1, 4))


def test_nested_sequential_error_names_both_indices(bk):
    model = nn.Sequential(nn.ReLU(), nn.Sequential(nn.Dense(4, 4), nn.Dense(5, 2)))
    with raises(LayerInputError, "Sequential layer 1: Sequential layer 1: Dense(5, 2, bias=True) expected input of "
                                 "shape (N, 5), got shape (3, 4)", start=True):
        model.forward(rand(bk, 3, 4))


def test_sequential_backward_error_names_layer_index_and_layer(bk):
    # a layer shared by two models keeps the cache of its latest forward; backward through the other model finds
    # it holds a different batch, and says which layer of the Sequential it is
    shared = nn.Dense(3, 2)
    a = nn.Sequential(nn.Dense(4, 3), shared, nn.ReLU())
    b = nn.Sequential(shared)
    a.forward(rand(bk, 8, 4))
    b.forward(rand(bk, 5, 3))
    with raises(LayerInputError, "Sequential layer 1: Dense(3, 2, bias=True): backward got dy of shape (8, 2), "
                                 "expected the forward output's shape (5, 2)", start=True):
        a.backward(rand(bk, 8, 2))


def test_sequential_backward_before_a_layer_forward(bk):
    model = nn.Sequential(nn.Dense(4, 3), nn.ReLU())
    model.forward(rand(bk, 2, 4))
    model[0].to(dtype=np.float32)  # clears that layer's cache only
    with raises(RuntimeError, "Sequential layer 0: Dense(4, 3, bias=True): backward called before forward",
                start=True):
        model.backward(rand(bk, 2, 3))


def test_sequential_backward_wrong_dy_shape(bk):
    model = nn.Sequential(nn.Dense(4, 3), nn.ReLU())
    model.forward(rand(bk, 2, 4))
    with raises(LayerInputError, "Sequential(\n  (0): Dense(4, 3, bias=True)",
                "backward got dy of shape (2, 4), expected the forward output's shape (2, 3)", start=True):
        model.backward(rand(bk, 2, 4))


# --------------------------------------------------------------------------------------------------------------
# BatchNorm: batch statistics need more than one value per channel
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make, shape", [
    (lambda: nn.BatchNorm1d(3), (1, 3)), (lambda: nn.BatchNorm1d(3), (1, 3, 1)),
    (lambda: nn.BatchNorm2d(3), (1, 3, 1, 1)),
], ids=["1d", "1d-L", "2d"])
def test_batchnorm_training_needs_more_than_one_value_per_channel(bk, make, shape):
    bn = make()
    before = {k: bk.to_numpy(v) for k, v in bn.state_dict().items()}
    with raises(LayerInputError, f"{bn!r} needs more than one value per channel in training mode, got input "
                                 f"{shape}", start=True):
        bn.forward(rand(bk, *shape))
    for k, v in bn.state_dict().items():  # the failed call did not touch the running statistics
        np.testing.assert_array_equal(bk.to_numpy(v), before[k])
    # in evaluation mode one sample is fine (running statistics), and so is a 1x1 map with a batch of 2
    assert bn.forward(rand(bk, *shape), train=False).shape == shape
    assert bn.forward(rand(bk, 2, *shape[1:])).shape == (2,) + shape[1:]


# --------------------------------------------------------------------------------------------------------------
# state dicts
# --------------------------------------------------------------------------------------------------------------
def test_load_state_dict_missing_and_unexpected_keys(bk):
    model = nn.Sequential(nn.Dense(4, 3), nn.BatchNorm1d(3))
    state = model.state_dict()
    del state["1.running_var"]
    with raises(KeyError, "Sequential.load_state_dict: missing keys ['1.running_var']"):
        model.load_state_dict(state)
    state = model.state_dict()
    state["2.weight"] = state["0.weight"]
    with raises(KeyError, "Sequential.load_state_dict: unexpected keys ['2.weight']"):
        model.load_state_dict(state)
    state = model.state_dict()
    state["weight"] = state.pop("0.weight")  # a twin's state dict, saved without the Sequential's prefix
    with raises(KeyError, "Sequential.load_state_dict: missing keys ['0.weight'], unexpected keys ['weight']"):
        model.load_state_dict(state)


def test_load_state_dict_on_a_single_layer_names_it(bk):
    layer = nn.Dense(4, 3)
    with raises(KeyError, "Dense(4, 3, bias=True).load_state_dict: missing keys ['bias']"):
        layer.load_state_dict({"weight": np.zeros((3, 4))})


def test_load_state_dict_wrong_shape_changes_nothing(bk):
    model = nn.Sequential(nn.Dense(4, 3), nn.Dense(3, 2))
    before = {k: bk.to_numpy(v) for k, v in model.state_dict().items()}
    state = {k: np.zeros(v.shape, np.float32) for k, v in before.items()}
    state["1.weight"] = np.zeros((3, 2), np.float32)  # transposed
    with raises(ValueError, "Sequential.load_state_dict: '1.weight' has shape (3, 2), expected (2, 3) (the weight "
                            "of Dense(3, 2, bias=True))", start=True):
        model.load_state_dict(state)
    for k, v in model.state_dict().items():  # checked before anything was copied: 0.weight was not zeroed
        np.testing.assert_array_equal(bk.to_numpy(v), before[k])


# --------------------------------------------------------------------------------------------------------------
# constructors
# --------------------------------------------------------------------------------------------------------------
RESHAPE = "Reshape needs positive integer sizes (per sample, without N), got "


@pytest.mark.parametrize("make, error, message", [
    (lambda: nn.Dense(0, 3), ValueError, "Dense needs positive sizes, got in=0, out=3"),
    (lambda: nn.Dense(4, -1), ValueError, "Dense needs positive sizes, got in=4, out=-1"),
    (lambda: nn.Conv2d(-3, 8, 3), ValueError, "Conv2d needs positive channel counts"),
    (lambda: nn.Conv2d(3, 0, 3), ValueError, "Conv2d needs positive channel counts"),
    (lambda: nn.Conv2d(3, 8, 0), ValueError, "kernel_size must be an int >= 1 or a pair of them, got 0"),
    (lambda: nn.Conv2d(3, 8, (3, -1)), ValueError,
     "kernel_size must be an int >= 1 or a pair of them, got (3, -1)"),
    (lambda: nn.Conv2d(3, 8, 3, stride=0), ValueError, "stride must be an int >= 1 or a pair of them, got 0"),
    (lambda: nn.Conv2d(3, 8, 3, padding=-1), ValueError, "padding must be an int >= 0 or a pair of them, got -1"),
    (lambda: nn.ConvTranspose2d(3, -8, 3), ValueError, "ConvTranspose2d needs positive channel counts"),
    (lambda: nn.ConvTranspose2d(3, 8, 4, stride=2, output_padding=2), ValueError,
     "ConvTranspose2d: output_padding (2, 2) must be smaller than stride (2, 2)"),
    (lambda: nn.ConvTranspose2d(3, 8, 4, stride=1, output_padding=1), ValueError,
     "ConvTranspose2d: output_padding (1, 1) must be smaller than stride (1, 1)"),
    (lambda: nn.ConvTranspose2d(3, 8, 4, stride=(2, 1), output_padding=(1, 1)), ValueError,
     "ConvTranspose2d: output_padding (1, 1) must be smaller than stride (2, 1)"),
    (lambda: nn.ConvTranspose2d(3, 8, 4, stride=2, output_padding=-1), ValueError,
     "output_padding must be an int >= 0 or a pair of them, got -1"),
    (lambda: nn.BatchNorm1d(0), ValueError, "BatchNorm1d needs num_features >= 1"),
    (lambda: nn.BatchNorm2d(-2), ValueError, "BatchNorm2d needs num_features >= 1"),
    (lambda: nn.Dropout(1.0), ValueError, "Dropout probability must be in [0, 1), got 1.0"),
    (lambda: nn.Dropout(-0.1), ValueError, "Dropout probability must be in [0, 1), got -0.1"),
    (lambda: nn.Dropout(1.5), ValueError, "Dropout probability must be in [0, 1), got 1.5"),
    (lambda: nn.Dropout(float("nan")), ValueError, "Dropout probability must be in [0, 1), got nan"),
    (lambda: nn.Reshape(0, 7), ValueError, RESHAPE + "(0, 7)"),
    (lambda: nn.Reshape(-1, 7, 7), ValueError, RESHAPE + "(-1, 7, 7)"),
    (lambda: nn.Reshape(), ValueError, RESHAPE + "()"),
    (lambda: nn.Reshape(2.5, 2), ValueError, RESHAPE + "(2.5, 2)"),
    (lambda: nn.Reshape(True), ValueError, RESHAPE + "(True,)"),
    (lambda: nn.Sequential(nn.ReLU(), np.tanh), TypeError, "Sequential: item 1 is a ufunc, not a minigan layer"),
], ids=lambda v: None if callable(v) or isinstance(v, type) else v[:40])
def test_bad_constructor_arguments(make, error, message):
    with raises(error, message):
        make()


def test_good_constructor_arguments_are_accepted():
    # the other side of the boundaries above
    assert nn.ConvTranspose2d(3, 8, 4, stride=2, output_padding=1).output_padding == (1, 1)
    assert nn.Dropout(0.0).p == 0.0
    assert nn.Dropout(0.999).p == 0.999
    assert nn.Reshape(np.int64(128), 7, 7).shape == (128, 7, 7)
    assert nn.Reshape((2, 3)).shape == (2, 3)


def test_to_rejects_a_non_float_dtype():
    with raises(ValueError, "Dense(4, 3, bias=True).to: dtype must be float32 or float64, got int32", start=True):
        nn.Dense(4, 3).to(dtype=np.int32)


# --------------------------------------------------------------------------------------------------------------
# backends (where CuPy and a GPU are available)
# --------------------------------------------------------------------------------------------------------------
@needs_cupy
def test_cupy_array_into_numpy_layer():
    import cupy

    backend.use("numpy")
    layer = nn.Conv2d(3, 8, 3)
    with raises(LayerInputError, f"{layer!r} expected input", "got a cupy array while its parameters live on numpy "
                "(move one with Module.to() or minigan.backend.to_backend())", start=True):
        layer.forward(cupy.ones((2, 3, 5, 5), dtype=np.float32))


@needs_cupy
def test_numpy_array_into_cupy_layer():
    previous = backend.name()
    backend.use("cupy")
    try:
        layer = nn.Dense(4, 3)
    finally:
        backend.use(previous)
    with raises(LayerInputError, "Dense(4, 3, bias=True) expected input of shape (N, 4), got a numpy array while "
                                 "its parameters live on cupy", start=True):
        layer.forward(np.ones((2, 4), np.float32))


@needs_cupy
def test_dy_from_the_other_backend():
    import cupy

    layer = nn.ReLU()  # no parameters: the forward's output says where backward runs
    layer.forward(cupy.ones((2, 4), dtype=np.float32))
    with raises(LayerInputError, "ReLU(): backward got a numpy dy, but forward ran on cupy", start=True):
        layer.backward(np.ones((2, 4), np.float32))
