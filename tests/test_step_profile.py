"""minigan.lab.step_profile: where a training step's time goes, layer by layer, timed inside the step."""

from __future__ import annotations

import time

import numpy as np
import pytest

from minigan import optim
from minigan.lab import bench
from minigan.lab.flops import layer_gflop
from minigan.lab.step_profile import step_profile
from minigan.nn import Conv2d, ConvTranspose2d, Dense, ReLU, Sequential
from minigan.nn.module import Module


def _canonical(batch):
    trainer, data = bench.minigan_trainer(batch)
    nets, opts = {"G": trainer.G, "D": trainer.D}, {"G": trainer.opt_G, "D": trainer.opt_D}
    return (lambda: trainer.iteration(data)), nets, opts


def test_work_and_calls_of_the_canonical_step():
    """The FLOPs the layers report, from the shapes they saw, add up to bench.step_gflop, which counts the same
    work from the algorithm instead; G runs forward twice and backward once per iteration (k = 1), D three times
    each (real, fake, and in the generator step), and each optimizer steps once."""
    step, nets, opts = _canonical(4)
    report = step_profile(step, nets, opts, steps=2, warmup=1)
    assert report["gflop"] == pytest.approx(bench.step_gflop(4), rel=1e-12)
    calls = {(r["net"], r["forward_calls"], r["backward_calls"]) for r in report["layers"]}
    assert calls == {("G", 2, 1), ("D", 3, 3)}
    assert len(report["layers"]) == len(nets["G"].layers) + len(nets["D"].layers)
    assert [(r["net"], r["optimizer"], r["calls"]) for r in report["optimizers"]] == [("G", "Adam", 1),
                                                                                       ("D", "Adam", 1)]


def test_rows_never_overlap_and_fit_inside_the_step():
    """Only leaf layers are clocked (a Sequential around them is not), so the clocked intervals are disjoint and
    lie inside the step: what they cover, summed, is less than the step's wall time as an independent clock (one
    around each whole step, outside the profile) measured it, so the rest is positive and less than the step.
    Clocking a Sequential as well as its layers would count every layer twice and break the first assertion."""
    step, nets, opts = _canonical(4)
    walls = []

    def timed_step():
        t0 = time.perf_counter()
        step()
        walls.append(time.perf_counter() - t0)

    report = step_profile(timed_step, nets, opts, steps=3, warmup=1)
    wall = float(np.mean(walls[-3:]))  # the profiled steps (after the warm-up one)
    covered = sum(r["forward_s"] + r["backward_s"] for r in report["layers"]) + sum(r["s"] for r in
                                                                                    report["optimizers"])
    assert 0 < covered < wall <= report["step_s"]
    assert 0 < report["rest_s"] < report["step_s"]


class _Sleep(Module):
    """Identity that takes ``seconds`` in forward."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds

    def _forward(self, x, train):
        time.sleep(self.seconds)
        return x

    def _backward(self, dy, param_grads, input_grad=True):
        return dy


def test_time_lands_on_the_layer_that_spent_it():
    """A layer that sleeps 20 ms in forward shows at least that; the 10 ms the step sleeps outside every layer and
    optimizer lands in the rest; the layers' forward rows, together, fit inside the net's forward as the step's own
    clock measured it (so the sleep is not counted twice, nor on a neighbour beyond what the net's call took).
    Lower bounds and an independent clock only: a loaded machine makes every call slower, never faster."""
    net = Sequential(Dense(3, 4), _Sleep(0.02), ReLU())
    opt = optim.SGD(net, lr=0.1)
    x = np.ones((2, 3), dtype=np.float32)
    forwards, outside = [], []

    def step():
        net.zero_grad()
        t0 = time.perf_counter()
        y = net(x)
        forwards.append(time.perf_counter() - t0)
        net.backward(y)
        opt.step()
        t0 = time.perf_counter()
        time.sleep(0.01)  # outside every layer and optimizer
        outside.append(time.perf_counter() - t0)

    report = step_profile(step, {"net": net}, {"net": opt}, steps=3, warmup=0)
    by_index = {r["index"]: r for r in report["layers"]}
    assert by_index["1"]["forward_s"] >= 0.02
    assert sum(r["forward_s"] for r in report["layers"]) <= np.mean(forwards)
    assert report["rest_s"] >= np.mean(outside) >= 0.01
    assert report["step_s"] >= 0.03
    assert by_index["0"]["gflop"] == pytest.approx(3 * 2 * 2 * 3 * 4 / 1e9)  # forward, dx and dW of a 2x3 @ 3x4


def test_the_clocks_come_off_afterwards_even_when_the_step_fails():
    net = Sequential(Dense(3, 4), ReLU())
    opt = optim.SGD(net, lr=0.1)

    def failing_step():
        net(np.ones((2, 3), dtype=np.float32))
        raise ValueError("planted")

    with pytest.raises(ValueError, match="planted"):
        step_profile(failing_step, {"net": net}, {"net": opt}, steps=1, warmup=0)
    for layer in (*net.layers, net):
        assert "_run_forward" not in vars(layer) and "backward" not in vars(layer)
    assert "step" not in vars(opt)


def test_a_backward_counts_the_products_it_makes():
    """Every GEMM layer makes the dx product only when input_grad is True and the weight-gradient product only
    when param_grads is True: a backward of both costs two forwards' work, of one, one, of neither, none."""
    x = np.ones((2, 2, 6, 6), dtype=np.float32)
    for layer in (Conv2d(2, 3, 4, 2, 1), ConvTranspose2d(2, 3, 4, 2, 1)):
        net = Sequential(layer)
        forward = layer_gflop(layer, x.shape, net(x).shape)
        for param_grads, input_grad, products in ((True, False, 1), (False, True, 1), (True, True, 2),
                                                  (False, False, 0)):
            def step(net=net, param_grads=param_grads, input_grad=input_grad):
                net.backward(np.ones_like(net(x)), param_grads=param_grads, input_grad=input_grad)

            report = step_profile(step, {"net": net}, {}, steps=1, warmup=0)
            assert report["gflop"] == pytest.approx((1 + products) * forward), (layer, param_grads, input_grad)


def test_an_instance_attribute_the_profile_replaces_is_put_back():
    """A layer may carry its own ``backward`` on the instance (a wrapper of the user's); the profile times through
    it and leaves it in place afterwards, rather than deleting it."""
    net = Sequential(Dense(3, 4))
    layer = net.layers[0]
    seen = []

    def own_backward(dy, *args, **kwargs):
        seen.append(dy.shape)
        return type(layer).backward(layer, dy, *args, **kwargs)

    layer.backward = own_backward

    def step():
        net.backward(net(np.ones((2, 3), dtype=np.float32)))

    report = step_profile(step, {"net": net}, {}, steps=2, warmup=0)
    assert vars(layer)["backward"] is own_backward and len(seen) == 2
    assert report["layers"][0]["backward_calls"] == 1


@pytest.mark.parametrize("steps, warmup", [(0, 1), (2, -1)])
def test_a_profile_of_no_steps_is_refused(steps, warmup):
    net = Sequential(Dense(3, 4))
    with pytest.raises(ValueError, match=f"steps >= 1 and warmup >= 0, got steps={steps}, warmup={warmup}"):
        step_profile(lambda: None, {"net": net}, {}, steps=steps, warmup=warmup)
    assert "backward" not in vars(net.layers[0])  # nothing was put on the layer
