r"""The SRM neuron as functions of whole sequences.

* :func:`srm` is the fast path: the iterative SRM (BP-SRM.md section 2) with
  its explicit BP-SRM backward (section 3), see :mod:`bpsrm.neuron.autograd`.
* :func:`srm_reference` computes the same recursion step by step with plain
  autograd: the oracle that the fast path is tested against.
* :func:`srm_convolution` computes the kernel form of section 1 with the
  explicit kernels eps and eta, in O(T^2): the check that the recursion is
  the SRM.

Time constants become decays $a = e^{-1/\tau}$ (dt = 1). The PSP kernel
is chosen by name: ``"dexp"`` (a_s, a_m from tau_s, tau_m), ``"alpha"``
(tau_s ignored, a_s = a_m) or ``"exp"`` (tau_s ignored, a_s = 0: the LIF
neuron's single exponential).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..checks import flag, real_value
from ..errors import ParameterError, ShapeError, shown
from .autograd import SRMFunction, SRMHardResetFunction
from .kernels import FORCED_KERNEL, KERNEL_SETTING_PROBLEM, cpu, gpu
from .params import DEFAULTS, KERNELS, SETTINGS, Range, check_setting, decay
from .surrogate import BUILT_IN, SURROGATES, Surrogate, get_surrogate, spike_function

__all__ = ["KERNELS", "srm", "srm_reference", "srm_convolution", "decay", "psp_kernel", "kernel_choice"]

BACKENDS = ("auto", "fused", "portable")

Scalar = float | int | Tensor


def parameter_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype of the neuron's parameters for inputs of ``dtype``: float32 for float16 and bfloat16 inputs
    (a decay rounded to float16 is off by about 5e-4), the input's own otherwise."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def check_input(x: object) -> Tensor:
    """``x`` if it is a dense floating-point tensor ``[T, ...]`` with T >= 1; ShapeError saying what it is else."""
    if not isinstance(x, Tensor):
        raise ShapeError(f"x must be a torch.Tensor of shape [T, ...], got {type(x).__name__}")
    if not x.is_floating_point():
        raise ShapeError(f"x must be a floating-point tensor, got dtype {x.dtype}")
    if x.layout != torch.strided or x.is_meta:
        kind = "a meta tensor (no data)" if x.is_meta else f"layout {x.layout} (x.to_dense() makes it dense)"
        raise ShapeError(f"x must be a dense tensor holding its values, got {kind}")
    if x.dim() < 1 or x.shape[0] < 1:
        raise ShapeError(f"x must have a time axis first, shape [T, ...] with T >= 1; got shape {tuple(x.shape)}")
    return x


def _range(name: str) -> Range:
    """The allowed range of a parameter (:data:`bpsrm.neuron.params.SETTINGS`); here theta may also be inf."""
    allowed = SETTINGS[name].range
    assert allowed is not None
    return dataclasses.replace(allowed, inf=True) if name == "theta" else allowed


def _as_parameter(value: Scalar, name: str, x: Tensor) -> Tensor:
    """A float or tensor parameter as a tensor of x's dtype and device, checked against its range. NumPy's numbers
    and 0-d arrays are numbers (np.float32 was refused, np.float64, a float subclass, was not)."""
    value = _python_number(value)
    if isinstance(value, bool) or not isinstance(value, (int, float, Tensor)):
        raise ParameterError(f"{name} must be a number or a tensor, got {type(value).__name__}")
    if isinstance(value, Tensor):
        if not value.is_floating_point() and value.dtype not in (torch.int32, torch.int64):
            raise ParameterError(f"{name} must be a real tensor, got dtype {value.dtype}")
        try:
            torch.broadcast_shapes(value.shape, x.shape[1:])
        except RuntimeError:
            raise ShapeError(
                f"{name} of shape {tuple(value.shape)} does not broadcast against x[0] of shape "
                f"{tuple(x.shape[1:])} (x is [T, ...] = {tuple(x.shape)})"
            ) from None
        if torch.broadcast_shapes(value.shape, x.shape[1:]) != x.shape[1:]:
            raise ShapeError(
                f"{name} of shape {tuple(value.shape)} would enlarge x[0] of shape "
                f"{tuple(x.shape[1:])}; it must broadcast against x[0]"
            )
        tensor = value.to(dtype=parameter_dtype(x.dtype), device=x.device)
        detached = tensor.detach()
        allowed = _range(name)
        bad = ((detached < allowed.low) if allowed.inclusive else (detached <= allowed.low)) | torch.isnan(detached)
        if not allowed.inf:
            bad = bad | torch.isinf(detached)
        if torch.compiler.is_compiling():  # a data-dependent branch would break the graph: assert in it
            torch._assert_async(~bad.any(), f"{name} must be {allowed.text()}")
        elif bool(bad.any()):
            first = detached[bad].flatten()[0].item()
            raise ParameterError(f"{name} must be {allowed.text()}, got a value {first}")
        return tensor
    return torch.tensor(_checked_number(value, name), dtype=parameter_dtype(x.dtype), device=x.device)


def _checked_number(value: float | int, name: str) -> float:
    """A Python number as a float, checked against its range like :func:`_as_parameter`."""
    allowed = _range(name)
    number = real_value(value)  # inf for an int past float's range
    if not allowed.holds(number):
        raise ParameterError(f"{name} must be {allowed.text()}, got {shown(value)}")
    return number


@dataclass(frozen=True)
class _Prepared:
    """Validated parameters of one call, as tensors on x's device."""

    tau_s: Tensor | None
    tau_m: Tensor
    tau_r: Tensor
    theta: Tensor
    theta_r: Tensor
    kernel: str
    surrogate: Surrogate


