"""The public API is documented: every public function, class and method has a docstring, and
those that take or give tensors state their shapes; the numerical ones give their equation."""

from __future__ import annotations

import importlib
import inspect

import pytest

PUBLIC_MODULES = [
    "bpsrm",
    "bpsrm.neuron.functional",
    "bpsrm.neuron.autograd",
    "bpsrm.neuron.surrogate",
    "bpsrm.neuron.recorded",
    "bpsrm.neuron",
    "bpsrm.network.norm",
    "bpsrm.network.layers",
    "bpsrm.network.models",
    "bpsrm.network.encoding",
    "bpsrm.deploy.export",
    "bpsrm.errors",
    "bpsrm.options",
    "bpsrm.deploy.inference",
    "bpsrm.deploy.ood",
    "bpsrm.docgen",
    "bpsrm.engine.config",
    "bpsrm.engine.trainer",
    "bpsrm.engine.experiment",
    "bpsrm.engine.resume",
    "bpsrm.engine.optimisation",
    "bpsrm.engine.evaluation",
    "bpsrm.engine.distributed",
    "bpsrm.engine.replicates",
    "bpsrm.engine.paired",
    "bpsrm.engine.commands",
    "bpsrm.checks",
    "bpsrm.user_code",
    "bpsrm.data.resampling",
    "bpsrm.data.time_column",
    "bpsrm.data.clock_column",
    "bpsrm.data.image_looks",
    "bpsrm.data.text_fields",
    "bpsrm.data.text_head",
    "bpsrm.data.mains",
    "bpsrm.data",
    "bpsrm.environment",
]
# Modules whose objects compute on tensors: their docstrings give shapes ("[T, B, ...]") or an equation.
TENSOR_MODULES = {
    "bpsrm.neuron.functional",
    "bpsrm.neuron",
    "bpsrm.network.norm",
    "bpsrm.network.layers",
    "bpsrm.network.encoding",
    "bpsrm.neuron.surrogate",
}


def _public_objects():
    seen = set()
    for name in PUBLIC_MODULES:
        module = importlib.import_module(name)
        for attr in getattr(module, "__all__", []):
            obj = getattr(module, attr)
            if id(obj) in seen or not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            seen.add(id(obj))
            yield f"{name}.{attr}", obj, name
            if inspect.isclass(obj):
                for method_name, method in vars(obj).items():
                    if method_name.startswith("_") or not (inspect.isfunction(method) or isinstance(method, property)):
                        continue
                    target = method.fget if isinstance(method, property) else method
                    yield f"{name}.{attr}.{method_name}", target, name


OBJECTS = list(_public_objects())


def test_the_public_api_is_not_empty() -> None:
    assert len(OBJECTS) > 100


@pytest.mark.parametrize(("qualname", "obj", "module"), OBJECTS, ids=[o[0] for o in OBJECTS])
def test_documented(qualname: str, obj, module: str) -> None:
    doc = inspect.getdoc(obj)
    assert doc and len(doc) > 15, f"{qualname} has no docstring"


TENSOR_OBJECTS = [o for o in OBJECTS if o[2] in TENSOR_MODULES and o[0].count(".") == 2]


@pytest.mark.parametrize(("qualname", "obj", "module"), TENSOR_OBJECTS, ids=[o[0] for o in TENSOR_OBJECTS])
def test_tensor_api_states_shapes_or_equation(qualname: str, obj, module: str) -> None:
    doc = inspect.getdoc(obj) or ""
    states = "[" in doc or ":math:" in doc or "math::" in doc or "=" in doc
    assert states, f"{qualname}: its docstring gives neither a shape nor an equation"
