r"""The WGAN-GP gradient penalty and its parameter gradient, derived by hand (no autograd).

Penalty (Gulrajani et al. 2017), on interpolates x_hat_n between real and generated samples:

    P(w) = (lambda / m) \sum_n ( ||u_n|| - 1 )^2,      u_n = grad_x f_w(x_hat_n).

u is itself a backward pass, so dP/dw differentiates a backward pass. For a critic f = L_K o ... o L_1 made of
piecewise-linear layers (Dense, Conv2d, ReLU, LeakyReLU, Flatten, Reshape), write J_l for layer l's Jacobian.
On each linear piece the activation masks are constant, so J_l = W_l for Dense/Conv2d (no bias: a bias only moves
the kinks) and a constant diagonal for the activations. Then, with 1 the all-ones upstream gradient of sum(f),

    u = J_1^T J_2^T ... J_K^T 1.

Chain rule through P:  dP/dw = v . du/dw  with  v = dP/du, i.e.  v_n = (2 lambda / m) (||u_n|| - 1) u_n / ||u_n||,
held fixed. (||u_n|| has no derivative at u_n = 0; minigan takes v_n = 0 there, as PyTorch's norm does. In a
piecewise-linear critic u_n = 0 means every path from x_hat_n to the score is switched off (dead ReLUs), so u_n stays
0 for nearby w and the sample truly adds nothing.) Since v . u = 1^T J_K ... J_1 v, and only J_l depends on W_l,

    v . u = g_l^T W_l t_{l-1},   g_l = J_{l+1}^T ... J_K^T 1   (the backward signal at layer l's output, from the
                                                             first backward pass)
                                 t_{l-1} = J_{l-1} ... J_1 v    (a forward-mode tangent sweep started from v)

so  dP/dW_l = g_l (x) t_{l-1}:  layer l's own weight-gradient routine, called with upstream gradient g_l and
input t_{l-1}. Biases get no penalty gradient. The algorithm is therefore:

    1. forward x_hat through the critic (caching masks);
    2. backward 1 for dx only, keeping every layer's upstream signal g_l; the result is u;
    3. P and v from u;
    4. one tangent sweep t_0 = v, t_l = J_l t_{l-1}, adding g_l (x) t_{l-1} into each weight's gradient.

Each layer that supports this implements ``_jvp(g, t)``: it returns the Jacobian-vector product J t and adds its
penalty weight gradient from (g, t). Smooth nonlinearities (tanh, sigmoid) would add second-derivative terms, and
BatchNorm couples the samples of a batch (which the paper rules out for the critic): critics holding them raise an error instead of
returning a silently wrong gradient.
"""

from __future__ import annotations

from minigan import backend, fast
from minigan.nn.container import Sequential


class PenaltyNotSupported(TypeError):
    """The critic holds a layer whose penalty gradient minigan does not derive."""


def leaf_layers(module) -> list:
    """The layers of a (possibly nested) Sequential, in forward order."""
    if isinstance(module, Sequential):
        return [leaf for child in module for leaf in leaf_layers(child)]
    return [module]


def check_penalty_support(critic) -> list:
    """The critic's leaf layers; raise :class:`PenaltyNotSupported` naming the first layer without support."""
    layers = leaf_layers(critic)
    for i, layer in enumerate(layers):
        if not getattr(layer, "supports_gradient_penalty", False):
            supported = ("Dense, Conv2d, ReLU, LeakyReLU, Flatten, Reshape, ReflectionPad2d, Upsample, and SkipConcat / "
                         "Residual around such layers")
            hint = " (Gulrajani et al. rule out batch normalisation in the critic)" if "BatchNorm" in \
                type(layer).__name__ else ""
            raise PenaltyNotSupported(
                f"gradient penalty: layer {i}, {layer!r}, has no hand-derived penalty gradient{hint}; "
                f"a WGAN-GP critic may hold only {supported}"
            )
    return layers


def gradient_penalty(critic, x_hat, lam: float = 10.0, param_grads: bool = True):
    r"""P = (lambda/m) \sum_n (||grad_x f(x_hat_n)|| - 1)^2; adds dP/dw into ``critic.grads`` when param_grads.

    Returns (P as a 0-d array, the per-sample gradient norms ||u_n||, shape (m,)).
    """
    layers = check_penalty_support(critic)
    xp = backend.array_module(x_hat)
    m = x_hat.shape[0]

    # 1. forward; 2. backward of sum f for dx only, keeping each layer's upstream signal g_l
    scores = critic(x_hat)
    g = xp.ones_like(scores)
    signals = []
    for layer in reversed(layers):
        signals.append(g)
        g = layer.backward(g, param_grads=False)
    signals.reverse()
    u = g

    # 3. the penalty and v = dP/du
    axes = tuple(range(1, u.ndim))
    norms = xp.sqrt((u * u).sum(axis=axes))
    penalty = lam * ((norms - 1) ** 2).sum() / m
    if not param_grads:
        return penalty, norms
    # v_n = 0 where u_n = 0 (see the module docstring): dividing by 1 there, not by ||u_n|| = 0, keeps
    # (||u_n|| - 1) / ||u_n|| finite, so 0 * scale cannot become NaN
    scale = (2 * lam / m) * (norms - 1) / xp.where(norms > 0, norms, 1)
    t = u * scale.reshape((m,) + (1,) * (u.ndim - 1))

    # 4. tangent sweep: dP/dW_l = g_l (x) t_{l-1};  t_l = J_l t_{l-1}
    for layer, g_l in zip(layers, signals):
        t = fast.jvp(layer, g_l, t)  # as the layer's forward ran: whole, or in chunks
    return penalty, norms
