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

torch is imported inside the functions here: minigan never needs it, and importing this module does not import it.
"""

from __future__ import annotations

import numpy as np

from minigan import backend

__all__ = ["KNOWN_LAYERS", "load_into_twin", "torch_twin"]

KNOWN_LAYERS = ("Dense", "Conv2d", "ConvTranspose2d", "BatchNorm1d", "BatchNorm2d", "ReLU", "LeakyReLU", "Tanh",
                "Sigmoid", "Dropout", "Flatten", "Reshape", "Sequential")


def _bias(layer) -> bool:
    return "bias" in layer.params


def _twin_layer(layer, tnn, where: str):
    """The torch module equal to one minigan module (a Sequential: recursively); ``where`` names it in errors."""
    from minigan import nn

    kind = type(layer)  # exact types: a subclass may compute something else, and is refused below
    if kind is nn.Sequential:
        return tnn.Sequential(*(_twin_layer(child, tnn, f"{where}[{i}]") for i, child in enumerate(layer)))
    if kind is nn.Dense:
        return tnn.Linear(layer.in_features, layer.out_features, bias=_bias(layer))
    if kind is nn.Conv2d:
        return tnn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, stride=layer.stride,
                          padding=layer.padding, bias=_bias(layer))
    if kind is nn.ConvTranspose2d:
        return tnn.ConvTranspose2d(layer.in_channels, layer.out_channels, layer.kernel_size, stride=layer.stride,
                                   padding=layer.padding, output_padding=layer.output_padding, bias=_bias(layer))
    if kind in (nn.BatchNorm1d, nn.BatchNorm2d):
        cls = tnn.BatchNorm1d if kind is nn.BatchNorm1d else tnn.BatchNorm2d
        return cls(layer.num_features, eps=layer.eps, momentum=layer.momentum, affine=layer.affine)
    if kind is nn.LeakyReLU:
        return tnn.LeakyReLU(layer.negative_slope)
    if kind is nn.Dropout:
        return tnn.Dropout(layer.p)
    if kind is nn.Reshape:  # (N, ...) -> (N, *shape), whatever the input's rank
        return tnn.Sequential(tnn.Flatten(), tnn.Unflatten(1, tuple(layer.shape)))
    plain = {nn.ReLU: tnn.ReLU, nn.Tanh: tnn.Tanh, nn.Sigmoid: tnn.Sigmoid, nn.Flatten: tnn.Flatten}
    if kind in plain:
        return plain[kind]()
    raise TypeError(f"torch_twin: no torch twin for {where}, {layer!r} (a {kind.__module__}.{kind.__qualname__}); "
                    f"the layers it knows: {', '.join(KNOWN_LAYERS)}")


def _floating_dtype(net) -> np.dtype:
    """The dtype of the network's first floating parameter or buffer; minigan's default dtype when it has none."""
    for value in (*net.params.values(), *net.buffers.values()):
        if np.issubdtype(value.dtype, np.floating):
            return np.dtype(value.dtype)
    return backend.default_dtype()


def load_into_twin(twin, net) -> None:
    """Copy ``net``'s parameters and buffers into ``twin`` by name (strict ``load_state_dict``: every name and shape
    must be PyTorch's). The values are cast to the twin's dtype and moved to its device."""
    import torch

    twin.load_state_dict({k: torch.from_numpy(np.array(backend.to_numpy(v))) for k, v in net.state_dict().items()})


def torch_twin(net, device: str = "cpu", dtype=None, load: bool = True):
    """The torch twin of a minigan network (or of a single layer): see the module docstring.

    ``dtype``: a torch dtype; by default the network's own (float32 or float64; for a network without parameters
    or buffers, minigan's default dtype). ``load``: copy the network's
    weights and buffers into the twin (after the cast, so float64 weights arrive unrounded); with ``load=False``
    the twin keeps torch's own initialisation. Raises TypeError for a layer it does not know."""
    import torch

    twin = _twin_layer(net, torch.nn, type(net).__name__)
    if dtype is None:
        dtype = torch.float64 if _floating_dtype(net) == np.float64 else torch.float32
    twin.to(device=device, dtype=dtype)
    if load:
        load_into_twin(twin, net)
    return twin
