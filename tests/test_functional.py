"""The neuron: srm against the kernel form, a hand computation and LIF; BP-SRM gradients against autograd."""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pytest
import torch

from bpsrm.errors import BpsrmError, ParameterError, ShapeError
from bpsrm.neuron.functional import BACKENDS as ALL_BACKENDS
from bpsrm.neuron.functional import kernel_choice, psp_kernel, srm, srm_convolution, srm_reference
from bpsrm.neuron.params import KERNELS
from bpsrm.neuron.surrogate import SURROGATES

F64 = torch.float64
# Every backend but "auto" (which picks one of the others): the C kernel and the explicit autograd.Function.
BACKENDS = [b for b in ALL_BACKENDS if b != "auto"]


def _input(shape=(24, 3, 4), seed=0, dtype=F64, scale=0.9, bias=0.25):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=g, dtype=F64) * scale + bias).to(dtype)


def _random_taus(seed: int, shape=()):
    g = torch.Generator().manual_seed(1000 + seed)
    return {name: (torch.rand(shape, generator=g, dtype=F64) * 6 + 1.2) for name in ("tau_s", "tau_m", "tau_r")}


# ---------------------------------------------------------------- forward ----
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("backend", BACKENDS)
def test_forward_equals_kernel_form(kernel: str, seed: int, per_channel: bool, backend: str) -> None:
    x = _input(seed=seed)
    taus = _random_taus(seed, shape=(4,) if per_channel else ())
    theta = 0.8 + 0.1 * seed
    spikes, u = srm(x, kernel=kernel, theta=theta, backend=backend, **taus)
    ref_spikes, ref_u = srm_convolution(x, kernel=kernel, theta=theta, **taus)
    assert 0.03 < spikes.mean().item() < 0.7, "the test must exercise spikes and resets"
    assert torch.equal(spikes, ref_spikes)
    assert (u - ref_u).abs().max().item() <= 1e-10


def test_psp_kernels_by_hand() -> None:
    a_s, a_m = torch.tensor(math.exp(-1 / 2), dtype=F64), torch.tensor(math.exp(-1 / 4), dtype=F64)
    dexp = psp_kernel(4, a_s, a_m, "dexp")
    # eps[n] = sum_j a_s^j a_m^(n-j) (BP-SRM.md section 1)
    for n in range(4):
        want = sum(a_s.item() ** j * a_m.item() ** (n - j) for j in range(n + 1))
        assert dexp[n].item() == pytest.approx(want, rel=1e-14)
    assert psp_kernel(3, a_m, a_m, "alpha").tolist() == pytest.approx([1, 2 * a_m.item(), 3 * a_m.item() ** 2])
    assert psp_kernel(3, a_s, a_m, "exp").tolist() == pytest.approx([1, a_m.item(), a_m.item() ** 2])


def test_psp_kernel_where_the_two_decays_meet() -> None:
    """At a_s = a_m the closed form is 0/0 (it gave NaN), and near it, in float32, it lost every digit; the
    kernel is the sum sum_j a_s^j a_m^(n-j), which is (n+1) a^n at a_s = a_m (BP-SRM.md section 1)."""
    a = math.exp(-1 / 4)
    met = psp_kernel(6, torch.tensor(a, dtype=F64), torch.tensor(a, dtype=F64), "dexp")
    assert met.tolist() == pytest.approx([(n + 1) * a**n for n in range(6)], rel=1e-14)
    a_s, a_m = math.exp(-1 / 4), math.exp(-1 / (4 + 1e-6))  # apart by 1e-6 steps: below float32's resolution
    near = psp_kernel(20, torch.tensor(a_s), torch.tensor(a_m), "dexp")
    for n in range(20):
        want = sum(a_s**j * a_m ** (n - j) for j in range(n + 1))
        assert near[n].item() == pytest.approx(want, rel=1e-5)
    assert psp_kernel(0, torch.tensor(a), torch.tensor(a), "dexp").shape == (0,)