def _prepare(
    x: Tensor,
    tau_s: Scalar,
    tau_m: Scalar,
    tau_r: Scalar,
    theta: Scalar,
    theta_r: Scalar | None,
    kernel: str,
    surrogate: str | Surrogate,
) -> _Prepared:
    check_input(x)
    check_setting("kernel", kernel)
    sg = get_surrogate(surrogate)
    t_m = _as_parameter(tau_m, "tau_m", x)
    t_r = _as_parameter(tau_r, "tau_r", x)
    t_s = _as_parameter(tau_s, "tau_s", x) if kernel == "dexp" else None
    th = _as_parameter(theta, "theta", x)
    if theta_r is None:
        # A non-spiking neuron (theta = inf) has no refractory response: theta_r = 0 there, not inf (R would be
        # inf * 0 = NaN). A tensor theta may be inf in some channels only; where is no host sync.
        if isinstance(theta, Tensor):
            th_r = torch.where(torch.isinf(th), torch.zeros((), dtype=th.dtype, device=th.device), th)
        elif math.isinf(float(theta)):
            th_r = torch.zeros((), dtype=parameter_dtype(x.dtype), device=x.device)
        else:
            th_r = th
    else:
        th_r = _as_parameter(theta_r, "theta_r", x)
    return _Prepared(t_s, t_m, t_r, th, th_r, kernel, sg)


