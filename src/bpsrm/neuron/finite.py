"""The check that a neuron's input is finite (NaN and Inf would give NaN membranes, spikes and gradients).

Every backend checks the same thing, ``u`` at the last step: with the subtractive reset, a NaN or Inf
that enters ``x`` at any step stays in that neuron's ``V`` to the end ($a \\cdot \\mathrm{NaN} =
\\mathrm{NaN}$, $a \\cdot \\infty \\in \\{\\infty, \\mathrm{NaN}\\}$ for the decays $a \\in [0, 1)$), and so
does an overflow. With the hard reset too: NaN never fires and stays, $-\\infty$ stays, and $+\\infty$
fires, after which $(1 - o) V = 0 \\cdot \\infty$ is NaN. The fused kernels make the check inside their
forward at no measurable cost; the portable path reads ``u[-1]`` once. Only when it fails is ``x``
searched for the first bad value.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..errors import NonFiniteError

__all__ = ["nonfinite_error", "check_last_step"]


def nonfinite_error(x: Tensor) -> NonFiniteError:
    """The error for a call whose membrane ended NaN or Inf, naming the first non-finite element of x."""
    bad = ~torch.isfinite(x.detach())
    hint = _HINT
    if bool(bad.any()):
        first = tuple(int(i) for i in bad.nonzero()[0])
        value = float(x.detach()[first])
        count = int(bad.sum())
        return NonFiniteError(
            f"srm: the input x holds {count} NaN or Inf value(s), the first x{list(first)} = {value} (step "
            f"{first[0]} of x's shape {tuple(x.shape)}); {hint}"
        )
    return NonFiniteError(
        f"srm: x is finite, but a membrane potential ended NaN or Inf (an overflow of {x.dtype}, or a NaN or "
        f"Inf parameter); {hint}"
    )


def check_last_step(x: Tensor, u: Tensor) -> None:
    """Raise :func:`nonfinite_error` unless every ``u[-1]`` is finite (the portable path's check).

    Under ``torch.compile`` the check is an asynchronous assertion in the graph (a data-dependent branch
    would break it); it fails with a RuntimeError carrying the same advice, without the element's place.
    """
    if not u.shape[0]:
        return
    finite = torch.isfinite(u[-1]).all()
    if torch.compiler.is_compiling():
        torch._assert_async(finite, "srm: the input x holds NaN or Inf (or a membrane overflowed); " + _HINT)
    elif not bool(finite):
        raise nonfinite_error(x)


_HINT = "clean the input, or pass check_finite=False to let NaN and Inf through"
