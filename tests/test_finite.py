"""NaN and Inf in a neuron's input: a clear error naming the first bad element by default, in every backend,
for every kernel; check_finite=False lets them through to the outputs unchanged."""

from __future__ import annotations

import math

import pytest
import torch

from bpsrm import SRMNeuron
from bpsrm.errors import NonFiniteError
from bpsrm.neuron.functional import BACKENDS, srm, srm_reference
from bpsrm.neuron.params import KERNELS

BAD = (math.nan, math.inf, -math.inf)
CONCRETE = [b for b in BACKENDS if b != "auto"]


def _input(dtype: torch.dtype, shape=(6, 3, 5), seed: int = 0) -> torch.Tensor:
    return torch.rand(shape, dtype=dtype, generator=torch.Generator().manual_seed(seed)) + 0.2


@pytest.mark.parametrize("backend", CONCRETE)
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bad", BAD)
def test_a_non_finite_input_is_refused_naming_its_first_element(backend, kernel, dtype, bad) -> None:
    x = _input(dtype)
    x[4, 1, 2] = bad  # a late step: the check of the final state must still see it
    x[5, 2, 0] = bad
    for requires_grad in (False, True):
        with pytest.raises(NonFiniteError) as error:
            srm(x.clone().requires_grad_(requires_grad), kernel=kernel, backend=backend)
        message = str(error.value)
        assert "holds 2 NaN or Inf value(s), the first x[4, 1, 2]" in message
        assert "check_finite=False" in message


@pytest.mark.parametrize("backend", CONCRETE)
@pytest.mark.parametrize("bad", BAD)
def test_at_every_step_and_position_the_check_sees_it(backend, bad) -> None:
    """One bad value at each (t, neuron) of a small input, parameters per neuron (the kernel's general path)."""
    theta = torch.linspace(0.5, 1.5, 4, dtype=torch.float64)
    for t in range(5):
        for n in range(4):
            x = _input(torch.float64, (5, 4), seed=t * 4 + n)
            x[t, n] = bad
            with pytest.raises(NonFiniteError, match=rf"the first x\[{t}, {n}\]"):
                srm(x, theta=theta, backend=backend)


@pytest.mark.parametrize("backend", CONCRETE)
def test_check_finite_false_lets_them_through_unchanged(backend) -> None:
    x = _input(torch.float64)
    x[2, 0, 1] = math.nan
    spikes, u = srm(x, backend=backend, check_finite=False)
    ref_spikes, ref_u = srm_reference(x)
    assert torch.isnan(u[2:, 0, 1]).all() and not torch.isnan(u[:2, 0, 1]).any()
    torch.testing.assert_close(u, ref_u, equal_nan=True, rtol=1e-12, atol=1e-12)
    finite = torch.isfinite(ref_u)
    assert torch.equal(spikes[finite], ref_spikes[finite])  # at NaN membranes the spike is undefined either way


@pytest.mark.parametrize("backend", CONCRETE)
def test_large_finite_inputs_pass_and_an_overflow_is_named_as_such(backend) -> None:
    x = torch.full((4, 2), 1e30, dtype=torch.float32)
    srm(x, theta=1e38, backend=backend)  # large, finite all the way: no error
    x = torch.full((4, 2), 3e38, dtype=torch.float32)  # finite, but I and V overflow float32
    with pytest.raises(NonFiniteError, match="x is finite, but a membrane potential ended NaN or Inf"):
        srm(x, theta=1e38, backend=backend)


def test_the_layer_checks_too_and_can_be_told_not_to() -> None:
    x = _input(torch.float32, (4, 2, 3, 5))
    x[1, 0, 2, 3] = math.inf
    with pytest.raises(NonFiniteError, match=r"x\[1, 0, 2, 3\]"):
        SRMNeuron(learn_tau=True, channels=3)(x)
    out = SRMNeuron(learn_tau=True, channels=3, check_finite=False)(x)
    assert out.shape == x.shape


def test_under_torch_compile_the_check_holds() -> None:
    x = _input(torch.float32)
    x[3, 0, 0] = math.nan
    compiled = torch.compile(lambda t: srm(t, backend="fused")[1], fullgraph=True)
    with pytest.raises(NonFiniteError, match=r"x\[3, 0, 0\]"):
        compiled(x)


