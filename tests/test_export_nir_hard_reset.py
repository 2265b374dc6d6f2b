"""Hard-reset layers as NIR's own neuron nodes (LIF, CubaLIF): the constants by hand, the round trip, what the
import refuses, and a real consumer: snnTorch's import_from_nir runs the exported file step by step and gives
bpsrm's output spikes on real Fashion-MNIST images."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from bpsrm import build_model
from bpsrm.deploy.export import ExportError, from_nir, to_nir
from bpsrm.network.norm import TemporalChannelNorm
from bpsrm.neuron.module import SRMNeuron
from bpsrm.neuron.params import KERNELS

nir = pytest.importorskip("nir", reason="the nir extra is not installed")


def _hard(spec: str, kernel: str, **neuron) -> torch.nn.Module:
    params = {"kernel": kernel, "reset": "zero", "tau_s": 2.0, "tau_m": 4.0, "theta": 0.5, **neuron}
    return build_model(spec, (1, 28, 28), time_steps=6, neuron=params, norm={"step_affine": False})


def _firing_weights(model: torch.nn.Module, seed: int) -> None:
    """Norm statistics as after training, and linear weights large enough that every layer fires."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, TemporalChannelNorm):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) * 0.5 + 0.5)
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) * 0.5 + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
            if isinstance(m, torch.nn.Linear):
                m.weight.mul_(8.0)
    model.eval()


@pytest.mark.parametrize("dt", [1.0, 1e-4])
def test_the_constants_by_hand(dt: float) -> None:
    """exp -> LIF(tau = dt / (1 - a_m), r = 1 / (1 - a_m)); dexp -> CubaLIF(tau_syn = dt / (1 - a_s), w_in =
    1 / (1 - a_s), ...); v_leak = v_reset = 0, v_threshold = theta; dt in the metadata."""
    for kernel, node_type in (("exp", nir.LIF), ("dexp", nir.CubaLIF), ("alpha", nir.CubaLIF)):
        model = build_model("FC5-SRM", (3,), time_steps=2, neuron={"kernel": kernel, "reset": "zero", "theta": 0.7})
        graph = to_nir(model, dt=dt)
        assert graph.metadata["dt"] == dt
        node = graph.nodes["1.lif"]
        assert type(node) is node_type
        a_m = math.exp(-1 / 4.0)  # the default tau_m
        a_s = {"dexp": math.exp(-1 / 2.0), "alpha": a_m}.get(kernel)
        tau_mem = node.tau_mem if kernel != "exp" else node.tau
        np.testing.assert_allclose(tau_mem, dt / (1 - a_m), rtol=1e-12)
        np.testing.assert_allclose(node.r, 1 / (1 - a_m), rtol=1e-12)
        np.testing.assert_allclose(node.v_threshold, 0.7, rtol=1e-7)  # theta as float32 in the module
        assert not np.any(node.v_leak) and not np.any(node.v_reset)
        if a_s is not None:
            np.testing.assert_allclose(node.tau_syn, dt / (1 - a_s), rtol=1e-12)
            np.testing.assert_allclose(node.w_in, 1 / (1 - a_s), rtol=1e-12)
        assert ("2.fire" not in graph.nodes) and not any(isinstance(n, nir.Threshold) for n in graph.nodes.values())


@pytest.mark.parametrize("kernel", KERNELS)
def test_round_trip_through_a_file_gives_the_same_spikes(kernel: str, tmp_path: Path) -> None:
    torch.manual_seed(3)
    model = _hard("8C3-TCN-SRM-AP2-FC24-SRM-FC10-SRM", kernel)
    _firing_weights(model, 3)
    path = tmp_path / "hard.nir"
    nir.write(str(path), to_nir(model, dt=1e-4))
    rebuilt = from_nir(nir.read(str(path)))
    assert {m.reset for m in rebuilt.modules() if isinstance(m, SRMNeuron)} == {"zero"}
    assert {m.kernel for m in rebuilt.modules() if isinstance(m, SRMNeuron)} == {kernel}
    x = torch.rand(6, 4, 1, 28, 28)
    with torch.no_grad():
        a, b = model.run(x), rebuilt.eval().run(x)
    for sa, sb in zip(a.spikes, b.spikes, strict=True):
        assert 0 < float(sa.mean()) < 1
        assert torch.equal(sa, sb)


