"""minigan against its PyTorch twin: the same numbers in, the same numbers out, forward and backward.

For each layer (and the canonical MNIST DCGAN's G and D of docs/design.md, at batch 4) the minigan module is built
first; its ``state_dict()`` is loaded INTO the torch twin by name (so names and shapes must be PyTorch's,
BatchNorm's ``num_batches_tracked`` included), both run forward on the same input and backward with the same
upstream gradient, and we compare the outputs, the input gradients, every parameter gradient matched by name
(``grads[name]`` against ``named_parameters()[name].grad``) and every buffer. Gradients are accumulated over
several steps without zeroing, on both sides, so the "backward ADDS" contract is compared too. One test loads the
other way (torch ``state_dict()`` -> minigan ``load_state_dict``).

Single layers are compared with torch layers built here, by hand, from the same hyperparameters. The DCGAN's G and
D are the real ones of :mod:`minigan.models`, and their twins come from :func:`minigan.lab.torch_twin.torch_twin`
(the one twin the benchmark and the scripts in benchmarks/ use too), built from those networks; separate tests
check that torch_twin maps every layer it knows to the torch layer built by hand, and refuses any other.

Tolerances: float64, max |ours - torch| <= 1e-10 * max(1, max |torch|); float32, max |ours - torch| / max |torch|
<= 1e-4. One float32 exception, stated where it applies: a gradient that is exactly zero in exact arithmetic (the
bias of a layer feeding a training-mode BatchNorm, which cancels it) is round-off on both sides, so there the ratio
compares noise with noise; those tensors are instead required to be round-off small (<= 1e-4 of their layer's
weight gradient) on both sides.

Worst differences observed (NumPy backend, several full runs; CuPy on an H100 gave the same orders):

    float64, max |diff| / max(1, |torch|):  ~1e-15 (single layers), ~4e-16 (DCGAN G and D)
    float32, max |diff| / max |torch|:      ~4e-7 (single layers), ~2e-6 (DCGAN G and D)

(``pytest tests/test_torch_twin.py -s`` prints the table for the run.)
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from minigan import backend, nn
from minigan.lab.torch_twin import KNOWN_LAYERS, torch_twin
from minigan.models import dcgan_mnist_discriminator, dcgan_mnist_generator

torch = pytest.importorskip("torch")
tnn = torch.nn

DTYPES = {"float64": (np.float64, torch.float64), "float32": (np.float32, torch.float32)}
TOL64 = 1e-10  # absolute, times max(1, scale)
TOL32 = 1e-4  # relative to max |torch value|

SCALE = int(os.environ.get("MINIGAN_HYPOTHESIS_SCALE", "1"))
TWIN = settings(max_examples=10 * SCALE, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
seeds = st.integers(0, 2**31 - 1)

# ---------------------------------------------------------------------------------------------------------------
# bookkeeping: the worst difference per (layer, dtype), printed at the end of the module (run with -s)
# ---------------------------------------------------------------------------------------------------------------
_WORST: dict[tuple[str, str], tuple[float, str]] = {}


@pytest.fixture(scope="module", autouse=True)
def _report_worst():
    yield
    if _WORST:
        print("\n\nworst difference from the torch twin (float64: |diff| / max(1, |torch|); float32: relative)")
        for (label, dtype), (err, what) in sorted(_WORST.items()):
            print(f"  {label:<26s} {dtype:<8s} {err:.1e}  ({what})")


class Twin:
    """A minigan module and its torch twin, fed the same numbers; every comparison goes through :meth:`compare`."""

    def __init__(self, label, ours, theirs, bk, dtype: str, zero_grads=()):
        self.label, self.ours, self.bk, self.dtype = label, ours, bk, dtype
        self.np_dtype, self.torch_dtype = DTYPES[dtype]
        self.theirs = theirs.to(self.torch_dtype)
        self.zero_grads = set(zero_grads)  # names whose gradient is exactly zero in exact arithmetic
        assert set(ours.grads) == {k for k, _ in self.theirs.named_parameters()}, "parameter names differ"

    # -- moving numbers ------------------------------------------------------------------------------------------
    def load_ours_into_theirs(self):
        state = {k: torch.from_numpy(np.ascontiguousarray(self.bk.to_numpy(v))) for k, v in self.ours.state_dict().items()}
        self.theirs.load_state_dict(state)  # strict: every name and shape must match PyTorch's
        return self

    def load_theirs_into_ours(self):
        self.ours.load_state_dict(self.theirs.state_dict())
        return self

    # -- comparing -----------------------------------------------------------------------------------------------
    def _record(self, err, what):
        key = (self.label, self.dtype)
        if err >= _WORST.get(key, (-1.0, ""))[0]:
            _WORST[key] = (err, what)

    def compare(self, what, ours, theirs):
        ours = self.bk.to_numpy(ours)
        theirs = theirs.detach().cpu().numpy()
        assert ours.shape == theirs.shape, f"{self.label} {what}: shape {ours.shape}, torch {theirs.shape}"
        assert ours.dtype == theirs.dtype, f"{self.label} {what}: dtype {ours.dtype}, torch {theirs.dtype}"
        ours, theirs = ours.astype(np.float64), theirs.astype(np.float64)
        diff = float(np.abs(ours - theirs).max(initial=0.0))
        scale = float(np.abs(theirs).max(initial=0.0))
        if self.dtype == "float64":
            err = diff / max(1.0, scale)
            self._record(err, what)
            assert err <= TOL64, f"{self.label} {what}: max |diff| {diff:.3e}, torch scale {scale:.3e}"
        else:
            err = diff / scale if scale > 0 else diff
            self._record(err, what)
            assert err <= TOL32, f"{self.label} {what}: relative error {err:.3e} (max |diff| {diff:.3e})"

    def compare_zero_grad(self, name, weight_name):
        """float32: a gradient that is zero in exact arithmetic must be round-off small on both sides."""
        ours = np.abs(self.bk.to_numpy(self.ours.grads[name]).astype(np.float64)).max()
        params = dict(self.theirs.named_parameters())
        theirs = float(params[name].grad.abs().max())
        reference = float(params[weight_name].grad.abs().max())
        self._record(max(ours, theirs) / reference, f"{name} (zero in exact arithmetic, vs |d {weight_name}|)")
        assert max(ours, theirs) <= TOL32 * reference, (
            f"{self.label} {name}: should be zero, got {ours:.3e} (ours) / {theirs:.3e} (torch), "
            f"{weight_name} gradient scale {reference:.3e}"
        )

    def compare_params_and_buffers(self, when):
        params = dict(self.theirs.named_parameters())
        for name, g in self.ours.grads.items():
            if name in self.zero_grads and self.dtype == "float32" and self.ours.training:
                self.compare_zero_grad(name, name.rsplit(".", 1)[0] + ".weight" if "." in name else "weight")
            else:
                self.compare(f"{when} d{name}", g, params[name].grad)
        for name, b in self.theirs.named_buffers():
            ours = self.bk.to_numpy(self.ours.buffers[name])
            if name.endswith("num_batches_tracked"):
                assert int(ours) == int(b), f"{self.label} {name}: {int(ours)} vs torch {int(b)}"
            else:
                self.compare(f"{when} {name}", ours, b)
        for name, p in self.theirs.named_parameters():  # the parameters themselves never moved
            self.compare(f"{when} {name}", self.ours.params[name], p)

    # -- running -------------------------------------------------------------------------------------------------
    def step(self, x, dy, train: bool, when: str):
        """One forward + backward on both sides with the same x and dy; gradients accumulate (no zeroing)."""
        self.ours.train(train)
        self.theirs.train(train)
        x = np.asarray(x, self.np_dtype)
        dy = np.asarray(dy, self.np_dtype)
        xt = torch.from_numpy(x.copy()).requires_grad_(True)
        y = self.ours.forward(self.bk.asarray(x))
        yt = self.theirs(xt)
        self.compare(f"{when} y", y, yt)
        dx = self.ours.backward(self.bk.asarray(dy))
        yt.backward(torch.from_numpy(dy.copy()))
        self.compare(f"{when} dx", dx, xt.grad)
        self.compare_params_and_buffers(when)

    def zero_grad(self):
        self.ours.zero_grad()
        self.theirs.zero_grad(set_to_none=False)


def _setup(seed: int, dtype: str) -> np.random.Generator:
    backend.set_default_dtype(DTYPES[dtype][0])
    backend.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def _randomize_params(module, rng, bk):
    """Standard-normal parameters (BatchNorm's gamma = 1, beta = 0 would hide a missing factor or term)."""
    for p in module.params.values():
        p[...] = bk.asarray(rng.standard_normal(p.shape))


def _out_shape(module, x, bk):
    """The output shape, from a forward in evaluation mode on a copy (no running statistics move)."""
    import copy

    probe = copy.deepcopy(module).eval()
    return tuple(probe.forward(bk.asarray(x)).shape)


def _run_steps(twin, rng, x_shape, bk, train_steps=2, eval_step=True, data=None):
    """``train_steps`` accumulating train steps, then (optionally) one evaluation step, on fresh data each time."""
    data = data or (lambda: rng.standard_normal(x_shape))
    twin.zero_grad()
    for i in range(train_steps):
        x = data()
        dy = rng.standard_normal(_out_shape(twin.ours, np.asarray(x, twin.np_dtype), bk))
        twin.step(x, dy, train=True, when=f"train step {i}")
    if eval_step:
        # zeroed first: in evaluation the biases feeding BatchNorms get real gradients, which in float32 would
        # otherwise be compared on top of the training steps' round-off in their (exactly zero) gradients
        twin.zero_grad()
        x = data()
        dy = rng.standard_normal(_out_shape(twin.ours, np.asarray(x, twin.np_dtype), bk))
        twin.step(x, dy, train=False, when="eval step")


dtypes = pytest.mark.parametrize("dtype", list(DTYPES))


# ---------------------------------------------------------------------------------------------------------------
# single layers
# ---------------------------------------------------------------------------------------------------------------
def _min_channels(dtype: str) -> int:
    """float32 runs take at least 2 output features/channels. With one, a bias gradient (a sum over the batch and
    the pixels) or a 1x1 single-channel weight gradient is a single number that may cancel to near zero, and its
    relative error is then its round-off over its own small size, whoever computes it (a Conv2d with one output
    channel showed 1.6e-4 on a sum of 27 terms that came to 3e-3). With two or more, the largest entry of the
    tensor sets the scale."""
    return 1 if dtype == "float64" else 2


@dtypes
@TWIN
@given(data=st.data(), n=st.integers(1, 6), fin=st.integers(1, 12), bias=st.booleans(), seed=seeds)
def test_dense(bk, dtype, data, n, fin, bias, seed):
    fout = data.draw(st.integers(_min_channels(dtype), 12), label="fout")
    rng = _setup(seed, dtype)
    twin = Twin("Dense", nn.Dense(fin, fout, bias=bias), tnn.Linear(fin, fout, bias=bias), bk, dtype)
    twin.load_ours_into_theirs()
    _run_steps(twin, rng, (n, fin), bk)


@st.composite
def conv2d_configs(draw, min_out):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, kh - 2 * ph), 9))
    w = draw(st.integers(max(1, kw - 2 * pw), 9))
    return {
        "n": draw(st.integers(1, 3)), "cin": draw(st.integers(1, 4)), "cout": draw(st.integers(min_out, 4)), "h": h,
        "w": w,
        "kernel": (kh, kw), "stride": (sh, sw), "padding": (ph, pw), "bias": draw(st.booleans()), "seed": draw(seeds),
    }


