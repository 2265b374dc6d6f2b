"""reset="zero" (BP-SRM.md sections 2.1 and 3.2): a hand-computed sequence, the portable Function against plain
autograd of the step form in float64 for every kernel, surrogate and detach_reset, and the module and config
switches."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from bpsrm import SRMNeuron, build_model, srm
from bpsrm.engine.config import config_from_dict
from bpsrm.errors import ConfigError, ParameterError
from bpsrm.neuron import surrogate as surrogates
from bpsrm.neuron.functional import srm_reference
from bpsrm.neuron.params import KERNELS


def _step_form(x, a_s, a_m, theta, surrogate, detach_reset):
    """Section 2.1 written out independently of the library's reference: I, V with the factor (1 - o[t-1])."""
    sg = surrogates.get_surrogate(surrogate)
    i_t = v_t = o_prev = torch.zeros_like(x[0])
    spikes, potentials = [], []
    for t in range(x.shape[0]):
        i_t = a_s * i_t + x[t]
        gate = 1 - (o_prev.detach() if detach_reset else o_prev)
        v_t = a_m * gate * v_t + i_t
        o_prev = surrogates.spike_function(v_t - theta, sg)
        spikes.append(o_prev)
        potentials.append(v_t)
    return torch.stack(spikes), torch.stack(potentials)


def test_a_hand_computed_sequence() -> None:
    """exp kernel, a_m = 1/2, theta = 1, x = 0.8 at every step: V = 0.8, 1.2 (fires), 0 * 1.2 / 2 + 0.8 = 0.8,
    1.2 (fires), 0.8: the membrane restarts from 0 after each spike instead of dropping by theta."""
    x = torch.full((5, 1), 0.8, dtype=torch.float64)
    tau_m = -1 / math.log(0.5)
    for fn in (srm, srm_reference):
        spikes, u = fn(x, tau_m=tau_m, kernel="exp", reset="zero")
        torch.testing.assert_close(u[:, 0], torch.tensor([0.8, 1.2, 0.8, 1.2, 0.8], dtype=torch.float64))
        assert spikes[:, 0].tolist() == [0.0, 1.0, 0.0, 1.0, 0.0]
    _, soft = srm(x, tau_m=tau_m, kernel="exp", tau_r=tau_m)  # the subtractive reset: 1.2 -> 0.6 + 0.8 - 1
    torch.testing.assert_close(soft[2, 0], torch.tensor(0.4, dtype=torch.float64))


CASES = list(itertools.product(KERNELS, list(surrogates.SURROGATES), [False, True]))


@pytest.mark.parametrize(("kernel", "surrogate", "detach_reset"), CASES)
def test_portable_backward_equals_autograd_of_the_step_form(kernel, surrogate, detach_reset) -> None:
    """float64, per-channel learnt tau_s, tau_m and theta, a loss on spikes and u: values and every gradient
    against autograd through the step form (to 1e-10 of the largest value), for the portable backend and for
    srm_reference, the oracle the fused kernels' tests compare with."""
    g = torch.Generator().manual_seed(CASES.index((kernel, surrogate, detach_reset)))
    x = torch.randn(9, 3, 4, generator=g, dtype=torch.float64) * 0.9 + 0.45
    taus = [torch.rand(4, generator=g, dtype=torch.float64) * 4 + 1.5 for _ in range(2)]
    theta = torch.rand(4, generator=g, dtype=torch.float64) * 0.4 + 0.8
    w_o, w_u = (torch.randn(x.shape, generator=g, dtype=torch.float64) for _ in range(2))

    def run(fn):
        leaves = [t.clone().requires_grad_() for t in (x, *taus, theta)]
        xs, tau_s, tau_m, th = leaves
        if fn is srm:
            spikes, u = srm(
                xs, tau_s=tau_s, tau_m=tau_m, theta=th, kernel=kernel, surrogate=surrogate,
                detach_reset=detach_reset, reset="zero", backend="portable",
            )  # fmt: skip
        elif fn is srm_reference:
            spikes, u = srm_reference(
                xs, tau_s=tau_s, tau_m=tau_m, theta=th, kernel=kernel, surrogate=surrogate,
                detach_reset=detach_reset, reset="zero",
            )  # fmt: skip
        else:
            a_m = torch.exp(-1 / tau_m)
            a_s = {"dexp": torch.exp(-1 / tau_s), "alpha": a_m, "exp": torch.zeros_like(a_m)}[kernel]
            spikes, u = _step_form(xs, a_s, a_m, th, surrogate, detach_reset)
        loss = (spikes * w_o).sum() + 0.3 * (u * w_u).sum()
        grads = torch.autograd.grad(loss, leaves, allow_unused=True)
        return [spikes.detach(), u.detach()] + [
            torch.zeros_like(t) if gr is None else gr for gr, t in zip(grads, leaves, strict=True)
        ]

    wanted = run(_step_form)
    assert wanted[0].any() and wanted[2].abs().max() > 0  # some spikes, a gradient of x
    for fn in (srm, srm_reference):
        for got, want in zip(run(fn), wanted, strict=True):
            scale = max(float(want.abs().max()), 1e-30)
            assert float((got - want).abs().max()) <= 1e-10 * scale, fn.__name__


