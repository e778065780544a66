"""Issue 18, the state half: a checkpoint is input, and state loading is all or nothing.

The cases are generated, not pinned: tables of corruptions built from the schemas themselves (each trainer's
HYPERPARAMETER_RULES, every state key, every array entry, every layer class minigan.nn exports) are applied to a
real checkpoint of a tiny run, and hypothesis perturbs state dicts at random. Every refused case must

* raise a clear error (CheckpointError from a file, ValueError/KeyError from the API) that NAMES the field, and
* change nothing: the trainer's models, optimizers, generators, hyperparameters, step count and history, the
  library-wide and the caller's generators are compared before and after.

Also here: Module.backward refuses a dy of another dtype (as forward refuses an x of another dtype), every layer
refuses an empty batch and a 0-d array with a LayerInputError naming it, and read_checkpoint refuses what is not a
regular file (a FIFO must not hang) and metadata of the wrong structure.
"""

from __future__ import annotations

import json
import math
import os
import stat
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minigan import backend, io, nn, optim, recipes
from minigan.errors import LayerInputError
from minigan.train import CGAN, GAN, WGAN, WGANGP
from minigan.train.trainer import Count, OneOf, Real, Trainer

NAN, INF = float("nan"), float("inf")
HYPOTHESIS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# ---------------------------------------------------------------------------------------------------------------
# helpers: snapshots, comparing trees, crafting checkpoint files
# ---------------------------------------------------------------------------------------------------------------
def tree(value):
    """A comparable copy: arrays as NumPy copies, containers recursively."""
    if isinstance(value, dict):
        return {k: tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(tree(v) for v in value)
    if isinstance(value, np.ndarray) or backend.is_cupy(value):
        return backend.to_numpy(value).copy()
    return value


def assert_same(a, b, where="state"):
    assert type(a) is type(b) or (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)), where
    if isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        both_nan = isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
        assert a == b or both_nan, f"{where}: {a!r} != {b!r}"


def snapshot(trainer, rngs=None) -> dict:
    """Everything a load could change, including the objects themselves (a crafted state must not replace G)."""
    return {
        "state": tree(trainer.state_dict()),
        "attributes": {k: getattr(trainer, k) for k in trainer.HYPERPARAMETERS},
        "objects": [id(trainer.G), id(trainer.D), id(trainer.opt_G), id(trainer.opt_D), id(trainer.rng),
                    id(trainer.history), id(trainer.opt_G.model), id(trainer.opt_D.model)]
                   + [id(p) for p in trainer.G.params.values()] + [id(p) for p in trainer.D.params.values()],
        "optimizer_attributes": [dict(vars(o)) for o in (trainer.opt_G, trainer.opt_D)],
        "iterations_done": trainer.iterations_done,
        "library_rng": backend.rng().state_dict(),
        "rngs": {k: r.state_dict() for k, r in (rngs or {}).items()},
    }


def assert_unchanged(before, trainer, rngs=None):
    after = snapshot(trainer, rngs)
    for key in ("state", "attributes", "objects", "iterations_done", "library_rng", "rngs"):
        assert_same(before[key], after[key], key)
    for b, a in zip(before["optimizer_attributes"], after["optimizer_attributes"]):
        assert set(b) == set(a)
        for k in b:
            if k != "state":
                assert b[k] is a[k] or b[k] == a[k], k


def entries(path) -> dict:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def decode(a):
    return json.loads(a.tobytes().decode("utf-8"))


def encode(obj):
    return np.frombuffer(json.dumps(obj).encode("utf-8"), dtype=np.uint8)


class Replace:
    """Returned by a ``craft`` function: the whole JSON document becomes ``value``."""

    def __init__(self, value):
        self.value = value


def craft(base: Path, out: Path, state=None, meta=None, arrays=None) -> Path:
    """A copy of checkpoint ``base`` at ``out`` with state.json / meta.json changed by the functions ``state`` /
    ``meta`` (given the decoded JSON; they change it in place, or return a :class:`Replace`) and entries replaced
    (``arrays``: name -> array, or None to drop it)."""
    e = entries(base)
    for name, fn in (("state.json", state), ("meta.json", meta)):
        if fn is not None:
            obj = decode(e[name])
            result = fn(obj)
            e[name] = encode(result.value if isinstance(result, Replace) else obj)
    for name, value in (arrays or {}).items():
        if value is None:
            e.pop(name, None)
        else:
            e[name] = value
    np.savez(out, **e)
    return out


def fresh_run(model="gan-toy"):
    return recipes.build_run(model, m=8, seed=3, progress=False)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """model -> a real checkpoint of a 2-iteration run of each toy recipe (Adam / RMSProp states not empty)."""
    folder = tmp_path_factory.mktemp("ckpt")
    paths = {}
    for model in recipes.TOY_MODELS:
        run = recipes.build_run(model, m=8, seed=0, progress=False)
        run.trainer.train(run.sample_data, 2, progress=False)
        paths[model] = io.save_checkpoint(folder / f"{model}.npz", run.trainer, model=model, rngs=run.rngs)
    return paths


def refused_unchanged(path, match, model="gan-toy"):
    """load_checkpoint(path) into a fresh run raises CheckpointError whose message holds ``match`` (a string, or a
    tuple of strings that must all appear), and the run's trainer and generators are exactly as before."""
    run = fresh_run(model)
    before = snapshot(run.trainer, run.rngs)
    with pytest.raises(io.CheckpointError) as info:
        io.load_checkpoint(path, run.trainer, rngs=run.rngs)
    for part in (match,) if isinstance(match, str) else match:
        assert part in str(info.value), str(info.value)
    assert_unchanged(before, run.trainer, run.rngs)
    return str(info.value)


# ---------------------------------------------------------------------------------------------------------------
# 1. crafted hyperparameters: cases generated from each trainer class's rules
# ---------------------------------------------------------------------------------------------------------------
COMMON_BAD = [None, "pwn", [1], {"a": 1}, True]


