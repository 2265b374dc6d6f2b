"""Hostile values given to the public API's options get a bpsrm error of bounded length.

A whole number of 5,000 digits is a valid Python int: ``float()`` of it raises OverflowError and ``repr()`` of it
raises ValueError (Python refuses more than 4,300 digits), so a check that converts or quotes it without care
ends in a bare Python error instead of the bpsrm error that names the option. A string or a list of 10,000 items
is quoted in full by ``{value!r}``: a message as long as the value. Each case below is a plain call a user or a
config file can make; the expectation is written by hand: a :class:`bpsrm.errors.BpsrmError` whose message names
the option and stays under :data:`LONGEST` characters.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from bpsrm.checks import real_number, whole_number
from bpsrm.data.base import get_dataset
from bpsrm.data.cwru import CWRU
from bpsrm.data.events import check_frame_options, events_to_frames, make_events
from bpsrm.data.nmnist import NMNIST
from bpsrm.data.recordings import check_signal, resample
from bpsrm.data.splits import group_folds, group_holdout, hashed_fold, hashed_holdout, split_digest
from bpsrm.data.vibration import VibrationPreprocess, envelope, window_features
from bpsrm.data.weather import Weather
from bpsrm.deploy.adapt import adapt_norm_statistics
from bpsrm.deploy.export import from_nir, to_nir
from bpsrm.deploy.ood import OODCalibration, spike_features
from bpsrm.engine.checkpoint import load_checkpoint
from bpsrm.engine.paired import compare_runs, exact_mcnemar_p, mcnemar
from bpsrm.engine.replicates import mean_sd, replicate_folders, replicate_name
from bpsrm.engine.run_folder import firing_rates
from bpsrm.errors import BpsrmError, ParameterError, SpecError, shown
from bpsrm.network.augment import augment_images, drop_events, random_warp
from bpsrm.network.encoding import get_encoder, latency
from bpsrm.network.layers import MembraneReadout
from bpsrm.network.models import build_model, parse_spec
from bpsrm.network.norm import TemporalChannelNorm
from bpsrm.network.pooling import MaxPool
from bpsrm.neuron import functional
from bpsrm.neuron.functional import srm
from bpsrm.neuron.module import SRMNeuron
from bpsrm.neuron.params import SRMParams
from bpsrm.neuron.surrogate import get_surrogate
from bpsrm.options import positive_int

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

# option -> (a call that passes the hostile value as that option, the words of the message that name it)
CALLS: dict[str, tuple[Callable[[Any], object], str]] = {
    "tau_m": (lambda v: SRMParams(tau_m=v), "tau_m must be"),
    "kernel": (lambda v: SRMParams(kernel=v), "unknown kernel"),
    "detach_reset": (lambda v: SRMParams(detach_reset=v), "detach_reset must be"),
    "channels": (lambda v: SRMNeuron(channels=v), "channels (None or a count) must be"),
    "learn_tau": (lambda v: SRMNeuron(learn_tau=v), "learn_tau"),
    "tau_s": (lambda v: srm(X, tau_s=v), "tau_s must be"),
    "theta": (lambda v: srm(X, theta=v), "theta must be"),
    "tau_r": (lambda v: srm(X, tau_r=v), "tau_r must be"),
    "backend": (lambda v: srm(X, backend=v), "unknown backend"),
    "surrogate": (lambda v: get_surrogate(v), "surrogate"),
    "a": (lambda v: get_surrogate("sigmoid", a=v), "parameter a must be"),
    "num_channels": (lambda v: TemporalChannelNorm(v), "TemporalChannelNorm: num_channels must be"),
    "eps": (lambda v: TemporalChannelNorm(4, eps=v), "TemporalChannelNorm: eps must be"),
    "momentum": (lambda v: TemporalChannelNorm(4, momentum=v), "TemporalChannelNorm: momentum must be"),
    "stats": (lambda v: TemporalChannelNorm(4, stats=v), "TemporalChannelNorm: stats must be"),
    "kernel_size": (lambda v: MaxPool(v), "MaxPool: kernel_size must be"),
    "dims": (lambda v: MaxPool(2, dims=v), "MaxPool: dims must be"),
    "reduce": (lambda v: MembraneReadout(reduce=v), "MembraneReadout: reduce must be"),
    "spec": (lambda v: build_model(v, (1, 8, 8)), "spec"),
    "time_steps": (lambda v: build_model("FC10", (4,), time_steps=v), "build_model: time_steps (None or a count)"),
    "p": (lambda v: drop_events(SPIKES, v), "drop_events: p must be"),
    "rotate": (lambda v: random_warp(SPIKES, rotate=v), "random_warp: rotate (degrees) must be"),
    "scale": (lambda v: random_warp(SPIKES, scale=v), "random_warp: scale must be"),
    "encoder": (lambda v: get_encoder(v, 4), "unknown encoder"),
    "threshold": (lambda v: latency(torch.zeros(2, 3), 4, threshold=v), "latency: threshold must be"),
    "frames time_steps": (lambda v: check_frame_options((34, 34), v, "count"), "time_steps must be"),
    "mode": (lambda v: check_frame_options((34, 34), 8, v), "mode must be"),
    "sensor_size": (lambda v: check_frame_options((v, 34), 8, "count"), "sensor width must be"),
    "from_hz": (lambda v: resample(np.zeros(16), v, 10.0), "from_hz must be"),
    "folds": (lambda v: group_folds([0, 1, 0, 1], None, v, 0), "splits: folds must be"),
    "seed": (lambda v: group_holdout([0, 1, 0, 1], None, 0.5, v), "splits: seed must be"),
    "fraction": (lambda v: group_holdout([0, 1, 0, 1], None, v, 0), "splits: fraction must be"),
    "fold": (lambda v: hashed_fold(["a", "b", "c"], 3, v), "splits: fold must be"),
    "holdout fraction": (lambda v: hashed_holdout(["a", "b", "c"], v), "splits: fraction must be"),
    "dataset": (lambda v: get_dataset(v, "train"), "dataset"),
    "split": (lambda v: NMNIST(v, root="/nonexistent"), "N-MNIST: split must be"),
    "image_size": (lambda v: Weather("train", root="/nonexistent", image_size=v), "weather: image_size must be"),
    "test_fraction": (lambda v: Weather("train", root="/nonexistent", test_fraction=v), "weather: test_fraction"),
    "weather seed": (lambda v: Weather("train", root="/nonexistent", seed=v), "weather: seed must be"),
    "grouping": (lambda v: Weather("train", root="/nonexistent", grouping=v), "weather: grouping must be"),
    "nmnist folds": (lambda v: NMNIST("train", root="/nonexistent", folds=v), "nmnist: folds (null or a count)"),
    "window": (lambda v: CWRU("train", root="/nonexistent", window=v), "cwru: window must be"),
    "train_fraction": (lambda v: CWRU("train", root="/nonexistent", train_fraction=v), "cwru: train_fraction"),
    "augment_speed": (lambda v: CWRU("train", root="/nonexistent", augment_speed=v), "cwru: augment_speed must"),
    "features": (lambda v: CWRU("train", root="/nonexistent", features=v), "cwru: features must be"),
    "load": (lambda v: CWRU("train", root="/nonexistent", load=v), "cwru: load must be"),
    "ood threshold": (lambda v: OODCalibration.from_dict({**OOD, "threshold": v}, "x.pt"), "threshold must be"),
    "recording rpm": (lambda v: SPEED.signal(np.zeros(4096), 12000.0, v), "the shaft speed (rpm) must be"),
    "replicate": (lambda v: replicate_name("seed", v), "expected a whole number >= 0 of at most 64 bits"),
    "checkpoint": (lambda v: load_checkpoint(v), "checkpoint"),
    "nir graph": (lambda v: from_nir(v), "from_nir reads a nir.NIRGraph"),
    "replicate kind": (lambda v: replicate_name(v, 0), "replicate kind"),
    "shift": (lambda v: augment_images(SPIKES, shift=v), "augment_images: shift must be"),
    "hflip": (lambda v: augment_images(SPIKES, hflip=v), "augment_images: hflip must be"),
    "firing rate": (lambda v: firing_rates({"firing_rates": {"l1": v}}, Path("run")), "firing_rates['l1'] must"),
}
OOD = {"means": torch.zeros(2, 3), "precision": torch.eye(3), "threshold": 1.0, "quantile": 0.9}
SPEED = VibrationPreprocess(window=1024, sample_rate_hz=12000.0, speed_normalize=True, reference_rpm=1800.0)

VALID = {
    ("threshold", "huge int"),
    ("threshold", "huge negative int"),
    ("theta", "huge int"),
    ("load", "long list"),
}
"""Hostile in size only: a latency threshold past float's range is the threshold inf (or -inf), which it takes; so
is srm's threshold 10**5000 (inf: a neuron that never fires; -10**5000 is refused); 10,000 loads of 1 are the
load 1 (the data is then looked for, and not found here). The spec size case is for the huge int alone (the
others make no number of the token)."""


@pytest.mark.parametrize(
    ("option", "kind"), [(option, kind) for option in CALLS for kind in HOSTILE if (option, kind) not in VALID]
)
def test_a_hostile_value_gets_a_short_bpsrm_error(option: str, kind: str) -> None:
    call, named = CALLS[option]
    with pytest.raises(BpsrmError) as caught:
        call(HOSTILE[kind])
    message = str(caught.value)
    assert len(message) < LONGEST, f"{option}={kind}: a message of {len(message)} characters"
    assert named in message, message


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


def test_a_huge_threshold_leaves_no_key_that_repr_refuses_in_srms_plan_cache() -> None:
    """torch.compile guards on srm's cache of call plans and writes each key with repr: a key holding 10**5000
    made every later compiled training in the process fail ("Exceeds the limit (4300 digits)"), found by the CLI
    fuzz when it compiled after this file's tests in the same worker."""
    srm(torch.ones(4, 1, 3), theta=HUGE)
    srm(torch.ones(4, 1, 3), theta=HUGE)  # a second call takes the same (uncached) path and the same answer
    repr(list(functional._PLANS))  # raised ValueError
    assert not any(HUGE in key for key in functional._PLANS)


