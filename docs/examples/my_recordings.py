"""A dataset of your own vibration recordings for bpsrm: one sub-folder of recordings per bearing state.

Named in a config as ``data.name: docs/examples/my_recordings.py:RecordingFolderDataset``; see
docs/howto/own-data.md. Any format :func:`bpsrm.data.recordings.read_recording` reads goes (CSV with a time
column, ``.npy`` with ``sample_rate_hz``, ``.wav``, ``.mat``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bpsrm.data import SampleDataset
from bpsrm.data.base import check_split
from bpsrm.data.recordings import RECORDING_SUFFIXES, check_signal, read_recording
from bpsrm.data.vibration import VibrationPreprocess, window_levels
from bpsrm.errors import DataError


class RecordingFolderDataset(SampleDataset):
    """``root/<state>/<recording>`` as windows ``(float32 [1, window], label)`` at the model's rate, without
    overlap. The first ``1 - test_fraction`` of every recording trains, the rest tests: the two never share a
    sample. Each window's ``groups`` key is its recording, so validation takes whole recordings."""

    name = "my-recordings"
    split_options = ("test_fraction",)
    independent_samples = False  # windows of a few recordings: `bpsrm compare` warns that its p is too small

    def __init__(
        self,
        split: str,
        root: str | Path | None = None,
        download: bool = False,
        window: int = 1024,
        sample_rate_hz: float = 12_800.0,
        test_fraction: float = 0.3,
        features: str = "envelope",
    ) -> None:
        self.split = check_split(self.name, split)
        if root is None or not Path(root).is_dir():
            raise DataError(f"my-recordings: data.root must be a folder with one sub-folder per state, got {root!r}")
        self.location = Path(root)
        self.classes = sorted(p.name for p in self.location.iterdir() if p.is_dir())
        # The one way from a recording to the network input: training uses it here, `bpsrm predict` and
        # `bpsrm adapt` from the checkpoint (the rate, the window, each window standardised on its own, and the
        # features: "raw" samples, the "spectrum", or the "envelope" spectrum, where bearing faults show).
        self.preprocess = VibrationPreprocess(window, sample_rate_hz, normalize="window", features=features)
        self.input_shape = (1, self.preprocess.input_length)
        windows, self.targets, self.groups = [], [], []
        for label, state in enumerate(self.classes):
            for path in sorted(p for p in (self.location / state).iterdir() if p.suffix.lower() in RECORDING_SUFFIXES):
                recording = read_recording(path)
                if recording.sample_rate_hz is None:
                    raise DataError(f"{path}: states no sample rate (a time column, or a .wav or .mat that holds it)")
                check_signal(recording.signal, str(path), min_samples=2 * window)
                signal = self.preprocess.signal(recording.signal, recording.sample_rate_hz, recording.rpm, str(path))
                cuts = np.arange(signal.size // window) * window
                cut = round(len(cuts) * (1 - test_fraction))
                for start in cuts[cut:] if self.split == "test" else cuts[:cut]:
                    windows.append(signal[start : start + window])
                    self.targets.append(label)
                    # relative to the root: a key with the folder's location in it would split the same data
                    # differently wherever it lies (the validation split is drawn from the keys' text)
                    self.groups.append(path.relative_to(self.location).as_posix())
        if not windows:
            raise DataError(
                f"my-recordings: no recordings ({', '.join(RECORDING_SUFFIXES)}) under {self.location}/<state>/"
            )
        stacked = np.stack(windows)
        if self.split == "train":  # the levels `bpsrm predict` holds a new recording's windows to
            self.preprocess = self.preprocess.with_level_range(window_levels(stacked))
        self.inputs = torch.from_numpy(self.preprocess.windows(stacked))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.inputs[index], self.targets[index]
