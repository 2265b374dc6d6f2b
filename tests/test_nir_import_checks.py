"""from_nir on graphs of other tools: string padding, groups, non-finite neuron values, time constants in seconds,
and graphs whose nodes do not fit together (built with type_check=False, where nir would refuse them), which were
read silently or failed with a misleading message."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bpsrm import build_model
from bpsrm.deploy.export import ExportError, from_nir, to_nir
from bpsrm.neuron import SRMNeuron

nir = pytest.importorskip("nir", reason="the nir extra is not installed")


def _lif(shape, tau: float = 4.0, threshold: float = 1.0, dt: float = 1.0):
    """A LIF as snnTorch writes it: r = tau / dt (the input enters unscaled), v_leak = v_reset = 0."""
    return nir.LIF(
        tau=np.full(shape, tau),
        r=np.full(shape, tau / dt),
        v_leak=np.zeros(shape),
        v_threshold=np.full(shape, threshold),
        v_reset=np.zeros(shape),
    )


def _chain(*named, metadata=None):
    """A graph of the nodes in order, one edge from each to the next, without nir's type check."""
    names = [name for name, _ in named]
    return nir.NIRGraph(
        nodes=dict(named), edges=list(itertools.pairwise(names)), metadata=metadata or {}, type_check=False
    )


def _conv_graph(conv, in_shape):
    return _chain(("input", nir.Input(np.array(in_shape))), ("conv", conv), ("output", nir.Output(np.array([1]))))


def _error(graph, **kwargs) -> str:
    with pytest.raises(ExportError) as info:
        from_nir(graph, **kwargs)
    return str(info.value)


# ------------------------------------------------------------------------- padding and groups ----
@pytest.mark.parametrize(
    ("kernel", "dilation"),
    [((3,), (1,)), ((5,), (1,)), ((3, 5), (1, 1)), ((3, 4), (1, 2)), ((1, 3), (3, 2))],
)
def test_padding_same_gives_torch_s_same_convolution(kernel, dilation, tmp_path: Path) -> None:
    """padding="same" failed with "invalid literal for int()"; it now reads as torch's padding="same" (the
    reference: torch.nn.functional.conv with padding="same"), through a file as well."""
    g = torch.Generator().manual_seed(len(kernel) * 10 + kernel[-1])
    two_d = len(kernel) == 2
    weight = torch.randn((4, 2, *kernel), generator=g, dtype=torch.float64)
    bias = torch.randn(4, generator=g, dtype=torch.float64)
    spatial = (7, 9) if two_d else (11,)
    node_type = nir.Conv2d if two_d else nir.Conv1d
    conv = node_type(
        spatial if two_d else spatial[0],
        weight.numpy(),
        1,
        "same",
        dilation if two_d else dilation[0],
        1,
        bias.numpy(),
    )
    path = tmp_path / "same.nir"
    nir.write(str(path), _conv_graph(conv, (2, *spatial)))
    model = from_nir(nir.read(str(path), type_check=False))
    x = torch.randn((3, 2, *spatial), generator=g, dtype=torch.float64)
    reference = (F.conv2d if two_d else F.conv1d)(x, weight, bias, padding="same", dilation=dilation)
    with torch.no_grad():
        got = model.layers[0](x.float()[None])[0]
    assert got.shape == reference.shape == (3, 4, *spatial)
    torch.testing.assert_close(got.double(), reference, rtol=1e-5, atol=1e-5)


