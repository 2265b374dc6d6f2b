"""bpsrm: spiking neural networks of SRM neurons trained with BP-SRM.

The public API: the neuron (:func:`srm`, :class:`SRMNeuron`), temporal channel
normalization (:class:`TemporalChannelNorm`) and the model builder
(:func:`build_model`).

The package is grouped by concern (docs/architecture.md): ``bpsrm.neuron``
(the neuron and its backends), ``bpsrm.network`` (layers, norms, the model
builder), ``bpsrm.data``, ``bpsrm.engine`` (configs, training, run folders,
plots) and ``bpsrm.deploy`` (use of trained models). The flat module names of
earlier versions (``bpsrm.functional``, ``bpsrm.models``, ...) still import:
each is the same module object as its new home (see :data:`MOVED_MODULES`).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import BpsrmError

if TYPE_CHECKING:
    from . import data as data
    from . import deploy as deploy
    from . import engine as engine
    from . import network as network
    from . import neuron as neuron
    from .network import encoding
    from .network.models import SpikingNetwork, build_model
    from .network.norm import BNTT, TEBN, FoldedBatchNorm, TdBN, TemporalChannelNorm
    from .neuron import surrogate
    from .neuron.functional import srm, srm_convolution, srm_reference
    from .neuron.module import SRMNeuron

#: The public names that need PyTorch, and the module each comes from. They are imported on first
#: use (PEP 562), so that ``import bpsrm`` and ``bpsrm --help`` do not load PyTorch (about 1.5 s).
#: The subpackages are imported on first use too (``bpsrm.network.encoding.direct`` after ``import bpsrm``).
LAZY_NAMES: dict[str, str] = {
    "neuron": "bpsrm.neuron",
    "network": "bpsrm.network",
    "data": "bpsrm.data",
    "engine": "bpsrm.engine",
    "deploy": "bpsrm.deploy",
    "encoding": "bpsrm.network.encoding",
    "surrogate": "bpsrm.neuron.surrogate",
    "srm": "bpsrm.neuron.functional",
    "srm_reference": "bpsrm.neuron.functional",
    "srm_convolution": "bpsrm.neuron.functional",
    "SRMNeuron": "bpsrm.neuron.module",
    "TemporalChannelNorm": "bpsrm.network.norm",
    "FoldedBatchNorm": "bpsrm.network.norm",
    "TdBN": "bpsrm.network.norm",
    "BNTT": "bpsrm.network.norm",
    "TEBN": "bpsrm.network.norm",
    "build_model": "bpsrm.network.models",
    "SpikingNetwork": "bpsrm.network.models",
}


if not TYPE_CHECKING:  # a type checker sees the imports above, not "any name is Any"

    def __getattr__(name: str) -> Any:
        """Imports a name of :data:`LAZY_NAMES` on first use and keeps it in the package's namespace."""
        source = LAZY_NAMES.get(name)
        if source is None:
            raise AttributeError(f"module 'bpsrm' has no attribute {name!r}")
        module = importlib.import_module(source)
        value = module if source.rpartition(".")[2] == name else getattr(module, name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(globals()) | set(LAZY_NAMES))


#: Module names of bpsrm 0.x's flat layout and where each module lives now.
MOVED_MODULES: dict[str, str] = {
    "bpsrm.params": "bpsrm.neuron.params",
    "bpsrm.surrogate": "bpsrm.neuron.surrogate",
    "bpsrm.functional": "bpsrm.neuron.functional",
    "bpsrm.autograd": "bpsrm.neuron.autograd",
    "bpsrm.kernels": "bpsrm.neuron.kernels",
    "bpsrm.kernels.cpu": "bpsrm.neuron.kernels.cpu",
    "bpsrm.kernels.compiled": "bpsrm.neuron.kernels.compiled",
    "bpsrm.layers": "bpsrm.network.layers",
    "bpsrm.norm": "bpsrm.network.norm",
    "bpsrm.pooling": "bpsrm.network.pooling",
    "bpsrm.encoding": "bpsrm.network.encoding",
    "bpsrm.augment": "bpsrm.network.augment",
    "bpsrm.models": "bpsrm.network.models",
    "bpsrm.inference": "bpsrm.deploy.inference",
    "bpsrm.prediction": "bpsrm.deploy.prediction",
    "bpsrm.adapt": "bpsrm.deploy.adapt",
    "bpsrm.ood": "bpsrm.deploy.ood",
    "bpsrm.export": "bpsrm.deploy.export",
    "bpsrm.crossload": "bpsrm.engine.crossload",
    "bpsrm.plots": "bpsrm.engine.plots",
}


class _MovedModuleLoader(importlib.abc.Loader):
    """Hands out the module at its new name; the import system files it under the old name too."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.target)
        self._spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The import system set __spec__ to the old name's spec: give the module back its own.
        module.__spec__ = self._spec


class _MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Resolves the old flat names (``bpsrm.functional``) to the grouped modules (``bpsrm.neuron.functional``)."""

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        new = MOVED_MODULES.get(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _MovedModuleLoader(new))


if not any(isinstance(finder, _MovedModuleFinder) for finder in sys.meta_path):
    sys.meta_path.insert(0, _MovedModuleFinder())

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
    "MOVED_MODULES",
]