def bad_values(rule, current):
    """Values each rule must refuse: wrong types, out of range, NaN, inf, huge; a fixed one also refuses a change."""
    if isinstance(rule, Count):
        out = COMMON_BAD + [rule.minimum - 1, -3, 1.5, float(current), NAN, INF, -INF, 2**64, 10**30, str(current)]
        return out + ([current + 1] if rule.fixed else [])
    if isinstance(rule, Real):
        out = COMMON_BAD + [rule.minimum - 1.0, -1e308, NAN, INF, -INF, str(current), 1e400]
        return out + ([rule.minimum, 0] if rule.strict else [])
    assert isinstance(rule, OneOf)
    other = [c for c in rule.choices if c != current]
    return COMMON_BAD + ["", current.upper() + "!", 1, NAN] + (other if rule.fixed else [])


def good_value(rule, current):
    """A valid value other than the current one (None for a fixed rule: it admits only the current value)."""
    if getattr(rule, "fixed", False):
        return None
    if isinstance(rule, Count):
        return current + 2
    if isinstance(rule, Real):
        return current * 2 + 0.5
    return next(c for c in rule.choices if c != current)


def tiny_cgan():
    backend.seed(0)
    G = nn.Sequential(nn.Dense(2 + 3, 8), nn.ReLU(), nn.Dense(8, 2))
    D = nn.Sequential(nn.Dense(2 + 3, 8), nn.LeakyReLU(0.2), nn.Dense(8, 1))
    return CGAN(G, D, optim.Adam(G), optim.Adam(D), nz=2, m=8, n_classes=3)