def test_kernel_form_where_tau_s_equals_tau_m() -> None:
    """srm_convolution with tau_s = tau_m gave NaN everywhere; it agrees with srm, which takes that case."""
    x = _input(seed=5)
    spikes, u = srm(x, tau_s=4.0, tau_m=4.0, theta=0.9, backend="portable")
    ref_spikes, ref_u = srm_convolution(x, tau_s=4.0, tau_m=4.0, theta=0.9)
    assert 0.03 < spikes.mean().item() < 0.7
    assert torch.equal(spikes, ref_spikes)
    assert (u - ref_u).abs().max().item() <= 1e-10


def test_forward_by_hand() -> None:
    """Three steps computed with pencil: a spike at step 0 lowers u from step 1 on."""
    a_s, a_m, a_r = math.exp(-1 / 2), math.exp(-1 / 4), math.exp(-1 / 3)
    x = torch.tensor([[1.5], [0.2], [0.0]], dtype=F64)
    spikes, u = srm(x, tau_s=2.0, tau_m=4.0, tau_r=3.0, theta=1.0, theta_r=0.7)
    i0, v0 = 1.5, 1.5
    i1 = a_s * i0 + 0.2
    v1 = a_m * v0 + i1
    r1 = 0.7  # a_r * 0 + theta_r * o[0]
    i2 = a_s * i1
    v2 = a_m * v1 + i2
    r2 = a_r * r1 + 0.7 * (1.0 if v1 - r1 >= 1.0 else 0.0)
    assert u[:, 0].tolist() == pytest.approx([v0, v1 - r1, v2 - r2], rel=1e-14)
    assert spikes[:, 0].tolist() == [1.0, float(v1 - r1 >= 1.0), float(v2 - r2 >= 1.0)]


def test_threshold_is_inclusive() -> None:
    spikes, _ = srm(torch.tensor([[1.0]], dtype=F64), theta=1.0)
    assert spikes.item() == 1.0


@pytest.mark.parametrize("tau", [1.5, 4.0, 10.0])
@pytest.mark.parametrize("backend", BACKENDS)
def test_exp_kernel_is_lif_with_reset_by_subtraction(tau: float, backend: str) -> None:
    x = _input((40, 5, 6), seed=7)
    spikes, u = srm(x, kernel="exp", tau_m=tau, tau_r=tau, theta=1.0, backend=backend)
    a = math.exp(-1 / tau)
    lif_u, lif_o = [], []
    mem = torch.zeros(5, 6, dtype=F64)
    out = torch.zeros(5, 6, dtype=F64)
    for t in range(40):
        mem = a * mem + x[t] - 1.0 * out  # u[t] = a u[t-1] + x[t] - theta o[t-1]
        out = (mem >= 1.0).to(F64)
        lif_u.append(mem)
        lif_o.append(out)
    assert torch.equal(spikes, torch.stack(lif_o))
    assert (u - torch.stack(lif_u)).abs().max().item() <= 1e-12
    assert spikes.mean().item() > 0.05


