"""torch.compile: a compiled network gives the eager outputs and gradients (CPU), the config switch trains."""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path

import pytest
import torch
import yaml

from bpsrm import build_model, srm
from bpsrm.neuron import SRMNeuron

pytestmark = pytest.mark.slow  # inductor compiles C++ on the first call (tens of seconds)


def test_compiled_network_equals_eager_across_batch_sizes() -> None:
    torch.manual_seed(0)
    eager = build_model("8C3-TCN-SRM-MP2-FC16-SRM-FC10", (1, 12, 12), time_steps=3)
    twin = copy.deepcopy(eager)
    compiled = torch.compile(twin)
    for batch in (4, 5, 7):  # the second size makes Dynamo trace with symbolic (dynamic) shapes
        x = torch.rand(3, batch, 1, 12, 12) * 2
        for m in (eager, twin):
            m.zero_grad(set_to_none=True)
        expected = eager(x)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = compiled(x)
        ours = [str(w.message) for w in caught if "bpsrm" in w.filename or "bpsrm" in str(w.message)]
        assert not ours, f"compiling the network warned about bpsrm code: {ours}"
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
        expected.square().sum().backward()
        got.square().sum().backward()
        for (name, a), b in zip(eager.named_parameters(), twin.parameters(), strict=True):
            torch.testing.assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-5, msg=name)


def test_compiled_neuron_is_one_graph_and_matches_eager() -> None:
    """fullgraph: the kernel is one op in the graph (no break around it), learnable taus included."""
    torch.manual_seed(4)
    neuron = SRMNeuron(learn_tau=True, learn_theta=True, surrogate="atan", detach_reset=True, channels=5).double()
    x = (torch.randn(6, 3, 5, 8, dtype=torch.float64) + 0.4).requires_grad_()
    weights = torch.linspace(-1, 1, 8, dtype=torch.float64)

    def loss(module: torch.nn.Module) -> torch.Tensor:
        return (module(x) * weights).sum()

    inputs = (x, *neuron.parameters())
    expected = torch.autograd.grad(loss(neuron), inputs)
    got = torch.autograd.grad(loss(torch.compile(neuron, fullgraph=True)), inputs)
    for a, b in zip(expected, got, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_compiled_srm_equals_the_float64_reference(dtype) -> None:
    """Under torch.compile the kernel runs as the custom ops, with the save and backward of eager mode: values
    and every gradient (x and per-neuron taus and thresholds) against the step-by-step float64 reference."""
    from bpsrm.neuron.functional import decay, srm_decays, srm_reference
    from bpsrm.neuron.surrogate import Triangle

    g = torch.Generator().manual_seed(8)
    x = torch.randn(7, 3, 9, generator=g, dtype=torch.float64) * 0.9 + 0.3
    params = {
        "tau_s": torch.rand(9, generator=g, dtype=torch.float64) * 4 + 1.5,
        "tau_m": torch.rand(9, generator=g, dtype=torch.float64) * 4 + 2.0,
        "tau_r": torch.rand(9, generator=g, dtype=torch.float64) * 4 + 1.5,
        "theta": torch.rand(9, generator=g, dtype=torch.float64) * 0.3 + 0.8,
        "theta_r": torch.rand(9, generator=g, dtype=torch.float64) * 0.5 + 0.4,
    }
    w_o, w_u = torch.randn(2, 7, 3, 9, generator=g, dtype=torch.float64)
    surrogate = Triangle(w=1.5)

    def loss_and_grads(fn, dtype):
        xr = x.to(dtype).requires_grad_()
        leaves = {k: v.to(dtype).requires_grad_() for k, v in params.items()}
        spikes, u = fn(xr, leaves)
        loss = (spikes * w_o.to(dtype)).sum() + 0.3 * (u * w_u.to(dtype)).sum()
        return spikes.detach(), u.detach(), torch.autograd.grad(loss, [xr, *leaves.values()])

    def fused(xr, p):  # as SRMNeuron calls it: decays, no range checks (those of srm() read data: graph breaks)
        decays = (decay(p["tau_s"]), decay(p["tau_m"]), decay(p["tau_r"]))
        return srm_decays(xr, *decays, p["theta"], p["theta_r"], surrogate, False, "fused")

    compiled = torch.compile(fused, fullgraph=True)
    spikes, u, grads = loss_and_grads(compiled, dtype)
    ref_spikes, ref_u, ref_grads = loss_and_grads(
        lambda xr, p: srm_reference(xr, **p, surrogate=surrogate), torch.float64
    )
    tolerance = 1e-5 if dtype == torch.float32 else 1e-10
    assert torch.equal(spikes.double(), ref_spikes)
    assert ((u.double() - ref_u).abs().max() / ref_u.abs().max()).item() <= tolerance
    for got, ref in zip(grads, ref_grads, strict=True):
        assert ref.abs().max() > 0
        assert ((got.double() - ref).abs().max() / ref.abs().max()).item() <= tolerance * 10


def test_compile_true_in_a_config_trains_like_eager(tmp_path: Path) -> None:
    from bpsrm.cli import main

    runs = {}
    for flag in (True, False):
        config = tmp_path / f"compile-{flag}.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "experiment": "compiled",
                    "compile": flag,
                    "data": {"name": "fashion-mnist-demo", "limit_train": 400, "limit_test": 100},
                    "model": {"spec": "FC32-SRM-FC10", "time_steps": 2},
                    "train": {"epochs": 2, "batch_size": 50},
                    "log": {"progress": False},
                }
            )
        )
        runs[flag] = tmp_path / f"run-{flag}"
        assert main(["train", str(config), "--out", str(runs[flag])]) == 0
    compiled, eager = (torch.load(runs[f] / "last.pt", weights_only=True)["model"] for f in (True, False))
    for name in eager:
        torch.testing.assert_close(compiled[name], eager[name], rtol=1e-3, atol=1e-4, msg=name)
    accuracy = [json.loads((runs[f] / "metrics.json").read_text())["test_accuracy"] for f in (True, False)]
    assert abs(accuracy[0] - accuracy[1]) <= 0.02


@pytest.mark.parametrize("kernel", ["alpha", "dexp"])
def test_the_portable_path_compiles_in_one_graph_with_tied_parameters(kernel: str) -> None:
    """The alpha kernel (a_s is a_m) and a tied theta_r (theta_r is theta) pass one tensor twice to the
    portable autograd.Function, which dynamo refuses: the call passes a copy instead, same numbers."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(5, 2, 4, generator=g) * 0.8 + 0.4
    w = torch.randn(5, 2, 4, generator=g)
    tau_m = torch.tensor(3.0)

    def run(t: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        spikes, u = srm(t, tau_m=tau, kernel=kernel, backend="portable")
        return (spikes * w).sum() + (u * w).sum()

    compiled = torch.compile(run, fullgraph=True)
    results = []
    for fn in (compiled, run):
        xi, ti = x.clone().requires_grad_(), tau_m.clone().requires_grad_()
        loss = fn(xi, ti)
        loss.backward()
        results.append((loss.detach(), xi.grad, ti.grad))
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
