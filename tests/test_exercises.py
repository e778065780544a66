"""The self-checking exercises (minigan/exercises.py) and the notebook's exercise and solution code.

A checker is only worth something if it accepts a correct answer and rejects wrong ones, so each is run

* on minigan's own layer and on the solution written in notebooks/01_layers_and_backprop.ipynb (the cells tagged
  "exercise" and "solution", executed here): it must pass and return its errors;
* on the notebook's stubs: NotImplementedError must come through unchanged (the notebook prints "not attempted
  yet" on it);
* on planted bugs, the mistakes learners make: each must raise AssertionError whose message names what is wrong.

torch is left out (use_torch=False) except in one test, which is skipped without torch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from minigan import nn
from minigan.exercises import (
    check_backward,
    check_dense_jvp,
    check_instance_norm_backward,
    check_kl_to_standard_normal,
    check_leaky_relu_backward,
    check_reflection_pad_backward,
    check_relu_backward,
    check_sigmoid_backward,
    check_tanh_backward,
    relative_error,
)

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01_layers_and_backprop.ipynb"
QUIET = {"verbose": False}
NO_TORCH = {"verbose": False, "use_torch": False}


@pytest.fixture(scope="module")
def notebook():
    """The namespace after running the notebook's cells tagged "exercise" (stubs) and "solution", in order."""
    namespace = {"np": np, "nn": nn}
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    tagged = [c for c in cells if {"exercise", "solution"} & set(c["metadata"].get("tags", []))]
    assert len(tagged) == 4, "the notebook should tag three exercise cells and one solution cell"
    for cell in tagged:
        exec("".join(cell["source"]), namespace)  # noqa: S102 - the repository's own notebook
    return namespace


# ---------------------------------------------------------------------------------------------------------------
# correct answers pass
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("check, cls", [
    (check_relu_backward, nn.ReLU),
    (check_leaky_relu_backward, nn.LeakyReLU),
    (check_tanh_backward, nn.Tanh),
    (check_sigmoid_backward, nn.Sigmoid),
    (check_dense_jvp, nn.Dense),
], ids=["relu", "leaky_relu", "tanh", "sigmoid", "dense_jvp"])
def test_minigans_own_layers_pass(check, cls):
    errors = check(cls, **({} if check is check_dense_jvp else {"use_torch": False}), verbose=False)
    assert errors and max(errors.values()) < 1e-6


@pytest.mark.parametrize("check, name", [
    (check_leaky_relu_backward, "LeakyReLUSolution"),
    (check_sigmoid_backward, "SigmoidSolution"),
    (check_dense_jvp, "DenseSolution"),
])
def test_the_notebooks_solutions_pass(notebook, check, name):
    kw = QUIET if check is check_dense_jvp else NO_TORCH
    assert max(check(notebook[name], **kw).values()) < 1e-6


@pytest.mark.parametrize("check, name", [
    (check_leaky_relu_backward, "MyLeakyReLU"),
    (check_sigmoid_backward, "MySigmoid"),
    (check_dense_jvp, "MyDense"),
])
def test_the_notebooks_stubs_are_not_attempted(notebook, check, name):
    kw = QUIET if check is check_dense_jvp else NO_TORCH
    with pytest.raises(NotImplementedError):
        check(notebook[name], **kw)


def test_the_generic_check_on_a_layer_with_parameters():
    errors = check_backward(lambda: nn.Dense(4, 3), lambda: nn.Dense(4, 3), (5, 4), **NO_TORCH)
    assert {"gradient of weight vs central differences", "gradient of bias vs minigan's Dense"} <= set(errors)


def test_the_verdict_is_printed(capsys):
    check_sigmoid_backward(nn.Sigmoid, use_torch=False)
    out = capsys.readouterr().out
    assert "gradient of input vs central differences" in out and out.rstrip().endswith("CORRECT")


# ---------------------------------------------------------------------------------------------------------------
# wrong answers fail, saying what is wrong
# ---------------------------------------------------------------------------------------------------------------
class _LeakyFromInput(nn.LeakyReLU):
    """The notebook's exercise (a) setting: forward caches x in self._x."""

    def _forward(self, x, train):
        self._x = x
        return np.where(x > 0, x, self.negative_slope * x)


