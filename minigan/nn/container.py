"""Sequential: layers applied in order; backward applies their backwards in reverse (the chain rule)."""

from __future__ import annotations

from minigan.nn.module import LayerInputError, Module


class Sequential(Module):
    """y = f_L(... f_2(f_1(x))).  Parameter names are prefixed by the layer's index: ``0.weight``, ``3.bias``.

    ``train()`` / ``eval()`` set every layer's mode; each layer then runs in its own mode (``model[3].eval()``
    puts that one layer alone in evaluation mode), unless ``forward(x, train=...)`` overrides all of them.
    """

    def __init__(self, *layers: Module):
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: item {i} is a {type(layer).__name__}, not a minigan layer")
            self._children[str(i)] = layer

    @property
    def layers(self) -> list[Module]:
        return list(self._children.values())

    def __len__(self):
        return len(self._children)

    def __iter__(self):
        return iter(self._children.values())

    def __getitem__(self, i):
        if isinstance(i, slice):
            return Sequential(*self.layers[i])
        return self.layers[i]

    def __repr__(self):
        body = "".join(f"\n  ({k}): {v!r}" for k, v in self._children.items())
        return f"Sequential({body}\n)"

    def _expected(self):
        return self.layers[0]._expected() if self._children else "an array"

    def _check_input(self, x, check_finite):
        """A stack accepts what its first layer accepts: float batches, unless that layer has an input check of its
        own (an Embedding takes integer ids), which then decides."""
        first = self.layers[0] if self._children else None
        if first is None or type(first)._check_input is Module._check_input:
            return super()._check_input(x, check_finite)
        try:
            first._check_input(x, check_finite)
        except LayerInputError as e:
            raise type(e)(f"Sequential layer 0: {e}") from None

    def _mode(self, train):
        # passed on as given: with no override (None) every layer runs in its own mode, so that
        # model[3].eval() puts that one layer in evaluation mode, as in PyTorch
        return train

    def _forward(self, x, train):
        for i, layer in enumerate(self._children.values()):
            try:
                x = layer._run_forward(x, train, check_finite=False)
            except LayerInputError as e:  # the same type (NonFiniteInputError stays one), the layer's place added
                raise type(e)(f"Sequential layer {i}: {e}") from None
        return x

    def _backward(self, dy, param_grads, input_grad):
        r"""Chain rule: dL/dh_{l-1} = J_l^T dL/dh_l, applied from the last layer to the first (the first layer is
        told whether its dx is wanted)."""
        for i, layer in reversed(list(enumerate(self._children.values()))):
            try:
                dy = layer.backward(dy, param_grads, input_grad=input_grad or i > 0)
            except (LayerInputError, RuntimeError) as e:
                if type(e) not in (LayerInputError, RuntimeError):  # e.g. a CUDA error: not ours to reword
                    raise
                raise type(e)(f"Sequential layer {i}: {e}") from None
        return dy