def srm(
    x: Tensor,
    *,
    tau_s: Scalar = DEFAULTS.tau_s,
    tau_m: Scalar = DEFAULTS.tau_m,
    tau_r: Scalar = DEFAULTS.tau_r,
    theta: Scalar = DEFAULTS.theta,
    theta_r: Scalar | None = DEFAULTS.theta_r,
    kernel: str = DEFAULTS.kernel,
    surrogate: str | Surrogate = DEFAULTS.surrogate,
    detach_reset: bool = DEFAULTS.detach_reset,
    backend: str = "auto",
    check_finite: bool = True,
    reset: str = DEFAULTS.reset,
) -> tuple[Tensor, Tensor]:
    r"""Run SRM neurons over a whole sequence; returns ``(spikes, u)``.

    Implements the iterative SRM (BP-SRM.md section 2)

    $$
    I[t] = a_s I[t-1] + x[t],\quad V[t] = a_m V[t-1] + I[t],\quad
    R[t] = a_r R[t-1] + \theta_r o[t-1],\quad
    u[t] = V[t] - R[t],\quad o[t] = H(u[t] - \theta)
    $$

    with $a = e^{-1/\tau}$, and the BP-SRM backward of section 3. With ``reset="zero"`` (section 2.1) there is
    no R: $V[t] = a_m (1 - o[t-1]) V[t-1] + I[t]$, $u[t] = V[t]$, with the backward of section 3.2.

    Args:
        x: input current, shape ``[T, ...]`` (time first, any trailing shape),
            float32 or float64, any device.
        tau_s: synaptic time constant in steps, > 0: a Python number or a tensor
            that broadcasts against ``x[0]`` (per neuron or per channel) and may
            require grad.
        tau_m: membrane time constant in steps (same forms as tau_s).
        tau_r: refractory time constant in steps (same forms as tau_s).
        theta: threshold, > 0 (``math.inf``, or inf in a tensor's entries,
            makes a non-spiking neuron whose ``u`` is the PSP).
        theta_r: refractory strength, >= 0; ``None`` means ``theta`` (0 where
            theta is inf).
        kernel: ``"dexp"``, ``"alpha"`` (tau_s ignored) or ``"exp"`` (tau_s ignored).
        surrogate: a name from :data:`bpsrm.neuron.surrogate.SURROGATES` or a
            :class:`~bpsrm.neuron.surrogate.Surrogate`.
        detach_reset: cut the gradient through the refractory response.
        backend: ``"auto"`` (the fused C kernel on CPU float32/float64, the Triton kernel on CUDA
            tensors, else the portable autograd.Function: :func:`kernel_choice`), ``"fused"`` or
            ``"portable"``.
        check_finite: raise :class:`~bpsrm.errors.NonFiniteError`, naming the first bad
            element, when x holds NaN or Inf (or a membrane overflows); checked on the
            final state (see :mod:`bpsrm.neuron.finite`), at no measurable cost on a CPU (on a GPU
            the Triton kernel's flag is read back once per call, a synchronisation). False lets
            NaN and Inf through to the outputs.
        reset: ``"subtract"`` (the refractory response) or ``"zero"`` (the hard reset: tau_r and theta_r
            unused, ``detach_reset`` cuts the gradient through the factor 1 - o). Both run the same backends.

    Returns:
        ``spikes`` (0/1 in x's dtype) and the membrane potential ``u``, each of
        x's shape.
    """
    if (
        (reset == "subtract" or reset == "zero")
        and type(x) is Tensor
        and (type(surrogate) is str or type(surrogate) in _PLANNED_SURROGATES)
        and type(tau_s) in _NUMBER_TYPES
        and type(tau_m) in _NUMBER_TYPES
        and type(tau_r) in _NUMBER_TYPES
        and type(theta) in _NUMBER_TYPES
        and (theta_r is None or type(theta_r) in _NUMBER_TYPES)
        and type(kernel) is str
        and type(backend) is str
        and type(detach_reset) is bool
        and type(check_finite) is bool
    ):  # hashable (a list would raise a bare TypeError) and with one meaning (np.True_ == True would share a plan)
        # Python numbers and a surrogate name or built-in instance: the call's plan (checked decays, surrogate,
        # backend) is made once per distinct call and looked up after; only x's own checks remain per call.
        key = (
            tau_s,
            tau_m,
            tau_r,
            theta,
            theta_r,
            kernel,
            surrogate,
            SURROGATES.get(surrogate) if type(surrogate) is str else None,  # a name registered again: new plan
            detach_reset,
            backend,
            check_finite,
            reset,
            x.dtype,
            x.device,
        )
        plan = _PLANS.get(key)
        if plan is not None and x.layout is torch.strided and x.dim() and x.shape[0] and constants_may_be_kept(x):
            return plan(x)
        if constants_may_be_kept(x):
            check_input(x)
            check_setting("kernel", kernel)
            check_flags(detach_reset, check_finite)
            numbers = (tau_s, tau_m, tau_r, theta, theta_r)
            constants = _constant_parameters(x.dtype, x.device, kernel, *numbers)
            sg = get_surrogate(surrogate)
            plan = _plan(constants, sg, bool(detach_reset), backend, bool(check_finite), x, reset)
            if all(type(v) is not int or v.bit_length() <= 64 for v in numbers):
                # a whole number past 64 bits (10**5000, read as inf) is not kept: torch.compile guards on the
                # cache's keys and writes them with repr, which refuses more than 4,300 digits
                if len(_PLANS) >= 256:
                    _PLANS.clear()
                _PLANS[key] = plan
            return plan(x)
    given = (tau_s, tau_m, tau_r, theta, theta_r)
    if any(isinstance(v, _NUMPY_TYPES) and np.ndim(v) == 0 for v in given):  # off the planned calls' path
        # NumPy's numbers (and 0-d arrays) are the Python numbers they hold: the same plan, the same roundings
        tau_s, tau_m, tau_r, theta, theta_r = (_python_number(v) for v in given)
        return srm(
            x,
            tau_s=tau_s,
            tau_m=tau_m,
            tau_r=tau_r,
            theta=theta,
            theta_r=theta_r,
            kernel=kernel,
            surrogate=surrogate,
            detach_reset=detach_reset,
            backend=backend,
            check_finite=check_finite,
            reset=reset,
        )
    check_setting("reset", reset)
    detach_reset, check_finite = check_flags(detach_reset, check_finite)
    p = _prepare(x, tau_s, tau_m, tau_r, theta, theta_r, kernel, surrogate)
    a_m = decay(p.tau_m)
    a_s = None if kernel == "exp" else (a_m if kernel == "alpha" else decay(p.tau_s))  # type: ignore[arg-type]
    return srm_decays(
        x, a_s, a_m, decay(p.tau_r), p.theta, p.theta_r, p.surrogate, detach_reset, backend, check_finite, reset
    )


