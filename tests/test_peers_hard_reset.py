"""bpsrm's hard reset (reset="zero") against the peers' own neurons, in float64 (BP-SRM.md section 2.1):

* snnTorch ``Leaky`` (kernel exp) and ``Synaptic`` (dexp, alpha) with ``reset_mechanism="zero"`` and
  ``reset_delay=False`` (the form its NIR import builds), beta = a_m, alpha = a_s, the input unscaled;
* SpikingJelly ``LIFNode(tau = 1 / (1 - a_m), decay_input=False, v_reset=0.0)`` (kernel exp); its wheel
  declares torchvision, so scripts/bootstrap.sh installs it without dependencies.

The peers return the membrane after the reset; bpsrm's u is before it, so they are compared as u (1 - o).
"""

from __future__ import annotations

import math

import pytest
import torch

from bpsrm import srm

T, N = 12, 40
A_M, A_S = math.exp(-1 / 5.0), math.exp(-1 / 3.0)


def _drive(scale: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(7)
    return torch.rand(T, N, generator=g, dtype=torch.float64) * scale


def _bpsrm(x: torch.Tensor, kernel: str) -> tuple[torch.Tensor, torch.Tensor]:
    tau = {"tau_m": -1 / math.log(A_M), "tau_s": -1 / math.log(A_S)}
    spikes, u = srm(x, kernel=kernel, theta=1.0, reset="zero", **tau)
    return spikes, u * (1 - spikes)


def _steps(module: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    spikes, membranes = [], []
    for t in range(x.shape[0]):
        out = module(x[t])
        spikes.append(out[0].to(x.dtype))
        membranes.append(out[-1])
    return torch.stack(spikes), torch.stack(membranes)


@pytest.mark.parametrize("kernel", ["exp", "dexp", "alpha"])
def test_snntorch_leaky_and_synaptic_with_zero_reset(kernel: str) -> None:
    snn = pytest.importorskip("snntorch", reason="snnTorch is part of the dev extra")
    x = _drive(0.9 if kernel == "exp" else 0.35)
    beta = torch.tensor(A_M, dtype=torch.float64)
    if kernel == "exp":
        peer = snn.Leaky(beta=beta, threshold=1.0, reset_mechanism="zero", reset_delay=False)
    else:
        alpha = torch.tensor(A_S if kernel == "dexp" else A_M, dtype=torch.float64)
        peer = snn.Synaptic(alpha=alpha, beta=beta, threshold=1.0, reset_mechanism="zero", reset_delay=False)
    spikes, after = _steps(peer.double(), x)
    ref_spikes, ref_after = _bpsrm(x, kernel)
    assert ref_spikes.sum() > 20 and (ref_spikes == 0).sum() > 20
    assert torch.equal(spikes, ref_spikes)
    torch.testing.assert_close(after, ref_after, rtol=0, atol=1e-12)


def test_spikingjelly_lifnode_with_hard_reset() -> None:
    neuron = pytest.importorskip(
        "spikingjelly.activation_based.neuron", reason="SpikingJelly is installed by scripts/bootstrap.sh"
    )
    x = _drive(0.9)
    peer = neuron.LIFNode(
        tau=1.0 / (1.0 - A_M), decay_input=False, v_threshold=1.0, v_reset=0.0, step_mode="m", store_v_seq=True
    )
    spikes = peer(x)
    ref_spikes, ref_after = _bpsrm(x, "exp")
    assert ref_spikes.sum() > 20
    assert torch.equal(spikes.double(), ref_spikes)
    torch.testing.assert_close(peer.v_seq.double(), ref_after, rtol=0, atol=1e-12)


def test_spikingjelly_hard_reset_gradients_equal_bpsrms() -> None:
    """The hard reset's exact backward (docs/concepts.md) against SpikingJelly's autograd through its own LIFNode:
    the same sigmoid surrogate (a = 4), the reset kept in the gradient (detach_reset=False on both sides)."""
    neuron = pytest.importorskip(
        "spikingjelly.activation_based.neuron", reason="SpikingJelly is installed by scripts/bootstrap.sh"
    )
    from spikingjelly.activation_based import surrogate

    x = _drive(0.9).unsqueeze(1)
    w = torch.randn(x.shape, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    grads = []
    for run in ("peer", "bpsrm"):
        given = x.clone().requires_grad_()
        if run == "peer":
            peer = neuron.LIFNode(
                tau=1.0 / (1.0 - A_M),
                decay_input=False,
                v_threshold=1.0,
                v_reset=0.0,
                surrogate_function=surrogate.Sigmoid(alpha=4.0),
                step_mode="m",
            )
            spikes = peer(given).double()
        else:
            spikes = srm(given, kernel="exp", tau_m=-1 / math.log(A_M), theta=1.0, reset="zero")[0]
        (spikes * w).sum().backward()
        grads.append(given.grad)
    assert grads[1].abs().max() > 0.1
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=1e-12)
