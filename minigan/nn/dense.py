"""Dense (fully connected, PyTorch's Linear): y = x W^T + b."""

from __future__ import annotations

from minigan import init
from minigan.nn.module import Module


class Dense(Module):
    """y = x W^T + b.

    Shapes: x (N, in_features) -> y (N, out_features); weight (out_features, in_features); bias (out_features,).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(f"Dense needs positive sizes, got in={in_features}, out={out_features}")
        self.in_features, self.out_features = in_features, out_features
        self._add_param("weight", init.uniform_fan_in((out_features, in_features), in_features))
        if bias:
            self._add_param("bias", init.uniform_fan_in((out_features,), in_features))
        self._x = None

    def __repr__(self):
        return f"Dense({self.in_features}, {self.out_features}, bias={'bias' in self._params})"

    def _expected(self):
        return f"of shape (N, {self.in_features})"

    def _check_shape(self, x):
        return x.ndim == 2 and x.shape[1] == self.in_features

    per_sample = True

    def _forward(self, x, train):
        """y = x W^T + b."""
        self._x = x  # (N, in)
        y = x @ self._params["weight"].T  # (N, out)
        if "bias" in self._params:
            y += self._params["bias"]
        return y

    def _backward(self, dy, param_grads, input_grad):
        r"""With y_{nj} = \sum_i x_{ni} W_{ji} + b_j:

        dL/dW_{ji} = \sum_n dy_{nj} x_{ni}        ->  dW = dy^T x
        dL/db_j    = \sum_n dy_{nj}               ->  db = dy summed over the batch
        dL/dx_{ni} = \sum_j dy_{nj} W_{ji}        ->  dx = dy W
        """
        if param_grads:
            self._grads["weight"] += dy.T @ self._x  # (out, in)
            if "bias" in self._grads:
                self._grads["bias"] += dy.sum(axis=0)  # (out,)
        return dy @ self._params["weight"] if input_grad else None  # (N, in)

    def _clear_cache(self):
        super()._clear_cache()
        self._x = None

    supports_gradient_penalty = True

    def _jvp(self, g, t):
        r"""J t = t W^T (the linear map without its bias). Penalty sweep (gradient_penalty.py): the weight gradient
        of input t and upstream signal g, dP/dW += g^T t; the bias gets none."""
        self._grads["weight"] += g.T @ t
        return t @ self._params["weight"].T

