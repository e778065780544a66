r"""Goodfellow et al. 2014, Algorithm 1: minibatch stochastic gradient training of generative adversarial nets.

    for number of training iterations do
        for k steps do
            sample minibatch of m noise samples {z_1..z_m} from the noise prior p_g(z)
            sample minibatch of m examples {x_1..x_m} from the data generating distribution p_data(x)
            update the discriminator by ascending its stochastic gradient
                grad_{theta_d} (1/m) \sum_i [ log D(x_i) + log(1 - D(G(z_i))) ]
        end for
        sample minibatch of m noise samples {z_1..z_m} from the noise prior p_g(z)
        update the generator by descending its stochastic gradient
                grad_{theta_g} (1/m) \sum_i log(1 - D(G(z_i)))              ("saturating", the paper's game)
            or, as the paper recommends in practice, ascending (1/m) \sum_i log D(G(z_i))     ("non-saturating")
    end for

D outputs logits; ascending the objective is descending minimax_real + minimax_fake (losses.py), whose sigmoids are
folded in. The optimizers are the caller's choice (the paper used SGD with momentum; DCGAN uses Adam(2e-4, 0.5)).
"""

from __future__ import annotations

from typing import ClassVar

from minigan import losses
from minigan.train.trainer import Count, OneOf, Trainer

GENERATOR_LOSSES = {
    "saturating": losses.generator_saturating,
    "non-saturating": losses.generator_non_saturating,
}


class GAN(Trainer):
    """Algorithm 1 of Goodfellow et al. 2014 with k discriminator steps per generator step."""

    HYPERPARAMETERS = Trainer.HYPERPARAMETERS + ("k", "generator_loss")  # saved in checkpoints
    HYPERPARAMETER_RULES: ClassVar[dict] = {**Trainer.HYPERPARAMETER_RULES, "k": Count(1),
                                            "generator_loss": OneOf(GENERATOR_LOSSES)}  # what a checkpoint may set

    def __init__(self, G, D, opt_G, opt_D, nz: int, m: int = 64, k: int = 1,
                 generator_loss: str = "non-saturating", seed: int | None = 0):
        super().__init__(G, D, opt_G, opt_D, nz, m, seed)
        if k < 1:
            raise ValueError(f"k (discriminator steps per generator step) must be >= 1, got {k}")
        if generator_loss not in GENERATOR_LOSSES:
            raise ValueError(f"generator_loss must be one of {list(GENERATOR_LOSSES)}, got {generator_loss!r}")
        self.k = k
        self.generator_loss = generator_loss

    def discriminator_step(self, sample_data) -> dict:
        """One ascent step of D on (1/m) sum [log D(x) + log(1 - D(G(z)))]."""
        m, G, D = self.m, self.G, self.D
        z = self.noise(m)
        x = sample_data(m)
        D.zero_grad()
        real_logits = D(x)
        loss_real, d_real = losses.minimax_real(real_logits)
        D.backward(d_real, input_grad=False)  # the data needs no gradient: D's first layer skips dx
        fake_logits = D(G(z))
        loss_fake, d_fake = losses.minimax_fake(fake_logits)
        D.backward(d_fake, input_grad=False)
        self.opt_D.step()
        return {"loss_D": loss_real + loss_fake, "D(x)": losses.sigmoid(real_logits).mean(),
                "D(G(z))": losses.sigmoid(fake_logits).mean()}

    def iteration(self, sample_data) -> dict:
        for _ in range(self.k):
            record = self.discriminator_step(sample_data)
        record.update(self.generator_step(GENERATOR_LOSSES[self.generator_loss]))
        return record
