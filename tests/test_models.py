"""The model zoo (minigan/models): shapes, PyTorch twins, critics, the registry.

* Every factory: forward and backward at batch 2 (tiny widths where the factory has width arguments) give the
  documented shapes, and the gradient reaches the first layer.
* The MLP GAN and the 64x64 DCGAN against PyTorch twins built here (the Keras-style MLP written with torch.nn, and
  the PyTorch DCGAN tutorial's Generator / Discriminator): the same parameter count (also against the numbers the
  tutorial prints: G 3,576,704, D 2,765,568), the same state_dict names and shapes, and, after loading our weights
  into the twin, the same outputs, input gradients and parameter gradients in float64 to 1e-10 * max(1, |torch|)
  (observed: ~1e-16 for the MLP, ~1e-15 for the DCGAN at ngf = ndf = 4).
* Critics pass :func:`minigan.gradient_penalty.check_penalty_support`; discriminators with BatchNorm or Dropout
  fail it; a critic is its discriminator with exactly those layers removed.
* Every ``MODELS`` entry builds and its fields agree with the networks it builds.
"""

from __future__ import annotations

import numpy as np
import pytest

from minigan import backend, optim, recipes
from minigan.gradient_penalty import PenaltyNotSupported, check_penalty_support
from minigan.models import (
    DATA_KINDS,
    MODELS,
    ModelSpec,
    cgan_dcgan_discriminator,
    cgan_dcgan_generator,
    cgan_mlp_discriminator,
    cgan_mlp_generator,
    dcgan64_critic,
    dcgan64_discriminator,
    dcgan64_generator,
    dcgan_mnist_critic,
    dcgan_mnist_discriminator,
    dcgan_mnist_generator,
    mlp_mnist_critic,
    mlp_mnist_discriminator,
    mlp_mnist_generator,
)
from minigan.nn import BatchNorm1d, BatchNorm2d, Dropout
from minigan.train import CGAN, WGANGP
from minigan.train.cgan import join_labels, one_hot

TINY = (4, 4, 4)

# name -> (builder, input shape per sample, output shape per sample)
MODEL_SHAPES = {
    "mlp_mnist_generator": (lambda: mlp_mnist_generator(nz=8, hidden=TINY), (8,), (1, 28, 28)),
    "mlp_mnist_discriminator": (lambda: mlp_mnist_discriminator(hidden=TINY), (1, 28, 28), (1,)),
    "mlp_mnist_critic": (lambda: mlp_mnist_critic(hidden=TINY), (1, 28, 28), (1,)),
    "dcgan_mnist_generator": (dcgan_mnist_generator, (100,), (1, 28, 28)),
    "dcgan_mnist_discriminator": (dcgan_mnist_discriminator, (1, 28, 28), (1,)),
    "dcgan_mnist_critic": (dcgan_mnist_critic, (1, 28, 28), (1,)),
    "dcgan64_generator_rgb": (lambda: dcgan64_generator(nz=8, ngf=2, nc=3), (8,), (3, 64, 64)),
    "dcgan64_generator_grey": (lambda: dcgan64_generator(nz=8, ngf=2, nc=1), (8,), (1, 64, 64)),
    "dcgan64_discriminator_rgb": (lambda: dcgan64_discriminator(ndf=2, nc=3), (3, 64, 64), (1,)),
    "dcgan64_discriminator_grey": (lambda: dcgan64_discriminator(ndf=2, nc=1), (1, 64, 64), (1,)),
    "dcgan64_critic": (lambda: dcgan64_critic(ndf=2, nc=3), (3, 64, 64), (1,)),
    "cgan_mlp_generator": (lambda: cgan_mlp_generator(nz=8, hidden=TINY), (18,), (1, 28, 28)),
    "cgan_mlp_discriminator": (lambda: cgan_mlp_discriminator(hidden=TINY), (794,), (1,)),
    "cgan_dcgan_generator": (cgan_dcgan_generator, (110,), (1, 28, 28)),
    "cgan_dcgan_discriminator": (lambda: cgan_dcgan_discriminator(ndf=4), (11, 28, 28), (1,)),
}


