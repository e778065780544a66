"""Where a training step's time goes: every layer's forward and backward, and every optimizer step, timed inside
the real step.

    report = step_profile(lambda: trainer.iteration(data), {"G": G, "D": D}, {"G": opt_G, "D": opt_D})

Timing layers one by one, in isolation, flatters them: their inputs sit in the cache, nothing else runs between
calls. Here the step runs as it always does, and each leaf layer of the nets (each module with no children) has
timing wrappers put on its instance for the duration: ``_run_forward`` (what Sequential calls) and ``backward``;
likewise each optimizer's ``step``. The wrappers are taken off afterwards, also when the step raises.

The clock is read after ``backend.synchronize()``: on a GPU an entry is then the device time of that call, but
the host can no longer queue work ahead of the device, so the profiled step is slower than the step alone. The
report keeps the two apart: ``step_s`` is the step with wrappers, and the rows add up to it together with
``rest_s``, the time outside every layer and optimizer (losses, noise, data, Python between calls).

Work: each call's GEMM FLOPs, from the shapes it saw (:func:`minigan.lab.flops.layer_gflop`): a forward once, a
backward once per gradient it computes: the weight gradient unless ``param_grads=False``, the input gradient unless
``input_grad=False`` (every layer with GEMM work skips dx then). Summed over the canonical step this is
:func:`minigan.lab.bench.step_gflop`, which counts the same work from the algorithm instead
(tests/test_step_profile.py holds the two together; tests/test_bench.py checks step_gflop against a count by hand).
"""

from __future__ import annotations

import inspect
import time

from minigan import backend
from minigan.lab.flops import layer_gflop

_ABSENT = object()
_COUNTS = ("forward_calls", "backward_calls", "forward_s", "backward_s", "calls", "s", "gflop")  # summed per call


def _leaves(nets: dict):
    """(net name, index within the net, layer) for every module without children, in the nets' order."""
    for net_name, net in nets.items():
        for prefix, module in net.named_modules():
            if not module._children:
                yield net_name, prefix.rstrip(".") or "-", module


def step_profile(step, nets: dict, optimizers: dict, steps: int = 10, warmup: int = 2, sync=None) -> dict:
    """Run ``step`` ``warmup + steps`` times; report the last ``steps``, per step (means).

    Returns {"steps": steps, "step_s": wall time of a step with the wrappers on, "rest_s": what neither a layer
    nor an optimizer covers, "gflop": the step's GEMM work, "layers": [...], "optimizers": [...]}: a row per leaf
    layer, in the nets' order ({"net", "index", "layer", "forward_calls", "backward_calls", "forward_s",
    "backward_s", "gflop"}), and one per optimizer ({"net", "optimizer", "calls", "s"}).
    """
    if steps < 1 or warmup < 0:
        raise ValueError(f"step_profile needs steps >= 1 and warmup >= 0, got steps={steps}, warmup={warmup}")
    sync = sync or backend.synchronize
    rows, opt_rows, patched = [], [], []

    def clocked(row, prefix, fn, work=None):
        """fn, adding its time and calls to row[prefix + "s"] and row[prefix + "calls"] (and its work, if given)."""
        def call(*args, **kwargs):
            sync()
            t0 = time.perf_counter()
            out = fn(*args, **kwargs)
            sync()
            row[prefix + "s"] += time.perf_counter() - t0
            row[prefix + "calls"] += 1
            if work is not None:
                row["gflop"] += work(args, kwargs, out)
            return out

        return call

    def patch(obj, name, wrapper):
        patched.append((obj, name, obj.__dict__.get(name, _ABSENT)))
        setattr(obj, name, wrapper)

    def forward_work(layer, row):
        def work(args, kwargs, y):
            row["_x_shape"] = tuple(args[0].shape)  # for the backward that follows
            return layer_gflop(layer, args[0].shape, y.shape)

        return work

    def backward_work(layer, row):
        signature = inspect.signature(type(layer).backward)  # (self, dy, param_grads=True, input_grad=True)

        def work(args, kwargs, dx):
            call = signature.bind(layer, *args, **kwargs)
            call.apply_defaults()
            dy, param_grads, input_grad = (call.arguments[k] for k in ("dy", "param_grads", "input_grad"))
            # the weight gradient's product if asked for (and there are weights); dx's only if asked for
            products = bool(param_grads and layer.params) + bool(input_grad)
            return products * layer_gflop(layer, row["_x_shape"], dy.shape)

        return work

    for net_name, index, layer in _leaves(nets):
        row = {"net": net_name, "index": index, "layer": repr(layer), "forward_calls": 0, "backward_calls": 0,
               "forward_s": 0.0, "backward_s": 0.0, "gflop": 0.0, "_x_shape": None}
        rows.append(row)
        patch(layer, "_run_forward", clocked(row, "forward_", layer._run_forward, forward_work(layer, row)))
        patch(layer, "backward", clocked(row, "backward_", layer.backward, backward_work(layer, row)))
    for net_name, opt in optimizers.items():
        row = {"net": net_name, "optimizer": type(opt).__name__, "calls": 0, "s": 0.0}
        opt_rows.append(row)
        patch(opt, "step", clocked(row, "", opt.step))
    try:
        for _ in range(warmup):
            step()
        for row in rows + opt_rows:
            row.update({k: 0 for k in _COUNTS if k in row})
        sync()
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        total = time.perf_counter() - t0
    finally:
        for obj, name, before in reversed(patched):  # as each object was: its own attribute, or the class's method
            if before is _ABSENT:
                del obj.__dict__[name]
            else:
                obj.__dict__[name] = before
    for row in rows + opt_rows:
        row.pop("_x_shape", None)
        row.update({k: row[k] / steps for k in _COUNTS if k in row})
    covered = sum(row["forward_s"] + row["backward_s"] for row in rows) + sum(row["s"] for row in opt_rows)
    return {"steps": steps, "step_s": total / steps, "rest_s": total / steps - covered,
            "gflop": sum(row["gflop"] for row in rows), "layers": rows, "optimizers": opt_rows}
