r"""A surrogate gradient of your own for bpsrm: the Gaussian, $sg'(v) = e^{-v^2 / 2\sigma^2} / (\sigma\sqrt{2\pi})$.

Named in a config as ``model.neuron.surrogate: docs/examples/my_surrogate.py:Gaussian`` (a file path) or, when the
module is importable, ``my_surrogate:Gaussian``; ``model.neuron.surrogate_width`` sets its first field, sigma. See
docs/howto/choose.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from bpsrm.neuron.surrogate import Surrogate


@dataclass(frozen=True)
class Gaussian(Surrogate):
    r"""$sg'(v) = e^{-v^2 / 2\sigma^2} / (\sigma\sqrt{2\pi})$, the normal density: area 1, like the step it stands
    for. Its primitive is the normal distribution function $\frac{1}{2}(1 + \mathrm{erf}(v / \sigma\sqrt{2}))$."""

    sigma: float = 0.5
    name: ClassVar[str] = "gaussian"

    def derivative(self, v: Tensor) -> Tensor:
        """sg'(v), a tensor of v's shape, dtype and device (bpsrm refuses anything else)."""
        return torch.exp(-0.5 * (v / self.sigma) ** 2) / (self.sigma * math.sqrt(2 * math.pi))

    def primitive(self, v: Tensor) -> Tensor:
        """A smooth function whose derivative is ``derivative``: bpsrm's autograd reference differentiates it."""
        return 0.5 * (1 + torch.erf(v / (self.sigma * math.sqrt(2))))
