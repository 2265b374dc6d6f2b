"""Tests of the spec parser and the model builder (bpsrm.network.models)."""

from __future__ import annotations

import math
import re

import pytest
import torch
from torch import nn

import bpsrm
from bpsrm.errors import BpsrmError, ParameterError, ShapeError, SpecError
from bpsrm.network.layers import MembraneReadout, SpikeCountReadout, TimeFolded
from bpsrm.network.models import SpikingNetwork, build_model, parse_spec, replace_norm
from bpsrm.network.norm import BNTT, NORMS, TEBN, FoldedBatchNorm, TdBN, TemporalChannelNorm
from bpsrm.network.pooling import MaxPool
from bpsrm.neuron import SRMNeuron

EXAMPLE = "32C3-TCN-SRM-MP2-64C3-TCN-SRM-MP2-FC128-SRM-FC10"


def inner(model: SpikingNetwork, cls: type) -> list[nn.Module]:
    """The modules of type ``cls`` in the model, in order (TimeFolded unwrapped)."""
    return [m for m in model.modules() if isinstance(m, cls)]


# ---------------------------------------------------------------------------------------------
# parse_spec
# ---------------------------------------------------------------------------------------------
def test_parse_example_spec() -> None:
    tokens = parse_spec(EXAMPLE)
    assert [t.kind for t in tokens] == [
        "conv", "norm", "srm", "maxpool", "conv", "norm", "srm", "maxpool", "fc", "srm", "fc",
    ]  # fmt: skip
    assert tokens[0].args == (32, 3)
    assert tokens[4].args == (64, 3)
    assert tokens[3].args == (2,)
    assert tokens[8].args == (128,)
    assert tokens[10].args == (10,)
    assert [t.text for t in tokens] == EXAMPLE.split("-")


def test_parse_is_case_insensitive_and_strips() -> None:
    tokens = parse_spec(" 8c5-tcn-srm-ap2-fc3 ")
    assert [t.kind for t in tokens] == ["conv", "norm", "srm", "avgpool", "fc"]
    assert tokens[0].args == (8, 5)


def test_replace_norm_changes_every_norm_token_in_any_case() -> None:
    """By hand: the lower-case spec a user may write gets the same ablations as the upper-case one (the
    ablation script once compared tokens case-sensitively and would have trained the base as "norm-none")."""
    spec = "32c3-tcn-srm-MP2-64C3-TCNT-SRM-fc10"
    assert replace_norm(spec, None) == "32C3-SRM-MP2-64C3-SRM-FC10"
    assert replace_norm(spec, "bntt") == "32C3-BNTT-SRM-MP2-64C3-BNTT-SRM-FC10"
    assert replace_norm("FC16-SRM-FC10", "BN") == "FC16-SRM-FC10"  # nothing to replace
    with pytest.raises(SpecError, match="'SRM' is not a norm token"):
        replace_norm(spec, "SRM")
    with pytest.raises(SpecError, match="must follow a synapse"):
        replace_norm("TCN-FC10", None)


# ---------------------------------------------------------------------------------------------
# build_model: structure and shapes
# ---------------------------------------------------------------------------------------------
def test_example_spec_structure_and_logits() -> None:
    torch.manual_seed(0)
    model = build_model(EXAMPLE, (1, 28, 28), time_steps=3)
    assert isinstance(model, SpikingNetwork)
    assert isinstance(model, bpsrm.SpikingNetwork)

    convs = inner(model, nn.Conv2d)
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [(1, 32, (3, 3)), (32, 64, (3, 3))]
    assert not inner(model, nn.Conv1d)
    linears = inner(model, nn.Linear)
    # 28 -> MP2 -> 14 -> MP2 -> 7: 64 * 7 * 7 = 3136 features
    assert [(lin.in_features, lin.out_features) for lin in linears] == [(64 * 7 * 7, 128), (128, 10)]
    norms = inner(model, TemporalChannelNorm)
    assert [n.num_channels for n in norms] == [32, 64]
    assert all(n.time_steps == 3 and n.stats == "channel" and n.weight.shape == (3, n.num_channels) for n in norms)
    assert len(inner(model, SRMNeuron)) == 3
    assert [(p.kernel_size, p.dims) for p in inner(model, MaxPool)] == [(2, 2), (2, 2)]
    assert isinstance(model.readout, MembraneReadout)
    # synapses run time-folded
    for m in convs + linears:
        assert any(isinstance(w, TimeFolded) and w.module is m for w in model.modules())

    x = (torch.rand(3, 2, 1, 28, 28) < 0.3).float()
    logits = model(x)
    assert logits.shape == (2, 10)
    assert torch.isfinite(logits).all()
    out = model.run(x)
    torch.testing.assert_close(out.logits, logits)
    assert [tuple(s.shape) for s in out.spikes] == [(3, 2, 32, 28, 28), (3, 2, 64, 14, 14), (3, 2, 128)]
    for s in out.spikes:
        assert set(s.unique().tolist()) <= {0.0, 1.0}