@st.composite
def conv_transpose2d_configs(draw, min_out):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    oph, opw = draw(st.integers(0, sh - 1)), draw(st.integers(0, sw - 1))
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    assume((h - 1) * sh - 2 * ph + kh + oph >= 1 and (w - 1) * sw - 2 * pw + kw + opw >= 1)
    return {
        "n": draw(st.integers(1, 3)), "cin": draw(st.integers(1, 4)), "cout": draw(st.integers(min_out, 4)), "h": h,
        "w": w,
        "kernel": (kh, kw), "stride": (sh, sw), "padding": (ph, pw), "output_padding": (oph, opw),
        "bias": draw(st.booleans()), "seed": draw(seeds),
    }


@dtypes
@TWIN
@given(data=st.data())
def test_conv2d(bk, dtype, data):
    c = data.draw(conv2d_configs(_min_channels(dtype)))
    rng = _setup(c["seed"], dtype)
    ours = nn.Conv2d(c["cin"], c["cout"], c["kernel"], stride=c["stride"], padding=c["padding"], bias=c["bias"])
    theirs = tnn.Conv2d(c["cin"], c["cout"], c["kernel"], stride=c["stride"], padding=c["padding"], bias=c["bias"])
    twin = Twin("Conv2d", ours, theirs, bk, dtype).load_ours_into_theirs()
    _run_steps(twin, rng, (c["n"], c["cin"], c["h"], c["w"]), bk)