def tiny_bn_gan():
    """A GAN whose G holds BatchNorm (running statistics, num_batches_tracked) and whose D holds a Dropout with its
    own generator (a layer's generator in the state's rngs)."""
    backend.seed(0)
    G = nn.Sequential(nn.Dense(2, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dense(8, 2))
    D = nn.Sequential(nn.Dense(2, 8), nn.LeakyReLU(0.2), nn.Dropout(0.2, rng=backend.Random(5)), nn.Dense(8, 1))
    return GAN(G, D, optim.SGD(G, 0.01, momentum=0.5), optim.Adam(D), nz=2, m=8, k=2)


def trained(trainer, iterations=2):
    rng = backend.Random(1)
    if isinstance(trainer, CGAN):
        def data(m):
            return rng.standard_normal((m, 2)), rng.integers(0, 3, (m,))
    else:
        def data(m):
            return rng.standard_normal((m, 2))
    trainer.train(data, iterations, progress=False)
    return trainer


TRAINERS = {
    "GAN": lambda: fresh_run("gan-toy").trainer,
    "WGAN": lambda: fresh_run("wgan-toy").trainer,
    "WGANGP": lambda: fresh_run("wgan-gp-toy").trainer,
    "CGAN": tiny_cgan,
    "GAN+BN+Dropout": tiny_bn_gan,
}


def test_every_trainer_class_declares_a_rule_for_every_hyperparameter():
    for cls in (Trainer, GAN, WGAN, WGANGP, CGAN):
        assert set(cls.HYPERPARAMETER_RULES) == set(cls.HYPERPARAMETERS), cls.__name__


HYPER_CASES = []
for _name, _make in TRAINERS.items():
    _t = _make()
    for _key in _t.HYPERPARAMETERS:
        _rule = _t.HYPERPARAMETER_RULES[_key]
        for _i, _bad in enumerate(bad_values(_rule, getattr(_t, _key))):
            HYPER_CASES.append(pytest.param(_name, _key, _bad, id=f"{_name}-{_key}-{_i}-{_bad!r}"[:60]))


@pytest.mark.parametrize("name, key, value", HYPER_CASES)
def test_a_bad_hyperparameter_is_refused_by_name_and_changes_nothing(name, key, value):
    source = trained(TRAINERS[name]())
    state = source.state_dict()
    state["hyperparameters"][key] = value
    target = TRAINERS[name]()
    before = snapshot(target)
    with pytest.raises(ValueError, match=f"hyperparameter {key} = "):
        target.load_state_dict(state)
    assert_unchanged(before, target)


@pytest.mark.parametrize("name", list(TRAINERS))
def test_missing_and_unknown_hyperparameters_are_refused(name):
    source = trained(TRAINERS[name]())
    for key in source.HYPERPARAMETERS:
        state = source.state_dict()
        del state["hyperparameters"][key]
        target = TRAINERS[name]()
        before = snapshot(target)
        with pytest.raises(ValueError, match=rf"lacks hyperparameters \['{key}'\]"):
            target.load_state_dict(state)
        assert_unchanged(before, target)
    for extra in ("G", "D", "opt_G", "rng", "history", "iterations_done", "__class__", "train", "noise"):
        state = source.state_dict()
        state["hyperparameters"][extra] = "pwn"
        target = TRAINERS[name]()
        before = snapshot(target)
        with pytest.raises(ValueError, match=rf"the state sets \['{extra}'\], which are not hyperparameters"):
            target.load_state_dict(state)
        assert_unchanged(before, target)


@pytest.mark.parametrize("name", list(TRAINERS))
def test_valid_hyperparameters_are_applied(name):
    """The positive control: a value within its rule is accepted and applied (and the run goes on)."""
    source = trained(TRAINERS[name]())
    for key in source.HYPERPARAMETERS:
        rule = source.HYPERPARAMETER_RULES[key]
        value = good_value(rule, getattr(source, key))
        if value is None:
            continue
        state = source.state_dict()
        state["hyperparameters"][key] = value
        target = TRAINERS[name]()
        target.load_state_dict(state)
        assert getattr(target, key) == value and target.iterations_done == source.iterations_done
    trained(target, 1)  # a loaded trainer trains


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12) | st.sampled_from(["non-saturating", "saturating", "vector", "maps"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


@HYPOTHESIS
@given(data=st.data())
def test_any_value_in_any_field_is_either_valid_or_refused_changing_nothing(data):
    """Property: whatever JSON value lands in a hyperparameter or iterations_done, load_state_dict either accepts
    it (then the trainer holds a value its rule admits) or refuses it by name and changes nothing."""
    name = data.draw(st.sampled_from(list(TRAINERS)), label="trainer")
    source = trained(TRAINERS[name](), 1)
    state = source.state_dict()
    field = data.draw(st.sampled_from(list(source.HYPERPARAMETERS) + ["iterations_done"]), label="field")
    value = data.draw(JSON_VALUES, label="value")
    if field == "iterations_done":
        state["iterations_done"] = value
    else:
        state["hyperparameters"][field] = value
    target = TRAINERS[name]()
    before = snapshot(target)
    try:
        target.load_state_dict(state)
    except ValueError as exc:
        assert field in str(exc)
        assert_unchanged(before, target)
        return
    if field == "iterations_done":
        assert isinstance(target.iterations_done, int) and target.iterations_done >= 0
    else:
        target.HYPERPARAMETER_RULES[field].check(getattr(target, field), getattr(target, field))


# ---------------------------------------------------------------------------------------------------------------
# 1b. the same through a real checkpoint file of `gan-toy`: every JSON field, the issue's cases among them
# ---------------------------------------------------------------------------------------------------------------
def _set(path_in_json, value):
    def fn(obj):
        target = obj
        for k in path_in_json[:-1]:
            target = target[k]
        target[path_in_json[-1]] = value
    return fn


def _drop(path_in_json):
    def fn(obj):
        target = obj
        for k in path_in_json[:-1]:
            target = target[k]
        del target[path_in_json[-1]]
    return fn


STATE_CASES = [
    # the issue's reproductions
    ("hyperparameters G = 'pwn'", _set(["trainer", "hyperparameters", "G"], "pwn"), "['G']"),
    ("k = 0", _set(["trainer", "hyperparameters", "k"], 0), "hyperparameter k"),
    ("m = -3", _set(["trainer", "hyperparameters", "m"], -3), "hyperparameter m"),
    ("iterations_done = -100", _set(["trainer", "iterations_done"], -100), "iterations_done"),
    # every other trainer field
    *[(f"iterations_done = {v!r}", _set(["trainer", "iterations_done"], v), "iterations_done")
      for v in (-1, 1.5, "3", None, True, 2**63, NAN, INF, [3])],
    *[(f"missing {k}", _drop(["trainer", k]), k)
      for k in ("algorithm", "hyperparameters", "iterations_done", "history", "rngs", "optimizers")],
    ("unknown trainer key", _set(["trainer", "pwn"], 1), "pwn"),
    ("algorithm", _set(["trainer", "algorithm"], "WGAN"), "from a WGAN trainer"),
    ("algorithm not a string", _set(["trainer", "algorithm"], [1]), "the state is from a"),
    ("optimizers", _set(["trainer", "optimizers"], {"G": "SGD", "D": "Adam"}), "optimizers"),
    ("hyperparameters not a dict", _set(["trainer", "hyperparameters"], [1, 2]), "hyperparameters"),
    # history (a table in the file)
    ("history not a table", _set(["trainer", "history"], [1, 2]), "history"),
    ("history columns not names", _set(["trainer", "history", "columns"], [1, 2, 3, 4, 5, 6, 7]), "history"),
    ("history row too short", lambda s: s["trainer"]["history"]["rows"][0].pop(), "row of the history"),
    ("history duplicate column", lambda s: s["trainer"]["history"]["columns"].__setitem__(1, "iteration"),
     "history"),
    *[(f"history value {v!r}", lambda s, v=v: s["trainer"]["history"]["rows"][0].__setitem__(1, v), "history[0]")
      for v in ("x", NAN, INF, -INF, True, [1], {"a": 1})],
    # generator states: the trainer's, the library's, the caller's
    *[(f"{where} {what}", fn, where_name)
      for where, where_name in ((["trainer", "rngs", "noise"], "noise"), (["library_rng"], "library_rng"),
                                (["rngs", "data"], "data"))
      for what, fn in (
          ("not a dict", _set(where, [1, 2])),
          ("backend torch", _set(where + ["backend"], "torch")),
          ("unknown key", _set(where + ["pwn"], 1)),
          ("missing bit_generator", _drop(where + ["bit_generator"])),
          ("seed string", _set(where + ["seed"], "x")),
          ("seed negative", _set(where + ["seed"], -1)),
          ("MT19937", _set(where + ["bit_generator", "bit_generator"], "MT19937")),
          ("state negative", _set(where + ["bit_generator", "state", "state"], -1)),
          ("state float", _set(where + ["bit_generator", "state", "state"], 1.5)),
          ("state 2**128", _set(where + ["bit_generator", "state", "inc"], 2**128)),
          ("has_uint32 = 2", _set(where + ["bit_generator", "has_uint32"], 2)),
          ("uinteger negative", _set(where + ["bit_generator", "uinteger"], -5)),
      )],
    ("missing noise generator", _drop(["trainer", "rngs", "noise"]), "rngs"),
    ("unknown generator", _set(["trainer", "rngs", "D/9."], {"backend": "cupy", "seed": 1}), "rngs"),
    # state.json's own structure
    ("state.json a list", lambda s: Replace([s]), "state.json"),
    ("state.json missing extra", _drop(["extra"]), "state.json"),
    ("state.json unknown part", _set(["pwn"], {}), "state.json"),
    ("trainer not a dict", _set(["trainer"], [1]), "trainer"),
    ("trainer holds G in JSON", _set(["trainer", "G"], "pwn"), "'G'"),
]


@pytest.mark.parametrize("case, change, match", STATE_CASES, ids=[c[0] for c in STATE_CASES])
def test_a_crafted_checkpoint_field_is_refused_by_name_and_changes_nothing(checkpoints, tmp_path, case, change,
                                                                            match):
    path = craft(checkpoints["gan-toy"], tmp_path / "crafted.npz", state=change)
    refused_unchanged(path, match)


def test_the_issues_cases_no_longer_crash_or_replace_the_generator(checkpoints, tmp_path):
    """Before: G replaced by "pwn", UnboundLocalError at k = 0, a traceback at m = -3, iterations_done = -100
    accepted. After: each a CheckpointError, the run untouched and still able to train."""
    for i, (change, match) in enumerate([
        (_set(["trainer", "hyperparameters", "G"], "pwn"), "G"),
        (_set(["trainer", "hyperparameters", "k"], 0), "k"),
        (_set(["trainer", "hyperparameters", "m"], -3), "m"),
        (_set(["trainer", "iterations_done"], -100), "iterations_done"),
    ]):
        path = craft(checkpoints["gan-toy"], tmp_path / f"c{i}.npz", state=change)
        run = fresh_run()
        G = run.trainer.G
        with pytest.raises(io.CheckpointError, match=match):
            io.load_checkpoint(path, run.trainer, rngs=run.rngs)
        assert run.trainer.G is G and run.trainer.iterations_done == 0
        run.trainer.train(run.sample_data, 1, progress=False)


# ---------------------------------------------------------------------------------------------------------------
# 1c. the array entries of a checkpoint: weights, buffers, optimizer states
# ---------------------------------------------------------------------------------------------------------------
def array_cases(base: Path):
    """(id, replacements, expected text) for every corruption of every kind of array entry in ``base``."""
    e = entries(base)
    weight, bias = "G/0.weight", "D/6.bias"
    w = e[weight]
    cases = []
    for key in (weight, bias):
        v = e[key]
        group, name = key.split("/")
        named = (f"{group} does not fit", repr(name))  # the network, and the entry inside it
        cases += [
            (f"{key} NaN", {key: np.where(np.arange(v.size).reshape(v.shape) == 0, np.nan, v).astype(v.dtype)}, named),
            (f"{key} inf", {key: np.full_like(v, np.inf)}, named),
            (f"{key} -inf", {key: np.full_like(v, -np.inf)}, named),
            (f"{key} overflows float32", {key: np.full(v.shape, 1e300)}, named),
            (f"{key} complex", {key: v.astype(np.complex64)}, named),
            (f"{key} strings", {key: np.full(v.shape, "x")}, named),
            (f"{key} bytes", {key: np.full(v.shape, b"x")}, named),
            (f"{key} int", {key: np.ones(v.shape, np.int64)}, named),
            (f"{key} bool", {key: np.ones(v.shape, bool)}, named),
            (f"{key} wrong shape", {key: np.zeros(v.shape + (1,), v.dtype)}, named),
            (f"{key} 0-d", {key: np.asarray(1.0, v.dtype)}, named),
            (f"{key} missing", {key: None}, named),
        ]
    cases += [
        ("unknown weight", {"G/99.weight": w}, ("G does not fit", "unexpected keys ['99.weight']")),
        ("unknown group", {"pwn/x": w}, "pwn/x"),
        ("entry without a name", {"G/": w}, "'G/'"),
    ]
    for opt in ("opt_G", "opt_D"):
        slot = f"{opt}/exp_avg.0.weight"
        sq = f"{opt}/exp_avg_sq.0.weight"
        s = e[slot]
        cases += [
            (f"{opt} t = -1", {f"{opt}/t": np.asarray(-1)}, "t"),
            (f"{opt} t float", {f"{opt}/t": np.asarray(2.0)}, "t"),
            (f"{opt} t huge", {f"{opt}/t": np.asarray(2**63 + 5, np.uint64)}, "t"),
            (f"{opt} t shape", {f"{opt}/t": np.asarray([1, 2])}, "t"),
            (f"{opt} t string", {f"{opt}/t": np.asarray("2")}, "t"),
            (f"{opt} t missing", {f"{opt}/t": None}, "'t'"),
            (f"{opt} lr NaN", {f"{opt}/hp.lr": np.asarray(np.nan)}, "hp.lr"),
            (f"{opt} lr negative", {f"{opt}/hp.lr": np.asarray(-1e-3)}, "hp.lr"),
            (f"{opt} lr inf", {f"{opt}/hp.lr": np.asarray(np.inf)}, "hp.lr"),
            (f"{opt} lr missing", {f"{opt}/hp.lr": None}, "hp.lr"),
            (f"{opt} initial_lr 0", {f"{opt}/initial_lr": np.asarray(0.0)}, "initial_lr"),
            (f"{opt} betas 1", {f"{opt}/hp.betas": np.asarray([1.0, 0.5])}, "hp.betas"),
            (f"{opt} betas NaN", {f"{opt}/hp.betas": np.asarray([0.5, np.nan])}, "hp.betas"),
            (f"{opt} betas shape", {f"{opt}/hp.betas": np.asarray([0.5, 0.9, 0.1])}, "hp.betas"),
            (f"{opt} eps negative", {f"{opt}/hp.eps": np.asarray(-1.0)}, "hp.eps"),
            (f"{opt} eps complex", {f"{opt}/hp.eps": np.asarray(1e-8 + 1j)}, "hp.eps"),
            (f"{opt} setattr attack hp.model", {f"{opt}/hp.model": np.asarray(3.0)}, "hp.model"),
            (f"{opt} setattr attack hp.t", {f"{opt}/hp.t": np.asarray(3.0)}, "hp.t"),
            (f"{opt} unknown slot kind", {f"{opt}/pwn.0.weight": s}, "pwn.0.weight"),
            (f"{opt} key without a kind", {f"{opt}/pwn": s}, "pwn"),
            (f"{opt} slot of no parameter", {f"{opt}/exp_avg.9.weight": s}, "9.weight"),
            (f"{opt} slot NaN", {slot: np.full_like(s, np.nan)}, "exp_avg.0.weight"),
            (f"{opt} slot inf", {slot: np.full_like(s, np.inf)}, "exp_avg.0.weight"),
            (f"{opt} slot wrong shape", {slot: s.T.copy()}, "exp_avg.0.weight"),
            (f"{opt} slot int", {slot: np.zeros(s.shape, np.int32)}, "exp_avg.0.weight"),
            (f"{opt} slot overflow", {slot: np.full(s.shape, 1e300)}, "exp_avg.0.weight"),
            (f"{opt} average of g^2 negative", {sq: -np.ones_like(s)}, "exp_avg_sq.0.weight"),
        ]
    cases += [
        ("format string", {"format": np.asarray("1")}, "format"),
        ("format 0", {"format": np.asarray(0)}, "format"),
        ("format -1", {"format": np.asarray(-1)}, "format"),
        ("format float", {"format": np.asarray(1.0)}, "format"),
        ("format shape", {"format": np.asarray([1, 1])}, "format"),
        ("format missing", {"format": None}, "format"),
        ("meta.json floats", {"meta.json": np.zeros(4)}, "meta.json"),
        ("state.json not UTF-8", {"state.json": np.frombuffer(b"\xff\xfe{", np.uint8)}, "metadata"),
        ("state.json not JSON", {"state.json": np.frombuffer(b"{'a': 1", np.uint8)}, "metadata"),
        ("state.json nested 100000 deep", {"state.json": np.frombuffer(b"[" * 100000 + b"]" * 100000, np.uint8)},
         "metadata"),
        ("meta.json missing", {"meta.json": None}, "metadata"),
    ]
    return cases


@pytest.fixture(scope="module")
def gan_toy_array_cases(checkpoints):
    return array_cases(checkpoints["gan-toy"])


def test_every_array_corruption_is_refused_by_name_and_changes_nothing(checkpoints, gan_toy_array_cases, tmp_path):
    tried = []
    for i, (case, replace, match) in enumerate(gan_toy_array_cases):
        path = craft(checkpoints["gan-toy"], tmp_path / f"a{i}.npz", arrays=replace)
        try:
            refused_unchanged(path, match)
        except AssertionError as exc:
            raise AssertionError(f"case {case!r}: {exc}") from exc
        tried.append(case)
    assert len(tried) > 80


@pytest.mark.parametrize("model", ["wgan-toy", "wgan-gp-toy"])
def test_rmsprop_and_the_other_algorithms_fields(checkpoints, tmp_path, model):
    """The WGAN recipes' own fields (n_critic, c, lam, RMSProp's alpha and square_avg)."""
    base = checkpoints[model]
    e = entries(base)
    hp = decode(e["state.json"])["trainer"]["hyperparameters"]
    cases = [(_set(["trainer", "hyperparameters", "n_critic"], v), "n_critic") for v in (0, -1, 1.5, "5", None)]
    extra = "c" if "c" in hp else "lam"
    cases += [(_set(["trainer", "hyperparameters", extra], v), extra) for v in (-1.0, NAN, INF, "x", None)]
    if extra == "c":
        cases.append((_set(["trainer", "hyperparameters", "c"], 0.0), "c"))
    for i, (change, match) in enumerate(cases):
        refused_unchanged(craft(base, tmp_path / f"s{i}.npz", state=change), match, model)
    if "opt_D/hp.alpha" in e:
        sq = e["opt_D/square_avg.0.weight"]
        for i, (replace, match) in enumerate([
            ({"opt_D/hp.alpha": np.asarray(1.0)}, "hp.alpha"),
            ({"opt_D/hp.alpha": np.asarray(np.nan)}, "hp.alpha"),
            ({"opt_D/square_avg.0.weight": -np.ones_like(sq)}, "square_avg.0.weight"),
            ({"opt_D/exp_avg.0.weight": sq}, "exp_avg.0.weight"),  # Adam's slot in an RMSProp state
        ]):
            refused_unchanged(craft(base, tmp_path / f"r{i}.npz", arrays=replace), match, model)


def test_an_untouched_checkpoint_still_loads_and_resumes(checkpoints):
    for model, path in checkpoints.items():
        run = fresh_run(model)
        io.load_checkpoint(path, run.trainer, rngs=run.rngs)
        assert run.trainer.iterations_done == 2
        run.trainer.train(run.sample_data, 1, progress=False)


# ---------------------------------------------------------------------------------------------------------------
# 2. Module.load_state_dict: all or nothing, every entry checked
# ---------------------------------------------------------------------------------------------------------------
def every_layer_model():
    return nn.Sequential(
        nn.Dense(6, 2 * 3 * 3), nn.BatchNorm1d(18), nn.LeakyReLU(0.2), nn.Reshape(2, 3, 3),
        nn.ConvTranspose2d(2, 3, 4, stride=2, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
        nn.Conv2d(3, 2, 3, padding=1), nn.Tanh(),
    )


def _module_corruptions(value, key):
    """name -> corrupted value of the entry ``value`` (a float or an integer array)."""
    out = {
        "strings": np.full(value.shape, "x"), "objects-list": [["a", 1]] * 2, "complex": value.astype(np.complex128),
        "bool": np.ones(value.shape, bool), "wrong shape": np.zeros(value.shape + (2,), value.dtype),
        "ragged": [[1.0], [1.0, 2.0]],
    }
    if value.dtype.kind == "f":
        out.update({"NaN": np.full(value.shape, np.nan), "inf": np.full(value.shape, np.inf),
                    "-inf": np.full(value.shape, -np.inf), "overflow": np.full(value.shape, 1e300),
                    "int": np.ones(value.shape, np.int64)})
        if key.endswith("running_var"):
            out["negative variance"] = -np.ones(value.shape, value.dtype)
    else:
        out.update({"float": np.asarray(1.0), "negative": np.asarray(-1), "uint64 too large": np.asarray(2**64 - 1,
                                                                                                         np.uint64)})
    return out


MODULE_CASES = [(k, c) for k, v in every_layer_model().state_dict().items() for c in _module_corruptions(v, k)]


@pytest.mark.parametrize("key, corruption", MODULE_CASES, ids=[f"{k}-{c}" for k, c in MODULE_CASES])
def test_a_refused_entry_names_its_key_and_changes_nothing(key, corruption):
    """The issue's case generalised: the bad entry comes LAST, after every other entry would have been copied."""
    model = every_layer_model()
    source = every_layer_model()
    source.forward(np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32))
    state = {k: v for k, v in source.state_dict().items() if k != key}
    state[key] = _module_corruptions(source.state_dict()[key], key)[corruption]
    before = tree(model.state_dict())
    held = {k: id(v) for k, v in model.params.items()}
    with pytest.raises(ValueError) as info:
        model.load_state_dict(state)
    assert repr(key) in str(info.value)
    assert_same(before, tree(model.state_dict()))
    assert held == {k: id(v) for k, v in model.params.items()}


@HYPOTHESIS
@given(data=st.data())
def test_random_perturbations_of_a_state_dict_are_all_or_nothing(data):
    """Property: perturb a few random entries of a valid state dict at random places with random values; the load
    either succeeds (then the module holds exactly the values, cast) or fails naming a perturbed key and changes
    nothing."""
    model = every_layer_model()
    state = {k: backend.to_numpy(v).copy() for k, v in every_layer_model().state_dict().items()}
    keys = data.draw(st.lists(st.sampled_from(sorted(state)), min_size=1, max_size=3, unique=True), label="keys")
    for key in keys:
        v = state[key]
        if v.dtype.kind == "f":
            bad = data.draw(st.sampled_from([np.nan, np.inf, -np.inf, 1e300, -1.0, 0.5, 3.0]), label=f"{key} value")
            flat = v.reshape(-1).astype(np.float64)
            flat[data.draw(st.integers(0, flat.size - 1), label="where")] = bad
            state[key] = flat.reshape(v.shape)
        else:
            state[key] = np.asarray(data.draw(st.integers(-5, 2**63 - 1), label=f"{key} value"))
    before = tree(model.state_dict())

    def acceptable(k, v):
        v = np.asarray(v)
        if v.dtype.kind == "f":
            with np.errstate(over="ignore"):
                ok = bool(np.isfinite(v.astype(np.float32)).all())
            return ok and not (k.endswith("running_var") and (v < 0).any())
        return bool((v >= 0).all())

    try:
        model.load_state_dict(state)
    except ValueError as exc:
        named = [k for k in keys if repr(k) in str(exc)]
        assert named and not acceptable(named[0], state[named[0]])
        assert_same(before, tree(model.state_dict()))
        return
    assert all(acceptable(k, state[k]) for k in keys)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, np.asarray(state[k]).astype(v.dtype))


def test_module_load_state_dict_refuses_a_non_mapping():
    with pytest.raises(TypeError, match="Dense.*load_state_dict: expected a dict"):
        nn.Dense(2, 3).load_state_dict([("weight", np.zeros((3, 2)))])


def test_nan_weights_cannot_reach_sampling(checkpoints, tmp_path):
    """Before: a checkpoint with NaN weights sampled all-NaN arrays with exit 0. Now the weights are refused where
    they are loaded, naming the entry."""
    w = entries(checkpoints["gan-toy"])["G/6.weight"]
    path = craft(checkpoints["gan-toy"], tmp_path / "nan.npz", arrays={"G/6.weight": np.full_like(w, np.nan)})
    ckpt = io.read_checkpoint(path)  # reading the contents is fine: nothing is loaded into a model yet
    G = recipes.build_generator("gan-toy", recipes.default_options("gan-toy"))
    before = tree(G.state_dict())
    with pytest.raises(ValueError, match="'6.weight' holds NaN or inf"):
        G.load_state_dict(ckpt["trainer"]["G"])
    assert_same(before, tree(G.state_dict()))
    refused_unchanged(path, "6.weight")


# ---------------------------------------------------------------------------------------------------------------
# 3. Optimizer.load_state_dict: checked before anything changes
# ---------------------------------------------------------------------------------------------------------------
def _opt_model():
    backend.seed(0)
    return nn.Sequential(nn.Dense(3, 4), nn.ReLU(), nn.Dense(4, 2))


OPTIMIZERS = {
    "SGD": lambda m: optim.SGD(m, 0.1, momentum=0.9),
    "Adam": lambda m: optim.Adam(m, 1e-3, (0.5, 0.999)),
    "RMSProp": lambda m: optim.RMSProp(m, 1e-3),
}


def _stepped(make):
    model = _opt_model()
    opt = make(model)
    for g in model.grads.values():
        g[...] = 0.5
    opt.step()
    opt.step()
    return model, opt


def _optimizer_cases(opt):
    state = opt.state_dict()
    slot = next(k for k in state if "." in k and not k.startswith("hp."))
    s = state[slot]
    cases = {
        "t -1": ("t", np.asarray(-1)), "t 1.0": ("t", np.asarray(1.0)), "t bool": ("t", np.asarray(True)),
        "t str": ("t", np.asarray("1")), "t shape": ("t", np.asarray([1])), "t 2**64": ("t", 2**64),
        "initial_lr nan": ("initial_lr", np.asarray(np.nan)), "initial_lr -1": ("initial_lr", np.asarray(-1.0)),
        "slot nan": (slot, np.full_like(s, np.nan)), "slot inf": (slot, np.full_like(s, np.inf)),
        "slot complex": (slot, s.astype(np.complex128)), "slot shape": (slot, np.zeros(s.shape + (1,))),
        "slot str": (slot, np.full(s.shape, "x")), "unknown kind": ("pwn." + slot.split(".", 1)[1], s),
        "unknown hp": ("hp.model", np.asarray(1.0)), "no dot": ("pwn", s),
    }
    for k in state:
        if k.startswith("hp."):
            cases[f"{k} nan"] = (k, np.asarray(np.nan) if state[k].ndim == 0 else np.full(state[k].shape, np.nan))
            cases[f"{k} -1"] = (k, np.asarray(-1.0) if state[k].ndim == 0 else np.full(state[k].shape, -1.0))
            cases[f"{k} str"] = (k, np.asarray("x"))
            cases[f"{k} missing"] = (k, None)
    for k in opt.hyperparameters():
        if k in ("momentum", "alpha", "betas"):
            cases[f"hp.{k} 1"] = (f"hp.{k}", np.ones(np.shape(state[f"hp.{k}"])))
    if isinstance(opt, (optim.Adam, optim.RMSProp)):
        sq = next(k for k in state if k.startswith(("exp_avg_sq.", "square_avg.")))
        cases["negative average of g^2"] = (sq, -np.ones_like(state[sq]))
    return cases


OPT_CASES = [(n, c) for n, make in OPTIMIZERS.items() for c in _optimizer_cases(_stepped(make)[1])]


@pytest.mark.parametrize("name, case", OPT_CASES, ids=[f"{n}-{c}" for n, c in OPT_CASES])
def test_a_refused_optimizer_state_names_the_key_and_changes_nothing(name, case):
    _, source = _stepped(OPTIMIZERS[name])
    key, value = _optimizer_cases(source)[case]
    state = source.state_dict()
    if value is None:
        del state[key]
    else:
        state[key] = value
    model = _opt_model()
    opt = OPTIMIZERS[name](model)
    for g in model.grads.values():
        g[...] = 0.25
    opt.step()
    before = (opt.t, opt.initial_lr, dict(opt.hyperparameters()), tree(opt.state_dict()), tree(opt.state))
    with pytest.raises((KeyError, ValueError)) as info:
        opt.load_state_dict(state)
    assert key.split(".", 1)[-1] in str(info.value) or key in str(info.value)
    after = (opt.t, opt.initial_lr, dict(opt.hyperparameters()), tree(opt.state_dict()), tree(opt.state))
    assert_same(before, after)
    assert opt.model is model and set(vars(opt)) <= {"model", "lr", "initial_lr", "t", "state", "momentum",
                                                     "betas", "eps", "alpha"}


def test_a_schedule_that_ended_at_lr_0_still_loads():
    """LinearDecay leaves lr = 0 after the last iteration, and that is what the final checkpoint holds."""
    _, opt = _stepped(OPTIMIZERS["Adam"])
    opt.lr = 0.0
    other = OPTIMIZERS["Adam"](_opt_model())
    other.load_state_dict(opt.state_dict())
    assert other.lr == 0.0 and other.t == 2


# ---------------------------------------------------------------------------------------------------------------
# 4 and 5. every layer: empty batches, 0-d arrays, a dy of another dtype
# ---------------------------------------------------------------------------------------------------------------
LAYERS = {
    "Dense": (lambda: nn.Dense(4, 3), (2, 4)),
    "Conv2d": (lambda: nn.Conv2d(3, 2, 3, padding=1), (2, 3, 5, 5)),
    "ConvTranspose2d": (lambda: nn.ConvTranspose2d(3, 2, 4, stride=2, padding=1), (2, 3, 3, 3)),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(3), (4, 3)),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(3), (2, 3, 2, 2)),
    "ReLU": (nn.ReLU, (2, 5)),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.2), (2, 5)),
    "Tanh": (nn.Tanh, (2, 5)),
    "Sigmoid": (nn.Sigmoid, (2, 5)),
    "Dropout": (lambda: nn.Dropout(0.3), (2, 5)),
    "Flatten": (nn.Flatten, (2, 3, 2)),
    "Reshape": (lambda: nn.Reshape(3, 2), (2, 6)),
    "Sequential": (lambda: nn.Sequential(nn.Dense(4, 3), nn.ReLU()), (2, 4)),
    "InstanceNorm2d": (lambda: nn.InstanceNorm2d(3, affine=True, track_running_stats=True), (2, 3, 2, 2)),
    "ReflectionPad2d": (lambda: nn.ReflectionPad2d(1), (2, 3, 3, 3)),
    "Upsample": (lambda: nn.Upsample(scale_factor=2), (2, 3, 2, 2)),
    "SkipConcat": (lambda: nn.SkipConcat(nn.Sequential(nn.Conv2d(3, 2, 3, padding=1), nn.ReLU())), (2, 3, 3, 3)),
    "Residual": (lambda: nn.Residual(nn.Sequential(nn.Dense(4, 4), nn.ReLU())), (2, 4)),
    "Embedding": (lambda: nn.Embedding(5, 3), (2, 4)),  # its ids are integers: see DY_CASES
    "ConditioningAugmentation": (lambda: nn.ConditioningAugmentation(4, 3, rng=0), (2, 4)),
}
NOT_LAYERS = ("Module", "ModuleDict")  # the base class, and a holder of named networks with no forward of its own


