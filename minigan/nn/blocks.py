r"""Containers of one inner module f: the U-Net skip connection and the residual block.

    SkipConcat(f):  y = cat([x, f(x)], dim=1)      pix2pix's U-Net (UnetSkipConnectionBlock, every block but the
                                                   outermost): x (N, C, ...) -> y (N, C + C_f, ...)
    Residual(f):    y = x + f(x)                    CycleGAN's ResnetBlock, StackGAN's residual blocks

f is any minigan module, usually a Sequential, and may hold further SkipConcats (the U-Net nests them: each
block's f is down-convolution, the next block, up-convolution). Its parameters appear under the name it is held by,
as a PyTorch module's attribute: ``model.0.weight`` in a SkipConcat (UnetSkipConnectionBlock keeps its layers in
``self.model``), ``conv_block.1.weight`` in a Residual (ResnetBlock's ``self.conv_block``); ``name=`` picks
another. Their torch twins (minigan/export.py) are small torch modules of the same names and the same forward, so
that state dicts move between the two as they are.

f runs as a Sequential runs its layers: each of f's layers goes through minigan.fast on its own (in chunks where it
is per-sample). The containers themselves are not ``per_sample``: a replica of a container would share f, and two
replicas would overwrite f's caches.
"""

from __future__ import annotations

from minigan import backend, fast
from minigan.nn.container import Sequential
from minigan.nn.module import LayerInputError, Module


def _penalty_ready(module) -> bool:
    """Whether every layer inside ``module`` has a hand-derived gradient-penalty sweep (``_jvp``)."""
    if isinstance(module, Sequential):
        return all(_penalty_ready(layer) for layer in module)
    return bool(getattr(module, "supports_gradient_penalty", False))


def tangent_sweep(module, g, t):
    r"""J t for ``module`` at its cached input, adding every layer's gradient-penalty weight gradient on the way
    (see minigan/gradient_penalty.py): ``g`` is the backward signal at the module's output, ``t`` the tangent at
    its input.

    A layer l inside needs g_l, the signal at its own output. For a Sequential these are made again here by a
    backward pass through its layers from g, for dx only (param_grads=False: no gradient changes; each layer still
    holds its forward's caches), g_{K} = g, g_{l-1} = J_l^T g_l; then t_l = J_l t_{l-1} layer by layer, each layer's
    ``_jvp`` adding g_l (x) t_{l-1} into its weight gradient. Any other module is swept by its own ``_jvp``.
    """
    if not isinstance(module, Sequential):
        return fast.jvp(module, g, t)  # as its forward ran: whole, or in chunks
    layers = module.layers
    signals = [g]  # the signal at the output of layers[-1], layers[-2], ...
    for layer in reversed(layers[1:]):
        signals.append(layer.backward(signals[-1], param_grads=False))
    for layer, g_l in zip(layers, reversed(signals)):
        t = tangent_sweep(layer, g_l, t)
    return t


class _Wrapper(Module):
    """A module around one inner module f, held under ``name`` (the prefix of f's parameter names)."""

    default_name = "model"

    def __init__(self, inner: Module, name: str | None = None):
        super().__init__()
        name = self.default_name if name is None else name
        if not isinstance(inner, Module):
            raise TypeError(f"{type(self).__name__}: the inner module is a {type(inner).__name__}, not a minigan layer")
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{type(self).__name__}: name must be a Python identifier (a torch attribute name), "
                             f"got {name!r}")
        self.inner_name = name
        self._children[name] = inner

    @property
    def inner(self) -> Module:
        """f, the inner module."""
        return self._children[self.inner_name]

    def __repr__(self):
        return f"{type(self).__name__}(\n  ({self.inner_name}): {self.inner!r}\n)"

    def _expected(self):
        return self.inner._expected()

    def _mode(self, train):
        return train  # passed on as given, as Sequential does: with no override each layer runs in its own mode

    def _inner_forward(self, x, train):
        """f(x), f's errors named with this container's place."""
        try:
            return self.inner._run_forward(x, train, check_finite=False)
        except LayerInputError as e:  # the same type (NonFiniteInputError stays one), the place added
            raise type(e)(f"{type(self).__name__} ({self.inner_name}): {e}") from None

    def _inner_backward(self, dy, param_grads, input_grad):
        """f's backward of dy: f's parameter gradients added (if param_grads), its dx returned (if input_grad)."""
        try:
            return self.inner.backward(dy, param_grads, input_grad=input_grad)
        except (LayerInputError, RuntimeError) as e:
            if type(e) not in (LayerInputError, RuntimeError):  # e.g. a CUDA error: not ours to reword
                raise
            raise type(e)(f"{type(self).__name__} ({self.inner_name}): {e}") from None

    @property
    def supports_gradient_penalty(self) -> bool:
        """True when every layer inside f has a derived penalty sweep: x -> [x, f(x)] and x -> x + f(x) are then
        piecewise linear too."""
        return _penalty_ready(self.inner)


