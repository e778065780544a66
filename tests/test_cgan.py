"""The conditional GAN trainer (minigan/train/cgan.py, Mirza & Osindero 2014).

* one_hot, label checks, and joining / splitting: the split is the exact adjoint of the join (a slice).
* Structure: k D steps per G step; the G step leaves D's parameters and gradients untouched.
* The gradient each optimizer step receives is the gradient of that step's loss, by central differences in
  float64 on the very batches, noise and fake labels the step drew, for both ways D takes the label ("vector":
  [flatten(x), onehot(y)], "maps": [x, onehot(y) as constant channels]) and both generator losses.
* The label conditions: a tiny CGAN on four labelled 2D Gaussians (class c = mode c, at angle 2 pi c / 4 on the
  unit circle, std 0.05), 600 iterations (~1 s on one core), then 500 samples per label. Seen: every sample with
  label c lands nearest mode c (fraction 1.00 for every class, in each of 10 seeds tried) at a mean distance of
  0.02-0.16 from it (modes are 1.41 apart). Control: the same run with labels drawn independently of the modes
  gives fractions averaging 0.23-0.31 over 5 seeds (chance is 0.25), so the assertion is not satisfied by
  construction.
* sample(n, labels=...) draws the classes asked for and refuses labels out of range, non-integer or of the wrong
  length; a registry entry trains for an iteration.
"""

from __future__ import annotations

import numpy as np
import pytest

from minigan import backend, losses, optim
from minigan.gradcheck import check_gradients
from minigan.models import MODELS, cgan_mlp_discriminator, cgan_mlp_generator, mlp
from minigan.nn import (
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    ConvTranspose2d,
    Dense,
    Flatten,
    LeakyReLU,
    ReLU,
    Reshape,
    Sequential,
    Tanh,
)
from minigan.train import CGAN, one_hot
from minigan.train.cgan import check_labels, join_labels, split_labels

K = 3