def test_non_spiking_neuron_is_the_psp() -> None:
    x = _input((10, 3), seed=3)
    spikes, u = srm(x, theta=math.inf)
    assert spikes.sum().item() == 0
    eps = psp_kernel(10, torch.tensor(math.exp(-1 / 2), dtype=F64), torch.tensor(math.exp(-1 / 4), dtype=F64), "dexp")
    want = torch.stack([(eps[: t + 1].flip(0)[:, None] * x[: t + 1]).sum(0) for t in range(10)])
    torch.testing.assert_close(u, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("run", [*(partial(srm, backend=b) for b in BACKENDS), srm_reference])
def test_theta_inf_as_a_tensor_is_the_psp_in_its_channels(run) -> None:
    """theta = inf given as a tensor (per channel here: 1.0, inf, 0.5) with theta_r tied: that channel never
    fires and has no refractory response, exactly as for the number inf (R = inf * 0 gave NaN). Its u is the PSP
    (the kernel sum written out as above); the other channels are the reference with their own thresholds."""
    x = _input((10, 2, 3), seed=4, bias=0.6)
    theta = torch.tensor([1.0, math.inf, 0.5], dtype=F64, requires_grad=True)
    xg = x.clone().requires_grad_()
    spikes, u = run(xg, theta=theta)
    eps = psp_kernel(10, torch.tensor(math.exp(-1 / 2), dtype=F64), torch.tensor(math.exp(-1 / 4), dtype=F64), "dexp")
    psp = torch.stack([(eps[: t + 1].flip(0)[:, None] * x[: t + 1, :, 1]).sum(0) for t in range(10)])
    assert spikes[..., 1].sum().item() == 0
    torch.testing.assert_close(u[..., 1], psp, rtol=1e-12, atol=1e-12)
    for c, threshold in ((0, 1.0), (2, 0.5)):
        ref_spikes, ref_u = srm_reference(x[..., c], theta=threshold)
        assert torch.equal(spikes[..., c], ref_spikes) and ref_spikes.sum() > 0
        torch.testing.assert_close(u[..., c], ref_u, rtol=1e-12, atol=1e-12)
    grads = torch.autograd.grad((u * torch.linspace(-1, 1, u.numel(), dtype=F64).reshape(u.shape)).sum(), [xg, theta])
    assert all(bool(torch.isfinite(g).all()) for g in grads)
    assert grads[1][1].item() == 0.0  # nothing reaches an infinite threshold


def test_any_trailing_shape_and_time_only() -> None:
    for shape in [(6,), (6, 2), (6, 2, 3, 4, 5)]:
        x = _input(shape, seed=1)
        spikes, u = srm(x)
        ref_spikes, ref_u = srm_reference(x)
        assert spikes.shape == u.shape == x.shape
        assert torch.equal(spikes, ref_spikes)
        torch.testing.assert_close(u, ref_u, rtol=0, atol=1e-12)


def test_float32_agrees_with_float64() -> None:
    x = _input((16, 8, 32), seed=5)
    s64, u64 = srm(x)
    s32, u32 = srm(x.float())
    assert s32.dtype == u32.dtype == torch.float32
    torch.testing.assert_close(u32.double(), u64, rtol=0, atol=1e-4)
    assert (s32.double() != s64).float().mean().item() < 1e-3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_matches_cpu() -> None:
    x = _input((12, 4, 9), seed=2).requires_grad_()
    tau = torch.tensor(3.0, dtype=F64, requires_grad=True)
    s, u = srm(x, tau_m=tau)
    (g_x, g_tau) = torch.autograd.grad((s + u).sum(), (x, tau))
    xc, tauc = x.detach().cuda().requires_grad_(), tau.detach().cuda().requires_grad_()
    sc, uc = srm(xc, tau_m=tauc)
    (gc_x, gc_tau) = torch.autograd.grad((sc + uc).sum(), (xc, tauc))
    assert torch.equal(sc.cpu(), s)
    torch.testing.assert_close(uc.cpu(), u)
    torch.testing.assert_close(gc_x.cpu(), g_x)
    torch.testing.assert_close(gc_tau.cpu(), g_tau)


# --------------------------------------------------------------- backward ----
def _relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-300)).item()