def test_one_dimensional_spec_uses_conv1d() -> None:
    torch.manual_seed(1)
    model = build_model("8C5-TCN-SRM-AP2-16C3-SRM-MP2-FC10", (2, 64), time_steps=4)
    convs = inner(model, nn.Conv1d)
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [(2, 8, (5,)), (8, 16, (3,))]
    assert not inner(model, nn.Conv2d)
    assert len(inner(model, nn.AvgPool1d)) == 1
    assert [(p.kernel_size, p.dims) for p in inner(model, MaxPool)] == [(2, 1)]
    assert [(lin.in_features, lin.out_features) for lin in inner(model, nn.Linear)] == [(16 * 16, 10)]
    out = model.run(torch.rand(4, 3, 2, 64))
    assert out.logits.shape == (3, 10)
    assert [tuple(s.shape) for s in out.spikes] == [(4, 3, 8, 64), (4, 3, 16, 32)]


def test_flat_input_spec() -> None:
    model = build_model("FC20-SRM-FC5", (30,))
    assert [(lin.in_features, lin.out_features) for lin in inner(model, nn.Linear)] == [(30, 20), (20, 5)]
    assert model(torch.rand(3, 4, 30)).shape == (4, 5)


def test_even_kernel_shapes_are_tracked() -> None:
    """'same' padding k // 2 with an even k grows the map by one; the builder must follow."""
    model = build_model("4C2-SRM-MP2-FC3", (1, 7, 7))
    # 7 + 2 * 1 - 2 + 1 = 8 -> MP2 -> 4: 4 * 4 * 4 = 64
    assert [lin.in_features for lin in inner(model, nn.Linear)] == [64]
    assert model(torch.rand(2, 2, 1, 7, 7)).shape == (2, 3)


def test_pooling_floors() -> None:
    model = build_model("4C3-SRM-MP2-FC3", (1, 7, 7))
    assert [lin.in_features for lin in inner(model, nn.Linear)] == [4 * 3 * 3]
    assert model(torch.rand(2, 2, 1, 7, 7)).shape == (2, 3)


def test_spec_ending_in_srm_reads_spike_count() -> None:
    torch.manual_seed(2)
    model = build_model("FC16-SRM-FC5-SRM", (12,))
    assert isinstance(model.readout, SpikeCountReadout)
    x = torch.rand(6, 3, 12) * 2
    out = model.run(x)
    assert out.logits.shape == (3, 5)
    last = out.spikes[-1]
    assert last.shape == (6, 3, 5)
    expected = torch.zeros(3, 5)
    for t in range(6):
        expected = expected + last[t]
    torch.testing.assert_close(out.logits, expected)


def test_spec_ending_in_fc_reads_membrane() -> None:
    """'FC4' alone: logits = mean over t of the PSP of W x[t] + b (hand-written filter)."""
    torch.manual_seed(3)
    model = build_model("FC4", (6,), neuron={"tau_s": 1.5, "tau_m": 5.0}, readout_reduce="last").double()
    assert isinstance(model.readout, MembraneReadout)
    (lin,) = inner(model, nn.Linear)
    x = torch.randn(5, 2, 6, dtype=torch.float64)
    a_s, a_m = math.exp(-1 / 1.5), math.exp(-1 / 5.0)
    current = torch.zeros(2, 4, dtype=torch.float64)
    potential = torch.zeros(2, 4, dtype=torch.float64)
    for t in range(5):
        current = a_s * current + (x[t] @ lin.weight.T + lin.bias)
        potential = a_m * potential + current
    torch.testing.assert_close(model(x), potential)


