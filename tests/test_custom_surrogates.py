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