def test_tau_r_and_theta_r_play_no_part_and_every_backend_agrees() -> None:
    x = torch.rand(6, 2, 5) * 1.5
    first = srm(x, reset="zero", tau_r=2.0, theta_r=0.1)
    second = srm(x, reset="zero", tau_r=9.0, theta_r=3.0)
    assert torch.equal(first[1], second[1]) and first[0].any()
    portable = srm(x.clone().requires_grad_(), reset="zero", backend="portable")[1]
    assert type(portable.grad_fn).__name__ == "SRMHardResetFunctionBackward"
    fused = srm(x, reset="zero", backend="fused")
    reference = srm_reference(x.double(), reset="zero")
    assert torch.equal(fused[0].double(), reference[0])
    torch.testing.assert_close(fused[1].double(), reference[1], rtol=0, atol=1e-6)
    torch.testing.assert_close(portable.detach().double(), reference[1], rtol=0, atol=1e-6)
    with pytest.raises(ParameterError, match=r"unknown reset 'hard'; expected one of 'subtract', 'zero'"):
        srm(x, reset="hard")


def test_the_module_the_spec_and_the_config_take_reset() -> None:
    neuron = SRMNeuron(kernel="dexp", learn_tau=True, reset="zero", channels=3)
    assert set(neuron.learned_taus) == {"tau_s", "tau_m"}  # no refractory trace to learn
    assert "reset='zero'" in repr(neuron)
    x = torch.rand(7, 2, 3, 4, dtype=torch.float64) * 1.4
    spikes, u = neuron.double().run(x)
    taus = {name: neuron.tau(name).detach().reshape(3, 1) for name in ("tau_s", "tau_m")}  # 2 and 4, learnable
    ref_spikes, ref_u = srm_reference(x, **taus, kernel="dexp", reset="zero")
    torch.testing.assert_close(u, ref_u, rtol=0, atol=1e-12)
    assert torch.equal(spikes, ref_spikes)
    model = build_model("4C3-TCN-SRM-FC10", (1, 6, 6), time_steps=2, neuron={"reset": "zero"})
    assert {m.reset for m in model.modules() if isinstance(m, SRMNeuron)} == {"zero"}
    assert config_from_dict({"model": {"neuron": {"reset": "zero"}}}).model.neuron.reset == "zero"
    with pytest.raises(ConfigError, match=r"model\.neuron\.reset"):
        config_from_dict({"model": {"neuron": {"reset": "hard"}}})


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_half_inputs_fire_on_the_stored_membrane(reset: str) -> None:
    """bfloat16 x with float32 per-channel parameters (the portable path on the CPU): the state is float32, u is
    stored rounded, and the spikes are decided on that stored u, the same test the backward recomputes them with
    (a review found 1,373 of 129,536 spikes that disagreed when they were decided on the unrounded state)."""
    neuron = SRMNeuron(kernel="exp", reset=reset, channels=4, learn_tau=True)
    x = (torch.rand(16, 8, 4, 32, generator=torch.Generator().manual_seed(5)) * 1.2).to(torch.bfloat16)
    spikes, u = neuron.run(x)
    assert u.dtype == torch.bfloat16 and spikes.any()
    assert torch.equal(spikes, (u >= neuron.theta.to(torch.float32)).to(spikes.dtype))
