"""torch.compile: a compiled network gives the eager outputs and gradients (CPU), the config switch trains."""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path

import pytest
import torch
import yaml

from bpsrm import build_model
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
