"""SRMNeuron: the module against the plain reference, its parameterisation, and its errors."""

from __future__ import annotations

import io
import math
import re

import pytest
import torch

from bpsrm import SRMNeuron
from bpsrm.errors import ParameterError, ShapeError
from bpsrm.neuron.functional import srm_reference
from bpsrm.neuron.params import KERNELS

F64 = torch.float64


def _x(shape=(12, 3, 4, 5), seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=F64) * 0.8 + 0.3


def test_module_equals_reference_scalar() -> None:
    x = _x()
    neuron = SRMNeuron(tau_s=1.5, tau_m=5.0, tau_r=3.0, theta=0.9, theta_r=0.5, kernel="dexp").double()
    ref_spikes, ref_u = srm_reference(x, tau_s=1.5, tau_m=5.0, tau_r=3.0, theta=0.9, theta_r=0.5)
    spikes, u = neuron.run(x)
    assert torch.equal(spikes, ref_spikes)
    torch.testing.assert_close(u, ref_u, rtol=0, atol=1e-12)
    assert torch.equal(neuron(x), spikes)


def test_per_channel_parameters_act_per_channel() -> None:
    x = _x((10, 2, 3, 4))
    neuron = SRMNeuron(channels=3, learn_tau=["tau_m"], learn_theta=True).double()
    with torch.no_grad():
        neuron.tau_m_logit.copy_(torch.logit(torch.exp(-1 / torch.tensor([2.0, 4.0, 8.0], dtype=F64))))
        neuron.theta_raw.copy_(torch.log(torch.expm1(torch.tensor([0.5, 1.0, 1.5], dtype=F64))))
    spikes, u = neuron.run(x)
    for c, (tau_m, theta) in enumerate([(2.0, 0.5), (4.0, 1.0), (8.0, 1.5)]):
        ref_spikes, ref_u = srm_reference(x[:, :, c], tau_m=tau_m, theta=theta)
        assert torch.equal(spikes[:, :, c], ref_spikes)
        torch.testing.assert_close(u[:, :, c], ref_u, rtol=0, atol=1e-10)


@pytest.mark.parametrize("kernel", KERNELS)
def test_learnable_gradients_equal_reference(kernel: str) -> None:
    x = _x((14, 2, 3, 4), seed=2)
    neuron = SRMNeuron(tau_s=2.5, tau_m=4.5, tau_r=3.5, kernel=kernel, learn_tau=True, learn_theta=True, channels=3)
    neuron = neuron.double()
    w = torch.randn(x.shape, generator=torch.Generator().manual_seed(3), dtype=F64)
    loss = (neuron(x) * w).sum()
    params = dict(neuron.named_parameters())
    grads = torch.autograd.grad(loss, list(params.values()))

    # The same parameterisation, written out, through the plain reference.
    leaves = {k: v.detach().clone().requires_grad_() for k, v in params.items()}

    def tau(name: str) -> torch.Tensor:
        return (-1 / torch.log(torch.sigmoid(leaves[f"{name}_logit"]))).reshape(3, 1)

    theta = torch.nn.functional.softplus(leaves["theta_raw"]).reshape(3, 1)
    kwargs = {"tau_m": tau("tau_m"), "tau_r": tau("tau_r"), "theta": theta, "kernel": kernel}
    if kernel == "dexp":
        kwargs["tau_s"] = tau("tau_s")
    ref_loss = (srm_reference(x, **kwargs)[0] * w).sum()
    ref_grads = torch.autograd.grad(ref_loss, list(leaves.values()))
    for name, g, r in zip(params, grads, ref_grads, strict=True):
        assert r.abs().max() > 0, name
        torch.testing.assert_close(g, r, rtol=1e-8, atol=1e-12, msg=name)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("channels", [None, 3])
def test_learnable_parameters_start_at_the_values_given(channels, reset) -> None:
    """Each learnt parameter starts at the number given, read back through the parameterisation written out here
    (a = sigmoid(logit), tau = -1/log a; theta = softplus(raw)), not through the module's own tau()/theta; the
    gradient tests above take their start from the module, so a tau_s started from tau_m's value, or a threshold
    stored without the inverse softplus, would pass them."""
    given = {"tau_s": 2.5, "tau_m": 4.5, "tau_r": 3.5}
    neuron = SRMNeuron(**given, theta=0.8, learn_tau=True, learn_theta=True, channels=channels, reset=reset)
    params = dict(neuron.named_parameters())
    shape = () if channels is None else (channels,)
    learnt = ("tau_s", "tau_m") if reset == "zero" else ("tau_s", "tau_m", "tau_r")
    assert set(params) == {f"{name}_logit" for name in learnt} | {"theta_raw"}
    for name in learnt:
        tau = -1.0 / torch.log(torch.sigmoid(params[f"{name}_logit"].detach().double()))
        torch.testing.assert_close(tau, torch.full(shape, given[name], dtype=F64), rtol=1e-6, atol=0, msg=name)
    theta = torch.nn.functional.softplus(params["theta_raw"].detach().double())
    torch.testing.assert_close(theta, torch.full(shape, 0.8, dtype=F64), rtol=1e-6, atol=0)


