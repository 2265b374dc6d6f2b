r"""Every setting of the SRM neuron, defined once: :class:`SRMParams` and :data:`SETTINGS`.

The neuron of BP-SRM.md section 2,

$$
I[t] = a_s I[t-1] + x[t],\quad V[t] = a_m V[t-1] + I[t],\quad
R[t] = a_r R[t-1] + \theta_r o[t-1],\quad
u[t] = V[t] - R[t],\quad o[t] = H(u[t] - \theta),\quad a = e^{-1/\tau},
$$

has a handful of settings. Each one's name, default, allowed range and meaning
live in :data:`SETTINGS`; the config schema (``model.neuron``), :class:`bpsrm.SRMNeuron`,
:func:`bpsrm.srm`, the model builder and the kernels take their defaults and
checks from here, so a default or a range is changed in one place.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Literal, overload

from torch import Tensor

from ..checks import flag, real_value
from ..errors import ParameterError, shown
from .surrogate import (
    SURROGATES,
    Surrogate,
    get_surrogate,
    names_a_surrogate,
    surrogate_class,
    surrogates_expected,
)

__all__ = [
    "KERNELS",
    "RESETS",
    "Range",
    "Setting",
    "SETTINGS",
    "SRMParams",
    "DEFAULTS",
    "check_setting",
    "decay",
    "time_constant",
]

KERNELS = ("dexp", "alpha", "exp")
"""The PSP kernels: ``dexp`` (a_s, a_m from tau_s, tau_m), ``alpha`` (a_s = a_m), ``exp`` (a_s = 0, the LIF)."""

TAU_NAMES = ("tau_s", "tau_m", "tau_r")

RESETS = ("subtract", "zero")
"""What a spike does: ``subtract`` (the refractory response R, BP-SRM.md section 2) or ``zero`` (V restarts from
0, section 2.1: the hard reset of SpikingJelly's LIFNode and of NIR's LIF / CubaLIF; tau_r and theta_r unused)."""

Reset = Literal["subtract", "zero"]

Kernel = Literal["dexp", "alpha", "exp"]


@dataclass(frozen=True)
class Range:
    """An allowed range of a real setting: ``> low`` (or ``>= low``), finite unless ``inf``, None if ``none``."""

    low: float
    inclusive: bool = False
    inf: bool = False
    none: bool = False

    def holds(self, value: float | None) -> bool:
        """Whether ``value`` lies in the range."""
        if value is None:
            return self.none
        if math.isnan(value) or (math.isinf(value) and not self.inf):
            return False
        return value >= self.low if self.inclusive else value > self.low

    def text(self) -> str:
        """The range in words, e.g. ``"finite and > 0"``, ``"null or finite and >= 0"``."""
        sign = ">=" if self.inclusive else ">"
        core = f"{sign} {self.low:g} (inf allowed)" if self.inf else f"finite and {sign} {self.low:g}"
        return f"null or {core}" if self.none else core


@dataclass(frozen=True)
class Setting:
    """One neuron setting: its name, default, range (reals) or choices (names), and meaning."""

    name: str
    default: Any
    meaning: str
    range: Range | None = None
    choices: Collection[str] | None = None
    """A live collection (e.g. the surrogate registry), read at every check."""
    other_names: tuple[Callable[[str], bool], Callable[[], str]] | None = None
    """(whether a name beyond ``choices`` is taken, what names are taken in words): the surrogate's classes of one's
    own and installed packages' names. The first may raise a ParameterError saying why a name cannot be one."""

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` is one of the names this setting takes (``choices``, then ``other_names``)."""
        if not isinstance(value, str) or self.choices is None:
            return False
        return value in self.choices or (self.other_names is not None and self.other_names[0](value))

    def expected(self) -> str:
        """What the setting accepts, in words."""
        if self.range is not None:
            return self.range.text()
        if self.other_names is not None:
            return self.other_names[1]()
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        return "true or false" if isinstance(self.default, bool) else type(self.default).__name__


_POSITIVE = Range(0.0)
SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting("kernel", "dexp", "PSP kernel: dexp, alpha (a_s = a_m) or exp (LIF)", None, KERNELS),
        Setting("tau_s", 2.0, "synaptic time constant in steps (dexp kernel)", _POSITIVE),
        Setting("tau_m", 4.0, "membrane time constant in steps", _POSITIVE),
        Setting("tau_r", 4.0, "refractory time constant in steps", _POSITIVE),
        Setting("theta", 1.0, "firing threshold (bpsrm.srm also takes inf: a non-spiking neuron)", _POSITIVE),
        Setting("theta_r", None, "refractory strength; None ties it to theta", Range(0.0, inclusive=True, none=True)),
        Setting(
            "surrogate",
            "sigmoid",
            "surrogate gradient of the spike; also a class of one's own, 'package.module:Class' or 'file.py:Class'",
            None,
            SURROGATES,
            (names_a_surrogate, surrogates_expected),  # a class of one's own is loaded when a model is built
        ),
        Setting(
            "surrogate_width",
            None,
            "the surrogate's width parameter: a or k (a sharpness: larger is narrower) or w (larger is wider); "
            "None: its default",
            Range(0.0, none=True),
        ),
        Setting("detach_reset", False, "cut the gradient through the refractory response"),
        Setting(
            "reset", "subtract", "what a spike does: subtract (refractory response) or zero (hard reset)", None, RESETS
        ),
        Setting("learn_tau", False, "learn the time constants the kernel uses"),
        Setting("learn_theta", False, "learn the threshold (kept > 0)"),
        Setting("per_channel", False, "one value of each learnt parameter per channel instead of one per layer"),
    )
}
"""name -> :class:`Setting`, in the order of :class:`SRMParams`'s fields."""


def _real(value: Any, function: str, name: str) -> float:
    """A real number (Python's or NumPy's, not a bool) as a float; ParameterError naming ``function`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterError(f"{function}: {name} must be a real number or a tensor, got {type(value).__name__}")
    return float(value)