def check_flags(detach_reset: object, check_finite: object) -> tuple[bool, bool]:
    """Both flags as Python bools (NumPy's too); ParameterError unless both are booleans (the string "false" was
    read by ``bool`` as True)."""
    return check_setting("detach_reset", detach_reset), flag("check_finite", check_finite)


_NUMBER_TYPES = (float, int)  # type(v) in these: bool excluded, so True never finds the plan of 1
_NUMPY_TYPES = (np.generic, np.ndarray)


def _python_number(value: Any) -> Any:
    """The Python number a NumPy number or 0-d array holds (np.bool_ gives a bool, refused after); else ``value``."""
    if isinstance(value, _NUMPY_TYPES) and np.ndim(value) == 0:
        return value.item()
    return value


_PLANNED_SURROGATES = frozenset(BUILT_IN)  # hashable by value; a user's subclass (maybe unhashable) is not planned
Plan = Callable[[Tensor], tuple[Tensor, Tensor]]
# Plans of srm() calls with Python-number parameters, keyed by every argument but x and by x's dtype and
# device. A plan holds cached 0-d tensors that are never written to (see _constant_parameters).
_PLANS: dict[tuple[object, ...], Plan] = {}


def _plan(
    constants: tuple[Tensor | None, Tensor, Tensor, Tensor, Tensor],
    surrogate: Surrogate,
    detach_reset: bool,
    backend: str,
    check_finite: bool,
    x: Tensor,
    reset: str = "subtract",
) -> Plan:
    """How :func:`srm` runs calls like this one on x's dtype and device: the fused kernel or the portable
    Function, with the checked constants bound (the same choice :func:`srm_decays` makes), for either reset
    (BP-SRM.md sections 2 and 2.1)."""
    kernel = _fused_kernel(x, surrogate, backend)
    reset_id = cpu.RESET_IDS[reset]
    if kernel == "c":
        assert surrogate.kernel_id is not None  # supports() holds only for a surrogate the kernel implements
        sg_id, width = surrogate.kernel_id, surrogate.width
        plan = cpu.ConstantPlan(constants, sg_id, width, detach_reset, check_finite, reset_id)
        return functools.partial(cpu.fused_call_constants, plan)
    if kernel == "triton":
        return functools.partial(gpu.srm_triton, *constants, surrogate, detach_reset, check_finite, reset=reset_id)
    return functools.partial(_portable_call, *constants, surrogate, detach_reset, check_finite, reset_id=reset_id)