def test_learnt_decays_never_leave_the_unit_interval() -> None:
    neuron = SRMNeuron(learn_tau=True, learn_theta=True, channels=4)
    optimiser = torch.optim.SGD(neuron.parameters(), lr=1e6)
    x = torch.rand(8, 2, 4) * 3
    for sign in (1.0, -1.0, 1.0):
        optimiser.zero_grad()
        (sign * neuron.run(x)[1].sum()).backward()
        optimiser.step()
        for name in ("tau_s", "tau_m", "tau_r"):
            a = neuron.decay(name)
            assert torch.all(a > 0) and torch.all(a < 1), (name, a)
            assert torch.all(torch.isfinite(neuron.tau(name)))
        assert torch.all(neuron.theta > 0)


def test_no_state_between_calls_and_samples_independent() -> None:
    neuron = SRMNeuron()
    x = torch.rand(10, 4, 6) * 2
    first = neuron(x)
    assert torch.equal(neuron(x), first)
    assert torch.equal(neuron(x[:, 1:2]), first[:, 1:2])


def test_kernels_use_their_taus() -> None:
    assert {n for n, _ in SRMNeuron(kernel="exp", learn_tau=True).named_parameters()} == {"tau_m_logit", "tau_r_logit"}
    assert {n for n, _ in SRMNeuron(kernel="alpha", learn_tau=["tau_m"]).named_parameters()} == {"tau_m_logit"}
    neuron = SRMNeuron(tau_m=6.0)
    assert neuron.tau("tau_m").item() == pytest.approx(6.0, rel=1e-6)


def test_state_dict_and_torch_save_round_trip() -> None:
    neuron = SRMNeuron(learn_tau=True, channels=2, surrogate="atan")
    with torch.no_grad():  # taus of their own, so that a load that did nothing would show
        for parameter in neuron.parameters():
            parameter.add_(torch.linspace(-1.0, 1.0, parameter.numel()).reshape(parameter.shape))
    buffer = io.BytesIO()
    torch.save(neuron.state_dict(), buffer)
    buffer.seek(0)
    other = SRMNeuron(learn_tau=True, channels=2, surrogate="atan")
    x = torch.rand(6, 3, 2) * 2
    assert not torch.equal(other.tau("tau_m"), neuron.tau("tau_m")) and not torch.equal(other(x), neuron(x))
    other.load_state_dict(torch.load(buffer, weights_only=True))
    assert torch.equal(other.tau("tau_m"), neuron.tau("tau_m")) and torch.equal(other(x), neuron(x))
    buffer = io.BytesIO()
    torch.save(neuron, buffer)  # the whole module pickles (the surrogate is a plain dataclass) and loads back
    buffer.seek(0)
    whole = torch.load(buffer, weights_only=False)
    assert torch.equal(whole(x), neuron(x)) and whole.surrogate == neuron.surrogate


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"kernel": "gauss"}, "unknown kernel 'gauss'"),
        ({"tau_m": 0}, "tau_m must be finite and > 0, got 0"),
        ({"tau_r": -2.0}, "tau_r must be finite and > 0, got -2.0"),
        ({"theta": math.inf}, "theta must be finite and > 0, got inf"),
        ({"theta_r": -1.0}, "theta_r must be null or finite and >= 0, got -1.0"),
        ({"learn_tau": ["tau_x"]}, "learn_tau names ['tau_x'] unknown"),
        ({"kernel": "exp", "learn_tau": ["tau_s"]}, "kernel 'exp' does not use ['tau_s']"),
        ({"channels": 0}, "channels (None or a count) must be a whole number in [1, 2147483647], got 0"),
        ({"surrogate": "step"}, "unknown surrogate 'step'"),
    ],
)
def test_constructor_errors(kwargs, fragment) -> None:
    with pytest.raises(ParameterError) as info:
        SRMNeuron(**kwargs)
    assert fragment in str(info.value)


