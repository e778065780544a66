r"""GAN objectives. Each takes the network's raw outputs (logits or critic scores) and returns the loss value and its
gradient with respect to those outputs, ready for ``D.backward``.

Losses are *minimised*; a batch of m values is averaged. With sigma the logistic function,

    softplus(t) = log(1 + e^t) = max(t, 0) + log(1 + e^{-|t|})        (never overflows)
    -log sigma(t)     = softplus(-t),        d/dt = -sigma(-t)
    -log(1 - sigma(t)) = softplus(t),        d/dt =  sigma(t)

so the sigmoid is folded into the loss and no log(0) is ever taken. Values are returned as 0-d arrays of the
inputs' backend (no device synchronisation); call ``float()`` on them to read them.
"""

from __future__ import annotations

from minigan import backend


def sigmoid(t):
    r"""sigma(t) = 1 / (1 + e^{-t}), stable for any t and accurate to a few ulps relative, even in the tails.

    With e = e^{-|t|} in (0, 1] (never overflows): sigma(t) = 1 / (1 + e) for t >= 0 and e / (1 + e) for t < 0.
    (The tanh form (1 + tanh(t/2)) / 2 cancels catastrophically for t << 0: it gives 0 instead of e^t below t ~ -37,
    which is exactly where the saturating generator's gradient sigma(f) / m is being studied.)
    """
    xp = backend.array_module(t)
    e = xp.exp(-xp.abs(t))
    return xp.where(t >= 0, 1 / (1 + e), e / (1 + e))


def softplus(t):
    """log(1 + e^t), stable for any t."""
    xp = backend.array_module(t)
    return xp.maximum(t, 0) + xp.log1p(xp.exp(-xp.abs(t)))


# ---------------------------------------------------------------------------------------------------------------
# Goodfellow et al. 2014
# ---------------------------------------------------------------------------------------------------------------
def minimax_real(real_logits):
    r"""The real half of D's minimax loss: -(1/m) \sum log D(x_i) = mean softplus(-r);  dL/dr_i = -sigma(-r_i) / m.

    Returns (value, grad). D runs on the real batch and backpropagates this before it sees the fake batch.
    """
    m = real_logits.shape[0]
    return softplus(-real_logits).sum() / m, -sigmoid(-real_logits) / m


def minimax_fake(fake_logits):
    r"""The fake half of D's minimax loss: -(1/m) \sum log(1 - D(G(z_i))) = mean softplus(f);  dL/df_i = sigma(f_i)/m.

    Returns (value, grad).
    """
    m = fake_logits.shape[0]
    return softplus(fake_logits).sum() / m, sigmoid(fake_logits) / m


def discriminator_minimax(real_logits, fake_logits):
    r"""D's side of the minimax game, as a loss to minimise:

        L_D = -(1/m) \sum_i [ log D(x_i) + log(1 - D(G(z_i))) ] = minimax_real(r) + minimax_fake(f).

    Returns (value, grad_real, grad_fake).
    """
    v_r, g_r = minimax_real(real_logits)
    v_f, g_f = minimax_fake(fake_logits)
    return v_r + v_f, g_r, g_f


def generator_saturating(fake_logits):
    r"""The generator's loss of the paper's minimax game: L_G = (1/m) \sum log(1 - D(G(z_i))) = -mean softplus(f).

    dL_G/df_i = -sigma(f_i) / m: it vanishes when D confidently rejects the fakes (f << 0), which is why the paper
    recommends the non-saturating loss early in training. Returns (value, grad).
    """
    m = fake_logits.shape[0]
    return -softplus(fake_logits).sum() / m, -sigmoid(fake_logits) / m


def generator_non_saturating(fake_logits):
    r"""The loss the paper recommends in practice: L_G = -(1/m) \sum log D(G(z_i)) = mean softplus(-f).

    dL_G/df_i = -sigma(-f_i) / m, close to -1/m when D rejects the fakes: strong gradients early on.
    Returns (value, grad).
    """
    m = fake_logits.shape[0]
    return softplus(-fake_logits).sum() / m, -sigmoid(-fake_logits) / m


def binary_cross_entropy_with_logits(logits, target):
    r"""Mean over the batch of -[y log sigma(t) + (1 - y) log(1 - sigma(t))]; grad (sigma(t) - y) / m.

    ``target`` y is a constant label (1.0 or 0.0) or an array of labels broadcastable to the logits.
    Returns (value, grad).
    """
    m = logits.shape[0]
    value = (target * softplus(-logits) + (1 - target) * softplus(logits)).sum() / m
    return value, (sigmoid(logits) - target) / m


# ---------------------------------------------------------------------------------------------------------------
# Arjovsky et al. 2017 (WGAN) and Gulrajani et al. 2017 (WGAN-GP)
# ---------------------------------------------------------------------------------------------------------------
def wasserstein_real(real_scores):
    r"""The real half of the critic's loss: -(1/m) \sum f(x_i);  gradient -1/m per sample. Returns (value, grad)."""
    xp = backend.array_module(real_scores)
    m = real_scores.shape[0]
    return -real_scores.sum() / m, xp.full_like(real_scores, -1.0 / m)


