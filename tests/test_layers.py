"""Tests of the time-first building blocks against per-step loops and a hand-written PSP filter."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from bpsrm.errors import BpsrmError, ParameterError, ShapeError
from bpsrm.network.layers import MembraneReadout, SpikeCountReadout, SpikingBlock, TimeFolded
from bpsrm.network.norm import FoldedBatchNorm
from bpsrm.neuron import SRMNeuron


def per_step(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """y[t] = module(x[t]) for each t, stacked."""
    return torch.stack([module(x[t]) for t in range(x.shape[0])])


def hand_psp(x: torch.Tensor, tau_s: float, tau_m: float, kernel: str) -> torch.Tensor:
    """I[t] = a_s I[t-1] + x[t], V[t] = a_m V[t-1] + I[t] (BP-SRM.md section 2), a = exp(-1/tau)."""
    a_m = math.exp(-1.0 / tau_m)
    a_s = {"dexp": math.exp(-1.0 / tau_s), "alpha": a_m, "exp": 0.0}[kernel]
    current = torch.zeros_like(x[0])
    potential = torch.zeros_like(x[0])
    out = []
    for t in range(x.shape[0]):
        current = a_s * current + x[t]
        potential = a_m * potential + current
        out.append(potential)
    return torch.stack(out)


def hand_reduce(v: torch.Tensor, reduce: str) -> torch.Tensor:
    if reduce == "mean":
        return sum(v[t] for t in range(v.shape[0])) / v.shape[0]
    if reduce == "max":
        best = v[0]
        for t in range(1, v.shape[0]):
            best = torch.maximum(best, v[t])
        return best
    return v[v.shape[0] - 1]


# ---------------------------------------------------------------------------------------------
# TimeFolded
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("make", "shape"),
    [
        (lambda: nn.Linear(6, 4), (5, 3, 6)),
        (lambda: nn.Conv1d(2, 3, 3, padding=1), (4, 2, 2, 7)),
        (lambda: nn.Conv2d(2, 3, 3, padding=1), (3, 2, 2, 5, 6)),
        (lambda: nn.MaxPool2d(2), (3, 2, 2, 4, 6)),
        (lambda: nn.AvgPool1d(2), (3, 2, 2, 8)),
        (lambda: nn.Flatten(), (3, 2, 2, 3, 4)),
    ],
    ids=["linear", "conv1d", "conv2d", "maxpool2d", "avgpool1d", "flatten"],
)
def test_time_folded_equals_per_step_loop(make, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    module = make().double()
    folded = TimeFolded(module)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    y = folded(x)
    expected = per_step(module, x)
    assert y.shape == expected.shape
    assert y.shape[:2] == shape[:2]
    torch.testing.assert_close(y, expected, rtol=1e-12, atol=1e-12)
    # gradients too
    w = torch.randn(y.shape, dtype=torch.float64)
    (g1,) = torch.autograd.grad((y * w).sum(), x)
    (g2,) = torch.autograd.grad((per_step(module, x) * w).sum(), x)
    torch.testing.assert_close(g1, g2, rtol=1e-12, atol=1e-12)


def test_time_folded_keeps_time_and_batch_apart() -> None:
    """A module that mixes samples would reveal a wrong fold; a Linear must not: check y[t, b] exactly."""
    torch.manual_seed(1)
    lin = nn.Linear(3, 2).double()
    folded = TimeFolded(lin)
    x = torch.randn(4, 5, 3, dtype=torch.float64)
    y = folded(x)
    for t in range(4):
        for b in range(5):
            torch.testing.assert_close(y[t, b], lin.weight @ x[t, b] + lin.bias)


@pytest.mark.parametrize("bad", [torch.randn(5), torch.tensor(1.0)])
def test_time_folded_rejects_short_input(bad: torch.Tensor) -> None:
    layer = TimeFolded(nn.Identity())
    with pytest.raises(ShapeError, match=r"Identity") as info:
        layer(bad)
    assert str(tuple(bad.shape)) in str(info.value)
    assert isinstance(info.value, BpsrmError)


def test_time_folded_rejects_non_tensor() -> None:
    with pytest.raises(ShapeError, match="list"):
        TimeFolded(nn.Identity())([1.0, 2.0])


# ---------------------------------------------------------------------------------------------
# SpikeCountReadout
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(6, 3, 4), (1, 2, 5), (4, 2, 3, 2)])
def test_spike_count_equals_sum_over_time(shape: tuple[int, ...]) -> None:
    torch.manual_seed(2)
    spikes = (torch.rand(shape, dtype=torch.float64) < 0.4).to(torch.float64)
    out = SpikeCountReadout()(spikes)
    expected = torch.zeros(shape[1:], dtype=torch.float64)
    for t in range(shape[0]):
        expected = expected + spikes[t]
    assert out.shape == shape[1:]
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("shape", [(5,), (4, 3)])
def test_spike_count_rejects_short_input(shape: tuple[int, ...]) -> None:
    with pytest.raises(ShapeError, match="SpikeCountReadout") as info:
        SpikeCountReadout()(torch.zeros(shape))
    assert str(shape) in str(info.value)


# ---------------------------------------------------------------------------------------------
# MembraneReadout
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("reduce", ["mean", "max", "last"])
@pytest.mark.parametrize(
    ("tau_s", "tau_m", "kernel"),
    [(2.0, 4.0, "dexp"), (1.5, 7.0, "dexp"), (1.5, 3.0, "alpha"), (9.0, 5.0, "exp")],  # alpha: tau_s unused
)
def test_membrane_readout_equals_hand_psp(tau_s: float, tau_m: float, kernel: str, reduce: str) -> None:
    torch.manual_seed(3)
    x = torch.randn(7, 3, 5, dtype=torch.float64, requires_grad=True)
    readout = MembraneReadout(tau_s=tau_s, tau_m=tau_m, kernel=kernel, reduce=reduce)
    out = readout(x)
    expected = hand_reduce(hand_psp(x, tau_s, tau_m, kernel), reduce)
    assert out.shape == (3, 5)
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-12)
    w = torch.randn(3, 5, dtype=torch.float64)
    (g_out,) = torch.autograd.grad((out * w).sum(), x)
    (g_ref,) = torch.autograd.grad((expected * w).sum(), x)
    torch.testing.assert_close(g_out, g_ref, rtol=1e-10, atol=1e-12)


def test_membrane_readout_default_is_dexp_2_4_mean() -> None:
    torch.manual_seed(4)
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    torch.testing.assert_close(MembraneReadout()(x), hand_reduce(hand_psp(x, 2.0, 4.0, "dexp"), "mean"))


def test_membrane_readout_impulse_response() -> None:
    """An impulse at t = 0 gives eps[n] = (a_m^(n+1) - a_s^(n+1)) / (a_m - a_s) (section 1)."""
    steps = 6
    x = torch.zeros(steps, 1, 1, dtype=torch.float64)
    x[0] = 1.0
    a_s, a_m = math.exp(-1 / 2.0), math.exp(-1 / 4.0)
    eps = [(a_m ** (n + 1) - a_s ** (n + 1)) / (a_m - a_s) for n in range(steps)]
    out = MembraneReadout(reduce="last")(x)
    assert float(out) == pytest.approx(eps[-1], rel=1e-12)
    out = MembraneReadout(reduce="mean")(x)
    assert float(out) == pytest.approx(sum(eps) / steps, rel=1e-12)


def test_membrane_readout_gradcheck() -> None:
    torch.manual_seed(5)
    x = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)
    for reduce in ("mean", "last"):
        assert torch.autograd.gradcheck(MembraneReadout(reduce=reduce), (x,))


@pytest.mark.parametrize("reduce", ["sum", "Mean", "", "avg"])
def test_membrane_readout_bad_reduce(reduce: str) -> None:
    with pytest.raises(ParameterError) as info:
        MembraneReadout(reduce=reduce)
    assert repr(reduce) in str(info.value)
    assert isinstance(info.value, BpsrmError)


@pytest.mark.parametrize("shape", [(5,), (4, 3)])
def test_membrane_readout_bad_shape(shape: tuple[int, ...]) -> None:
    with pytest.raises(ShapeError, match="MembraneReadout") as info:
        MembraneReadout()(torch.zeros(shape))
    assert str(shape) in str(info.value)


def test_membrane_readout_bad_kernel() -> None:
    with pytest.raises(BpsrmError, match="'foo'"):
        MembraneReadout(kernel="foo")(torch.zeros(3, 2, 2))


# ---------------------------------------------------------------------------------------------
# SpikingBlock
# ---------------------------------------------------------------------------------------------
def test_spiking_block_is_synapse_norm_neuron() -> None:
    """o = neuron(norm(synapse(x))): check against a Linear per step, folded BatchNorm1d and a hand LIF loop."""
    torch.manual_seed(6)
    lin = nn.Linear(4, 3).double()
    block = SpikingBlock(lin, FoldedBatchNorm(3).double(), SRMNeuron(tau_m=3.0, tau_r=3.0, kernel="exp", theta=0.5))
    x = torch.randn(6, 5, 4, dtype=torch.float64)
    spikes = block(x)

    z = per_step(lin, x)
    bn = nn.BatchNorm1d(3).double()
    zn = bn(z.reshape(30, 3)).reshape(6, 5, 3)
    # exp kernel, tau_r = tau_m, theta_r = theta: u[t] = a u[t-1] + x[t] - theta o[t-1] (section 2)
    a = math.exp(-1 / 3.0)
    u = torch.zeros(5, 3, dtype=torch.float64)
    o = torch.zeros(5, 3, dtype=torch.float64)
    expected = []
    for t in range(6):
        u = a * u + zn[t] - 0.5 * o
        o = (u >= 0.5).to(torch.float64)
        expected.append(o)
    torch.testing.assert_close(spikes, torch.stack(expected))
    assert 0 < float(spikes.detach().sum()) < spikes.numel()


def test_spiking_block_without_norm() -> None:
    torch.manual_seed(7)
    lin = nn.Linear(4, 3).double()
    block = SpikingBlock(lin, None, SRMNeuron(kernel="exp", tau_m=2.0, tau_r=2.0))
    assert isinstance(block.norm, nn.Identity)
    x = torch.randn(5, 2, 4, dtype=torch.float64) * 3
    z = per_step(lin, x)
    a = math.exp(-1 / 2.0)
    u = torch.zeros(2, 3, dtype=torch.float64)
    o = torch.zeros(2, 3, dtype=torch.float64)
    expected = []
    for t in range(5):
        u = a * u + z[t] - 1.0 * o
        o = (u >= 1.0).to(torch.float64)
        expected.append(o)
    torch.testing.assert_close(block(x), torch.stack(expected))


def test_time_folded_runs_a_repeated_input_once() -> None:
    """Direct encoding expands one input over T: the module runs once, the result is the same."""
    from bpsrm.network.encoding import direct

    calls = []
    conv = torch.nn.Conv2d(1, 3, 3, padding=1).double()
    conv.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    x = torch.rand(5, 1, 6, 6, dtype=torch.float64)
    folded = TimeFolded(conv)
    fast = folded(direct(x, 4))
    slow = folded(direct(x, 4).contiguous())
    assert calls == [5, 20]
    torch.testing.assert_close(fast, slow, rtol=1e-12, atol=1e-12)


def test_time_folded_runs_dropout_on_every_step_of_a_repeated_input() -> None:
    """Dropout after direct encoding drew one mask for all T steps when the repeated input ran once; the
    docstring's y[t, b] = module(x[t, b]) means a mask per step, as for the same input copied."""
    from bpsrm.network.encoding import direct

    torch.manual_seed(0)
    repeated = direct(torch.ones(2, 50), 4)
    assert repeated.stride(0) == 0
    y = TimeFolded(torch.nn.Dropout(0.5))(repeated)
    assert y.shape == (4, 2, 50)
    assert not torch.equal(y[0], y[1]) and not torch.equal(y[1], y[2])
    assert 0.3 < (y == 0).double().mean().item() < 0.7
    sequence = TimeFolded(torch.nn.Sequential(torch.nn.Linear(50, 3), torch.nn.Dropout(0.5)))
    assert sequence(repeated).stride(0) != 0  # one random member: all T steps run
    plain = TimeFolded(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(50, 3)))
    assert plain(repeated).stride(0) == 0  # per-sample members only: it still runs once


def test_a_readout_state_dict_refuses_other_settings_in_words() -> None:
    """The alpha kernel has no tau_s: the message printed the record's placeholder, "tau_s=-1" (helper-63)."""
    with pytest.raises(RuntimeError) as caught:
        MembraneReadout(kernel="alpha").load_state_dict(MembraneReadout().state_dict())
    assert (
        "saved from MembraneReadout(kernel='dexp', tau_s=2); this one is MembraneReadout(kernel='alpha', tau_s unused)"
    ) in str(caught.value)
    MembraneReadout(kernel="alpha", tau_s=7.0).load_state_dict(MembraneReadout(kernel="alpha").state_dict())