def test_shape_errors() -> None:
    with pytest.raises(ShapeError, match=r"expects \[T, B, 3, \.\.\.\], got \(4, 2, 5\)"):
        SRMNeuron(channels=3)(torch.zeros(4, 2, 5))
    with pytest.raises(ShapeError, match=re.escape("got torch.float32 of shape (4,)")):
        SRMNeuron()(torch.zeros(4))


@pytest.mark.parametrize("first_dtype", [F64, torch.float32])
def test_kept_fixed_parameters_follow_dtype_and_mode(first_dtype) -> None:
    # Fixed decays and thresholds are made once per dtype and device and kept: a first call under
    # inference mode (same dtype: the kept tensors must be ordinary ones that training can save; float32:
    # they must not leak into a float64 call) must not spoil a later float64 training call.
    neuron = SRMNeuron(tau_s=1.5, tau_m=5.0, tau_r=3.0, theta=0.9, theta_r=0.5)
    x = _x()
    with torch.inference_mode():
        neuron(x.to(first_dtype))
    xr = x.clone().requires_grad_()
    spikes, u = neuron.run(xr)
    assert spikes.dtype == F64
    (grad,) = torch.autograd.grad((spikes + u).sum(), [xr])
    xq = x.clone().requires_grad_()
    ref_spikes, ref_u = srm_reference(xq, tau_s=1.5, tau_m=5.0, tau_r=3.0, theta=0.9, theta_r=0.5)
    (ref,) = torch.autograd.grad((ref_spikes + ref_u).sum(), [xq])
    assert torch.equal(spikes, ref_spikes)
    torch.testing.assert_close(grad, ref, rtol=1e-10, atol=1e-12)


def test_tracing_with_fake_tensors_leaves_nothing_behind() -> None:
    # Tracing tools run modules on fake tensors (shapes without data); parameter tensors made for them
    # must not be kept for the ordinary calls that follow (the kernel would read a pointer to nothing).
    from torch._subclasses.fake_tensor import FakeTensorMode

    neuron = SRMNeuron(tau_s=1.5, tau_m=5.0, tau_r=3.0, theta=0.9)
    x = _x().float()
    with FakeTensorMode() as mode:
        fake = mode.from_tensor(x)
        for name in ("tau_s", "tau_m", "tau_r", "theta"):
            neuron._value(name, fake)
    assert all(type(v) is torch.Tensor for v in neuron.__dict__.get("_constants", {}).values())
    spikes, u = neuron.run(x)
    ref_spikes, ref_u = srm_reference(x.double(), tau_s=1.5, tau_m=5.0, tau_r=3.0, theta=0.9)
    assert torch.equal(spikes.double(), ref_spikes)
    torch.testing.assert_close(u.double(), ref_u, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"detach_reset": "false"}, "detach_reset must be true or false, got 'false'"),
        ({"learn_theta": "yes"}, "learn_theta must be true or false, got 'yes'"),
        ({"check_finite": 0}, "check_finite must be true or false, got 0"),
        ({"learn_tau": 3}, "learn_tau must be True, False or names among"),
        ({"learn_tau": [1, 2]}, "learn_tau must be True, False or names among"),
    ],
)
def test_flags_that_are_not_booleans_are_refused(kwargs: dict, fragment: str) -> None:
    """helper-51: the string "false" was read by bool() as True, silently."""
    with pytest.raises(ParameterError, match=re.escape(fragment)):
        SRMNeuron(**kwargs)


def test_one_learnt_time_constant_may_be_named_alone() -> None:
    """learn_tau="tau_m" was read letter by letter ("unknown names ['_', 'a', 'm', 't', 'u']")."""
    neuron = SRMNeuron(learn_tau="tau_m")
    assert neuron.learned_taus == ("tau_m",)
    assert float(neuron.tau("tau_m").detach()) == pytest.approx(4.0, rel=1e-6)


