r"""Surrogate derivatives of the Heaviside step.

The forward pass of a spiking neuron is always the exact step
$o = H(v)$ with $H(0) = 1$ (``v >= 0`` fires), where
$v = u - \theta$. The backward pass replaces the Dirac delta
$H'(v)$ by a smooth surrogate $sg'(v)$ (BP-SRM.md section 3.1):

=================  ==================================================  =========
name               $sg'(v)$                                      default
=================  ==================================================  =========
``sigmoid``        $a\,s(av)(1-s(av))$, $s$ the logistic   a = 4
``atan``           $(a/2) / (1 + (\pi a v / 2)^2)$                a = 2
``triangle``       $\max(0, 1-|v|/w) / w$                         w = 1
``rectangle``      $1/w$ if $|v| < w/2$ else 0              w = 1
``exponential``    $e^{-|v|/w} / (2w)$ (SLAYER)                   w = 0.5
``fast_sigmoid``   $1 / (1 + k|v|)^2$ (SuperSpike)                k = 10
=================  ==================================================  =========

Each surrogate is a small frozen dataclass, so it pickles and compares by
value. Besides :meth:`Surrogate.derivative` it knows a smooth
:meth:`Surrogate.primitive` whose derivative is ``derivative``: the plain
autograd reference of the neuron differentiates that primitive, which keeps
the reference independent of the closed-form derivatives used by the fast path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import torch
from torch import Tensor

from ..checks import real_number
from ..errors import ParameterError, shown

__all__ = [
    "Surrogate",
    "Sigmoid",
    "Atan",
    "Triangle",
    "Rectangle",
    "Exponential",
    "FastSigmoid",
    "SURROGATES",
    "BUILT_IN",
    "get_surrogate",
    "heaviside",
    "spike_function",
]


@dataclass(frozen=True)
class Surrogate:
    r"""Base class: a named surrogate derivative $sg'(v)$ with one width parameter.

    The forward of a neuron always fires with the exact step $o = H(v)$, $v = u - \theta$;
    the backward uses ``derivative(v)`` (same shape as ``v``) in place of $H'(v)$.
    ``primitive(v)`` is a smooth function whose derivative it is (for the autograd reference).
    """

    name: ClassVar[str] = ""
    #: The id of this surrogate in the fused kernels (srm_cpu.c ``surrogate_block``), or None
    #: when no kernel implements it: the fused backend then refuses it with an error.
    kernel_id: ClassVar[int | None] = None

    @property
    def width(self) -> float:
        """The surrogate's one shape parameter (a, w or k), as the kernels take it."""
        return float(getattr(self, fields(self)[0].name))

    def __post_init__(self) -> None:
        for f in fields(self):
            number = real_number(f"surrogate {self.name!r}: parameter {f.name}", getattr(self, f.name), above=0)
            object.__setattr__(self, f.name, number)  # NumPy's reals are welcome, as floats

    def derivative(self, v: Tensor) -> Tensor:
        """sg'(v): the value used in place of H'(v) in the backward pass."""
        raise NotImplementedError(
            f"surrogate {type(self).__name__} defines no derivative(v): a Surrogate subclass gives the sg'(v) that "
            "srm's backward pass uses"
        )

    def primitive(self, v: Tensor) -> Tensor:
        """A smooth function whose derivative is :meth:`derivative` (for references and tests)."""
        raise NotImplementedError(
            f"surrogate {type(self).__name__} defines no primitive(v): srm_reference differentiates it with "
            "autograd, so a Surrogate subclass used there gives a smooth function whose derivative is derivative(v)"
        )

    def __call__(self, v: Tensor) -> Tensor:
        """H(v) in the forward pass, sg'(v) in the backward pass."""
        return heaviside(v, self)


@dataclass(frozen=True)
class Sigmoid(Surrogate):
    r"""$sg'(v) = a\,s(av)(1 - s(av))$, the derivative of $s(av)$."""

    a: float = 4.0
    name: ClassVar[str] = "sigmoid"
    kernel_id: ClassVar[int | None] = 0

    def derivative(self, v: Tensor) -> Tensor:
        s = torch.sigmoid(self.a * v)
        return self.a * s * (1.0 - s)

    def primitive(self, v: Tensor) -> Tensor:
        return torch.sigmoid(self.a * v)


@dataclass(frozen=True)
class Atan(Surrogate):
    r"""$sg'(v) = (a/2) / (1 + (\pi a v/2)^2)$, the derivative of
    $1/2 + \arctan(\pi a v / 2)/\pi$."""

    a: float = 2.0
    name: ClassVar[str] = "atan"
    kernel_id: ClassVar[int | None] = 1

    def derivative(self, v: Tensor) -> Tensor:
        return (self.a / 2.0) / (1.0 + (math.pi * self.a / 2.0 * v) ** 2)

    def primitive(self, v: Tensor) -> Tensor:
        return 0.5 + torch.atan(math.pi * self.a / 2.0 * v) / math.pi


