"""Export to PyTorch: a minigan network as a ``torch.nn.Sequential``, and a checkpoint's generator as two files.

    from minigan.export import export_checkpoint, to_torch

    tg = to_torch(G)                                  # torch.nn.Sequential: G's layers and weights, in eval mode
    export_checkpoint("runs/dcgan-mnist/checkpoint.npz", "G.pt")   # -> G.pt (state dict) and G.py (its network)

or, from the shell, ``minigan export runs/dcgan-mnist/checkpoint.npz --out G.pt``. Then, with torch alone:

    import torch
    from G import build                               # the G.py written next to G.pt
    G = build(); G.load_state_dict(torch.load("G.pt")); G.eval()
    x = G(torch.randn(16, 100))                       # (16, 1, 28, 28), in [-1, 1]

minigan's parameter names and shapes are PyTorch's, so exporting is a change of container: every layer has a torch
layer of the same kind and hyperparameters, and the state dict (parameters AND buffers: BatchNorm's
``running_mean``, ``running_var`` and ``num_batches_tracked``) moves over name for name. The mapping, the one used
by :mod:`minigan.lab.torch_twin` as well (it imports it from here), is :func:`torch_layers`:

    minigan.nn                              torch.nn
    Dense(i, o, bias)                       Linear(i, o, bias)
    Conv2d(i, o, k, stride, padding, bias)  Conv2d(i, o, k, stride, padding, bias)
    ConvTranspose2d(..., output_padding)    ConvTranspose2d(..., output_padding)
    BatchNorm1d / BatchNorm2d(c, eps, momentum, affine)   BatchNorm1d / BatchNorm2d(c, eps, momentum, affine)
    ReLU, LeakyReLU(slope), Tanh, Sigmoid   ReLU, LeakyReLU(slope), Tanh, Sigmoid
    Dropout(p)                              Dropout(p)
    Flatten                                 Flatten
    Reshape(*shape)                         Sequential(Flatten(), Unflatten(1, shape))   (reshape to (N, *shape))
    Sequential(...)                         Sequential(...)   (nested: names ``3.0.weight`` on both sides)
    InstanceNorm2d(c, eps, momentum, affine, track_running_stats)   InstanceNorm2d(the same)
    ReflectionPad2d(padding)                ReflectionPad2d((left, right, top, bottom))
    Upsample(scale_factor)                  Upsample(scale_factor=..., mode="nearest")
    Embedding(v, d, padding_idx)            Embedding(v, d, padding_idx)
    SkipConcat(f, name="model")             SkipConcat(f, name)  cat([x, f(x)], 1), f as attribute ``model``
    Residual(f, name="conv_block")          Residual(f, name)    x + f(x), f as attribute ``conv_block``

torch has no module for the last two (pytorch-CycleGAN-and-pix2pix writes them inside UnetSkipConnectionBlock and
ResnetBlock): :data:`TORCH_CLASSES` holds the source of two small torch modules, which :func:`build_torch` runs to
make them and :func:`export_generator` writes into the file that uses them, so their names (``model.0.weight``,
``conv_block.1.weight``) are minigan's on both sides.

It describes each torch layer as data (:class:`TorchLayer`: a class name and its arguments); from that one
description :func:`build_torch` builds the modules and :func:`torch_source` writes the Python code of the
standalone file, so the file and the in-memory network cannot disagree. A layer it does not know (or a subclass
of a known one, which may compute something else) is a TypeError naming the layer and its place.

Conditional generators (cgan-mnist, cgan-dcgan-mnist) take z concatenated with the one-hot label, ``[z,
one_hot(y, K)]`` in that order, as minigan's CGAN feeds them; the written file says so and has
``with_labels(z, labels)`` to build that input.

torch is imported inside the functions that need it: ``import minigan.export`` does not import it, and without
torch they raise :class:`TorchUnavailableError` (an ImportError).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from minigan import backend

__all__ = ["KNOWN_LAYERS", "TORCH_CLASSES", "TorchLayer", "TorchUnavailableError", "build_torch",
           "export_checkpoint", "export_generator", "load_state", "to_torch", "torch_layers", "torch_source"]

KNOWN_LAYERS = ("Dense", "Conv2d", "ConvTranspose2d", "BatchNorm1d", "BatchNorm2d", "ReLU", "LeakyReLU", "Tanh",
                "Sigmoid", "Dropout", "Flatten", "Reshape", "Sequential", "InstanceNorm2d", "ReflectionPad2d",
                "Upsample", "Embedding", "SkipConcat", "Residual")

TORCH_CLASSES = {  # torch modules for minigan's containers that torch lacks: the one source of both twin and file
    "SkipConcat": '''class SkipConcat(nn.Module):
    """y = cat([x, f(x)], dim=1), f held as self.<name> ("model", as in UnetSkipConnectionBlock): minigan's
    nn.SkipConcat."""

    def __init__(self, inner, name="model"):
        super().__init__()
        self.inner_name = name
        self.add_module(name, inner)

    def forward(self, x):
        return torch.cat([x, getattr(self, self.inner_name)(x)], 1)
''',
    "Residual": '''class Residual(nn.Module):
    """y = x + f(x), f held as self.<name> ("conv_block", as in ResnetBlock): minigan's nn.Residual."""

    def __init__(self, inner, name="conv_block"):
        super().__init__()
        self.inner_name = name
        self.add_module(name, inner)

    def forward(self, x):
        return x + getattr(self, self.inner_name)(x)
