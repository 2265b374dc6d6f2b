"""Make the Fashion-MNIST subset that ships inside the package for `bpsrm demo`.

Fashion-MNIST is (c) 2017 Zalando SE, MIT licence (see src/bpsrm/assets/NOTICE).
The subset is stratified and fixed: the first PER_CLASS_TRAIN images of each
class in the official train file, and the first PER_CLASS_TEST of each class in
the official test file.

    python scripts/make_demo_subset.py ../shared/data/fashion-mnist
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np

from bpsrm.data import load_fashion_mnist

PER_CLASS_TRAIN = 500
PER_CLASS_TEST = 100
OUT = Path(__file__).resolve().parents[1] / "src" / "bpsrm" / "assets" / "fashion_mnist_demo.npz"


def _first_per_class(labels: np.ndarray, per_class: int) -> np.ndarray:
    picks = [np.flatnonzero(labels == c)[:per_class] for c in range(10)]
    return np.sort(np.concatenate(picks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", help="folder with the four Fashion-MNIST IDX files")
    args = parser.parse_args()
    arrays = {}
    for split, per_class in (("train", PER_CLASS_TRAIN), ("test", PER_CLASS_TEST)):
        images, labels = load_fashion_mnist(split, args.root)
        keep = _first_per_class(labels, per_class)
        arrays[f"{split}_images"] = images[keep]
        arrays[f"{split}_labels"] = labels[keep].astype(np.uint8)
        arrays[f"{split}_index"] = keep.astype(np.int32)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    digest = hashlib.sha256(OUT.read_bytes()).hexdigest()
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.2f} MB, sha256 {digest})")


if __name__ == "__main__":
    main()