def test_the_table_holds_every_layer_minigan_nn_exports():
    exported = {n for n in nn.__all__ if isinstance(getattr(nn, n), type) and issubclass(getattr(nn, n), nn.Module)
                and n not in NOT_LAYERS}
    assert exported == set(LAYERS)


def test_a_module_dict_has_no_forward_or_backward_of_its_own():
    holder = nn.ModuleDict(G_A=nn.Dense(2, 2), G_B=nn.Dense(2, 2))
    with pytest.raises(TypeError, match="call one of its members"):
        holder(np.zeros((1, 2), np.float32))
    with pytest.raises(TypeError, match="call one of its members"):
        holder.backward(np.zeros((1, 2), np.float32))
    with pytest.raises(ValueError, match="at least one member"):
        nn.ModuleDict()
    with pytest.raises(TypeError, match="not a minigan module"):
        nn.ModuleDict(G=lambda x: x)
    assert list(holder.params) == ["G_A.weight", "G_A.bias", "G_B.weight", "G_B.bias"]


def _bad_inputs(shape):
    return {
        "empty batch": (np.zeros((0,) + shape[1:], np.float32), "empty batch"),
        "0-d": (np.asarray(1.0, np.float32), "0-d array"),
        "python float in a 0-d float64": (np.asarray(1.0), "0-d array"),
        "no values per sample": (np.zeros(shape[:-1] + (0,), np.float32), "shape"),
    }