@pytest.mark.parametrize(
    ("bounds", "value", "message"),
    [
        ({}, math.nan, "x must be a finite number, got nan"),
        ({"above": 0}, 0.0, "x must be a finite number > 0, got 0.0"),
        ({"at_least": 0}, -1, "x must be a finite number >= 0, got -1"),
        ({"below": 1}, 1, "x must be a finite number < 1, got 1"),
        ({"at_most": 1}, 2, "x must be a finite number <= 1, got 2"),
        ({"above": 0, "below": 1}, 1.0, "x must be a number in (0, 1), got 1.0"),
        ({"at_least": 0, "below": 0.5}, 0.5, "x must be a number in [0, 0.5), got 0.5"),
        ({"above": 0, "at_most": 1}, 0, "x must be a number in (0, 1], got 0"),
        ({"at_least": 0, "at_most": 180}, 181, "x must be a number in [0, 180], got 181"),
        ({"at_least": 0}, -HUGE, "x must be a finite number >= 0, got <a negative whole number of 16610 bits>"),
    ],
    ids=["none", "above", "at-least", "below", "at-most", "open", "half-open", "half-closed", "closed", "huge"],
)
def test_real_number_says_the_interval_it_takes(bounds: dict[str, float], value: object, message: str) -> None:
    with pytest.raises(ParameterError) as caught:
        real_number("x", value, **bounds)
    assert str(caught.value) == message


