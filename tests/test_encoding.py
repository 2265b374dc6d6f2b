"""Encoders against hand computations."""

from __future__ import annotations

import re

import pytest
import torch

from bpsrm.errors import NonFiniteError, ParameterError, ShapeError
from bpsrm.network.encoding import chunks, direct, frames, get_encoder, latency, rate, seeded_generator


def test_direct_repeats() -> None:
    x = torch.rand(3, 1, 4, 4)
    y = direct(x, 5)
    assert y.shape == (5, 3, 1, 4, 4)
    for t in range(5):
        assert torch.equal(y[t], x)


def test_rate_matches_probability() -> None:
    x = torch.tensor([[0.0, 0.25, 0.5, 1.0, 1.7, -0.3]])
    y = rate(x, 4000, generator=torch.Generator().manual_seed(0))
    assert set(y.unique().tolist()) <= {0.0, 1.0}
    assert y.mean(0)[0].tolist() == pytest.approx([0.0, 0.25, 0.5, 1.0, 1.0, 0.0], abs=0.03)


def test_rate_without_a_generator_draws_from_the_global_cpu_generator() -> None:
    """On the CPU, rate coding is torch.bernoulli on the global generator (what a checkpoint's RNG state restores);
    seeded_generator, which a GPU's draws use, is seeded by one draw of that same generator."""
    x = torch.rand(3, 40)
    torch.manual_seed(11)
    drawn = rate(x, 6)
    torch.manual_seed(11)
    assert torch.equal(drawn, torch.bernoulli(x.clamp(0, 1).unsqueeze(0).expand(6, 3, 40)))
    # seeded_generator's draws follow the global CPU generator's state (what a resume restores), and move it on:
    # the same state gives the same draws, the next call other ones
    torch.manual_seed(12)
    state = torch.get_rng_state()
    first = torch.rand(5, generator=seeded_generator(torch.device("cpu")))
    after = torch.rand(5, generator=seeded_generator(torch.device("cpu")))
    torch.set_rng_state(state)
    assert torch.equal(torch.rand(5, generator=seeded_generator(torch.device("cpu"))), first)
    assert not torch.equal(after, first)


def test_latency_by_hand() -> None:
    x = torch.tensor([[1.0, 0.5, 0.0, 0.26]])
    y = latency(x, 5)
    # t = round((1 - x) * 4): 0, 2, never (x <= 0), round(2.96) = 3
    assert y[:, 0].T.tolist() == [[1, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 1, 0]]


def test_frames_and_chunks() -> None:
    x = torch.rand(2, 6, 2, 3, 3)
    assert torch.equal(frames(x, 6)[4, 1], x[1, 4])
    signal = torch.arange(2 * 1 * 12, dtype=torch.float32).reshape(2, 1, 12)
    y = chunks(signal, 3)
    assert y.shape == (3, 2, 1, 4)
    assert y[1, 1, 0].tolist() == [16.0, 17.0, 18.0, 19.0]


def test_errors() -> None:
    with pytest.raises(ShapeError, match="window length 10 is not a multiple of T = 3"):
        chunks(torch.zeros(1, 1, 10), 3)
    with pytest.raises(ShapeError, match="hold T = 6 frames, the model expects T = 4"):
        frames(torch.zeros(1, 6, 2, 3, 3), 4)
    with pytest.raises(ParameterError, match="unknown encoder 'poisson'"):
        get_encoder("poisson", 4)
    with pytest.raises(ParameterError, match="time_steps must be a whole number in \\[1, 2147483647\\], got 0"):
        direct(torch.zeros(1), 0)
    assert get_encoder("direct", 3)(torch.zeros(2, 5)).shape == (3, 2, 5)


def test_every_registered_encoder_is_a_name_a_config_may_give() -> None:
    """ENCODERS (what get_encoder runs) and EncoderConfig.name (what a config accepts) list the same names."""
    import typing

    from bpsrm.engine.config import EncoderConfig
    from bpsrm.network.encoding import ENCODERS

    assert set(typing.get_args(typing.get_type_hints(EncoderConfig)["name"])) == set(ENCODERS)


@pytest.mark.parametrize("name", ["direct", "rate", "latency", "frames", "chunks"])
@pytest.mark.parametrize(
    "x, got",
    [
        ([0.5, 0.2], "got a list"),
        (torch.ones(2, 3, 4, dtype=torch.uint8), "got a torch.uint8 tensor of shape (2, 3, 4)"),
        (torch.tensor(0.5), "got a torch.float32 tensor of shape ()"),
    ],
)
def test_what_is_not_a_float_batch_is_refused_naming_the_encoder(name: str, x, got: str) -> None:
    """helper-51: a list raised AttributeError, an integer image torch's bernoulli/conv message."""
    with pytest.raises(ShapeError, match=re.escape(f"{name} expects a float tensor [B, ...] of samples, {got}")):
        get_encoder(name, 2)(x)


@pytest.mark.parametrize("name", ["rate", "latency"])
def test_nan_probabilities_are_refused_and_infinities_clipped(name: str) -> None:
    """A NaN brightness never fired in latency coding, silently; in rate coding torch's bernoulli refused it."""
    x = torch.rand(3, 4)
    x[1, 2] = float("nan")
    with pytest.raises(NonFiniteError, match=rf"{name}: the samples hold 1 NaN value\(s\) of 12"):
        get_encoder(name, 2)(x)
    x[1, 2], x[0, 0] = float("inf"), float("-inf")  # clip to 1 and 0, as the docstrings say
    y = get_encoder(name, 2)(x)
    assert float(y[:, 0, 0].sum()) == 0.0 and float(y[:, 1, 2].sum()) == (2.0 if name == "rate" else 1.0)


def test_a_latency_threshold_that_is_not_a_number_is_refused() -> None:
    np = pytest.importorskip("numpy")
    assert latency(torch.tensor([[0.5, 0.05]]), 3, threshold=np.float32(0.1)).sum(0).tolist() == [[1.0, 0.0]]
    with pytest.raises(ParameterError, match=r"latency: threshold must be a number, got '0.5'"):
        latency(torch.rand(2, 3), 4, threshold="0.5")  # type: ignore[arg-type]


def test_an_encoder_name_that_is_no_string_is_refused() -> None:
    with pytest.raises(ParameterError, match=r"unknown encoder \[\]; expected one of"):
        get_encoder([], 2)  # type: ignore[arg-type]
