"""The three training algorithms (minigan/train): their structure, their bookkeeping, and what they learn.

Structure, checked by counting optimizer steps and by reading gradients at the moment of each step:

* GAN (Goodfellow et al. 2014, Algorithm 1): k discriminator steps, then one generator step, per iteration;
* WGAN (Arjovsky et al. 2017, Algorithm 1): n_critic critic steps, each followed by clipping to [-c, c], then one
  generator step;
* WGANGP (Gulrajani et al. 2017, Algorithm 1): n_critic critic steps with the gradient penalty, then one generator
  step;
* the gradient each optimizer step receives is the gradient of that step's loss (central differences in float64,
  on the very batches the step drew): D's minimax loss, the critic's Wasserstein loss plus penalty, G's loss
  through D; the generator step leaves D's parameters and gradients untouched.

Bookkeeping: history columns and one record per iteration, callbacks and ``every``, reproducibility from the seeds,
the NaN guard (TrainingDiverged), constructor argument checks.

Behaviour on the 8-Gaussian ring: see :func:`test_wgangp_covers_the_ring_and_beats_the_saturating_gan`.
"""

from __future__ import annotations

import numpy as np
import pytest

from minigan import backend, losses, nn, optim
from minigan.data import ring
from minigan.errors import NonFiniteError, NonFiniteInputError
from minigan.gradcheck import check_gradients
from minigan.gradient_penalty import gradient_penalty
from minigan.metrics import mode_coverage
from minigan.models import toy_discriminator, toy_generator
from minigan.train import CGAN, GAN, WGAN, WGANGP, Trainer, TrainingDiverged, every

NZ = 2
ALGORITHMS = ("gan", "wgan", "wgangp")


def make(algo: str, seed: int = 0, m: int = 16, hidden: int = 16, depth: int = 2, lr: float = 1e-3, **kwargs):
    """A small trainer on the ring; models initialised from ``seed``, the trainer's noise seeded with ``seed``."""
    backend.seed(seed)
    G, D = toy_generator(nz=NZ, hidden=hidden, depth=depth), toy_discriminator(hidden=hidden, depth=depth)
    if algo == "gan":
        return GAN(G, D, optim.Adam(G, lr, (0.5, 0.999)), optim.Adam(D, lr, (0.5, 0.999)), nz=NZ, m=m, seed=seed,
                   **kwargs)
    if algo == "wgan":
        return WGAN(G, D, optim.RMSProp(G, lr), optim.RMSProp(D, lr), nz=NZ, m=m, seed=seed, **kwargs)
    return WGANGP(G, D, optim.Adam(G, lr, (0.0, 0.9)), optim.Adam(D, lr, (0.0, 0.9)), nz=NZ, m=m, seed=seed,
                  **kwargs)


def ring_data(seed: int = 1):
    return ring().sampler(backend.Random(seed))


def snapshot(module) -> dict:
    return {k: backend.to_numpy(v).copy() for k, v in module.params.items()}


def grads_snapshot(module) -> dict:
    return {k: backend.to_numpy(v).copy() for k, v in module.grads.items()}


def assert_same(a: dict, b: dict, what: str):
    assert a.keys() == b.keys()
    for k, value in a.items():
        assert np.array_equal(value, b[k]), f"{what}: {k} differs"


# ---------------------------------------------------------------------------------------------------------------
# structure: steps per iteration
# ---------------------------------------------------------------------------------------------------------------
def record_steps(monkeypatch, trainer) -> list[str]:
    """Every opt_D.step() appends "D", every opt_G.step() appends "G" (the real steps still run)."""
    log = []
    for opt, tag in ((trainer.opt_D, "D"), (trainer.opt_G, "G")):
        real = opt.step

        def step(real=real, tag=tag):
            log.append(tag)
            real()

        monkeypatch.setattr(opt, "step", step)
    return log


