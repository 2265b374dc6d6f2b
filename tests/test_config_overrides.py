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