def test_padding_valid_is_no_padding() -> None:
    g = torch.Generator().manual_seed(2)
    weight, bias = torch.randn((4, 2, 3, 3), generator=g), torch.randn(4, generator=g)
    model = from_nir(_conv_graph(nir.Conv2d((6, 6), weight.numpy(), 1, "valid", 1, 1, bias.numpy()), (2, 6, 6)))
    x = torch.randn((3, 2, 6, 6), generator=g)
    with torch.no_grad():
        got = model.layers[0](x[None])[0]
    torch.testing.assert_close(got, F.conv2d(x, weight, bias, padding=0))  # 4 x 4 maps


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "fragment"),
    [
        (4, 1, "same", "padding 'same' with kernel (4,) and dilation (1,) needs (3,) zeros per dimension"),
        (3, 2, "same", "padding 'same' with stride (2,): 'same' is defined for stride 1 only"),
        (3, 1, "full", "padding 'full' is none of 'same', 'valid' or whole numbers"),
        (3, 1, 1.5, "padding must be a whole number in [0, 2**31), got 1.5"),
        (3, 1, -1, "padding must be a whole number in [0, 2**31), got -1"),
    ],
)
def test_padding_bpsrm_cannot_read_exactly_is_refused(kernel: int, stride: int, padding, fragment: str) -> None:
    """'same' with an even kernel pads one more zero after than before in torch, an asymmetry NIR does not state
    and bpsrm's symmetric padding cannot hold; a strided 'same' is undefined in torch."""
    conv = nir.Conv1d(10, np.ones((4, 2, kernel)), stride, 0, 1, 1, np.zeros(4))
    conv.padding = padding  # nir itself refuses strings other than 'same' and 'valid' when the node is built
    message = _error(_conv_graph(conv, (2, 10)))
    assert message.startswith("node 'conv' (Conv1d): ") and fragment in message, message


def test_a_grouped_convolution_gives_torch_s_grouped_convolution() -> None:
    g = torch.Generator().manual_seed(4)
    weight, bias = torch.randn((4, 3, 3, 3), generator=g), torch.randn(4, generator=g)
    model = from_nir(_conv_graph(nir.Conv2d(None, weight.numpy(), 1, 1, 1, 2, bias.numpy()), (6, 5, 5)))
    x = torch.randn((2, 6, 5, 5), generator=g)
    with torch.no_grad():
        got = model.layers[0](x[None])[0]
    torch.testing.assert_close(got, F.conv2d(x, weight, bias, padding=1, groups=2))


@pytest.mark.parametrize(
    ("groups", "in_channels", "fragment"),
    [
        (0, 6, "groups must be a whole number in [1, 2**31), got 0"),
        (3, 6, "groups=3 does not divide its 4 output channels"),
        (
            2,
            5,
            "its weight takes 4 input channels (2 per group, 2 group(s)), the layers before it give shape (5, 6, 6)",
        ),
    ],
)
def test_groups_that_do_not_fit_are_refused_naming_the_node(groups: int, in_channels: int, fragment: str) -> None:
    """groups=0 or groups not dividing the channels raised torch's ValueError."""
    conv = nir.Conv2d(None, np.ones((4, 2, 3, 3)), 1, 1, 1, groups, np.zeros(4))
    message = _error(_conv_graph(conv, (in_channels, 6, 6)))
    assert message == f"node 'conv' (Conv2d): {fragment}", message


# ---------------------------------------------------------------------------- non-finite values ----
def _srm_graph():
    """Input(4) -> Affine 8x4 -> subtractive-reset SRM -> Affine 2x8 -> membrane readout, as to_nir writes it."""
    return to_nir(build_model("FC8-SRM-FC2", (4,), time_steps=2))


def _lif_graph(lif, outputs: int = 3, metadata=None):
    affine = nir.Affine(weight=np.ones((outputs, 4)), bias=np.zeros(outputs))
    return _chain(
        ("input", nir.Input(np.array([4]))),
        ("affine", affine),
        ("lif", lif),
        ("output", nir.Output(np.array([outputs]))),
        metadata=metadata,
    )


def _with(array, index, value):
    array = np.array(array, dtype=np.float64)
    array[index] = value
    return array


@pytest.mark.parametrize("where", [slice(None), 1])
def test_non_finite_thresholds_and_refractory_scales_are_named_as_such(where) -> None:
    """A NaN threshold (all entries or one), or a NaN refractory scale, was reported as "theta varies inside a
    channel"; it gets the NaN message of tau, r and the weights."""
    count = 3 if where == slice(None) else 1
    lif = _lif(3)
    lif.v_threshold = _with(lif.v_threshold, where, np.nan)
    assert _error(_lif_graph(lif)) == f"node 'lif' (LIF): v_threshold holds {count} NaN or Inf value(s)"
    count = 8 if where == slice(None) else 1
    graph = _srm_graph()
    graph.nodes["1.fire"] = nir.Threshold(_with(graph.nodes["1.fire"].threshold, where, np.nan))
    assert _error(graph) == f"node '1.fire': threshold holds {count} NaN or Inf value(s)"
    graph = _srm_graph()
    graph.nodes["1.reset"] = nir.Scale(_with(graph.nodes["1.reset"].scale, where, np.inf))
    assert _error(graph) == f"node '1.reset': scale holds {count} NaN or Inf value(s)"


