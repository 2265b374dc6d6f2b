"""bpsrm.neuron.autograd.SRMFunction, called directly on decays: forward and the explicit BP-SRM backward
(BP-SRM.md sections 2 and 3) against pencil computations and autograd of a plain float64 loop.

test_functional.py reaches this function through ``srm(..., backend="portable")`` with taus; here the
decays a_s, a_m, a_r are the leaves, shared tensors (alpha kernel, theta_r tied to theta) and every
broadcast shape of a parameter go in as the callers give them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch

from bpsrm.neuron.autograd import SRMFunction
from bpsrm.neuron.surrogate import Surrogate, get_surrogate

F64 = torch.float64
SIGMOID = get_surrogate("sigmoid")  # sg'(v) = 4 s(4v) (1 - s(4v))


def _sg(v: float, a: float = 4.0) -> float:
    """The sigmoid surrogate derivative by hand."""
    s = 1.0 / (1.0 + math.exp(-a * v))
    return a * s * (1.0 - s)


def reference(x, a_s, a_m, a_r, theta, theta_r, surrogate, detach_reset):
    """BP-SRM.md section 2 step by step with plain autograd; the spike's gradient is autograd of the
    surrogate's smooth primitive (not its closed-form derivative), its value the exact step."""
    zero = torch.zeros_like(x[0])
    i_t = v_t = r_t = o_prev = zero
    spikes, potentials = [], []
    for t in range(x.shape[0]):
        i_t = x[t] if a_s is None else a_s * i_t + x[t]
        v_t = a_m * v_t + i_t
        r_t = a_r * r_t + theta_r * (o_prev.detach() if detach_reset else o_prev)
        u_t = v_t - r_t
        smooth = surrogate.primitive(u_t - theta)
        o_prev = (u_t >= theta).to(x.dtype) + (smooth - smooth.detach())
        spikes.append(o_prev)
        potentials.append(u_t)
    return torch.stack(spikes), torch.stack(potentials)


def _params(shape, seed=0, dtype=F64):
    """Decays and thresholds of ``shape``, each a little different per element."""
    g = torch.Generator().manual_seed(100 + seed)

    def around(value: float, spread: float) -> torch.Tensor:
        return (value + spread * (torch.rand(shape, generator=g, dtype=F64) - 0.5)).to(dtype)

    return {
        "a_s": around(0.6, 0.2),
        "a_m": around(0.8, 0.1),
        "a_r": around(0.7, 0.2),
        "theta": around(1.0, 0.3),
        "theta_r": around(0.9, 0.4),
    }


def _input(shape, seed=0, dtype=F64):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=g, dtype=F64) * 0.8 + 0.3).to(dtype)


def _weights(shape, seed=7):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=F64), torch.randn(shape, generator=g, dtype=F64)


def _grads(fn, x, params, *, surrogate=SIGMOID, detach_reset=False, use=(True, True), tie=()):
    """Spikes, u and the gradients of a random linear loss w.r.t. x and every parameter (leaves)."""
    x = x.clone().requires_grad_()
    leaves = {k: (v.clone().requires_grad_() if v is not None else None) for k, v in params.items()}
    args = dict(leaves)
    for shared, owner in tie:  # the same tensor object in two places, as srm passes it
        args[shared] = args[owner]
        leaves.pop(shared)
    spikes, u = fn(x, args["a_s"], args["a_m"], args["a_r"], args["theta"], args["theta_r"], surrogate, detach_reset)
    w_o, w_u = _weights(x.shape)
    terms = [(spikes * w_o.to(x.dtype)).sum()] * use[0] + [0.3 * (u * w_u.to(x.dtype)).sum()] * use[1]
    loss = sum(terms[1:], terms[0])  # an unused output stays out of the graph (its gradient arrives as None)
    names = ["x"] + [k for k, v in leaves.items() if v is not None]
    tensors = [x] + [leaves[k] for k in names[1:]]
    grads = torch.autograd.grad(loss, tensors, allow_unused=True)
    return spikes.detach(), u.detach(), dict(zip(names, grads, strict=True))


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-10) -> None:
    assert a.shape == b.shape and a.dtype == b.dtype
    scale = b.abs().max().clamp_min(1e-300)
    assert ((a - b).abs().max() / scale).item() <= rtol, ((a - b).abs().max().item(), scale.item())