def _nan_into_first_neuron_at(call: int, monkeypatch: pytest.MonkeyPatch) -> None:
    real = SRMNeuron.run
    calls = {"n": 0}

    def run(self, x, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == call:
            x = x.clone()
            x.view(-1)[7] = math.nan
        return real(self, x, *args, **kwargs)

    monkeypatch.setattr(SRMNeuron, "run", run)


TINY = {
    "experiment": "tiny",
    "data": {"name": "fashion-mnist-demo", "limit_train": 128, "limit_test": 32},
    "model": {"spec": "FC16-SRM-FC10", "time_steps": 2},
    "train": {"epochs": 1, "batch_size": 32},
    "log": {"progress": False, "plots": False},
}


@pytest.mark.parametrize("policy", ["stop", "skip"])
def test_training_stops_or_skips_a_batch_whose_neuron_input_is_not_finite(policy, tmp_path, monkeypatch) -> None:
    from bpsrm.engine.config import config_from_dict
    from bpsrm.engine.trainer import train
    from bpsrm.errors import BpsrmError

    config = config_from_dict({**TINY, "train": {**TINY["train"], "nonfinite": policy}})
    _nan_into_first_neuron_at(3, monkeypatch)  # call 1 is the model probe: the second training batch
    if policy == "stop":
        with pytest.raises(BpsrmError, match=r"epoch 1, step 2: srm: the input x holds 1 NaN.*training stopped"):
            train(config, tmp_path / "run", log=lambda _: None)
        return
    lines: list[str] = []
    metrics = train(config, tmp_path / "run", log=lines.append)
    assert metrics["skipped_batches"] == 1
    assert any("epoch 1, step 2: srm: the input x holds 1 NaN" in line and "batch skipped" in line for line in lines)


def test_under_torch_compile_the_portable_check_is_an_assertion_in_the_graph() -> None:
    """A data-dependent branch would break fullgraph compilation: the check becomes torch._assert_async."""
    compiled = torch.compile(lambda t: srm(t, backend="portable")[1], fullgraph=True)
    x = _input(torch.float32)
    assert torch.isfinite(compiled(x)).all()
    x[2, 1, 1] = math.inf
    with pytest.raises(RuntimeError, match=r"holds NaN or Inf .*check_finite=False"):
        compiled(x)


def test_a_skipped_batch_leaves_the_norm_statistics_as_they_were(tmp_path, monkeypatch) -> None:
    """With train.nonfinite=skip, a NaN batch was skipped after the TCN had taken it into its running statistics:
    the checkpoint then held NaN statistics and evaluated to NaN. The norm now refuses the batch first."""
    from bpsrm.engine.checkpoint import load_checkpoint
    from bpsrm.engine.config import config_from_dict
    from bpsrm.engine.trainer import train
    from bpsrm.network.models import SpikingNetwork

    real, calls = SpikingNetwork.run, {"n": 0}

    def run(self, x, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:  # call 1 is the model probe: the second training batch
            x = x.clone()
            x.view(-1)[7] = math.nan
        return real(self, x, *args, **kwargs)

    monkeypatch.setattr(SpikingNetwork, "run", run)
    raw = {**TINY, "model": {"spec": "FC16-TCN-SRM-FC10", "time_steps": 2}}
    config = config_from_dict({**raw, "train": {**TINY["train"], "nonfinite": "skip"}})
    lines: list[str] = []
    metrics = train(config, tmp_path / "run", log=lines.append)
    assert metrics["skipped_batches"] == 1
    assert any("epoch 1, step 2: TemporalChannelNorm: its input holds" in line for line in lines)
    state = load_checkpoint(tmp_path / "run" / "last.pt")["model"]
    statistics = [value for key, value in state.items() if key.endswith(("running_mean", "running_var"))]
    assert len(statistics) == 2 and all(bool(torch.isfinite(value).all()) for value in statistics)


def test_a_nan_event_count_follows_the_nonfinite_policy(tmp_path, monkeypatch, shared_data) -> None:
    """drop_events refuses a NaN count (torch.binomial hung on it); under train.nonfinite=skip that batch is skipped
    like any other NaN batch, instead of stopping the run from outside the step's policy."""
    import bpsrm.engine.trainer as trainer
    from bpsrm.engine.config import config_from_dict

    real, calls = trainer.augment_images, {"n": 0}

    def with_a_nan(x, hflip, shift):  # N-MNIST counts, with one NaN in the second training batch
        calls["n"] += 1
        y = real(x, hflip, shift)
        if calls["n"] == 2:
            y = y.clone()
            y.view(-1)[5] = math.nan
        return y

    monkeypatch.setattr(trainer, "augment_images", with_a_nan)
    raw = {
        **TINY,
        "data": {
            "name": "nmnist",
            "root": str(shared_data),
            "limit_train": 48,
            "limit_test": 16,
            "options": {"time_steps": 2, "cache": False},
            "augment": {"drop": 0.5},
        },
        "model": {"spec": "FC16-SRM-FC10", "time_steps": 2},
        "encoder": {"name": "frames"},
        "train": {"epochs": 1, "batch_size": 16, "nonfinite": "skip"},
    }
    lines: list[str] = []
    metrics = trainer.train(config_from_dict(raw), tmp_path / "run", log=lines.append)
    assert metrics["skipped_batches"] == 1
    expected = "step 2: drop_events: event counts must be finite and >= 0, got a count of nan; batch skipped"
    assert any(expected in line for line in lines), lines