def _grads(fn, x, params, kernel, detach_reset, surrogate, tie_theta_r):
    x = x.clone().requires_grad_()
    leaves = {k: v.clone().requires_grad_() for k, v in params.items()}
    kwargs = dict(leaves)
    if tie_theta_r:
        kwargs.pop("theta_r")
    spikes, u = fn(x, kernel=kernel, detach_reset=detach_reset, surrogate=surrogate, **kwargs)
    g = torch.Generator().manual_seed(11)
    w_o = torch.randn(x.shape, generator=g, dtype=F64)
    w_u = torch.randn(x.shape, generator=g, dtype=F64)
    loss = (spikes * w_o).sum() + 0.3 * (u * w_u).sum()
    names = ["x"] + [k for k in kwargs if k != "tau_s" or kernel == "dexp"]
    tensors = [x] + [kwargs[k] for k in names[1:]]
    return dict(zip(names, torch.autograd.grad(loss, tensors), strict=True)), spikes.mean().item()


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("detach_reset", [False, True])
@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("tie_theta_r", [False, True])
@pytest.mark.parametrize("backend", BACKENDS)
def test_backward_equals_autograd_of_reference(kernel, detach_reset, per_channel, tie_theta_r, backend) -> None:
    x = _input((20, 3, 4), seed=4)
    shape = (4,) if per_channel else ()
    params = _random_taus(2, shape)
    params["theta"] = torch.full(shape, 0.9, dtype=F64)
    params["theta_r"] = torch.full(shape, 0.6, dtype=F64)
    fast, rate = _grads(partial(srm, backend=backend), x, params, kernel, detach_reset, "sigmoid", tie_theta_r)
    ref, _ = _grads(srm_reference, x, params, kernel, detach_reset, "sigmoid", tie_theta_r)
    assert 0.05 < rate < 0.7
    assert fast.keys() == ref.keys()
    for name in fast:
        assert fast[name].shape == ref[name].shape, name
        assert ref[name].abs().max().item() > 0, f"the gradient of {name} must not vanish in this test"
        assert _relative_error(fast[name], ref[name]) <= 1e-8, name


@pytest.mark.parametrize("surrogate", sorted(SURROGATES))
@pytest.mark.parametrize("backend", BACKENDS)
def test_backward_every_surrogate(surrogate: str, backend: str) -> None:
    x = _input((16, 2, 5), seed=8)
    params = _random_taus(3, (5,))
    params["theta"] = torch.tensor(1.0, dtype=F64)
    params["theta_r"] = torch.tensor(1.0, dtype=F64)
    fast, _ = _grads(partial(srm, backend=backend), x, params, "dexp", False, surrogate, True)
    ref, _ = _grads(srm_reference, x, params, "dexp", False, surrogate, True)
    for name in fast:
        assert ref[name].abs().max().item() > 0, f"the gradient of {name} must not vanish in this test"
        assert _relative_error(fast[name], ref[name]) <= 1e-8, name


