"""The SRM neuron and everything it is computed with.

``params`` (its settings, defaults and ranges), ``surrogate`` (the spike
function's surrogate gradients), ``functional`` (:func:`srm`, the exact
reference and the convolution form), ``autograd`` (the portable BP-SRM
backward), ``kernels`` (the fused backends) and ``module``
(:class:`SRMNeuron`, the layer). A new neuron setting goes in ``params``, a
new surrogate in ``surrogate``, a new backend in ``kernels``.
"""

from .functional import psp_kernel, srm, srm_convolution, srm_reference
from .module import SRMNeuron
from .params import DEFAULTS, SETTINGS, SRMParams
from .surrogate import SURROGATES, Surrogate, get_surrogate, register_surrogate, surrogate_class

__all__ = [
    "SRMNeuron",
    "srm",
    "srm_reference",
    "srm_convolution",
    "psp_kernel",
    "SRMParams",
    "SETTINGS",
    "DEFAULTS",
    "Surrogate",
    "SURROGATES",
    "get_surrogate",
    "register_surrogate",
    "surrogate_class",
]