class LeakySlopeOnTheWrongSide(_LeakyFromInput):
    def _backward(self, dy, param_grads, input_grad):
        return dy * np.where(self._x > 0, self.negative_slope, 1.0)


class LeakyHardCodedSlope(_LeakyFromInput):
    def _backward(self, dy, param_grads, input_grad):
        return dy * np.where(self._x > 0, 1.0, 0.01)  # PyTorch's default, not self.negative_slope


class LeakyAsReLU(_LeakyFromInput):
    def _backward(self, dy, param_grads, input_grad):
        return dy * (self._x > 0)


class LeakyOtherConventionAtZero(_LeakyFromInput):
    def _backward(self, dy, param_grads, input_grad):
        return dy * np.where(self._x >= 0, 1.0, self.negative_slope)  # right everywhere but at x = 0


class LeakyInPlace(_LeakyFromInput):
    def _backward(self, dy, param_grads, input_grad):
        dy *= np.where(self._x > 0, 1.0, self.negative_slope)
        return dy


class LeakyWrongShape(_LeakyFromInput):
    def _backward(self, dy, param_grads, input_grad):
        return (dy * np.where(self._x > 0, 1.0, self.negative_slope)).sum(axis=0)


class SigmoidFromTheInput(nn.Sigmoid):
    def _forward(self, x, train):
        self._x = x
        return super()._forward(x, train)

    def _backward(self, dy, param_grads, input_grad):
        return dy * self._x * (1 - self._x)


class SigmoidForgetsDy(nn.Sigmoid):
    def _backward(self, dy, param_grads, input_grad):
        y = self._cache
        return y * (1 - y)


class SigmoidWrongSign(nn.Sigmoid):
    def _backward(self, dy, param_grads, input_grad):
        y = self._cache
        return dy * y * (y - 1)


class TanhAsSigmoid(nn.Tanh):
    def _backward(self, dy, param_grads, input_grad):
        y = self._cache
        return dy * y * (1 - y)


class ReLUPassesEverything(nn.ReLU):
    def _backward(self, dy, param_grads, input_grad):
        return dy.copy()


@pytest.mark.parametrize("check, cls, says", [
    (check_leaky_relu_backward, LeakySlopeOnTheWrongSide, "gradient of input vs central differences"),
    (check_leaky_relu_backward, LeakyHardCodedSlope, "gradient of input vs central differences"),
    (check_leaky_relu_backward, LeakyAsReLU, "where the input is -"),
    (check_leaky_relu_backward, LeakyOtherConventionAtZero, "exactly on a kink"),
    (check_leaky_relu_backward, LeakyInPlace, "changed dy in place"),
    (check_leaky_relu_backward, LeakyWrongShape, "the input's shape (4, 6)"),
    (check_sigmoid_backward, SigmoidFromTheInput, "gradient of input vs central differences"),
    (check_sigmoid_backward, SigmoidForgetsDy, "gradient of input vs minigan's Sigmoid"),
    (check_sigmoid_backward, SigmoidWrongSign, "relative error 2.0e+00"),
    (check_tanh_backward, TanhAsSigmoid, "gradient of input vs central differences"),
    (check_relu_backward, ReLUPassesEverything, "gradient of input vs central differences"),
], ids=lambda v: v.__name__ if isinstance(v, type) else None)
def test_planted_backward_bugs_are_caught(check, cls, says):
    with pytest.raises(AssertionError, match="backward is wrong") as info:
        check(cls, **NO_TORCH)
    assert says in str(info.value)
    assert "OK" not in str(info.value)


def test_the_convention_at_the_kink_is_invisible_to_central_differences():
    """LeakyOtherConventionAtZero is right everywhere but at 0: only the comparison with minigan's layer, on an
    input holding exact zeros, sees it (which is why the check makes that comparison)."""
    with pytest.raises(AssertionError) as info:
        check_leaky_relu_backward(LeakyOtherConventionAtZero, **NO_TORCH)
    message = str(info.value)
    assert "vs central differences" not in message and "vs minigan's LeakyReLU" in message


class DenseBackwardNoBias(nn.Dense):
    def _backward(self, dy, param_grads, input_grad):
        if param_grads:
            self._grads["weight"] += dy.T @ self._x
        return dy @ self._params["weight"]