# -------------------------------------------------------------------------- time constants in s ----
def test_time_constants_in_seconds_read_with_the_dt_keyword() -> None:
    """A LIF written for dt = 1 ms (tau = 0.01 s, a decay of 1 - 0.001 / 0.01 = 0.9) and no metadata["dt"] failed
    with "tau must be > dt = 1"; the message now says how to give the step, and with dt=1e-3 the layer spikes as
    by hand: input 0.5 a step, V = 0.5, 0.95, 1.355 (spike, reset to 0), 0.5, 0.95, 1.355 (spike)."""
    graph = _lif_graph(_lif(1, tau=0.01, dt=1e-3), outputs=1)
    graph.nodes["affine"] = nir.Affine(weight=np.array([[0.5, 0.0, 0.0, 0.0]]), bias=np.zeros(1))
    message = _error(graph)
    assert "tau must be > dt = 1 for a decay in (0, 1), got min 0.01" in message
    assert "from_nir(graph, dt=1e-3), or set graph.metadata['dt']" in message
    model = from_nir(graph, dt=1e-3).eval()
    neuron = next(m for m in model.modules() if isinstance(m, SRMNeuron))
    assert neuron.reset == "zero" and neuron.kernel == "exp"
    torch.testing.assert_close(neuron.decay("tau_m").double(), torch.tensor(0.9, dtype=torch.float64))
    x = torch.zeros(6, 1, 4)
    x[..., 0] = 1.0
    with torch.no_grad():
        spikes = model.run(x).spikes[0][:, 0, 0]
    assert spikes.tolist() == [0.0, 0.0, 1.0, 0.0, 0.0, 1.0]


def test_a_dt_keyword_against_the_graph_s_own_dt_is_refused() -> None:
    graph = _lif_graph(_lif(3, tau=0.01, dt=1e-3), metadata={"dt": 1e-3})
    assert isinstance(from_nir(graph, dt=1e-3), torch.nn.Module)  # the same step: read
    assert isinstance(from_nir(graph), torch.nn.Module)  # the graph's own
    message = _error(graph, dt=1e-4)
    assert message.startswith("from_nir was given dt=0.0001, but the graph's metadata['dt'] = 0.001"), message
    for bad in (0.0, float("nan"), "1e-3", True):
        with pytest.raises(ExportError, match=re.escape("dt must be a finite number > 0")):
            from_nir(graph, dt=bad)


# ---------------------------------------------------------------------- inconsistent graphs ----
def test_a_neuron_of_another_size_than_its_layer_is_refused() -> None:
    """A LIF of 3 after an Affine of 10 outputs, or a Threshold of 3 in a layer of 8, were read as one value for
    the whole layer."""
    message = _error(_lif_graph(_lif(3), outputs=10))
    assert re.fullmatch(r"node 'lif' \(LIF\): \w+ has shape \(3,\), the layer's neurons have shape \(10,\).*", message)
    graph = _srm_graph()
    graph.nodes["1.fire"] = nir.Threshold(np.ones(3))
    assert _error(graph).startswith("node '1.fire': threshold has shape (3,), the layer's neurons have shape (8,)")


def test_one_value_or_one_per_channel_is_read_over_the_layer() -> None:
    """What broadcasts to the layer's neurons is read: one threshold, or (C, 1, 1) per channel after a conv."""
    lif = _lif((4, 1, 1))
    lif.v_threshold = np.array([0.5, 1.0, 1.5, 2.0]).reshape(4, 1, 1)
    conv = nir.Conv2d(None, np.ones((4, 1, 3, 3)), 1, 1, 1, 1, np.zeros(4))
    graph = _chain(
        ("input", nir.Input(np.array([1, 5, 5]))), ("conv", conv), ("lif", lif), ("output", nir.Output(np.array([1])))
    )
    neuron = next(m for m in from_nir(graph).modules() if isinstance(m, SRMNeuron))
    assert neuron.channels == 4
    torch.testing.assert_close(neuron.theta.double(), torch.tensor([0.5, 1.0, 1.5, 2.0], dtype=torch.float64))
    torch.testing.assert_close(neuron.decay("tau_m").double(), torch.tensor(0.75, dtype=torch.float64))