@pytest.mark.parametrize("algo, kwargs, d_steps", [
    ("gan", {"k": 1}, 1),
    ("gan", {"k": 3}, 3),
    ("gan", {"k": 2, "generator_loss": "saturating"}, 2),
    ("wgan", {"n_critic": 5}, 5),
    ("wgan", {"n_critic": 2}, 2),
    ("wgangp", {"n_critic": 5}, 5),
    ("wgangp", {"n_critic": 1}, 1),
])
def test_discriminator_steps_per_generator_step(monkeypatch, algo, kwargs, d_steps):
    trainer = make(algo, **kwargs)
    log = record_steps(monkeypatch, trainer)
    trainer.train(ring_data(), 4, progress=False)
    assert "".join(log) == ("D" * d_steps + "G") * 4


def test_wgan_clips_every_critic_parameter(monkeypatch):
    """After each critic step (not only at the end) every critic parameter lies in [-c, c], and clipping is active:
    with this learning rate some parameters sit on the boundary."""
    c = 0.01
    trainer = make("wgan", c=c, n_critic=5, lr=5e-3)
    assert all(float(np.abs(v).max()) <= c for v in snapshot(trainer.D).values()), "not clipped at construction"
    worst = []
    real = trainer.critic_step

    def critic_step(sample_data):
        record = real(sample_data)
        worst.append(max(float(np.abs(v).max()) for v in snapshot(trainer.D).values()))
        return record

    monkeypatch.setattr(trainer, "critic_step", critic_step)
    trainer.train(ring_data(), 10, progress=False)
    assert len(worst) == 50
    assert max(worst) <= c
    params = np.concatenate([v.ravel() for v in snapshot(trainer.D).values()])
    assert np.all(np.abs(params) <= c)
    assert np.mean(np.abs(params) == c) > 0.1, "clipping never bound: the test would not see a missing clip"


@pytest.mark.parametrize("algo", ALGORITHMS)
def test_generator_step_leaves_the_discriminator_alone(monkeypatch, algo):
    trainer = make(algo)
    trainer.train(ring_data(), 2, progress=False)  # D's grads are non-zero from its last step
    real = trainer.generator_step
    seen = []

    def generator_step(loss_fn):
        d_params, d_grads = snapshot(trainer.D), grads_snapshot(trainer.D)
        g_params = snapshot(trainer.G)
        out = real(loss_fn)
        assert_same(snapshot(trainer.D), d_params, "D's parameters after the G step")
        assert_same(grads_snapshot(trainer.D), d_grads, "D's gradients after the G step")
        assert any(not np.array_equal(v, g_params[k]) for k, v in snapshot(trainer.G).items()), "G did not move"
        seen.append(True)
        return out

    monkeypatch.setattr(trainer, "generator_step", generator_step)
    trainer.train(ring_data(), 3, progress=False)
    assert len(seen) == 3


# ---------------------------------------------------------------------------------------------------------------
# structure: the gradient each step uses is the gradient of that step's loss (float64, central differences)
# ---------------------------------------------------------------------------------------------------------------
class Capture:
    """Wraps a trainer's data sampler, noise, uniform draws and optimizer steps, keeping what each step used."""

    def __init__(self, monkeypatch, trainer):
        self.batches, self.noises, self.eps, self.d_steps, self.g_steps = [], [], [], [], []
        noise, random = trainer.noise, trainer.rng.random
        monkeypatch.setattr(trainer, "noise", lambda m: self._keep(self.noises, noise(m)))
        monkeypatch.setattr(trainer.rng, "random", lambda *a, **k: self._keep(self.eps, random(*a, **k)))
        for opt, log, model in ((trainer.opt_D, self.d_steps, trainer.D), (trainer.opt_G, self.g_steps, trainer.G)):
            real = opt.step

            def step(real=real, log=log, model=model):
                log.append((grads_snapshot(model), snapshot(trainer.D), snapshot(trainer.G)))
                real()

            monkeypatch.setattr(opt, "step", step)

    @staticmethod
    def _keep(store, value):
        store.append(value.copy())
        return value

    def data(self, sample_data):
        return lambda m: self._keep(self.batches, sample_data(m))


def _load(module, params):
    for k, v in params.items():
        module.params[k][...] = v


def _float64_trainer(algo, **kwargs):
    backend.set_default_dtype(np.float64)
    return make(algo, hidden=6, depth=2, m=5, **kwargs)