def first_weight_name(model) -> str:
    return next(k for k in model.params if k.endswith("weight"))


@pytest.mark.parametrize("name", list(MODEL_SHAPES))
def test_forward_and_backward_shapes(bk, name):
    build, in_shape, out_shape = MODEL_SHAPES[name]
    model = build()
    x = bk.asarray(np.random.default_rng(0).standard_normal((2,) + in_shape), np.float32)
    y = model(x)
    assert tuple(y.shape) == (2,) + out_shape
    assert y.dtype == np.float32 and backend.backend_of(y) == bk.name
    if "generator" in name:
        assert float(abs(y).max()) <= 1.0  # tanh output: images in [-1, 1]
    dx = model.backward(bk.xp.ones_like(y))
    assert tuple(dx.shape) == (2,) + in_shape
    for k, g in model.grads.items():
        assert g.shape == model.params[k].shape and bool(bk.xp.isfinite(g).all()), k
    assert float(abs(model.grads[first_weight_name(model)]).max()) > 0, "no gradient reached the first layer"
    assert float(abs(dx).max()) > 0


def test_the_factories_honour_their_sizes():
    g = mlp_mnist_generator()
    assert [p.shape for p in g.params.values() if p.ndim == 2] == [(256, 100), (512, 256), (1024, 512), (784, 1024)]
    d = mlp_mnist_discriminator()
    assert [p.shape for p in d.params.values() if p.ndim == 2] == [(1024, 784), (512, 1024), (256, 512), (1, 256)]
    assert [type(layer).__name__ for layer in d][:4] == ["Flatten", "Dense", "LeakyReLU", "Dropout"]
    assert d[2].negative_slope == 0.3 and d[3].p == 0.2 and g[1].negative_slope == 0.2
    g64 = dcgan64_generator(nz=10, ngf=3, nc=1)
    assert [p.shape for k, p in g64.params.items() if p.ndim == 4] == [
        (10, 24, 4, 4), (24, 12, 4, 4), (12, 6, 4, 4), (6, 3, 4, 4), (3, 1, 4, 4)]
    d64 = dcgan64_discriminator(ndf=3, nc=1)
    assert [p.shape for k, p in d64.params.items() if p.ndim == 4] == [
        (3, 1, 4, 4), (6, 3, 4, 4), (12, 6, 4, 4), (24, 12, 4, 4), (1, 24, 4, 4)]


def _is_conv(model, name):
    return type(model[int(name.split(".")[0])]).__name__.startswith("Conv")


def test_dcgan64_has_no_conv_biases_and_the_tutorial_initialisation():
    backend.seed(1)
    g, d = dcgan64_generator(), dcgan64_discriminator()
    for model in (g, d):
        conv = [p for k, p in model.params.items() if _is_conv(model, k)]
        assert all(p.ndim == 4 for p in conv), "a convolution has a bias"
        w = np.concatenate([p.ravel() for p in conv])
        assert abs(w.mean()) < 1e-3 and abs(w.std() - 0.02) < 1e-3  # N(0, 0.02)
        scale = np.concatenate([p for k, p in model.params.items() if p.ndim == 1 and k.endswith("weight")])
        shift = np.concatenate([p for k, p in model.params.items() if p.ndim == 1 and k.endswith("bias")])
        assert abs(scale.mean() - 1) < 5e-3 and abs(scale.std() - 0.02) < 5e-3  # N(1, 0.02)
        assert np.all(shift == 0)