''',
}
_torch_classes: dict = {}  # kind -> the class made from TORCH_CLASSES[kind]


class TorchUnavailableError(ImportError):
    """Exporting to PyTorch was asked for, and torch cannot be imported."""


def _import_torch():
    try:
        import torch
    except ImportError as exc:
        raise TorchUnavailableError(f"exporting to PyTorch needs torch, which cannot be imported ({exc}); "
                                    f"install it with `pip install torch`") from exc
    return torch


# ---------------------------------------------------------------------------------------------------------------
# the mapping: one minigan layer -> a description of its torch layer
# ---------------------------------------------------------------------------------------------------------------
class TorchLayer(NamedTuple):
    """A torch layer as data: ``torch.nn.<kind>(*args, **dict(kwargs))``, or for kind "Sequential" the container
    of ``children``. ``source`` is the minigan layer it stands for (a comment in the written file)."""

    kind: str
    args: tuple = ()
    kwargs: tuple = ()  # (name, value) pairs, in order
    children: tuple = ()
    source: str = ""


def _bias(layer) -> bool:
    return "bias" in layer.params


def torch_layers(layer, where: str | None = None, who: str = "minigan.export") -> TorchLayer:
    """The torch layer equal to one minigan layer (a Sequential: recursively), as a :class:`TorchLayer`.

    ``where`` names the layer in errors (default: its class name; children are ``where[i]``), ``who`` the caller.
    Raises TypeError for a layer that is not one of :data:`KNOWN_LAYERS` (exact types)."""
    from minigan import nn

    kind = type(layer)  # exact types: a subclass may compute something else, and is refused below
    where = kind.__name__ if where is None else where
    if kind is nn.Sequential:
        return TorchLayer("Sequential", children=tuple(torch_layers(child, f"{where}[{i}]", who)
                                                       for i, child in enumerate(layer)))
    if kind is nn.Dense:
        return TorchLayer("Linear", (layer.in_features, layer.out_features), (("bias", _bias(layer)),))
    if kind in (nn.Conv2d, nn.ConvTranspose2d):
        kwargs = [("stride", layer.stride), ("padding", layer.padding)]
        if kind is nn.ConvTranspose2d:
            kwargs.append(("output_padding", layer.output_padding))
        return TorchLayer(kind.__name__, (layer.in_channels, layer.out_channels, layer.kernel_size),
                          (*kwargs, ("bias", _bias(layer))))
    if kind in (nn.BatchNorm1d, nn.BatchNorm2d):
        return TorchLayer(kind.__name__, (layer.num_features,),
                          (("eps", layer.eps), ("momentum", layer.momentum), ("affine", layer.affine)))
    if kind is nn.LeakyReLU:
        return TorchLayer("LeakyReLU", (layer.negative_slope,))
    if kind is nn.Dropout:
        return TorchLayer("Dropout", (layer.p,))
    if kind is nn.Reshape:  # (N, ...) -> (N, *shape), whatever the input's rank
        shape = tuple(layer.shape)
        return TorchLayer("Sequential", children=(TorchLayer("Flatten"), TorchLayer("Unflatten", (1, shape))),
                          source=f"minigan Reshape{shape}")
    if kind in (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.Flatten):
        return TorchLayer(kind.__name__)
    if kind in (nn.SkipConcat, nn.Residual):  # f under its attribute name: f's names are prefixed alike
        name = layer.inner_name
        return TorchLayer(kind.__name__, kwargs=() if name == kind.default_name else (("name", name),),
                          children=(torch_layers(layer.inner, f"{where}.{name}", who),))
    if kind is nn.InstanceNorm2d:
        return TorchLayer("InstanceNorm2d", (layer.num_features,),
                          (("eps", layer.eps), ("momentum", layer.momentum), ("affine", layer.affine),
                           ("track_running_stats", layer.track_running_stats)))
    if kind is nn.ReflectionPad2d:
        return TorchLayer("ReflectionPad2d", (layer.padding,))
    if kind is nn.Upsample:
        sh, sw = layer.scale_factor
        return TorchLayer("Upsample", kwargs=(("scale_factor", sh if sh == sw else (sh, sw)), ("mode", layer.mode)))
    if kind is nn.Embedding:
        padding = () if layer.padding_idx is None else (("padding_idx", layer.padding_idx),)
        return TorchLayer("Embedding", (layer.num_embeddings, layer.embedding_dim), padding)
    raise TypeError(f"{who}: no torch twin for {where}, {layer!r} (a {kind.__module__}.{kind.__qualname__}); "
                    f"the layers it knows: {', '.join(KNOWN_LAYERS)}")


def build_torch(spec: TorchLayer, tnn=None):
    """The torch module a :class:`TorchLayer` describes (``tnn``: the ``torch.nn`` module; imported if None)."""
    if tnn is None:
        tnn = _import_torch().nn
    if spec.kind == "Sequential":
        return tnn.Sequential(*(build_torch(child, tnn) for child in spec.children))
    if spec.kind in TORCH_CLASSES:
        return _torch_class(spec.kind)(*(build_torch(child, tnn) for child in spec.children), **dict(spec.kwargs))
    return getattr(tnn, spec.kind)(*spec.args, **dict(spec.kwargs))


def _torch_class(kind: str):
    """The torch module class whose source is TORCH_CLASSES[kind] (made once), the same code the file holds."""
    if kind not in _torch_classes:
        torch = _import_torch()
        namespace = {"torch": torch, "nn": torch.nn, "__name__": "minigan.export.torch_classes"}
        source = compile(TORCH_CLASSES[kind], f"<minigan.export.TORCH_CLASSES[{kind!r}]>", "exec")
        exec(source, namespace)  # noqa: S102 - a constant of this module: the code the exported file holds
        _torch_classes[kind] = namespace[kind]
    return _torch_classes[kind]


def _torch_classes_used(spec: TorchLayer) -> list:
    """The kinds of TORCH_CLASSES that a description holds, in TORCH_CLASSES' order."""
    def kinds(s):
        return {s.kind} | {k for child in s.children for k in kinds(child)}

    used = kinds(spec)
    return [kind for kind in TORCH_CLASSES if kind in used]


def torch_source(spec: TorchLayer, indent: int = 0, prefix: str = "nn.") -> str:
    """Python source that builds the module a :class:`TorchLayer` describes (``nn`` being ``torch.nn``). A
    Sequential of containers is written one child a line, each with a comment giving its state-dict prefix."""
    if spec.kind in TORCH_CLASSES:  # defined in the file itself (TORCH_CLASSES), not in torch.nn
        arguments = [torch_source(child, indent, prefix) for child in spec.children]
        arguments += [f"{k}={v!r}" for k, v in spec.kwargs]
        return f"{spec.kind}({', '.join(arguments)})"
    if spec.kind != "Sequential":
        arguments = [*map(repr, spec.args), *(f"{k}={v!r}" for k, v in spec.kwargs)]
        return f"{prefix}{spec.kind}({', '.join(arguments)})"
    if not any(child.kind == "Sequential" or child.kind in TORCH_CLASSES for child in spec.children):
        inline = f"{prefix}Sequential({', '.join(torch_source(child, prefix=prefix) for child in spec.children)})"
        if len(inline) + indent < 80:
            return inline
    pad = " " * (indent + 4)
    lines = []
    for i, child in enumerate(spec.children):
        comment = f"  # {i}" + (f": {child.source}" if child.source else "")
        lines.append(f"{pad}{torch_source(child, indent + 4, prefix)},{comment}")
    return f"{prefix}Sequential(\n" + "\n".join(lines) + "\n" + " " * indent + ")"


# ---------------------------------------------------------------------------------------------------------------
# the network with its weights
# ---------------------------------------------------------------------------------------------------------------
def floating_dtype(net) -> np.dtype:
    """The dtype of the network's first floating parameter or buffer; minigan's default dtype when it has none."""
    for value in (*net.params.values(), *net.buffers.values()):
        if np.issubdtype(value.dtype, np.floating):
            return np.dtype(value.dtype)
    return backend.default_dtype()


def load_state(module, net) -> None:
    """Copy ``net``'s parameters and buffers into the torch ``module`` by name (strict ``load_state_dict``: every
    name and shape must be PyTorch's). The values are cast to the module's dtype and moved to its device."""
    torch = _import_torch()

    module.load_state_dict({k: torch.from_numpy(np.array(backend.to_numpy(v))) for k, v in net.state_dict().items()})


def to_torch(net, device: str = "cpu", dtype=None, load: bool = True, train: bool = False,
             who: str = "minigan.export"):
    """The ``torch.nn.Sequential`` (for a single layer: the torch layer) equal to the minigan network ``net``.

    ``dtype``: a torch dtype; by default the network's own (float32 or float64). ``load``: copy the network's
    parameters and buffers into it (after the cast, so float64 weights arrive unrounded); ``load=False`` keeps
    torch's initialisation. The module is returned in evaluation mode (``train=True``: training mode). Raises
    TypeError for a layer it does not know and :class:`TorchUnavailableError` without torch."""
    torch = _import_torch()

    module = build_torch(torch_layers(net, type(net).__name__, who), torch.nn)
    if dtype is None:
        dtype = torch.float64 if floating_dtype(net) == np.float64 else torch.float32
    module.to(device=device, dtype=dtype)
    if load:
        load_state(module, net)
    return module.train(train)


# ---------------------------------------------------------------------------------------------------------------
# the two files: G.pt (the state dict) and G.py (the network that loads it)
# ---------------------------------------------------------------------------------------------------------------
_TEMPLATE = '''r"""{title}

    import torch
{import_line}
    G = build()
    G.load_state_dict(torch.load({weights!r}))
    G.eval()
{example}

Input:  {input_doc}
Output: (N, {output_dims}){output_note}

Written by `minigan export` (minigan {version}) from the minigan network itself: the same layers, in the same
places, so that the state dict's names ({first_keys}, ...) are minigan's. Needs only torch.
{about}"""