def _check(loss, module, analytic):
    result = check_gradients(loss, module.params, analytic)
    assert set(result.errors) == set(module.params)
    assert result.worst_error < 1e-6, str(result)


@pytest.mark.parametrize("generator_loss", ["non-saturating", "saturating"])
def test_gan_steps_use_the_gradients_of_their_losses(monkeypatch, generator_loss):
    trainer = _float64_trainer("gan", k=2, generator_loss=generator_loss)
    cap = Capture(monkeypatch, trainer)
    trainer.train(cap.data(ring_data()), 1, progress=False)
    assert len(cap.d_steps) == 2 and len(cap.g_steps) == 1 and len(cap.batches) == 2 and len(cap.noises) == 3
    G, D = trainer.G, trainer.D
    for i, (grads, d_params, g_params) in enumerate(cap.d_steps):  # D: -(1/m) sum [log D(x) + log(1 - D(G(z)))]
        _load(D, d_params)
        _load(G, g_params)
        x, x_fake = cap.batches[i], G(cap.noises[i])
        _check(lambda x=x, x_fake=x_fake: float(losses.discriminator_minimax(D(x), D(x_fake))[0]), D, grads)
    grads, d_params, g_params = cap.g_steps[0]
    _load(D, d_params)
    _load(G, g_params)
    loss_fn = losses.generator_saturating if generator_loss == "saturating" else losses.generator_non_saturating
    _check(lambda: float(loss_fn(D(G(cap.noises[2])))[0]), G, grads)


def test_wgan_steps_use_the_gradients_of_their_losses(monkeypatch):
    trainer = _float64_trainer("wgan", n_critic=2, c=1.0)  # c large: clipping (after the step) does not matter here
    cap = Capture(monkeypatch, trainer)
    trainer.train(cap.data(ring_data()), 1, progress=False)
    G, D = trainer.G, trainer.D
    for i, (grads, d_params, g_params) in enumerate(cap.d_steps):  # mean f(G(z)) - mean f(x)
        _load(D, d_params)
        _load(G, g_params)
        x, x_fake = cap.batches[i], G(cap.noises[i])
        _check(lambda x=x, x_fake=x_fake: float(losses.critic_wasserstein(D(x), D(x_fake))[0]), D, grads)
    grads, d_params, g_params = cap.g_steps[0]
    _load(D, d_params)
    _load(G, g_params)
    _check(lambda: float(losses.generator_wasserstein(D(G(cap.noises[2])))[0]), G, grads)


def test_wgangp_steps_use_the_gradients_of_their_losses(monkeypatch):
    """The critic's step gets the gradient of mean f(x~) - mean f(x) + lam mean (||grad f(x^)|| - 1)^2 with
    x^ = eps x + (1 - eps) x~, all three terms on the same x, z, eps the step drew."""
    trainer = _float64_trainer("wgangp", n_critic=2, lam=10.0)
    cap = Capture(monkeypatch, trainer)
    trainer.train(cap.data(ring_data()), 1, progress=False)
    assert len(cap.eps) == 2 and cap.eps[0].shape == (5, 1)
    G, D = trainer.G, trainer.D
    for i, (grads, d_params, g_params) in enumerate(cap.d_steps):
        _load(D, d_params)
        _load(G, g_params)
        x, x_fake, eps = cap.batches[i], G(cap.noises[i]), cap.eps[i]
        x_hat = eps * x + (1 - eps) * x_fake

        def loss(x=x, x_fake=x_fake, x_hat=x_hat):
            value = float(losses.critic_wasserstein(D(x), D(x_fake))[0])
            return value + float(gradient_penalty(D, x_hat, 10.0, param_grads=False)[0])

        _check(loss, D, grads)
    grads, d_params, g_params = cap.g_steps[0]
    _load(D, d_params)
    _load(G, g_params)
    _check(lambda: float(losses.generator_wasserstein(D(G(cap.noises[2])))[0]), G, grads)


# ---------------------------------------------------------------------------------------------------------------
# history and callbacks
# ---------------------------------------------------------------------------------------------------------------
COLUMNS = {
    "gan": {"iteration", "loss_D", "D(x)", "D(G(z))", "loss_G", "time"},
    "wgan": {"iteration", "loss_D", "wasserstein", "loss_G", "time"},
    "wgangp": {"iteration", "loss_D", "wasserstein", "penalty", "grad_norm", "loss_G", "time"},
}


