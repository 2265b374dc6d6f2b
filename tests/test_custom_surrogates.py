"""A surrogate of one's own (a Surrogate subclass, registered under a name or not): it runs on the portable path
with its own derivative, never on a fused kernel that implements another formula, and the run says so."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch
from torch import Tensor

import bpsrm
from bpsrm.environment import kernels_in_use
from bpsrm.errors import ParameterError
from bpsrm.neuron import surrogate as surrogates
from bpsrm.neuron.functional import kernel_choice, srm_reference
from bpsrm.neuron.surrogate import Sigmoid, Surrogate, get_surrogate

F64 = torch.float64


@dataclass(frozen=True)
class Flat(Surrogate):
    """sg'(v) = c: a surrogate whose gradients are easy to tell apart (c = 0 passes nothing back)."""

    c: float = 1.0
    name: ClassVar[str] = "flat"

    def derivative(self, v: Tensor) -> Tensor:
        return torch.full_like(v, self.c)

    def primitive(self, v: Tensor) -> Tensor:
        return self.c * v


@dataclass(frozen=True)
class SigmoidTwice(Sigmoid):
    """Twice the sigmoid's derivative, under the sigmoid's name and kernel id (inherited)."""

    def derivative(self, v: Tensor) -> Tensor:
        return 2.0 * super().derivative(v)

    def primitive(self, v: Tensor) -> Tensor:
        return 2.0 * super().primitive(v)


@pytest.fixture
def registry(monkeypatch):
    """SURROGATES as the test leaves it: restored after."""
    monkeypatch.setattr(surrogates, "SURROGATES", dict(surrogates.SURROGATES))
    monkeypatch.setattr(bpsrm.neuron.functional, "SURROGATES", surrogates.SURROGATES)
    return surrogates.SURROGATES


def _x(dtype=F64) -> Tensor:
    return (torch.randn(12, 3, 5, generator=torch.Generator().manual_seed(1), dtype=F64) * 0.8 + 0.4).to(dtype)


def _input_gradient(surrogate, dtype=F64) -> Tensor:
    x = _x(dtype).requires_grad_()
    spikes, u = bpsrm.srm(x, tau_m=3.0, surrogate=surrogate)
    (spikes.sum() + 0.1 * u.sum()).backward()
    return x.grad


def _reference_gradient(surrogate: Surrogate) -> Tensor:
    x = _x().requires_grad_()
    spikes, u = srm_reference(x, tau_m=3.0, surrogate=surrogate)
    (spikes.sum() + 0.1 * u.sum()).backward()
    return x.grad


def test_a_name_registered_again_takes_the_new_class(registry) -> None:
    """srm's plans were keyed on the name alone: the class registered first kept its gradients after the name was
    given to another class (a notebook's usual redefinition)."""
    registry["flat"] = Flat
    first = _input_gradient("flat")
    torch.testing.assert_close(first, _reference_gradient(Flat()), rtol=1e-10, atol=1e-12)

    @dataclass(frozen=True)
    class Nothing(Flat):
        c: float = 1.0

        def derivative(self, v: Tensor) -> Tensor:
            return torch.zeros_like(v)

        def primitive(self, v: Tensor) -> Tensor:
            return 0.0 * v

    registry["flat"] = Nothing
    again = _input_gradient("flat")
    torch.testing.assert_close(again, _reference_gradient(Nothing()), rtol=1e-10, atol=1e-12)
    assert not torch.equal(again, first)


def test_a_class_registered_in_a_built_in_s_place_runs_its_own_derivative(registry) -> None:
    """SigmoidTwice inherits the sigmoid's name and kernel id: the fused kernels ran the sigmoid's formula for it,
    half its gradient, without a word."""
    registry["sigmoid"] = SigmoidTwice
    x32 = _x(torch.float32)
    kernel, why = kernel_choice(x32, SigmoidTwice())
    assert kernel is None and "implement the built-in surrogates only, got SigmoidTwice" in why
    assert kernel_choice(x32, Sigmoid())[0] in ("c", None)  # the built-in keeps its kernel where one is built
    torch.testing.assert_close(_input_gradient(SigmoidTwice()), _reference_gradient(SigmoidTwice()), rtol=1e-10, atol=0)
    assert type(get_surrogate("sigmoid")) is SigmoidTwice  # the default instance follows the registry


def test_the_run_record_names_the_portable_path_for_a_surrogate_of_one_s_own() -> None:
    """The record asked about the default sigmoid: a run with its own surrogate was recorded as on the C kernel."""
    record = kernels_in_use("cpu", Flat())["neuron"]
    assert record.startswith("portable (the fused kernels implement the built-in surrogates only, got Flat")


