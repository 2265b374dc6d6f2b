"""The neuron's settings are defined once (bpsrm.neuron.params): every entry point takes its defaults
and checks from there."""

from __future__ import annotations

import dataclasses
import inspect
import math

import numpy as np
import pytest

from bpsrm import SRMNeuron, srm
from bpsrm.engine.config import Config, ConfigError, config_from_dict
from bpsrm.errors import ParameterError
from bpsrm.network.layers import MembraneReadout
from bpsrm.neuron.functional import srm_convolution, srm_reference
from bpsrm.neuron.params import DEFAULTS, KERNELS, SETTINGS, SRMParams, check_setting
from bpsrm.neuron.surrogate import SURROGATES, Atan


def test_settings_and_fields_are_the_same_list() -> None:
    assert [f.name for f in dataclasses.fields(SRMParams)] == list(SETTINGS)
    for f in dataclasses.fields(SRMParams):
        assert f.default == SETTINGS[f.name].default, f.name


@pytest.mark.parametrize(
    "function", [srm, srm_reference, srm_convolution, SRMNeuron.__init__, MembraneReadout.__init__]
)
def test_every_entry_point_has_the_one_default(function) -> None:
    """A signature's default of a neuron setting is the value in SETTINGS (checked by value, for each one it has)."""
    parameters = inspect.signature(function).parameters
    shared = [name for name in SETTINGS if name in parameters]
    assert {"tau_s", "tau_m", "kernel"} <= set(shared)
    for name in shared:
        assert parameters[name].default == SETTINGS[name].default, f"{function.__qualname__}: {name}"


def test_the_config_schema_is_srm_params() -> None:
    hints = {f.name: f.type for f in dataclasses.fields(Config().model)}
    assert Config().model.neuron == DEFAULTS
    assert "neuron" in hints
    assert type(Config().model.neuron) is SRMParams


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("tau_s", 0.0, "tau_s must be finite and > 0, got 0.0"),
        ("tau_m", math.inf, "tau_m must be finite and > 0, got inf"),
        ("tau_r", math.nan, "tau_r must be finite and > 0, got nan"),
        ("theta", -1.0, "theta must be finite and > 0, got -1.0"),
        ("theta_r", -0.1, "theta_r must be null or finite and >= 0, got -0.1"),
        ("surrogate_width", 0, "surrogate_width must be null or finite and > 0, got 0"),
        ("tau_m", "4", "tau_m must be a number finite and > 0, got '4'"),
        ("tau_m", True, "tau_m must be a number finite and > 0, got True"),
        ("kernel", "gauss", "unknown kernel 'gauss'; expected one of 'dexp', 'alpha', 'exp'"),
        ("surrogate", "relu", "unknown surrogate 'relu'; expected one of 'sigmoid'"),
        ("detach_reset", 1, "detach_reset must be true or false, got 1"),
    ],
)
def test_bad_settings_are_refused_by_name(name: str, value: object, message: str) -> None:
    with pytest.raises(ParameterError) as info:
        SRMParams(**{name: value})
    assert message in str(info.value)
    with pytest.raises(ParameterError, match="^" + message[:12]):
        check_setting(name, value)


@pytest.mark.parametrize(("name", "value"), [("tau_m", -2), ("theta", 0), ("surrogate", "relu"), ("kernel", "lif")])
def test_config_refuses_what_srm_params_refuses(name: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"model.neuron.{name}: expected"):
        config_from_dict({"model": {"neuron": {name: value}}})
    with pytest.raises(ParameterError):
        SRMParams(**{name: value})


def test_every_registered_surrogate_and_kernel_is_accepted() -> None:
    """The choices are the live registries: nothing to add elsewhere for a new surrogate or kernel."""
    assert SETTINGS["surrogate"].choices is SURROGATES
    assert tuple(SETTINGS["kernel"].choices) == KERNELS
    for name in SURROGATES:
        params = SRMParams(surrogate=name, surrogate_width=0.75)
        surrogate = params.surrogate_function()
        assert type(surrogate) is SURROGATES[name]
        assert surrogate.width == 0.75
    for kernel in KERNELS:
        assert SRMParams(kernel=kernel).kernel == kernel


def test_surrogate_width_reaches_the_neuron() -> None:
    neuron = SRMNeuron(**SRMParams(surrogate="atan", surrogate_width=3.0).neuron_kwargs())
    assert neuron.surrogate == Atan(a=3.0)


def test_decay_is_exp_of_minus_one_over_tau() -> None:
    assert SRMParams(tau_s=3.0).decay("tau_s") == math.exp(-1 / 3)


def test_the_kernel_type_names_every_registered_kernel() -> None:
    """KERNELS (what srm() computes) and the Kernel type (what a config and SRMParams accept) list the same names."""
    import typing

    from bpsrm.neuron.params import KERNELS, Kernel

    assert set(typing.get_args(Kernel)) == set(KERNELS)