@pytest.mark.parametrize("algo", ALGORITHMS)
def test_history_columns_and_one_record_per_iteration(algo):
    trainer = make(algo)
    history = trainer.train(ring_data(), 7, progress=False)
    assert history is trainer.history
    assert len(history) == 7
    assert set(history.columns) == COLUMNS[algo]
    assert history["iteration"] == list(range(1, 8))
    for r in history.records:
        assert set(r) == COLUMNS[algo]
        assert all(isinstance(v, float | int) and np.isfinite(v) for v in r.values())
        assert r["time"] > 0
    if algo == "gan":
        assert all(0 < v < 1 for v in history["D(x)"] + history["D(G(z))"])
    if algo == "wgangp":
        assert all(v >= 0 for v in history["penalty"] + history["grad_norm"])
    # training continues where it stopped: iteration numbers go on
    trainer.train(ring_data(), 3, progress=False)
    assert history["iteration"] == list(range(1, 11))


def test_history_csv_round_trip(tmp_path):
    import csv

    history = make("wgangp").train(ring_data(), 4, progress=False)
    history.to_csv(tmp_path / "h.csv")
    with open(tmp_path / "h.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4 and set(rows[0]) == COLUMNS["wgangp"]
    assert [float(r["loss_D"]) for r in rows] == history["loss_D"]


@pytest.mark.parametrize("algo", ALGORITHMS)
def test_callbacks_every_iteration_and_every_n(algo):
    trainer = make(algo)
    calls, thirds = [], []
    trainer.train(ring_data(), 10, progress=False, callbacks=[
        lambda t, record: calls.append((t, dict(record))),
        every(3, lambda t, record: thirds.append(record["iteration"])),
    ])
    assert len(calls) == 10
    assert all(t is trainer for t, _ in calls)
    assert [r for _, r in calls] == trainer.history.records  # the record passed is the one logged
    assert thirds == [3, 6, 9]


def test_callback_sees_the_trainer_state_of_its_iteration():
    trainer = make("gan")
    done = []
    trainer.train(ring_data(), 5, progress=False, callbacks=[lambda t, r: done.append(t.iterations_done)])
    assert done == [1, 2, 3, 4, 5]


# ---------------------------------------------------------------------------------------------------------------
# reproducibility
# ---------------------------------------------------------------------------------------------------------------
def _run(algo, seed):
    trainer = make(algo, seed=seed)
    history = trainer.train(ring_data(seed + 1), 6, progress=False)
    records = [{k: v for k, v in r.items() if k != "time"} for r in history.records]
    return records, snapshot(trainer.G), snapshot(trainer.D)


@pytest.mark.parametrize("algo", ALGORITHMS)
def test_same_seed_same_run_bit_for_bit(algo):
    backend.use("numpy")
    rec_a, g_a, d_a = _run(algo, 3)
    rec_b, g_b, d_b = _run(algo, 3)
    assert rec_a == rec_b  # floats compared exactly
    assert_same(g_a, g_b, "G")
    assert_same(d_a, d_b, "D")
    rec_c, g_c, d_c = _run(algo, 4)
    assert rec_c != rec_a
    assert any(not np.array_equal(g_c[k], g_a[k]) for k in g_a)
    assert any(not np.array_equal(d_c[k], d_a[k]) for k in d_a)


def test_trainer_seed_alone_changes_the_run():
    """Same initial models and data, different trainer seed: different noise, so a different run."""
    runs = []
    for trainer_seed in (0, 1):
        backend.seed(0)
        G, D = toy_generator(nz=NZ, hidden=8, depth=1), toy_discriminator(hidden=8, depth=1)
        trainer = GAN(G, D, optim.Adam(G, 1e-3), optim.Adam(D, 1e-3), nz=NZ, m=8, seed=trainer_seed)
        trainer.train(ring_data(), 3, progress=False)
        runs.append(snapshot(trainer.G))
    assert any(not np.array_equal(runs[0][k], runs[1][k]) for k in runs[0])


# ---------------------------------------------------------------------------------------------------------------
# the NaN guard
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("algo", ALGORITHMS)
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_data_stops_training(algo, bad):
    data = ring_data()
    calls = []

    def poisoned(m):
        calls.append(m)
        x = data(m)
        if len(calls) == 7:
            x[2, 1] = bad
        return x

    trainer = make(algo)
    d_before = snapshot(trainer.D)
    with pytest.raises(TrainingDiverged, match=r"sample_data returned a batch containing NaN or inf at iteration"):
        trainer.train(poisoned, 20, progress=False)
    assert len(calls) == 7, "training went on after the bad batch"
    per_iteration = {"gan": 1, "wgan": 5, "wgangp": 5}[algo]
    assert len(trainer.history) == (7 - 1) // per_iteration  # the iterations before the bad batch are kept
    for k, v in snapshot(trainer.D).items():
        assert np.all(np.isfinite(v)), f"{k} became non-finite"
    assert any(not np.array_equal(v, d_before[k]) for k, v in snapshot(trainer.D).items())


@pytest.mark.parametrize("algo", ALGORITHMS)
def test_absurd_learning_rate_stops_training(algo):
    backend.seed(0)
    G, D = toy_generator(nz=NZ, hidden=16, depth=2), toy_discriminator(hidden=16, depth=2)
    cls = {"gan": GAN, "wgan": WGAN, "wgangp": WGANGP}[algo]
    trainer = cls(G, D, optim.SGD(G, 1e12), optim.SGD(D, 1e12), nz=NZ, m=16)
    with np.errstate(all="ignore"), pytest.raises(TrainingDiverged) as info:
        trainer.train(ring_data(), 50, progress=False)
    msg = str(info.value)
    assert msg.startswith(type(trainer).__name__ + ":")
    assert "non-finite" in msg or "NaN or inf" in msg
    assert "learning rate" in msg
    assert len(trainer.history) < 50
    assert all(np.isfinite(v) for r in trainer.history.records for v in r.values())


def test_layer_errors_that_are_not_nan_are_not_called_divergence():
    """A wrong data shape is the caller's bug: it surfaces as the layer's own error, not as TrainingDiverged."""
    trainer = make("gan")
    with pytest.raises(nn.LayerInputError) as info:
        trainer.train(lambda m: backend.asarray(np.zeros((m, 3))), 2, progress=False)
    assert not isinstance(info.value, TrainingDiverged)


def test_divergence_is_told_by_the_exception_type_not_by_its_text(monkeypatch):
    """A layer's shape error whose text happens to say "NaN or inf" (here: in a layer's repr) is still a bug, not
    divergence; the trainer reads the exception's type, never its message."""
    trainer = make("gan")

    def iteration(sample_data):
        raise nn.LayerInputError("Clamp(NaN or inf -> 0) expected input of shape (N, 2), got shape (16, 3)")

    monkeypatch.setattr(trainer, "iteration", iteration)
    with pytest.raises(nn.LayerInputError, match="got shape") as info:
        trainer.train(ring_data(), 2, progress=False)
    assert not isinstance(info.value, (TrainingDiverged, NonFiniteError))


@pytest.mark.parametrize("error, said", [
    (NonFiniteError("the loss of D overflowed"), "the loss of D overflowed during iteration 1"),
    (NonFiniteInputError("Dense(4, 3, bias=True) saw an overflow"), "a layer received NaN or inf during iteration 1"),
], ids=["non-finite", "layer-input"])
def test_a_non_finite_error_in_an_iteration_is_divergence_whatever_its_text(monkeypatch, error, said):
    trainer = make("gan")

    def iteration(sample_data):
        raise error

    monkeypatch.setattr(trainer, "iteration", iteration)
    with pytest.raises(TrainingDiverged, match=said) as info:
        trainer.train(ring_data(), 2, progress=False)
    assert info.value.__cause__ is error and "learning rate" in str(info.value)
    assert trainer.iterations_done == 0 and len(trainer.history) == 0


@pytest.mark.parametrize("algo", ALGORITHMS)
def test_a_layer_that_sees_nan_stops_training_as_divergence(algo):
    """G's weights overflowed: D's first layer gets NaN from G(z) and raises NonFiniteInputError (a LayerInputError),
    which the trainer turns into TrainingDiverged, D and G untouched by the step that failed."""
    trainer = make(algo)
    G_last = [k for k in trainer.G.params if k.endswith("weight")][-1]
    trainer.G.params[G_last][...] = np.nan
    d_before = snapshot(trainer.D)
    with np.errstate(all="ignore"), pytest.raises(TrainingDiverged, match="a layer received NaN or inf during "
                                                                          "iteration 1") as info:
        trainer.train(ring_data(), 3, progress=False)
    assert isinstance(info.value.__cause__, NonFiniteInputError)
    assert isinstance(info.value.__cause__, nn.LayerInputError)
    assert len(trainer.history) == 0
    assert_same(snapshot(trainer.D), d_before, "D")


# ---------------------------------------------------------------------------------------------------------------
# hyperparameters: each algorithm declares its own
# ---------------------------------------------------------------------------------------------------------------
def make_cgan():
    backend.seed(0)
    G = nn.Sequential(nn.Dense(NZ + 3, 8), nn.ReLU(), nn.Dense(8, 2))  # [z, onehot(y)] -> a 2D sample
    D = nn.Sequential(nn.Dense(2 + 3, 8), nn.LeakyReLU(0.2), nn.Dense(8, 1))  # [x, onehot(y)] -> a logit
    return CGAN(G, D, optim.Adam(G), optim.Adam(D), nz=NZ, m=8, n_classes=3)


HYPERPARAMETERS = {
    "gan": ("nz", "m", "k", "generator_loss"),
    "wgan": ("nz", "m", "n_critic", "c"),
    "wgangp": ("nz", "m", "n_critic", "lam"),
    "cgan": ("nz", "m", "k", "generator_loss", "n_classes", "d_labels"),
}


def test_the_base_trainer_declares_only_its_own_hyperparameters():
    assert Trainer.HYPERPARAMETERS == ("nz", "m")


@pytest.mark.parametrize("algo", list(HYPERPARAMETERS))
def test_each_algorithm_declares_exactly_its_own_hyperparameters(algo):
    trainer = make_cgan() if algo == "cgan" else make(algo)
    assert type(trainer).HYPERPARAMETERS == HYPERPARAMETERS[algo]
    assert tuple(trainer.hyperparameters()) == HYPERPARAMETERS[algo]
    assert all(trainer.hyperparameters()[name] == getattr(trainer, name) for name in HYPERPARAMETERS[algo])


def test_an_attribute_named_like_another_algorithms_setting_is_not_a_hyperparameter():
    """A GAN subclass with an attribute ``lam`` of its own (not declared): not saved, not restored. Under a base
    list of every algorithm's names it would be taken for WGAN-GP's lambda."""

    class LabelSmoothingGAN(GAN):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.lam = 0.9  # the smoothed label, not a penalty weight

    backend.seed(0)
    G, D = toy_generator(nz=NZ, hidden=8, depth=1), toy_discriminator(hidden=8, depth=1)
    trainer = LabelSmoothingGAN(G, D, optim.Adam(G), optim.Adam(D), nz=NZ, m=8)
    assert "lam" not in trainer.hyperparameters()
    assert tuple(trainer.hyperparameters()) == HYPERPARAMETERS["gan"]


def test_load_state_dict_refuses_a_hyperparameter_the_algorithm_does_not_have():
    trainer = make("wgan", n_critic=2, c=0.05)
    state = trainer.state_dict()
    state["hyperparameters"]["lam"] = 10.0
    with pytest.raises(ValueError, match=r"WGAN.load_state_dict: the state sets \['lam'\], which are not "
                                         r"hyperparameters of WGAN"):
        make("wgan", n_critic=3).load_state_dict(state)


# ---------------------------------------------------------------------------------------------------------------
# constructor arguments
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("algo, kwargs, match", [
    ("gan", {"k": 0}, "k"),
    ("gan", {"k": -1}, "k"),
    ("gan", {"generator_loss": "hinge"}, "generator_loss"),
    ("gan", {"m": 0}, "batch size"),
    ("wgan", {"n_critic": 0}, "n_critic"),
    ("wgan", {"c": 0.0}, "clipping"),
    ("wgan", {"c": -0.01}, "clipping"),
    ("wgangp", {"n_critic": 0}, "n_critic"),
    ("wgangp", {"lam": -1.0}, "lambda"),
])
def test_bad_constructor_arguments(algo, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make(algo, **kwargs)


@pytest.mark.parametrize("generator_loss", ["saturating", "non-saturating"])
def test_both_generator_losses_train(generator_loss):
    trainer = make("gan", generator_loss=generator_loss)
    g_before = snapshot(trainer.G)
    history = trainer.train(ring_data(), 20, progress=False)
    assert len(history) == 20 and all(np.isfinite(history["loss_G"]))
    assert any(not np.array_equal(v, g_before[k]) for k, v in snapshot(trainer.G).items())
    # the two losses are different functions of D(G(z)): saturating is <= 0, non-saturating >= 0
    sign = -1 if generator_loss == "saturating" else 1
    assert all(sign * v >= 0 for v in history["loss_G"])


# ---------------------------------------------------------------------------------------------------------------
# behaviour on the ring
# ---------------------------------------------------------------------------------------------------------------
RING_ITERATIONS, RING_SEEDS = 1000, (0, 1, 2)


def ring_run(algo: str, seed: int):
    """1,000 generator iterations on the ring, batch 128, G and D with 3 hidden layers of 64, each algorithm with its
    paper's optimizer: the saturating GAN with DCGAN's Adam(2e-4, (0.5, 0.999)), k = 1; WGAN-GP with Adam(1e-4,
    (0, 0.9)), n_critic 5 and lambda 0.1 (Gulrajani et al.'s toy setting). Scored on 2,500 samples."""
    backend.seed(seed)
    G, D = toy_generator(nz=NZ, hidden=64), toy_discriminator(hidden=64)
    if algo == "gan":
        trainer = GAN(G, D, optim.Adam(G, 2e-4, (0.5, 0.999)), optim.Adam(D, 2e-4, (0.5, 0.999)), nz=NZ, m=128,
                      k=1, generator_loss="saturating", seed=seed)
    else:
        trainer = WGANGP(G, D, optim.Adam(G, 1e-4, (0.0, 0.9)), optim.Adam(D, 1e-4, (0.0, 0.9)), nz=NZ, m=128,
                         n_critic=5, lam=0.1, seed=seed)
    mixture = ring()
    trainer.train(mixture.sampler(backend.Random(seed + 1)), RING_ITERATIONS, progress=False)
    return mode_coverage(trainer.sample(2500), mixture.means, mixture.std)


@pytest.mark.slow
def test_wgangp_covers_the_ring_and_beats_the_saturating_gan():
    """WGAN-GP covers most of the 8 modes after 1,000 iterations and more than the saturating GAN does.

    Seen on this machine (NumPy 2.4, float32, seeds 0, 1, 2; see :func:`ring_run`):
        WGAN-GP         8/8, 7/8, 8/8 modes; 7.4%, 3.4%, 4.4% high quality
        saturating GAN  2/8, 0/8, 3/8 modes; 0.2%, 0.0%, 0.2% high quality
    The high-quality shares are still small this early (points lie between the modes, not yet within 3 std =
    0.03 of them); the assertion is on coverage only. Not claimed: that the saturating GAN stays behind. With
    Adam(1e-3) and 2,000 iterations it reached 8/8 modes on seeds 0..2 on this toy; its handicap here is the
    paper's game itself (saturating G gradients while D wins), which shows as slow, partial coverage.
    """
    gp = [ring_run("wgangp", s) for s in RING_SEEDS]
    gan = [ring_run("gan", s) for s in RING_SEEDS]
    gp_modes, gan_modes = [r.modes_covered for r in gp], [r.modes_covered for r in gan]
    summary = f"WGAN-GP {[str(r) for r in gp]}, saturating GAN {[str(r) for r in gan]}"
    assert np.median(gp_modes) >= 6, f"WGAN-GP does not cover most modes: {summary}"
    assert sum(gp_modes) > sum(gan_modes), f"WGAN-GP does not beat the saturating GAN: {summary}"