def test_the_generic_check_names_the_wrong_parameter():
    with pytest.raises(AssertionError) as info:
        check_backward(lambda: DenseBackwardNoBias(4, 3), lambda: nn.Dense(4, 3), (5, 4), **NO_TORCH)
    failures = str(info.value).splitlines()[1:]
    assert failures and all("gradient of bias" in line for line in failures)


# planted bugs in Dense._jvp: each is the reference formula with one slip
class JvpAddsTheBias(nn.Dense):
    def _jvp(self, g, t):
        self._grads["weight"] += g.T @ t
        return t @ self.params["weight"].T + self.params["bias"]


class JvpTransposesW(nn.Dense):
    def _jvp(self, g, t):
        self._grads["weight"] += g.T @ t
        return t @ self.params["weight"]


class JvpWeightGradientTransposed(nn.Dense):
    def _jvp(self, g, t):
        self._grads["weight"] += t.T @ g
        return t @ self.params["weight"].T


class JvpForgetsTheWeightGradient(nn.Dense):
    def _jvp(self, g, t):
        return t @ self.params["weight"].T


class JvpWeightGradientFromTheInput(nn.Dense):
    def _jvp(self, g, t):
        self._grads["weight"] += g.T @ self._x  # the cached input x, where the tangent t belongs
        return t @ self.params["weight"].T


class JvpGivesTheBiasAGradient(nn.Dense):
    def _jvp(self, g, t):
        self._grads["weight"] += g.T @ t
        self._grads["bias"] += g.sum(axis=0)
        return t @ self.params["weight"].T


class JvpOverwrites(nn.Dense):
    def _jvp(self, g, t):
        self._grads["weight"][...] = g.T @ t
        return t @ self.params["weight"].T


@pytest.mark.parametrize("cls, size, says", [
    (JvpAddsTheBias, (4, 3), "J t vs the forward pass's difference"),
    (JvpTransposesW, (4, 3), "_jvp raised ValueError"),
    (JvpTransposesW, (3, 3), "J t vs the forward pass's difference"),
    (JvpWeightGradientTransposed, (3, 3), "weight gradient vs central differences"),
    (JvpForgetsTheWeightGradient, (4, 3), "weight gradient vs central differences"),
    (JvpWeightGradientFromTheInput, (4, 3), "weight gradient vs central differences"),
    (JvpGivesTheBiasAGradient, (4, 3), "bias gradient vs central differences"),
    (JvpOverwrites, (4, 3), "must ADD"),
], ids=lambda v: v.__name__ if isinstance(v, type) else None)
def test_planted_jvp_bugs_are_caught(cls, size, says):
    with pytest.raises(AssertionError, match="Dense _jvp is wrong") as info:
        check_dense_jvp(cls, *size, **QUIET)
    assert says in str(info.value)


def test_a_wrong_jvp_gives_a_wrong_penalty_gradient():
    """The end-to-end part: the WGAN-GP penalty gradient of a critic built from the learner's class."""
    with pytest.raises(AssertionError) as info:
        check_dense_jvp(JvpWeightGradientFromTheInput, **QUIET)
    assert "WGAN-GP penalty gradient" in str(info.value)


def test_relative_error():
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert relative_error([1.0, 2.0], [1.0, 1.0]) == pytest.approx(0.5)
    assert relative_error([1e-9, 0.0], [2e-9, 0.0]) == pytest.approx(0.5)  # scale-free


# ---------------------------------------------------------------------------------------------------------------
# the optional comparison with torch
# ---------------------------------------------------------------------------------------------------------------
def test_the_torch_comparison():
    pytest.importorskip("torch")
    errors = check_sigmoid_backward(nn.Sigmoid, use_torch=True, verbose=False)
    assert errors["gradient of input vs torch"] < 1e-10
    errors = check_backward(lambda: nn.Dense(4, 3), lambda: nn.Dense(4, 3), (5, 4), use_torch=True, verbose=False)
    assert errors["gradient of weight vs torch"] < 1e-10
    errors = check_leaky_relu_backward(nn.LeakyReLU, use_torch=True, verbose=False)  # exact zeros included
    assert errors["gradient of input vs torch"] == 0.0
    with pytest.raises(AssertionError, match="gradient of input vs torch"):
        check_sigmoid_backward(SigmoidForgetsDy, use_torch=True, verbose=False)