def test_per_channel_time_constants_round_trip() -> None:
    model = build_model(
        "4C3-SRM-AP2-FC3-SRM",
        (1, 8, 8),
        neuron={"kernel": "dexp", "reset": "zero", "learn_tau": True, "per_channel": True},
    )
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, SRMNeuron) and m.channels:
                for name, low in (("tau_s", -1.0), ("tau_m", 0.5)):  # different: equal decays read as alpha
                    getattr(m, f"{name}_logit").copy_(torch.linspace(low, low + 2.0, m.channels))
    rebuilt = from_nir(to_nir(model, dt=0.5))
    first = next(m for m in rebuilt.modules() if isinstance(m, SRMNeuron))
    original = next(m for m in model.modules() if isinstance(m, SRMNeuron))
    assert first.kernel == "dexp" and first.reset == "zero" and first.channels == 4
    for name in ("tau_s", "tau_m"):
        torch.testing.assert_close(first.decay(name), original.decay(name).detach(), rtol=1e-6, atol=0)


def test_the_import_refuses_what_is_not_bpsrm_hard_reset() -> None:
    model = build_model("FC5-SRM", (3,), time_steps=2, neuron={"kernel": "dexp", "reset": "zero"})
    for field, value, message in (
        ("v_reset", 0.2, "v_reset must be 0"),
        ("v_leak", 0.1, "v_leak must be 0"),
        ("r", -1.0, r"r must be finite and > 0"),
        ("w_in", np.nan, r"w_in holds 5 NaN or Inf value\(s\)"),  # as every non-finite value read
        ("tau_mem", 1e-5, r"tau_mem must be > dt = 0.001"),
    ):
        graph = to_nir(model, dt=1e-3)
        node = graph.nodes["1.lif"]
        setattr(node, field, np.full_like(np.asarray(node.r), value))
        with pytest.raises(ExportError, match=rf"node '1.lif' \(CubaLIF\): {message}"):
            from_nir(graph)
    graph = to_nir(model)
    graph.metadata["dt"] = "soon"
    with pytest.raises(ExportError, match="metadata dt='soon': expected one finite number > 0"):
        from_nir(graph)
    with pytest.raises(ExportError, match="dt must be a finite number > 0"):
        to_nir(model, dt=0.0)
    for dt in (1e308, 1e-320):  # infinite or subnormal time constants (helper-50): refused, not written
        with pytest.raises(ExportError, match=r"dt must be within \[1e-12, 1e\+06\] \(a step in seconds\)"):
            to_nir(model, dt=dt)
    assert to_nir(model, dt=1e-12).metadata["dt"] == 1e-12 and to_nir(model, dt=1e6).metadata["dt"] == 1e6


@pytest.mark.data
@pytest.mark.parametrize("kernel", KERNELS)
def test_snntorch_runs_the_exported_file_with_bpsrm_spikes(kernel: str, shared_data: Path, tmp_path: Path) -> None:
    """Convolutions, TCN (folded), average pooling, a linear layer; written with dt = 1e-4 (the only step
    snnTorch 1.0.0 reads), imported by snnTorch and run one step per call on real Fashion-MNIST test images, one
    image at a time (snnTorch imports NIR's Flatten(start_dim=0) as torch's Flatten(0, -1), which would also
    flatten a batch). Output spikes equal bpsrm's at every step."""
    snntorch = pytest.importorskip("snntorch", reason="snnTorch is part of the dev extra")
    from snntorch.import_nir import import_from_nir

    from bpsrm.data import get_dataset

    torch.manual_seed(0)
    model = _hard("8C3-TCN-SRM-AP2-16C3-TCN-SRM-AP2-FC10-SRM", kernel)
    _firing_weights(model, 1)
    images = get_dataset("fashion-mnist", "test", root=shared_data)
    batch = torch.stack([images[i][0] for i in range(8)])
    x = batch.unsqueeze(0).expand(6, *batch.shape)  # direct encoding, T = 6
    with torch.no_grad():
        expected = model.run(x).spikes
    assert all(0 < float(s.mean()) < 1 for s in expected), [float(s.mean()) for s in expected]

    path = tmp_path / "model.nir"
    nir.write(str(path), to_nir(model, dt=1e-4))
    net = import_from_nir(nir.read(str(path)))
    kinds = {type(m).__name__ for m in net.modules()}
    assert {"Leaky" if kernel == "exp" else "Synaptic", "Conv2d", "AvgPool2d", "Linear"} <= kinds, (
        snntorch.__version__,
        kinds,
    )
    for b in range(len(batch)):
        for m in net.modules():
            if hasattr(m, "reset_mem"):
                m.reset_mem()
        with torch.no_grad():
            got = torch.stack([net(x[t, b])[0] for t in range(x.shape[0])])
        assert torch.equal(got, expected[-1][:, b]), b
    assert float(expected[-1].sum()) > 20  # the comparison covers many output spikes