import torch
from torch import nn

NZ = {nz}  # noise dimension
N_CLASSES = {n_classes}  # 0: unconditional; K > 0: the input is [z, one_hot(label, K)]
OUTPUT_SHAPE = {output_shape!r}  # one sample's shape
DTYPE = torch.{dtype}
WEIGHTS = {weights!r}  # the state dict written beside this file


{classes}def build() -> nn.Sequential:
    """The generator's network (torch's own initialisation; load the weights into it)."""
    return {network}.to(DTYPE)


def load(path=None, device="cpu") -> nn.Sequential:
    """build(), the weights loaded (by default the file WEIGHTS next to this one), on ``device``, in evaluation
    mode."""
    from pathlib import Path

    G = build()
    path = Path(__file__).with_name(WEIGHTS) if path is None else path
    G.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return G.to(device).eval()


def with_labels(z: torch.Tensor, labels) -> torch.Tensor:
    """The input of a conditional generator: [z, one_hot(labels, N_CLASSES)] along dim 1, z first."""
    if not N_CLASSES:
        raise ValueError("this generator is not conditional: give it z alone")
    labels = torch.as_tensor(labels, dtype=torch.long, device=z.device).expand(z.shape[0])
    return torch.cat([z, nn.functional.one_hot(labels, N_CLASSES).to(z.dtype)], dim=1)