def test_a_wrong_torch_twin_is_not_blamed_on_the_learner(monkeypatch):
    """When minigan's own layer and its torch twin disagree, torch cannot judge the learner's code: the check
    says where the fault lies instead of reporting the learner's (correct) gradient as wrong."""
    torch = pytest.importorskip("torch")
    import minigan.lab.torch_twin

    monkeypatch.setattr(minigan.lab.torch_twin, "torch_twin",
                        lambda net, dtype=None: torch.nn.LeakyReLU(0.01).to(dtype))  # the slope dropped
    with pytest.raises(AssertionError, match="minigan's own LeakyReLU disagrees with its torch twin") as info:
        check_leaky_relu_backward(nn.LeakyReLU, use_torch=True, verbose=False)
    assert "vs torch" not in str(info.value)


# ---------------------------------------------------------------------------------------------------------------
# the exercises of notebooks 03-08: each checker accepts minigan's own function and the notebook's solution, lets
# the notebook's stub through as NotImplementedError, and rejects planted wrong answers saying what is wrong
# ---------------------------------------------------------------------------------------------------------------
from minigan import backend, losses, optim  # the section's own imports
from minigan.exercises import (
    check_clip_weights,
    check_conv_transpose_output_size,
    check_frechet_1d,
    check_generator_loss,
    check_one_hot,
    check_split_labels,
)
from minigan.metrics.image_metrics import frechet_distance
from minigan.train.cgan import one_hot, split_labels

NOTEBOOKS = NOTEBOOK.parent
EXERCISE_NOTEBOOKS = {  # notebook: (stub names, solution names)
    "03_mlp_gan_mnist": (["my_generator_loss"], ["generator_loss_solution"]),
    "04_dcgan": (["my_conv_transpose_output_size"], ["conv_transpose_output_size_solution"]),
    "05_wasserstein": (["my_clip_weights"], ["clip_weights_solution"]),
    "06_conditional_gan": (["my_one_hot", "my_split_labels"], ["one_hot_solution", "split_labels_solution"]),
    "08_evaluating_gans": (["my_frechet_1d"], ["frechet_1d_solution"]),
    "10_image_to_image": (["MyReflectionPad2d", "MyInstanceNorm2d"],
                          ["ReflectionPad2dSolution", "InstanceNorm2dSolution"]),
    "11_stackgan": (["my_kl_to_standard_normal"], ["kl_to_standard_normal_solution"]),
}
CHECKS = {  # stub or solution name: its checker
    "my_generator_loss": check_generator_loss, "generator_loss_solution": check_generator_loss,
    "my_conv_transpose_output_size": check_conv_transpose_output_size,
    "conv_transpose_output_size_solution": check_conv_transpose_output_size,
    "my_clip_weights": check_clip_weights, "clip_weights_solution": check_clip_weights,
    "my_one_hot": check_one_hot, "one_hot_solution": check_one_hot,
    "my_split_labels": check_split_labels, "split_labels_solution": check_split_labels,
    "my_frechet_1d": check_frechet_1d, "frechet_1d_solution": check_frechet_1d,
    "MyReflectionPad2d": check_reflection_pad_backward, "ReflectionPad2dSolution": check_reflection_pad_backward,
    "MyInstanceNorm2d": check_instance_norm_backward, "InstanceNorm2dSolution": check_instance_norm_backward,
    "my_kl_to_standard_normal": check_kl_to_standard_normal,
    "kl_to_standard_normal_solution": check_kl_to_standard_normal,
}


@pytest.fixture(scope="module")
def exercise_notebooks():
    """{notebook: namespace after running its cells tagged "exercise" (the stub) and "solution", in order}."""
    out = {}
    for name in EXERCISE_NOTEBOOKS:
        namespace = {"np": np, "nn": nn}
        cells = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text())["cells"]
        tagged = [c for c in cells if {"exercise", "solution"} & set(c["metadata"].get("tags", []))]
        assert [c["metadata"]["tags"] for c in tagged] == [["exercise"], ["solution"]], name
        for cell in tagged:
            exec("".join(cell["source"]), namespace)  # noqa: S102 - the repository's own notebook
        out[name] = namespace
    return out


