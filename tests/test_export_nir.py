"""NIR export and import: file round trip gives the same spikes; norms folded; what NIR cannot hold is refused."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from bpsrm import build_model
from bpsrm.deploy.export import ExportError, export_checkpoint, from_nir, to_nir
from bpsrm.errors import RunFolderError
from bpsrm.network.norm import TemporalChannelNorm
from bpsrm.neuron import SRMNeuron
from bpsrm.neuron.params import KERNELS

nir = pytest.importorskip("nir", reason="the nir extra is not installed")


def _randomise_norms(model: torch.nn.Module, seed: int) -> None:
    """Running statistics and affine far from their initial values, as after training."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, TemporalChannelNorm):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.3)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.2)


def _roundtrip(model, tmp_path: Path):
    path = tmp_path / "model.nir"
    nir.write(str(path), to_nir(model))
    return from_nir(nir.read(str(path)))


def _compare(model, rebuilt, x: torch.Tensor) -> None:
    model.eval()
    rebuilt.eval()
    with torch.no_grad():
        a, b = model.run(x), rebuilt.run(x)
    assert len(a.spikes) == len(b.spikes) and len(a.spikes) > 0
    for sa, sb in zip(a.spikes, b.spikes, strict=True):
        assert 0 < float(sa.mean()) < 1, "the comparison needs layers that fire sometimes"
        assert torch.equal(sa, sb)
    torch.testing.assert_close(b.logits, a.logits, rtol=1e-4, atol=1e-4)