def test_what_snntorch_cannot_run_is_listed() -> None:
    from bpsrm.deploy.export import consumer_problems

    soft = build_model("4C3-SRM-AP2-FC10", (1, 8, 8), time_steps=2)  # subtractive reset, membrane readout
    problems = consumer_problems(to_nir(soft), "snntorch")
    assert problems[0].startswith("dt = 1: snnTorch 1.0.0 reads time constants for dt = 1e-4")
    assert any(p.startswith("layer 1 (LI, Scale, Threshold nodes): a subtractive-reset SRM layer") for p in problems)
    assert any(p.startswith("the membrane readout (LI nodes)") and "-SRM" in p for p in problems)
    hard = build_model("4C3-SRM-AP2-FC10-SRM", (1, 8, 8), time_steps=2, neuron={"reset": "zero"})
    assert consumer_problems(to_nir(hard, dt=1e-4), "snntorch") == []
    varying = build_model(
        "4C3-SRM-FC10-SRM",
        (1, 8, 8),
        neuron={"reset": "zero", "learn_theta": True, "per_channel": True},
    )
    with torch.no_grad():
        first = next(m for m in varying.modules() if isinstance(m, SRMNeuron))
        first.theta_raw.copy_(torch.linspace(0.0, 1.0, 4))
    assert consumer_problems(to_nir(varying, dt=1e-4), "snntorch") == [
        "node '1.lif': snnTorch takes one threshold per layer, this one varies"
    ]
    with pytest.raises(ExportError, match="unknown consumer 'loihi'"):
        consumer_problems(to_nir(hard), "loihi")


def test_bpsrm_export_for_snntorch(tmp_path: Path, capsys) -> None:
    """--for snntorch writes dt = 1e-4 and refuses, writing nothing, a model snnTorch cannot import."""
    from bpsrm.cli import main
    from bpsrm.engine.config import config_from_dict
    from bpsrm.engine.trainer import train

    def checkpoint(name: str, spec: str, reset: str) -> Path:
        raw = {
            "data": {"name": "fashion-mnist-demo", "limit_train": 100, "limit_test": 20},
            "model": {"spec": spec, "time_steps": 2, "neuron": {"reset": reset}, "norm": {"step_affine": False}},
            "train": {"epochs": 1, "batch_size": 50},
            "log": {"progress": False, "plots": False},
        }
        train(config_from_dict(raw), tmp_path / name, log=lambda _: None)
        return tmp_path / name / "best.pt"

    good = checkpoint("hard", "4C3-TCN-SRM-AP2-FC10-SRM", "zero")
    assert main(["export", str(good), "--format", "nir", "--for", "snntorch", "--out", str(tmp_path / "h.nir")]) == 0
    assert float(nir.read(str(tmp_path / "h.nir")).metadata["dt"]) == 1e-4
    bad = checkpoint("soft", "4C3-TCN-SRM-AP2-FC10", "subtract")
    assert main(["export", str(bad), "--for", "snntorch", "--out", str(tmp_path / "s.nir")]) == 1
    error = capsys.readouterr().err
    assert "snntorch cannot run this model" in error and "model.neuron.reset: zero" in error and "-SRM" in error
    assert not (tmp_path / "s.nir").exists()


