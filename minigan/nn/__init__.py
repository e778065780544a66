"""minigan's layers: every one has a hand-derived backward pass (see each ``_backward`` docstring)."""

from minigan.nn.activations import LeakyReLU, ReLU, Sigmoid, Tanh
from minigan.nn.blocks import Residual, SkipConcat
from minigan.nn.conditioning import ConditioningAugmentation
from minigan.nn.container import Sequential
from minigan.nn.conv import Conv2d, ConvTranspose2d
from minigan.nn.dense import Dense
from minigan.nn.dropout import Dropout
from minigan.nn.embedding import Embedding
from minigan.nn.module import LayerInputError, Module
from minigan.nn.module_dict import ModuleDict
from minigan.nn.norm import BatchNorm1d, BatchNorm2d, InstanceNorm2d
from minigan.nn.padding import ReflectionPad2d
from minigan.nn.shape import Flatten, Reshape
from minigan.nn.upsample import Upsample

__all__ = [
    "BatchNorm1d",
    "BatchNorm2d",
    "ConditioningAugmentation",
    "Conv2d",
    "ConvTranspose2d",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "InstanceNorm2d",
    "LayerInputError",
    "LeakyReLU",
    "Module",
    "ModuleDict",
    "ReLU",
    "ReflectionPad2d",
    "Reshape",
    "Residual",
    "Sequential",
    "Sigmoid",
    "SkipConcat",
    "Tanh",
    "Upsample",
]