def _sigmoid(t):
    return 1 / (1 + np.exp(-t))


@pytest.mark.parametrize("check, fn", [
    (check_generator_loss, losses.generator_non_saturating),
    (check_conv_transpose_output_size,
     lambda h, k, s, p, op: nn.ConvTranspose2d(1, 1, k, stride=s, padding=p, output_padding=op).output_hw(h, h)[0]),
    (check_clip_weights, optim.clip_weights),
    (check_one_hot, lambda y, k: backend.to_numpy(one_hot(y, k, np.float64))),
    (check_split_labels, lambda g, x_shape: split_labels(g, x_shape, "vector")),
    (check_frechet_1d, lambda m1, v1, m2, v2: frechet_distance([m1], [[v1]], [m2], [[v2]])),
], ids=["generator_loss", "conv_transpose_size", "clip_weights", "one_hot", "split_labels", "frechet_1d"])
def test_the_new_checkers_accept_minigans_own_functions(check, fn):
    errors = check(fn, **QUIET)
    assert errors and max(errors.values()) < 1e-6


@pytest.mark.parametrize("notebook", EXERCISE_NOTEBOOKS)
def test_the_notebooks_03_to_08_solutions_pass(exercise_notebooks, notebook):
    for name in EXERCISE_NOTEBOOKS[notebook][1]:
        errors = CHECKS[name](exercise_notebooks[notebook][name], **QUIET)
        assert errors and max(errors.values()) < 1e-6, name


@pytest.mark.parametrize("notebook", EXERCISE_NOTEBOOKS)
def test_the_notebooks_03_to_08_stubs_are_not_attempted(exercise_notebooks, notebook):
    for name in EXERCISE_NOTEBOOKS[notebook][0]:
        with pytest.raises(NotImplementedError):
            CHECKS[name](exercise_notebooks[notebook][name], **QUIET)


def test_a_new_verdict_is_printed(capsys):
    check_frechet_1d(lambda m1, v1, m2, v2: (m1 - m2) ** 2 + (np.sqrt(v1) - np.sqrt(v2)) ** 2)
    out = capsys.readouterr().out
    assert "agree with minigan's frechet_distance" in out and out.rstrip().endswith("CORRECT")


def test_the_layer_building_checks_leave_minigans_random_stream_alone():
    """check_conv_transpose_output_size and check_clip_weights build layers (whose initialisation draws from
    minigan's generator) under a private seed: a check run in a notebook does not change its later training."""
    backend.seed(123)
    expected = backend.rng().uniform(0, 1, (3,), np.float64)
    backend.seed(123)
    check_conv_transpose_output_size(lambda h, k, s, p, op: (h - 1) * s - 2 * p + k + op, **QUIET)
    check_clip_weights(optim.clip_weights, **QUIET)
    assert np.array_equal(backend.rng().uniform(0, 1, (3,), np.float64), expected)


# planted wrong answers: the slips learners make
def loss_as_written(f):  # right for ordinary logits, log(0) at f = -800
    sigma = _sigmoid(f)
    return -np.log(sigma).mean(), -(1 - sigma) / f.shape[0]


def loss_gradient_without_the_mean(f):
    return np.logaddexp(0, -f).mean(), -_sigmoid(-f)


def loss_saturating(f):
    return -np.logaddexp(0, f).mean(), -_sigmoid(f) / f.shape[0]


def loss_gradient_with_the_wrong_sign(f):
    return np.logaddexp(0, -f).mean(), _sigmoid(-f) / f.shape[0]


def loss_per_sample(f):
    return np.logaddexp(0, -f), -_sigmoid(-f) / f.shape[0]


def size_of_conv2d(h, k, s, p, op):
    return (h + 2 * p - k) // s + 1


def size_without_output_padding(h, k, s, p, op):
    return (h - 1) * s - 2 * p + k


def size_as_float(h, k, s, p, op):
    return float((h - 1) * s - 2 * p + k + op)


def clip_rebinding(model, c):
    for p in model.params.values():
        p = np.clip(p, -c, c)  # the planted bug: rebinds the name p


def clip_weights_only(model, c):
    for name, p in model.params.items():
        if name.endswith("weight"):
            np.clip(p, -c, c, out=p)