def _fused_kernel(x: Tensor, surrogate: Surrogate, backend: str) -> str | None:
    """The kernel :func:`kernel_choice` picks; ``backend`` "fused" makes a call that no fused kernel serves an
    error saying why."""
    kernel, reason = kernel_choice(x, surrogate, backend)
    if kernel is None and backend == "fused":
        raise ParameterError(
            f"the fused kernel does not apply here (device {x.device.type}, dtype {x.dtype}, surrogate "
            f"{surrogate!r}; {reason})"
        )
    return kernel


def kernel_choice(x: Tensor, surrogate: Surrogate | str = "sigmoid", backend: str = "auto") -> tuple[str | None, str]:
    """The one place that chooses the kernel for a call on ``x`` with ``surrogate`` (an instance or a name):
    ``("c", "")`` (the C kernel: CPU float32/float64), ``("triton", "")`` (CUDA tensors; CPU tensors under
    ``BPSRM_KERNEL=triton`` with ``TRITON_INTERPRET=1``) or ``(None, why)`` (the portable autograd.Function: every
    other device, dtype or surrogate, ``backend`` "portable" or ``BPSRM_KERNEL=portable``). A BPSRM_KERNEL bpsrm
    does not know is refused, as is a backend other than :data:`BACKENDS`.
    """
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ParameterError(f"unknown backend {shown(backend)}; expected one of {list(BACKENDS)}")
    if not isinstance(x, Tensor):
        raise ParameterError(f"kernel_choice: x must be a tensor, got {type(x).__name__}")
    if not isinstance(surrogate, Surrogate):
        surrogate = get_surrogate(surrogate)
    if KERNEL_SETTING_PROBLEM is not None:
        raise ParameterError(KERNEL_SETTING_PROBLEM)
    if backend == "portable":
        return None, "backend='portable'"
    if FORCED_KERNEL == "portable":
        return None, "BPSRM_KERNEL=portable"
    if x.is_cuda:
        if gpu.supports(x, surrogate):
            return "triton", ""
        return None, gpu.unavailable_reason() or _not_built_in(surrogate) or (
            "the Triton kernel takes float32, float16, bfloat16 or float64 only"
        )
    if gpu.runs_cpu_tensors() and gpu.supports(x, surrogate):
        return "triton", ""
    if cpu.supports(x, surrogate):
        return "c", ""
    return None, cpu.unavailable_reason() or _not_built_in(surrogate) or "the C kernel takes float32 or float64 only"


def _not_built_in(surrogate: Surrogate) -> str:
    """Why a surrogate of one's own has no fused kernel ("" for a built-in one)."""
    if type(surrogate) in BUILT_IN:
        return ""
    return (
        f"the fused kernels implement the built-in surrogates only, got {type(surrogate).__name__}; a built-in with "
        "another width, such as Sigmoid(a=8.0) or model.neuron.surrogate_width, keeps them"
    )


def _portable_call(
    a_s: Tensor | None,
    a_m: Tensor,
    a_r: Tensor,
    theta: Tensor,
    theta_r: Tensor,
    surrogate: Surrogate,
    detach_reset: bool,
    check_finite: bool,
    x: Tensor,
    reset_id: int = 0,
) -> tuple[Tensor, Tensor]:
    r"""The portable autograd.Function on checked parameters (x last, so that a call's constants can be bound):
    :class:`SRMFunction`, or for ``reset_id`` 1 (:data:`bpsrm.neuron.kernels.cpu.RESET_IDS`)
    :class:`SRMHardResetFunction` (BP-SRM.md sections 2.1 and 3.2), which takes neither a_r nor theta_r."""
    if torch.compiler.is_compiling():  # dynamo refuses one tensor passed twice to an autograd.Function
        a_s = a_m.clone() if a_s is a_m else a_s  # the alpha kernel
        theta_r = theta.clone() if theta_r is theta else theta_r  # theta_r tied to theta
    if reset_id:
        return SRMHardResetFunction.apply(x, a_s, a_m, theta, surrogate, detach_reset, check_finite)  # type: ignore[no-any-return]
    return SRMFunction.apply(x, a_s, a_m, a_r, theta, theta_r, surrogate, detach_reset, check_finite)  # type: ignore[no-any-return]