@dtypes
@TWIN
@given(data=st.data())
def test_conv_transpose2d(bk, dtype, data):
    c = data.draw(conv_transpose2d_configs(_min_channels(dtype)))
    rng = _setup(c["seed"], dtype)
    args = (c["cin"], c["cout"], c["kernel"])
    kwargs = {"stride": c["stride"], "padding": c["padding"], "output_padding": c["output_padding"], "bias": c["bias"]}
    twin = Twin("ConvTranspose2d", nn.ConvTranspose2d(*args, **kwargs), tnn.ConvTranspose2d(*args, **kwargs), bk,
                dtype).load_ours_into_theirs()
    _run_steps(twin, rng, (c["n"], c["cin"], c["h"], c["w"]), bk)


@st.composite
def batchnorm_configs(draw, kind, min_m, min_c):
    c = draw(st.integers(min_c, 5))
    if kind == "1d-NC":
        shape = (draw(st.integers(min_m, 8)), c)
    elif kind == "1d-NCL":
        n, length = draw(st.integers(1, 4)), draw(st.integers(1, 5))
        assume(n * length >= min_m)
        shape = (n, c, length)
    else:
        n, h, w = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
        assume(n * h * w >= min_m)
        shape = (n, c, h, w)
    return {
        "shape": shape, "eps": draw(st.sampled_from([1e-5, 1e-3, 0.1])),
        "momentum": draw(st.sampled_from([0.1, 0.3, 1.0])), "affine": draw(st.booleans()),
        "steps": draw(st.integers(1, 4)), "seed": draw(seeds),
    }


