"""PyTorch twins of minigan models: same layers, same parameter names, weights copied through state_dict.

Torch is only a comparison twin (benchmarks, tests); minigan never imports it.
"""

from __future__ import annotations

import numpy as np


def dcgan_mnist_twins(torch, g, d, device="cpu"):
    """Torch modules equal to minigan's canonical DCGAN G and D, loaded with their current weights."""
    nn = torch.nn
    tg = nn.Sequential(
        nn.Linear(100, 128 * 7 * 7), nn.BatchNorm1d(128 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (128, 7, 7)),
        nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh(),
    )
    td = nn.Sequential(
        nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(128 * 7 * 7, 1),
    )
    for twin, ours in ((tg, g), (td, d)):
        twin.load_state_dict({k: torch.as_tensor(np.asarray(_host(v))) for k, v in ours.state_dict().items()})
        twin.to(device)
    return tg, td


def _host(a):
    return a.get() if hasattr(a, "get") else a
