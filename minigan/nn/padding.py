r"""ReflectionPad2d: pad an image by mirroring it about its edges (CycleGAN's ResNet generator pads so).

With ``padding = (left, right, top, bottom)``, x (N, C, H, W) -> y (N, C, top + H + bottom, left + W + right):

    y[n, c, i, j] = x[n, c, r_H(i - top), r_W(j - left)],

    r_L(k) = -k             for k < 0           (the edge value itself is not repeated: row -1 is row 1)
           = k              for 0 <= k < L
           = 2 (L - 1) - k  for k >= L          (row L is row L - 2)

Each padding must be smaller than the size it pads (as PyTorch), so that one reflection stays inside the image.
A row  a b c d  padded by (left, right) = (2, 3) becomes  c b | a b c d | c b a.

The map is linear and separable: the columns are padded first (each row on its own), then the rows.
"""

from __future__ import annotations

import numbers

from minigan import backend
from minigan.nn.module import Module


def _quadruple(padding) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) from an int (all four) or a sequence of four ints, each >= 0 (PyTorch's order)."""
    values = (padding,) * 4 if isinstance(padding, numbers.Integral) and not isinstance(padding, bool) else padding
    try:
        values = tuple(values)
    except TypeError:
        values = ()
    if len(values) != 4 or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0 for v in values):
        raise ValueError(f"ReflectionPad2d: padding must be an int >= 0 or four of them (left, right, top, bottom), "
                         f"got {padding!r}")
    return tuple(int(v) for v in values)


def _along(axis: int, s: slice) -> tuple:
    """The index that takes slice ``s`` along ``axis`` and everything along the axes before it."""
    return (slice(None),) * axis + (s,)


def reflect(a, axis: int, before: int, after: int):
    """a padded along ``axis`` by ``before`` and ``after`` mirrored values (before, after < L = a.shape[axis]):

    [a_before, ..., a_1 | a_0, ..., a_{L-1} | a_{L-2}, ..., a_{L-1-after}]."""
    xp, size = backend.array_module(a), a.shape[axis]
    head = xp.flip(a[_along(axis, slice(1, before + 1))], axis)  # a_before ... a_1
    tail = xp.flip(a[_along(axis, slice(size - 1 - after, size - 1))], axis)  # a_{L-2} ... a_{L-1-after}
    return xp.concatenate([head, a, tail], axis=axis)


def fold(d, axis: int, before: int, after: int):
    """The adjoint of :func:`reflect`: d (..., before + L + after, ...) -> (..., L, ...), each padded value's
    gradient added back onto the value it was copied from. The middle is a plain copy; then the head, reversed, is
    ADDED onto a_1 .. a_before and the tail, reversed, onto a_{L-1-after} .. a_{L-2}. The two adds must not be
    assignments: a value may be copied into the middle, the head and the tail at once (L = 3, before = after = 2
    copies a_1 three times), and its gradient is the sum of all three."""
    size = d.shape[axis] - before - after
    g = d[_along(axis, slice(before, before + size))].copy()  # the copy of a itself
    xp = backend.array_module(d)
    g[_along(axis, slice(1, before + 1))] += xp.flip(d[_along(axis, slice(0, before))], axis)
    g[_along(axis, slice(size - 1 - after, size - 1))] += xp.flip(d[_along(axis, slice(before + size, None))], axis)
    return g


class ReflectionPad2d(Module):
    """x (N, C, H, W) -> y (N, C, H + top + bottom, W + left + right), mirrored about the edges; no parameters.

    ``padding``: an int (all four sides) or (left, right, top, bottom), as PyTorch; each side smaller than the size
    it pads (left, right < W and top, bottom < H).
    """

    per_sample = True

    def __init__(self, padding):
        super().__init__()
        self.padding = _quadruple(padding)

    def __repr__(self):
        return f"ReflectionPad2d({self.padding})"

    def _expected(self):
        left, right, top, bottom = self.padding
        return (f"of shape (N, C, H, W) with H > {max(top, bottom)} and W > {max(left, right)} (each padding "
                f"smaller than the size it pads)")

    def _check_shape(self, x):
        left, right, top, bottom = self.padding
        return x.ndim == 4 and x.shape[2] > max(top, bottom) and x.shape[3] > max(left, right)

    def _pad(self, x):
        left, right, top, bottom = self.padding
        return reflect(reflect(x, 3, left, right), 2, top, bottom)  # columns (N, C, H, W'), then rows

    def _forward(self, x, train):
        """y[n, c, i, j] = x[n, c, r_H(i - top), r_W(j - left)]: the columns reflected, then the rows."""
        return self._pad(x)  # (N, C, H + top + bottom, W + left + right); nothing to cache

    def _backward(self, dy, param_grads, input_grad):
        r"""y = P x with P a 0/1 matrix (each output value a copy of one input value), so dx = P^T dy:

            dx[n, c, a, b] = \sum_{i: r_H(i - top) = a} \sum_{j: r_W(j - left) = b} dy[n, c, i, j],

        a scatter-add of every output's gradient onto the value it was copied from. P is separable (rows, then
        columns), so P^T is the fold of the rows, then the fold of the columns (:func:`fold`): each keeps the
        middle and adds the mirrored border gradients onto the values next to the edges. A value near the edge
        collects its own gradient plus one from each border that copied it.
        """
        left, right, top, bottom = self.padding
        return fold(fold(dy, 2, top, bottom), 3, left, right)  # (N, C, H, W' ) then (N, C, H, W)

    supports_gradient_penalty = True

    def _jvp(self, g, t):
        """Linear with no parameters: J t = P t, t padded the same way."""
        return self._pad(t)
