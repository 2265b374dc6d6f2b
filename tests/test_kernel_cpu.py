"""The fused CPU kernel against the plain reference: every kernel, registered surrogate and mode, both dtypes."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch

from bpsrm.errors import ParameterError
from bpsrm.neuron import surrogate as surrogates
from bpsrm.neuron.functional import srm, srm_reference
from bpsrm.neuron.kernels import cpu
from conftest import narrowed_surrogate

# Every registered surrogate: one added to the registry is covered by the tests below without a change here.
SURROGATES = list(surrogates.SURROGATES)


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
KERNEL_CASES = [case for case in CASES if surrogates.SURROGATES[case[1]].kernel_id is not None]


@pytest.mark.parametrize(("kernel", "surrogate", "detach_reset"), CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_equals_reference(kernel, surrogate, detach_reset, dtype) -> None:
    shape, param_shape = (12, 3, 70), (70,)  # 70 neurons per sample: a block tail, per-neuron parameters
    x, params, w_o, w_u = _case(dtype, shape, CASES.index((kernel, surrogate, detach_reset)), param_shape)
    # A width other than the default: a kernel that assumed the default would differ from the reference.
    options = {"kernel": kernel, "surrogate": narrowed_surrogate(surrogate), "detach_reset": detach_reset}
    backend = "fused"
    if surrogates.SURROGATES[surrogate].kernel_id is None:  # registered without a kernel: refused, auto falls back
        with pytest.raises(ParameterError, match="the fused kernel does not apply here"):
            srm(x, backend="fused", **options)
        backend = "auto"
    spikes, u, grads = _run(lambda *a, **k: srm(*a, backend=backend, **k), x, params, w_o, w_u, **options)
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


def test_custom_op_and_autograd_function_on_a_strided_input_equal_the_reference() -> None:
    """Both bindings of the kernel, the custom op (torch.compile's path) and the autograd.Function (eager
    mode), read x in time-major order when x is a strided view, and learn every parameter."""
    from bpsrm.neuron.kernels import compiled
    from bpsrm.neuron.surrogate import Atan

    g = torch.Generator().manual_seed(3)
    base = torch.randn(3, 4, 6, generator=g, dtype=torch.float64) + 0.5
    weights = torch.randn(4, 3, 6, generator=g, dtype=torch.float64)
    decays = {"tau_s": 0.6, "tau_m": 0.8, "tau_r": 0.7}
    values = {"theta": 1.0, "theta_r": 0.9}
    surrogate = Atan(a=3.0)

    def gradients(run):
        x = base.clone().transpose(0, 1).requires_grad_()  # [4, 3, 6], not contiguous
        params = [
            torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (*decays.values(), *values.values())
        ]
        spikes, u = run(x, params)
        loss = (spikes * weights).sum() + 0.1 * u.square().sum()
        return spikes.detach(), u.detach(), torch.autograd.grad(loss, [x, *params])

    def reference(x, params):
        # Decays a = exp(-1/tau) as taus, so that the reference computes the same decays.
        taus = {name: -1.0 / torch.log(p) for name, p in zip(decays, params, strict=False)}
        return srm_reference(x, **taus, theta=params[3], theta_r=params[4], surrogate=surrogate)

    expected = gradients(reference)
    args = (surrogate.kernel_id, 3.0, False, True)  # kernel id, width, detach_reset, check_finite
    for run in (lambda x, p: compiled.srm_forward(x, *p, *args), lambda x, p: cpu.SRMFusedCPU.apply(x, *p, *args)):
        spikes, u, grads = gradients(run)
        assert torch.equal(spikes, expected[0])
        torch.testing.assert_close(u, expected[1], rtol=1e-12, atol=1e-12)
        for a, b in zip(grads, expected[2], strict=True):
            assert b.abs().max() > 0
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@dataclass(frozen=True)
class _Softsign(surrogates.Surrogate):
    r"""A seventh surrogate, registered nowhere and implemented by no kernel: $sg'(v) = (a/2)/(1 + a|v|)^2$."""

    a: float = 3.0
    name: ClassVar[str] = "softsign (test)"

    def derivative(self, v: torch.Tensor) -> torch.Tensor:
        return (self.a / 2.0) / (1.0 + self.a * v.abs()) ** 2

    def primitive(self, v: torch.Tensor) -> torch.Tensor:
        return 0.5 + 0.5 * self.a * v / (1.0 + self.a * v.abs())