@pytest.mark.parametrize("kind", ["1d-NC", "1d-NCL", "2d"])
@dtypes
@TWIN
@given(data=st.data())
def test_batchnorm(bk, dtype, kind, data):
    """Training steps (outputs, gradients and running statistics after each), then an evaluation step.

    float32 takes at least 2 channels (see :func:`_min_channels`) and 4 values per channel. Over M = 2, x_hat = +-d / sqrt(d^2 + 4 eps) is a smoothed sign
    and dL/dx (~eps / d^3) is what is left after cancelling terms ~1e6 times larger; over M = 3 it can be nearly
    so. No float32 code carries 4 digits of it: measured against float64, both PyTorch and minigan are off by
    ~5e-3 (median) at M = 2 and up to ~1e-3 at M = 3, against ~5e-6 at M = 4. float64 covers M = 2 and 3.
    """
    c = data.draw(batchnorm_configs(kind, min_m=2 if dtype == "float64" else 4, min_c=_min_channels(dtype)))
    rng = _setup(c["seed"], dtype)
    ours_cls, theirs_cls = (nn.BatchNorm2d, tnn.BatchNorm2d) if kind == "2d" else (nn.BatchNorm1d, tnn.BatchNorm1d)
    channels = c["shape"][1]
    ours = ours_cls(channels, eps=c["eps"], momentum=c["momentum"], affine=c["affine"])
    theirs = theirs_cls(channels, eps=c["eps"], momentum=c["momentum"], affine=c["affine"])
    _randomize_params(ours, rng, bk)
    twin = Twin(f"BatchNorm{kind}", ours, theirs, bk, dtype).load_ours_into_theirs()
    per_channel = (1, channels) + (1,) * (len(c["shape"]) - 2)
    offset, spread = rng.uniform(-3, 3, per_channel), rng.uniform(0.3, 3, per_channel)
    _run_steps(twin, rng, c["shape"], bk, train_steps=c["steps"],
               data=lambda: offset + spread * rng.standard_normal(c["shape"]))
    assert int(ours.num_batches_tracked) == c["steps"]


