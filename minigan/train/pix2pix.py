r"""Isola et al. 2017, pix2pix: a conditional GAN that maps an image A to an image B, trained on aligned pairs.

The objective (the paper's eq. 4), with D seeing the input beside the output:

    G* = arg min_G max_D  L_cGAN(G, D) + lambda L_L1(G)
    L_cGAN(G, D) = E_{A,B}[log D(A, B)] + E_A[log(1 - D(A, G(A)))]
    L_L1(G)      = E_{A,B}[ |B - G(A)|_1 ]

and its training step, as the reference implementation (junyanz/pytorch-CycleGAN-and-pix2pix,
``models/pix2pix_model.py``, ``optimize_parameters``) runs it:

    fake_B = G(real_A)
    update D (Adam) to descend
        loss_D = 0.5 [ BCE(D(cat(real_A, fake_B)), 0) + BCE(D(cat(real_A, real_B)), 1) ]   (fake_B held fixed)
    update G (Adam) to descend, through the updated D (D's weights fixed)
        loss_G = BCE(D(cat(real_A, fake_B)), 1) + lambda_L1 |fake_B - real_B|_1

BCE is the binary cross-entropy with logits averaged over every patch of D's output (N, 1, H', W') and over the
batch; the L1 term is averaged over every pixel (PyTorch's L1Loss), weight lambda_L1 = 100. The factor 0.5 on D's
loss "slows down the rate at which D learns relative to G" (the paper, section 3.3). The G loss is the
non-saturating one (maximise log D(A, G(A))), as the paper uses. Adam(2e-4, (0.5, 0.999)) for both.

Backprop. D sees x = cat(A, B) along the channels, so dL/dB is the block of dL/dx after A's channels
(``D.backward`` returns dL/dx; A is data and its block is dropped). In the G step both terms reach fake_B:

    dL/dfake_B = J_D^T dBCE/dlogits [:, C_A:]  +  lambda_L1 sign(fake_B - real_B) / M

and G's backward takes the sum. G ran once (its cache holds real_A's forward); D ran three times (fake, real,
fake again), each backward right after its own forward.

``lambda_GAN`` switches the adversarial term: 1 is pix2pix; 0 is the paper's "L1 alone" row of its ablation
(Table 1), a plain regression with no D (D is then neither run nor updated).
"""

from __future__ import annotations

from typing import ClassVar

from minigan import backend, losses
from minigan.train.trainer import Count, Real, Trainer


class Pix2Pix(Trainer):
    """pix2pix's training step; ``sample_data(m)`` returns ``(real_A, real_B)``, aligned pairs (m, C, H, W).

    G maps (N, C_A, H, W) to (N, C_B, H, W); D takes (N, C_A + C_B, H, W) and returns patch logits.
    """

    HYPERPARAMETERS = Trainer.HYPERPARAMETERS + ("lambda_L1", "lambda_GAN")
    HYPERPARAMETER_RULES: ClassVar[dict] = {**Trainer.HYPERPARAMETER_RULES, "nz": Count(0, fixed=True),
                                            "lambda_L1": Real(0.0), "lambda_GAN": Real(0.0)}

    def __init__(self, G, D, opt_G, opt_D, m: int = 64, lambda_L1: float = 100.0, lambda_GAN: float = 1.0,
                 seed: int | None = 0):
        super().__init__(G, D, opt_G, opt_D, nz=0, m=m, seed=seed)  # no noise: pix2pix's G takes only A
        for name, value in (("lambda_L1", lambda_L1), ("lambda_GAN", lambda_GAN)):
            if not value >= 0:
                raise ValueError(f"Pix2Pix: {name} must be >= 0, got {value}")
        if lambda_L1 == 0 and lambda_GAN == 0:
            raise ValueError("Pix2Pix: lambda_L1 and lambda_GAN are both 0: G would have nothing to learn")
        self.lambda_L1, self.lambda_GAN = float(lambda_L1), float(lambda_GAN)

    def translate(self, real_A, train: bool = False):
        """G(A), by default in evaluation mode (BatchNorm running statistics)."""
        return self.G.forward(real_A, train=train)

    def discriminator_step(self, real_A, real_B, fake_B) -> dict:
        """Descend 0.5 [BCE(D(A, G(A)), 0) + BCE(D(A, B), 1)] in D's parameters."""
        xp = backend.array_module(real_A)
        D = self.D
        D.zero_grad()
        fake_logits = D(xp.concatenate([real_A, fake_B], axis=1))  # (m, 1, H', W')
        loss_fake, d_fake = losses.bce_with_logits_mean(fake_logits, 0.0)
        D.backward(0.5 * d_fake, input_grad=False)
        real_logits = D(xp.concatenate([real_A, real_B], axis=1))
        loss_real, d_real = losses.bce_with_logits_mean(real_logits, 1.0)
        D.backward(0.5 * d_real, input_grad=False)
        self.opt_D.step()
        return {"loss_D": 0.5 * (loss_fake + loss_real), "D(A,B)": losses.sigmoid(real_logits).mean(),
                "D(A,G(A))": losses.sigmoid(fake_logits).mean()}

    def generator_step(self, real_A, real_B, fake_B) -> dict:
        """Descend lambda_GAN BCE(D(A, G(A)), 1) + lambda_L1 |G(A) - B|_1 in G's parameters (G's cache holds
        the forward that made fake_B)."""
        xp = backend.array_module(real_A)
        record = {}
        self.G.zero_grad()
        loss_L1, d_L1 = losses.l1_mean(fake_B, real_B)
        d_fake_B = self.lambda_L1 * d_L1  # (m, C_B, H, W)
        if self.lambda_GAN:
            fake_logits = self.D(xp.concatenate([real_A, fake_B], axis=1))
            loss_GAN, d_logits = losses.bce_with_logits_mean(fake_logits, 1.0)
            d_x = self.D.backward(self.lambda_GAN * d_logits, param_grads=False)  # (m, C_A + C_B, H, W)
            d_fake_B = d_fake_B + d_x[:, real_A.shape[1]:]  # the block of fake_B; real_A's is dropped
            record["loss_G_GAN"] = loss_GAN
        self.G.backward(d_fake_B, input_grad=False)
        self.opt_G.step()
        record["loss_G_L1"] = loss_L1
        return record

    def iteration(self, sample_data) -> dict:
        real_A, real_B = sample_data(self.m)
        fake_B = self.G(real_A)  # (m, C_B, H, W), in training mode
        record = self.discriminator_step(real_A, real_B, fake_B) if self.lambda_GAN else {}
        record.update(self.generator_step(real_A, real_B, fake_B))
        return record
