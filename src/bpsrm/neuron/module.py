r"""The SRM neuron as a module: :class:`SRMNeuron`.

A thin wrapper over :func:`bpsrm.neuron.functional.srm` that owns the neuron's
parameters. Time constants are kept as decays $a = e^{-1/\tau}$; a
learnable decay is stored as its logit $w$ with $a = s(w)$ (the
logistic function), so that no optimiser step can move it out of (0, 1). A
learnable threshold is stored as $\theta = \mathrm{softplus}(w)$, which
stays > 0. The module keeps no state between calls: the whole sequence goes
in, the whole sequence comes out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import whole_number
from ..errors import ParameterError, ShapeError, shown
from .functional import check_flags, check_input, constants_may_be_kept, parameter_dtype, srm_decays
from .params import DEFAULTS, KERNELS, RESETS, TAU_NAMES, check_setting, decay, time_constant
from .recorded import ABSENT, RecordsSettings
from .surrogate import Surrogate, get_surrogate

__all__ = ["SRMNeuron"]

_TAU_NAMES = TAU_NAMES


def _tau_names(learn_tau: object) -> set[str]:
    """The names in ``learn_tau`` (one name, or a collection of names); ParameterError for anything else."""
    if isinstance(learn_tau, str):
        return {learn_tau}  # one name; set("tau_m") would have been its letters
    if isinstance(learn_tau, Iterable) and not isinstance(learn_tau, bytes) and getattr(learn_tau, "ndim", 1) != 0:
        names = list(learn_tau)  # (a 0-d array or tensor is Iterable, but cannot be iterated)
        if all(isinstance(name, str) for name in names):
            return set(names)
    raise ParameterError(
        f"learn_tau must be True, False or names among {list(_TAU_NAMES)} (one, or a list), got {shown(learn_tau)}"
    )


def _learnable_logit(name: str, tau: float) -> float:
    r"""The logit $w = \ln a - \ln(1 - a)$ of the decay $a = e^{-1/\tau}$, computed without forming a or 1 - a
    (a rounds to 0 for tau below about 0.0014 and to 1 above about 1e16); ParameterError when the parameter, in
    torch's default dtype, would hold a decay of exactly 0 or 1: its gradient is then 0 and it could never learn."""
    logit = -1.0 / tau - math.log(-math.expm1(-1.0 / tau))
    dtype = torch.get_default_dtype()
    a = torch.sigmoid(torch.tensor(logit, dtype=dtype))
    if not 0.0 < float(a) < 1.0:
        raise ParameterError(
            f"{name}={tau:g} with learn_tau: its decay exp(-1/{name}) is {float(a):g} in {dtype}, where a learnt "
            f"decay gets no gradient; choose {name} between about {-1.0 / math.log(torch.finfo(dtype).tiny):.3g} and "
            f"{1.0 / torch.finfo(dtype).eps:.3g} steps, or keep it fixed"
        )
    return logit


def _learnable_theta(theta: float) -> float:
    r"""The raw value $w = \theta + \ln(1 - e^{-\theta})$ with $\mathrm{softplus}(w) = \theta$ (no overflow for a
    large theta, as $\ln(e^\theta - 1)$ had); ParameterError when torch's default dtype cannot hold it."""
    raw = theta + math.log(-math.expm1(-theta))
    dtype = torch.get_default_dtype()
    back = float(F.softplus(torch.tensor(raw, dtype=dtype)))
    if not (math.isfinite(back) and back > 0.0):
        raise ParameterError(
            f"theta={theta:g} with learn_theta: softplus of its raw value is {back:g} in {dtype}, not a positive "
            "finite threshold; choose a threshold the dtype holds, or keep it fixed"
        )
    return raw