def constants_may_be_kept(x: object) -> bool:
    """Whether parameter tensors made for a call on ``x`` may be kept and reused by later calls.

    Only for a plain tensor outside tracing: under ``torch.compile``, ``torch.export`` or a fake
    tensor mode the tensors made would be stand-ins without data, which a later ordinary call must
    never receive.
    """
    if type(x) is not Tensor or torch.compiler.is_compiling():
        return False
    return not (_is_exporting is not None and _is_exporting())


_is_exporting = getattr(torch.compiler, "is_exporting", None)  # torch >= 2.6


@functools.lru_cache(maxsize=64)
def _constant_parameters(
    dtype: torch.dtype,
    device: torch.device,
    kernel: str,
    tau_s: float,
    tau_m: float,
    tau_r: float,
    theta: float,
    theta_r: float | None,
) -> tuple[Tensor | None, Tensor, Tensor, Tensor, Tensor]:
    r"""(a_s, a_m, a_r, theta, theta_r) as 0-d tensors for Python-number parameters, $a = e^{-1/\tau}$.

    The decays are computed in float64 and rounded once to ``dtype``, as
    :class:`bpsrm.SRMNeuron` does. Cached: the tensors are shared between calls
    and never written to.
    """
    t_m = _checked_number(tau_m, "tau_m")
    t_r = _checked_number(tau_r, "tau_r")
    t_s = _checked_number(tau_s, "tau_s") if kernel == "dexp" else None
    th = _checked_number(theta, "theta")
    if theta_r is None:
        th_r = 0.0 if math.isinf(th) else th  # a non-spiking neuron has no refractory response
    else:
        th_r = _checked_number(theta_r, "theta_r")
    with torch.inference_mode(False):  # ordinary tensors even when first made under inference mode

        def tensor(value: float) -> Tensor:
            return torch.tensor(value, dtype=parameter_dtype(dtype), device=device)

        a_m = tensor(decay(t_m))
        a_s = None if kernel == "exp" else (a_m if kernel == "alpha" else tensor(decay(t_s)))  # type: ignore[arg-type]
        return a_s, a_m, tensor(decay(t_r)), tensor(th), tensor(th_r)


def srm_decays(
    x: Tensor,
    a_s: Tensor | None,
    a_m: Tensor,
    a_r: Tensor,
    theta: Tensor,
    theta_r: Tensor,
    surrogate: Surrogate,
    detach_reset: bool = False,
    backend: str = "auto",
    check_finite: bool = True,
    reset: str = "subtract",
) -> tuple[Tensor, Tensor]:
    r""":func:`srm` on already validated decays (``a_s=None`` for the ``exp`` kernel): the iterative SRM
    of BP-SRM.md section 2 with the BP-SRM backward of section 3 (``reset="zero"``: sections 2.1 and 3.2,
    $V[t] = a_m (1 - o[t-1]) V[t-1] + I[t]$, $u[t] = V[t]$, where a_r and theta_r are unused).

    For modules that keep their decays in range by construction
    (:class:`bpsrm.SRMNeuron`); no range check is made here. ``backend``:
    ``"auto"`` (the fused kernel where it applies, else portable),
    ``"fused"`` (an error where it does not apply) or ``"portable"``; the same choice for either reset.
    """
    kernel = _fused_kernel(x, surrogate, backend)
    params, modes = (a_s, a_m, a_r, theta, theta_r), (bool(detach_reset), bool(check_finite))
    reset_id = cpu.RESET_IDS[reset]
    if kernel == "c":
        return cpu.srm_fused(x, *params, surrogate, *modes, reset_id)
    if kernel == "triton":
        return gpu.srm_triton(*params, surrogate, *modes, x, reset_id)
    return _portable_call(*params, surrogate, *modes, x, reset_id)


