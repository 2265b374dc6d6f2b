"""Hostile values given to the public API's options get a bpsrm error of bounded length.

A whole number of 5,000 digits is a valid Python int: ``float()`` of it raises OverflowError and ``repr()`` of it
raises ValueError (Python refuses more than 4,300 digits), so a check that converts or quotes it without care
ends in a bare Python error instead of the bpsrm error that names the option. A string or a list of 10,000 items
is quoted in full by ``{value!r}``: a message as long as the value. Each case below is a plain call a user or a
config file can make; the expectation is written by hand: a :class:`bpsrm.errors.BpsrmError` whose message names
the option and stays under :data:`LONGEST` characters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from bpsrm.data.cwru import CWRU
from bpsrm.data.events import check_frame_options
from bpsrm.data.nmnist import NMNIST
from bpsrm.data.recordings import resample
from bpsrm.data.splits import group_folds, group_holdout, hashed_fold, hashed_holdout
from bpsrm.data.weather import Weather
from bpsrm.errors import BpsrmError
from bpsrm.network.augment import drop_events, random_warp
from bpsrm.network.encoding import get_encoder, latency
from bpsrm.network.layers import MembraneReadout
from bpsrm.network.models import build_model
from bpsrm.network.norm import TemporalChannelNorm
from bpsrm.network.pooling import MaxPool
from bpsrm.neuron.functional import srm
from bpsrm.neuron.module import SRMNeuron
from bpsrm.neuron.params import SRMParams
from bpsrm.neuron.surrogate import get_surrogate

LONGEST = 400
"""The longest message a refused value may produce (the value itself quoted in at most about 100 characters)."""

HUGE = 10**5000
HOSTILE: dict[str, Any] = {
    "huge int": HUGE,
    "huge negative int": -HUGE,
    "long string": "x" * 10_000,
    "long list": [1] * 10_000,
}

X = torch.zeros(2, 1, 3)
SPIKES = torch.zeros(2, 1, 2, 4, 4)

# option name -> a call that passes the hostile value as that option
CALLS: dict[str, Callable[[Any], object]] = {
    "tau_m": lambda v: SRMParams(tau_m=v),
    "kernel": lambda v: SRMParams(kernel=v),
    "detach_reset": lambda v: SRMParams(detach_reset=v),
    "channels": lambda v: SRMNeuron(channels=v),
    "tau_s": lambda v: srm(X, tau_s=v),
    "theta": lambda v: srm(X, theta=v),
    "tau_r": lambda v: srm(X, tau_r=v),
    "backend": lambda v: srm(X, backend=v),
    "surrogate": lambda v: get_surrogate(v),
    "a": lambda v: get_surrogate("sigmoid", a=v),
    "num_channels": lambda v: TemporalChannelNorm(v),
    "eps": lambda v: TemporalChannelNorm(4, eps=v),
    "momentum": lambda v: TemporalChannelNorm(4, momentum=v),
    "stats": lambda v: TemporalChannelNorm(4, stats=v),
    "kernel_size": lambda v: MaxPool(v),
    "dims": lambda v: MaxPool(2, dims=v),
    "reduce": lambda v: MembraneReadout(reduce=v),
    "spec": lambda v: build_model(v, (1, 8, 8)),
    "time_steps": lambda v: build_model("FC10", (4,), time_steps=v),
    "p": lambda v: drop_events(SPIKES, v),
    "rotate": lambda v: random_warp(SPIKES, rotate=v),
    "scale": lambda v: random_warp(SPIKES, scale=v),
    "encoder": lambda v: get_encoder(v, 4),
    "threshold": lambda v: latency(torch.zeros(2, 3), 4, threshold=v),
    "frames time_steps": lambda v: check_frame_options((34, 34), v, "count"),
    "mode": lambda v: check_frame_options((34, 34), 8, v),
    "sensor_size": lambda v: check_frame_options((v, 34), 8, "count"),
    "from_hz": lambda v: resample(np.zeros(16), v, 10.0),
    "folds": lambda v: group_folds([0, 1, 0, 1], None, v, 0),
    "fraction": lambda v: group_holdout([0, 1, 0, 1], None, v, 0),
    "fold": lambda v: hashed_fold(["a", "b", "c"], 3, v),
    "holdout fraction": lambda v: hashed_holdout(["a", "b", "c"], v),
    "image_size": lambda v: Weather("train", root="/nonexistent", image_size=v),
    "test_fraction": lambda v: Weather("train", root="/nonexistent", test_fraction=v),
    "grouping": lambda v: Weather("train", root="/nonexistent", grouping=v),
    "nmnist folds": lambda v: NMNIST("train", root="/nonexistent", folds=v),
    "window": lambda v: CWRU("train", root="/nonexistent", window=v),
    "train_fraction": lambda v: CWRU("train", root="/nonexistent", train_fraction=v),
    "augment_speed": lambda v: CWRU("train", root="/nonexistent", augment_speed=v),
    "features": lambda v: CWRU("train", root="/nonexistent", features=v),
    "load": lambda v: CWRU("train", root="/nonexistent", load=v),
}
NAMED = {"a": "parameter a", "holdout fraction": "fraction", "frames time_steps": "time_steps"}
NAMED |= {"nmnist folds": "folds", "sensor_size": "sensor_size", "encoder": "encoder"}


VALID = {("threshold", "huge int"), ("threshold", "huge negative int"), ("theta", "huge int"), ("load", "long list")}
"""Hostile in size only: a latency threshold past float's range is the threshold inf (or -inf), which it takes; so
is srm's threshold 10**5000 (inf: a neuron that never fires; -10**5000 is refused); 10,000 loads of 1 are the
load 1 (the data is then looked for, and not found here)."""


@pytest.mark.parametrize(
    ("option", "kind"), [(option, kind) for option in CALLS for kind in HOSTILE if (option, kind) not in VALID]
)
def test_a_hostile_value_gets_a_short_bpsrm_error(option: str, kind: str) -> None:
    with pytest.raises(BpsrmError) as caught:
        CALLS[option](HOSTILE[kind])
    message = str(caught.value)
    assert len(message) < LONGEST, f"{option}={kind}: a message of {len(message)} characters"
    assert NAMED.get(option, option) in message


@pytest.mark.parametrize("value", [np.bool_(True), np.bool_(False)])
def test_numpy_booleans_are_booleans_for_the_neuron_flags(value: np.bool_) -> None:
    """A flag read from a NumPy array (np.bool_ is no Python bool) is the bool it holds."""
    params = SRMParams(detach_reset=value, learn_theta=value)
    assert params.detach_reset is bool(value) and params.learn_theta is bool(value)


@pytest.mark.parametrize(("threshold", "fires"), [(HUGE, 0), (-HUGE, 1)], ids=["huge", "huge negative"])
def test_a_latency_threshold_past_floats_range_is_infinite(threshold: int, fires: int) -> None:
    """Nothing exceeds 10**5000 and everything exceeds -10**5000: no spike, or one spike per input."""
    spikes = latency(torch.tensor([[0.0, 0.5, 1.0]]), 4, threshold=threshold)
    assert spikes.sum().item() == 3 * fires


def test_srms_threshold_past_floats_range_is_inf_and_never_fires() -> None:
    """10**5000 is theta = inf (srm takes it: no spike, u the plain PSP); before, float() raised OverflowError."""
    spikes, _ = srm(torch.ones(4, 1, 3), theta=HUGE)
    assert spikes.sum().item() == 0