@pytest.mark.parametrize("reduce", ["mean", "max", "last"])
def test_readout_reduce_is_passed(reduce: str) -> None:
    model = build_model("FC4", (6,), readout_reduce=reduce, neuron={"kernel": "alpha", "tau_m": 3.0})
    assert model.readout.reduce == reduce
    assert model.readout.kernel == "alpha"
    assert model.readout.tau_m == 3.0


def test_hand_lif_network() -> None:
    """'FC5-BN-SRM-FC3' with the exp kernel against a hand computation of every layer."""
    torch.manual_seed(4)
    model = build_model("FC5-BN-SRM-FC3", (4,), neuron={"kernel": "exp", "tau_m": 2.0, "tau_r": 2.0}).double()
    lin1, lin2 = inner(model, nn.Linear)
    assert lin1.bias is None  # a norm follows: its beta replaces the bias
    (bn,) = inner(model, FoldedBatchNorm)
    x = torch.randn(6, 8, 4, dtype=torch.float64)
    z = torch.stack([x[t] @ lin1.weight.T for t in range(6)])  # [T, B, 5]
    mean = z.mean(dim=(0, 1))
    var = ((z - mean) ** 2).mean(dim=(0, 1))
    zn = (z - mean) / torch.sqrt(var + bn.eps)
    a = math.exp(-1 / 2.0)
    u = torch.zeros(8, 5, dtype=torch.float64)
    o = torch.zeros(8, 5, dtype=torch.float64)
    current = torch.zeros(8, 3, dtype=torch.float64)  # exp kernel: a_s = 0, I = x
    potential = torch.zeros(8, 3, dtype=torch.float64)
    total = torch.zeros(8, 3, dtype=torch.float64)
    for t in range(6):
        u = a * u + zn[t] - o
        o = (u >= 1.0).to(torch.float64)
        current = o @ lin2.weight.T + lin2.bias
        potential = a * potential + current
        total = total + potential
    torch.testing.assert_close(model(x), total / 6)


# ---------------------------------------------------------------------------------------------
# neuron and norm options
# ---------------------------------------------------------------------------------------------
def test_per_channel_neuron_has_per_channel_taus() -> None:
    model = build_model(
        "6C3-TCN-SRM-FC7-SRM-FC2",
        (2, 5, 5),
        time_steps=2,
        neuron={"per_channel": True, "learn_tau": True, "learn_theta": True},
    )
    first, second = inner(model, SRMNeuron)
    assert first.channels == 6 and second.channels == 7
    for neuron, channels in ((first, 6), (second, 7)):
        for name in ("tau_s", "tau_m", "tau_r"):
            assert tuple(getattr(neuron, f"{name}_logit").shape) == (channels,)
            assert tuple(neuron.tau(name).shape) == (channels,)
        assert tuple(neuron.theta.shape) == (channels,)
        torch.testing.assert_close(neuron.tau("tau_m").detach(), torch.full((channels,), 4.0))
    assert model(torch.rand(2, 3, 2, 5, 5)).shape == (3, 2)


def test_per_channel_without_learning_keeps_buffers() -> None:
    model = build_model("3C3-SRM-FC2", (1, 4, 4), neuron={"per_channel": True, "tau_m": 6.0})
    (neuron,) = inner(model, SRMNeuron)
    assert neuron.channels == 3
    assert not list(neuron.parameters())
    # fixed values may be kept as one shared scalar ([]) or per channel ([C]); either way every channel has 6.0
    decay = neuron.decay("tau_m").detach().double()
    assert decay.dim() in (0, 1)
    torch.testing.assert_close(decay.expand(3), torch.full((3,), math.exp(-1 / 6.0), dtype=torch.float64))
    assert model(torch.rand(2, 2, 1, 4, 4)).shape == (2, 2)


