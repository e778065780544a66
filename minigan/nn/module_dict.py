"""ModuleDict: several networks held under names, trained as one, as PyTorch's ``nn.ModuleDict``.

CycleGAN trains two generators with one optimizer (the reference's ``Adam(itertools.chain(netG_A.parameters(),
netG_B.parameters()))``) and its two discriminators with another. Holding each pair in a ModuleDict gives the
trainer one G and one D, as every other minigan trainer has: ``params`` / ``grads`` / ``state_dict`` name the
members' parameters ``<member>.<name>`` (``G_A.1.weight``), ``train()`` / ``eval()`` / ``to()`` reach every
member, and one optimizer over the ModuleDict updates them all.

A ModuleDict has no forward of its own: call its members (``G["G_A"](x)``, or ``G.G_A(x)``).
"""

from __future__ import annotations

from minigan.nn.module import Module


class ModuleDict(Module):
    """Named member modules: ``ModuleDict(G_A=resnet_generator(), G_B=resnet_generator())``."""

    def __init__(self, **members: Module):
        super().__init__()
        if not members:
            raise ValueError("ModuleDict: give at least one member, e.g. ModuleDict(G_A=..., G_B=...)")
        for name, member in members.items():
            if not isinstance(member, Module):
                raise TypeError(f"ModuleDict: member {name!r} is a {type(member).__name__}, not a minigan module")
            self._children[name] = member

    def __getitem__(self, name: str) -> Module:
        return self._children[name]

    def __getattr__(self, item):
        children = self.__dict__.get("_children")
        if children is not None and item in children:
            return children[item]
        return super().__getattr__(item)

    def __iter__(self):
        return iter(self._children)

    def __len__(self):
        return len(self._children)

    def items(self):
        return self._children.items()

    def __repr__(self):
        body = "".join(f"\n  ({k}): {v!r}" for k, v in self._children.items())
        return f"ModuleDict({body}\n)"

    def forward(self, x, train=None):
        raise TypeError(f"ModuleDict has no forward of its own: call one of its members {list(self._children)}")

    __call__ = forward

    def backward(self, dy, param_grads=True, input_grad=True):
        raise TypeError(f"ModuleDict has no backward of its own: call one of its members' {list(self._children)}")