def srm_reference(
    x: Tensor,
    *,
    tau_s: Scalar = DEFAULTS.tau_s,
    tau_m: Scalar = DEFAULTS.tau_m,
    tau_r: Scalar = DEFAULTS.tau_r,
    theta: Scalar = DEFAULTS.theta,
    theta_r: Scalar | None = DEFAULTS.theta_r,
    kernel: str = DEFAULTS.kernel,
    surrogate: str | Surrogate = DEFAULTS.surrogate,
    detach_reset: bool = DEFAULTS.detach_reset,
    reset: str = DEFAULTS.reset,
) -> tuple[Tensor, Tensor]:
    """The iterative SRM step by step with plain autograd (the test oracle).

    The neuron arguments and the results of :func:`srm` (not its ``backend`` and ``check_finite``: it is one
    plain loop, and NaN goes through it as it comes). The spike's gradient comes from
    autograd of the surrogate's smooth primitive, not from its closed-form
    derivative. Slow and memory-hungry: never the fast path.
    """
    check_setting("detach_reset", detach_reset)
    p = _prepare(x, tau_s, tau_m, tau_r, theta, theta_r, kernel, surrogate)
    a_m = torch.exp(torch.reciprocal(p.tau_m).neg())
    a_r = torch.exp(torch.reciprocal(p.tau_r).neg())
    if kernel == "dexp":
        assert p.tau_s is not None
        a_s = torch.exp(torch.reciprocal(p.tau_s).neg())
    elif kernel == "alpha":
        a_s = a_m
    else:
        a_s = torch.zeros_like(a_m)
    spiking = not bool(torch.isinf(p.theta.detach()).all())
    i_t = v_t = r_t = o_prev = torch.zeros_like(x[0])
    spikes, potentials = [], []
    hard = check_setting("reset", reset) == "zero"
    for t in range(x.shape[0]):
        i_t = a_s * i_t + x[t]
        reset_input = o_prev.detach() if detach_reset else o_prev
        if hard:  # section 2.1: V restarts from 0 after a spike, no refractory trace
            v_t = a_m * (1 - reset_input) * v_t + i_t
            u_t = v_t
        else:
            v_t = a_m * v_t + i_t
            r_t = a_r * r_t + p.theta_r * reset_input
            u_t = v_t - r_t
        o_prev = spike_function(u_t - p.theta, p.surrogate) if spiking else torch.zeros_like(u_t)
        spikes.append(o_prev)
        potentials.append(u_t)
    return torch.stack(spikes), torch.stack(potentials)