def test_conditional_models_take_the_label_as_extra_inputs():
    assert cgan_mlp_generator(n_classes=10, nz=100)[0].in_features == 110
    assert cgan_mlp_discriminator(n_classes=10)[0].in_features == 794
    assert cgan_mlp_discriminator(n_classes=3, image_shape=(2,))[0].in_features == 5
    assert cgan_dcgan_discriminator(n_classes=10)[0].in_channels == 11
    # the conditional DCGAN generator is the canonical one with nz + 10 inputs, nothing else changed
    ours, canonical = cgan_dcgan_generator(n_classes=10), dcgan_mnist_generator(nz=110)
    assert repr(ours) == repr(canonical)
    # the conditional DCGAN D is the canonical D with 1 + 10 input channels, nothing else changed
    cd, d = cgan_dcgan_discriminator(), dcgan_mnist_discriminator()
    assert [type(m).__name__ for m in cd] == [type(m).__name__ for m in d]
    assert {k: v.shape for k, v in cd.params.items() if k != "0.weight"} == \
        {k: v.shape for k, v in d.params.items() if k != "0.weight"}


# ---------------------------------------------------------------------------------------------------------------
# critics
# ---------------------------------------------------------------------------------------------------------------
CRITICS = {
    "dcgan_mnist": (dcgan_mnist_critic, dcgan_mnist_discriminator),
    "mlp_mnist": (lambda: mlp_mnist_critic(hidden=TINY), lambda: mlp_mnist_discriminator(hidden=TINY)),
    "dcgan64": (lambda: dcgan64_critic(ndf=2), lambda: dcgan64_discriminator(ndf=2)),
}


@pytest.mark.parametrize("name", list(CRITICS))
def test_critics_support_the_penalty_and_discriminators_do_not(name):
    critic, disc = (build() for build in CRITICS[name])
    check_penalty_support(critic)
    with pytest.raises(PenaltyNotSupported, match="BatchNorm|Dropout"):
        check_penalty_support(disc)
    # the critic is the discriminator with its BatchNorm / Dropout layers taken out, nothing else
    kept = [layer for layer in disc if not isinstance(layer, BatchNorm1d | BatchNorm2d | Dropout)]
    assert [repr(layer) for layer in critic] == [repr(layer) for layer in kept]


def test_batchnorm_discriminator_is_refused_with_the_papers_reason():
    with pytest.raises(PenaltyNotSupported, match="rule out batch normalisation"):
        check_penalty_support(dcgan64_discriminator(ndf=2))
    G, D = dcgan_mnist_generator(), dcgan_mnist_discriminator()
    with pytest.raises(PenaltyNotSupported):
        WGANGP(G, D, optim.Adam(G), optim.Adam(D), nz=100)


@pytest.mark.parametrize("name", ["dcgan64", "mlp_mnist"])
def test_one_wgangp_iteration_with_each_critic(name):
    if name == "dcgan64":
        G, D, nz, shape = dcgan64_generator(nz=4, ngf=2, nc=1), dcgan64_critic(ndf=2, nc=1), 4, (1, 64, 64)
    else:
        G, D, nz, shape = mlp_mnist_generator(nz=4, hidden=TINY), mlp_mnist_critic(hidden=TINY), 4, (1, 28, 28)
    trainer = WGANGP(G, D, optim.Adam(G, 1e-4, (0.0, 0.9)), optim.Adam(D, 1e-4, (0.0, 0.9)), nz=nz, m=3, n_critic=2)
    rng = np.random.default_rng(0)
    history = trainer.train(lambda m: np.tanh(rng.standard_normal((m,) + shape)).astype(np.float32), 1,
                            progress=False)
    assert np.isfinite(history["penalty"][0]) and history["grad_norm"][0] > 0


# ---------------------------------------------------------------------------------------------------------------
# the registry
# ---------------------------------------------------------------------------------------------------------------
NOISE_MODELS = [name for name, spec in MODELS.items() if spec.data_kind not in recipes.TASK_KINDS]
TASK_MODELS = [name for name, spec in MODELS.items() if spec.data_kind in recipes.TASK_KINDS]


