"""The PyTorch twin of a minigan network, built from the network itself.

    from minigan.models import dcgan_mnist_generator
    from minigan.lab.torch_twin import torch_twin

    G = dcgan_mnist_generator()
    tg = torch_twin(G)                # torch.nn.Sequential: G's layers, G's weights (loaded by state_dict name)

:func:`torch_twin` walks the minigan ``Sequential`` layer by layer and puts the torch layer of the same kind, with
the same hyperparameters, in the same place, so that the twin's ``state_dict`` has minigan's names and shapes
(``0.weight``, ``1.running_mean``, ``1.num_batches_tracked``, ...); then it loads the network's current weights
and buffers into the twin by name (strict: every name and shape must match). There is no second, hand-written copy
of any architecture: change a model in :mod:`minigan.models` and its twin changes with it. The benchmark suite
(:mod:`minigan.lab.bench`), the scripts in benchmarks/ and tests/test_torch_twin.py all build their twins here.

The layers it knows, and their twins:

    minigan.nn                              torch.nn
    Dense(i, o, bias)                       Linear(i, o, bias)
    Conv2d(i, o, k, stride, padding, bias)  Conv2d(i, o, k, stride, padding, bias)
    ConvTranspose2d(..., output_padding)    ConvTranspose2d(..., output_padding)
    BatchNorm1d / BatchNorm2d(c, eps, momentum, affine)   BatchNorm1d / BatchNorm2d(c, eps, momentum, affine)
    ReLU, LeakyReLU(slope), Tanh, Sigmoid   ReLU, LeakyReLU(slope), Tanh, Sigmoid
    Dropout(p)                              Dropout(p)   (the masks differ: compare in evaluation mode)
    Flatten                                 Flatten
    Reshape(*shape)                         Sequential(Flatten(), Unflatten(1, shape))   (reshape to (N, *shape))
    Sequential(...)                         Sequential(...)   (nested: names ``3.0.weight`` on both sides)

Any other layer (or a subclass of one of these, which may compute something else) is refused with a
:class:`TypeError` that names it and its place in the network, rather than twinned by guess.

The mapping itself lives in :mod:`minigan.export` (:func:`minigan.export.torch_layers`), which ``minigan export``
uses to write a checkpoint's generator as a PyTorch state dict and the Python file of its ``nn.Sequential``: the
twin here and the exported network are one mapping, not two. The core cannot import the lab, so the lab imports it.

torch is imported inside the functions here: minigan never needs it, and importing this module does not import it.
"""

from __future__ import annotations

from minigan.export import KNOWN_LAYERS, build_torch, floating_dtype, load_state, to_torch, torch_layers

__all__ = ["KNOWN_LAYERS", "load_into_twin", "torch_twin"]

_floating_dtype = floating_dtype  # the names this module had before the mapping moved to minigan.export


def _twin_layer(layer, tnn, where: str):
    """The torch module equal to one minigan module (a Sequential: recursively); ``where`` names it in errors."""
    return build_torch(torch_layers(layer, where, who="torch_twin"), tnn)


def load_into_twin(twin, net) -> None:
    """Copy ``net``'s parameters and buffers into ``twin`` by name (strict ``load_state_dict``: every name and shape
    must be PyTorch's). The values are cast to the twin's dtype and moved to its device."""
    load_state(twin, net)


def torch_twin(net, device: str = "cpu", dtype=None, load: bool = True):
    """The torch twin of a minigan network (or of a single layer): see the module docstring.

    ``dtype``: a torch dtype; by default the network's own (float32 or float64; for a network without parameters
    or buffers, minigan's default dtype). ``load``: copy the network's
    weights and buffers into the twin (after the cast, so float64 weights arrive unrounded); with ``load=False``
    the twin keeps torch's own initialisation. Raises TypeError for a layer it does not know."""
    return to_torch(net, device=device, dtype=dtype, load=load, train=True, who="torch_twin")