def test_zero_dimensional_arrays_and_tensors_are_the_numbers_they_hold() -> None:
    """np.array(3) and torch.tensor(8) were taken through operator.index before bpsrm.checks; they still are."""
    assert whole_number("n", np.array(3)) == 3 and type(whole_number("n", torch.tensor(8))) is int
    assert check_frame_options((34, 34), torch.tensor(8), "count")[1] == 8
    assert real_number("p", torch.tensor(0.25, dtype=torch.float64)) == 0.25
    assert drop_events(SPIKES, torch.tensor(0.0)) is SPIKES  # p = 0: no draw, x itself
    for not_whole in (torch.tensor(2.0), torch.tensor([1, 2]), torch.tensor(True), np.bool_(True), 2.0, True):
        with pytest.raises(ParameterError, match="must be a whole number"):
            whole_number("n", not_whole)


def test_a_neuron_keeps_numpy_flags_as_python_bools() -> None:
    """np.True_ was stored as it came, and every srm call then missed its cached plan (np.True_ is not True)."""
    neuron = SRMNeuron(detach_reset=np.True_, check_finite=np.False_)
    assert neuron.detach_reset is True and neuron.check_finite is False


def test_spec_sizes_are_read_as_numbers_not_by_their_digits() -> None:
    """Leading zeros are no size (FC00000000010 is FC10, as before), and a size past 2**31 - 1 is refused in a line
    (9 repeated 5,000 times raised ValueError in int())."""
    assert parse_spec("FC00000000010")[0].args == (10,)
    assert parse_spec("0" * 5000 + "10C3-SRM-FC10")[0].args == (10, 3)
    with pytest.raises(SpecError, match=re.escape("needs sizes in [1, 2147483647]")) as caught:
        parse_spec("9" * 5000 + "C3-SRM-FC10")
    assert len(str(caught.value)) < LONGEST
    with pytest.raises(SpecError, match=re.escape("needs sizes in [1, 2147483647]")):
        parse_spec("FC2147483648")
    assert parse_spec("FC2147483647")[0].args == (2147483647,)