@pytest.mark.parametrize("name", TASK_MODELS)
def test_task_registry_entries_translate_at_their_image_shape(name):
    """A translation model's G maps an image of image_shape to another of that shape; its D gives patch logits
    (N, 1, H', W') for what it judges (pix2pix: cat(A, B))."""
    spec = MODELS[name]
    assert spec.description and spec.n_classes == 0 and (spec.nz == 0) == (spec.algorithm != "stackgan")
    G, D = recipes.build_networks(name, recipes.default_options(name))
    x = backend.get_xp().zeros((2, *spec.image_shape), np.float32)
    if spec.algorithm == "pix2pix":
        y = G(x, train=False)
        assert tuple(y.shape) == (2, *spec.image_shape)
        logits = D(backend.get_xp().concatenate([x, y], axis=1), train=False)
        assert logits.ndim == 4 and logits.shape[:2] == (2, 1)
    elif spec.algorithm == "cyclegan":  # G_A: A -> B, G_B: B -> A; D_A judges B, D_B judges A
        assert set(G) == {"G_A", "G_B"} and set(D) == {"D_A", "D_B"}
        for g, d in (("G_A", "D_A"), ("G_B", "D_B")):
            y = G[g](x, train=False)
            assert tuple(y.shape) == (2, *spec.image_shape)
            scores = D[d](y, train=False)
            assert scores.ndim == 4 and scores.shape[:2] == (2, 1)
    elif spec.algorithm == "stackgan":  # text (and z) -> 16x16 in stage 1, 32x32 in stage 2; D scores (x, text)
        from minigan.train.stackgan import text_embedding

        for stage, size in ((1, 16), (2, 32)):
            G, D = recipes.build_networks(name, {**recipes.default_options(name), "stage": stage})
            phi = text_embedding(np.array([0, 50]))
            y = G.generate(phi, backend.get_xp().zeros((2, spec.nz), np.float32), train=False)
            assert tuple(y.shape) == (2, 1, size, size)
            assert tuple(D(y, phi, train=False).shape) == (2, 1)
    else:
        pytest.fail(f"{name}: no check for algorithm {spec.algorithm!r}")


@pytest.mark.parametrize("name", NOISE_MODELS)
def test_registry_entries_build_what_they_describe(name):
    spec = MODELS[name]
    assert spec.description and spec.algorithm in ("gan", "cgan", "wgan-gp")
    assert (spec.n_classes > 0) == (spec.algorithm == "cgan") == (spec.d_labels is not None)
    G, D = spec.build()
    z = backend.get_xp().zeros((2, spec.nz + spec.n_classes), np.float32)
    x = G(z, train=False)
    assert tuple(x.shape) == (2,) + tuple(spec.image_shape)
    if spec.n_classes:
        x = join_labels(x, one_hot([0, 1], spec.n_classes, np.float32), spec.d_labels)
        trainer = CGAN(G, D, optim.Adam(G), optim.Adam(D), nz=spec.nz, n_classes=spec.n_classes)
        assert trainer.d_labels == spec.d_labels  # the trainer's own choice agrees with the registry
    assert tuple(D(x, train=False).shape) == (2, 1)
    if spec.algorithm == "wgan-gp":
        check_penalty_support(D)
        assert spec.betas == (0.0, 0.9)


@pytest.mark.parametrize("name", NOISE_MODELS)
def test_registry_entries_declare_the_data_they_train_on(name):
    """data_kind, not the name, says the data: MNIST models make 1x28x28 digits; "images" models are built for
    the data's number of channels (build(channels=C)), the registered image_shape being the default."""
    spec = MODELS[name]
    assert spec.data_kind in DATA_KINDS
    if spec.data_kind == "mnist":
        assert spec.image_shape == (1, 28, 28)
        return
    for channels in (1, 3):
        G, D = spec.build(channels=channels)
        x = G(backend.get_xp().zeros((1, spec.nz), np.float32), train=False)
        assert tuple(x.shape) == (1, channels) + tuple(spec.image_shape[1:])
        assert tuple(D(x, train=False).shape) == (1, 1)


