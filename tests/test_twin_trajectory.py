"""minigan's canonical MNIST DCGAN trains along the same trajectory as its PyTorch twin (benchmarks/twin_trajectory.py).

Same initial weights (minigan state_dict -> torch load_state_dict), same real batches, same noise (recorded from
minigan's own GAN trainer), Adam(2e-4, (0.5, 0.999)) on both sides, the canonical step of docs/design.md;
float64, batch 8, 5 steps.

Measured on this machine (NumPy 2.4, torch 2.13 CPU, offline MNIST subset), worst over the 5 steps:

    |loss_D - loss_D'| / |loss_D'|   ~1.4e-15        tolerance 1e-12
    |loss_G - loss_G'| / |loss_G'|   ~1.4e-15        tolerance 1e-12
    params, max rel per tensor      ~1.3e-12        tolerance 1e-9   (Adam amplifies round-off in near-zero
                                                                      gradient elements by up to lr / eps)
    BN running stats, max rel       ~1.4e-8         tolerance 1e-6   (the running means carry the biases below)
    biases BatchNorm cancels, abs   ~3.5e-10        tolerance 1e-8   (their gradient is round-off on both sides;
                                                                      compared in absolute terms, see the benchmark)

Over 30 steps at batch 64 the differences grow slowly (see the benchmark's output). The can-fail check gives the
torch side lr 2.2e-4 instead of 2e-4 (2 steps): step 1's loss_D (computed before any update) still agrees to
~2e-16, but loss_G (computed after D's update) differs by ~3e-2, loss_D at step 2 by ~3e-2 and the parameters by
O(1) relative (tensors that start at zero take a +-lr first Adam step, and some of G's signs differ once D does).
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))

import twin_trajectory as tt  # noqa: E402

from minigan.models import dcgan_mnist_discriminator, dcgan_mnist_generator  # noqa: E402

STEPS, BATCH = 5, 8
TOL_LOSS, TOL_PARAMS, TOL_BUFFERS, TOL_CANCELLED = 1e-12, 1e-9, 1e-6, 1e-8


@pytest.fixture(scope="module")
def images():
    torch.set_num_threads(1)
    return tt.real_images(STEPS * BATCH, seed=0)[0]


def worst(rows, key):
    return max(r[key] for r in rows)


def test_float64_trajectory_agrees_with_torch(images):
    rows = tt.trajectory(STEPS, BATCH, np.float64, seed=0, images=images)
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))
    summary = {k: f"{worst(rows, k):.1e}" for k in ("rel_loss_D", "rel_loss_G", "rel_params", "rel_buffers",
                                                    "abs_cancelled_bias")}
    assert worst(rows, "rel_loss_D") <= TOL_LOSS, summary
    assert worst(rows, "rel_loss_G") <= TOL_LOSS, summary
    assert worst(rows, "rel_params") <= TOL_PARAMS, summary
    assert worst(rows, "rel_buffers") <= TOL_BUFFERS, summary
    assert worst(rows, "abs_cancelled_bias") <= TOL_CANCELLED, summary
    # the networks did train: the losses move from step to step
    assert len({round(r["loss_D"], 6) for r in rows}) == STEPS


def test_a_different_learning_rate_on_one_side_is_caught(images):
    rows = tt.trajectory(2, BATCH, np.float64, seed=0, images=images, lr_torch=2.2e-4)
    assert rows[0]["rel_loss_D"] <= TOL_LOSS  # step 1's losses are computed before any update: still equal
    assert rows[0]["rel_loss_G"] > 1e3 * TOL_LOSS  # after D's update
    assert rows[0]["rel_params"] > 1e3 * TOL_PARAMS
    assert max(r["rel_loss_D"] for r in rows[1:]) > 1e3 * TOL_LOSS
    assert max(r["rel_loss_G"] for r in rows[1:]) > 1e3 * TOL_LOSS


def test_the_biases_batchnorm_cancels_are_found():
    assert tt.cancelled_biases(dcgan_mnist_generator()) == ["0.bias", "4.bias"]
    assert tt.cancelled_biases(dcgan_mnist_discriminator()) == ["2.bias"]