@dataclass(frozen=True)
class Triangle(Surrogate):
    r"""$sg'(v) = \max(0, 1 - |v|/w)/w$."""

    w: float = 1.0
    name: ClassVar[str] = "triangle"
    kernel_id: ClassVar[int | None] = 2

    def derivative(self, v: Tensor) -> Tensor:
        return torch.clamp(1.0 - v.abs() / self.w, min=0.0) / self.w

    def primitive(self, v: Tensor) -> Tensor:
        # Integral of the triangle: a piecewise quadratic from 0 (v <= -w) to 1 (v >= w).
        z = torch.clamp(v / self.w, -1.0, 1.0)
        return 0.5 + z - torch.sign(z) * z * z / 2.0


@dataclass(frozen=True)
class Rectangle(Surrogate):
    r"""$sg'(v) = 1/w$ for $|v| < w/2$, else 0."""

    w: float = 1.0
    name: ClassVar[str] = "rectangle"
    kernel_id: ClassVar[int | None] = 3

    def derivative(self, v: Tensor) -> Tensor:
        return (v.abs() < self.w / 2.0).to(v.dtype) / self.w

    def primitive(self, v: Tensor) -> Tensor:
        return torch.clamp(v / self.w + 0.5, 0.0, 1.0)


@dataclass(frozen=True)
class Exponential(Surrogate):
    r"""$sg'(v) = e^{-|v|/w}/(2w)$: SLAYER's spike escape density (a Laplace pdf)."""

    w: float = 0.5
    name: ClassVar[str] = "exponential"
    kernel_id: ClassVar[int | None] = 4

    def derivative(self, v: Tensor) -> Tensor:
        return torch.exp(-v.abs() / self.w) / (2.0 * self.w)

    def primitive(self, v: Tensor) -> Tensor:
        # The Laplace cumulative distribution function.
        return 0.5 + 0.5 * torch.sign(v) * (1.0 - torch.exp(-v.abs() / self.w))


@dataclass(frozen=True)
class FastSigmoid(Surrogate):
    r"""$sg'(v) = 1/(1 + k|v|)^2$ (SuperSpike), the derivative of $v/(1 + k|v|)$."""

    k: float = 10.0
    name: ClassVar[str] = "fast_sigmoid"
    kernel_id: ClassVar[int | None] = 5

    def derivative(self, v: Tensor) -> Tensor:
        return 1.0 / (1.0 + self.k * v.abs()) ** 2

    def primitive(self, v: Tensor) -> Tensor:
        return v / (1.0 + self.k * v.abs())


BUILT_IN: tuple[type[Surrogate], ...] = (Sigmoid, Atan, Triangle, Rectangle, Exponential, FastSigmoid)
"""The surrogates defined here: frozen dataclasses whose one width is checked finite and > 0, so an instance is
hashable by value (:func:`bpsrm.neuron.functional.srm` keys its plans on it)."""
SURROGATES: dict[str, type[Surrogate]] = {cls.name: cls for cls in BUILT_IN}
# One shared instance per surrogate with its default width (instances are frozen). A plain dict,
# not functools.cache: torch.compile traces through a cache wrapper and warns at every compilation.
_DEFAULTS: dict[str, Surrogate] = {name: cls() for name, cls in SURROGATES.items()}


def get_surrogate(surrogate: str | Surrogate = "sigmoid", **params: Any) -> Surrogate:
    """Return a surrogate from its name (with optional width parameter) or pass one through.

    >>> get_surrogate("atan", a=3.0)
    Atan(a=3.0)
    """
    if isinstance(surrogate, Surrogate):
        if params:
            raise ParameterError(
                f"parameters {sorted(params)} were given with a surrogate object {surrogate!r}; "
                "set them on the object instead"
            )
        return surrogate
    if not isinstance(surrogate, str):
        raise ParameterError(
            f"surrogate must be a name or a bpsrm.neuron.surrogate.Surrogate, got {type(surrogate).__name__}"
        )
    cls = SURROGATES.get(surrogate)
    if cls is None:
        raise ParameterError(f"unknown surrogate {shown(surrogate)}; expected one of {sorted(SURROGATES)}")
    if not params:
        default = _DEFAULTS.get(surrogate)
        return default if type(default) is cls else cls()  # a class registered again under a built-in's name
    allowed = {f.name for f in fields(cls)}
    unknown = set(params) - allowed
    if unknown:
        raise ParameterError(f"surrogate {surrogate!r} takes {sorted(allowed)}, got unknown {shown(sorted(unknown))}")
    return cls(**params)


class _Heaviside(torch.autograd.Function):
    """H(v) forward, sg'(v) * grad backward."""

    @staticmethod
    def forward(ctx: Any, v: Tensor, surrogate: Surrogate) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(v)
        ctx.surrogate = surrogate
        return (v >= 0).to(v.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        (v,) = ctx.saved_tensors
        return grad * ctx.surrogate.derivative(v), None


def heaviside(v: Tensor, surrogate: str | Surrogate = "sigmoid") -> Tensor:
    """Spike function: ``(v >= 0)`` as ``v``'s dtype, with the surrogate's gradient."""
    return _Heaviside.apply(v, get_surrogate(surrogate))


def spike_function(v: Tensor, surrogate: Surrogate) -> Tensor:
    """H(v) whose gradient comes from autograd of ``surrogate.primitive``.

    The value is exactly ``(v >= 0)``: ``p - p.detach()`` is exactly zero. Used by
    the plain references, so that they share no backward code with the fast path.
    """
    p = surrogate.primitive(v)
    return (v >= 0).to(v.dtype) + (p - p.detach())
