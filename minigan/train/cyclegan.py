r"""Zhu et al. 2017, CycleGAN: two translators between image domains A and B, learned from unpaired images.

The objective (the paper's eq. 3, with the least-squares GAN loss of its section 4 and the identity loss of
its section 5.2), in the reference implementation's names (junyanz/pytorch-CycleGAN-and-pix2pix,
``models/cycle_gan_model.py``): G_A maps A to B (the paper's G), G_B maps B to A (F), D_A judges B (D_Y), D_B
judges A (D_X):

    L_G = MSE(D_A(G_A(a)), 1) + MSE(D_B(G_B(b)), 1)                                       (LSGAN, G's side)
        + lambda_A |G_B(G_A(a)) - a|_1 + lambda_B |G_A(G_B(b)) - b|_1                     (cycle consistency)
        + lambda_identity (lambda_B |G_A(b) - b|_1 + lambda_A |G_B(a) - a|_1)              (identity)
    L_D_A = 0.5 [MSE(D_A(b), 1) + MSE(D_A(pool_B(G_A(a))), 0)]
    L_D_B = 0.5 [MSE(D_B(a), 1) + MSE(D_B(pool_A(G_B(b))), 0)]

MSE and |.|_1 average over every element (PyTorch's MSELoss and L1Loss: :func:`minigan.losses.mse_mean`,
:func:`minigan.losses.l1_mean`); D's outputs are PatchGAN score maps (N, 1, H', W'), taken as they are (no
sigmoid). lambda_A = lambda_B = 10, lambda_identity = 0.5, Adam(2e-4, (0.5, 0.999)) over both generators and
another over both discriminators.

The reference's training step (``optimize_parameters``), which :meth:`CycleGAN.iteration` follows:

    real_A, real_B = two unpaired batches
    forward:  fake_B = G_A(real_A);  rec_A = G_B(fake_B);  fake_A = G_B(real_B);  rec_B = G_A(fake_A)
    G_A and G_B (D_A, D_B frozen):
        zero G's gradients
        loss_idt_A = L1(G_A(real_B), real_B) lambda_B lambda_identity     (none when lambda_identity = 0)
        loss_idt_B = L1(G_B(real_A), real_A) lambda_A lambda_identity
        loss_G_A = MSE(D_A(fake_B), 1);  loss_G_B = MSE(D_B(fake_A), 1)
        loss_cycle_A = L1(rec_A, real_A) lambda_A;  loss_cycle_B = L1(rec_B, real_B) lambda_B
        backward of the sum;  Adam step of G
    D_A and D_B:
        zero D's gradients
        loss_D_A = 0.5 [MSE(D_A(real_B), 1) + MSE(D_A(fake_B_pool.query(fake_B)), 0)];  backward
        loss_D_B = 0.5 [MSE(D_B(real_A), 1) + MSE(D_B(fake_A_pool.query(fake_A)), 0)];  backward
        Adam step of D

D learns from the fakes of the forward above (made before G's step), through the image pools (Shrivastava et
al. 2017): :class:`ImagePool`.

Backprop without autograd. Each minigan module keeps the cache of its last forward only, and G_A runs on three
inputs (real_A, fake_A, real_B), G_B on three (real_B, fake_B, real_A). The step is therefore ordered so that
every backward runs right after the forward whose cache it needs, with the four forwards in the reference's
order. Both the GAN loss and the cycle loss reach fake_B = G_A(real_A):

    dL/dfake_B = J_{D_A}(fake_B)^T dMSE/dscores  +  lambda_A J_{G_B}(fake_B)^T dL1/drec_A,

and G_B's parameters receive the cycle term's gradient on the way. So one direction
(:meth:`CycleGAN.cycle_step`) runs fake_B = G_A(real_A) (G_A's cache: real_A), then D_A(fake_B) forward and
backward for dL/dfake_B only (D is frozen: ``param_grads=False``), then rec_A = G_B(fake_B) forward and
backward (G_B's parameter gradients, and its dL/dfake_B), and G_A's backward of the sum while its cache still
holds real_A. Then the other direction, with the roles swapped (fake_A, rec_B), then the identity terms, each
a forward and its backward. Every network runs three times forward and three times backward, as under
autograd; gradients add up in ``grads`` until the next zero_grad.

Learning rate: the reference's "linear" policy (``networks.get_scheduler``), counted in iterations instead of
epochs. Iteration t = 1, 2, ... runs at

    lr_t = lr_0 (1 - max(0, t - iterations_constant) / (iterations_decay + 1)),

lr_0 for the first iterations_constant iterations, then down by lr_0 / (iterations_decay + 1) per iteration
over iterations_decay more; lr_0 / (iterations_decay + 1) at the last. This is the reference's ``lambda_rule``
with ``epoch_count`` = 1 as its original train.py applies it (``update_learning_rate`` at the end of each
epoch). Past the schedule the rate stays at 0, never below. lr_0 is each optimizer's ``initial_lr``. (The
reference's current train.py calls ``update_learning_rate`` at the start of each epoch instead, which moves
the schedule one epoch earlier and runs its last epoch at 0.)

Departures from the reference: the schedule counts iterations, not epochs; the default batch is m = 4 images
per domain (the reference: 1); the pool's random draws come from its own seeded generator in another order
than Python's ``random`` (the same distribution: :class:`ImagePool`); past the schedule the rate is held at 0.
``sample_data`` is the caller's: two independently shuffled streams (:class:`minigan.data.Batches`) visit
every B image once per epoch, where the reference's unaligned dataset draws each B image uniformly with
replacement (``--serial_batches`` off). The losses, their weights, the order of the updates, the pools and the
optimizers are the reference's.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from minigan import backend, losses
from minigan.nn import ModuleDict
from minigan.train.trainer import Count, Real, StateError, Trainer


# ---------------------------------------------------------------------------------------------------------------
# the image pool
# ---------------------------------------------------------------------------------------------------------------
class ImagePool:
    """The reference's ``util/image_pool.py``: a buffer of up to ``pool_size`` generated images that D learns
    from, so that D sees fakes of earlier generators too (Shrivastava et al. 2017).

    ``query(images)`` with images (n, C, H, W) returns n images, one per input image in order:

    * while the pool holds fewer than pool_size images, the image is stored and returned itself;
    * once it is full, with probability 1/2 a uniformly chosen stored image is returned and the new one takes
      its place; otherwise the new image is returned and the pool is unchanged.

    pool_size = 0: ``query`` returns its input as it is. The draws come from ``rng``, a
    :class:`minigan.backend.Random` the pool owns: per query, u (k,) uniform on [0, 1) and ids (k,) uniform on
    {0, .., pool_size - 1} for the k images that meet a full pool; image i swaps when u_i > 0.5, with the
    stored image ids_i. (The reference draws u per image and an id only when it swaps, from Python's
    ``random``: the same distribution, another stream.)
    """

    def __init__(self, pool_size: int = 50, seed: int | None = None):
        if not isinstance(pool_size, numbers.Integral) or isinstance(pool_size, bool) or pool_size < 0:
            raise ValueError(f"ImagePool: pool_size must be an integer >= 0, got {pool_size!r}")
        self.pool_size = int(pool_size)
        self.rng = backend.Random(seed)
        self.images: list = []  # the stored images, each (C, H, W)

    @property
    def num_imgs(self) -> int:
        """How many images the pool holds (the reference's ``num_imgs``)."""
        return len(self.images)

    def query(self, images):
        """images (n, C, H, W) -> (n, C, H, W): see the class docstring."""
        if self.pool_size == 0:
            return images
        xp = backend.array_module(images)
        n = images.shape[0]
        n_fill = min(n, self.pool_size - len(self.images))  # the images that go in while the pool fills
        out = []
        for image in images[:n_fill]:  # (C, H, W)
            self.images.append(image.copy())
            out.append(image)
        k = n - n_fill
        if k:
            u = backend.to_numpy(self.rng.random((k,), np.float64))  # (k,) on [0, 1)
            ids = backend.to_numpy(self.rng.integers(0, self.pool_size, (k,)))  # (k,) on {0, .., size - 1}
            for image, u_i, i in zip(images[n_fill:], u, ids):
                if u_i > 0.5:  # the stored image goes out, the new one takes its place
                    out.append(self.images[int(i)])
                    self.images[int(i)] = image.copy()
                else:
                    out.append(image)
        return xp.stack(out)  # (n, C, H, W)

    def stacked(self):
        """The stored images as one host array (num_imgs, C, H, W); shape (0,) when empty."""
        if not self.images:
            return np.zeros((0,))
        return np.stack([backend.to_numpy(image) for image in self.images])


def _first_layer(module):
    while hasattr(module, "layers") and module.layers:
        module = module.layers[0]
    return module


def _brief(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------------------------------
# the trainer
# ---------------------------------------------------------------------------------------------------------------
class CycleGAN(Trainer):
    """CycleGAN's training step; ``sample_data(m)`` returns ``(real_A, real_B)``: m images of each domain,
    (m, C_A, H, W) and (m, C_B, H, W) in [-1, 1], drawn independently (unpaired).

    G: ``ModuleDict(G_A=A -> B, G_B=B -> A)``; D: ``ModuleDict(D_A=judge of B, D_B=judge of A)``
    (:func:`minigan.models.cyclegan.cyclegan_networks`); opt_G over G (both generators), opt_D over D.
    CycleGAN has no noise (nz = 0); the pools' generators are part of :meth:`generators`, the pools' images
    part of the state (:meth:`state_dict`), so a resumed run continues bit for bit.
    """

    HYPERPARAMETERS = Trainer.HYPERPARAMETERS + ("lambda_A", "lambda_B", "lambda_identity", "pool_size",
                                                 "iterations_constant", "iterations_decay")  # in checkpoints
    HYPERPARAMETER_RULES: ClassVar[dict] = {**Trainer.HYPERPARAMETER_RULES, "nz": Count(0, fixed=True),
                                            "lambda_A": Real(0.0), "lambda_B": Real(0.0),
                                            "lambda_identity": Real(0.0), "pool_size": Count(0),
                                            "iterations_constant": Count(0), "iterations_decay": Count(0)}

    POOLS = ("fake_A_pool", "fake_B_pool")

    def __init__(self, G, D, opt_G, opt_D, m: int = 4, lambda_A: float = 10.0, lambda_B: float = 10.0,
                 lambda_identity: float = 0.5, pool_size: int = 50, iterations_constant: int = 2000,
                 iterations_decay: int = 2000, seed: int | None = 0):
        for what, net, names in (("G", G, ("G_A", "G_B")), ("D", D, ("D_A", "D_B"))):
            if not isinstance(net, ModuleDict) or set(net) != set(names):
                raise TypeError(f"CycleGAN: {what} must be a ModuleDict with members {list(names)} "
                                f"(minigan.models.cyclegan.cyclegan_networks), got {type(net).__name__}")
        super().__init__(G, D, opt_G, opt_D, nz=0, m=m, seed=seed)  # no noise: CycleGAN's G takes only images
        lambdas = {"lambda_A": lambda_A, "lambda_B": lambda_B, "lambda_identity": lambda_identity}
        for name, value in lambdas.items():
            if not (isinstance(value, numbers.Real) and np.isfinite(value) and value >= 0):
                raise ValueError(f"CycleGAN: {name} must be a finite number >= 0, got {value!r}")
        counts = {"iterations_constant": iterations_constant, "iterations_decay": iterations_decay}
        for name, value in counts.items():
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
                raise ValueError(f"CycleGAN: {name} must be an integer >= 0, got {value!r}")
        if lambda_identity > 0:  # the reference's assert(opt.input_nc == opt.output_nc)
            convs = [mod for _, mod in G["G_A"].named_modules() if hasattr(mod, "in_channels")]
            if convs and convs[0].in_channels != convs[-1].out_channels:
                raise ValueError(f"CycleGAN: the identity loss feeds G_A images of domain B, but G_A takes "
                                 f"{convs[0].in_channels} channels and makes {convs[-1].out_channels}; set "
                                 f"lambda_identity=0")
        self.lambda_A, self.lambda_B = float(lambda_A), float(lambda_B)
        self.lambda_identity = float(lambda_identity)
        self.iterations_constant, self.iterations_decay = int(iterations_constant), int(iterations_decay)
        seeds = [None, None] if seed is None else np.random.SeedSequence(seed).generate_state(2)
        self.fake_A_pool = ImagePool(pool_size, None if seed is None else int(seeds[0]))  # D_B learns from it
        self.fake_B_pool = ImagePool(pool_size, None if seed is None else int(seeds[1]))  # D_A learns from it

    @property
    def pool_size(self) -> int:
        """The size of both image pools (the reference's ``--pool_size``)."""
        return self.fake_A_pool.pool_size

    @pool_size.setter
    def pool_size(self, value: int) -> None:
        self.fake_A_pool.pool_size = self.fake_B_pool.pool_size = int(value)

    # -- the learning rate ----------------------------------------------------------------------------------------
    def lr_factor(self, t: int) -> float:
        """lr_t / lr_0 for iteration t (1-based): 1 - max(0, t - iterations_constant) / (iterations_decay +
        1), not below 0."""
        return max(0.0, 1.0 - max(0, t - self.iterations_constant) / (self.iterations_decay + 1))

    def update_learning_rate(self) -> float:
        """Set both optimizers' lr for the coming iteration t = iterations_done + 1; returns it (G's)."""
        factor = self.lr_factor(self.iterations_done + 1)
        for opt in (self.opt_G, self.opt_D):
            opt.lr = opt.initial_lr * factor
        return self.opt_G.lr

    # -- the training step ----------------------------------------------------------------------------------------
    def cycle_step(self, G, F, D, real, lambda_cycle: float):
        r"""One direction of the G step: fake = G(real), its GAN loss MSE(D(fake), 1) and its cycle loss
        lambda_cycle |F(fake) - real|_1. Adds to F's parameter gradients (the cycle term) and to G's (both
        terms, summed at fake); D is only run through. Returns (fake, loss_GAN, loss_cycle).

        (G, F, D) = (G_A, G_B, D_A) for real_A: fake_B, loss_G_A, loss_cycle_A; (G_B, G_A, D_B) for real_B.
        """
        fake = G(real)  # (m, C', H, W); G's cache: real
        loss_gan, d_scores = losses.mse_mean(D(fake), 1.0)  # scores (m, 1, H', W')
        d_fake = D.backward(d_scores, param_grads=False)  # dL_GAN/dfake; D frozen
        rec = F(fake)  # (m, C, H, W); F's cache: fake
        loss_cycle, d_rec = losses.l1_mean(rec, real)
        d_fake = d_fake + F.backward(lambda_cycle * d_rec)  # + the cycle term's dL/dfake; F's gradients
        G.backward(d_fake, input_grad=False)  # G's cache still holds real
        return fake, loss_gan, lambda_cycle * loss_cycle

    def identity_step(self, G, real, weight: float):
        """weight |G(real) - real|_1 (G fed its own output domain should change nothing); adds to G's
        parameter gradients. Returns the loss."""
        idt = G(real)
        if idt.shape != real.shape:
            raise ValueError(f"CycleGAN: the identity loss needs G to keep the image shape (input_nc == "
                             f"output_nc), but {tuple(real.shape)} became {tuple(idt.shape)}; set "
                             f"lambda_identity=0")
        loss, d_idt = losses.l1_mean(idt, real)
        G.backward(weight * d_idt, input_grad=False)
        return weight * loss

    def backward_D_basic(self, D, real, fake):
        """0.5 [MSE(D(real), 1) + MSE(D(fake), 0)]; adds its gradient to D's parameters. Returns the loss."""
        loss_real, d_real = losses.mse_mean(D(real), 1.0)
        D.backward(0.5 * d_real, input_grad=False)  # the data needs no gradient
        loss_fake, d_fake = losses.mse_mean(D(fake), 0.0)
        D.backward(0.5 * d_fake, input_grad=False)  # fake is held fixed (the reference's fake.detach())
        return 0.5 * (loss_real + loss_fake)

    def _real_batches(self, sample_data):
        batch = sample_data(self.m)
        if not (isinstance(batch, tuple) and len(batch) == 2):
            raise TypeError(f"CycleGAN: sample_data(m) must return a tuple (real_A, real_B), got "
                            f"{type(batch).__name__}")
        return batch

    def iteration(self, sample_data) -> dict:
        G_A, G_B, D_A, D_B = self.G["G_A"], self.G["G_B"], self.D["D_A"], self.D["D_B"]
        real_A, real_B = self._real_batches(sample_data)  # (m, C_A, H, W), (m, C_B, H, W)
        lr = self.update_learning_rate()
        # G_A and G_B, D_A and D_B frozen
        self.G.zero_grad()
        fake_B, loss_G_A, loss_cycle_A = self.cycle_step(G_A, G_B, D_A, real_A, self.lambda_A)
        fake_A, loss_G_B, loss_cycle_B = self.cycle_step(G_B, G_A, D_B, real_B, self.lambda_B)
        loss_idt_A = loss_idt_B = 0.0
        if self.lambda_identity > 0:
            loss_idt_A = self.identity_step(G_A, real_B, self.lambda_B * self.lambda_identity)
            loss_idt_B = self.identity_step(G_B, real_A, self.lambda_A * self.lambda_identity)
        self.opt_G.step()
        # D_A and D_B, on the fakes made before G's step
        self.D.zero_grad()
        loss_D_A = self.backward_D_basic(D_A, real_B, self.fake_B_pool.query(fake_B))
        loss_D_B = self.backward_D_basic(D_B, real_A, self.fake_A_pool.query(fake_A))
        self.opt_D.step()
        return {"loss_D_A": loss_D_A, "loss_G_A": loss_G_A, "loss_cycle_A": loss_cycle_A,
                "loss_idt_A": loss_idt_A, "loss_D_B": loss_D_B, "loss_G_B": loss_G_B,
                "loss_cycle_B": loss_cycle_B, "loss_idt_B": loss_idt_B, "lr": lr}

    def translate(self, x, direction: str = "AB", train: bool = False):
        """G_A(x) for direction "AB" (A -> B), G_B(x) for "BA"; by default in evaluation mode."""
        if direction not in ("AB", "BA"):
            raise ValueError(f"CycleGAN.translate: direction must be 'AB' or 'BA', got {direction!r}")
        return self.G["G_A" if direction == "AB" else "G_B"].forward(x, train=train)

    def sample(self, n: int, train: bool = False):
        """CycleGAN draws nothing from noise: there is nothing to sample. Use :meth:`translate`."""
        raise TypeError("CycleGAN has no noise to sample from: translate images with "
                        "CycleGAN.translate(x, 'AB')")

    # -- checkpoints ----------------------------------------------------------------------------------------------
    def generators(self) -> dict:
        """The base trainer's generators and the two pools' (``"fake_A_pool"``, ``"fake_B_pool"``)."""
        found = super().generators()
        for name in self.POOLS:
            found[name] = getattr(self, name).rng
        return found

    STATE_KEYS = Trainer.STATE_KEYS + ("pools",)

    def state_dict(self) -> dict:
        """The base trainer's state and ``pools``: {"fake_A_pool": images, "fake_B_pool": images}, each the
        stored images as nested lists of shape (num_imgs, C, H, W) ([] when empty). Lists, not arrays, because
        minigan.io writes every field but G, D, opt_G and opt_D as JSON; float32 and float64 values come back
        exactly."""
        state = super().state_dict()
        state["pools"] = {name: getattr(self, name).stacked().tolist() for name in self.POOLS}
        return state

    def load_state_dict(self, state: dict) -> None:
        """The base trainer's :meth:`~minigan.train.trainer.Trainer.load_state_dict`, and the pools' images.

        ``pools`` must hold exactly "fake_A_pool" and "fake_B_pool", each an array-like of real floating
        values (nested lists or an array) of shape (k, C, H, W), k <= the state's pool_size and C the channels
        of the discriminator that judges them (D_B's input for fake_A_pool, D_A's for fake_B_pool), finite
        after the cast to the networks' dtype; or empty ([]). The pools are checked before anything is applied
        and applied only after every other field was, so a refused state (StateError naming the field) leaves
        the trainer as it was.
        """
        where = f"{type(self).__name__}.load_state_dict"
        plan = None
        if isinstance(state, Mapping) and "pools" in state and "hyperparameters" in state:
            pool_size = self._check_hyperparameters(state["hyperparameters"], where)["pool_size"]
            plan = self._check_pools(state["pools"], pool_size, where)
        super().load_state_dict(state)  # checks every other field (a missing "pools" too), then applies
        for name, images in plan.items():  # nothing here can fail
            getattr(self, name).images = images

    def _check_pools(self, pools, pool_size: int, where: str) -> dict:
        """Pool name -> list of (C, H, W) images on the networks' backend and dtype; StateError if refused."""
        if not isinstance(pools, Mapping) or set(pools) != set(self.POOLS):
            got = sorted(map(str, pools)) if isinstance(pools, Mapping) else type(pools).__name__
            raise StateError(f"{where}: pools must be a dict with exactly {list(self.POOLS)}, got "
                             f"{_brief(got, 120)}")
        first = next(iter(self.G.params.values()))
        judges = {"fake_A_pool": self.D["D_B"], "fake_B_pool": self.D["D_A"]}
        plan = {}
        for name in self.POOLS:
            field = f"pools[{name!r}]"
            try:
                value = pools[name]
                value = np.asarray(backend.to_numpy(value) if backend.is_cupy(value) else value)
            except (ValueError, TypeError) as exc:  # ragged lists and the like
                raise StateError(f"{where}: {field} is not an array of images ({exc})") from None
            if value.size == 0 and value.ndim in (1, 4) and value.shape[0] == 0:
                plan[name] = []
                continue
            if value.ndim != 4:
                raise StateError(f"{where}: {field} must be images (k, C, H, W), got shape {value.shape}")
            if value.dtype.kind != "f":
                raise StateError(f"{where}: {field} has dtype {value.dtype}; expected real floating-point "
                                 f"values")
            if value.shape[0] > pool_size:
                raise StateError(f"{where}: {field} holds {value.shape[0]} images, more than pool_size = "
                                 f"{pool_size}")
            channels = getattr(_first_layer(judges[name]), "in_channels", value.shape[1])
            if value.shape[1] != channels:
                raise StateError(f"{where}: {field} has {value.shape[1]} channels, but the discriminator "
                                 f"that judges them takes {channels}")
            with np.errstate(over="ignore", invalid="ignore"):  # overflow shows up as inf, refused just below
                images = backend.to_backend(value, backend.backend_of(first), first.dtype)
            if not bool(backend.array_module(images).isfinite(images).all()):
                raise StateError(f"{where}: {field} holds NaN or inf (or values beyond {first.dtype})")
            plan[name] = list(images)  # (C, H, W) views of one fresh array
        return plan