class SkipConcat(_Wrapper):
    """y = cat([x, f(x)], dim=1): x (N, C, ...) and f(x) (N, C_f, ...), the same sizes after the channels ->
    y (N, C + C_f, ...), x's channels first (as UnetSkipConnectionBlock's ``torch.cat([x, self.model(x)], 1)``).

    f is held as ``model`` (``name=`` for another): its parameters are ``model.<f's names>``.
    """

    default_name = "model"

    def __init__(self, inner: Module, name: str | None = None):
        super().__init__(inner, name)
        self._channels = None

    def _check_shape(self, x):
        return x.ndim >= 2

    def _forward(self, x, train):
        """y = [x, f(x)] along the channels; keeps C, where backward splits dy."""
        h = self._inner_forward(x, train)  # (N, C_f, ...)
        if h.ndim != x.ndim or h.shape[0] != x.shape[0] or h.shape[2:] != x.shape[2:]:
            raise LayerInputError(
                f"SkipConcat: f(x) has shape {tuple(h.shape)}, which cannot be joined to x {tuple(x.shape)} along "
                f"the channels (every size but the channels' must agree)"
            )
        self._channels = x.shape[1]
        return backend.array_module(x).concatenate([x, h], axis=1)  # (N, C + C_f, ...)

    def _backward(self, dy, param_grads, input_grad):
        r"""y = [x, f(x)], so with dy = [dy_x, dy_f] split after x's C channels,

            dL/dx = dy_x + J_f^T dy_f:

        x reaches the loss twice, directly (the skip) and through f, and the two gradients add. f's parameter
        gradients come from its own backward of dy_f.
        """
        c = self._channels
        dx_inner = self._inner_backward(dy[:, c:], param_grads, input_grad)  # (N, C, ...) or None
        if not input_grad:
            return None
        return dy[:, :c] + dx_inner  # (N, C, ...)

    def _jvp(self, g, t):
        """J t = [t, J_f t]; f's layers add their penalty weight gradients from their signals within g[:, C:]."""
        c = self._channels
        return backend.array_module(t).concatenate([t, tangent_sweep(self.inner, g[:, c:], t)], axis=1)

    def _clear_cache(self):
        super()._clear_cache()
        self._channels = None


class Residual(_Wrapper):
    """y = x + f(x): f must keep x's shape. x (N, ...) -> y (N, ...).

    f is held as ``conv_block`` (CycleGAN's ResnetBlock; ``name=`` for another, e.g. "block" for StackGAN's
    ResBlock): its parameters are ``conv_block.<f's names>``.
    """

    default_name = "conv_block"

    def _check_shape(self, x):
        return x.ndim >= 1

    def _forward(self, x, train):
        """y = x + f(x); nothing to cache here (f caches its own)."""
        h = self._inner_forward(x, train)
        if h.shape != x.shape:
            raise LayerInputError(
                f"Residual: f(x) has shape {tuple(h.shape)}, expected x's shape {tuple(x.shape)} (y = x + f(x))"
            )
        return x + h

    def _backward(self, dy, param_grads, input_grad):
        r"""y = x + f(x), so dL/dx = dy + J_f^T dy: the identity path passes dy unchanged, f's path adds its input
        gradient. f's parameter gradients come from its own backward of dy."""
        dx_inner = self._inner_backward(dy, param_grads, input_grad)
        if not input_grad:
            return None
        return dy + dx_inner

    def _jvp(self, g, t):
        """J t = t + J_f t; f's layers add their penalty weight gradients from their signals within g."""
        return t + tangent_sweep(self.inner, g, t)