ACTIVATIONS = {
    "ReLU": (nn.ReLU, tnn.ReLU),
    "Tanh": (nn.Tanh, tnn.Tanh),
    "Sigmoid": (nn.Sigmoid, tnn.Sigmoid),
    "Flatten": (nn.Flatten, tnn.Flatten),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("scale", [1.0, 30.0], ids=["scale1", "saturating"])
@pytest.mark.parametrize("shape", [(5, 7), (2, 3, 4, 5)], ids=["2d", "4d"])
@dtypes
def test_elementwise_and_flatten(bk, dtype, name, scale, shape):
    rng = _setup(0, dtype)
    ours_cls, theirs_cls = ACTIVATIONS[name]
    twin = Twin(name, ours_cls(), theirs_cls(), bk, dtype)
    _run_steps(twin, rng, shape, bk, data=lambda: scale * rng.standard_normal(shape))


@pytest.mark.parametrize("slope", [0.0, 0.01, 0.2, 1.0, 1.5])
@dtypes
def test_leaky_relu(bk, dtype, slope):
    rng = _setup(1, dtype)
    twin = Twin("LeakyReLU", nn.LeakyReLU(slope), tnn.LeakyReLU(slope), bk, dtype)
    _run_steps(twin, rng, (4, 3, 5), bk)


@dtypes
def test_dropout_in_evaluation_is_the_identity(bk, dtype):
    """Masks cannot match across libraries; in evaluation both are the identity, forward and backward."""
    rng = _setup(2, dtype)
    twin = Twin("Dropout (eval)", nn.Dropout(0.5), tnn.Dropout(0.5), bk, dtype)
    _run_steps(twin, rng, (4, 6), bk, train_steps=0)


# ---------------------------------------------------------------------------------------------------------------
# minigan.lab.torch_twin: each layer it knows, to the torch layer built by hand
# ---------------------------------------------------------------------------------------------------------------
class _TorchSkipConcat(tnn.Module):
    """cat([x, model(x)], 1), as UnetSkipConnectionBlock (not outermost); named as minigan.export's SkipConcat."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return torch.cat([x, self.model(x)], 1)


class _TorchResidual(tnn.Module):
    """x + conv_block(x), as ResnetBlock; named as minigan.export's Residual."""

    def __init__(self, conv_block):
        super().__init__()
        self.conv_block = conv_block

    def forward(self, x):
        return x + self.conv_block(x)


_TorchSkipConcat.__name__ = _TorchSkipConcat.__qualname__ = "SkipConcat"  # the repr names the class
_TorchResidual.__name__ = _TorchResidual.__qualname__ = "Residual"

TWIN_CASES = {  # a minigan layer and the torch layer it must become (hyperparameters away from the defaults)
    "Dense": (lambda: nn.Dense(5, 3, bias=False), lambda: tnn.Linear(5, 3, bias=False), (4, 5)),
    "Conv2d": (lambda: nn.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=(1, 0)),
               lambda: tnn.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=(1, 0)), (2, 2, 7, 6)),
    "ConvTranspose2d": (lambda: nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1, bias=False),
                        lambda: tnn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1, bias=False),
                        (2, 3, 4, 5)),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(4, eps=1e-3, momentum=0.3), lambda: tnn.BatchNorm1d(4, 1e-3, 0.3),
                    (6, 4)),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(3, eps=0.1, momentum=1.0, affine=False),
                    lambda: tnn.BatchNorm2d(3, 0.1, 1.0, affine=False), (2, 3, 4, 4)),
    "ReLU": (nn.ReLU, tnn.ReLU, (3, 4)),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.3), lambda: tnn.LeakyReLU(0.3), (3, 4)),
    "Tanh": (nn.Tanh, tnn.Tanh, (3, 4)),
    "Sigmoid": (nn.Sigmoid, tnn.Sigmoid, (3, 4)),
    "Dropout": (lambda: nn.Dropout(0.3), lambda: tnn.Dropout(0.3), (3, 4)),
    "Flatten": (nn.Flatten, tnn.Flatten, (2, 3, 4, 5)),
    "Reshape": (lambda: nn.Reshape(3, 2, 2), lambda: tnn.Sequential(tnn.Flatten(), tnn.Unflatten(1, (3, 2, 2))),
                (2, 3, 4)),
    "InstanceNorm2d": (lambda: nn.InstanceNorm2d(3, eps=1e-3, momentum=0.3, affine=True, track_running_stats=True),
                       lambda: tnn.InstanceNorm2d(3, 1e-3, 0.3, affine=True, track_running_stats=True), (2, 3, 4, 4)),
    "ReflectionPad2d": (lambda: nn.ReflectionPad2d((1, 2, 0, 3)), lambda: tnn.ReflectionPad2d((1, 2, 0, 3)),
                        (2, 2, 4, 5)),
    "Upsample": (lambda: nn.Upsample(scale_factor=(2, 3)), lambda: tnn.Upsample(scale_factor=(2, 3), mode="nearest"),
                 (2, 2, 3, 2)),
    # the containers torch lacks, against torch modules of the same names written here (names model.0.weight and
    # conv_block.0.weight, as the reference's UnetSkipConnectionBlock and ResnetBlock)
    "SkipConcat": (lambda: nn.SkipConcat(nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU())),
                   lambda: _TorchSkipConcat(tnn.Sequential(tnn.Conv2d(2, 3, 3, padding=1), tnn.ReLU())),
                   (2, 2, 4, 3)),
    "Residual": (lambda: nn.Residual(nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(2, 2, 3, bias=False),
                                                   nn.InstanceNorm2d(2), nn.LeakyReLU(0.2))),
                 lambda: _TorchResidual(tnn.Sequential(tnn.ReflectionPad2d(1), tnn.Conv2d(2, 2, 3, bias=False),
                                                       tnn.InstanceNorm2d(2), tnn.LeakyReLU(0.2))), (2, 2, 4, 3)),
    # nested: names 1.0.weight on both sides; no bias before the BatchNorm (its gradient would be round-off)
    "Sequential": (lambda: nn.Sequential(nn.Dense(4, 6, bias=False), nn.Sequential(nn.BatchNorm1d(6), nn.ReLU()),
                                         nn.Reshape(2, 3)),
                   lambda: tnn.Sequential(tnn.Linear(4, 6, bias=False),
                                          tnn.Sequential(tnn.BatchNorm1d(6), tnn.ReLU()),
                                          tnn.Sequential(tnn.Flatten(), tnn.Unflatten(1, (2, 3)))), (5, 4)),
}


