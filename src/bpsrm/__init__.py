"""bpsrm: spiking neural networks of SRM neurons trained with BP-SRM.

The public API: the neuron (:func:`srm`, :class:`SRMNeuron`), temporal channel
normalization (:class:`TemporalChannelNorm`) and the model builder
(:func:`build_model`).
"""

from . import encoding, surrogate
from ._version import __version__
from .errors import BpsrmError
from .functional import srm, srm_convolution, srm_reference
from .models import SpikingNetwork, build_model
from .neuron import SRMNeuron
from .norm import BNTT, TEBN, FoldedBatchNorm, TdBN, TemporalChannelNorm

__all__ = [
    "__version__",
    "encoding",
    "surrogate",
    "BpsrmError",
    "srm",
    "srm_reference",
    "srm_convolution",
    "SRMNeuron",
    "TemporalChannelNorm",
    "FoldedBatchNorm",
    "TdBN",
    "BNTT",
    "TEBN",
    "build_model",
    "SpikingNetwork",
]