@pytest.mark.parametrize("backend", BACKENDS)
def test_only_spike_gradient_or_only_membrane_gradient(backend: str) -> None:
    x = _input((12, 6), seed=9)
    for pick in (0, 1):
        xa = x.clone().requires_grad_()
        xb = x.clone().requires_grad_()
        (ga,) = torch.autograd.grad(srm(xa, backend=backend)[pick].pow(2).sum(), xa)
        (gb,) = torch.autograd.grad(srm_reference(xb)[pick].pow(2).sum(), xb)
        assert _relative_error(ga, gb) <= 1e-8


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradcheck_non_spiking(backend: str) -> None:
    """Where the function is smooth (no spikes), finite differences apply: torch.autograd.gradcheck."""
    x = _input((8, 2, 3), seed=6).requires_grad_()
    tau_s = torch.tensor([1.5, 2.5, 3.5], dtype=F64, requires_grad=True)
    tau_m = torch.tensor(4.0, dtype=F64, requires_grad=True)
    for kernel in KERNELS:
        assert torch.autograd.gradcheck(
            lambda x, s, m, k=kernel: srm(x, tau_s=s, tau_m=m, theta=math.inf, kernel=k, backend=backend)[1],
            (x, tau_s, tau_m),
        )


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradcheck_without_refractory_path(backend: str) -> None:
    """With theta_r = 0, u does not depend on the spikes: gradcheck of u w.r.t. x and the taus."""
    x = _input((8, 2, 3), seed=6).requires_grad_()
    tau_s = torch.tensor(2.2, dtype=F64, requires_grad=True)
    tau_m = torch.tensor([3.0, 5.0, 7.0], dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x, s, m: srm(x, tau_s=s, tau_m=m, theta_r=0.0, backend=backend)[1], (x, tau_s, tau_m)
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_saves_only_what_the_backward_needs(backend: str) -> None:
    """Fixed taus: only u is saved (spikes are recomputed as u >= theta), not x and no other [T, ...] state."""
    x = _input((10, 4, 5), seed=1).requires_grad_()
    saved: list[torch.Tensor] = []

    def pack(t):
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        srm(x, backend=backend)
    big = [t for t in saved if t.numel() == x.numel()]
    assert len(big) == 1
    assert big[0].dtype == F64
    assert all(t.data_ptr() != x.data_ptr() for t in saved)

    saved.clear()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        srm(x, tau_m=torch.tensor(3.0, dtype=F64, requires_grad=True), backend=backend)
    assert any(t.data_ptr() == x.data_ptr() for t in saved), "learnable taus need x to recompute I and V"


# ----------------------------------------------------------------- errors ----
@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"tau_m": 0.0}, ParameterError, "tau_m must be finite and > 0, got 0.0"),
        ({"tau_s": -1.0}, ParameterError, "tau_s must be finite and > 0, got -1.0"),
        ({"tau_r": float("inf")}, ParameterError, "tau_r must be finite and > 0, got inf"),
        ({"tau_m": torch.tensor([2.0, -3.0])}, ParameterError, "tau_m must be finite and > 0, got a value -3.0"),
        ({"tau_m": torch.ones(3)}, ShapeError, "tau_m of shape (3,) does not broadcast against x[0] of shape (2,)"),
        ({"tau_m": torch.ones(4, 2)}, ShapeError, "would enlarge x[0]"),
        ({"theta": 0.0}, ParameterError, "theta must be > 0"),
        ({"theta_r": -0.5}, ParameterError, "theta_r must be null or finite and >= 0, got -0.5"),
        ({"kernel": "gauss"}, ParameterError, "unknown kernel 'gauss'; expected one of 'dexp', 'alpha', 'exp'"),
        ({"surrogate": "relu"}, ParameterError, "unknown surrogate 'relu'"),
        ({"tau_m": "4"}, ParameterError, "tau_m must be a number or a tensor, got str"),
    ],
)
def test_bad_parameters(kwargs, error, fragment) -> None:
    x = torch.zeros(5, 2)
    for fn in (srm, srm_reference, srm_convolution):
        with pytest.raises(error) as info:
            fn(x, **kwargs)
        assert fragment in str(info.value)
        assert isinstance(info.value, BpsrmError)


@pytest.mark.parametrize(
    ("x", "fragment"),
    [
        ([1.0, 2.0], "x must be a torch.Tensor of shape [T, ...], got list"),
        (torch.zeros(4, dtype=torch.long), "x must be a floating-point tensor, got dtype torch.int64"),
        (torch.tensor(1.0), "got shape ()"),
        (torch.zeros(0, 3), "T >= 1; got shape (0, 3)"),
    ],
)
def test_bad_inputs(x, fragment) -> None:
    with pytest.raises(ShapeError) as info:
        srm(x)
    assert fragment in str(info.value)


# --- the per-call plan of srm() with Python-number parameters (made once, looked up after) ---