def test_command_line_numbers_are_quoted_short() -> None:
    """`bpsrm train --epochs 999...9` (5,000 digits) printed the whole number back."""
    with pytest.raises(argparse.ArgumentTypeError) as caught:
        positive_int("9" * 5000)
    assert "expected a whole number >= 1" in str(caught.value) and len(str(caught.value)) < LONGEST


def test_an_unknown_dataset_option_is_quoted_short() -> None:
    """`bpsrm data info nmnist -o xxx...x=1` (10,000 characters) printed the option name whole."""
    with pytest.raises(ParameterError, match=r"dataset 'nmnist': unknown options \['xxx") as caught:
        get_dataset("nmnist", "train", **{"x" * 10_000: 1})
    assert len(str(caught.value)) < LONGEST


ODD_VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 2, 2**31, 2**63, -(2**63) - 1, 0.0, 0.5, -0.5, 1.5, 181.0, math.nan, math.inf,
    -math.inf, 1e308, 5e-324, "", "0", "nan", "a\x00b", [], [1], [1, 2], (1, 2), {}, {"a": 1}, np.float32(0.5),
    np.int64(3), np.array([1, 2]), np.array(2.0), torch.tensor(0.5), torch.tensor([1.0, 2.0]), torch.tensor(math.nan),
    b"x", object(), 1j, np.bool_(True), set(), range(3),
]  # fmt: skip
"""Values of every kind a config, a checkpoint or a caller may put where an option goes."""


NORMED = build_model("2C3-TCN-SRM-FC2", (1, 4, 4), time_steps=2)

# argument -> a call that passes the value as that argument: the data a function works on, not one of its options
INPUTS: dict[str, Callable[[Any], object]] = {
    "srm x": lambda v: srm(v),
    "SRMNeuron input": lambda v: SRMNeuron()(v),
    "TemporalChannelNorm input": lambda v: TemporalChannelNorm(2)(v),
    "direct encoder samples": lambda v: get_encoder("direct", 2)(v),
    "check_signal signal": lambda v: check_signal(v, "recording.csv", min_samples=1),
    "resample signal": lambda v: resample(v, 10.0, 5.0),
    "window_features windows": lambda v: window_features(v, "spectrum"),
    "envelope windows": lambda v: envelope(v),
    "split labels": lambda v: group_folds(v, None, 2, 0),
    "split groups": lambda v: group_holdout([0, 1, 0, 1], v, 0.5, 0),
    "split keys": lambda v: hashed_fold(v, 2, 0),
    "holdout keys": lambda v: hashed_holdout(v, 0.5),
    "split_digest keys": lambda v: split_digest(v, []),
    "mcnemar labels": lambda v: mcnemar(v, [0], [0]),
    "mcnemar count": lambda v: exact_mcnemar_p(v, 1),
    "compare_runs folder": lambda v: compare_runs(v, "run"),
    "mean_sd values": lambda v: mean_sd(v),
    "replicate_folders parent": lambda v: replicate_folders(v, "seed"),
    "make_events column": lambda v: make_events(v, [0], [0], [0]),
    "events_to_frames events": lambda v: events_to_frames(v, (4, 4), 2),
    "adapt model": lambda v: adapt_norm_statistics(v, [], lambda x: x),
    "adapt batch": lambda v: adapt_norm_statistics(NORMED, [v], lambda x: x),
    "spike_features model": lambda v: spike_features(v, X),
    "to_nir model": lambda v: to_nir(v),
    "load_checkpoint path": lambda v: load_checkpoint(v),
}