def test_shared_neuron_by_default() -> None:
    model = build_model("3C3-SRM-FC2", (1, 4, 4), neuron={"learn_tau": True})
    (neuron,) = inner(model, SRMNeuron)
    assert neuron.channels is None
    assert tuple(neuron.tau_m_logit.shape) == ()


def test_neuron_options_are_passed() -> None:
    model = build_model(
        "FC3-SRM-FC2", (4,), neuron={"tau_s": 1.5, "tau_m": 6.0, "theta": 0.7, "kernel": "dexp", "detach_reset": True}
    )
    (neuron,) = inner(model, SRMNeuron)
    assert float(neuron.decay("tau_s")) == pytest.approx(math.exp(-1 / 1.5), rel=1e-6)
    assert float(neuron.decay("tau_m")) == pytest.approx(math.exp(-1 / 6.0), rel=1e-6)
    assert float(neuron.theta) == pytest.approx(0.7, rel=1e-6)
    assert neuron.detach_reset


@pytest.mark.parametrize("norm_token", ["BNTT", "TEBN"])
def test_per_step_norms_need_time_steps(norm_token: str) -> None:
    spec = f"8C3-{norm_token}-SRM-FC10"
    with pytest.raises(SpecError) as info:
        build_model(spec, (1, 8, 8))
    assert norm_token in str(info.value)
    assert "time_steps" in str(info.value)
    model = build_model(spec, (1, 8, 8), time_steps=4)
    (layer,) = inner(model, BNTT if norm_token == "BNTT" else TEBN)
    assert layer.time_steps == 4 and layer.num_channels == 8
    assert model(torch.rand(4, 2, 1, 8, 8)).shape == (2, 10)
    with pytest.raises(ShapeError, match="T = 5"):
        model(torch.rand(5, 2, 1, 8, 8))


def test_norm_tokens_and_options() -> None:
    model = build_model(
        "4C3-TCN-SRM-4C3-TCNT-SRM-4C3-BN-SRM-4C3-TDBN-SRM-FC3",
        (1, 4, 4),
        time_steps=3,
        neuron={"theta": 0.5},
        norm={"scale_by_threshold": True, "alpha": 3.0, "eps": 1e-3, "momentum": 0.2},
    )
    tcn, tcnt = inner(model, TemporalChannelNorm)
    assert tcn.stats == "channel" and tuple(tcn.weight.shape) == (3, 4)
    assert tcnt.stats == "time_channel" and tuple(tcnt.running_mean.shape) == (3, 4)
    # scale_by_threshold: gamma = alpha * theta = 3.0 * 0.5 (tdBN always starts there)
    torch.testing.assert_close(tcn.weight.detach(), torch.full((3, 4), 1.5))
    (tdbn,) = inner(model, TdBN)
    torch.testing.assert_close(tdbn.weight.detach(), torch.full((4,), 1.5))
    bns = [m for m in inner(model, FoldedBatchNorm) if type(m) is FoldedBatchNorm]
    assert len(bns) == 1
    for layer in (tcn, tcnt, bns[0], tdbn):
        assert layer.eps == 1e-3 and layer.momentum == 0.2
    assert model(torch.rand(3, 2, 1, 4, 4)).shape == (2, 3)

    model = build_model("4C3-TCN-SRM-FC3", (1, 4, 4), norm={"stats": "time_channel"}, time_steps=2)
    (tcn,) = inner(model, TemporalChannelNorm)
    assert tcn.stats == "time_channel"


def test_tcn_without_time_steps_is_refused() -> None:
    """Without T, TCN's per-(t, c) affine was silently one affine per channel: folded BatchNorm under TCN's name
    (a TCN-against-BN ablation would have compared BN with BN)."""
    with pytest.raises(SpecError, match=re.escape("build_model needs time_steps=T, or norm={'step_affine': False}")):
        build_model("4C3-TCN-SRM-FC3", (1, 4, 4))
    (tcn,) = inner(build_model("4C3-TCN-SRM-FC3", (1, 4, 4), time_steps=3), TemporalChannelNorm)
    assert tuple(tcn.weight.shape) == (3, 4)