class SRMNeuron(RecordsSettings):
    r"""A layer of SRM neurons (BP-SRM.md section 2) trained with BP-SRM.

    Input: the input current ``x`` of shape ``[T, B, ...]`` (for per-channel
    parameters ``[T, B, C, ...]``). Output: spikes of the same shape.

    Args:
        tau_s: initial synaptic time constant in steps (> 0).
        tau_m: initial membrane time constant in steps (> 0).
        tau_r: initial refractory time constant in steps (> 0).
        theta: threshold (> 0).
        theta_r: refractory strength (>= 0); ``None`` ties it to ``theta``.
        kernel: ``"dexp"``, ``"alpha"`` or ``"exp"`` (see :func:`bpsrm.srm`).
        surrogate: name or :class:`~bpsrm.neuron.surrogate.Surrogate`.
        detach_reset: cut the gradient through the refractory response.
        learn_tau: ``True`` (all taus the kernel uses), ``False``, or names
            among ``"tau_s", "tau_m", "tau_r"``.
        learn_theta: learn the threshold (kept > 0).
        channels: ``None`` for parameters shared by all neurons, or the number
            of channels C (dimension 2 of the input) for one value per channel.
        check_finite: raise :class:`~bpsrm.errors.NonFiniteError` on NaN or Inf in the
            input (see :func:`bpsrm.srm`); False lets them through.
        reset: ``"subtract"`` (the refractory response) or ``"zero"`` (hard reset, BP-SRM.md section 2.1;
            tau_r and theta_r are then unused and never learnt).

    The fixed settings (kernel, reset, the taus and thresholds that are not learnt) are recorded in the
    ``state_dict`` (:mod:`bpsrm.neuron.recorded`): loading it into a neuron built with other ones is an error.
    """

    reset: str = "subtract"  # a module pickled before the hard reset existed has no attribute of its own
    setting_names: ClassVar[dict[str, tuple[str, ...]]] = {"kernel": KERNELS, "reset": RESETS}
    absent_words = "learnt or unused"

    def __init__(
        self,
        tau_s: float = DEFAULTS.tau_s,
        tau_m: float = DEFAULTS.tau_m,
        tau_r: float = DEFAULTS.tau_r,
        theta: float = DEFAULTS.theta,
        theta_r: float | None = DEFAULTS.theta_r,
        kernel: str = DEFAULTS.kernel,
        surrogate: str | Surrogate = DEFAULTS.surrogate,
        detach_reset: bool = DEFAULTS.detach_reset,
        learn_tau: bool | Iterable[str] = False,
        learn_theta: bool = False,
        channels: int | None = None,
        check_finite: bool = True,
        reset: str = DEFAULTS.reset,
    ) -> None:
        super().__init__()
        check_setting("kernel", kernel)
        self.reset = check_setting("reset", reset)
        if channels is not None:
            channels = whole_number("channels (None or a count)", channels)
        self.kernel = kernel
        self.surrogate = get_surrogate(surrogate)
        # "false" would have read as True; np.True_ is kept as True, so that srm finds its cached plan
        self.detach_reset, self.check_finite = check_flags(detach_reset, check_finite)
        self.channels = channels
        used = {"dexp": _TAU_NAMES, "alpha": ("tau_m", "tau_r"), "exp": ("tau_m", "tau_r")}[kernel]
        if self.reset == "zero":  # no refractory trace
            used = tuple(name for name in used if name != "tau_r")
        if learn_tau is True:
            learned = set(used)
        elif learn_tau is False:
            learned = set()
        else:
            learned = _tau_names(learn_tau)
            unknown = learned - set(_TAU_NAMES)
            if unknown:
                expected = f"expected among {list(_TAU_NAMES)}"
                raise ParameterError(f"learn_tau names {shown(sorted(unknown))} unknown; {expected}")
            unused = learned - set(used)
            if unused:
                why = f"kernel {kernel!r}" + (
                    " with reset 'zero' (no refractory trace)" if self.reset == "zero" else ""
                )
                raise ParameterError(f"{why} does not use {sorted(unused)}; it uses {list(used)}")
        self.learned_taus = tuple(sorted(learned))
        # Fixed parameters as 0-d tensors per (name, dtype, device), made on first use.
        self._constants: dict[tuple[str, torch.dtype, torch.device], Tensor] = {}
        shape = () if channels is None else (channels,)
        # Fixed values stay Python floats (exact in any dtype); learnable ones are parameters.
        self._fixed_decays: dict[str, float] = {}
        for name, value in zip(_TAU_NAMES, (tau_s, tau_m, tau_r), strict=True):
            if name not in used:
                continue
            tau = check_setting(name, value)
            if name in learned:
                self.register_parameter(f"{name}_logit", nn.Parameter(torch.full(shape, _learnable_logit(name, tau))))
            else:
                self._fixed_decays[name] = decay(tau)
        theta = check_setting("theta", theta)
        theta_r = check_setting("theta_r", theta_r)
        self.learn_theta = check_setting("learn_theta", learn_theta)
        if self.learn_theta:
            self.theta_raw = nn.Parameter(torch.full(shape, _learnable_theta(theta)))
        self._fixed_theta = float(theta)
        self.tie_theta_r = theta_r is None
        self._fixed_theta_r = None if theta_r is None else float(theta_r)

    # ---- parameters as the neuron sees them -------------------------------------------------
    def decay(self, name: str) -> Tensor:
        """The decay a = exp(-1/tau) of ``"tau_s"``, ``"tau_m"`` or ``"tau_r"`` (shape [] or [C])."""
        if name in self.learned_taus:
            logit = getattr(self, f"{name}_logit")
            # sigmoid stays in (0, 1); the clamp only guards the float rounding at its ends.
            tiny = torch.finfo(logit.dtype).tiny
            return torch.sigmoid(logit).clamp(tiny, 1.0 - torch.finfo(logit.dtype).eps)
        if name not in self._fixed_decays:
            if name == "tau_r" and self.reset == "zero":
                raise ParameterError("reset 'zero' has no tau_r: the hard reset keeps no refractory trace")
            raise ParameterError(f"kernel {self.kernel!r} has no {name}")
        return torch.tensor(self._fixed_decays[name], dtype=torch.float64)

    def tau(self, name: str) -> Tensor:
        """The time constant tau = -1/log(a), in steps."""
        return time_constant(self.decay(name))

    @property
    def theta(self) -> Tensor:
        """The threshold (shape [] or [C])."""
        if self.learn_theta:
            return F.softplus(self.theta_raw)
        return torch.tensor(self._fixed_theta, dtype=torch.float64)

    @property
    def theta_r(self) -> Tensor:
        """The refractory strength (the threshold when tied)."""
        if self._fixed_theta_r is None:
            return self.theta
        return torch.tensor(self._fixed_theta_r, dtype=torch.float64)

    def _broadcast(self, p: Tensor, x: Tensor) -> Tensor:
        """[C] -> [C, 1, ...] so that it broadcasts against x[0] = [B, C, ...]."""
        if self.channels is None or p.dim() == 0:
            return p
        return p.reshape((self.channels,) + (1,) * (x.dim() - 3))

    def forward(self, x: Tensor) -> Tensor:
        """Spikes ``[T, B, ...]`` for the input current ``x`` ``[T, B, ...]``."""
        return self.run(x)[0]

    def run(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(spikes, u)`` for the input current ``x`` ``[T, B, ...]``."""
        if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() < 2:
            got = f"{x.dtype} of shape {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
            raise ShapeError(f"SRMNeuron expects a float tensor [T, B, ...], got {got}")
        check_input(x)  # dense, with data
        if self.channels is not None and (x.dim() < 3 or x.shape[2] != self.channels):
            raise ShapeError(
                f"SRMNeuron(channels={self.channels}) expects [T, B, {self.channels}, ...], got {tuple(x.shape)}"
            )
        a_m = self._value("tau_m", x)
        a_r = a_m if self.reset == "zero" else self._value("tau_r", x)  # the hard reset has no refractory trace
        if self.kernel == "dexp":
            a_s: Tensor | None = self._value("tau_s", x)
        elif self.kernel == "alpha":
            a_s = a_m
        else:
            a_s = None
        theta = self._value("theta", x)
        theta_r = theta if self.tie_theta_r else self._value("theta_r", x)
        return srm_decays(
            x,
            a_s,
            a_m,
            a_r,
            theta,
            theta_r,
            self.surrogate,
            self.detach_reset,
            check_finite=self.check_finite,
            reset=self.reset,
        )

    def _value(self, name: str, x: Tensor) -> Tensor:
        """A decay (``"tau_*"``), ``"theta"`` or ``"theta_r"`` in x's dtype and device, broadcastable against x[0].

        Fixed values are made once per dtype and device and kept (they never change); learnt ones
        are computed from their parameters on every call, so that autograd sees them.
        """
        learnt = name in self.learned_taus or (name == "theta" and self.learn_theta)
        if not learnt and constants_may_be_kept(x):
            key = (name, x.dtype, x.device)
            constants = self.__dict__.setdefault("_constants", {})  # absent in modules unpickled from older releases
            cached = constants.get(key)
            if cached is None:
                with torch.inference_mode(False), torch.no_grad():  # an ordinary tensor in any mode
                    cached = self._raw(name).to(dtype=parameter_dtype(x.dtype), device=x.device)
                constants[key] = cached
            return cached
        return self._broadcast(self._raw(name), x).to(dtype=parameter_dtype(x.dtype), device=x.device)

    def _raw(self, name: str) -> Tensor:
        """``"theta"``, ``"theta_r"`` or the decay of a ``"tau_*"`` as this module defines it."""
        if name == "theta":
            return self.theta
        return self.theta_r if name == "theta_r" else self.decay(name)

    def recorded_settings(self) -> dict[str, float]:
        """Kernel and reset (their index in KERNELS, RESETS), the fixed decays exp(-1/tau), theta and theta_r
        (ABSENT where learnt or unused; a theta_r tied to a fixed theta is recorded as that value, which an
        explicit equal theta_r computes alike): what the forward pass depends on beyond the parameters."""
        learnt_theta = ABSENT if self.learn_theta else self._fixed_theta
        theta_r = learnt_theta if self._fixed_theta_r is None else self._fixed_theta_r
        return {
            "kernel": float(KERNELS.index(self.kernel)),
            "reset": float(RESETS.index(self.reset)),
            **{name: self._fixed_decays.get(name, ABSENT) for name in _TAU_NAMES},
            "theta": learnt_theta,
            "theta_r": ABSENT if self.reset == "zero" else theta_r,  # the hard reset has none
        }

    def describe_setting(self, name: str, value: float) -> str:
        """A tau from its recorded decay, ``tau_m=4``; the rest as :class:`RecordsSettings` words them."""
        if name in _TAU_NAMES and value != ABSENT:
            return f"{name}={time_constant(value):.6g}" if 0.0 < value < 1.0 else f"{name} with decay {value:g}"
        return super().describe_setting(name, value)

    def extra_repr(self) -> str:
        taus = ", ".join(
            f"{n}={float(self.tau(n).detach().mean()):.3g}"
            for n in _TAU_NAMES
            if n in self.learned_taus or n in self._fixed_decays
        )
        return (
            f"kernel={self.kernel!r}, {taus}, theta={float(self.theta.detach().mean()):.3g}, "
            f"surrogate={self.surrogate!r}, reset={self.reset!r}, detach_reset={self.detach_reset}, "
            f"learn_tau={list(self.learned_taus)}, learn_theta={self.learn_theta}, channels={self.channels}"
        )