@pytest.mark.parametrize(
    ("argument", "value", "message"),
    [
        (
            "check_signal signal",
            {},
            "recording.csv: the signal must be a 1-D array of real numbers, got a dict",
        ),
        ("envelope windows", "abc", "envelope: windows must be an array of real numbers, got a str"),
        (
            "split labels",
            [0.0, 1.5],
            "splits: labels must hold whole numbers, item 1 is 1.5",
        ),
        ("split groups", [[1], [2], [3], [4]], "splits: group key 0 is [1]; a key must be hashable"),
        ("split keys", ["a", 2], "splits: keys must be a sequence of strings, one of them is 2"),
        ("split_digest keys", None, "split_digest: train must be a sequence, got None"),
        ("mcnemar count", 1.5, "exact_mcnemar_p: only_first (b) must be a whole number in [0, 2147483647]"),
        ("compare_runs folder", 7, "compare_runs: first is named by a str or a path, got an int"),
        ("mean_sd values", [0.5, "0.6"], "mean_sd: value 1 must be a finite number, got '0.6'"),
        ("mean_sd values", torch.tensor(0.5), "mean_sd: values must be a sequence, got a float32 array of"),
        ("replicate_folders parent", None, "replicate_folders: parent is named by a str or a path, got None"),
        ("make_events column", object(), "make_events: x must be a 0-D, 1-D or 2-D array of numbers or"),
        ("adapt model", None, "adapt: the model must be a torch.nn.Module, got None"),
        ("adapt batch", [1.0, 2.0], "adapt: a batch must be a tensor of inputs [B, ...], got a list"),
        ("spike_features model", nn.Linear(2, 2), "the model must be a bpsrm SpikingNetwork, got a Linear"),
    ],
)
def test_a_wrong_argument_is_named_with_what_was_expected(argument: str, value: Any, message: str) -> None:
    """Each of these was a bare TypeError, ValueError or AttributeError (``'NoneType' object has no attribute
    'is_dir'``), or no error at all (1.5 counted as a class that never matches)."""
    with pytest.raises(ParameterError) as caught:
        INPUTS[argument](value)
    assert message in str(caught.value)


@pytest.mark.parametrize("option", list(CALLS) + list(INPUTS))
def test_odd_values_are_taken_or_refused_with_a_bpsrm_error(option: str) -> None:
    """Each value is taken (the option holds it) or refused with a bpsrm error: never a bare Python error. Found
    by this test: a 0-d array as learn_tau ("iteration over a 0-d array"), an array as a dataset split ("truth
    value ... ambiguous"), and 5e-324 Hz as a sample rate (float() of the ratio overflowed in the message)."""
    call = CALLS[option][0] if option in CALLS else INPUTS[option]
    bare = []
    for value in ODD_VALUES:
        try:
            call(value)
        except BpsrmError:
            pass
        except Exception as exc:
            bare.append(f"{shown(value)}: {type(exc).__name__}: {exc}")
    assert not bare, bare


def test_empty_inputs_are_empty_not_refused() -> None:
    """``np.asarray([])`` is float64: a check of whole numbers must not read an empty list as floats."""
    assert group_folds([], None, 2, 0) == [] and group_holdout([], [], 0.5, 0) == []
    assert mcnemar([], [], []) == mcnemar(np.zeros(0, dtype=np.int64), [], [])  # samples 0, p 1
    assert mcnemar([], [], []).p == 1.0 and mcnemar([], [], []).samples == 0


def test_labels_read_as_floats_are_the_classes_they_name() -> None:
    """Labels of 0.0 and 1.0 (from a CSV file) are the classes 0 and 1; 1.5 was cut to 1 by ``int``."""
    assert group_folds([0.0, 1.0, 0.0, 1.0], None, 2, 0) == group_folds([0, 1, 0, 1], None, 2, 0)
    assert mcnemar([0.0, 1.0], [0, 0], [0, 1]).only_second == 1  # sample 1: only the second model is right
    with pytest.raises(ParameterError, match=r"mcnemar: second must hold whole numbers, item 0 is nan"):
        mcnemar([0, 1], [0, 1], [math.nan, 1.0])
    with pytest.raises(ParameterError, match=r"labels must be a 1-D array of whole numbers, got a bool array"):
        group_folds([True, False], None, 2, 0)


def test_tensor_group_keys_keep_a_group_whole() -> None:
    """``list(tensor)`` gives 0-d tensors, which hash by identity: the group 5 fell in both folds."""
    folds = group_folds([0, 1] * 4, torch.tensor([5, 6] * 4), 2, 0)
    assert len({folds[i] for i in (0, 2, 4, 6)}) == 1 and len({folds[i] for i in (1, 3, 5, 7)}) == 1
    assert folds == group_folds([0, 1] * 4, [5, 6] * 4, 2, 0)


def test_a_tensor_numpy_cannot_read_is_refused_with_torchs_reason() -> None:
    with pytest.raises(
        ParameterError,
        match=r"window_features: windows must be a 2-D array of real numbers, got a "
        r"float32 array of shape \(2, 4\) \(\"Can't call numpy\(\) on Tensor that req",
    ):
        window_features(torch.zeros(2, 4, requires_grad=True), "spectrum")


def test_envelope_takes_any_number_of_axes() -> None:
    windows = np.cos(np.linspace(0, 8 * np.pi, 64, endpoint=False)).reshape(1, 1, 64) * np.ones((2, 3, 1))
    np.testing.assert_allclose(envelope(windows), np.ones((2, 3, 64)), atol=1e-12)  # |cos + i sin| = 1
