"""GEMM work of a layer: the floating-point operations of its matrix products, 2 per multiply-add.

A layer's forward pass is one product (Dense: x W^T; Conv2d: im2col(x) W_m^T; ConvTranspose2d: x W_m, then col2im)
of N_rows x K by K x N_cols, 2 N_rows K N_cols FLOPs. Its backward pass is two products of the same size: the
input gradient (dy W, or its col2im/im2col counterpart) and the weight gradient (dy^T x); a backward that skips
one of them (``input_grad=False``: every GEMM layer then skips dx; ``param_grads=False``) costs one forward's
work. Elementwise passes, sums and copies are not counted: they are not where a convolutional GAN's FLOPs are.
"""

from __future__ import annotations

import numpy as np

from minigan.nn import Conv2d, ConvTranspose2d, Dense


def layer_gflop(layer, x_shape, y_shape) -> float:
    """GEMM work of one forward pass of ``layer`` (GFLOP) from its input and output shapes; 0 for layers with no
    product. Backward costs this once per gradient it computes (input and weight: twice)."""
    if isinstance(layer, Dense):
        return 2 * x_shape[0] * layer.in_features * layer.out_features / 1e9
    if isinstance(layer, Conv2d):  # every output value: C_in kh kw multiply-adds
        kh, kw = layer.kernel_size
        return 2 * float(np.prod(y_shape)) * layer.in_channels * kh * kw / 1e9
    if isinstance(layer, ConvTranspose2d):  # every input value spreads over C_out kh kw outputs
        kh, kw = layer.kernel_size
        return 2 * float(np.prod(x_shape)) * layer.out_channels * kh * kw / 1e9
    return 0.0