'''


def export_generator(G, out, *, nz: int, n_classes: int = 0, title: str | None = None, about: str = "",
                     input_shape: tuple | None = None) -> tuple:
    """Write ``G`` (a minigan generator) as ``out`` (a torch state dict: parameters and buffers) and, beside it, the
    ``.py`` file (``out`` with suffix .py) that defines ``build()``, the matching ``torch.nn.Sequential``.

    ``nz``: the noise dimension; ``n_classes``: K > 0 for a conditional G, whose input is ``[z, one_hot(y, K)]``.
    ``input_shape``: (C, H, W) for a generator that translates images (pix2pix) instead of drawing from noise.
    Folders on the way to ``out`` are created. Returns (weights path, source path)."""
    torch = _import_torch()
    import minigan

    out = Path(out)
    source = out.with_suffix(".py")
    if out.suffix == ".py":
        raise ValueError(f"--out {out}: the weights cannot be a .py file (the network's code is written there); "
                         f"name them e.g. {out.with_suffix('.pt')}")
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder; give the weights' file name, e.g. {out / 'G.pt'}")
    spec = torch_layers(G, type(G).__name__)
    module = to_torch(G)
    width = nz + n_classes
    probe_shape = (1, *input_shape) if input_shape is not None else (1, width)
    probe = backend.get_xp().zeros(probe_shape, dtype=floating_dtype(G))  # G's output shape, in eval mode
    output_shape = tuple(int(s) for s in G.forward(probe, train=False).shape[1:])
    dims = ", ".join(map(str, output_shape))
    example = f"    z = torch.randn(16, {nz})\n"
    if input_shape is not None:
        shape = ", ".join(map(str, input_shape))
        input_doc = f"(N, {shape}): the image to translate, in [-1, 1]."
        example = f"    a = torch.zeros(16, {shape})   # a batch of input images in [-1, 1]\n"
        call = f"    x = G(a)   # (16, {dims})"
    elif n_classes:
        input_doc = (f"(N, {width}) = [z, one_hot(label, {n_classes})] concatenated along dim 1, z first: z of "
                     f"shape (N, {nz}) from N(0, 1),\n        then the one-hot label of the class to draw "
                     f"(labels 0..{n_classes - 1}; build it with with_labels(z, labels)).")
        call = f"    x = G(with_labels(z, torch.arange(16) % {n_classes}))   # (16, {dims})"
    else:
        input_doc = f"(N, {nz}): noise z from N(0, 1)."
        call = f"    x = G(z)   # (16, {dims})"
    stem = out.stem
    import_line = (f"    from {stem} import build" if stem.isidentifier() else
                   f"    build = __import__('runpy').run_path({source.name!r})['build']")
    keys = list(module.state_dict())
    text = _TEMPLATE.format(
        title=title or f"A generator exported from minigan, as a PyTorch nn.Sequential ({out.name}, {source.name}).",
        import_line=import_line, weights=out.name, nz=nz, example=example + call, input_doc=input_doc,
        output_dims=dims,
        output_note=", in [-1, 1] (G ends in tanh)." if _leaf_kinds(spec)[-1:] == ["Tanh"] else ".",
        version=minigan.__version__, first_keys=", ".join(keys[:3]), about=about + "\n" if about else "",
        n_classes=n_classes, output_shape=output_shape, dtype=str(_module_dtype(module)).removeprefix("torch."),
        network=torch_source(spec, indent=4),
        classes="".join(TORCH_CLASSES[kind] + "\n\n" for kind in _torch_classes_used(spec)))
    compile(text, str(source), "exec")  # a bug here must not leave a file that does not run
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().cpu().clone() for k, v in module.state_dict().items()}, out)
    source.write_text(text, encoding="utf-8")
    return out, source


def _leaf_kinds(spec: TorchLayer) -> list:
    """The torch layers a description ends up as, containers opened, shape-only layers left out."""
    if spec.kind == "Sequential":
        return [kind for child in spec.children for kind in _leaf_kinds(child)]
    return [] if spec.kind in ("Flatten", "Unflatten") else [spec.kind]


def _module_dtype(module):
    """The dtype of a torch module's first floating parameter or buffer."""
    for value in (*module.parameters(), *module.buffers()):
        if value.is_floating_point():
            return value.dtype
    return _import_torch().get_default_dtype()


def export_checkpoint(path, out) -> tuple:
    """Export the generator of a ``minigan train`` checkpoint: rebuild G (the model named in the checkpoint, with
    its options), load its weights and buffers, and write ``out`` and its .py file (:func:`export_generator`).

    Raises FileNotFoundError, :class:`minigan.io.CheckpointError` (not a checkpoint, or not one of ``minigan
    train``), ValueError (a bad ``out``) and :class:`TorchUnavailableError`. Returns (weights path, source path)."""
    from minigan import recipes
    from minigan.io import CheckpointError, read_checkpoint

    _import_torch()  # before any work: without torch, nothing to do
    ckpt = read_checkpoint(path)
    meta = ckpt["meta"]
    model, options = meta.get("model"), meta.get("options")
    if model not in recipes.all_models() or options is None:
        raise CheckpointError(f"{path} was not written by `minigan train` (model {model!r}); export its network "
                              f"with minigan.export.export_generator instead")
    G = recipes.build_generator(model, options)
    G.load_state_dict(ckpt["trainer"]["G"])
    K = recipes.n_classes(model)
    about = (f"Model {model!r} (options {options}), iteration {meta.get('iterations_done')} of the run in "
             f"{Path(path).name}.")
    if K:
        about += (f"\nConditional: a sample of class y comes from the input [z, one_hot(y, {K})], as in minigan's "
                  f"CGAN.")
    input_shape = None
    if recipes.data_kind(model) in recipes.TASK_KINDS:
        from minigan.models import MODELS

        if not isinstance(G, _sequential_types()):
            raise CheckpointError(
                f"{model}'s generator is not one nn.Sequential (it holds {list(G)}), and minigan export writes one: "
                f"a CycleGAN direction exports with minigan.export.export_generator(G['G_A'], out, nz=0, "
                f"input_shape=(1, 32, 32)); StackGAN's stages join the text to feature maps, which it cannot write")
        input_shape = MODELS[model].image_shape
        about += "\nA translation model: G maps an input image to an output image (no noise)."
    return export_generator(G, out, nz=recipes.noise_size(model), n_classes=K, input_shape=input_shape,
                            title=f"The generator of minigan's {model}, as a PyTorch nn.Sequential.", about=about)


def _sequential_types():
    from minigan.nn import Sequential

    return (Sequential,)
