r"""Gulrajani et al. 2017, Algorithm 1: WGAN with gradient penalty.

    Require: lambda = 10, n_critic = 5, alpha = 1e-4, beta_1 = 0, beta_2 = 0.9
    while theta has not converged do
        for t = 1, ..., n_critic do
            for i = 1, ..., m do
                sample real data x ~ P_r, latent variable z ~ p(z), a random number eps ~ U[0, 1]
                x_tilde <- G_theta(z)
                x_hat <- eps x + (1 - eps) x_tilde
                L_i <- D_w(x_tilde) - D_w(x) + lambda (||grad_{x_hat} D_w(x_hat)||_2 - 1)^2
            end for
            w <- Adam(grad_w (1/m) \sum_i L_i, w, alpha, beta_1, beta_2)
        end for
        sample a batch of latent variables {z_i} ~ p(z)
        theta <- Adam(grad_theta (1/m) \sum_i -D_w(G_theta(z_i)), theta, alpha, beta_1, beta_2)
    end while

The inner loop over i is done for the whole batch at once. The penalty's parameter gradient is derived by hand in
minigan/gradient_penalty.py; the critic may hold no BatchNorm (the paper's rule), which is checked up front.
"""

from __future__ import annotations

from typing import ClassVar

from minigan import losses
from minigan.gradient_penalty import check_penalty_support, gradient_penalty
from minigan.train.trainer import Count, Real, Trainer


class WGANGP(Trainer):
    """Algorithm 1 of Gulrajani et al. 2017: n_critic critic steps with the gradient penalty per G step."""

    HYPERPARAMETERS = Trainer.HYPERPARAMETERS + ("n_critic", "lam")  # saved in checkpoints
    HYPERPARAMETER_RULES: ClassVar[dict] = {**Trainer.HYPERPARAMETER_RULES, "n_critic": Count(1),
                                            "lam": Real(0.0)}  # what a checkpoint may set

    def __init__(self, G, D, opt_G, opt_D, nz: int, m: int = 64, n_critic: int = 5, lam: float = 10.0,
                 seed: int | None = 0):
        super().__init__(G, D, opt_G, opt_D, nz, m, seed)
        if n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {n_critic}")
        if lam < 0:
            raise ValueError(f"lambda must be >= 0, got {lam}")
        check_penalty_support(D)
        self.n_critic, self.lam = n_critic, lam

    def critic_step(self, sample_data) -> dict:
        m, G, D = self.m, self.G, self.D
        x = sample_data(m)
        z = self.noise(m)
        eps = self.rng.random((m,) + (1,) * (x.ndim - 1), x.dtype)
        x_tilde = G(z)
        x_hat = eps * x + (1 - eps) * x_tilde
        D.zero_grad()
        loss_real, d_real = losses.wasserstein_real(D(x))
        D.backward(d_real, input_grad=False)  # the data needs no gradient: D's first layer skips dx
        loss_fake, d_fake = losses.wasserstein_fake(D(x_tilde))
        D.backward(d_fake, input_grad=False)
        penalty, norms = gradient_penalty(D, x_hat, self.lam)
        self.opt_D.step()
        return {"loss_D": loss_real + loss_fake + penalty, "wasserstein": -(loss_real + loss_fake),
                "penalty": penalty, "grad_norm": norms.mean()}

    def iteration(self, sample_data) -> dict:
        for _ in range(self.n_critic):
            record = self.critic_step(sample_data)
        record.update(self.generator_step(losses.generator_wasserstein))
        return record