def test_tcn_with_one_affine_per_channel_runs_at_any_t() -> None:
    model = build_model("4C3-TCN-SRM-FC3", (1, 4, 4), norm={"step_affine": False})
    (tcn,) = inner(model, TemporalChannelNorm)
    assert tcn.time_steps is None and tuple(tcn.weight.shape) == (4,)
    for steps in (1, 2, 5):
        assert model(torch.rand(steps, 2, 1, 4, 4)).shape == (2, 3)


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "input_shape", "fragment"),
    [
        ("32X3-SRM-FC10", (1, 28, 28), "'32X3'"),
        ("32C3-SRM-32X3-FC10", (1, 28, 28), "'32X3'"),
        ("TCN-FC10", (1, 28, 28), "'TCN'"),
        ("FC10-SRM-TCN-FC2", (4,), "'TCN'"),
        ("32C3-SRM-MP2", (1, 28, 28), "'MP2'"),
        ("32C3-SRM-FC10-AP2", (1, 28, 28), "'AP2'"),
        ("SRM-FC10", (4,), "token 1 'SRM'"),
        ("FC10-SRM-SRM-FC2", (4,), "token 3 'SRM'"),
        ("0C3-SRM-FC10", (1, 8, 8), "'0C3'"),
        ("FC0", (4,), "'FC0'"),
        ("8C3-SRM-FC10", (784,), "'8C3'"),
        ("FC10-8C3-SRM-FC2", (1, 8, 8), "'8C3'"),
        ("FC10-SRM-MP2-FC2", (4,), "'MP2'"),
        ("8C3-SRM-MP64-FC10", (1, 28, 28), "'MP64'"),
        ("8C3-SRM-MP2-8C3-SRM-AP8-FC10", (1, 12, 12), "'AP8'"),
        ("", (4,), "''"),
        ("   ", (4,), "'   '"),
        ("FC10--FC2", (4,), "''"),
    ],
)
def test_bad_specs(spec: str, input_shape: tuple[int, ...], fragment: str) -> None:
    with pytest.raises(SpecError) as info:
        build_model(spec, input_shape)
    assert fragment in str(info.value)
    assert isinstance(info.value, BpsrmError)


def test_parse_spec_rejects_non_string() -> None:
    with pytest.raises(SpecError, match="None"):
        parse_spec(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad_shape",
    [(3, 2, 1, 28, 27), (3, 2, 2, 28, 28), (2, 1, 28, 28), (3, 2, 1, 28, 28, 1)],
)
def test_wrong_input_shape(bad_shape: tuple[int, ...]) -> None:
    model = build_model("4C3-SRM-MP2-FC10", (1, 28, 28))
    with pytest.raises(ShapeError) as info:
        model(torch.rand(bad_shape))
    assert str(bad_shape) in str(info.value)
    assert "1, 28, 28" in str(info.value)
    assert isinstance(info.value, BpsrmError)


@pytest.mark.parametrize("input_shape", [(), (1, 2, 3, 4), (0, 5), (2, -1)])
def test_bad_input_shape_for_build(input_shape: tuple[int, ...]) -> None:
    with pytest.raises(ShapeError, match="input_shape"):
        build_model("FC3", input_shape)


def test_unknown_neuron_option() -> None:
    with pytest.raises(ParameterError) as info:
        build_model("FC3-SRM-FC2", (4,), neuron={"tau": 2.0})
    assert "'tau'" in str(info.value)
    assert isinstance(info.value, BpsrmError)


def test_unknown_norm_option() -> None:
    with pytest.raises(ParameterError, match="'affine'"):
        build_model("FC3-TCN-SRM-FC2", (4,), norm={"affine": False})


def test_bad_neuron_value() -> None:
    with pytest.raises(ParameterError, match="'lif'"):
        build_model("FC3-SRM-FC2", (4,), neuron={"kernel": "lif"})


