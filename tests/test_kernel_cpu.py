"""The fused CPU kernel against the plain reference: every kernel, surrogate and mode, float32 and float64."""

from __future__ import annotations

import itertools

import pytest
import torch

from bpsrm.functional import srm, srm_reference
from bpsrm.kernels import cpu

SURROGATES = ["sigmoid", "atan", "triangle", "rectangle", "exponential", "fast_sigmoid"]


def test_the_kernel_is_built_here() -> None:
    """The project's machines have a C compiler: the fused path must be there, not silently replaced
    by the portable one (every test below would then fail with 'the fused kernel does not apply')."""
    assert cpu.available(), cpu.unavailable_reason()


def _case(dtype, shape, seed, param_shape):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(shape, generator=g, dtype=torch.float64) * 0.9 + 0.25).to(dtype)
    params = {
        "tau_s": torch.rand(param_shape, generator=g, dtype=torch.float64) * 5 + 1.2,
        "tau_m": torch.rand(param_shape, generator=g, dtype=torch.float64) * 5 + 1.5,
        "tau_r": torch.rand(param_shape, generator=g, dtype=torch.float64) * 5 + 1.2,
        "theta": torch.rand(param_shape, generator=g, dtype=torch.float64) * 0.4 + 0.8,
        "theta_r": torch.rand(param_shape, generator=g, dtype=torch.float64) * 0.8 + 0.2,
    }
    w_o = torch.randn(shape, generator=g, dtype=torch.float64).to(dtype)
    w_u = torch.randn(shape, generator=g, dtype=torch.float64).to(dtype)
    return x, {k: v.to(dtype) for k, v in params.items()}, w_o, w_u


def _run(fn, x, params, w_o, w_u, **options):
    x = x.clone().requires_grad_()
    leaves = {k: v.clone().requires_grad_() for k, v in params.items()}
    spikes, u = fn(x, **leaves, **options)
    names = ["x"] + [k for k in leaves if k != "tau_s" or options["kernel"] == "dexp"]
    tensors = [x] + [leaves[k] for k in names[1:]]
    grads = torch.autograd.grad((spikes * w_o).sum() + 0.3 * (u * w_u).sum(), tensors)
    return spikes.detach(), u.detach(), dict(zip(names, grads, strict=True))


CASES = list(itertools.product(["dexp", "alpha", "exp"], SURROGATES, [False, True]))


