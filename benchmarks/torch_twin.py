"""PyTorch twins of minigan models: same layers, same parameter names, weights copied through state_dict.

The canonical MNIST DCGAN's twin lives in :mod:`minigan.bench` (which times it); this name is kept for the scripts
here. Torch is only a comparison twin (benchmarks, tests); minigan never needs it.
"""

from __future__ import annotations

from minigan.bench import torch_twins as dcgan_mnist_twins

__all__ = ["dcgan_mnist_twins"]