# ---------------------------------------------------------------------------------------------
# gradients
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "input_shape", "time_steps", "extra_neuron"),
    [
        (EXAMPLE, (1, 28, 28), 2, {}),
        ("6C3-TCN-SRM-AP2-6C3-TCNT-SRM-FC8-TEBN-SRM-FC3", (1, 8, 8), 3, {"per_channel": True}),
        ("6C3-BNTT-SRM-MP2-6C3-TDBN-SRM-FC5-BN-SRM-FC4-SRM", (1, 8, 8), 3, {}),
        ("4C5-TCN-SRM-MP2-FC6-SRM-FC3", (2, 16), 3, {"kernel": "alpha", "per_channel": True}),
        ("FC12-TCN-SRM-FC3", (10,), 3, {"kernel": "exp"}),
    ],
)
def test_gradients_reach_every_parameter(spec, input_shape, time_steps, extra_neuron) -> None:
    torch.manual_seed(5)
    neuron = {"learn_tau": True, "learn_theta": True, **extra_neuron}
    model = build_model(spec, input_shape, time_steps=time_steps, neuron=neuron)
    steps = time_steps or 2
    x = (torch.rand((steps, 2, *input_shape)) < 0.5).float()
    logits = model(x)
    target = torch.tensor([0, 1])
    loss = nn.functional.cross_entropy(logits, target)
    loss.backward()
    params = list(model.named_parameters())
    assert params
    # learnable taus and thresholds exist in every neuron
    for neuron_module in inner(model, SRMNeuron):
        assert neuron_module.learn_theta and neuron_module.learned_taus
    for name, param in params:
        assert param.requires_grad
        assert param.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(param.grad).all(), f"{name} has a non-finite gradient"
    assert sum(float(p.grad.abs().sum()) for _, p in params) > 0


@pytest.mark.parametrize("name", sorted(NORMS))
def test_every_registered_norm_is_a_spec_token(name: str) -> None:
    """Each norm of the registry builds from its token and trains: adding a norm is one registry entry."""
    model = build_model(f"4C3-{name.upper()}-SRM-FC2", (1, 4, 4), time_steps=3)
    (norm,) = [m for m in model.modules() if isinstance(m, tuple(NORMS.values()))]
    assert type(norm) is NORMS[name]
    x = torch.randn(3, 5, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    model(x).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in norm.parameters())


# parse_spec strips and upper-cases every token, so " TCN " and "tcn" are the norm TCN; the builder must build
# the norm that parse_spec read.
@pytest.mark.parametrize(
    ("token", "cls"),
    [
        ("tcn", TemporalChannelNorm),
        ("bn", FoldedBatchNorm),
        ("tdbn", TdBN),
        ("bntt", BNTT),
        (" TCN", TemporalChannelNorm),
        ("TCN ", TemporalChannelNorm),
        (" BN ", FoldedBatchNorm),
        (" tdbn", TdBN),
        ("BNTT ", BNTT),
    ],
)
def test_norm_token_builds_the_parsed_norm(token: str, cls: type) -> None:
    spec = f"4C3-{token}-SRM-FC2"
    (parsed,) = [t for t in parse_spec(spec) if t.kind == "norm"]
    assert parsed.args == (token.strip().upper(),)
    model = build_model(spec, (1, 4, 4), time_steps=3)
    norms = [m for m in model.modules() if isinstance(m, tuple(NORMS.values()))]
    assert len(norms) == 1
    assert type(norms[0]) is cls


@pytest.mark.parametrize(
    ("spec", "outputs"),
    [("32C3-SRM-FC10", 10), ("FC16-SRM-FC10-SRM", 10), ("8c3-tcn-srm-mp2-fc128-srm-fc9", 9), ("FC4", 4)],
)
def test_the_outputs_of_a_spec_are_its_last_fc_layers(spec: str, outputs: int) -> None:
    from bpsrm.network.models import spec_outputs

    assert spec_outputs(spec) == outputs
    model = build_model(spec, (16,) if spec.startswith("FC") else (1, 8, 8), time_steps=2)  # what it gives
    x = torch.zeros(2, 3, 16) if spec.startswith("FC") else torch.zeros(2, 3, 1, 8, 8)
    assert model(x).shape == (3, outputs)


def test_a_spec_without_an_fc_layer_has_no_class_outputs() -> None:
    """8C3-SRM parses and builds, but has no FC layer: spec_outputs raised a bare StopIteration (a traceback)."""
    from bpsrm.network.models import spec_outputs

    with pytest.raises(SpecError, match=r"'8C3-SRM' has no FC layer, so no class outputs; end it with FCn"):
        spec_outputs("8C3-SRM")


