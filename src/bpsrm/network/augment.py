"""Training-time augmentation: random horizontal flips and translations of image or event-frame batches, and
random event drops of event frames.

All draw from torch's global random generator, whose state the checkpoints keep, so that a
resumed run sees the same augmented batches as an uninterrupted one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ParameterError, ShapeError

__all__ = ["augment_images", "drop_events"]


def augment_images(x: Tensor, hflip: bool = False, shift: int = 0) -> Tensor:
    """Augmented copy of the images ``x`` ``[B, C, H, W]`` (or event frames ``[B, T, C, H, W]``), same shape.

    ``hflip``: each image is mirrored left-right with probability 1/2.
    ``shift``: each image is translated by (dy, dx) drawn uniformly from
    ``{-shift, ..., shift}``^2, with zeros filling what comes in at the border:
    ``y[b, c, i, j] = x[b, c, i - dy, j - dx]`` (0 outside the image).
    Event frames get one flip and one shift per sample, the same at every step (moving every event of a
    recording by (dy, dx) pixels).
    """
    if x.dim() == 5:
        batch, steps, channels, height, width = x.shape
        moved = augment_images(x.reshape(batch, steps * channels, height, width), hflip, shift)
        return moved.reshape(x.shape)
    if x.dim() != 4:
        raise ShapeError(
            f"augment_images expects images [B, C, H, W] or event frames [B, T, C, H, W], got shape {tuple(x.shape)}"
        )
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


def drop_events(x: Tensor, p: float) -> Tensor:
    """Event frames ``x`` (non-negative whole counts, any shape) with every event dropped independently with
    probability ``p``: each count n becomes a draw of Binomial(n, 1 - p), as if each event of the recording had been
    removed on its own before binning. The draws on x's device come from a generator seeded by torch's global
    (CPU) generator, so that a resumed run draws the same drops on a GPU too."""
    if not 0.0 <= p < 1.0:
        raise ParameterError(f"drop_events: p must be in [0, 1), got {p!r}")
    if p == 0.0:
        return x
    generator = torch.Generator(device=x.device)
    generator.manual_seed(int(torch.randint(0, 2**62, ())))
    return torch.binomial(x, torch.full_like(x, 1.0 - p), generator=generator)