def test_a_width_given_beside_a_surrogate_object_is_refused() -> None:
    """build_model(neuron={"surrogate": Sigmoid(8.0), "surrogate_width": 2.0}) built Sigmoid(a=8.0): the width was
    dropped without a word."""
    with pytest.raises(ParameterError, match=r"surrogate_width 2\.0 was given with a surrogate object Sigmoid"):
        bpsrm.build_model("FC4-SRM-FC2", (3,), neuron={"surrogate": Sigmoid(8.0), "surrogate_width": 2.0})
    model = bpsrm.build_model("FC4-SRM-FC2", (3,), neuron={"surrogate": Sigmoid(8.0)})
    assert any(getattr(m, "surrogate", None) == Sigmoid(8.0) for m in model.modules())


FLAT_FILE = """
from dataclasses import dataclass
from typing import ClassVar

import torch

from bpsrm.neuron.surrogate import Surrogate


@dataclass(frozen=True)
class Flat(Surrogate):
    c: float = 1.0
    name: ClassVar[str] = "flat-from-a-file"

    def derivative(self, v):
        return torch.full_like(v, self.c)

    def primitive(self, v):
        return self.c * v


class NotOne:
    pass
"""


def test_a_config_names_a_surrogate_of_one_s_own_by_its_file_and_a_run_folder_reads_it_back(tmp_path) -> None:
    """A surrogate of one's own could be used from Python only: model.neuron.surrogate took registered names. It
    now takes 'path/to/file.py:Class' (and 'package.module:Class'), as data.name does, with its width; the
    config a run writes keeps the text, so eval and predict find the class again."""
    from bpsrm.engine.config import config_to_dict, load_config
    from bpsrm.engine.run_folder import write_config
    from bpsrm.network.models import build_model
    from bpsrm.neuron.module import SRMNeuron
    from conftest import REPO

    (tmp_path / "flat.py").write_text(FLAT_FILE)
    spec = f"{tmp_path / 'flat.py'}:Flat"
    overrides = [f"model.neuron.surrogate={spec}", "model.neuron.surrogate_width=0.25"]
    config = load_config(REPO / "configs" / "fashion-mnist.yaml", overrides)
    assert config.model.neuron.surrogate == spec
    write_config(tmp_path, config_to_dict(config))
    again = load_config(tmp_path / "config.yaml")
    assert again.model.neuron == config.model.neuron
    model = build_model(again.model.spec, (1, 28, 28), time_steps=2, neuron=again.model.neuron)
    surrogates_used = {m.surrogate for m in model.modules() if isinstance(m, SRMNeuron)}
    assert len(surrogates_used) == 1
    (used,) = surrogates_used
    assert type(used).__name__ == "Flat" and used.c == 0.25
    # its derivative is the one the backward uses: sg' = 0.25 everywhere, so one step's input gradient is 0.25 x
    # the spike's gradient, by hand for a single step (u = x at t = 0 when T = 1)
    x = torch.randn(1, 4, dtype=F64, requires_grad=True)
    spikes, _ = bpsrm.srm(x, surrogate=used)
    spikes.sum().backward()
    assert torch.equal(x.grad, torch.full_like(x, 0.25))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{dir}/missing.py:Flat", r"surrogate '.*missing\.py:Flat': no such file"),
        ("{dir}/flat.py:Nope", r"flat\.py has no 'Nope'"),
        ("{dir}/flat.py:NotOne", r"is <class .*NotOne'>, not a subclass of bpsrm\.neuron\.Surrogate"),
    ],
)
def test_a_surrogate_of_one_s_own_that_cannot_be_loaded_is_refused_when_the_model_is_built(
    tmp_path, spec, message
) -> None:
    """Reading a config imports no code of one's own (a run folder's config.yaml is read to plot it, from any
    folder): the class is loaded, and refused naming the spec, when the model is built, before any training."""
    from bpsrm.engine.config import load_config
    from bpsrm.network.models import build_model
    from conftest import REPO

    (tmp_path / "flat.py").write_text(FLAT_FILE)
    given = spec.format(dir=tmp_path)
    config = load_config(REPO / "configs" / "fashion-mnist.yaml", [f"model.neuron.surrogate={given}"])
    assert config.model.neuron.surrogate == given
    with pytest.raises(ParameterError, match=message):
        build_model(config.model.spec, (1, 28, 28), time_steps=2, neuron=config.model.neuron)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{dir}/flat.py:1x", r"model\.neuron\.surrogate: surrogate '.*flat\.py:1x': expected 'package\.module:Class"),
        ("relu", r"model\.neuron\.surrogate: expected one of 'sigmoid', 'atan'.*a class of your own as .*got 'relu'"),
    ],
)
def test_a_surrogate_named_wrongly_in_a_config_is_refused_naming_it(tmp_path, spec, message) -> None:
    from bpsrm.engine.config import load_config
    from bpsrm.errors import ConfigError
    from conftest import REPO

    with pytest.raises(ConfigError, match=message):
        load_config(REPO / "configs" / "fashion-mnist.yaml", [f"model.neuron.surrogate={spec.format(dir=tmp_path)}"])


