"""docs/examples/my_recordings.py, the dataset of one's own vibration recordings that own-data.md trains: the same
recordings make the same split wherever their folder lies, and its training data keeps its windows' level range."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

from bpsrm.data.base import get_dataset
from bpsrm.data.recordings import read_recording, resample
from conftest import REPO

OWN = "docs/examples/my_recordings.py:RecordingFolderDataset"


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    folder = tmp_path_factory.mktemp("own") / "recordings"
    subprocess.run([sys.executable, str(REPO / "docs/examples/make_vibration.py"), str(folder)], check=True)
    return folder


def test_the_same_recordings_split_alike_wherever_they_lie(recordings, tmp_path, monkeypatch) -> None:
    """Each window's group key held its recording's full path, from which the validation split is drawn
    (bpsrm.data.splits): the page's figures changed with the folder the recordings were written to."""
    moved = tmp_path / "elsewhere" / "field-data"
    shutil.copytree(recordings, moved)
    monkeypatch.chdir(REPO)  # the class is named by its file, relative to the working folder
    here, there = (get_dataset(OWN, "train", root=root) for root in (recordings, moved))
    assert here.groups == there.groups and here.targets == there.targets
    assert here.groups[0] == "healthy/" + sorted(p.name for p in (recordings / "healthy").iterdir())[0]


def test_its_training_data_keeps_the_level_range_of_its_windows(recordings, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    train, test = (get_dataset(OWN, split, root=recordings) for split in ("train", "test"))
    assert test.preprocess.level_range is None  # the checkpoint keeps the training data's record
    levels = []  # by hand: the first 70% of every recording at the model's rate, in whole windows of 1024
    for path in sorted(recordings.glob("*/*.csv")):
        recording = read_recording(path)
        x = resample(recording.signal, recording.sample_rate_hz, 12_800.0)  # the rate conversion tested elsewhere
        cuts = range(0, round((x.size // 1024) * 0.7) * 1024, 1024)
        levels += [float(np.sqrt(np.mean((x[c : c + 1024] - x[c : c + 1024].mean()) ** 2))) for c in cuts]
    assert len(levels) == len(train)
    assert train.preprocess.level_range == pytest.approx(tuple(np.quantile(levels, [0.005, 0.995])), rel=1e-9)