@dataclass(frozen=True)
class _SteepSigmoid(surrogates.Sigmoid):
    """A subclass of a kernel's surrogate (it inherits kernel_id 0) with another derivative: not the registered type."""

    def derivative(self, v: torch.Tensor) -> torch.Tensor:
        return 2.0 * super().derivative(2.0 * v)

    def primitive(self, v: torch.Tensor) -> torch.Tensor:
        return super().primitive(2.0 * v)


@pytest.mark.parametrize("surrogate", [_Softsign(), _SteepSigmoid()], ids=["no kernel_id", "unregistered subclass"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_surrogate_without_a_kernel_falls_back_or_is_refused(surrogate, dtype) -> None:
    x, params, w_o, w_u = _case(dtype, (10, 2, 33), 11, (33,))
    assert not cpu.supports(x, surrogate)
    with pytest.raises(ParameterError, match="the fused kernel does not apply here"):
        srm(x, surrogate=surrogate, backend="fused")
    spikes, u, grads = _run(srm, x, params, w_o, w_u, kernel="dexp", surrogate=surrogate, detach_reset=False)
    ref_spikes, ref_u, ref_grads = _run(
        srm_reference,
        x.double(),
        {k: v.double() for k, v in params.items()},
        w_o.double(),
        w_u.double(),
        kernel="dexp",
        surrogate=surrogate,
        detach_reset=False,
    )
    tolerance = 1e-5 if dtype == torch.float32 else 1e-10
    assert torch.equal(spikes.double(), ref_spikes)
    assert ((u.double() - ref_u).abs().max() / ref_u.abs().max()).item() <= tolerance
    for name, g in grads.items():
        ref = ref_grads[name]
        assert ref.abs().max() > 0, name
        assert ((g.double() - ref).abs().max() / ref.abs().max()).item() <= tolerance * 10, name


def test_the_library_knows_every_kernel_id_by_its_surrogate_name() -> None:
    """srm_cpu.c's surrogate table and the classes' kernel_id agree, so an id never selects another surrogate."""
    in_python = {cls.kernel_id: name for name, cls in surrogates.SURROGATES.items() if cls.kernel_id is not None}
    assert in_python
    assert cpu._LIBRARY_SURROGATES == in_python
    assert all(
        cpu.supports(torch.zeros(2, 3), cls()) for cls in surrogates.SURROGATES.values() if cls.kernel_id is not None
    )


def test_the_kernel_refuses_inconsistent_arguments() -> None:
    """The C side checks the struct it is given: a period that does not divide the neurons, a stride
    other than 0 or 1, an unknown surrogate id, a missing x where a tau gradient needs it."""
    x = torch.randn(3, 6, dtype=torch.float64)
    u, out, grad = torch.empty_like(x), torch.empty_like(x), torch.ones_like(x)
    one = torch.tensor(0.5, dtype=torch.float64)
    buffer = torch.zeros(1, 6, dtype=torch.float64)
    forward, backward = cpu._KERNELS[torch.float64]

    def args(**changes):
        a = cpu.KernelArgs(x=x.data_ptr(), u=u.data_ptr(), spikes=out.data_ptr(), grad_spikes=grad.data_ptr())
        a.grad_x, a.T, a.M, a.P, a.threads, a.width = grad.data_ptr(), 3, 6, 6, 1, 4.0
        for name in ("a_s", "a_m", "a_r", "theta", "theta_r"):
            setattr(a, name, one.data_ptr())
        for name, value in changes.items():
            setattr(a, name, value)
        return a

    assert forward(args()) == 0 and backward(args()) == 0
    assert forward(args(P=4)) == -2
    assert forward(args(s_a_m=2)) == -2
    assert backward(args(surrogate=len(cpu._LIBRARY_SURROGATES))) == -2
    assert backward(args(surrogate=-1)) == -2
    assert backward(args(x=None, grad_a_m=buffer.data_ptr())) == -2


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


@pytest.mark.parametrize(("kernel", "surrogate", "detach_reset"), KERNEL_CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lean_case_equals_reference(kernel, surrogate, detach_reset, dtype) -> None:
    # Training's case: one value per parameter, nothing learnt but x, a loss on the spikes only. The
    # kernel keeps the parameters in registers and skips the parameter reductions here.
    g = torch.Generator().manual_seed(7 + KERNEL_CASES.index((kernel, surrogate, detach_reset)))
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


def test_a_retained_graph_gives_the_same_gradients_twice() -> None:
    """A second backward through a retained graph, with learnt parameters, equals the first and the reference
    (the backward keeps no state between calls)."""
    x, params, w_o, w_u = _case(torch.float64, (6, 2, 9), 21, ())
    xr = x.clone().requires_grad_()
    leaves = {k: v.clone().requires_grad_() for k, v in params.items()}
    spikes, u = srm(xr, **leaves, surrogate="exponential", backend="fused")
    loss = (spikes * w_o).sum() + 0.3 * (u * w_u).sum()
    first = torch.autograd.grad(loss, [xr, *leaves.values()], retain_graph=True)
    second = torch.autograd.grad(loss, [xr, *leaves.values()])
    _, _, ref = _run(srm_reference, x, params, w_o, w_u, kernel="dexp", surrogate="exponential", detach_reset=False)
    for a, b, name in zip(first, second, ref, strict=True):
        assert torch.equal(a, b), name
        torch.testing.assert_close(a, ref[name], rtol=1e-10, atol=1e-12)


def test_the_fused_backward_is_differentiable_once_only() -> None:
    """create_graph=True runs, and differentiating its result again is an error, not a silent zero."""
    x = (torch.randn(5, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(6)) + 0.4).requires_grad_()
    spikes, u = srm(x, backend="fused")
    (grad,) = torch.autograd.grad((spikes + u.square()).sum(), [x], create_graph=True)
    with pytest.raises(RuntimeError, match="differentiate twice"):
        grad.sum().backward()


def test_without_gradients_the_kernel_runs_alone_and_equals_the_reference() -> None:
    x = torch.randn(7, 2, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(9)) + 0.4
    ref_spikes, ref_u = srm_reference(x, tau_m=3.0, theta=0.9)
    for context in (torch.no_grad(), torch.inference_mode()):
        with context:
            spikes, u = srm(x.clone().requires_grad_(), tau_m=3.0, theta=0.9, backend="fused")
        assert spikes.grad_fn is None and not spikes.requires_grad
        assert torch.equal(spikes, ref_spikes)
        torch.testing.assert_close(u, ref_u, rtol=1e-12, atol=1e-12)


def test_a_tensor_leaked_from_a_functorch_transform_still_runs() -> None:
    """Function.apply unwraps such tensors; the fused path, which skips that wrapper, falls back to it."""
    from torch.func import grad

    x = torch.randn(5, 2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(12)) + 0.5
    leaked = []

    def keep(t: torch.Tensor) -> torch.Tensor:
        leaked.append(t)
        return t.sum()

    grad(keep)(x.clone().requires_grad_())
    ref_spikes, ref_u = srm_reference(x, tau_m=2.5)
    for gradients in (True, False):  # through the autograd.Function, and the kernel alone (no graph)
        with torch.set_grad_enabled(gradients):
            spikes, u = srm(leaked[0], tau_m=2.5, backend="fused")
        assert torch.equal(spikes, ref_spikes)
        torch.testing.assert_close(u, ref_u, rtol=1e-12, atol=1e-12)