def clip_by_rescaling(model, c):
    for p in model.params.values():
        p *= c / np.abs(p).max()


def clip_hard_coded(model, c):
    for p in model.params.values():
        np.clip(p, -0.01, 0.01, out=p)


def clip_into_new_arrays(model, c):
    for _, module in model.named_modules():
        for name in module._params:
            module._params[name] = np.clip(module._params[name], -c, c)


def one_hot_off_by_one(y, k):
    return np.eye(k)[y - 1]


def one_hot_transposed(y, k):
    return np.eye(k)[:, y]


def one_hot_bool(y, k):
    return y[:, None] == np.arange(k)


def split_the_label_end(g, x_shape):
    return g[:, -int(np.prod(x_shape[1:])):].reshape(x_shape)


def split_without_reshape(g, x_shape):
    return g[:, :int(np.prod(x_shape[1:]))]


def split_as_maps(g, x_shape):
    return g[:, :x_shape[1]]


def frechet_with_variances_as_sigmas(m1, v1, m2, v2):
    return (m1 - m2) ** 2 + (v1 - v2) ** 2


def frechet_without_the_root(m1, v1, m2, v2):
    return (m1 - m2) ** 2 + v1 + v2 - 2 * v1 * v2


def frechet_not_squared(m1, v1, m2, v2):
    return np.sqrt((m1 - m2) ** 2 + v1 + v2 - 2 * np.sqrt(v1 * v2))


def frechet_means_only(m1, v1, m2, v2):
    return (m1 - m2) ** 2


PLANTED = [
    (check_generator_loss, loss_as_written, "generator loss", "log(0) = -inf"),
    (check_generator_loss, loss_gradient_without_the_mean, "generator loss", "the 1/m of the mean is missing"),
    (check_generator_loss, loss_saturating, "generator loss", "this is the saturating loss"),
    (check_generator_loss, loss_gradient_with_the_wrong_sign, "generator loss", "dL_G/df < 0"),
    (check_generator_loss, loss_per_sample, "generator loss", "the mean over the batch"),
    (check_conv_transpose_output_size, size_of_conv2d, "output size", "Conv2d's output size"),
    (check_conv_transpose_output_size, size_without_output_padding, "output size", "output_padding is missing"),
    (check_conv_transpose_output_size, size_as_float, "output size", "must be an int"),
    (check_clip_weights, clip_rebinding, "clip_weights", "did not change"),
    (check_clip_weights, clip_weights_only, "clip_weights", "biases included"),
    (check_clip_weights, clip_by_rescaling, "clip_weights", "not rescaling"),
    (check_clip_weights, clip_hard_coded, "clip_weights", "use the argument c"),
    (check_clip_weights, clip_into_new_arrays, "clip_weights", "are new arrays"),
    (check_one_hot, one_hot_off_by_one, "one_hot", "a single 1, in column y[n]"),
    (check_one_hot, one_hot_transposed, "one_hot", "one row per label"),
    (check_one_hot, one_hot_bool, "one_hot", "dtype bool"),
    (check_split_labels, split_the_label_end, "split_labels", "puts flatten(x) FIRST"),
    (check_split_labels, split_without_reshape, "split_labels", "now reshape it"),
    (check_split_labels, split_as_maps, "split_labels", "'maps' joining"),
    (check_frechet_1d, frechet_with_variances_as_sigmas, "Frechet", "as if they were standard deviations"),
    (check_frechet_1d, frechet_without_the_root, "Frechet", "needs the square root"),
    (check_frechet_1d, frechet_not_squared, "Frechet", "its SQUARE"),
    (check_frechet_1d, frechet_means_only, "Frechet", "spread term is missing"),
]


@pytest.mark.parametrize("check, fn, title, says", PLANTED, ids=[case[1].__name__ for case in PLANTED])
def test_planted_bugs_in_the_exercises_of_notebooks_03_to_08_are_caught(check, fn, title, says):
    with pytest.raises(AssertionError, match=f"{title}.* is wrong") as info:
        check(fn, **QUIET)
    assert says in str(info.value)


def test_a_wrong_answer_that_raises_is_reported_not_crashed():
    def broken(f):
        return f.nonexistent

    with pytest.raises(AssertionError, match="raised AttributeError"):
        check_generator_loss(broken, **QUIET)


