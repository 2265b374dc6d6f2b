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
from ..user_code import SPEC_FORMS, check_spec, find_class

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
    "register_surrogate",
    "surrogate_class",
    "surrogates_expected",
    "names_a_surrogate",
    "get_surrogate",
    "heaviside",
    "spike_function",
    "checked_derivative",
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


ENTRY_POINT_GROUP = "bpsrm.surrogates"
"""The entry-point group through which an installed package offers surrogates by name."""
_BASE = (Surrogate, "bpsrm.neuron.Surrogate")


def register_surrogate(cls: type[Surrogate]) -> type[Surrogate]:
    """Class decorator: make a surrogate of one's own reachable by its ``name`` (in configs, ``SRMNeuron``,
    ``srm``), as the built-in ones are. A name registered again takes the new class. Such a surrogate runs on the
    portable path (the fused kernels implement the built-in formulas only), with its own ``derivative``.

    >>> from dataclasses import dataclass
    >>> @register_surrogate
    ... @dataclass(frozen=True)
    ... class Flat(Surrogate):
    ...     c: float = 1.0
    ...     name: ClassVar[str] = "flat-doc"
    ...     def derivative(self, v): return torch.full_like(v, self.c)
    >>> get_surrogate("flat-doc", c=0.5)
    Flat(c=0.5)
    >>> del SURROGATES["flat-doc"]
    """
    if not (isinstance(cls, type) and issubclass(cls, Surrogate)):
        raise ParameterError(f"register_surrogate: {shown(cls)} is not a subclass of bpsrm.neuron.Surrogate")
    if not isinstance(cls.name, str) or not cls.name or ":" in cls.name:
        raise ParameterError(
            f"surrogate class {cls.__name__}: its name (a ClassVar) must be a non-empty string without ':', "
            f"got {shown(cls.name)}"
        )
    SURROGATES[cls.name] = cls
    return cls


def surrogate_class(name: str) -> type[Surrogate]:
    """The surrogate class called ``name``: a registered name (:data:`SURROGATES`: the built-in ones and those of
    :func:`register_surrogate`), a name offered by an installed package in the entry-point group
    ``bpsrm.surrogates``, or a class of your own as ``package.module:ClassName`` or ``path/to/file.py:ClassName``
    (what a config's ``model.neuron.surrogate`` may hold; a checkpoint keeps that text, so the module must still
    be found where it is evaluated). The class must derive from :class:`Surrogate`."""
    if not isinstance(name, str):
        raise ParameterError(f"a surrogate name must be a string, got {type(name).__name__}")
    found = find_class(name, SURROGATES, ENTRY_POINT_GROUP, "surrogate", _BASE, ParameterError)
    if found is not None:
        return found
    raise ParameterError(f"unknown surrogate {shown(name)}; expected {surrogates_expected()}")


def names_a_surrogate(name: str) -> bool:
    """Whether ``name`` names a surrogate: a registered name, one an installed package offers (loaded to tell), or
    a class of one's own as ``module:Class`` (only its form checked: reading a config imports no code of one's
    own; :func:`surrogate_class` loads it when a model is built). A ParameterError for a spec of another form or an
    entry point that cannot be loaded."""
    if ":" in name:
        check_spec(name, "surrogate")
        return True
    return find_class(name, SURROGATES, ENTRY_POINT_GROUP, "surrogate", _BASE, ParameterError) is not None


def surrogates_expected() -> str:
    """What a surrogate name may be, in words (the registered names as they stand)."""
    return (
        f"one of {', '.join(map(repr, SURROGATES))}, a name in the {ENTRY_POINT_GROUP!r} entry points, or a class "
        f"of your own as {SPEC_FORMS}"
    )


def get_surrogate(surrogate: str | Surrogate = "sigmoid", **params: Any) -> Surrogate:
    """Return a surrogate from its name (:func:`surrogate_class`), with optional width parameter, or pass one
    through.

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
    cls = surrogate_class(surrogate)
    if not params:
        default = _DEFAULTS.get(surrogate)
        return default if type(default) is cls else _construct(surrogate, cls, {})  # a built-in's name taken again
    allowed = {f.name for f in fields(cls)}
    unknown = set(params) - allowed
    if unknown:
        raise ParameterError(f"surrogate {surrogate!r} takes {sorted(allowed)}, got unknown {shown(sorted(unknown))}")
    return _construct(surrogate, cls, params)


def _construct(name: str, cls: type[Surrogate], params: dict[str, Any]) -> Surrogate:
    """``cls(**params)``; a class of one's own that cannot be made so gets a ParameterError naming it."""
    try:
        return cls(**params)
    except ParameterError:
        raise
    except Exception as exc:  # the user's class's own code: any error it raises
        given = f" with {params}" if params else " without arguments"
        failure = f"{type(exc).__name__}: {exc}"
        raise ParameterError(f"surrogate {shown(name)}: {cls.__name__}{given} failed ({failure})") from None


def checked_derivative(surrogate: Surrogate, v: Tensor) -> Tensor:
    """``surrogate.derivative(v)``, the sg'(v) of every backward pass. A class of one's own must return a tensor of
    ``v``'s shape, dtype and device: anything else failed deep inside the backward (an IndexError from a
    scalar), or lowered a float64 gradient to float32 without a word. The built-in ones are not checked."""
    derivative = surrogate.derivative(v)
    if type(surrogate) in BUILT_IN:
        return derivative
    if (
        not isinstance(derivative, Tensor)
        or derivative.shape != v.shape
        or derivative.dtype != v.dtype
        or derivative.device != v.device
    ):
        got = (
            f"shape {tuple(derivative.shape)}, {derivative.dtype} on {derivative.device}"
            if isinstance(derivative, Tensor)
            else type(derivative).__name__
        )
        raise ParameterError(
            f"surrogate {type(surrogate).__name__}: derivative(v) must return a tensor of v's shape, dtype and "
            f"device (shape {tuple(v.shape)}, {v.dtype} on {v.device}), got {got}; torch.full_like(v, c) or "
            "expressions of v keep them"
        )
    return derivative


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
        return grad * checked_derivative(ctx.surrogate, v), None


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