INPUT_CASES = [(n, c) for n, (_, shape) in LAYERS.items() for c in _bad_inputs(shape)]


@pytest.mark.parametrize("name, case", INPUT_CASES, ids=[f"{n}-{c}" for n, c in INPUT_CASES])
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_every_layer_refuses_empty_and_0d_inputs_by_name(name, case, train):
    make, shape = LAYERS[name]
    layer = make()
    x, text = _bad_inputs(shape)[case]
    before = tree(layer.state_dict())
    with pytest.raises(LayerInputError) as info:
        layer.forward(x, train=train)
    message = str(info.value)
    assert name in message.split(" expected")[0] and text in message, message
    assert_same(before, tree(layer.state_dict()))  # running statistics untouched


DY_CASES = [(n, layer_dtype, dy_dtype) for n in LAYERS if n != "Embedding"  # float x; its dy: test_new_layers.py
            for layer_dtype, dy_dtype in ((np.float32, np.float64), (np.float64, np.float32), (np.float32, np.int64),
                                          (np.float32, np.float16), (np.float32, np.complex64))]


@pytest.mark.parametrize("name, layer_dtype, dy_dtype", DY_CASES,
                         ids=[f"{n}-{np.dtype(a).name}-dy-{np.dtype(b).name}" for n, a, b in DY_CASES])