def test_mlp_round_trip_gives_the_same_spikes(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model("FC64-SRM-FC32-SRM-FC10", (1, 8, 8), time_steps=6, neuron={"kernel": "dexp", "tau_s": 3.0})
    x = (torch.rand(6, 5, 1, 8, 8) < 0.4).float() * 2.0
    _compare(model, _roundtrip(model, tmp_path), x)


@pytest.mark.parametrize("kernel", KERNELS)
def test_conv_network_with_tcn_round_trip(tmp_path: Path, kernel: str) -> None:
    """TCN with one affine per channel (norm={"step_affine": False}) folds into the convolution before it."""
    torch.manual_seed(1)
    model = build_model(
        "8C3-TCN-SRM-AP2-16C3-TCN-SRM-AP2-FC10", (2, 12, 12), norm={"step_affine": False}, neuron={"kernel": kernel}
    )
    _randomise_norms(model, 3)
    graph = to_nir(model)
    assert not any("norm" in name for name in graph.nodes)  # folded, not exported as nodes
    assert isinstance(graph.nodes["0.synapse"], nir.Conv2d)
    x = torch.rand(5, 3, 2, 12, 12) * 3.0
    _compare(model, _roundtrip(model, tmp_path), x)


def test_one_dimensional_network_round_trip(tmp_path: Path) -> None:
    """Conv1d and 1-D average pooling (exported as a diagonal Conv1d, NIR having no 1-D pooling)."""
    torch.manual_seed(6)
    model = build_model("8C5-TCN-SRM-AP2-16C3-TCN-SRM-AP4-FC10", (2, 64), norm={"step_affine": False})
    _randomise_norms(model, 7)
    x = torch.rand(4, 3, 2, 64) * 3.0
    _compare(model, _roundtrip(model, tmp_path), x)


def test_fold_matches_hand_computation() -> None:
    torch.manual_seed(2)
    model = build_model("FC4-TCN-SRM-FC2", (3,), norm={"step_affine": False})
    _randomise_norms(model, 5)
    linear, norm = model.layers[0].module, model.layers[1]
    node = to_nir(model).nodes["0.synapse"]
    s = norm.weight.double() / torch.sqrt(norm.running_var.double() + norm.eps)
    w = linear.weight.double() * s[:, None]
    assert linear.bias is None  # a synapse before a norm has no bias of its own
    b = -norm.running_mean.double() * s + norm.bias.double()
    np.testing.assert_allclose(node.weight, w.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(node.bias, b.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize(
    ("spec", "sample", "conv_type"),
    [("4C3-TCN-SRM-AP2-FC3", (2, 6, 6), "Conv2d"), ("4C5-TCN-SRM-AP2-FC3", (2, 16), "Conv1d")],
)
def test_synapses_and_pooling_written_as_the_torch_modules_hold_them(spec, sample, conv_type) -> None:
    """Each node's arrays against the torch module, by hand: the round trips above go through this package's own
    importer, so a layout written one way by the exporter and undone by the importer would pass them. The
    convolution carries its norm folded (weight * s per output channel, s = gamma / sqrt(var + eps); bias
    beta - mean * s) in torch's [out, in, k...] layout, with its stride, padding and dilation; a 2-D average pool
    is AvgPool2d(k, k, 0); a 1-D one a Conv1d with 1/k on the channel diagonal and stride k; the Affine is the
    Linear's [out, in] weight and bias, on torch's C-major flattening."""
    torch.manual_seed(4)
    model = build_model(spec, sample, norm={"step_affine": False})
    _randomise_norms(model, 8)
    conv, norm, linear = model.layers[0].module, model.layers[1], model.layers[5].module
    nodes = to_nir(model).nodes
    node = nodes["0.synapse"]
    assert type(node).__name__ == conv_type
    s = (norm.weight / torch.sqrt(norm.running_var + norm.eps)).detach().double()
    scale = s.reshape(-1, *([1] * (conv.weight.dim() - 1)))
    np.testing.assert_allclose(node.weight, (conv.weight.detach().double() * scale).numpy(), rtol=1e-6)
    np.testing.assert_allclose(
        node.bias, (norm.bias.double() - norm.running_mean.double() * s).detach().numpy(), rtol=1e-6
    )
    for name in ("stride", "padding", "dilation"):
        np.testing.assert_array_equal(np.atleast_1d(getattr(node, name)), np.atleast_1d(getattr(conv, name)), name)
    pool = nodes["3.pool"]
    if conv_type == "Conv2d":
        assert type(pool).__name__ == "AvgPool2d"
        for name, want in (("kernel_size", [2, 2]), ("stride", [2, 2]), ("padding", [0, 0])):
            np.testing.assert_array_equal(getattr(pool, name), want, name)
    else:
        assert type(pool).__name__ == "Conv1d"
        np.testing.assert_array_equal(pool.weight, np.eye(4)[:, :, None] * np.full((1, 1, 2), 0.5))
        np.testing.assert_array_equal(np.atleast_1d(pool.stride), [2])
    affine = nodes["5.synapse"]
    np.testing.assert_array_equal(affine.weight, linear.weight.detach().numpy())
    np.testing.assert_array_equal(affine.bias, linear.bias.detach().numpy())


def test_srm_is_expressed_in_nir_primitives() -> None:
    neuron = {"tau_s": 2.0, "tau_m": 4.0, "tau_r": 5.0, "theta": 0.7, "theta_r": 0.9}
    graph = to_nir(build_model("FC3-SRM-FC2", (4,), neuron=neuron))
    li_syn, li_mem, li_refr = (graph.nodes[f"1.{n}"] for n in ("syn", "mem", "refractory"))
    for node, tau in ((li_syn, 2.0), (li_mem, 4.0), (li_refr, 5.0)):
        a = np.exp(-1 / tau)
        # forward Euler with dt = 1: v[t] = (1 - 1/tau_nir) v[t-1] + (r / tau_nir) i[t] = a v[t-1] + i[t]
        np.testing.assert_allclose(1 - 1 / node.tau, a, rtol=1e-14)
        np.testing.assert_allclose(node.r / node.tau, 1.0, rtol=1e-14)
    np.testing.assert_array_equal(graph.nodes["1.fire"].threshold, np.full(3, 0.7))
    # BP-SRM.md section 2: R[t] = a_r R[t-1] + theta_r o[t-1], u[t] = V[t] - R[t]; spikes enter R scaled by theta_r
    np.testing.assert_array_equal(graph.nodes["1.reset"].scale, np.full(3, 0.9))
    np.testing.assert_array_equal(graph.nodes["1.subtract"].scale, np.full(3, -1.0))
    layer_edges = {(a, b) for a, b in graph.edges if a.startswith("1.") or b.startswith("1.")}
    assert layer_edges == {
        ("0.synapse", "1.syn"),
        ("1.syn", "1.mem"),
        ("1.mem", "1.fire"),
        ("1.fire", "1.reset"),
        ("1.reset", "1.refractory"),
        ("1.refractory", "1.subtract"),
        ("1.subtract", "1.fire"),
        ("1.fire", "2.synapse"),
    }


@pytest.mark.parametrize(
    ("spec", "time_steps", "fragment"),
    [
        ("4C3-SRM-MP2-FC2", 4, "layer 2 (MaxPool): NIR has no max pooling"),
        ("FC4-TCN-SRM-FC2", 4, "layer 1 (TemporalChannelNorm)"),
    ],
)
def test_what_nir_cannot_hold_is_refused_naming_the_layer(spec: str, time_steps: int, fragment: str) -> None:
    model = build_model(spec, (1, 6, 6) if "C3" in spec else (5,), time_steps=time_steps)
    if "TCN" in spec:
        with torch.no_grad():
            model.layers[1].weight[1].add_(0.5)  # the affine now differs between steps 0 and 1
    with pytest.raises(ExportError, match=re.escape(fragment)):
        to_nir(model)


def test_per_step_tcn_that_is_equal_over_steps_is_folded(tmp_path: Path) -> None:
    """A per-step TCN whose affine is the same at every step is one affine: folded into the synapse before it."""
    torch.manual_seed(3)
    model = build_model("FC4-TCN-SRM-FC2", (5,), time_steps=3)
    _randomise_norms(model, 7)
    linear, norm = model.layers[0].module, model.layers[1]
    with torch.no_grad():  # step 0's gamma and beta (not 1 and 0) repeated over the steps
        norm.weight.copy_(norm.weight[:1].expand_as(norm.weight).clone())
        norm.bias.copy_(norm.bias[:1].expand_as(norm.bias).clone())
    graph = to_nir(model)
    assert not any(name.startswith("1.") for name in graph.nodes)  # no node of its own for the norm
    s = norm.weight[0].double() / torch.sqrt(norm.running_var.double() + norm.eps)
    np.testing.assert_allclose(
        graph.nodes["0.synapse"].weight, (linear.weight.double() * s[:, None]).detach().numpy(), rtol=1e-12
    )
    b = -norm.running_mean.double() * s + norm.bias[0].double()
    np.testing.assert_allclose(graph.nodes["0.synapse"].bias, b.detach().numpy(), rtol=1e-12)
    x = (torch.rand(3, 6, 5) < 0.5).float() * 3.0
    _compare(model, _roundtrip(model, tmp_path), x)


def test_cli_export_of_a_trained_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    from bpsrm.cli import main
    from bpsrm.deploy.inference import load_trained

    config = tmp_path / "tiny.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "experiment": "nir",
                "data": {"name": "fashion-mnist-demo", "limit_train": 300, "limit_test": 50},
                "model": {"spec": "8C3-TCN-SRM-AP2-FC10", "time_steps": 3, "norm": {"step_affine": False}},
                "train": {"epochs": 1, "batch_size": 50},
                "log": {"progress": False},
            }
        )
    )
    run = tmp_path / "run"
    assert main(["train", str(config), "--out", str(run)]) == 0
    out = tmp_path / "exported.nir"
    assert main(["export", str(run / "best.pt"), "--format", "nir", "--out", str(out)]) == 0
    trained = load_trained(run / "best.pt")
    rebuilt = from_nir(nir.read(str(out)))
    x = trained.encode(torch.rand(4, 1, 28, 28))
    _compare(trained.model, rebuilt, x)

    # an existing file is replaced only when asked; the checkpoint itself is named as such
    written = out.read_bytes()
    checkpoint = (run / "best.pt").read_bytes()
    out.write_bytes(b"an earlier export")
    for target, what in ((out, "exists"), (run / "best.pt", "is the checkpoint read")):
        assert main(["export", str(run / "best.pt"), "--format", "nir", "--out", str(target)]) == 1
        err = capsys.readouterr().err
        assert f"{target}: {what}; export replaces a file only when asked" in err and "--overwrite" in err
    assert out.read_bytes() == b"an earlier export" and (run / "best.pt").read_bytes() == checkpoint
    with pytest.raises(RunFolderError, match="overwrite=True"):
        export_checkpoint(run / "best.pt", out)
    assert main(["export", str(run / "best.pt"), "--format", "nir", "--out", str(out), "--overwrite"]) == 0
    assert out.read_bytes() == written
    assert export_checkpoint(run / "best.pt", out, overwrite=True) == out and out.read_bytes() == written


