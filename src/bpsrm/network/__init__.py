"""Network blocks around the neuron and the model builder.

``layers`` (time folding, readouts), ``norm`` (TCN and the other temporal
normalisations), ``pooling``, ``encoding`` (inputs to spike trains),
``augment`` (training-time transforms) and ``models`` (:func:`build_model`
from a spec string such as ``"32C3-TCN-SRM-AP2-FC10"``). A new norm goes in
``norm``'s ``NORMS`` registry, a new layer token in ``models``.
"""

from . import encoding
from .models import SpikingNetwork, build_model
from .norm import NORMS, TemporalChannelNorm

__all__ = ["SpikingNetwork", "build_model", "NORMS", "TemporalChannelNorm", "encoding"]