@pytest.mark.parametrize(("kernel", "surrogate", "detach_reset"), CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_equals_reference(kernel, surrogate, detach_reset, dtype) -> None:
    shape, param_shape = (12, 3, 70), (70,)  # 70 neurons per sample: a block tail, per-neuron parameters
    x, params, w_o, w_u = _case(dtype, shape, CASES.index((kernel, surrogate, detach_reset)), param_shape)
    options = {"kernel": kernel, "surrogate": surrogate, "detach_reset": detach_reset}
    spikes, u, grads = _run(lambda *a, **k: srm(*a, backend="fused", **k), x, params, w_o, w_u, **options)
    # The reference in float64 from the same inputs (the float32 one would differ by its own rounding).
    ref_spikes, ref_u, ref_grads = _run(
        srm_reference, x.double(), {k: v.double() for k, v in params.items()}, w_o.double(), w_u.double(), **options
    )
    tolerance = 1e-5 if dtype == torch.float32 else 1e-10
    near_threshold = (ref_u - params["theta"].double()).abs() < 1e-6
    assert not near_threshold.any(), "choose inputs whose spikes are not decided by rounding"
    assert torch.equal(spikes.double(), ref_spikes)
    scale = ref_u.abs().max()
    assert ((u.double() - ref_u).abs().max() / scale).item() <= tolerance
    for name, g in grads.items():
        ref = ref_grads[name]
        assert ref.abs().max() > 0, name
        assert ((g.double() - ref).abs().max() / ref.abs().max()).item() <= tolerance * 10, name


@pytest.mark.parametrize(
    ("shape", "tau_shape"),
    [
        ((5, 4, 3, 6, 6), (3, 1, 1)),  # per channel of a conv map: period C*H*W
        ((5, 4, 7), (4, 1)),  # varies over the first dimension of x[0]: materialised
        ((6, 300), ()),  # one sample, scalar
        ((1, 2, 513), (513,)),  # T = 1, two blocks and a tail
        ((4, 2, 3, 5), (2, 3, 1)),  # two dims
    ],
)
def test_broadcast_shapes(shape, tau_shape) -> None:
    g = torch.Generator().manual_seed(4)
    x = torch.randn(shape, generator=g, dtype=torch.float64) + 0.5
    tau = (torch.rand(tau_shape, generator=g, dtype=torch.float64) * 4 + 1.5).requires_grad_()
    theta = (torch.rand(tau_shape, generator=g, dtype=torch.float64) * 0.3 + 0.8).requires_grad_()
    xs = [x.clone().requires_grad_() for _ in range(2)]
    out_f = srm(xs[0], tau_m=tau, theta=theta, backend="fused")
    out_r = srm_reference(xs[1], tau_m=tau, theta=theta)
    assert torch.equal(out_f[0], out_r[0].detach())
    g_f = torch.autograd.grad(out_f[0].sum() + out_f[1].sum(), [xs[0], tau, theta])
    g_r = torch.autograd.grad(out_r[0].sum() + out_r[1].sum(), [xs[1], tau, theta])
    for a, b in zip(g_f, g_r, strict=True):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_threads_do_not_change_the_result() -> None:
    x = torch.randn(8, 16, 1000, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) + 0.3
    tau = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    results = []
    before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            xr = x.clone().requires_grad_()
            s, u = srm(xr, tau_m=tau, backend="fused")
            results.append((s, u, *torch.autograd.grad((s + u).sum(), [xr, tau])))
    finally:
        torch.set_num_threads(before)
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_fused_backend_refuses_what_it_cannot_do() -> None:
    from bpsrm.errors import ParameterError

    with pytest.raises(ParameterError, match="the fused kernel does not apply here"):
        srm(torch.zeros(3, 2, dtype=torch.float16), backend="fused")
    with pytest.raises(ParameterError, match="unknown backend 'gpu'"):
        srm(torch.zeros(3, 2), backend="gpu")


def test_custom_op_on_a_strided_input_matches_the_autograd_function() -> None:
    """The torch.compile path (custom ops) reads x in time-major order even when x is a strided view."""
    from bpsrm.kernels import compiled
    from bpsrm.kernels.cpu import SRMFusedCPU
    from bpsrm.surrogate import get_surrogate

    g = torch.Generator().manual_seed(3)
    base = torch.randn(3, 4, 6, generator=g, dtype=torch.float64) + 0.5
    weights = torch.randn(4, 3, 6, generator=g, dtype=torch.float64)
    results = []
    for use_op in (False, True):
        x = base.clone().transpose(0, 1).requires_grad_()  # [4, 3, 6], not contiguous
        params = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (0.6, 0.8, 0.7, 1.0, 0.9)]
        if use_op:
            spikes, u = compiled.srm_forward(x, *params, "sigmoid", 4.0, False)
        else:
            spikes, u = SRMFusedCPU.apply(x, *params, get_surrogate("sigmoid"), False)
        loss = (spikes * weights).sum() + 0.1 * u.square().sum()
        results.append(torch.autograd.grad(loss, [x, *params]))
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_call_large_enough_for_several_threads_equals_the_reference(dtype) -> None:
    # 8 x 8 x 1100 = 70,400 neuron-steps: above the size below which the kernel runs on one thread,
    # several blocks per thread, per-neuron parameters (so every thread reduces its own tau gradients).
    x, params, w_o, w_u = _case(dtype, (8, 8, 1100), 99, (1100,))
    options = {"kernel": "dexp", "surrogate": "sigmoid", "detach_reset": False}
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        spikes, u, grads = _run(lambda *a, **k: srm(*a, backend="fused", **k), x, params, w_o, w_u, **options)
    finally:
        torch.set_num_threads(before)
    ref_spikes, ref_u, ref_grads = _run(
        srm_reference, x.double(), {k: v.double() for k, v in params.items()}, w_o.double(), w_u.double(), **options
    )
    tolerance = 1e-5 if dtype == torch.float32 else 1e-10
    near = (ref_u - params["theta"].double()).abs() < 1e-6
    assert torch.equal(spikes.double()[~near], ref_spikes[~near])
    assert ((u.double() - ref_u).abs().max() / ref_u.abs().max()).item() <= tolerance
    for name, g in grads.items():
        ref = ref_grads[name]
        assert ((g.double() - ref).abs().max() / ref.abs().max()).item() <= tolerance * 10, name