# --------------------------------------------------------------------------------------------- forward ----
def test_forward_by_hand_exp_kernel() -> None:
    """a_s = None (the exp kernel): I[t] = x[t]. Three steps with a spike and its reset, by pencil."""
    a_m, a_r, theta, theta_r = 0.5, 0.25, 1.0, 0.8
    x = torch.tensor([[1.2, 0.4], [0.3, 0.4], [0.9, 0.4]], dtype=F64)
    p = [torch.tensor(v, dtype=F64) for v in (a_m, a_r, theta, theta_r)]
    spikes, u = SRMFunction.apply(x, None, *p, SIGMOID, False)
    # neuron 0: V = 1.2, 0.9, 1.35; o[0] = 1 so R = 0, 0.8, 0.2 + 0.8 o[1]; u[1] = 0.1 (no spike)
    #   R[2] = 0.25 * 0.8 + 0.8 * 0 = 0.2, u[2] = 1.35 - 0.2 = 1.15 (spike)
    # neuron 1: V = 0.4, 0.6, 0.7: never fires, u = V
    assert u[:, 0].tolist() == pytest.approx([1.2, 0.1, 1.15], abs=1e-15)
    assert u[:, 1].tolist() == pytest.approx([0.4, 0.6, 0.7], abs=1e-15)
    assert spikes.tolist() == [[1.0, 0.0], [0.0, 0.0], [1.0, 0.0]]
    assert spikes.dtype == u.dtype == F64


def test_forward_threshold_is_inclusive_and_per_element() -> None:
    """o = H(u - theta) with H(0) = 1; a per-element theta is compared element by element."""
    x = torch.tensor([[0.5, 0.5, 0.5]], dtype=torch.float32)
    theta = torch.tensor([0.25, 0.5, 0.75])
    one = torch.tensor(1.0)
    spikes, u = SRMFunction.apply(x, one, one, one, theta, one, SIGMOID, False)
    assert spikes.tolist() == [[1.0, 1.0, 0.0]] and u.tolist() == [[0.5, 0.5, 0.5]]


# -------------------------------------------------------------------------------------------- backward ----
@pytest.mark.parametrize("detach_reset", [False, True])
def test_backward_by_hand_two_steps(detach_reset: bool) -> None:
    """T = 2, one neuron, L = w0 o0 + w1 o1 + c0 u0 + c1 u1; the chain rule by pencil.

    u0 = x0, u1 = (a_s + a_m) x0 + x1 - theta_r o0, so with s_t = sg'(u_t - theta):
    dL/du1 = c1 + s1 w1, dL/do0 = w0 - theta_r dL/du1 (w0 alone with detach_reset),
    dL/du0 = c0 + s0 dL/do0, dL/dx0 = dL/du0 + (a_s + a_m) dL/du1, dL/dx1 = dL/du1,
    dL/da_s = dL/da_m = x0 dL/du1, dL/da_r = 0 (R[0] = 0), dL/dtheta = -(s0 dL/do0 + s1 w1),
    dL/dtheta_r = -o0 dL/du1.
    """
    x0, x1, a_s, a_m, a_r, theta, theta_r = 1.3, -0.2, 0.6, 0.8, 0.7, 1.0, 0.9
    w0, w1, c0, c1 = 0.7, -1.1, 0.4, 0.5
    x = torch.tensor([x0, x1], dtype=F64, requires_grad=True)
    p = [torch.tensor(v, dtype=F64, requires_grad=True) for v in (a_s, a_m, a_r, theta, theta_r)]
    spikes, u = SRMFunction.apply(x, *p, SIGMOID, detach_reset)
    loss = w0 * spikes[0] + w1 * spikes[1] + c0 * u[0] + c1 * u[1]
    got = torch.autograd.grad(loss, [x, *p])

    o0 = 1.0  # x0 >= theta
    u1 = (a_s + a_m) * x0 + x1 - theta_r * o0
    assert spikes.tolist() == [1.0, float(u1 >= theta)] and u.tolist() == pytest.approx([x0, u1], abs=1e-15)
    s0, s1 = _sg(x0 - theta), _sg(u1 - theta)
    du1 = c1 + s1 * w1
    do0 = w0 if detach_reset else w0 - theta_r * du1
    du0 = c0 + s0 * do0
    want = [du0 + (a_s + a_m) * du1, du1, x0 * du1, x0 * du1, 0.0, -(s0 * do0 + s1 * w1), -o0 * du1]
    assert [v.item() for v in (got[0][0], got[0][1], *got[1:])] == pytest.approx(want, rel=1e-13, abs=1e-15)