def test_a_model_spec_must_declare_a_known_data_kind():
    build = MODELS["mlp-mnist"].build
    with pytest.raises(TypeError, match="data_kind"):
        ModelSpec(build, 100, (1, 28, 28))
    with pytest.raises(ValueError, match=r"data_kind must be one of \('mnist', 'images', .*\), got 'faces'"):
        ModelSpec(build, 100, (1, 28, 28), data_kind="faces")


# ---------------------------------------------------------------------------------------------------------------
# PyTorch twins
# ---------------------------------------------------------------------------------------------------------------
def torch_mlp_generator(tnn, nz=100):
    return tnn.Sequential(
        tnn.Linear(nz, 256), tnn.LeakyReLU(0.2), tnn.Linear(256, 512), tnn.LeakyReLU(0.2),
        tnn.Linear(512, 1024), tnn.LeakyReLU(0.2), tnn.Linear(1024, 784), tnn.Tanh(), tnn.Unflatten(1, (1, 28, 28)),
    )


def torch_mlp_discriminator(tnn):
    return tnn.Sequential(
        tnn.Flatten(),
        tnn.Linear(784, 1024), tnn.LeakyReLU(0.3), tnn.Dropout(0.2),
        tnn.Linear(1024, 512), tnn.LeakyReLU(0.3), tnn.Dropout(0.2),
        tnn.Linear(512, 256), tnn.LeakyReLU(0.3), tnn.Dropout(0.2),
        tnn.Linear(256, 1),
    )


def torch_dcgan64_generator(tnn, nz=100, ngf=64, nc=3):
    """The PyTorch DCGAN tutorial's Generator.main, behind an Unflatten so that it takes z as (N, nz)."""
    return tnn.Sequential(
        tnn.Unflatten(1, (nz, 1, 1)),
        tnn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), tnn.BatchNorm2d(ngf * 8), tnn.ReLU(True),
        tnn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), tnn.BatchNorm2d(ngf * 4), tnn.ReLU(True),
        tnn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), tnn.BatchNorm2d(ngf * 2), tnn.ReLU(True),
        tnn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), tnn.BatchNorm2d(ngf), tnn.ReLU(True),
        tnn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), tnn.Tanh(),
    )


def torch_dcgan64_discriminator(tnn, ndf=64, nc=3, batchnorm=True):
    """The tutorial's Discriminator.main without the final Sigmoid (logits), flattened to (N, 1)."""
    def bn(c):
        return [tnn.BatchNorm2d(c)] if batchnorm else []

    return tnn.Sequential(
        tnn.Conv2d(nc, ndf, 4, 2, 1, bias=False), tnn.LeakyReLU(0.2, inplace=True),
        tnn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), *bn(ndf * 2), tnn.LeakyReLU(0.2, inplace=True),
        tnn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), *bn(ndf * 4), tnn.LeakyReLU(0.2, inplace=True),
        tnn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), *bn(ndf * 8), tnn.LeakyReLU(0.2, inplace=True),
        tnn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), tnn.Flatten(),
    )


def _twins(torch, tnn):
    """name -> (ours, theirs, input shape per sample), at full size."""
    return {
        "mlp G": (mlp_mnist_generator(), torch_mlp_generator(tnn), (100,)),
        "mlp D": (mlp_mnist_discriminator(), torch_mlp_discriminator(tnn), (1, 28, 28)),
        "dcgan64 G": (dcgan64_generator(), torch_dcgan64_generator(tnn), (100,)),
        "dcgan64 D": (dcgan64_discriminator(), torch_dcgan64_discriminator(tnn), (3, 64, 64)),
        "dcgan64 critic": (dcgan64_critic(), torch_dcgan64_discriminator(tnn, batchnorm=False), (3, 64, 64)),
    }


