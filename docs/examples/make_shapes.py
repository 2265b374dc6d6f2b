"""Make a small image dataset for docs/howto/own-data.md: noisy 16 x 16 bars of three orientations.

    python docs/examples/make_shapes.py FOLDER

writes FOLDER/horizontal, FOLDER/vertical and FOLDER/diagonal, 60 PNG images each (seeded: the same
images on every machine).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image


def bar(kind: str, rng: np.random.Generator) -> np.ndarray:
    image = rng.normal(60.0, 40.0, (16, 16))
    at = int(rng.integers(3, 13))
    if kind == "horizontal":
        image[at - 1 : at + 1, :] += 120.0
    elif kind == "vertical":
        image[:, at - 1 : at + 1] += 120.0
    else:
        shift = at - 8
        for i in range(16):
            for j in (i + shift, i + shift + 1):
                if 0 <= j < 16:
                    image[i, j] += 120.0
    return np.clip(image, 0, 255).astype(np.uint8)


def main(folder: Path) -> None:
    rng = np.random.default_rng(0)
    for kind in ("horizontal", "vertical", "diagonal"):
        (folder / kind).mkdir(parents=True, exist_ok=True)
        for i in range(60):
            Image.fromarray(bar(kind, rng)).save(folder / kind / f"{i:03d}.png")
    print(f"wrote 180 images to {folder}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
