"""A dataset of your own for bpsrm: a folder with one sub-folder of PNG images per class.

Named in a config as ``data.name: docs/examples/my_images.py:ImageFolderDataset`` (a file path) or,
when the module is importable, ``my_images:ImageFolderDataset``; see docs/howto/own-data.md.
"""

from __future__ import annotations

from pathlib import Path

import torch

from bpsrm.data import SampleDataset
from bpsrm.data.base import check_split
from bpsrm.data.preprocess import ImagePreprocess
from bpsrm.errors import DataError


class ImageFolderDataset(SampleDataset):
    """``root/<class>/*.png`` as ``(float32 [1, size, size] in [0, 1], label)``; every 5th image of a class
    (in file-name order) is a test image, the others are training images."""

    name = "my-images"

    def __init__(self, split: str, root: str | Path | None = None, download: bool = False, size: int = 16) -> None:
        self.split = check_split(self.name, split)
        if root is None or not Path(root).is_dir():
            raise DataError(f"my-images: data.root must be a folder with one sub-folder per class, got {root!r}")
        self.location = Path(root)
        self.classes = sorted(p.name for p in self.location.iterdir() if p.is_dir())
        # The one way from a file to the network input: training uses it here, `bpsrm predict` from the checkpoint.
        self.preprocess = ImagePreprocess(channels=1, height=size, width=size)
        self.input_shape = (1, size, size)
        self.files: list[Path] = []
        self.targets: list[int] = []
        for label, name in enumerate(self.classes):
            for i, path in enumerate(sorted((self.location / name).glob("*.png"))):
                if (i % 5 == 0) == (split == "test"):
                    self.files.append(path)
                    self.targets.append(label)
        if not self.files:
            raise DataError(f"my-images: no PNG images under {self.location}/<class>/")

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path = self.files[index]
        image = self.preprocess.decode(path.read_bytes(), str(path))
        return self.preprocess.to_input(image), self.targets[index]