def test_a_cached_plan_never_lets_a_refused_value_through() -> None:
    """True == 1 and hash(True) == hash(1): the plan of tau_m=1 must not answer a call with tau_m=True."""
    x = torch.rand(3, 2, 4) + 0.5
    srm(x, tau_m=1, tau_s=1.5)  # makes the plan for tau_m=1
    srm(x, tau_m=1, tau_s=1.5)  # and uses it
    with pytest.raises(ParameterError, match="tau_m"):
        srm(x, tau_m=True, tau_s=1.5)
    with pytest.raises(ParameterError, match="surrogate"):
        srm(x, surrogate="no-such-surrogate")
    with pytest.raises(ParameterError, match="backend"):
        srm(x, backend="no-such-backend")
    with pytest.raises(ShapeError):
        srm(x[:0])  # T = 0, with a plan for x's dtype and device in the cache


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_a_plan_is_per_dtype_kernel_and_backend(backend: str) -> None:
    """Alternating calls that differ in one setting each get their own result: the hand-computed first steps."""
    x = torch.full((2, 1, 1), 0.6, dtype=torch.float64)
    for _ in range(2):
        for kernel in ("dexp", "alpha", "exp"):
            for dtype in (torch.float64, torch.float32):
                _, u = srm(x.to(dtype), tau_s=2.0, tau_m=4.0, theta=5.0, kernel=kernel, backend=backend)
                a_m = math.exp(-1 / 4)
                a_s = {"dexp": math.exp(-1 / 2), "alpha": a_m, "exp": 0.0}[kernel]
                # I[1] = a_s I[0] + x[1], V[1] = a_m V[0] + I[1], with I[0] = V[0] = 0.6 (no spike: theta = 5)
                expected = a_m * 0.6 + (a_s * 0.6 + 0.6)
                assert u.dtype == dtype
                assert abs(float(u[1, 0, 0]) - expected) < (1e-12 if dtype == torch.float64 else 1e-6)