def test_cli_export_errors_name_the_problem(tmp_path: Path, capsys) -> None:
    from bpsrm.cli import main

    assert main(["export", str(tmp_path / "missing.pt"), "--format", "nir", "--out", str(tmp_path / "x.nir")]) != 0
    assert "missing.pt" in capsys.readouterr().err


def test_fc_then_tcn_keeps_the_folded_shift_through_a_file(tmp_path: Path) -> None:
    """A linear layer before a norm has no bias; the fold gives it one, so it is written as an Affine."""
    torch.manual_seed(8)
    model = build_model("FC8-TCN-SRM-FC3", (6,), norm={"step_affine": False})
    _randomise_norms(model, 9)
    graph = to_nir(model)
    assert isinstance(graph.nodes["0.synapse"], nir.Affine)
    x = torch.rand(5, 4, 6) * 4.0
    _compare(model, _roundtrip(model, tmp_path), x)


@pytest.mark.parametrize("kernel", ["alpha", "dexp", "exp"])
def test_per_channel_time_constants_round_trip(tmp_path: Path, kernel: str) -> None:
    torch.manual_seed(10)
    model = build_model("4C3-SRM-AP2-FC3", (1, 8, 8), neuron={"kernel": kernel, "learn_tau": True, "per_channel": True})
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("_logit"):
                p.add_(torch.randn(p.shape) * 0.5)  # channels with different time constants
    x = torch.rand(5, 3, 1, 8, 8) * 3.0
    _compare(model, _roundtrip(model, tmp_path), x)


