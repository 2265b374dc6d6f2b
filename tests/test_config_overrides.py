"""Reading one key's value out of a list of KEY=VALUE overrides (what the search scripts need) the way bpsrm itself
applies them: engine.config.override_value and without_key against load_config's own result."""

from __future__ import annotations

import pytest

from bpsrm.engine.config import load_config, override_value, without_key
from bpsrm.errors import ConfigError
from conftest import REPO

WEATHER = REPO / "configs" / "weather.yaml"


@pytest.mark.parametrize(
    "overrides",
    [
        ['data.root="a b/c"'],
        ["data.root =a b/c"],
        ["data.root=elsewhere", "optim.lr=0.1", "data.root=a b/c"],  # the last one wins, as in load_config
        ["data.root='a b/c'"],
    ],
)
def test_the_value_is_the_one_load_config_applies(overrides: list[str]) -> None:
    assert override_value(overrides, "data.root") == load_config(WEATHER, overrides).data.root == "a b/c"


def test_an_empty_value_is_none_and_an_absent_key_gives_the_default() -> None:
    assert override_value(["data.root="], "data.root") is None is load_config(WEATHER, ["data.root="]).data.root
    assert override_value(["optim.lr=0.1"], "model.spec", "8C3-SRM-FC4") == "8C3-SRM-FC4"
    assert override_value(["optim.lr=0.1"], "optim.lr", 0.5) == 0.1
    with pytest.raises(ConfigError, match=r"no override sets model\.spec \(got optim\.lr=0\.1\)"):
        override_value(["optim.lr=0.1"], "model.spec")


def test_without_key_drops_every_spelling_of_the_key_and_keeps_the_rest_in_order() -> None:
    given = ["data.root=x", "seed=1", "data.root =y", "data.rooted=z", "optim.lr=0.1"]
    assert without_key(given, "data.root") == ["seed=1", "data.rooted=z", "optim.lr=0.1"]


def test_a_malformed_override_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="must look like KEY=VALUE"):
        override_value(["optim.lr"], "optim.lr")


@pytest.mark.parametrize(
    ("text", "number"),
    [("1e-3", 0.001), ("1E+5", 100000.0), ("2.5e-2", 0.025), ("1.0e3", 1000.0), (".5e1", 5.0), ("3E0", 3.0)],
)
def test_numbers_in_exponent_form_are_numbers(text: str, number: float, tmp_path) -> None:
    """YAML 1.2's floats: PyYAML (YAML 1.1) read 1e-3 as the text "1e-3", and optim.lr=1e-3 was refused with
    "expected a number, got '1e-3'", in an override as in a config file."""
    assert load_config(WEATHER, [f"optim.lr={text}"]).optim.lr == number
    assert override_value([f"optim.lr={text}"], "optim.lr") == number
    with_lr = tmp_path / "with-lr.yaml"
    with_lr.write_text(WEATHER.read_text().replace("lr: 0.001,", f"lr: {text},", 1))
    assert load_config(with_lr).optim.lr == number


@pytest.mark.parametrize("text", ["e3", "1e", "1e-3x", "1.2.3"])
def test_text_that_only_looks_like_a_number_stays_text(text: str) -> None:
    assert override_value([f"data.root={text}"], "data.root") == text
    assert load_config(WEATHER, [f"data.root={text}"]).data.root == text


def test_an_infinite_number_for_an_optional_number_says_it_is_not_finite() -> None:
    """model.neuron.theta_r (a number or null) given .inf said "expected float or null, got inf", where tau_m said
    "expected a finite number": inf is a float, its reason is that it is not finite."""
    with pytest.raises(ConfigError, match=r"model\.neuron\.theta_r: expected a finite number, got inf"):
        load_config(WEATHER, ["model.neuron.theta_r=.inf"])
    with pytest.raises(ConfigError, match=r"model\.neuron\.theta_r: expected float or null, got 'abc'"):
        load_config(WEATHER, ["model.neuron.theta_r=abc"])


def test_text_that_reads_as_a_number_is_written_quoted_and_reads_back_as_text(tmp_path) -> None:
    """A run's config.yaml is read again on resume: the text '1e5' (a float once exponents are floats) must be
    quoted on the way out, and '08' (no float: no dot, no exponent) stays text, as YAML 1.1 read it."""
    from bpsrm.engine import run_folder
    from bpsrm.engine.config import config_to_dict

    config = load_config(WEATHER, ["experiment='1e5'", "data.root=08", "optim.lr=1e-3"])
    assert (config.experiment, config.data.root, config.optim.lr) == ("1e5", "08", 0.001)
    run_folder.write_config(tmp_path, config_to_dict(config))
    assert "experiment: '1e5'" in (tmp_path / "config.yaml").read_text()
    again = load_config(tmp_path / "config.yaml")
    assert (again.experiment, again.data.root, again.optim.lr) == ("1e5", "08", 0.001)