def test_an_installed_package_s_surrogate_is_found_once_and_its_failure_is_said(registry, tmp_path, monkeypatch):
    """The bpsrm.surrogates entry points: a name an installed package offers is loaded once (the scan of the
    installed packages took 10-20 ms at every srm call), and one that cannot be loaded says why in a config (it
    read as an unknown name)."""
    import importlib.metadata

    from bpsrm.engine.config import load_config
    from bpsrm.errors import ConfigError
    from conftest import REPO

    (tmp_path / "flat_pkg.py").write_text(FLAT_FILE)
    monkeypatch.syspath_prepend(str(tmp_path))
    points = [
        importlib.metadata.EntryPoint("flat-ep", "flat_pkg:Flat", surrogates.ENTRY_POINT_GROUP),
        importlib.metadata.EntryPoint("broken", "nonexistent_mod_xyz:Flat", surrogates.ENTRY_POINT_GROUP),
    ]
    scans = []
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: scans.append(group) or points)
    assert get_surrogate("flat-ep", c=0.5).c == 0.5 and type(get_surrogate("flat-ep")).__name__ == "Flat"
    assert scans == [surrogates.ENTRY_POINT_GROUP] and "flat-ep" in registry  # kept after the first scan
    with pytest.raises(
        ConfigError,
        match=r"surrogate 'broken' \(entry point nonexistent_mod_xyz:Flat\): cannot be "
        r"loaded \(No module named 'nonexistent_mod_xyz'\)",
    ):
        load_config(REPO / "configs" / "fashion-mnist.yaml", ["model.neuron.surrogate=broken"])


def test_register_surrogate_makes_a_class_reachable_by_its_name_and_refuses_what_is_not_one(registry) -> None:
    assert surrogates.register_surrogate(Flat) is Flat
    assert get_surrogate("flat", c=0.5) == Flat(c=0.5)
    assert bpsrm.neuron.SRMParams(surrogate="flat", surrogate_width=2.0).surrogate_function() == Flat(c=2.0)
    with pytest.raises(ParameterError, match=r"not a subclass of bpsrm\.neuron\.Surrogate"):
        surrogates.register_surrogate(int)

    @dataclass(frozen=True)
    class Nameless(Flat):
        name: ClassVar[str] = ""

    with pytest.raises(ParameterError, match=r"its name \(a ClassVar\) must be a non-empty string without ':'"):
        surrogates.register_surrogate(Nameless)
    assert "" not in registry


@pytest.mark.parametrize(
    ("derivative", "got"),
    [
        (lambda v: torch.ones((), dtype=v.dtype), r"got shape \(\), torch\.float64 on cpu"),  # an IndexError before
        (lambda v: torch.ones(v.shape), r"got shape \(3, 2, 4\), torch\.float32 on cpu"),  # float64 lowered
        (lambda v: 1.0, r"got float"),
    ],
)
def test_a_derivative_that_does_not_match_v_is_refused_by_the_backward(derivative, got) -> None:
    @dataclass(frozen=True)
    class Wrong(Flat):
        def derivative(self, v: Tensor) -> Tensor:
            return derivative(v)

    x = torch.randn(3, 2, 4, dtype=F64, requires_grad=True)
    for reset in ("subtract", "zero"):
        spikes, _ = bpsrm.srm(x, surrogate=Wrong(), reset=reset)
        with pytest.raises(
            ParameterError, match=r"surrogate Wrong: derivative\(v\) must return a tensor of v's .*" + got
        ):
            spikes.sum().backward()
    with pytest.raises(ParameterError, match=got):
        surrogates.heaviside(x, Wrong()).sum().backward()


def test_the_docs_gaussian_surrogate_is_the_derivative_of_its_primitive_and_srm_uses_it() -> None:
    """docs/examples/my_surrogate.py: sg'(v) against autograd of its primitive (float64), the normal density by
    hand at v = 0 (1 / (sigma sqrt(2 pi))), and srm's input gradient against the autograd reference."""
    import math

    from bpsrm.neuron.surrogate import surrogate_class
    from conftest import REPO

    gaussian = surrogate_class(f"{REPO / 'docs' / 'examples' / 'my_surrogate.py'}:Gaussian")(sigma=0.4)
    v = torch.linspace(-2, 2, 41, dtype=F64, requires_grad=True)
    (by_autograd,) = torch.autograd.grad(gaussian.primitive(v).sum(), v)
    torch.testing.assert_close(gaussian.derivative(v.detach()), by_autograd, rtol=1e-12, atol=1e-14)
    assert gaussian.derivative(torch.zeros((), dtype=F64)).item() == pytest.approx(1 / (0.4 * math.sqrt(2 * math.pi)))
    torch.testing.assert_close(_input_gradient(gaussian), _reference_gradient(gaussian), rtol=1e-10, atol=1e-12)
