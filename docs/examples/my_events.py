"""A dataset of your own event-camera recordings for bpsrm: one sub-folder of ``.npy`` files per class.

Named in a config as ``data.name: docs/examples/my_events.py:EventFolderDataset``; see docs/howto/own-data.md.
Each file holds one recording as a structured array with fields x, y, t (microseconds) and p, the layout Tonic
uses (other fields are ignored; polarity 0/1, bool or -1/+1).
"""

from __future__ import annotations

from pathlib import Path

from bpsrm.data.base import check_split
from bpsrm.data.events import EventFrameDataset, check_frame_options
from bpsrm.errors import DataError


class EventFolderDataset(EventFrameDataset):
    """``root/<class>/<recording>.npy`` as frames ``(float32 [T, 2, H, W] event counts, label)``: T bins of equal
    duration from a recording's first event to its last. Every 5th recording of a class tests, the rest train."""

    name = "my-events"
    reader = "npy"  # bpsrm reads the files, and the checkpoint keeps the reader: `bpsrm predict` reads new ones

    def __init__(
        self,
        split: str,
        root: str | Path | None = None,
        download: bool = False,
        time_steps: int = 8,
        width: int = 16,
        height: int = 16,
        cache: bool = True,
    ) -> None:
        self.split = check_split(self.name, split)
        if root is None or not Path(root).is_dir():
            raise DataError(f"my-events: data.root must be a folder with one sub-folder per class, got {root!r}")
        self.location = Path(root)
        self.sensor_size, self.time_steps, self.mode, self.downsample = check_frame_options(
            (width, height), time_steps, "time", 1
        )
        self.classes = sorted(p.name for p in self.location.iterdir() if p.is_dir())
        self.files, self.targets = [], []
        for label, name in enumerate(self.classes):
            recordings = sorted((self.location / name).glob("*.npy"))
            chosen = [p for i, p in enumerate(recordings) if (i % 5 == 4) == (self.split == "test")]
            self.files.extend(chosen)
            self.targets.extend([label] * len(chosen))
        if not self.files:
            raise DataError(f"my-events: no .npy recordings under {self.location}/<class>/")
        self._prepare_frames(cache)  # bins every file once (kept in bpsrm's cache folder when cache is true)
