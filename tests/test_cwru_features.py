"""CWRU options for diagnosis across loads: spectral features, whole-record evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from bpsrm.data import get_dataset
from bpsrm.data.cwru import window_features
from bpsrm.errors import ParameterError

pytestmark = pytest.mark.data


def test_spectrum_of_a_sine_peaks_at_its_frequency() -> None:
    n = np.arange(2048)
    sine = np.sin(2 * np.pi * 100 / 2048 * n)  # 100 cycles per window: bin 100 of the rfft
    spectrum = window_features(sine[None], "spectrum")[0]
    assert spectrum.shape == (1024,)
    assert int(np.argmax(spectrum)) + 1 == 100  # the DC bin is dropped
    assert spectrum.mean() == pytest.approx(0, abs=1e-9) and spectrum.std() == pytest.approx(1, abs=1e-9)


def test_envelope_spectrum_finds_the_modulation() -> None:
    """Impacts repeating 30 times per window modulate a 400-cycle resonance: the envelope shows 30."""
    n = np.arange(2048)
    signal = (1 + 0.8 * np.cos(2 * np.pi * 30 / 2048 * n)) * np.sin(2 * np.pi * 400 / 2048 * n)
    envelope = window_features(signal[None], "envelope")[0]
    assert int(np.argmax(envelope)) + 1 == 30
    raw_spectrum = window_features(signal[None], "spectrum")[0]
    assert int(np.argmax(raw_spectrum)) + 1 in (370, 400, 430)


def test_features_option_shapes_and_errors(shared_data) -> None:
    for features, length in (("raw", 2048), ("spectrum", 1024), ("envelope", 1024)):
        data = get_dataset("cwru", "test", root=shared_data, class_set="9", features=features)
        assert data.input_shape == (1, length) and data[0][0].shape == (1, length)
    with pytest.raises(ParameterError, match="features must be one of"):
        get_dataset("cwru", "test", root=shared_data, features="wavelet")


def test_whole_records_for_another_load(shared_data) -> None:
    whole = get_dataset("cwru", "test", root=shared_data, load=2, class_set="9", whole=True, stride=2048)
    part = get_dataset("cwru", "test", root=shared_data, load=2, class_set="9", stride=2048)
    # 107.mat (IR007, 2 HP) holds 121,265 samples: 59 whole windows, of which those in the last 30%.
    starts = [start for number, start in whole.windows if number == 107]
    assert len(starts) == 121_265 // 2048 and starts[0] == 0
    assert len(part) < len(whole)