@overload
def decay(tau: Tensor) -> Tensor: ...
@overload
def decay(tau: float) -> float: ...
def decay(tau: float | Tensor) -> float | Tensor:
    r"""The decay per step of a time constant, $a = e^{-1/\tau}$ (dt = 1): the one place it is computed (the
    step-by-step oracle :func:`bpsrm.neuron.functional.srm_reference` keeps its own form on purpose).

    A real number (Python's or NumPy's) gives a float (``math.exp``, exact in any dtype it is later cast to); a
    tensor gives a tensor of its dtype and shape (``exp`` elementwise, differentiable).

    >>> decay(4.0) == math.exp(-0.25)
    True
    """
    if isinstance(tau, Tensor):
        return (-1.0 / tau).exp()
    return math.exp(-1.0 / _real(tau, "decay", "tau"))


@overload
def time_constant(a: Tensor) -> Tensor: ...
@overload
def time_constant(a: float) -> float: ...
def time_constant(a: float | Tensor) -> float | Tensor:
    r"""The inverse of :func:`decay`: $\tau = -1/\ln a$, in steps (a float for a number, a tensor for a tensor).

    >>> time_constant(math.exp(-0.25))
    4.0
    """
    if isinstance(a, Tensor):
        return -1.0 / a.log()
    return -1.0 / math.log(_real(a, "time_constant", "a"))


def check_setting(name: str, value: Any) -> Any:
    """``value`` checked against the setting ``name`` (a float for reals); ParameterError naming both otherwise."""
    setting = SETTINGS[name]
    if setting.range is not None:
        if value is None and setting.range.none:
            return None
        if isinstance(value, bool) or not isinstance(value, numbers.Real):  # NumPy's reals are welcome
            raise ParameterError(f"{name} must be a number {setting.expected()}, got {shown(value)}")
        number = real_value(value)  # an int beyond float's range is inf, refused by the range
        if not setting.range.holds(number):
            raise ParameterError(f"{name} must be {setting.expected()}, got {shown(value)}")
        return number
    if setting.choices is not None:
        if not setting.accepts(value):
            raise ParameterError(f"unknown {name} {shown(value)}; expected {setting.expected()}")
        return value
    return flag(name, value)


