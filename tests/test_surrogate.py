"""Surrogate derivatives: each closed form against autograd of its smooth primitive, and the table's formulas."""

from __future__ import annotations

import math
import pickle
from dataclasses import fields

import pytest
import torch

from bpsrm.errors import BpsrmError, ParameterError
from bpsrm.neuron.surrogate import SURROGATES, get_surrogate, heaviside, spike_function

ALL = sorted(SURROGATES)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("scale", [0.5, 1.0, 3.0])
def test_derivative_is_derivative_of_primitive(name: str, scale: float) -> None:
    sg = get_surrogate(name, **{fields(SURROGATES[name])[0].name: scale})
    # Avoid the kinks of triangle/rectangle where the derivative is not defined.
    v = torch.linspace(-3, 3, 601, dtype=torch.float64)
    v = v[(v.abs() - scale / 2).abs() > 1e-6]
    v = v[(v.abs() - scale).abs() > 1e-6]
    v = v[v.abs() > 1e-6].requires_grad_()
    (grad,) = torch.autograd.grad(sg.primitive(v).sum(), v)
    torch.testing.assert_close(sg.derivative(v.detach()), grad, rtol=1e-12, atol=1e-12)


def test_derivatives_against_the_table() -> None:
    """Hand-computed values of BP-SRM.md section 3.1 at a few points."""
    v = torch.tensor([-0.7, -0.2, 0.0, 0.1, 0.4, 2.0], dtype=torch.float64)
    s = 1 / (1 + torch.exp(-4 * v))
    expected = {
        "sigmoid": 4 * s * (1 - s),
        "atan": (2 / 2) / (1 + (math.pi * 2 * v / 2) ** 2),
        "triangle": torch.tensor([0.3, 0.8, 1.0, 0.9, 0.6, 0.0], dtype=torch.float64),
        "rectangle": torch.tensor([0.0, 1.0, 1.0, 1.0, 1.0, 0.0], dtype=torch.float64),
        "exponential": torch.exp(-v.abs() / 0.5) / (2 * 0.5),
        "fast_sigmoid": 1 / (1 + 10 * v.abs()) ** 2,
    }
    for name, want in expected.items():
        torch.testing.assert_close(get_surrogate(name).derivative(v), want, rtol=1e-12, atol=1e-12, msg=name)


def test_surrogate_integrates_to_one() -> None:
    """All but fast_sigmoid are densities: the area under sg' is 1, as the Heaviside rises by 1."""
    v = torch.linspace(-40, 40, 800_001, dtype=torch.float64)
    for name in ALL:
        if name == "fast_sigmoid":
            continue
        sg = get_surrogate(name)
        area = torch.trapezoid(sg.derivative(v), v).item()
        tails = 1.0 - (sg.primitive(v[-1:]) - sg.primitive(v[:1])).item()  # atan's heavy tails beyond +-40
        assert area + tails == pytest.approx(1.0, abs=1e-3), name
        assert tails < 1e-2, name


@pytest.mark.parametrize("name", ALL)
def test_heaviside_forward_exact_and_backward_surrogate(name: str) -> None:
    v = torch.tensor([-1.0, -1e-12, 0.0, 1e-12, 0.3], dtype=torch.float64, requires_grad=True)
    out = heaviside(v, name)
    assert out.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]
    (grad,) = torch.autograd.grad(out.sum(), v)
    torch.testing.assert_close(grad, get_surrogate(name).derivative(v.detach()))
    ref = spike_function(v, get_surrogate(name))
    assert torch.equal(ref.detach(), out.detach())


def test_by_name_with_parameter_and_object_passthrough() -> None:
    sg = get_surrogate("atan", a=3.0)
    assert sg.a == 3.0
    assert get_surrogate(sg) is sg
    assert get_surrogate("sigmoid") == get_surrogate("sigmoid", a=4.0)


def test_surrogates_pickle_by_value() -> None:
    for name in ALL:
        sg = get_surrogate(name)
        assert pickle.loads(pickle.dumps(sg)) == sg


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: get_surrogate("sigmod"), "unknown surrogate 'sigmod'"),
        (lambda: get_surrogate("sigmoid", w=1.0), "got unknown ['w']"),
        (lambda: get_surrogate("triangle", w=0.0), "must be a finite number > 0, got 0.0"),
        (lambda: get_surrogate("atan", a=float("nan")), "got nan"),
        (lambda: get_surrogate(3), "got int"),
        (lambda: get_surrogate(get_surrogate("atan"), a=1.0), "set them on the object"),
    ],
)
def test_errors_say_what_was_given(call, fragment: str) -> None:
    with pytest.raises(ParameterError) as info:
        call()
    assert fragment in str(info.value)
    assert isinstance(info.value, BpsrmError)


def test_surrogate_widths_take_numpy_reals_and_refuse_huge_ints() -> None:
    np = pytest.importorskip("numpy")
    assert get_surrogate("sigmoid", a=np.float32(2.0)).width == 2.0
    with pytest.raises(ParameterError, match="must be a finite number > 0"):
        get_surrogate("sigmoid", a=10**400)