@pytest.mark.parametrize("tau", [0.05, 0.5, 4.0, 1e3, 1e6])
def test_a_learnt_decay_starts_at_exp_minus_one_over_tau(tau: float) -> None:
    """Hand check of the stable logit: sigmoid(logit) = exp(-1/tau) in float64, far into both ends."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        neuron = SRMNeuron(tau_m=tau, learn_tau=["tau_m"])
    finally:
        torch.set_default_dtype(default)
    assert float(neuron.decay("tau_m").detach()) == pytest.approx(math.exp(-1.0 / tau), rel=1e-12, abs=1e-300)


def test_a_learnt_decay_logit_is_exact_where_one_minus_a_cancels() -> None:
    """By hand, for x = 1/tau small: logit(e^-x) = -x - ln(1 - e^-x) = ln(tau) - x/2 + O(x^2). At tau = 1e12 the
    old log(a / (1 - a)) lost about 1e-4 to the rounding of 1 - a (helper-52: the test above cannot tell)."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        neuron = SRMNeuron(tau_m=1e12, learn_tau=["tau_m"])
    finally:
        torch.set_default_dtype(default)
    assert float(neuron.tau_m_logit.detach()) == pytest.approx(math.log(1e12) - 0.5e-12, rel=0, abs=1e-12)


@pytest.mark.parametrize("tau, value", [(1e-3, "is 0 in"), (1e20, "is 1 in")])
def test_a_learnt_decay_that_would_round_to_zero_or_one_is_refused(tau: float, value: str) -> None:
    """tau_m=1e-3 raised a bare 'math domain error' and 1e20 a ZeroDivisionError (helper-51)."""
    expected = f"tau_m={tau:g} with learn_tau: its decay exp(-1/tau_m) {value}"
    with pytest.raises(ParameterError, match=re.escape(expected)):
        SRMNeuron(tau_m=tau, learn_tau=True)


@pytest.mark.parametrize("theta", [1e-6, 0.3, 1.0, 50.0, 1000.0, 1e30])
def test_a_learnt_threshold_starts_at_theta(theta: float) -> None:
    """theta=1000 with learn_theta overflowed in log(expm1(theta)); softplus(raw) = theta by hand, in float64."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        neuron = SRMNeuron(theta=theta, learn_theta=True)
    finally:
        torch.set_default_dtype(default)
    assert float(neuron.theta.detach()) == pytest.approx(theta, rel=1e-12)


def test_a_learnt_threshold_beyond_float32_is_refused() -> None:
    with pytest.raises(ParameterError, match=r"theta=1e\+39 with learn_theta: softplus of its raw value is inf"):
        SRMNeuron(theta=1e39, learn_theta=True)


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda: torch.zeros(3, 2, 4).to_sparse(), "got layout torch.sparse_coo (x.to_dense() makes it dense)"),
        (lambda: torch.zeros(3, 2, 4, device="meta"), "got a meta tensor (no data)"),
    ],
)
def test_inputs_without_dense_values_are_refused(make, fragment: str) -> None:
    """helper-51: a sparse input raised torch's 'unsupported memory format option', a meta one '.item()'."""
    from bpsrm import srm

    srm(torch.rand(3, 2, 4))  # a plan for dense float32 CPU inputs is cached: a sparse input must not take it
    for run in (SRMNeuron(), srm):
        with pytest.raises(ShapeError, match=re.escape(f"x must be a dense tensor holding its values, {fragment}")):
            run(make())


def test_misuse_is_told_what_was_given_and_what_is_expected() -> None:
    """Messages that named the shape where the dtype was wrong, the kernel where the reset removed tau_r, and a
    bare NotImplementedError for a surrogate without primitive (helper-62's walkthrough)."""
    from dataclasses import dataclass

    from bpsrm.neuron.surrogate import Surrogate

    expected = "expects a float tensor [T, B, ...], got torch.bool of shape (4, 3)"
    with pytest.raises(ShapeError, match=re.escape(expected)):
        SRMNeuron()(torch.rand(4, 3) > 0.5)
    with pytest.raises(ParameterError, match="reset 'zero' has no tau_r: the hard reset keeps no refractory trace"):
        SRMNeuron(reset="zero").tau("tau_r")
    with pytest.raises(ParameterError, match="kernel 'alpha' has no tau_s"):
        SRMNeuron(kernel="alpha").tau("tau_s")

    @dataclass(frozen=True)
    class Box(Surrogate):
        w: float = 1.0
        name = "box"

        def derivative(self, v: torch.Tensor) -> torch.Tensor:
            return (v.abs() < self.w / 2).to(v.dtype) / self.w

    x = torch.rand(3, 2, dtype=torch.float64, requires_grad=True)
    with pytest.raises(NotImplementedError, match="surrogate Box defines no primitive"):
        srm_reference(x, surrogate=Box())
    with pytest.raises(NotImplementedError, match="surrogate Surrogate defines no derivative"):
        Surrogate().derivative(x)


