"""Training-time augmentation: random horizontal flips, translations, rotations and scalings of image or
event-frame batches, and random event drops of event frames.

All draw from torch's global random generator, whose state the checkpoints keep, so that a
resumed run sees the same augmented batches as an uninterrupted one.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ..checks import MAX_SIDE, flag, real_number, whole_number
from ..errors import NonFiniteError, ParameterError, ShapeError
from .encoding import seeded_generator

__all__ = ["augment_images", "drop_events", "random_warp", "warp_events", "warp_images"]


MAX_SHIFT = MAX_SIDE
"""The largest shift :func:`augment_images` takes, in pixels: the largest image side (more moves every pixel out)."""


def augment_images(x: Tensor, hflip: bool = False, shift: int = 0) -> Tensor:
    """Augmented copy of the images ``x`` ``[B, C, H, W]`` (or event frames ``[B, T, C, H, W]``), same shape.

    ``hflip``: each image is mirrored left-right with probability 1/2.
    ``shift``: each image is translated by (dy, dx) drawn uniformly from
    ``{-shift, ..., shift}``^2, with zeros filling what comes in at the border:
    ``y[b, c, i, j] = x[b, c, i - dy, j - dx]`` (0 outside the image).
    Event frames get one flip and one shift per sample, the same at every step (moving every event of a
    recording by (dy, dx) pixels).
    """
    hflip, shift = flag("augment_images: hflip", hflip), whole_number("augment_images: shift", shift, 0, MAX_SHIFT)
    if not isinstance(x, Tensor):
        raise ShapeError(f"augment_images expects a tensor of images or event frames, got {type(x).__name__}")
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
        # An offset past a side moves every pixel out, as one of the side itself does: the padding (and the memory,
        # B x C x (H + 2 shift) x (W + 2 shift) values) stops at one side; the draws are those of any shift.
        pad_y, pad_x = min(shift, height), min(shift, width)
        padded = F.pad(x, (pad_x, pad_x, pad_y, pad_y))
        offsets = torch.randint(0, 2 * shift + 1, (batch, 2)) - shift
        offsets[:, 0].clamp_(-pad_y, pad_y)
        offsets[:, 1].clamp_(-pad_x, pad_x)
        x = torch.stack(
            [
                padded[b, :, pad_y - dy : pad_y - dy + height, pad_x - dx : pad_x - dx + width]
                for b, (dy, dx) in enumerate(offsets.tolist())
            ]
        )
    return x


def drop_events(x: Tensor, p: float) -> Tensor:
    """Event frames ``x`` (non-negative whole counts, any shape) with every event dropped independently with
    probability ``p``: each count n becomes a draw of Binomial(n, 1 - p), as if each event of the recording had been
    removed on its own before binning. The draws on x's device come from a generator seeded by torch's global
    (CPU) generator, so that a resumed run draws the same drops on a GPU too."""
    p = real_number("drop_events: p", p, at_least=0, below=1)
    if not isinstance(x, Tensor) or not x.is_floating_point():
        got = f"a {x.dtype} tensor" if isinstance(x, Tensor) else type(x).__name__
        raise ShapeError(f"drop_events: expected event frames as a float tensor of counts, got {got}")
    if p == 0.0 or x.numel() == 0:
        return x
    low, high = torch.aminmax(x)  # one pass; NaN comes out as both
    if not bool((low >= 0) & (high < math.inf)):  # torch.binomial never returns for a NaN count, gives NaN for inf
        first = x[~((x >= 0) & (x < math.inf))].flatten()[0].item()
        error = NonFiniteError if not math.isfinite(first) else ParameterError
        raise error(f"drop_events: event counts must be finite and >= 0, got a count of {first}")
    return torch.binomial(x, torch.full_like(x, 1.0 - p), generator=seeded_generator(x.device))


def _check_warp(x: Tensor, angles: Tensor, scales: Tensor, dims: int, what: str) -> None:
    if x.dim() != dims:
        raise ShapeError(f"{what}: expected {'[B, T, C, H, W]' if dims == 5 else '[B, C, H, W]'}, got {tuple(x.shape)}")
    if angles.shape != (x.shape[0],) or scales.shape != (x.shape[0],):
        raise ShapeError(
            f"{what}: one angle and one scale per sample ({x.shape[0]}), got {tuple(angles.shape)} and "
            f"{tuple(scales.shape)}"
        )
    if not bool((scales > 0).all()):
        raise ParameterError(f"{what}: scales must be > 0, got {scales.tolist()}")


def _cos_sin(angles: Tensor) -> tuple[Tensor, Tensor]:
    """cos and sin of angles in degrees, in float64."""
    radians = angles.to(torch.float64) * (math.pi / 180.0)
    return torch.cos(radians), torch.sin(radians)


def warp_images(x: Tensor, angles: Tensor, scales: Tensor) -> Tensor:
    """Images ``x`` ``[B, C, H, W]`` rotated by ``angles[b]`` degrees (counter-clockwise as displayed) and
    scaled by ``scales[b]`` about the image centre, bilinear, zeros outside.

    With pixel centres p = (i, j), the centre c = ((H - 1) / 2, (W - 1) / 2) and a sample's transform
    A = s [[cos a, sin a], [-sin a, cos a]] acting on (j - c_j, i - c_i), the output is
    ``y[b, :, q] = x[b, :, c + A^-1 (q - c)]``, read bilinearly (an angle of 90 degrees is ``torch.rot90``).
    """
    _check_warp(x, angles, scales, 4, "warp_images")
    height, width = x.shape[-2:]
    cos, sin = _cos_sin(angles)
    inverse = 1.0 / scales.to(torch.float64)
    # affine_grid's coordinates run over [-1, 1] along each axis (align_corners=False): x_n = 2 (j - c_j) / W
    theta = torch.zeros(x.shape[0], 2, 3, dtype=torch.float64)
    theta[:, 0, 0] = inverse * cos
    theta[:, 0, 1] = -inverse * sin * height / width
    theta[:, 1, 0] = inverse * sin * width / height
    theta[:, 1, 1] = inverse * cos
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)  # made where x is
    return F.grid_sample(x, grid.to(x.dtype), padding_mode="zeros", align_corners=False)


def warp_events(x: Tensor, angles: Tensor, scales: Tensor) -> Tensor:
    """Event frames ``x`` ``[B, T, C, H, W]`` (counts) with every event moved as its pixel would be by
    :func:`warp_images`' transform: the count at pixel p goes to q = round(c + A (p - c)) (halves up) when q is
    in the frame, and is lost when it is not. Counts stay whole numbers and are added where pixels meet: the
    frames of a recording whose event coordinates were transformed and rounded before binning. The same
    transform for every step and polarity of a sample."""
    _check_warp(x, angles, scales, 5, "warp_events")
    batch, steps, channels, height, width = x.shape
    cos, sin = ((part * scales.to(torch.float64))[:, None, None] for part in _cos_sin(angles))
    rows = torch.arange(height, dtype=torch.float64)[None, :, None] - (height - 1) / 2
    cols = torch.arange(width, dtype=torch.float64)[None, None, :] - (width - 1) / 2
    to_col = torch.floor(cos * cols + sin * rows + (width - 1) / 2 + 0.5).long()
    to_row = torch.floor(-sin * cols + cos * rows + (height - 1) / 2 + 0.5).long()
    inside = (to_row >= 0) & (to_row < height) & (to_col >= 0) & (to_col < width)
    target = torch.where(inside, to_row * width + to_col, 0).reshape(batch, 1, height * width).to(x.device)
    source = x.reshape(batch, steps * channels, height * width) * inside.reshape(batch, 1, -1).to(x.device, x.dtype)
    moved = torch.zeros_like(source).scatter_add_(2, target.expand_as(source), source)
    return moved.reshape(x.shape)


def random_warp(x: Tensor, rotate: float = 0.0, scale: float = 0.0) -> Tensor:
    """``x`` rotated by an angle drawn uniformly from [-rotate, rotate] degrees and scaled by a factor drawn
    uniformly from [1 - scale, 1 + scale], one draw per sample: images ``[B, C, H, W]`` through
    :func:`warp_images`, event frames ``[B, T, C, H, W]`` through :func:`warp_events`. No draw (and ``x`` itself)
    when both are 0."""
    rotate = real_number("random_warp: rotate (degrees)", rotate, at_least=0, at_most=180)
    scale = real_number("random_warp: scale", scale, at_least=0, below=1)
    if rotate == 0.0 and scale == 0.0:
        return x
    if not isinstance(x, Tensor) or x.dim() not in (4, 5):
        got = f"shape {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
        raise ShapeError(f"random_warp expects images [B, C, H, W] or event frames [B, T, C, H, W], got {got}")
    angles = (torch.rand(x.shape[0], dtype=torch.float64) * 2 - 1) * rotate
    scales = 1.0 + (torch.rand(x.shape[0], dtype=torch.float64) * 2 - 1) * scale
    return warp_events(x, angles, scales) if x.dim() == 5 else warp_images(x, angles, scales)