def test_number_parameters_first_used_under_inference_mode_still_train() -> None:
    # The decays made from Python numbers are kept between calls; made first under inference mode,
    # they must still be ordinary tensors that a later training call can save for its backward.
    x = torch.randn(5, 3, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) + 0.4
    options = {"tau_s": 1.7, "tau_m": 3.3, "tau_r": 2.9, "theta": 0.9}
    with torch.inference_mode():
        srm(x.clone(), **options)
    xr = x.clone().requires_grad_()
    spikes, u = srm(xr, **options)
    (grad,) = torch.autograd.grad((spikes + u).sum(), [xr])
    xq = x.clone().requires_grad_()
    ref_spikes, ref_u = srm_reference(xq, **options)
    (ref,) = torch.autograd.grad((ref_spikes + ref_u).sum(), [xq])
    torch.testing.assert_close(grad, ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("kernel", "surrogate", "detach_reset"), CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lean_case_equals_reference(kernel, surrogate, detach_reset, dtype) -> None:
    # Training's case: one value per parameter, nothing learnt but x, a loss on the spikes only. The
    # kernel keeps the parameters in registers and skips the parameter reductions here.
    g = torch.Generator().manual_seed(7 + CASES.index((kernel, surrogate, detach_reset)))
    x = (torch.randn(9, 4, 1100, generator=g, dtype=torch.float64) * 0.9 + 0.25).to(dtype)
    w = torch.randn(9, 4, 1100, generator=g, dtype=torch.float64).to(dtype)
    options = {"tau_s": 1.7, "tau_m": 3.6, "tau_r": 2.4, "theta": 0.95, "theta_r": 0.7, "kernel": kernel}
    options |= {"surrogate": surrogate, "detach_reset": detach_reset}
    xf = x.clone().requires_grad_()
    spikes, u = srm(xf, backend="fused", **options)
    (grad,) = torch.autograd.grad((spikes * w).sum(), [xf])
    xr = x.double().requires_grad_()
    ref_spikes, ref_u = srm_reference(xr, **options)
    (ref,) = torch.autograd.grad((ref_spikes * w.double()).sum(), [xr])
    tolerance = 1e-5 if dtype == torch.float32 else 1e-10
    near = (ref_u - 0.95).abs() < 1e-6
    assert not near.any(), "choose inputs whose spikes are not decided by rounding"
    assert torch.equal(spikes.double(), ref_spikes)
    assert ((u.double() - ref_u).abs().max() / ref_u.abs().max()).item() <= tolerance
    assert ((grad.double() - ref).abs().max() / ref.abs().max()).item() <= tolerance * 10


def test_number_parameters_first_seen_by_torch_export_still_run() -> None:
    # torch.export (non-strict) calls srm on fake tensors; the decays it makes must not be kept.
    class Spikes(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return srm(x, tau_m=3.7, theta=0.8)[0]

    x = torch.randn(4, 2, 3, generator=torch.Generator().manual_seed(5)) + 0.5
    torch.export.export(Spikes(), (x,), strict=False)
    spikes, _ = srm(x, tau_m=3.7, theta=0.8)
    ref, _ = srm_reference(x.double(), tau_m=3.7, theta=0.8)
    assert torch.equal(spikes.double(), ref)
