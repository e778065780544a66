"""The plain way to run a layer: its own formula, on the whole batch at once.

This is what :mod:`minigan.fast` must agree with. Every layer's ``_forward``, ``_backward`` and ``_jvp`` is plain
array code over ``xp`` that reads as the formula in its docstring; running it once on the whole batch is the
reference. ``minigan.fast`` runs the same code on slices of the batch instead, on several threads, and falls back
to these functions wherever that would not pay (a GPU, a small batch, a layer that mixes the samples, or outside a
``fast.threads()`` block). tests/test_fast.py checks the two against each other.

    forward(layer, x, train)                         y = f(x), caches what backward needs
    backward(layer, dy, param_grads, input_grad)     dx = J^T dy (None when not input_grad); adds dL/dtheta
    jvp(layer, g, t)                                 J t, at the cached input (gradient_penalty.py's sweep)
"""

from __future__ import annotations


def forward(layer, x, train: bool):
    """The layer's forward pass on the whole batch."""
    return layer._forward(x, train)


def backward(layer, dy, param_grads: bool, input_grad: bool):
    """The layer's backward pass on the whole batch."""
    return layer._backward(dy, param_grads, input_grad)


def jvp(layer, g, t):
    """The layer's Jacobian-vector product (and penalty weight gradient) on the whole batch."""
    return layer._jvp(g, t)