def psp_kernel(steps: int, a_s: Tensor | float, a_m: Tensor | float, kernel: str) -> Tensor:
    r"""The PSP kernel eps[n], n = 0 .. steps-1, in closed form (BP-SRM.md section 1).

    ``dexp``: $\sum_{j=0}^{n} a_s^j a_m^{n-j}$, which is $(a_m^{n+1} - a_s^{n+1}) / (a_m - a_s)$ where
    $a_s \ne a_m$ and $(n+1) a_m^n$ where they meet; it is summed by $\epsilon[n] = a_m \epsilon[n-1] + a_s^n$,
    because the quotient is 0/0 at $a_s = a_m$ and loses every digit near it. ``alpha``: $(n+1) a_m^n$;
    ``exp``: $a_m^n$. Shape ``[steps, *broadcast(a_s, a_m)]``.

    ``a_s`` and ``a_m`` are decays per step, $a = e^{-1/\tau}$ (:func:`decay`), in [0, 1] (1: a tau so long that
    its decay rounds to 1, as 1e8 steps in float32): tensors, or numbers (read as float64); ``steps`` a whole
    number >= 0.
    """
    if kernel not in KERNELS:
        raise ParameterError(f"unknown kernel {shown(kernel)}; expected one of {list(KERNELS)}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ParameterError(f"psp_kernel: steps must be a whole number >= 0, got {shown(steps)}")
    a_s, a_m = (_decay_tensor(a, name) for a, name in ((a_s, "a_s"), (a_m, "a_m")))
    steps = int(steps)
    shape = torch.broadcast_shapes(a_s.shape, a_m.shape)
    if kernel == "dexp":
        term = torch.ones(shape, dtype=a_m.dtype, device=a_m.device)
        eps = [term]
        for _ in range(1, steps):
            term = term * a_s
            eps.append(a_m * eps[-1] + term)
        return torch.stack(eps[:steps]) if steps > 0 else torch.empty((0, *shape), dtype=a_m.dtype, device=a_m.device)
    n = torch.arange(steps, dtype=a_m.dtype, device=a_m.device).reshape((steps,) + (1,) * len(shape))
    if kernel == "alpha":
        return (n + 1) * a_m**n
    return (a_m**n).expand((steps,) + tuple(shape))  # exp


def _decay_tensor(value: Tensor | float, name: str) -> Tensor:
    """A decay given to :func:`psp_kernel` as a tensor (a number as float64), refused unless every value is in
    [0, 1] (NaN included)."""
    value = _python_number(value)
    if isinstance(value, Tensor):
        tensor = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        tensor = torch.tensor(float(value), dtype=torch.float64)
    else:
        raise ParameterError(f"psp_kernel: {name} must be a number or a tensor of decays, got {shown(value)}")
    inside = (tensor >= 0) & (tensor <= 1)
    if not bool(inside.all()):
        outside = tensor.detach()[~inside][:4].tolist()
        raise ParameterError(f"psp_kernel: {name} must be a decay per step in [0, 1] (a = exp(-1/tau)), got {outside}")
    return tensor


def srm_convolution(
    x: Tensor,
    *,
    tau_s: Scalar = DEFAULTS.tau_s,
    tau_m: Scalar = DEFAULTS.tau_m,
    tau_r: Scalar = DEFAULTS.tau_r,
    theta: Scalar = DEFAULTS.theta,
    theta_r: Scalar | None = DEFAULTS.theta_r,
    kernel: str = DEFAULTS.kernel,
    surrogate: str | Surrogate = DEFAULTS.surrogate,
    detach_reset: bool = DEFAULTS.detach_reset,
) -> tuple[Tensor, Tensor]:
    r"""The SRM in kernel form (BP-SRM.md section 1), O(T^2): a check, not a tool.

    $$
    u[t] = \sum_{k=0}^{t} \epsilon[t-k]\, x[k]
           - \sum_{k=0}^{t-1} \theta_r a_r^{t-1-k} o[k],
    \qquad o[t] = H(u[t] - \theta)
    $$

    The neuron arguments and the results of :func:`srm` for the subtractive reset (not ``reset``, ``backend``
    or ``check_finite``: the hard reset of section 2.1 has no kernel form); ``detach_reset`` only affects
    gradients.
    """
    check_setting("detach_reset", detach_reset)
    p = _prepare(x, tau_s, tau_m, tau_r, theta, theta_r, kernel, surrogate)
    a_m = decay(p.tau_m)
    a_r = decay(p.tau_r)
    a_s = decay(p.tau_s) if p.tau_s is not None else torch.zeros_like(a_m)
    steps = x.shape[0]
    eps = psp_kernel(steps, a_s, a_m, kernel)
    eps = eps.reshape((steps,) + (1,) * (x.dim() - eps.dim()) + tuple(eps.shape[1:]))
    spiking = not bool(torch.isinf(p.theta.detach()).all())
    tail = (1,) * (x.dim() - 1)
    spikes: list[Tensor] = []
    potentials: list[Tensor] = []
    for t in range(steps):
        psp = (eps[: t + 1].flip(0) * x[: t + 1]).sum(0)
        if t > 0:
            powers = a_r ** torch.arange(t - 1, -1, -1, dtype=x.dtype, device=x.device).reshape((t,) + tail)
            history = torch.stack(spikes)
            if detach_reset:
                history = history.detach()
            u_t = psp - p.theta_r * (powers * history).sum(0)
        else:
            u_t = psp
        o_t = spike_function(u_t - p.theta, p.surrogate) if spiking else torch.zeros_like(u_t)
        spikes.append(o_t)
        potentials.append(u_t)
    return torch.stack(spikes), torch.stack(potentials)