PARAMETER_COUNTS = {"mlp G": 1_486_352, "mlp D": 1_460_225, "dcgan64 G": 3_576_704, "dcgan64 D": 2_765_568,
                    "dcgan64 critic": 2_763_776}


def test_parameter_counts_and_state_dict_names_match_the_torch_twins():
    torch = pytest.importorskip("torch")
    for name, (ours, theirs, _) in _twins(torch, torch.nn).items():
        theirs_count = sum(p.numel() for p in theirs.parameters())
        assert ours.num_parameters() == theirs_count == PARAMETER_COUNTS[name], name
        ours_shapes = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
        theirs_shapes = {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
        assert ours_shapes == theirs_shapes, name
        assert list(ours.state_dict()) == list(theirs.state_dict()), f"{name}: order differs"


def _compare(torch, ours, theirs, x, train: bool, grads: bool = True):
    """Load ours into theirs (float64), run both on x, backward the same dy, compare everything. Returns worst."""
    ours.to(dtype=np.float64)
    theirs = theirs.double()
    theirs.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in ours.state_dict().items()})
    ours.train(train)
    theirs.train(train)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    ty = theirs(tx)
    y = ours(x)
    dy = np.random.default_rng(1).standard_normal(y.shape)
    worst = {}

    def close(name, a, b):
        b = b.detach().numpy()
        err = float(np.abs(a - b).max()) / max(1.0, float(np.abs(b).max()))
        worst[name] = err
        assert err <= 1e-10, f"{name}: {err:.2e}"

    close("output", y, ty)
    if grads:
        ours.zero_grad()
        dx = ours.backward(dy)
        ty.backward(torch.from_numpy(dy))
        close("input grad", dx, tx.grad)
        named = dict(theirs.named_parameters())
        for k, g in ours.grads.items():
            close(k, g, named[k].grad)
    if train:
        for k, v in ours.buffers.items():
            if "running" in k:
                close(k, v, theirs.state_dict()[k])
    return max(worst.values())


def test_mlp_gan_matches_its_torch_twin_in_float64():
    """Full size, batch 2. G in training mode (it has no mode-dependent layer); D in evaluation mode (Dropout off:
    the masks of the two libraries cannot be made equal). Observed worst difference ~1e-16."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    ours = mlp_mnist_generator()
    _compare(torch, ours, torch_mlp_generator(torch.nn), rng.standard_normal((2, 100)), train=True)
    ours = mlp_mnist_discriminator()
    _compare(torch, ours, torch_mlp_discriminator(torch.nn), rng.uniform(-1, 1, (2, 1, 28, 28)), train=False)


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_dcgan64_matches_the_tutorials_networks_in_float64(train):
    """ngf = ndf = 4, batch 2, nc 3: forward, input gradient and every parameter gradient, in training mode (batch
    statistics, running statistics updated: compared too) and in evaluation mode (running statistics, perturbed
    first so that they are not the identity). Observed worst difference ~1e-15."""
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    rng = np.random.default_rng(2)
    pairs = [
        (dcgan64_generator(nz=6, ngf=4), torch_dcgan64_generator(tnn, nz=6, ngf=4), (6,)),
        (dcgan64_discriminator(ndf=4), torch_dcgan64_discriminator(tnn, ndf=4), (3, 64, 64)),
        (dcgan64_critic(ndf=4), torch_dcgan64_discriminator(tnn, ndf=4, batchnorm=False), (3, 64, 64)),
    ]
    for ours, theirs, shape in pairs:
        for k, v in ours.buffers.items():
            if k.endswith("running_mean"):
                v[...] = rng.normal(0, 0.1, v.shape)
            elif k.endswith("running_var"):
                v[...] = rng.uniform(0.5, 1.5, v.shape)
        x = rng.standard_normal((2,) + shape) if len(shape) == 1 else rng.uniform(-1, 1, (2,) + shape)
        _compare(torch, ours, theirs, x, train=train)