# ---------------------------------------------------------------------------------------------------------------
# one_hot, labels, joining
# ---------------------------------------------------------------------------------------------------------------
def test_one_hot(bk):
    c = one_hot([2, 0, 1, 2], 3, np.float64)
    assert backend.backend_of(c) == bk.name and c.dtype == np.float64
    np.testing.assert_array_equal(bk.to_numpy(c), [[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    assert one_hot(np.array([1]), 2).dtype == backend.default_dtype()


@pytest.mark.parametrize("labels, match", [
    ([0, 3], "label 3 is out of range; the classes are 0 .. 2"),
    ([-1, 0], "label -1 is out of range"),
    ([0.0, 1.0], "must be integers"),
    ([True, False], "must be integers"),
    ([[0, 1]], r"shape \(N,\)"),
])
def test_one_hot_refuses_bad_labels(labels, match):
    with pytest.raises(ValueError, match=match):
        one_hot(labels, 3)


@pytest.mark.parametrize("how, x_shape, joined_shape", [
    ("vector", (4, 1, 3, 3), (4, 9 + K)),
    ("vector", (4, 2), (4, 2 + K)),
    ("maps", (4, 2, 5, 5), (4, 2 + K, 5, 5)),
])
def test_join_and_its_adjoint(bk, how, x_shape, joined_shape):
    """join(x, c) is x next to a constant, so d/dx sum(join(x, c) * g) = split(g) exactly, for any g."""
    rng = np.random.default_rng(0)
    x = bk.asarray(rng.standard_normal(x_shape))
    c = one_hot([0, 2, 1, 1], K, np.float64)
    joined = join_labels(x, c, how)
    assert tuple(joined.shape) == joined_shape
    np.testing.assert_array_equal(bk.to_numpy(split_labels(joined, x.shape, how)), bk.to_numpy(x))
    if how == "maps":  # channel C + k is constant, equal to c[:, k]
        np.testing.assert_array_equal(bk.to_numpy(joined[:, x_shape[1]:]),
                                      np.broadcast_to(bk.to_numpy(c)[:, :, None, None], (4, K, 5, 5)))
    else:
        np.testing.assert_array_equal(bk.to_numpy(joined[:, -K:]), bk.to_numpy(c))
    g = bk.asarray(rng.standard_normal(joined_shape))
    x_np = bk.to_numpy(x)
    base = float((join_labels(x, c, how) * g).sum())
    x2 = x_np.copy()
    x2.flat[5] += 1.0  # linear in x: a unit step changes the sum by exactly the gradient entry (up to round-off)
    step = float((join_labels(bk.asarray(x2), c, how) * g).sum()) - base
    assert abs(step - float(bk.to_numpy(split_labels(g, x.shape, how)).flat[5])) < 1e-12


def test_check_labels_accepts_one_int_for_all():
    np.testing.assert_array_equal(backend.to_numpy(check_labels(2, 3, n=4)), [2, 2, 2, 2])
    with pytest.raises(ValueError, match=r"shape \(4,\), got \(3,\)"):
        check_labels([0, 1, 2], 3, n=4)


# ---------------------------------------------------------------------------------------------------------------
# tiny trainers
# ---------------------------------------------------------------------------------------------------------------
NZ = 2
IMAGE = (1, 4, 4)


def tiny_models(how: str):
    """"vector": the zoo's conditional MLPs at tiny widths (Dropout off so the check can repeat D);
    "maps": a small conv G (with BatchNorm) and a conv D (with BatchNorm) on 4x4 images."""
    if how == "vector":
        G = cgan_mlp_generator(n_classes=K, nz=NZ, hidden=(4,), image_shape=IMAGE)
        D = cgan_mlp_discriminator(n_classes=K, hidden=(5,), image_shape=IMAGE, dropout=0.0)
    else:
        G = Sequential(Dense(NZ + K, 8), BatchNorm1d(8), ReLU(), Reshape(2, 2, 2),
                       ConvTranspose2d(2, 1, 4, 2, 1), Tanh())
        D = Sequential(Conv2d(1 + K, 2, 4, 2, 1), BatchNorm2d(2), LeakyReLU(0.2), Flatten(), Dense(8, 1))
    return G, D


def make(how="vector", seed=0, m=5, k=1, lr=1e-3, **kwargs):
    backend.seed(seed)
    G, D = tiny_models(how)
    return CGAN(G, D, optim.Adam(G, lr, (0.5, 0.999)), optim.Adam(D, lr, (0.5, 0.999)), nz=NZ, m=m, k=k,
                seed=seed, n_classes=K, **kwargs)


def labelled_images(seed=1):
    rng = np.random.default_rng(seed)
    dtype = backend.default_dtype()
    return lambda m: (np.tanh(rng.standard_normal((m,) + IMAGE)).astype(dtype), rng.integers(0, K, m))


def snapshot(module) -> dict:
    return {k: backend.to_numpy(v).copy() for k, v in module.params.items()}


def grads_snapshot(module) -> dict:
    return {k: backend.to_numpy(v).copy() for k, v in module.grads.items()}


def test_d_labels_auto_detection_and_constructor_checks():
    assert make("vector").d_labels == "vector"
    assert make("maps").d_labels == "maps"
    G, D = tiny_models("vector")
    with pytest.raises(ValueError, match=r"takes 5 inputs, but G is fed \[z, onehot\(y\)\] of nz \+ n_classes"):
        CGAN(G, D, optim.Adam(G), optim.Adam(D), nz=NZ, n_classes=4)
    with pytest.raises(ValueError, match="n_classes"):
        CGAN(G, D, optim.Adam(G), optim.Adam(D), nz=NZ + K - 1, n_classes=1)
    with pytest.raises(ValueError, match="d_labels"):
        make("vector", d_labels="embedding")
    with pytest.raises(ValueError, match="cannot tell how D takes labels"):
        CGAN(G, Sequential(Flatten(), Dense(16 + K, 1)), optim.Adam(G), optim.Adam(D), nz=NZ, n_classes=K)


@pytest.mark.parametrize("k", [1, 3])
def test_k_discriminator_steps_per_generator_step(monkeypatch, k):
    trainer = make(k=k)
    log = []
    for opt, tag in ((trainer.opt_D, "D"), (trainer.opt_G, "G")):
        real = opt.step
        monkeypatch.setattr(opt, "step", lambda real=real, tag=tag: (log.append(tag), real()))
    history = trainer.train(labelled_images(), 4, progress=False)
    assert "".join(log) == ("D" * k + "G") * 4
    assert set(history.columns) == {"iteration", "loss_D", "D(x)", "D(G(z))", "loss_G", "time"}


@pytest.mark.parametrize("how", ["vector", "maps"])
def test_generator_step_leaves_the_discriminator_alone(monkeypatch, how):
    trainer = make(how)
    trainer.train(labelled_images(), 2, progress=False)
    real = trainer.generator_step

    def generator_step(loss_fn):
        d_params, d_grads, g_params = snapshot(trainer.D), grads_snapshot(trainer.D), snapshot(trainer.G)
        out = real(loss_fn)
        for k, v in snapshot(trainer.D).items():
            assert np.array_equal(v, d_params[k]), f"D's {k} moved in the G step"
        for k, v in grads_snapshot(trainer.D).items():
            assert np.array_equal(v, d_grads[k]), f"D's gradient {k} changed in the G step"
        assert any(not np.array_equal(v, g_params[k]) for k, v in snapshot(trainer.G).items()), "G did not move"
        return out

    monkeypatch.setattr(trainer, "generator_step", generator_step)
    trainer.train(labelled_images(), 2, progress=False)


# ---------------------------------------------------------------------------------------------------------------
# the gradient each step uses is the gradient of that step's loss (float64, central differences)
# ---------------------------------------------------------------------------------------------------------------
class Capture:
    """Keeps the batches, noise and fake labels each step drew, and the gradients and weights at each opt step."""

    def __init__(self, monkeypatch, trainer):
        self.batches, self.noises, self.fake, self.d_steps, self.g_steps = [], [], [], [], []
        noise, fake_labels = trainer.noise, trainer.fake_labels
        monkeypatch.setattr(trainer, "noise", lambda m: self._keep(self.noises, noise(m)))
        monkeypatch.setattr(trainer, "fake_labels", lambda m: self._keep(self.fake, fake_labels(m)))
        for opt, log, model in ((trainer.opt_D, self.d_steps, trainer.D), (trainer.opt_G, self.g_steps, trainer.G)):
            real = opt.step

            def step(real=real, log=log, model=model):
                log.append((grads_snapshot(model), snapshot(trainer.D), snapshot(trainer.G)))
                real()

            monkeypatch.setattr(opt, "step", step)

    @staticmethod
    def _keep(store, value):
        store.append(value.copy() if not isinstance(value, tuple) else tuple(v.copy() for v in value))
        return value

    def data(self, sample_data):
        return lambda m: self._keep(self.batches, sample_data(m))


def _load(module, params):
    for k, v in params.items():
        module.params[k][...] = v


def _check(loss, module, analytic):
    result = check_gradients(loss, module.params, analytic)
    assert set(result.errors) == set(module.params)
    assert result.worst_error < 1e-6, str(result)


@pytest.mark.parametrize("how, generator_loss", [("vector", "non-saturating"), ("maps", "saturating"),
                                                 ("maps", "non-saturating")])
def test_cgan_steps_use_the_gradients_of_their_losses(monkeypatch, how, generator_loss):
    backend.set_default_dtype(np.float64)
    trainer = make(how, k=2, generator_loss=generator_loss)
    cap = Capture(monkeypatch, trainer)
    trainer.train(cap.data(labelled_images()), 1, progress=False)
    assert len(cap.d_steps) == 2 and len(cap.g_steps) == 1 and len(cap.noises) == 3 and len(cap.fake) == 3
    G, D = trainer.G, trainer.D

    def D_(x, y):  # D(x | y)
        return D(join_labels(x, one_hot(y, K, np.float64), how))

    def G_(z, y):  # G(z | y)
        return G(np.concatenate([z, one_hot(y, K, np.float64)], axis=1))

    for i, (grads, d_params, g_params) in enumerate(cap.d_steps):
        # D: -(1/m) sum [log D(x | y) + log(1 - D(G(z | y~) | y~))]
        _load(D, d_params)
        _load(G, g_params)
        (x, y), z, y_fake = cap.batches[i], cap.noises[i], cap.fake[i]
        x_fake = G_(z, y_fake)
        _check(lambda x=x, y=y, x_fake=x_fake, y_fake=y_fake:
               float(losses.discriminator_minimax(D_(x, y), D_(x_fake, y_fake))[0]), D, grads)
    grads, d_params, g_params = cap.g_steps[0]
    _load(D, d_params)
    _load(G, g_params)
    loss_fn = losses.generator_saturating if generator_loss == "saturating" else losses.generator_non_saturating
    z, y_fake = cap.noises[2], cap.fake[2]
    _check(lambda: float(loss_fn(D_(G_(z, y_fake), y_fake))[0]), G, grads)


# ---------------------------------------------------------------------------------------------------------------
# the label conditions
# ---------------------------------------------------------------------------------------------------------------
MODES = 4
MEANS = np.array([[np.cos(2 * np.pi * c / MODES), np.sin(2 * np.pi * c / MODES)] for c in range(MODES)])


def gaussians(seed: int, labels_follow_modes: bool = True):
    rng = np.random.default_rng(seed)

    def sample(m):
        mode = rng.integers(0, MODES, m)
        x = (MEANS[mode] + 0.05 * rng.standard_normal((m, 2))).astype(np.float32)
        return x, (mode if labels_follow_modes else rng.integers(0, MODES, m))

    return sample


def train_toy(labels_follow_modes: bool, seed: int = 0, iterations: int = 600):
    backend.seed(seed)
    G = mlp(NZ + MODES, 2, 32, 2, ReLU)
    D = mlp(2 + MODES, 1, 32, 2, lambda: LeakyReLU(0.2))
    trainer = CGAN(G, D, optim.Adam(G, 1e-3, (0.5, 0.999)), optim.Adam(D, 1e-3, (0.5, 0.999)), nz=NZ, m=64,
                   seed=seed, n_classes=MODES)
    trainer.train(gaussians(seed + 100, labels_follow_modes), iterations, progress=False)
    hits, dist = [], []
    for c in range(MODES):
        x = backend.to_numpy(trainer.sample(500, labels=[c] * 500)).astype(np.float64)
        d2 = ((x[:, None, :] - MEANS[None]) ** 2).sum(-1)
        hits.append(float((d2.argmin(1) == c).mean()))
        dist.append(float(np.sqrt(d2[:, c]).mean()))
    return hits, dist


def test_the_label_picks_the_mode():
    hits, dist = train_toy(labels_follow_modes=True)
    assert min(hits) >= 0.95, f"share of samples of label c nearest mode c: {hits}"
    assert max(dist) < 0.25, f"mean distance to the label's mode: {dist}"


def test_control_labels_independent_of_the_modes_do_not_pick_the_mode():
    hits, _ = train_toy(labels_follow_modes=False)
    assert np.mean(hits) < 0.5, f"with uninformative labels the hit rate should stay near chance (0.25): {hits}"


# ---------------------------------------------------------------------------------------------------------------
# sampling with labels, bad data
# ---------------------------------------------------------------------------------------------------------------
def test_sample_with_labels_and_its_default():
    trainer = make("maps")
    assert trainer.sample(4, labels=[0, 1, 2, 2]).shape == (4,) + IMAGE
    assert trainer.sample(2, labels=1).shape == (2,) + IMAGE
    assert trainer.sample(5).shape == (5,) + IMAGE  # default labels 0, 1, 2, 0, 1


def test_sample_labels_select_the_generators_input(monkeypatch):
    trainer = make("vector")
    seen = []
    real = trainer.G.forward
    monkeypatch.setattr(trainer.G, "forward", lambda x, train=None: (seen.append(x.copy()), real(x, train))[1])
    trainer.sample(3, labels=[2, 0, 1])
    trainer.sample(4)
    np.testing.assert_array_equal(seen[0][:, NZ:], np.eye(K)[[2, 0, 1]])
    np.testing.assert_array_equal(seen[1][:, NZ:], np.eye(K)[[0, 1, 2, 0]])


@pytest.mark.parametrize("labels, match", [
    ([0, 1, 3], r"CGAN.sample: label 3 is out of range; the classes are 0 \.\. 2"),
    ([0, -1, 1], "label -1 is out of range"),
    ([0, 1], r"shape \(3,\), got \(2,\)"),
    ([0.0, 1.0, 2.0], "must be integers"),
    (7, "label 7 is out of range"),
])
def test_sample_refuses_bad_labels(labels, match):
    with pytest.raises(ValueError, match=match):
        make("vector").sample(3, labels=labels)


def test_bad_labelled_batches_are_refused():
    trainer = make("vector")
    data = labelled_images()
    with pytest.raises(TypeError, match=r"must return a tuple \(x, labels\)"):
        trainer.train(lambda m: data(m)[0], 1, progress=False)
    with pytest.raises(ValueError, match="labels from sample_data: label 3 is out of range"):
        trainer.train(lambda m: (data(m)[0], np.full(m, K)), 1, progress=False)


def test_same_seed_same_run():
    runs = []
    for _ in range(2):
        trainer = make("maps", seed=3)
        history = trainer.train(labelled_images(4), 3, progress=False)
        runs.append(([{k: v for k, v in r.items() if k != "time"} for r in history.records], snapshot(trainer.G)))
    assert runs[0][0] == runs[1][0]
    assert all(np.array_equal(runs[0][1][k], runs[1][1][k]) for k in runs[0][1])


@pytest.mark.parametrize("name", ["cgan-mnist", "cgan-dcgan-mnist"])
def test_registry_conditional_models_train(name):
    """The full-size conditional MNIST models, one iteration at batch 4: shapes and the label path agree."""
    spec = MODELS[name]
    G, D = spec.build()
    trainer = CGAN(G, D, optim.Adam(G, spec.lr, spec.betas), optim.Adam(D, spec.lr, spec.betas), nz=spec.nz, m=4,
                   n_classes=spec.n_classes, d_labels=spec.d_labels)
    rng = np.random.default_rng(0)
    data = lambda m: (np.tanh(rng.standard_normal((m,) + spec.image_shape)).astype(np.float32),
                      rng.integers(0, spec.n_classes, m))
    history = trainer.train(data, 1, progress=False)
    assert np.isfinite(history["loss_D"][0]) and np.isfinite(history["loss_G"][0])
    assert trainer.sample(10).shape == (10,) + spec.image_shape