def test_a_convolution_kernel_larger_than_its_feature_map_is_refused() -> None:
    """16C99999 on a 2,048-sample window was accepted and trained for minutes a step (helper-50): with padding k // 2
    its outer taps only ever meet zeros. A kernel as wide as the map is still a layer."""
    with pytest.raises(
        SpecError, match=r"token 1 '16C99999': a 99999-wide kernel on a feature map of shape \(1, 2048\)"
    ):
        build_model("16C99999-SRM-FC10", input_shape=(1, 2048), time_steps=2)
    with pytest.raises(SpecError, match=r"token 4 '8C9': a 9-wide kernel on a feature map of shape \(4, 7, 7\)"):
        build_model("4C3-SRM-MP2-8C9-SRM-FC10", input_shape=(1, 14, 14), time_steps=2)
    assert build_model("4C3-SRM-MP2-8C7-SRM-FC10", input_shape=(1, 14, 14), time_steps=2) is not None


@pytest.mark.parametrize("input_shape", ["28", (2.9, 8.9), (True, 8), (1, 28.0, 28), None, 28])
def test_input_shapes_that_are_not_whole_sizes_are_refused(input_shape: object) -> None:
    """helper-51: "28" was read digit by digit as (2, 8), (2.9, 8.9) was cut to (2, 8) and True read as 1, silently."""
    with pytest.raises(ShapeError, match=r"input_shape must be \(N,\), \(C, L\) or \(C, H, W\) with whole sizes >= 1"):
        build_model("FC3", input_shape)  # type: ignore[arg-type]


def test_numpy_integer_input_shapes_are_whole_sizes() -> None:
    np = pytest.importorskip("numpy")
    assert build_model("FC3", (np.int64(1), np.int32(4))).input_shape == (1, 4)
    assert build_model("FC3", np.array([1, 4])).input_shape == (1, 4)  # arrays too (helper-52)
    assert build_model("FC3", torch.tensor([16])).input_shape == (16,)
    with pytest.raises(ShapeError, match=r"got \(1\.0, 4\.0\)"):
        build_model("FC3", np.array([1.0, 4.0]))


def test_an_input_of_another_dtype_than_the_weights_is_refused() -> None:
    """A float64 input met float32 weights deep inside a convolution with torch's own message (helper-51)."""
    model = build_model("4C3-SRM-FC3", (1, 6, 6), time_steps=2)
    with pytest.raises(ShapeError, match=r"expects input of its weights' dtype, torch.float32, got torch.float64"):
        model(torch.rand(2, 1, 1, 6, 6, dtype=torch.float64))
    assert model.double()(torch.rand(2, 1, 1, 6, 6, dtype=torch.float64)).dtype == torch.float64


def test_a_non_finite_training_input_is_refused_and_the_norm_statistics_kept() -> None:
    """In training the TCN's running statistics took the NaN batch in before the neuron refused it; every later
    evaluation then failed. The norm now refuses the batch and puts its statistics back."""
    from bpsrm.errors import NonFiniteError

    torch.manual_seed(0)
    model = build_model("4C3-TCN-SRM-FC3", (1, 6, 6), time_steps=2)
    norm = next(m for m in model.modules() if isinstance(m, TemporalChannelNorm))
    model.train()
    model(torch.rand(2, 3, 1, 6, 6))
    before = (norm.running_mean.clone(), norm.running_var.clone(), int(norm.num_batches_tracked))
    bad = torch.rand(2, 3, 1, 6, 6)
    bad[0, 1, 0, 2, 2] = float("nan")
    # by hand: the 3x3 convolution spreads the NaN at (2, 2) to 9 places in each of 4 channels, of 2*3*4*6*6 values
    with pytest.raises(NonFiniteError, match=r"TemporalChannelNorm: its input holds 36 NaN or Inf value\(s\) of 864"):
        model(bad)
    assert torch.equal(norm.running_mean, before[0]) and torch.equal(norm.running_var, before[1])
    assert int(norm.num_batches_tracked) == before[2]
    model.eval()
    assert torch.isfinite(model(torch.rand(2, 3, 1, 6, 6))).all()