# ---------------------------------------------------------------------------------------------------------------
# notebook 10's layers: reflection padding and instance normalisation
# ---------------------------------------------------------------------------------------------------------------
class PadCropsOnly(nn.ReflectionPad2d):
    """Keeps the middle of dy and drops the border gradients (the values copied into the border get none)."""

    def _backward(self, dy, param_grads, input_grad):
        left, right, top, bottom = self.padding
        return dy[:, :, top : dy.shape[2] - bottom, left : dy.shape[3] - right].copy()


class PadSidesSwapped(nn.ReflectionPad2d):
    """Folds the rows with the columns' padding: right only when every side is the same."""

    def _backward(self, dy, param_grads, input_grad):
        from minigan.nn.padding import fold

        left, right, top, bottom = self.padding
        return fold(fold(dy, 2, left, right), 3, top, bottom)


class InstanceNormStatisticsAsConstants(nn.InstanceNorm2d):
    """dx = dy / sigma: forgets that mu and var depend on x."""

    def _backward(self, dy, param_grads, input_grad):
        return dy * self._inv_std


class InstanceNormWithBatchNormMeans(nn.InstanceNorm2d):
    """BatchNorm's means over (N, H, W) instead of (H, W)."""

    def _backward(self, dy, param_grads, input_grad):
        x_hat = self._normalized()
        mean = dy.mean(axis=(0, 2, 3), keepdims=True)
        mean_xhat = (dy * x_hat).mean(axis=(0, 2, 3), keepdims=True)
        return self._inv_std * (dy - mean - x_hat * mean_xhat)


def test_notebook_10s_checkers_pass_minigans_own_layers():
    from minigan.exercises import check_instance_norm_backward, check_reflection_pad_backward

    for check, cls in ((check_reflection_pad_backward, nn.ReflectionPad2d),
                       (check_instance_norm_backward, nn.InstanceNorm2d)):
        errors = check(cls, **NO_TORCH)
        assert errors and max(errors.values()) < 1e-6


@pytest.mark.parametrize("cls", [PadCropsOnly, PadSidesSwapped, InstanceNormStatisticsAsConstants,
                                 InstanceNormWithBatchNormMeans], ids=lambda c: c.__name__)
def test_notebook_10s_planted_bugs_are_caught(cls):
    from minigan.exercises import check_instance_norm_backward, check_reflection_pad_backward

    check = check_reflection_pad_backward if issubclass(cls, nn.ReflectionPad2d) else check_instance_norm_backward
    with pytest.raises(AssertionError, match="gradient of input vs central differences"):
        check(cls, **NO_TORCH)


# ---------------------------------------------------------------------------------------------------------------
# notebook 11: StackGAN's KL term
# ---------------------------------------------------------------------------------------------------------------
def _kl(mu, s):
    return (-s + 0.5 * (np.exp(2 * s) + mu * mu - 1)).mean()


def kl_right(mu, s):
    return _kl(mu, s), mu / mu.size, (np.exp(2 * s) - 1) / mu.size


def kl_summed(mu, s):
    return _kl(mu, s) * mu.size, mu, np.exp(2 * s) - 1


def kl_sigma_for_variance(mu, s):
    return (-s + 0.5 * (np.exp(s) + mu * mu - 1)).mean(), mu / mu.size, (0.5 * np.exp(s) - 1) / mu.size


def kl_gradient_sign(mu, s):
    return _kl(mu, s), mu / mu.size, (1 - np.exp(2 * s)) / mu.size


def test_the_kl_checker_passes_the_formula():
    errors = check_kl_to_standard_normal(kl_right, **QUIET)
    assert max(errors.values()) < 1e-6


@pytest.mark.parametrize("fn, says", [(kl_summed, "you summed"), (kl_sigma_for_variance, "exp(2 log sigma)"),
                                      (kl_gradient_sign, "d_log_sigma vs the derivative")],
                         ids=["summed", "sigma_for_variance", "gradient_sign"])
def test_the_kl_checker_catches_planted_bugs(fn, says):
    with pytest.raises(AssertionError, match="is wrong") as info:
        check_kl_to_standard_normal(fn, **QUIET)
    assert says in str(info.value)