def test_a_state_dict_refuses_a_neuron_built_with_other_settings() -> None:
    """Fixed taus, theta, kernel and reset were in no state_dict: loading one saved with tau_m=10, theta=0.3 into
    a neuron with the defaults matched every key and computed another function (helper-62's finding 1)."""
    saved = SRMNeuron(tau_m=10.0, theta=0.3).state_dict()
    assert set(saved) == {"settings"} and saved["settings"].dtype == torch.float64
    a_m = math.exp(-1 / 10)  # by hand: kernel 'dexp' (0), reset 'subtract' (0), decays, theta, theta_r tied to it
    expected = [0.0, 0.0, math.exp(-1 / 2), a_m, math.exp(-1 / 4), 0.3, 0.3]
    assert saved["settings"].tolist() == pytest.approx(expected, rel=1e-15)
    with pytest.raises(RuntimeError) as caught:
        SRMNeuron().load_state_dict(saved)
    assert (
        "settings: the state_dict was saved from SRMNeuron(tau_m=10, theta=0.3, theta_r=0.3); this one is "
        "SRMNeuron(tau_m=4, theta=1, theta_r=1). These are constructor arguments, not weights" in str(caught.value)
    )
    with pytest.raises(
        RuntimeError,
        match=re.escape(
            "SRMNeuron(kernel='dexp', tau_s=2); this one is SRMNeuron(kernel='exp', tau_s learnt or unused)"
        ),
    ):
        SRMNeuron(kernel="exp").load_state_dict(SRMNeuron().state_dict())
    with pytest.raises(
        RuntimeError, match=re.escape("SRMNeuron(reset='zero', tau_r learnt or unused, theta_r learnt or unused)")
    ):
        SRMNeuron().load_state_dict(SRMNeuron(reset="zero").state_dict())
    same = SRMNeuron(tau_m=10.0, theta=0.3)
    same.load_state_dict(saved)  # the same settings: loads
    learnt = SRMNeuron(learn_tau=True, learn_theta=True, theta=0.3)
    learnt_state = learnt.state_dict()
    assert learnt_state["settings"].tolist() == [0.0, 0.0, -1.0, -1.0, -1.0, -1.0, -1.0]
    SRMNeuron(learn_tau=True, learn_theta=True, theta=2.0).load_state_dict(learnt_state)  # learnt: the weights say
    SRMNeuron().load_state_dict({})  # saved before settings were recorded: loads unchecked, as before
    # alike in what they compute, so alike in the record (helper-63): the hard reset has no theta_r, and a
    # theta_r given equal to a fixed theta is the tied one; a decay one bit apart (another libm) is the same
    SRMNeuron(reset="zero").load_state_dict(SRMNeuron(reset="zero", theta_r=0.5).state_dict())
    SRMNeuron(theta=1.0).load_state_dict(SRMNeuron(theta=1.0, theta_r=1.0).state_dict())
    nudged = SRMNeuron().state_dict()
    nudged["settings"][3] = math.nextafter(nudged["settings"][3].item(), 1.0)
    SRMNeuron().load_state_dict(nudged)
    alike = "SRMNeuron(theta=0.3000001); this one is SRMNeuron(theta=0.3)"  # both print as 0.3 to 6 digits
    with pytest.raises(RuntimeError, match=re.escape(alike)):
        SRMNeuron(theta=0.3, theta_r=1.0).load_state_dict(SRMNeuron(theta=0.3000001, theta_r=1.0).state_dict())


def test_a_recorded_setting_of_the_wrong_form_is_refused() -> None:
    for bad, got in (
        (torch.zeros(3, dtype=torch.float64), "torch.float64 of shape (3,)"),
        (torch.zeros(7), "torch.float32"),
    ):
        with pytest.raises(RuntimeError, match=re.escape(f"SRMNeuron records 7 float64 settings, got {got}")):
            SRMNeuron().load_state_dict({"settings": bad})
    odd = SRMNeuron().state_dict()
    odd["settings"][0] = 7.0  # no kernel has that id
    with pytest.raises(RuntimeError, match=re.escape("SRMNeuron(kernel id 7); this one is SRMNeuron(kernel='dexp')")):
        SRMNeuron().load_state_dict(odd)


def test_the_repr_of_a_neuron_with_a_learnt_threshold_warns_of_nothing() -> None:
    """repr() converted the learnt threshold (requires_grad) to a float: PyTorch's UserWarning at every print."""
    import warnings

    from bpsrm.neuron import SRMNeuron

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        text = repr(SRMNeuron(learn_theta=True, theta=1.5))
    assert "theta=1.5," in text and "learn_theta=True" in text
