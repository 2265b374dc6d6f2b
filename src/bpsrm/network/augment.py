"""Training-time augmentation of image batches: random horizontal flips and random translations.

Both draw from torch's global random generator, whose state the checkpoints keep, so that a
resumed run sees the same augmented batches as an uninterrupted one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ShapeError

__all__ = ["augment_images"]


def augment_images(x: Tensor, hflip: bool = False, shift: int = 0) -> Tensor:
    """Augmented copy of the images ``x`` ``[B, C, H, W]``, same shape.

    ``hflip``: each image is mirrored left-right with probability 1/2.
    ``shift``: each image is translated by (dy, dx) drawn uniformly from
    ``{-shift, ..., shift}``^2, with zeros filling what comes in at the border:
    ``y[b, c, i, j] = x[b, c, i - dy, j - dx]`` (0 outside the image).
    """
    if x.dim() != 4:
        raise ShapeError(f"augment_images expects images [B, C, H, W], got shape {tuple(x.shape)}")
    if hflip:
        flip = torch.rand(x.shape[0]) < 0.5
        x = torch.where(flip.to(x.device)[:, None, None, None], x.flip(-1), x)
    if shift > 0:
        batch, _, height, width = x.shape
        padded = F.pad(x, (shift, shift, shift, shift))
        offsets = torch.randint(0, 2 * shift + 1, (batch, 2))
        x = torch.stack(
            [
                padded[b, :, shift - dy : shift - dy + height, shift - dx : shift - dx + width]
                for b, (dy, dx) in enumerate((offsets - shift).tolist())
            ]
        )
    return x