@dataclass(frozen=True)
class SRMParams:
    """The settings of an SRM layer, validated on construction (see :data:`SETTINGS` for ranges).

    >>> SRMParams(tau_m=8.0).decay("tau_m") == math.exp(-1 / 8)
    True
    """

    kernel: Kernel = SETTINGS["kernel"].default
    """PSP kernel: dexp (two time constants), alpha (tau_s = tau_m) or exp (LIF-equivalent, no tau_s)."""
    tau_s: float = SETTINGS["tau_s"].default
    """Synaptic time constant in steps (dexp kernel)."""
    tau_m: float = SETTINGS["tau_m"].default
    """Membrane time constant in steps."""
    tau_r: float = SETTINGS["tau_r"].default
    """Refractory time constant in steps."""
    theta: float = SETTINGS["theta"].default
    """Firing threshold."""
    theta_r: float | None = SETTINGS["theta_r"].default
    """Refractory strength; null ties it to theta."""
    surrogate: str = SETTINGS["surrogate"].default
    """Surrogate gradient of the spike: a name of bpsrm.neuron.surrogate.SURROGATES (built-in or registered), or a
    class of one's own as 'package.module:ClassName' or 'path/to/file.py:ClassName'."""
    surrogate_width: float | None = SETTINGS["surrogate_width"].default
    """The surrogate's width parameter, its first field; null: its default. Its direction differs: sigmoid's and
    atan's a and fast_sigmoid's k are a sharpness (larger: narrower), triangle's, rectangle's and exponential's w a
    width (larger: wider)."""
    detach_reset: bool = SETTINGS["detach_reset"].default
    """Cut the gradient through the reset (the refractory response, or the hard reset's factor 1 - o)."""
    reset: Reset = SETTINGS["reset"].default
    """What a spike does: subtract (the refractory response R) or zero (V restarts from 0; tau_r, theta_r unused)."""
    learn_tau: bool = SETTINGS["learn_tau"].default
    """Learn the time constants the kernel uses."""
    learn_theta: bool = SETTINGS["learn_theta"].default
    """Learn the threshold (kept > 0)."""
    per_channel: bool = SETTINGS["per_channel"].default
    """One value of each learnt parameter per channel instead of one per layer."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, check_setting(f.name, getattr(self, f.name)))

    def surrogate_function(self) -> Surrogate:
        """The surrogate object: the named one, with ``surrogate_width`` when given."""
        if self.surrogate_width is None:
            return get_surrogate(self.surrogate)
        cls = surrogate_class(self.surrogate)
        if not dataclasses.is_dataclass(cls) or not dataclasses.fields(cls):
            raise ParameterError(
                f"surrogate {shown(self.surrogate)} has no width parameter (its first dataclass field); "
                f"surrogate_width must be null, got {self.surrogate_width:g}"
            )
        return get_surrogate(self.surrogate, **{dataclasses.fields(cls)[0].name: self.surrogate_width})

    def decay(self, name: str) -> float:
        r"""The decay per step $a = e^{-1/\tau}$ of ``"tau_s"``, ``"tau_m"`` or ``"tau_r"``."""
        return decay(float(getattr(self, name)))

    def neuron_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :class:`bpsrm.SRMNeuron` (without ``channels``)."""
        kwargs = {name: getattr(self, name) for name in ("tau_s", "tau_m", "tau_r", "theta", "theta_r", "kernel")}
        kwargs.update(
            surrogate=self.surrogate_function(),
            detach_reset=self.detach_reset,
            reset=self.reset,
            learn_tau=self.learn_tau,
            learn_theta=self.learn_theta,
        )
        return kwargs


DEFAULTS = SRMParams()
"""The default settings (``DEFAULTS.tau_s`` is the one default of tau_s)."""
