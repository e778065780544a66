"""minigan: GANs from scratch in NumPy (CuPy optional), every backward pass derived by hand."""

from minigan import backend, nn
from minigan.gradcheck import gradcheck

__version__ = "0.1.0"
__all__ = ["__version__", "backend", "gradcheck", "nn"]