def test_every_known_layer_has_a_case():
    # Embedding takes integer ids, which the float steps here cannot feed it: tests/test_new_layers.py twins it
    assert set(TWIN_CASES) | {"Embedding"} == set(KNOWN_LAYERS)


@pytest.mark.parametrize("name", list(TWIN_CASES))
@dtypes
def test_torch_twin_maps_each_layer_to_its_torch_layer(bk, dtype, name):
    """The twin is the torch layer built by hand (same repr: kind and every hyperparameter), in minigan's dtype,
    holding minigan's parameters and buffers under the same names, bit for bit; and it computes what the layer
    computes (training mode; Dropout in evaluation mode, where it is the identity on both sides)."""
    rng = _setup(6, dtype)
    make_ours, make_theirs, shape = TWIN_CASES[name]
    ours = make_ours()
    _randomize_params(ours, rng, bk)
    twin = torch_twin(ours)
    assert repr(twin) == repr(make_theirs())
    assert all(v.dtype == DTYPES[dtype][1] for v in [*twin.state_dict().values(), *twin.parameters()]
               if v.is_floating_point())
    assert list(twin.state_dict()) == list(ours.state_dict())
    for key, value in twin.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), bk.to_numpy(ours.state_dict()[key]), err_msg=key)
    label = f"torch_twin({name})"
    _run_steps(Twin(label, ours, twin, bk, dtype), rng, shape, bk, train_steps=0 if name == "Dropout" else 2)


