"""Dense (fully connected, PyTorch's Linear): y = x W^T + b."""

from __future__ import annotations

from minigan import init, parallel
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

    def _forward(self, x, train):
        self._x = x
        y = parallel.matmul(x, self._params["weight"].T)  # rows of x over minigan's threads
        if "bias" in self._params:
            y += self._params["bias"]
        return y

    def _backward(self, dy, param_grads):
        r"""With y_{nj} = \sum_i x_{ni} W_{ji} + b_j:

        dL/dx_{ni} = \sum_j dy_{nj} W_{ji}        ->  dx = dy W
        dL/dW_{ji} = \sum_n dy_{nj} x_{ni}        ->  dW = dy^T x
        dL/db_j    = \sum_n dy_{nj}               ->  db = dy summed over the batch
        """
        self._backward_without_input_grad(dy, param_grads)
        return parallel.matmul(dy, self._params["weight"])

    def _backward_without_input_grad(self, dy, param_grads):
        if param_grads:
            self._grads["weight"] += parallel.matmul(dy.T, self._x)
            if "bias" in self._grads:
                self._grads["bias"] += dy.sum(axis=0)

    def _clear_cache(self):
        super()._clear_cache()
        self._x = None

    supports_gradient_penalty = True

    def _tangent_step(self, g, t):
        r"""Gradient-penalty sweep (gradient_penalty.py): dP/dW += g^T t, the weight gradient of forward input t and
        upstream signal g; the bias gets none. Returns the tangent J t = t W^T (the linear map without its bias)."""
        self._grads["weight"] += g.T @ t
        return t @ self._params["weight"].T

