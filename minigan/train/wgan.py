r"""Arjovsky, Chintala & Bottou 2017, Algorithm 1: WGAN with weight clipping.

    Require: alpha = 5e-5 (learning rate), c = 0.01 (clipping), m = 64 (batch size), n_critic = 5
    while theta has not converged do
        for t = 0, ..., n_critic do
            sample {x_i} ~ P_r a batch from the real data
            sample {z_i} ~ p(z) a batch of prior samples
            g_w <- grad_w [ (1/m) \sum f_w(x_i) - (1/m) \sum f_w(g_theta(z_i)) ]
            w <- w + alpha RMSProp(w, g_w)
            w <- clip(w, -c, c)
        end for
        sample {z_i} ~ p(z) a batch of prior samples
        g_theta <- -grad_theta (1/m) \sum f_w(g_theta(z_i))
        theta <- theta - alpha RMSProp(theta, g_theta)
    end while

The critic f_w outputs an unbounded score. Ascending its objective is descending wasserstein_real +
wasserstein_fake (losses.py); the estimate of W(P_r, P_theta) logged is the objective's value.
"""

from __future__ import annotations

from typing import ClassVar

from minigan import losses
from minigan.optim import clip_weights
from minigan.train.trainer import Count, Real, Trainer


class WGAN(Trainer):
    """Algorithm 1 of Arjovsky et al. 2017: n_critic critic steps (RMSProp + clipping to [-c, c]) per G step."""

    HYPERPARAMETERS = Trainer.HYPERPARAMETERS + ("n_critic", "c")  # saved in checkpoints
    HYPERPARAMETER_RULES: ClassVar[dict] = {**Trainer.HYPERPARAMETER_RULES, "n_critic": Count(1),
                                            "c": Real(0.0, strict=True)}  # what a checkpoint may set

    def __init__(self, G, D, opt_G, opt_D, nz: int, m: int = 64, n_critic: int = 5, c: float = 0.01,
                 seed: int | None = 0):
        super().__init__(G, D, opt_G, opt_D, nz, m, seed)
        if n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {n_critic}")
        if c <= 0:
            raise ValueError(f"the clipping constant c must be positive, got {c}")
        self.n_critic, self.c = n_critic, c
        clip_weights(self.D, self.c)  # the critic starts inside the compact set W = [-c, c]^l

    def critic_step(self, sample_data) -> dict:
        m, G, f = self.m, self.G, self.D
        x = sample_data(m)
        z = self.noise(m)
        f.zero_grad()
        loss_real, d_real = losses.wasserstein_real(f(x))
        f.backward(d_real, input_grad=False)  # the data needs no gradient: the first layer skips dx
        loss_fake, d_fake = losses.wasserstein_fake(f(G(z)))
        f.backward(d_fake, input_grad=False)
        self.opt_D.step()
        clip_weights(f, self.c)
        loss = loss_real + loss_fake
        return {"loss_D": loss, "wasserstein": -loss}

    def iteration(self, sample_data) -> dict:
        for _ in range(self.n_critic):
            record = self.critic_step(sample_data)
        record.update(self.generator_step(losses.generator_wasserstein))
        return record