def test_one_value_per_channel_as_a_vector_is_read_per_channel() -> None:
    """(C,) on a (C, H, W) layer is one value per channel, as earlier versions read it (NumPy's rule would align it
    with W); thresholds 0.5 .. 2.0 for channels 0 .. 3 (a 5 x 6 map: W != C)."""
    lif = _lif(1)
    lif.v_threshold = np.array([0.5, 1.0, 1.5, 2.0])
    lif.tau, lif.r = np.full(4, 4.0), np.full(4, 4.0)
    conv = nir.Conv2d(None, np.ones((4, 1, 3, 3)), 1, 1, 1, 1, np.zeros(4))
    graph = _chain(
        ("input", nir.Input(np.array([1, 5, 6]))), ("conv", conv), ("lif", lif), ("output", nir.Output(np.array([1])))
    )
    neuron = next(m for m in from_nir(graph).modules() if isinstance(m, SRMNeuron))
    torch.testing.assert_close(neuron.theta.double(), torch.tensor([0.5, 1.0, 1.5, 2.0], dtype=torch.float64))
    lif.v_threshold = np.array([0.5, 1.0, 1.5])  # 3 values for 4 channels
    assert "give one value, one per channel as (4,) or (4, 1, 1), or one per neuron" in _error(graph)


def _flatten_graph(start_dim: int, end_dim: int, outputs_in: int):
    return _chain(
        ("input", nir.Input(np.array([2, 4, 4]))),
        ("flat", nir.Flatten(None, start_dim=start_dim, end_dim=end_dim)),
        ("affine", nir.Affine(weight=np.ones((3, outputs_in)), bias=np.zeros(3))),
        ("lif", _lif(3)),
        ("output", nir.Output(np.array([3]))),
    )


def test_a_flatten_that_keeps_dimensions_apart_is_refused() -> None:
    """Flatten(start_dim=1) on (2, 4, 4) is (2, 16) in NIR (no batch dimension); bpsrm flattened all 32 values."""
    message = _error(_flatten_graph(1, -1, 32))
    assert message.startswith("node 'flat' (Flatten): start_dim=1, end_dim=-1 turn its input of shape (2, 4, 4) into")
    assert "(2, 16)" in message and "bpsrm flattens a whole sample only (start_dim=0, end_dim=-1)" in message
    assert "name no dimensions" in _error(_flatten_graph(2, 1, 32))


def test_a_whole_flatten_is_read_as_a_reshape() -> None:
    model = from_nir(_flatten_graph(0, -1, 32))
    x = torch.arange(2 * 32, dtype=torch.float32).reshape(1, 2, 2, 4, 4)
    with torch.no_grad():
        assert torch.equal(model.layers[0](x), x.reshape(1, 2, 32))


def test_a_synapse_on_the_wrong_kind_of_input_is_refused() -> None:
    """An Affine reads a vector (torch's Linear would run on the last dimension of a map), a Conv2d a (C, H, W)
    map (torch's Conv2d reads (C, L) samples as one unbatched image)."""
    message = _error(_flatten_graph(1, 1, 4))  # a Flatten of one dimension changes nothing: the Affine sees a map
    assert message == (
        "node 'affine' (Affine): its weight takes 4 inputs, the layers before it give shape (2, 4, 4) (a Flatten node "
        "goes between a map and an Affine or Linear)"
    )
    conv = nir.Conv2d(None, np.ones((4, 2, 3, 3)), 1, 1, 1, 1, np.zeros(4))
    message = _error(_conv_graph(conv, (2, 10)))
    assert message == "node 'conv' (Conv2d): reads a map of shape (C, H, W), the layers before it give shape (2, 10)"


def test_a_graph_without_layers_is_refused() -> None:
    """Input -> Output was read as a network of no layers."""
    graph = _chain(("input", nir.Input(np.array([4]))), ("output", nir.Output(np.array([4]))))
    assert _error(graph).startswith("the graph has no layer (synapse, pooling or neuron) on its path from Input")
