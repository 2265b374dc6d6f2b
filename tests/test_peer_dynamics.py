"""The peers' neurons as benchmarks/peers.py maps them, against bpsrm's ``srm`` with the options that peers.py says
compute the same dynamics (``SAME_DYNAMICS``), in float64: the spikes equal, and where the surrogate is the same
(SpikingJelly's and snnTorch's sigmoid with a = 4) the input gradients of a loss too. The benchmarks time these
neurons side by side; these tests hold the claim that they compute what bpsrm computes (or say what differs)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch

from bpsrm import srm

PEERS_FILE = Path(__file__).resolve().parents[1] / "benchmarks" / "peers.py"


def _peers():
    spec = importlib.util.spec_from_file_location("benchmark_peers", PEERS_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _spikes_and_grad(fn, x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.detach().clone().requires_grad_()
    spikes = fn(x).to(torch.float64)  # snnTorch's spikes are float32 whatever the input
    (spikes * w).sum().backward()
    assert x.grad is not None
    return spikes.detach(), x.grad.detach()


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(20, 3, 50, generator=g, dtype=torch.float64) * 0.6 + 0.35  # neuron.py's drive: ~half fire
    return x, torch.randn(x.shape, generator=g, dtype=torch.float64)


@pytest.mark.parametrize(
    ("name", "package"), [("SpikingJelly LIFNode (m)", "spikingjelly"), ("snnTorch Synaptic", "snntorch")]
)
def test_a_peer_computes_the_spikes_and_gradients_of_its_bpsrm_options(name: str, package: str) -> None:
    pytest.importorskip(package)
    peers = _peers()
    x, w = _inputs()
    neuron = peers.FACTORIES[name](torch.device("cpu")).double()
    options = dict(peers.SAME_DYNAMICS[name])
    if name == "snnTorch Synaptic":  # snnTorch keeps alpha and beta as float32 buffers: the same decays here
        decays = neuron.node.alpha.item(), neuron.node.beta.item()
        options |= {"tau_s": -1 / math.log(decays[0]), "tau_m": -1 / math.log(decays[1])}
        assert abs(decays[0] - peers.A_S) < 1e-7 and abs(decays[1] - peers.A_M) < 1e-7
    peer = _spikes_and_grad(neuron, x, w)
    ours = _spikes_and_grad(lambda v: srm(v, **options)[0], x, w)
    assert 0.2 < peer[0].mean().item() < 0.8  # both firing and silence occur
    torch.testing.assert_close(peer[0], ours[0], rtol=0, atol=0)
    tolerance = 1e-6 if name == "snnTorch Synaptic" else 1e-12  # snnTorch's spike function runs in float32
    torch.testing.assert_close(peer[1], ours[1], rtol=0, atol=tolerance)
    # ... and the options matter: without them the spikes or the gradients differ
    default = _spikes_and_grad(lambda v: srm(v)[0], x, w)
    assert not torch.equal(peer[0], default[0]) or not torch.allclose(peer[1], default[1])


def test_norse_fires_where_the_hard_reset_srm_fires() -> None:
    """Norse's LIF has no sigmoid surrogate (SuperSpike), so only the spikes are the same."""
    pytest.importorskip("norse")
    peers = _peers()
    x, w = _inputs()
    neuron = peers.FACTORIES["Norse LIF"](torch.device("cpu")).double()
    peer = _spikes_and_grad(neuron, x, w)
    ours = _spikes_and_grad(lambda v: srm(v, **peers.SAME_DYNAMICS["Norse LIF"])[0], x, w)
    torch.testing.assert_close(peer[0], ours[0], rtol=0, atol=0)