def test_snntorch_runs_a_one_dimensional_bearing_network() -> None:
    """Conv1d synapses and 1-D average pooling (a Conv1d with 1/k on its channel diagonal): snnTorch 1.0.0 maps
    Conv1d through nirtorch's default map, so the bearing networks run there too, with bpsrm's spikes."""
    pytest.importorskip("snntorch", reason="snnTorch is part of the dev extra")
    from snntorch.import_nir import import_from_nir

    from bpsrm.deploy.export import consumer_problems

    torch.manual_seed(0)
    model = build_model(
        "4C7-TCN-SRM-AP4-8C5-TCN-SRM-AP4-FC10-SRM",
        (1, 256),
        time_steps=5,
        neuron={"kernel": "dexp", "reset": "zero", "theta": 0.3},
        norm={"step_affine": False},
    )
    _firing_weights(model, 2)
    graph = to_nir(model, dt=1e-4)
    assert consumer_problems(graph, "snntorch") == []
    net = import_from_nir(graph)
    x = torch.randn(5, 3, 1, 256)
    with torch.no_grad():
        expected = model.run(x).spikes
    assert all(0 < float(s.mean()) < 1 for s in expected)
    for b in range(3):
        for m in net.modules():
            if hasattr(m, "reset_mem"):
                m.reset_mem()
        with torch.no_grad():
            got = torch.stack([net(x[t, b])[0] for t in range(5)])
        assert torch.equal(got, expected[-1][:, b]), b


@pytest.mark.parametrize(("spec", "field"), [("FC5-SRM-FC3", "r"), ("FC5-SRM-FC3", "w_in"), ("3C3-SRM-FC3", "r")])
def test_a_lif_whose_input_gain_is_not_1_folds_it_into_the_synapse(spec: str, field: str) -> None:
    """Other tools write LIF and CubaLIF with r (or w_in) other than tau / dt: the input enters the membrane scaled.
    from_nir refused them ("r must be tau_mem / dt"); the gain now goes into the weights of the synapse before,
    V = a V + g (W x + b). The graph below computes what the model does with r doubled and W, b halved, so the
    network read back must give the model's spikes exactly as the unchanged graph does."""
    torch.manual_seed(3)
    shape = (4,) if spec.startswith("FC") else (1, 6, 6)
    model = build_model(spec, shape, time_steps=4, neuron={"kernel": "dexp", "reset": "zero", "theta": 0.4})
    graph = to_nir(model, dt=1e-3)
    lif, synapse = graph.nodes["1.lif"], graph.nodes["0.synapse"]
    setattr(lif, field, np.asarray(getattr(lif, field)) * 2.0)
    synapse.weight = np.asarray(synapse.weight) / 2.0
    synapse.bias = np.asarray(synapse.bias) / 2.0
    rebuilt = from_nir(graph).eval()
    x = torch.rand((4, 3, *shape)) * 4.0
    with torch.no_grad():
        want, got = model.eval().run(x), rebuilt.run(x)
    assert want.spikes[0].mean() > 0.05
    for ours, theirs in zip(want.spikes, got.spikes, strict=True):
        assert torch.equal(ours, theirs)
    torch.testing.assert_close(got.logits, want.logits, rtol=1e-5, atol=1e-5)


def test_a_gain_with_nothing_to_fold_into_is_refused() -> None:
    model = build_model("3C3-AP2-SRM-FC3", (1, 6, 6), time_steps=2, neuron={"reset": "zero"})
    graph = to_nir(model, dt=1e-3)
    name = next(n for n, node in graph.nodes.items() if isinstance(node, (nir.LIF, nir.CubaLIF)))
    graph.nodes[name].r = np.asarray(graph.nodes[name].r) * 3.0
    with pytest.raises(ExportError, match="not 1, and no Affine, Linear or Conv node comes right before it"):
        from_nir(graph)
    graph = to_nir(model, dt=1e-3)  # as snnTorch writes it: r = tau_mem / dt in float32, 1e-8 off (helper-64)
    for field in ("r", "tau_mem", "tau_syn", "w_in"):
        setattr(graph.nodes[name], field, np.asarray(getattr(graph.nodes[name], field), dtype=np.float32))
    from_nir(graph)  # read, not refused with "a gain in [1, 1], not 1"
    conv = to_nir(build_model("3C3-SRM-FC3", (1, 6, 6), time_steps=2, neuron={"reset": "zero"}), dt=1e-3)
    r = np.array(conv.nodes["1.lif"].r, dtype=np.float64)
    r[0, 0, 0] *= 2.0  # one neuron of channel 0: a gain a convolution's weights cannot hold
    conv.nodes["1.lif"].r = r
    with pytest.raises(ExportError, match="the input gain varies inside a channel"):
        from_nir(conv)