def _small_graph():
    """Input(4) -> Affine 3x4 -> SRM -> Affine 2x3 -> membrane readout -> Output, as to_nir writes it."""
    return to_nir(build_model("FC3-SRM-FC2", (4,), time_steps=2))


def test_a_graph_that_is_walked_as_it_was_written_still_reads_in_training_mode() -> None:
    """from_nir's probe of the layers left the network in eval mode (helper-52): a fresh network trains."""
    model = from_nir(_small_graph())
    assert model.training and all(m.training for m in model.modules())
    assert model.input_shape == (4,) and model(torch.rand(2, 1, 4)).shape == (1, 2)


def test_a_time_constant_of_nan_is_named_as_such() -> None:
    """A NaN LI tau was caught by the gain check, saying "r / (tau / dt) in [nan, nan]" (helper-52)."""
    graph = _small_graph()
    node = graph.nodes["1.mem"]
    graph.nodes["1.mem"] = nir.LI(tau=np.full_like(node.tau, np.nan), r=node.r, v_leak=node.v_leak)
    with pytest.raises(ExportError, match=r"node '1\.mem': tau holds 3 NaN or Inf value\(s\)"):
        from_nir(graph)


def test_nodes_off_the_path_are_refused() -> None:
    """A side branch was dropped without a word (helper-51)."""
    graph = _small_graph()
    graph.nodes["side"] = nir.Affine(weight=np.ones((3, 4)), bias=np.zeros(3))
    graph.edges.append(("side", "2.synapse"))
    with pytest.raises(ExportError, match=r"nodes \['side'\] are off the one path from Input to Output"):
        from_nir(graph)


def test_a_loop_outside_a_neuron_is_refused_not_walked_forever() -> None:
    graph = _small_graph()
    graph.edges = [
        (a, b) if (a, b) != ("2.synapse", "readout.syn") else ("2.synapse", "0.synapse") for a, b in graph.edges
    ]
    with pytest.raises(ExportError, match=r"node '0.synapse' is reached a second time"):
        from_nir(graph)