def test_torch_twin_refuses_a_layer_it_does_not_know():
    """A layer outside the known ones, even a subclass of a known one (it may compute something else), is an
    error naming the layer and its place, not a guess."""

    class Doubling(nn.ReLU):
        pass

    net = nn.Sequential(nn.Dense(3, 4), nn.Sequential(nn.ReLU(), Doubling()))
    with pytest.raises(TypeError, match=r"no torch twin for Sequential\[1\]\[1\], .*Doubling.*the layers it knows: "
                                        r"Dense, Conv2d"):
        torch_twin(net)


def test_torch_twin_follows_the_network_it_is_built_from():
    """A twin is built from the network, not from a copy of its architecture: a model with another width has a
    twin with that width; ``load=False`` leaves torch's own initialisation; ``dtype`` overrides the network's."""
    backend.seed(0)
    g = dcgan_mnist_generator(nz=7)
    assert torch_twin(g)[0].in_features == 7
    fresh = torch_twin(g, load=False)
    assert not torch.equal(fresh[0].weight, torch_twin(g)[0].weight)
    assert torch_twin(g, dtype=torch.float64)[0].weight.dtype == torch.float64


# ---------------------------------------------------------------------------------------------------------------
# the canonical MNIST DCGAN (minigan.models, docs/design.md), batch 4, against torch_twin of it
# ---------------------------------------------------------------------------------------------------------------
G_ZERO_GRADS = ("0.bias", "4.bias")  # Dense and ConvTranspose2d biases feeding training-mode BatchNorms
D_ZERO_GRADS = ("2.bias",)  # the second Conv2d's bias feeds a training-mode BatchNorm2d
BATCH = 4


def _images(rng):
    return np.tanh(rng.standard_normal((BATCH, 1, 28, 28)))  # in [-1, 1], like the scaled MNIST digits


def _dcgan(model):
    """minigan's canonical G or D (minigan.models), its zero-gradient names, and its input shape."""
    if model == "G":
        return dcgan_mnist_generator(), G_ZERO_GRADS, (BATCH, 100)
    return dcgan_mnist_discriminator(), D_ZERO_GRADS, (BATCH, 1, 28, 28)


@dtypes
def test_dcgan_generator(bk, dtype):
    rng = _setup(3, dtype)
    g, zero, shape = _dcgan("G")
    twin = Twin("DCGAN G", g, torch_twin(g), bk, dtype, zero)
    twin.load_ours_into_theirs()
    _run_steps(twin, rng, shape, bk)
    assert g.forward(bk.asarray(rng.standard_normal(shape), twin.np_dtype)).shape == (BATCH, 1, 28, 28)


@dtypes
def test_dcgan_discriminator(bk, dtype):
    rng = _setup(4, dtype)
    d, zero, _ = _dcgan("D")
    twin = Twin("DCGAN D", d, torch_twin(d), bk, dtype, zero)
    twin.load_ours_into_theirs()
    _run_steps(twin, rng, None, bk, data=lambda: _images(rng))
    assert d.forward(bk.asarray(_images(rng), twin.np_dtype)).shape == (BATCH, 1)


@dtypes
@pytest.mark.parametrize("model", ["G", "D"])
def test_dcgan_loaded_from_torch(bk, dtype, model):
    """The other direction: torch's own initialisation and running statistics -> minigan.load_state_dict."""
    rng = _setup(5, dtype)
    ours, zero, shape = _dcgan(model)
    data = (lambda: _images(rng)) if model == "D" else None
    twin = Twin(f"DCGAN {model} from torch", ours, torch_twin(ours, load=False), bk, dtype, zero)
    with torch.no_grad():  # move torch's running statistics away from (0, 1) before copying them over
        twin.theirs.train()
        for _ in range(3):
            twin.theirs(torch.from_numpy(np.asarray(data() if data else rng.standard_normal(shape), twin.np_dtype)))
    twin.load_theirs_into_ours()
    for name, value in twin.theirs.state_dict().items():
        ours_value = bk.to_numpy(ours.state_dict()[name])
        np.testing.assert_array_equal(ours_value, value.numpy(), err_msg=name)  # a copy, bit for bit
    _run_steps(twin, rng, shape, bk, data=data)