CASES = {
    # name: (x shape, parameter shape)
    "scalar": ((14, 3, 5), ()),
    "per-channel": ((14, 3, 5), (5,)),
    "per-channel-keepdim": ((14, 3, 5), (1, 5)),
    "per-neuron": ((14, 3, 5), (3, 5)),  # as large as x[0]: no reduction at all
    "time-only": ((30,), ()),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("with_a_s", [True, False])
@pytest.mark.parametrize("detach_reset", [False, True])
def test_backward_equals_autograd_of_plain_reference(case: str, with_a_s: bool, detach_reset: bool) -> None:
    x_shape, p_shape = CASES[case]
    x = _input(x_shape, seed=1)
    params = _params(p_shape, seed=2)
    if not with_a_s:
        params["a_s"] = None
    spikes, u, got = _grads(SRMFunction.apply, x, params, detach_reset=detach_reset)
    ref_spikes, ref_u, want = _grads(reference, x, params, detach_reset=detach_reset)
    assert 0.05 < ref_spikes.mean().item() < 0.7, "the case must exercise spikes and resets"
    assert torch.equal(spikes, ref_spikes)
    _close(u, ref_u, 1e-13)
    assert got.keys() == want.keys()
    for name in want:
        assert want[name].abs().max().item() > 0, f"the gradient of {name} must not vanish here"
        _close(got[name], want[name])


@pytest.mark.parametrize("detach_reset", [False, True])
def test_shared_tensors_get_the_sum_of_their_gradients(detach_reset: bool) -> None:
    """As srm calls it: the alpha kernel passes one tensor as a_s and a_m, a tied reset passes theta as theta_r."""
    x = _input((16, 4), seed=3)
    params = _params((4,), seed=4)
    tie = (("a_s", "a_m"), ("theta_r", "theta"))
    _, _, got = _grads(SRMFunction.apply, x, params, detach_reset=detach_reset, tie=tie)
    ref_spikes, _, want = _grads(reference, x, params, detach_reset=detach_reset, tie=tie)
    assert set(got) == {"x", "a_m", "a_r", "theta"} and 0.05 < ref_spikes.mean().item() < 0.7
    for name in want:
        _close(got[name], want[name])


@pytest.mark.parametrize("use", [(True, False), (False, True)], ids=["spikes-only", "membrane-only"])
def test_one_output_unused(use, monkeypatch) -> None:
    """Only one output in the loss: the other's gradient arrives as None (no materialised zeros)."""
    x = _input((12, 2, 3), seed=5)
    params = _params((3,), seed=6)
    arrived: list[tuple[bool, bool]] = []
    backward = SRMFunction.backward

    def spy(ctx, grad_spikes, grad_u):
        arrived.append((grad_spikes is not None, grad_u is not None))
        return backward(ctx, grad_spikes, grad_u)

    monkeypatch.setattr(SRMFunction, "backward", staticmethod(spy))
    _, _, got = _grads(SRMFunction.apply, x, params, use=use)
    assert arrived == [use]
    _, _, want = _grads(reference, x, params, use=use)
    for name in want:
        assert want[name].abs().max().item() > 0, name
        _close(got[name], want[name])


def test_only_the_needed_gradients_are_computed_and_x_is_not_kept() -> None:
    """x without grad, only a_r and theta_r learnable: their gradients are right, and x is not saved
    (I and V are not needed); a learnable a_s makes the function keep x to recompute I and V."""
    x = _input((10, 3, 4), seed=8)
    params = _params((4,), seed=9)
    saved: list[torch.Tensor] = []

    def pack(t):
        saved.append(t)
        return t

    a_r = params["a_r"].clone().requires_grad_()
    theta_r = params["theta_r"].clone().requires_grad_()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        spikes, u = SRMFunction.apply(x, params["a_s"], params["a_m"], a_r, params["theta"], theta_r, SIGMOID, False)
    assert all(t.data_ptr() != x.data_ptr() for t in saved)
    assert sum(t.numel() == x.numel() for t in saved) == 1  # u alone
    w_o, w_u = _weights(x.shape)
    got = torch.autograd.grad((spikes * w_o).sum() + (u * w_u).sum(), [a_r, theta_r])

    a_r2 = params["a_r"].clone().requires_grad_()
    theta_r2 = params["theta_r"].clone().requires_grad_()
    s2, u2 = reference(x, params["a_s"], params["a_m"], a_r2, params["theta"], theta_r2, SIGMOID, False)
    want = torch.autograd.grad((s2 * w_o).sum() + (u2 * w_u).sum(), [a_r2, theta_r2])
    for g, w in zip(got, want, strict=True):
        assert w.abs().max().item() > 0
        _close(g, w)

    saved.clear()
    a_s = params["a_s"].clone().requires_grad_()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        SRMFunction.apply(x, a_s, params["a_m"], params["a_r"], params["theta"], params["theta_r"], SIGMOID, False)
    assert any(t.data_ptr() == x.data_ptr() for t in saved)


def test_nothing_learnable_builds_no_graph() -> None:
    p = _params((), seed=1)
    spikes, u = SRMFunction.apply(_input((5, 2)), *p.values(), SIGMOID, False)
    assert not spikes.requires_grad and not u.requires_grad


@pytest.mark.parametrize("detach_reset", [False, True])
def test_one_time_step(detach_reset: bool) -> None:
    """T = 1: u = x, no earlier step, so the decays and theta_r get exactly zero; by hand otherwise."""
    x = torch.tensor([[0.7, 1.4, 1.0]], dtype=F64, requires_grad=True)
    p = {k: v.requires_grad_() for k, v in _params((), seed=3).items()}
    p["theta"] = torch.tensor(1.0, dtype=F64, requires_grad=True)
    spikes, u = SRMFunction.apply(x, *p.values(), SIGMOID, detach_reset)
    g_o = torch.tensor([[0.5, -2.0, 1.5]], dtype=F64)
    g_u = torch.tensor([[0.25, 0.1, -0.3]], dtype=F64)
    grads = torch.autograd.grad((spikes * g_o).sum() + (u * g_u).sum(), [x, *p.values()])
    assert spikes.tolist() == [[0.0, 1.0, 1.0]] and torch.equal(u, x.detach())
    sg = [_sg(v - 1.0) for v in (0.7, 1.4, 1.0)]
    assert grads[0][0].tolist() == pytest.approx(
        [gu + s * go for gu, s, go in zip([0.25, 0.1, -0.3], sg, [0.5, -2.0, 1.5], strict=True)], rel=1e-14
    )
    assert [grads[i].item() for i in (1, 2, 3, 5)] == [0.0, 0.0, 0.0, 0.0]
    assert grads[4].item() == pytest.approx(-sum(s * go for s, go in zip(sg, [0.5, -2.0, 1.5], strict=True)), rel=1e-14)


def test_empty_batch() -> None:
    """A batch of 0 samples: empty outputs, zero parameter gradients of the parameters' shapes."""
    x = torch.zeros(6, 0, 4, dtype=F64, requires_grad=True)
    params = {k: v.requires_grad_() for k, v in _params((4,), seed=1).items()}
    params["a_m"] = torch.tensor(0.8, dtype=F64, requires_grad=True)  # and a 0-d one
    spikes, u = SRMFunction.apply(x, *params.values(), SIGMOID, False)
    assert spikes.shape == u.shape == (6, 0, 4)
    grads = torch.autograd.grad((spikes + u).sum(), [x, *params.values()])
    assert grads[0].shape == (6, 0, 4)
    for g, p in zip(grads[1:], params.values(), strict=True):
        assert g.shape == p.shape and torch.equal(g, torch.zeros_like(p))


@pytest.mark.parametrize("view", ["transposed", "strided"])
def test_non_contiguous_input(view: str) -> None:
    """A strided view of x gives what its contiguous copy gives in the reference."""
    g = torch.Generator().manual_seed(4)
    if view == "transposed":
        base = torch.randn(3, 12, 5, generator=g, dtype=F64) * 0.8 + 0.3
        x = base.transpose(0, 1)  # [12, 3, 5], time not the outer memory dimension
    else:
        base = torch.randn(24, 3, 10, generator=g, dtype=F64) * 0.8 + 0.3
        x = base[::2, :, 1::2]  # [12, 3, 5], every other step and column
    assert not x.is_contiguous()
    params = _params((5,), seed=5)
    spikes, u, got = _grads(SRMFunction.apply, x, params)
    ref_spikes, ref_u, want = _grads(reference, x.contiguous(), params)
    assert torch.equal(spikes, ref_spikes) and 0.05 < ref_spikes.mean().item()
    _close(u, ref_u, 1e-13)
    for name in want:
        _close(got[name], want[name])


@pytest.mark.parametrize(("theta", "theta_r"), [(math.inf, 0.9), (0.5, 0.0)], ids=["theta-inf", "theta_r-zero"])
def test_gradcheck_where_the_membrane_is_smooth(theta: float, theta_r: float) -> None:
    """theta = inf (never fires) or theta_r = 0 (the spikes do not feed back): u is a smooth function
    of x and the decays, so finite differences check the backward (torch.autograd.gradcheck)."""
    x = _input((6, 2, 3), seed=6).requires_grad_()
    a_s = torch.tensor([0.5, 0.6, 0.7], dtype=F64, requires_grad=True)
    a_m = torch.tensor(0.8, dtype=F64, requires_grad=True)
    a_r = torch.tensor(0.7, dtype=F64, requires_grad=True)
    th, th_r = torch.tensor(theta, dtype=F64), torch.tensor(theta_r, dtype=F64)

    def membrane(x, a_s, a_m, a_r):
        return SRMFunction.apply(x, a_s, a_m, a_r, th, th_r, SIGMOID, False)[1]

    assert torch.autograd.gradcheck(membrane, (x, a_s, a_m, a_r))
    if math.isinf(theta):
        spikes, _ = SRMFunction.apply(x, a_s, a_m, a_r, th, th_r, SIGMOID, False)
        assert spikes.sum().item() == 0


def test_theta_inf_gives_zero_spike_gradients() -> None:
    """theta = inf: sg'(u - inf) = 0, so a loss on the spikes reaches nothing (no NaN either)."""
    x = _input((8, 3), seed=2).requires_grad_()
    theta = torch.tensor(math.inf, dtype=F64, requires_grad=True)
    one = torch.tensor(0.5, dtype=F64, requires_grad=True)
    spikes, _ = SRMFunction.apply(x, one, one, one, theta, one, SIGMOID, False)
    grads = torch.autograd.grad(spikes.sum(), [x, theta, one])
    assert all(torch.equal(g, torch.zeros_like(g)) for g in grads)


def test_float32_agrees_with_the_float64_reference() -> None:
    x = _input((16, 4, 6), seed=11).float()
    params = {k: v.float() for k, v in _params((6,), seed=12).items()}
    spikes, u, got = _grads(SRMFunction.apply, x, params)
    ref_spikes, ref_u, want = _grads(reference, x.double(), {k: v.double() for k, v in params.items()})
    margin = (ref_u - params["theta"].double()).abs().min().item()
    assert margin > 1e-4, "no reference membrane within float32 rounding of the threshold"
    assert spikes.dtype == u.dtype == torch.float32 and torch.equal(spikes.double(), ref_spikes)
    for name in want:
        assert got[name].dtype == torch.float32
        _close(got[name].double(), want[name], 1e-5)


@dataclass(frozen=True)
class _Gauss(Surrogate):
    """A user's own surrogate (no fused kernel knows it): a Gaussian density of width w."""

    w: float = 0.4
    name: ClassVar[str] = "gauss"

    def derivative(self, v):
        return torch.exp(-0.5 * (v / self.w) ** 2) / (self.w * math.sqrt(2 * math.pi))

    def primitive(self, v):
        return 0.5 * (1 + torch.erf(v / (self.w * math.sqrt(2))))


@pytest.mark.parametrize("surrogate", [_Gauss(), get_surrogate("atan", a=3.0), get_surrogate("triangle")])
def test_any_surrogate_object(surrogate: Surrogate) -> None:
    x = _input((12, 5), seed=13)
    params = _params((5,), seed=14)
    _, _, got = _grads(SRMFunction.apply, x, params, surrogate=surrogate)
    _, _, want = _grads(reference, x, params, surrogate=surrogate)
    for name in want:
        assert want[name].abs().max().item() > 0, name
        _close(got[name], want[name])