def test_an_input_of_a_lower_precision_is_welcome_under_autocast() -> None:
    """The dtype check refused a bfloat16 input under torch.autocast, where the layers take it (helper-52)."""
    model = build_model("FC8-SRM-FC4", (16,), time_steps=2)
    x = torch.rand(2, 3, 16, dtype=torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert model(x).shape == (3, 4)
    with pytest.raises(ShapeError, match=r"expects input of its weights' dtype, torch\.float32, got torch\.bfloat16"):
        model(x)


def test_norm_options_that_are_no_mapping_are_refused() -> None:
    with pytest.raises(ParameterError, match="build_model: norm must be a mapping of norm options, got list"):
        build_model("FC3", (4,), norm=[("eps", 1e-3)])  # type: ignore[arg-type]


@pytest.mark.parametrize("given", ["exp", ["kernel"], 3])
def test_neuron_settings_that_are_no_mapping_are_refused(given) -> None:
    """neuron="exp" ended in dict()'s "dictionary update sequence element #0 has length 1; 2 is required"."""
    with pytest.raises(ParameterError, match=r"build_model: neuron must be a mapping of SRMParams keys"):
        build_model("FC4-SRM-FC2", (3,), neuron=given)


def test_a_norm_option_that_no_norm_of_the_spec_reads_is_refused() -> None:
    """stats='time_channel' with BN layers only built folded BatchNorm with channel statistics, without a word."""
    expected = (
        "build_model: norm option stats='time_channel' has no effect on '4C3-BN-SRM-FC3': none of its norms (BN) "
        "reads it; stats is read by TCN"
    )
    with pytest.raises(ParameterError, match=re.escape(expected)):
        build_model("4C3-BN-SRM-FC3", (1, 6, 6), norm={"stats": "time_channel"})
    with pytest.raises(ParameterError, match=re.escape("alpha=2.0 has no effect on 'FC3-SRM-FC2': it has no norm")):
        build_model("FC3-SRM-FC2", (4,), norm={"alpha": 2.0})
    with pytest.raises(ParameterError, match=re.escape("alpha is read by TCN, TDBN")):
        build_model("FC3-BNTT-SRM-FC2", (4,), time_steps=2, norm={"alpha": 2.0})
    # a default value, as every config writes them all, and an option some norm of the spec reads: accepted
    defaults = {"stats": "channel", "step_affine": True, "scale_by_threshold": False, "alpha": 1.0}
    build_model("4C3-BN-SRM-FC3", (1, 6, 6), norm={**defaults, "eps": 1e-3, "momentum": 0.2})
    (tdbn,) = inner(build_model("FC3-TDBN-SRM-FC2", (4,), norm={"alpha": 0.5}), TdBN)
    torch.testing.assert_close(tdbn.weight.detach(), torch.full((3,), 0.5))


@pytest.mark.parametrize("reduce", ["max", "last"])
def test_a_readout_reduction_that_a_spike_count_readout_does_not_read_is_refused(reduce: str) -> None:
    """model.readout=last on a spec ending in SRM trained with the spike count all the same, and the run folder
    recorded "last" (helper-89). By hand: the count of 0/1 spikes over T steps is what every reduction would have
    to be replaced by, so the setting is refused, and a membrane readout (a spec ending in FCn) takes it."""
    expected = f"readout_reduce='{reduce}' (model.readout in a config) has no effect on 'FC3-SRM-FC2-SRM'"
    with pytest.raises(ParameterError, match=re.escape(expected)):
        build_model("FC3-SRM-FC2-SRM", (4,), readout_reduce=reduce)
    build_model("FC3-SRM-FC2-SRM", (4,), readout_reduce=reduce, check_norm_options=False)  # an older checkpoint's
    x = torch.rand(5, 2, 4)  # [T, B, N]
    membrane = build_model("FC3-SRM-FC2", (4,), readout_reduce=reduce)
    assert membrane(x).shape == (2, 2)


def test_the_norm_option_defaults_are_the_configs() -> None:
    from dataclasses import asdict

    from bpsrm.engine.config import NormConfig
    from bpsrm.network.norm import NORM_OPTION_DEFAULTS

    assert asdict(NormConfig()) == NORM_OPTION_DEFAULTS
