"""How far each peer neuron of the benchmarks is from bpsrm on the same dynamics: spikes and input gradients.

    python benchmarks/peer_agreement.py [--quick] [--out results/bench/peer_agreement.json]

x [T=16, B=16, N=256] float64 drawn as in benchmarks/neuron.py (0.6 N(0, 1) + 0.35), loss sum(spikes * w). Each peer
(benchmarks/peers.py) is run beside bpsrm's ``srm`` with the options that compute its dynamics
(``peers.SAME_DYNAMICS``) and beside bpsrm's default ``dexp`` SRM that neuron.py times it against. For each pair:
the firing rates, the share of equal spikes, and the cosine similarity and largest difference of d loss / d x
(the surrogates differ where a peer has no sigmoid one: Norse's is SuperSpike, on a membrane (1 - a_m) times the
SRM's). Runs in float64, so that no spike flips on a rounding difference.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from peers import SAME_DYNAMICS, peer_neurons, versions
from report import emit

from bpsrm.environment import describe_environment
from bpsrm.neuron.functional import srm


def spikes_and_grad(fn, x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The spikes of ``fn(x)`` and d sum(spikes * w) / dx."""
    x = x.detach().clone().requires_grad_()
    spikes = fn(x)
    (spikes * w).sum().backward()
    assert x.grad is not None
    return spikes.detach(), x.grad.detach()


def compare(peer: tuple[torch.Tensor, torch.Tensor], ours: tuple[torch.Tensor, torch.Tensor]) -> dict[str, float]:
    (s_peer, g_peer), (s_ours, g_ours) = peer, ours
    cosine = torch.nn.functional.cosine_similarity(g_peer.reshape(1, -1), g_ours.reshape(1, -1)).item()
    return {
        "equal_spikes": (s_peer == s_ours).double().mean().item(),
        "rate_peer": s_peer.mean().item(),
        "rate_bpsrm": s_ours.mean().item(),
        "grad_cosine": cosine,
        "grad_max_abs_diff": (g_peer - g_ours).abs().max().item(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller x, to prove the script runs (CI)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    shape = (8, 4, 64) if args.quick else (16, 16, 256)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=g, dtype=torch.float64) * 0.6 + 0.35
    w = torch.randn(shape, generator=g, dtype=torch.float64)
    default = spikes_and_grad(lambda v: srm(v)[0], x, w)
    rows = {}
    for name, neuron in peer_neurons(torch.device("cpu")).items():
        neuron = neuron.double()
        peer = spikes_and_grad(neuron, x, w)
        options = SAME_DYNAMICS[name]
        same = spikes_and_grad(lambda v, options=options: srm(v, **options)[0], x, w)
        rows[name] = {
            "same_dynamics": options,
            "against_same_dynamics": compare(peer, same),
            "against_default_dexp": compare(peer, default),
        }
    report = {
        "shape": list(shape),
        "dtype": "float64",
        "environment": describe_environment(),
        "peers": versions(),
        "results": rows,
    }
    emit(report, args.out)


if __name__ == "__main__":
    main()
