"""The peers' neurons that benchmarks/ compares bpsrm with, each mapped onto an SRM as closely as it allows.

One place for the mapping, used by neuron.py, train_step.py and peer_agreement.py. Each factory returns a module
that takes x ``[T, B, ...]`` and returns spikes ``[T, B, ...]`` from a fresh state; ``SAME_DYNAMICS`` gives, for each
peer, the options of bpsrm's ``srm`` that compute what it computes (bpsrm's defaults otherwise: tau_s 2, tau_m 4,
theta 1, the sigmoid surrogate with a = 4); tests/test_peer_dynamics.py holds bpsrm to them:

- SpikingJelly ``LIFNode`` (multi-step, soft reset, ``decay_input=False``, ``tau = 1 / (1 - a_m)`` so that the
  membrane decays by a_m, sigmoid surrogate a = 4): a first-order LIF without the synaptic current, whose reset
  decays with the membrane: bpsrm's ``exp`` kernel with ``theta_r = a_m`` (spikes and gradients), one recursion
  fewer than the ``dexp`` SRM it is timed beside;
- snnTorch ``Synaptic`` (alpha = a_s, beta = a_m, subtractive reset, sigmoid surrogate slope 4): the ``dexp`` SRM,
  with the reset cut from the gradient as snnTorch does (``detach_reset=True``);
- Norse ``LIF`` with ``tau_syn_inv = (1 - a_s) / dt``, ``tau_mem_inv = (1 - a_m) / dt`` and ``v_th = 1 - a_m``: its
  Euler step gives a membrane (1 - a_m) times the SRM's, so it fires where the ``dexp`` SRM with the hard reset
  (``reset="zero"``; Norse has no subtractive reset) fires; its gradients differ, as its surrogate is SuperSpike
  (it has no sigmoid one).
"""

from __future__ import annotations

import math

import torch
from torch import nn

A_S, A_M = math.exp(-1 / 2), math.exp(-1 / 4)
"""The synaptic and membrane decays of bpsrm's defaults, e^(-1/tau_s) and e^(-1/tau_m)."""

SAME_DYNAMICS = {
    "SpikingJelly LIFNode (m)": {"kernel": "exp", "theta_r": A_M},
    "snnTorch Synaptic": {"detach_reset": True},
    "Norse LIF": {"reset": "zero"},
}


def spikingjelly_lif(device: torch.device) -> nn.Module:
    from spikingjelly.activation_based import functional, neuron, surrogate

    class SpikingJellyLIF(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.node = neuron.LIFNode(
                tau=1.0 / (1.0 - A_M),  # v <- v (1 - 1/tau) + x: the decay a_m
                decay_input=False,
                v_threshold=1.0,
                v_reset=None,
                surrogate_function=surrogate.Sigmoid(alpha=4.0),
                step_mode="m",
            )
            if device.type == "cuda":  # SpikingJelly's fastest backend there: its CuPy kernel, else its torch one
                self.node.backend = "cupy" if "cupy" in self.node.supported_backends else "torch"

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            functional.reset_net(self.node)
            return self.node(x.contiguous())

    return SpikingJellyLIF().to(device)


def snntorch_synaptic(device: torch.device) -> nn.Module:
    import snntorch

    class SnnTorchSynaptic(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.node = snntorch.Synaptic(
                alpha=A_S,
                beta=A_M,
                threshold=1.0,
                reset_mechanism="subtract",
                spike_grad=snntorch.surrogate.sigmoid(slope=4.0),  # its default is atan
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            syn, mem = self.node.reset_mem()
            out = []
            for t in range(x.shape[0]):
                spk, syn, mem = self.node(x[t], syn, mem)
                out.append(spk)
            return torch.stack(out)

    return SnnTorchSynaptic().to(device)


def norse_lif(device: torch.device) -> nn.Module:
    import norse.torch as norse

    dt = 1e-3  # Norse's step: its Euler step decays the current by 1 - dt tau_syn_inv, the membrane likewise
    params = norse.LIFParameters(
        tau_syn_inv=torch.tensor((1.0 - A_S) / dt),
        tau_mem_inv=torch.tensor((1.0 - A_M) / dt),
        v_th=torch.tensor(1.0 - A_M),
    )

    class NorseLIF(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.node = norse.LIF(params, dt=dt)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.node(x)[0]

    return NorseLIF().to(device)


FACTORIES = {
    "SpikingJelly LIFNode (m)": spikingjelly_lif,
    "snnTorch Synaptic": snntorch_synaptic,
    "Norse LIF": norse_lif,
}


def peer_neurons(device: torch.device) -> dict[str, nn.Module]:
    """Every peer neuron that imports, by name; each one left out is said so on stdout."""
    neurons = {}
    for name, factory in FACTORIES.items():
        try:
            neurons[name] = factory(device)
        except Exception as exc:  # not installed, or it does not import beside this torch
            print(f"{name.split()[0]} left out: {exc}")
    return neurons


def versions() -> dict[str, str]:
    """The version of each peer package that is installed (for the reports)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("snntorch", "spikingjelly", "norse"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found
