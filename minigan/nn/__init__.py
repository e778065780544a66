"""minigan's layers: every one has a hand-derived backward pass (see each ``_backward`` docstring)."""

from minigan.nn.activations import LeakyReLU, ReLU, Sigmoid, Tanh
from minigan.nn.container import Sequential
from minigan.nn.conv import Conv2d, ConvTranspose2d
from minigan.nn.dense import Dense
from minigan.nn.dropout import Dropout
from minigan.nn.module import LayerInputError, Module
from minigan.nn.norm import BatchNorm1d, BatchNorm2d
from minigan.nn.shape import Flatten, Reshape

__all__ = [
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "ConvTranspose2d",
    "Dense",
    "Dropout",
    "Flatten",
    "LayerInputError",
    "LeakyReLU",
    "Module",
    "ReLU",
    "Reshape",
    "Sequential",
    "Sigmoid",
    "Tanh",
]