def test_number_and_tensor_parameters_give_the_same_bits_and_gradients() -> None:
    """The planned path (numbers) and the general path (0-d tensors) run the same kernel on the same decays."""
    g = torch.Generator().manual_seed(4)
    x = torch.randn(9, 3, 5, generator=g) * 0.7 + 0.4
    w = torch.randn(9, 3, 5, generator=g)
    numbers = {"tau_s": 1.7, "tau_m": 3.3, "tau_r": 2.2, "theta": 0.8, "theta_r": 0.6}
    results = []
    for params in (numbers, {k: torch.tensor(v, dtype=torch.float64) for k, v in numbers.items()}):
        xr = x.clone().requires_grad_()
        spikes, u = srm(xr, **params, surrogate="atan")
        (spikes * w + u).sum().backward()
        results.append((spikes, u, xr.grad))
    for a, b in zip(*results, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("kwargs", [{"detach_reset": "false"}, {"check_finite": "no"}, {"detach_reset": 1}])
def test_flags_that_are_not_booleans_are_refused(kwargs: dict) -> None:
    """srm(x, detach_reset="false") cut the reset's gradient: bool("false") is True (a sibling of helper-51's)."""
    name = next(iter(kwargs))
    for value in (torch.tensor(4.0), 4.0):  # the planned path (Python numbers) and the general one (a tensor)
        with pytest.raises(ParameterError, match=f"{name} must be true or false, got {kwargs[name]!r}"):
            srm(torch.rand(3, 2, 4), tau_m=value, **kwargs)
    if name == "detach_reset":
        for oracle in (srm_reference, srm_convolution):
            with pytest.raises(ParameterError, match="detach_reset must be true or false"):
                oracle(torch.rand(3, 2, 4), **kwargs)


def test_psp_kernel_takes_numbers_and_refuses_what_is_no_decay() -> None:
    """Numbers (Python's, NumPy's) are decays too: psp_kernel(5, 0.6, 0.8, "dexp") ended in AttributeError; a
    decay of 1.5 or NaN gave a growing or NaN kernel, steps=-1 an empty one, without a word."""
    # hand values: (a_m^(n+1) - a_s^(n+1)) / (a_m - a_s) for a_s = 0.5, a_m = 0.25: 1, 0.75, 0.4375
    assert psp_kernel(3, 0.5, 0.25, "dexp").tolist() == [1.0, 0.75, 0.4375]
    assert psp_kernel(np.int64(4), np.float32(0.5), 0.5, "alpha").tolist() == [1.0, 1.0, 0.75, 0.5]
    assert psp_kernel(3, 0, 0.5, "exp").dtype == torch.float64
    # a tau so long that its float32 decay rounds to 1 (1e8 steps): srm ran it, srm_convolution's kernel refused it
    assert psp_kernel(3, 1.0, 1.0, "dexp").tolist() == [1.0, 2.0, 3.0]
    x = _input((5, 2), dtype=torch.float32)
    assert torch.equal(srm_convolution(x, tau_m=1e8)[0], srm(x, tau_m=1e8)[0])
    refused = [
        ((5, 1.5, 0.8, "dexp"), r"a_s must be a decay per step in \[0, 1\].*\[1\.5\]"),
        ((5, 0.5, math.nan, "dexp"), r"a_m must be a decay per step in \[0, 1\].*\[nan\]"),
        ((5, 0.5, torch.tensor([0.5, -0.1]), "exp"), r"a_m must be a decay.*\[-0\.1"),
        ((2.5, 0.5, 0.5, "dexp"), "steps must be a whole number >= 0, got 2.5"),
        ((-1, 0.5, 0.5, "dexp"), "steps must be a whole number >= 0, got -1"),
        ((True, 0.5, 0.5, "dexp"), "steps must be a whole number >= 0, got True"),
        ((3, "0.5", 0.5, "dexp"), "a_s must be a number or a tensor of decays, got '0.5'"),
        ((3, 0.5, 0.5, "dexpo"), "unknown kernel 'dexpo'"),
    ]
    for args, message in refused:
        with pytest.raises(ParameterError, match=message):
            psp_kernel(*args)


@pytest.mark.parametrize("number", [np.float32(2.0), np.int64(2), np.array(2.0), np.float16(2.0)])
def test_numpy_numbers_are_the_numbers_they_hold(number) -> None:
    """np.float32(2) was refused ("must be a number or a tensor, got float32") while np.float64, a float subclass,
    was taken; a NumPy number now gives what the Python number gives, bit for bit (the same plan)."""
    x = _input((12, 3), dtype=torch.float32)
    spikes, u = srm(x, tau_s=number, tau_m=3.0, tau_r=number, theta=np.float32(1.0), theta_r=np.float64(1.0))
    plain_spikes, plain_u = srm(x, tau_s=2.0, tau_m=3.0, tau_r=2.0, theta=1.0, theta_r=1.0)
    assert torch.equal(u, plain_u) and torch.equal(spikes, plain_spikes)
    reference = srm_reference(x.double(), tau_s=2.0, tau_m=3.0, tau_r=2.0)[1]
    assert torch.allclose(u.double(), reference, atol=1e-5)
    with pytest.raises(ParameterError, match="tau_s must be a number or a tensor, got bool"):
        srm(x, tau_s=np.bool_(True))


def test_kernel_choice_checks_its_arguments() -> None:
    """kernel_choice(x, Sigmoid(), "protable") answered ("c", ""), and a surrogate's name ended in AttributeError."""
    x = torch.zeros(3, 2)
    with pytest.raises(
        ParameterError, match=r"unknown backend 'protable'; expected one of \['auto', 'fused', 'portable'\]"
    ):
        kernel_choice(x, "sigmoid", "protable")
    with pytest.raises(ParameterError, match="unknown surrogate 'nope'"):
        kernel_choice(x, "nope")
    with pytest.raises(ParameterError, match="kernel_choice: x must be a tensor, got list"):
        kernel_choice([1.0], "sigmoid")  # type: ignore[arg-type]
    assert kernel_choice(x, "atan", "portable") == (None, "backend='portable'")
    assert kernel_choice(x.half(), "atan")[0] is None  # no fused kernel for float16 on a CPU