def wasserstein_fake(fake_scores):
    r"""The fake half of the critic's loss: (1/m) \sum f(G(z_i));  gradient +1/m per sample. Returns (value, grad)."""
    xp = backend.array_module(fake_scores)
    m = fake_scores.shape[0]
    return fake_scores.sum() / m, xp.full_like(fake_scores, 1.0 / m)


def critic_wasserstein(real_scores, fake_scores):
    r"""The critic maximises E[f(x)] - E[f(G(z))], the Wasserstein-1 estimate; as a loss to minimise:

        L_f = mean f(G(z)) - mean f(x) = wasserstein_real(f(x)) + wasserstein_fake(f(G(z))).

    Returns (value, grad_real, grad_fake). ``-value`` is the Wasserstein estimate the papers plot.
    """
    v_r, g_r = wasserstein_real(real_scores)
    v_f, g_f = wasserstein_fake(fake_scores)
    return v_r + v_f, g_r, g_f


def generator_wasserstein(fake_scores):
    r"""L_G = -mean f(G(z));  dL_G/df(G(z_i)) = -1/m. Returns (value, grad)."""
    xp = backend.array_module(fake_scores)
    m = fake_scores.shape[0]
    return -fake_scores.sum() / m, xp.full_like(fake_scores, -1.0 / m)


# ---------------------------------------------------------------------------------------------------------------
# Mao et al. 2017 (LSGAN)
# ---------------------------------------------------------------------------------------------------------------
def least_squares(scores, target: float):
    r"""L = (1/2m) \sum (s_i - target)^2, dL/ds_i = (s_i - target) / m.

    LSGAN uses target b = 1 on real and a = 0 on fake samples for D, and c = 1 on fake samples for G.
    Returns (value, grad).
    """
    m = scores.shape[0]
    diff = scores - target
    return 0.5 * (diff * diff).sum() / m, diff / m


# ---------------------------------------------------------------------------------------------------------------
# per-element means: PatchGAN outputs and image reconstructions (pix2pix, CycleGAN)
# ---------------------------------------------------------------------------------------------------------------
# A PatchGAN gives one logit per patch, (N, 1, H', W'), and PyTorch's losses (BCEWithLogitsLoss, MSELoss,
# L1Loss), which the reference code of pix2pix and CycleGAN calls, average over every element, not only over the
# batch. With M = the number of elements of the input:
def bce_with_logits_mean(logits, target: float):
    r"""(1/M) \sum_j -[y log sigma(t_j) + (1 - y) log(1 - sigma(t_j))];  d/dt_j = (sigma(t_j) - y) / M.

    pix2pix's GANLoss("vanilla") on a PatchGAN: y = 1 for "real", 0 for "fake". Returns (value, grad)."""
    M = logits.size
    value = (target * softplus(-logits) + (1 - target) * softplus(logits)).sum() / M
    return value, (sigmoid(logits) - target) / M


def mse_mean(scores, target: float):
    r"""(1/M) \sum_j (s_j - y)^2;  d/ds_j = 2 (s_j - y) / M.

    CycleGAN's GANLoss("lsgan") (PyTorch's MSELoss: no 1/2, unlike :func:`least_squares`). Returns (value, grad)."""
    M = scores.size
    diff = scores - target
    return (diff * diff).sum() / M, 2.0 * diff / M


def l1_mean(x, target):
    r"""(1/M) \sum_j |x_j - b_j|;  d/dx_j = sign(x_j - b_j) / M (0 where they are equal, as torch.sign).

    pix2pix's and CycleGAN's L1 terms (PyTorch's L1Loss) between an output and its target (an array of x's
    shape). The caller multiplies value and gradient by lambda. Returns (value, grad)."""
    xp = backend.array_module(x)
    M = x.size
    diff = x - target
    return xp.abs(diff).sum() / M, xp.sign(diff) / M


# ---------------------------------------------------------------------------------------------------------------
# classification (the evaluation classifier)
# ---------------------------------------------------------------------------------------------------------------
def softmax(logits):
    """Row-wise softmax of (N, K) logits, shifted by the row maximum so exp never overflows."""
    xp = backend.array_module(logits)
    e = xp.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def softmax_cross_entropy(logits, labels):
    r"""Mean of -log softmax(t_i)[y_i] over the batch, for logits (N, K) and integer labels (N,).

    With p = softmax(t): -log p_y = logsumexp(t) - t_y, whose gradient is p - onehot(y) (the full Jacobian of
    softmax contracted with -1/p_y collapses to this). dL/dt = (p - onehot(y)) / N. Returns (value, grad).
    """
    xp = backend.array_module(logits)
    n = logits.shape[0]
    if labels.shape != (n,):
        raise ValueError(f"softmax_cross_entropy: labels must have shape ({n},), got {tuple(labels.shape)}")
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_z = xp.log(xp.exp(shifted).sum(axis=1))
    rows = xp.arange(n)
    value = (log_z - shifted[rows, labels]).sum() / n
    grad = softmax(logits)
    grad[rows, labels] -= 1
    return value, grad / n