def test_layers_whose_shapes_do_not_meet_are_refused_when_read() -> None:
    """An Affine 2x5 after a layer of 3 neurons failed only at the first input, with torch's message; it is now
    refused as it is read, naming the node."""
    graph = _small_graph()
    graph.nodes["2.synapse"] = nir.Affine(weight=np.ones((2, 5)), bias=np.zeros(2))
    with pytest.raises(
        ExportError,
        match=r"node '2\.synapse' \(Affine\): its weight takes 5 inputs, the layers before it give shape \(3,\)",
    ):
        from_nir(graph)


@pytest.mark.parametrize(
    "field, value, fragment",
    [
        ("weight", np.full((3, 4), np.nan), "weight holds 12 NaN or Inf value(s)"),
        ("bias", np.array([0.0, np.inf, 0.0]), "bias holds 1 NaN or Inf value(s)"),
        ("bias", np.zeros(5), "bias has shape (5,), expected 1 dimension(s) of 3 entries"),
        ("weight", np.ones((3, 4, 1)), "weight has shape (3, 4, 1), expected 2 dimension(s)"),
    ],
)
def test_synapses_with_non_finite_or_misshapen_arrays_are_refused(field: str, value, fragment: str) -> None:
    graph = _small_graph()
    node = graph.nodes["0.synapse"]
    arrays = {"weight": np.asarray(node.weight), "bias": np.asarray(node.bias), field: value}
    graph.nodes["0.synapse"] = nir.Affine(**arrays)
    with pytest.raises(ExportError, match=re.escape(f"node '0.synapse' (Affine): {fragment}")):
        from_nir(graph)


@pytest.mark.parametrize("shape", [np.array([0]), np.array([1, 2, 3, 4]), np.array([2.5])])
def test_an_input_node_of_no_usable_shape_is_refused(shape) -> None:
    graph = _small_graph()
    graph.nodes["input"] = nir.Input(input_type={"input": shape})
    with pytest.raises(ExportError, match=r"node 'input' \(Input\): expected a shape \(N,\), \(C, L\) or \(C, H, W\)"):
        from_nir(graph)


def test_dt_takes_numpy_reals_and_refuses_huge_ints() -> None:
    model = build_model("FC3-SRM-FC2", (4,), time_steps=2)
    assert to_nir(model, dt=np.float32(0.5)).metadata["dt"] == 0.5
    with pytest.raises(ExportError, match="dt must be a finite number > 0"):
        to_nir(model, dt=10**400)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_per_channel_learnt_thresholds_round_trip(tmp_path: Path, reset: str) -> None:
    """A trained per-channel threshold was exported, and then refused by bpsrm's own from_nir ("a per-channel
    theta or theta_r is not rebuilt"); a fresh model passed only because its thresholds were still equal."""
    torch.manual_seed(11)
    neuron = {"learn_theta": True, "learn_tau": True, "per_channel": True, "reset": reset}
    model = build_model("4C3-SRM-AP2-FC3", (1, 8, 8), neuron=neuron)
    with torch.no_grad():
        first = next(m for m in model.modules() if isinstance(m, SRMNeuron))
        first.theta_raw.copy_(torch.tensor([-0.5, 0.2, 0.9, 1.6]))  # thresholds 0.47 to 1.78
    read = _roundtrip(model, tmp_path)
    rebuilt = next(m for m in read.modules() if isinstance(m, SRMNeuron))
    assert rebuilt.learn_theta and rebuilt.channels == 4 and rebuilt.tie_theta_r
    expected = torch.nn.functional.softplus(torch.tensor([-0.5, 0.2, 0.9, 1.6], dtype=torch.float64))
    torch.testing.assert_close(rebuilt.theta.double(), expected, rtol=1e-6, atol=0)
    _compare(model, read, torch.rand(5, 3, 1, 8, 8) * 3.0)


def test_a_per_channel_theta_r_apart_from_the_threshold_is_refused() -> None:
    model = build_model("FC3-SRM-FC2", (4,), time_steps=2)
    graph = to_nir(model)
    reset = next(name for name, node in graph.nodes.items() if isinstance(node, nir.Scale) and np.all(node.scale > 0))
    graph.nodes[reset] = nir.Scale(scale=np.array([0.5, 1.0, 2.0]))
    with pytest.raises(ExportError, match="a per-channel theta_r other than the threshold is not rebuilt by from_nir"):
        from_nir(graph)