def test_decay_is_exp_of_minus_one_over_tau_for_numbers_and_tensors() -> None:
    import torch

    from bpsrm.neuron.params import decay, time_constant

    assert decay(4.0) == math.exp(-0.25) and isinstance(decay(4), float)
    assert time_constant(math.exp(-0.25)) == pytest.approx(4.0, rel=1e-15)
    tau = torch.tensor([1.5, 2.0, 8.0], dtype=torch.float64, requires_grad=True)
    a = decay(tau)
    assert a.dtype == torch.float64
    assert a.tolist() == pytest.approx([math.exp(-1 / 1.5), math.exp(-0.5), math.exp(-1 / 8)], rel=1e-15)
    a.sum().backward()  # d/dtau exp(-1/tau) = exp(-1/tau) / tau^2, by hand
    expected = [math.exp(-1 / t) / t**2 for t in (1.5, 2.0, 8.0)]
    assert tau.grad is not None and tau.grad.tolist() == pytest.approx(expected, rel=1e-14)
    torch.testing.assert_close(time_constant(a.detach()), tau.detach(), rtol=1e-14, atol=0)
    with pytest.raises(ParameterError, match="got str"):
        decay("4")  # type: ignore[call-overload]
    with pytest.raises(ParameterError, match="got bool"):
        time_constant(True)
    with pytest.raises(ParameterError, match="got ndarray"):
        decay(np.array([2.0]))  # type: ignore[call-overload]
    # NumPy's scalars are real numbers: the float of math.exp, as for Python's
    assert decay(np.float32(3.0)) == math.exp(-1 / 3) and decay(np.int64(3)) == math.exp(-1 / 3)


def test_the_decay_formula_is_written_once_in_the_package() -> None:
    """a = exp(-1/tau) and its inverse live in bpsrm.neuron.params alone; a second copy elsewhere could drift from
    it. The step-by-step oracle (functional.srm_reference) writes its own form on purpose, so that a mistake in
    ``decay`` shows up in the tests that compare the kernels with it."""
    import re
    import tokenize
    from pathlib import Path

    import bpsrm

    formula = re.compile(
        r"exp\(\s*-\s*[\w.]+\s*/"  # math.exp(-1.0 / tau), exp(-dt / tau)
        r"|\(\s*-\s*[\w.]+\s*/[^)]*\)\.exp\("  # (-1.0 / tau).exp()
        r"|exp\(\s*(torch\.)?reciprocal\("  # torch.exp(torch.reciprocal(tau).neg())
        r"|/\s*((math|torch|np)\.log\(|[\w.]+\.log\(\))"  # -1.0 / math.log(a), -1.0 / a.log()
    )
    for line in ("a = math.exp(-1.0 / tau)", "torch.exp(-dt / tau)", "(-1.0 / tau).exp()", "-1.0 / a.log()"):
        assert formula.search(line), line  # the scan sees every form the package has used
    assert formula.search("torch.exp(torch.reciprocal(p.tau_m).neg())")
    root = Path(bpsrm.__file__).parent

    def code_lines(path: Path) -> dict[int, str]:
        """line number -> the line's code, without its strings (docstrings) and comments."""
        lines: dict[int, str] = {}
        with path.open("rb") as source:
            for token in tokenize.tokenize(source.readline):
                if token.type not in (tokenize.COMMENT, tokenize.STRING, tokenize.ENCODING):
                    lines[token.start[0]] = lines.get(token.start[0], "") + token.string
        return lines

    oracle_start = inspect.getsourcelines(srm_reference)[1]
    oracle = range(oracle_start, oracle_start + len(inspect.getsourcelines(srm_reference)[0]))
    copies = [
        f"{path.relative_to(root)}:{number}"
        for path in sorted(root.rglob("*.py"))
        if path.name != "params.py"
        for number, line in code_lines(path).items()
        if formula.search(line) and not (path.name == "functional.py" and number in oracle)
    ]
    assert copies == []
    functional = code_lines(root / "neuron" / "functional.py")
    assert any(formula.search(functional.get(n, "")) for n in oracle)  # the oracle's own form, left alone


def test_numpy_reals_and_huge_ints_get_the_settings_messages() -> None:
    """np.float32(3) was refused as "must be a number"; 10**400 raised a bare OverflowError (helper-51)."""
    assert check_setting("tau_m", np.float32(3.0)) == 3.0
    assert type(check_setting("tau_m", np.float32(3.0))) is float
    expected = r"tau_m must be finite and > 0, got <a whole number of 1329 bits>"  # 400 log2(10) = 1328.8
    with pytest.raises(ParameterError, match=expected):
        check_setting("tau_m", 10**400)
