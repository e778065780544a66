"""minigan's lab: the tools that measure and check the library, kept apart from the library itself.

* :mod:`minigan.lab.bench`: the CPU-vs-CUDA benchmark suite behind ``minigan bench`` (the canonical MNIST DCGAN's
  training step and its layers, timed on every backend against the PyTorch twin, with the GEMM work model);
* :mod:`minigan.lab.step_profile`: where a training step's time goes, every layer and optimizer step timed inside
  the real step;
* :mod:`minigan.lab.flops`: the GEMM work (FLOPs) of a layer call, from its shapes;
* :mod:`minigan.lab.torch_twin`: the PyTorch twin of a minigan network, built from the network itself (same
  layers, hyperparameters, parameter names and weights, through the layer map of :mod:`minigan.export`); torch is
  imported only when a twin is built.

Who imports it: the ``minigan bench`` subcommand (the command line sets that subcommand up from
:mod:`minigan.lab.bench` and hands it the run), the scripts in benchmarks/ and the tests. The core library (layers,
models, trainers, losses, data, metrics, I/O) never imports it, and minigan never needs torch (only
``minigan export`` imports it, when asked).
"""
