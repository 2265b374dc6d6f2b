"""bpsrm.engine.energy: synaptic operations and energy counted by hand on tiny layers and networks.

SOP = one accumulate per spike and per target it reaches; MAC = numel(output) * fan_in; energy =
MAC * 4.6 pJ + SOP * 0.9 pJ (Horowitz, ISSCC 2014, 45 nm, 32-bit float).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from bpsrm.engine.energy import E_AC_PJ, E_MAC_PJ, OperationCounter
from bpsrm.engine.evaluation import evaluate_model
from bpsrm.network.encoding import get_encoder
from bpsrm.network.models import build_model


def _count(model: nn.Module, *inputs: torch.Tensor) -> OperationCounter:
    with OperationCounter(model) as counter, torch.no_grad():
        for x in inputs:
            model(x)
    return counter


def test_the_constants_are_horowitz_45nm() -> None:
    assert (E_MAC_PJ, E_AC_PJ) == (4.6, 0.9)


def test_linear_on_spikes_one_accumulate_per_spike_and_target() -> None:
    spikes = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 1.0, 1.0]])  # 5 spikes, each reaching 3 outputs
    counter = _count(nn.Linear(4, 3), spikes)
    assert (counter.sops, counter.macs) == (15.0, 0.0)


def test_linear_on_analogue_input_one_mac_per_output_and_input() -> None:
    x = torch.tensor([[0.5, 0.0, 1.0, 0.0], [0.0, 1.0, 1.0, 2.0]])  # a 2 makes it analogue
    counter = _count(nn.Linear(4, 3), x)
    assert (counter.macs, counter.sops) == (2 * 3 * 4, 0.0)


def test_silent_spike_input_costs_nothing() -> None:
    counter = _count(nn.Linear(4, 3), torch.zeros(5, 4))
    assert (counter.macs, counter.sops) == (0.0, 0.0)


def test_conv2d_on_spikes_in_the_interior() -> None:
    """3 x 3 kernel, stride 1, 'same' padding: an interior spike reaches 9 positions of each of 5 channels."""
    spikes = torch.zeros(2, 2, 6, 6)
    spikes[0, 0, 2, 3] = spikes[0, 1, 1, 1] = spikes[1, 1, 4, 2] = 1.0
    counter = _count(nn.Conv2d(2, 5, 3, padding=1), spikes)
    assert (counter.sops, counter.macs) == (3 * 9 * 5, 0.0)


def test_strided_conv2d_on_spikes() -> None:
    """Kernel 2 = stride 2: every pixel lies in exactly one window, so a spike reaches 1 position x 4 channels."""
    spikes = torch.zeros(1, 2, 4, 4)
    spikes[0, 0, 0, :] = 1.0  # 4 spikes
    spikes[0, 1, 3, 1:4] = 1.0  # 3 spikes
    counter = _count(nn.Conv2d(2, 4, 2, stride=2), spikes)
    assert (counter.sops, counter.macs) == (7 * 4, 0.0)


def test_conv2d_on_analogue_input() -> None:
    x = torch.full((2, 2, 5, 5), 0.5)
    counter = _count(nn.Conv2d(2, 3, 3, padding=1), x)
    assert (counter.macs, counter.sops) == (2 * 3 * 5 * 5 * (2 * 3 * 3), 0.0)  # 150 outputs x 18 inputs


def test_grouped_conv1d_on_analogue_input() -> None:
    """groups = 2: each output sees in_channels / 2 = 2 channels x 3 taps."""
    x = torch.full((1, 4, 10), 0.3)
    counter = _count(nn.Conv1d(4, 6, 3, groups=2), x)
    assert (counter.macs, counter.sops) == ((6 * 8) * (2 * 3), 0.0)


def test_grouped_conv_on_spikes_counts_the_targets_a_spike_reaches() -> None:
    """Conv1d(4, 6, 3, groups=2): an input channel feeds 3 output channels; an interior spike reaches 3 x 3."""
    spikes = torch.zeros(1, 4, 10)
    spikes[0, 0, 4] = spikes[0, 3, 6] = 1.0
    counter = _count(nn.Conv1d(4, 6, 3, padding=1, groups=2), spikes)
    assert counter.sops == 2 * 3 * 3


def test_a_tiny_network_by_hand() -> None:
    """Linear(3, 4) on analogue input, a step at 0.6, Linear(4, 2) on its spikes; 2 samples.

    hidden = x W1^T = [x0, x1, x2, x0 + x1 + x2]:
    sample 0 [0.2, 0.5, 0.9] -> [0.2, 0.5, 0.9, 1.6] -> spikes [0, 0, 1, 1]
    sample 1 [1.5, -0.3, 0.0] -> [1.5, -0.3, 0.0, 1.2] -> spikes [1, 0, 0, 1]
    MACs = 2 samples x 4 outputs x 3 inputs = 24; SOPs = 4 spikes x 2 targets = 8;
    energy = 24 x 4.6 + 8 x 0.9 = 117.6 pJ, per sample 58.8 pJ = 5.88e-5 uJ.
    """

    class Step(nn.Module):
        def forward(self, x):
            return (x >= 0.6).to(x.dtype)

    first = nn.Linear(3, 4, bias=False)
    with torch.no_grad():
        first.weight.copy_(torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]]))
    model = nn.Sequential(first, Step(), nn.Linear(4, 2))
    x = torch.tensor([[0.2, 0.5, 0.9], [1.5, -0.3, 0.0]])
    with OperationCounter(model) as counter, torch.no_grad():
        model(x)
        counter.samples += 2
    result = counter.per_sample()
    assert result["macs_per_sample"] == 12.0 and result["synaptic_ops_per_sample"] == 4.0
    assert result["energy_per_sample_uj"] == pytest.approx(58.8e-6, rel=1e-12)
    assert result["energy_constants"] == {"E_MAC_pJ": 4.6, "E_AC_pJ": 0.9, "source": "Horowitz, ISSCC 2014, 45 nm"}


def test_per_sample_without_samples_gives_the_totals() -> None:
    counter = OperationCounter(nn.Linear(1, 1), macs=10.0, sops=100.0)
    assert counter.per_sample()["energy_per_sample_uj"] == pytest.approx((10 * 4.6 + 100 * 0.9) * 1e-6, rel=1e-12)
    counter.samples = 4
    result = counter.per_sample()
    assert (result["macs_per_sample"], result["synaptic_ops_per_sample"]) == (2.5, 25.0)
    assert result["energy_per_sample_uj"] == pytest.approx((2.5 * 4.6 + 25 * 0.9) * 1e-6, rel=1e-12)


def test_counting_stops_when_the_block_ends() -> None:
    layer = nn.Linear(4, 3)
    with OperationCounter(layer) as counter:
        layer(torch.ones(1, 4))
    assert counter.sops == 12.0 and not layer._forward_hooks
    layer(torch.ones(1, 4))
    assert counter.sops == 12.0


def test_other_layers_are_not_counted() -> None:
    model = nn.Sequential(nn.Conv3d(1, 2, 1), nn.Flatten(), nn.ReLU())
    counter = _count(model, torch.full((1, 1, 2, 2, 2), 0.5))
    assert (counter.macs, counter.sops) == (0.0, 0.0)


def test_spiking_network_evaluated_with_operation_counts() -> None:
    """FC4-SRM-FC2, T = 2, direct encoding, 3 samples in batches of 2 and 1.

    First layer: analogue input, 4 x 3 = 12 MACs per sample: direct encoding repeats one input at every
    step (an expanded view), so the time-folded layer runs once and is counted once. Its weights make
    neurons 0 and 2 see 5 x (a value >= 1.2) and fire at both steps (u[1] = c (1 + a_s + a_m) - theta_r
    >= 1 for c >= 6), neurons 1 and 3 see a negative current and never fire: 4 spikes per sample, each
    reaching 2 outputs.
    SOPs = 8 per sample; energy = (12 x 4.6 + 8 x 0.9) pJ = 62.4 pJ = 6.24e-5 uJ per sample.
    """
    model = build_model("FC4-SRM-FC2", (3,), time_steps=2)
    with torch.no_grad():
        first = next(m for m in model.modules() if isinstance(m, nn.Linear))
        first.weight.copy_(torch.tensor([[5.0, 0, 0], [-5.0, 0, 0], [0, 5.0, 0], [0, 0, -5.0]]))
        first.bias.zero_()
    x = torch.tensor([[1.5, 1.2, 0.7], [2.0, 1.3, 1.1], [1.25, 3.0, 0.2]])
    dataset = TensorDataset(x, torch.tensor([0, 1, 0]))
    result = evaluate_model(model, dataset, get_encoder("direct", 2), 2, batch_size=2, count_operations=True)
    assert result["samples"] == 3
    assert result["firing_rates"] == pytest.approx([0.5])  # 2 of 4 neurons at every step
    assert result["macs_per_sample"] == 12.0 and result["synaptic_ops_per_sample"] == 8.0
    assert result["energy_per_sample_uj"] == pytest.approx(62.4e-6, rel=1e-12)