def test_every_layer_refuses_a_dy_of_another_dtype_by_name(name, layer_dtype, dy_dtype):
    """Forward refuses an x whose dtype is not the layer's; backward refuses a dy whose dtype is not the forward
    output's (before: a float64 dy on a float32 layer silently returned float64 and accumulated into float32)."""
    make, shape = LAYERS[name]
    layer = make().to(dtype=layer_dtype)
    x = np.random.default_rng(0).standard_normal(shape).astype(layer_dtype)
    y = layer.forward(x)
    assert y.dtype == layer_dtype
    grads = tree(layer.grads)
    with pytest.raises(LayerInputError) as info:
        layer.backward(np.ones(y.shape, dy_dtype))
    message = str(info.value)
    assert name in message and f"dy of dtype {np.dtype(dy_dtype)}" in message and np.dtype(layer_dtype).name in message
    assert_same(grads, tree(layer.grads))  # nothing accumulated
    dx = layer.backward(np.ones(y.shape, layer_dtype))  # the right dtype still works, and dx keeps it
    assert dx.dtype == layer_dtype and dx.shape == x.shape


# ---------------------------------------------------------------------------------------------------------------
# 6. read_checkpoint: only regular files, metadata of the right structure, never a pickle
# ---------------------------------------------------------------------------------------------------------------
def _in_thread(fn, timeout=20.0):
    """fn() in a daemon thread: (finished, result or exception). A hang fails the test instead of the run."""
    out = {}

    def target():
        try:
            out["result"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            out["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    return not t.is_alive(), out


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
@pytest.mark.parametrize("reader", ["read_checkpoint", "load_checkpoint"])
def test_a_fifo_named_like_a_checkpoint_is_refused_without_hanging(tmp_path, reader):
    fifo = tmp_path / "x.npz"
    os.mkfifo(fifo)
    run = fresh_run()
    before = snapshot(run.trainer, run.rngs)
    call = (lambda: io.read_checkpoint(fifo)) if reader == "read_checkpoint" else \
        (lambda: io.load_checkpoint(fifo, run.trainer, rngs=run.rngs))
    finished, out = _in_thread(call)
    if not finished:  # unblock the reader so the thread ends, then fail
        with open(fifo, "wb"):
            pass
        pytest.fail(f"{reader} hung on a FIFO")
    assert isinstance(out.get("error"), io.CheckpointError), out
    assert "FIFO" in str(out["error"]) and str(fifo) in str(out["error"])
    assert_unchanged(before, run.trainer, run.rngs)


@pytest.mark.parametrize("kind", ["folder", "device", "symlink to a folder"])
def test_other_non_regular_files_are_refused(tmp_path, kind):
    if kind == "folder":
        path = tmp_path / "x.npz"
        path.mkdir()
    elif kind == "device":
        path = Path(os.devnull)
        if not stat.S_ISCHR(os.stat(path).st_mode):
            pytest.skip("no character device")
    else:
        (tmp_path / "d").mkdir()
        path = tmp_path / "x.npz"
        path.symlink_to(tmp_path / "d")
    with pytest.raises(io.CheckpointError, match="not a minigan checkpoint file|a folder"):
        io.read_checkpoint(path)


def test_a_symlink_to_a_checkpoint_and_a_missing_file(checkpoints, tmp_path):
    link = tmp_path / "link.npz"
    link.symlink_to(checkpoints["gan-toy"])
    assert io.read_checkpoint(link)["meta"]["model"] == "gan-toy"
    with pytest.raises(FileNotFoundError):
        io.read_checkpoint(tmp_path / "nothing.npz")


@pytest.mark.parametrize("meta", [[1, 2], "meta", 3, None, 1.5, True], ids=repr)
def test_metadata_that_is_not_a_dict_is_refused(checkpoints, tmp_path, meta):
    path = craft(checkpoints["gan-toy"], tmp_path / "m.npz", meta=lambda _: Replace(meta))
    with pytest.raises(io.CheckpointError, match="meta.json must hold a JSON object"):
        io.read_checkpoint(path)
    refused_unchanged(path, "meta.json")


class _Touch:
    """Unpickling this creates a marker file: proof that a pickle ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_no_pickle_is_ever_executed(checkpoints, tmp_path):
    marker = tmp_path / "pickle-ran"
    payload = np.empty(1, dtype=object)
    payload[0] = _Touch(marker)
    for key in ("G/0.weight", "meta.json", "state.json", "format", "extra/x"):
        e = entries(checkpoints["gan-toy"])
        e[key] = payload
        path = tmp_path / "p.npz"
        np.savez(path, **e)  # object arrays are pickled by np.savez
        refused_unchanged(path, "allow_pickle=False")
        assert not marker.exists()


def test_json_carries_nan_and_inf_so_the_checks_must_refuse_them():
    """A sanity check of the tables above: Python's json reads NaN and Infinity, so a crafted file can hold them
    and only the schema checks stand in their way."""
    assert math.isnan(json.loads(json.dumps(NAN))) and json.loads(json.dumps(INF)) == INF


# ---------------------------------------------------------------------------------------------------------------
# the data stream's position (a checkpoint's extra/data): checked whole before anything changes
# ---------------------------------------------------------------------------------------------------------------
def _batches():
    from minigan.data import Batches

    stream = Batches(np.zeros((10, 1, 2, 2), np.uint8), None, batch_size=3, shuffle=True, drop_last=True, seed=5)
    stream.sample(3)
    return stream


_GOOD_DATA_STATE = {"seed": 5, "epoch": 0, "position": 3, "n": 10}
_DATA_CORRUPTIONS = [("not a dict", [1, 2]), ("missing key", {"seed": 5, "epoch": 0, "n": 10}),
                     ("extra key", {**_GOOD_DATA_STATE, "x": 1})]
for _key in _GOOD_DATA_STATE:
    for _label, _bad in [("negative", -7), ("string", "pwn"), ("float", 1.5), ("bool", True), ("none", None),
                         ("list", [1])]:
        _DATA_CORRUPTIONS.append((f"{_key} {_label}", {**_GOOD_DATA_STATE, _key: _bad}))
_DATA_CORRUPTIONS += [("position beyond n", {**_GOOD_DATA_STATE, "position": 11}),
                      ("another dataset size", {**_GOOD_DATA_STATE, "n": 11, "position": 0})]


@pytest.mark.parametrize("label, state", _DATA_CORRUPTIONS, ids=[c[0] for c in _DATA_CORRUPTIONS])
def test_a_malformed_data_state_is_refused_and_changes_nothing(label, state):
    stream = _batches()
    before = stream.state_dict()
    with pytest.raises(ValueError, match="Batches"):
        stream.load_state_dict(state)
    assert stream.state_dict() == before
    stream.load_state_dict(_GOOD_DATA_STATE)  # the well-formed state still loads
    assert stream.state_dict() == _GOOD_DATA_STATE
