"""The one way from a raw sample file to the network's input, kept in every checkpoint.

Every dataset has a ``preprocess``: an :class:`ImagePreprocess`, an
:class:`EventPreprocess` or a :class:`~bpsrm.data.vibration.VibrationPreprocess`.
The dataset makes its samples with it, the trainer stores ``preprocess.to_dict()``
in ``best.pt`` / ``last.pt``, and ``bpsrm eval`` / ``predict`` / ``adapt`` rebuild
it with :func:`preprocess_from_dict`, so a file given to ``predict`` becomes
exactly the tensor the data loader makes of it.
"""

from __future__ import annotations

import io
import math
import numbers
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checks import MAX_SIDE, whole_number
from ..errors import DataError, ParameterError, shown
from .asl_dvs import SENSOR_SIZE as ASL_DVS_SENSOR
from .events import check_frame_options, event_cells, frame_shape, read_npy_events
from .nmnist import SENSOR_SIZE as NMNIST_SENSOR
from .vibration import VibrationPreprocess

__all__ = [
    "ImagePreprocess",
    "EventPreprocess",
    "VibrationPreprocess",
    "Preprocess",
    "preprocess_from_dict",
    "read_event_file",
]


MAX_IMAGE_PIXELS = 2**26
"""The most pixels (width x height) bpsrm decodes from an image file: 67,108,864, far above any dataset here
(at most 512 x 512). A larger JPEG (a 108 Mpx phone photo) is decoded at 1/2, 1/4 or 1/8 of its size, which its
format allows without reading the full image; any other format is refused. Pillow itself warns from 89 Mpx
and refuses from 179 Mpx; in between a 1 kB PNG decodes to more than 1 GB."""


def open_image(data: bytes, where: str) -> Any:
    """The Pillow image in ``data`` (the bytes of the file named ``where``), opened lazily: its header is read
    and its size checked against :data:`MAX_IMAGE_PIXELS` before any pixel is decoded (a JPEG above it is set
    to decode reduced, with ``Image.draft``). Use it as a context manager; Pillow's own errors (OSError, ...)
    pass through to the caller."""
    import warnings

    from PIL import Image

    with warnings.catch_warnings():  # Pillow's DecompressionBombWarning: the limit below is this one's
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = Image.open(io.BytesIO(data))
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS and image.format == "JPEG":
        factor = math.sqrt(width * height / MAX_IMAGE_PIXELS)  # the reduced size lands below the limit
        image.draft(image.mode, (math.ceil(width / (2 * factor)), math.ceil(height / (2 * factor))))
    if image.width * image.height > MAX_IMAGE_PIXELS:
        image.close()
        raise DataError(
            f"{where}: an image of {width} x {height} = {width * height:,} pixels, above the "
            f"{MAX_IMAGE_PIXELS:,} bpsrm decodes (bpsrm.data.preprocess.MAX_IMAGE_PIXELS)"
        )
    return image


@dataclass(frozen=True)
class ImagePreprocess:
    """Image bytes to ``float32 [C, H, W]`` in [0, 1].

    Decoding (Pillow): palette images with transparency go through RGBA, then
    every mode is converted to ``L`` (C = 1) or ``RGB`` (C = 3) and resized
    bilinearly to ``height x width`` when it differs; the input is the uint8
    image divided by 255. A file of more than :data:`MAX_IMAGE_PIXELS` pixels
    is refused from its header, before decoding.
    """

    channels: int
    height: int
    width: int
    kind: str = field(default="image", init=False)

    def __post_init__(self) -> None:
        if (
            isinstance(self.channels, bool)
            or not isinstance(self.channels, numbers.Integral)
            or self.channels not in (1, 3)
        ):
            raise ParameterError(f"channels must be 1 (grey) or 3 (RGB), got {shown(self.channels)}")
        object.__setattr__(self, "channels", int(self.channels))
        object.__setattr__(self, "height", whole_number("height", self.height, 1, MAX_SIDE))
        object.__setattr__(self, "width", whole_number("width", self.width, 1, MAX_SIDE))

    def to_dict(self) -> dict[str, Any]:
        """A plain dict for checkpoints."""
        return asdict(self)

    def decode(self, data: bytes, where: str) -> torch.Tensor:
        """``uint8 [C, H, W]`` from the bytes of one image file."""
        try:
            from PIL import Image
        except ImportError:  # pragma: no cover - pillow is in the data extra
            raise DataError("reading images needs Pillow: pip install 'bpsrm[data]'") from None
        try:
            with open_image(data, where) as image:
                if image.mode == "P" and "transparency" in image.info:
                    image = image.convert("RGBA")  # convert via RGBA, else PIL warns on palette transparency
                image = image.convert("L" if self.channels == 1 else "RGB")
                if image.size != (self.width, self.height):
                    image = image.resize((self.width, self.height), Image.Resampling.BILINEAR)
                array = np.asarray(image, dtype=np.uint8).copy()
        except DataError:
            raise
        except Exception as exc:  # PIL raises OSError, ValueError, SyntaxError, DecompressionBombError, ...
            raise DataError(f"{where}: not a readable image ({type(exc).__name__}: {exc})") from None
        array = array[None] if self.channels == 1 else array.transpose(2, 0, 1)
        return torch.from_numpy(np.ascontiguousarray(array))

    @staticmethod
    def to_input(image: torch.Tensor) -> torch.Tensor:
        """``uint8 [C, H, W]`` as the network input: float32 in [0, 1]."""
        return image.to(torch.float32) / 255.0

    def from_file(self, path: Path) -> torch.Tensor:
        """One image file as a batch of one input ``[1, C, H, W]``."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
        return self.to_input(self.decode(data, str(path))).unsqueeze(0)


EVENT_SENSORS = {"nmnist": NMNIST_SENSOR, "asl-dvs": ASL_DVS_SENSOR}
"""Sensor size (W, H) of each event reader of one camera, as the reader itself states it (its ``SENSOR_SIZE``)."""

EVENT_READERS = {"nmnist": ".bin", "asl-dvs": ".mat", "npy": ".npy"}
"""The file suffix of each event reader: N-MNIST's binary files, ASL-DVS's MATLAB files, and ``npy``, a structured
array with fields x, y, t (microseconds), p (:func:`bpsrm.data.events.read_npy_events`) from a sensor of any size."""


def read_event_file(reader: str, path: Path) -> np.ndarray:
    """The event stream of one file of ``reader``'s format (:data:`EVENT_READERS`)."""
    if reader == "nmnist":
        from .nmnist import read_nmnist

        return read_nmnist(path)
    if reader == "asl-dvs":
        from .asl_dvs import read_asl_dvs

        return read_asl_dvs(path)
    if reader == "npy":
        return read_npy_events(path)
    raise ParameterError(f"event reader must be one of {sorted(EVENT_READERS)}, got {shown(reader)}")


@dataclass(frozen=True)
class EventPreprocess:
    """An event file to frames ``float32 [T, 2, H, W]`` (:func:`bpsrm.data.events.event_cells` + counts).

    ``reader`` names the file format (``nmnist`` .bin, ``asl-dvs`` .mat, ``npy``
    .npy: :data:`EVENT_READERS`); ``sensor_size`` is (W, H), the camera's for
    ``nmnist`` and ``asl-dvs``; ``time_steps``, ``mode`` and ``downsample`` as in
    :func:`bpsrm.data.events.events_to_frames`.
    """

    reader: str
    sensor_size: tuple[int, int]
    time_steps: int = 10
    mode: str = "time"
    downsample: int = 1
    kind: str = field(default="events", init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.reader, str) or self.reader not in EVENT_READERS:
            raise ParameterError(f"event reader must be one of {sorted(EVENT_READERS)}, got {shown(self.reader)}")
        size = self.sensor_size
        if not isinstance(size, (list, tuple)) or len(size) != 2:
            raise ParameterError(f"sensor_size must be (width, height), got {shown(size)}")
        size = (whole_number("sensor width", size[0], 1, MAX_SIDE), whole_number("sensor height", size[1], 1, MAX_SIDE))
        if self.reader in EVENT_SENSORS and size != tuple(EVENT_SENSORS[self.reader]):
            raise ParameterError(
                f"sensor_size {size} is not the {self.reader} sensor's {tuple(EVENT_SENSORS[self.reader])}"
            )
        object.__setattr__(self, "sensor_size", size)
        _, steps, _, downsample = check_frame_options(size, self.time_steps, self.mode, self.downsample)
        object.__setattr__(self, "time_steps", steps)
        object.__setattr__(self, "downsample", downsample)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict for checkpoints."""
        raw = asdict(self)
        raw["sensor_size"] = list(self.sensor_size)
        return raw

    def read(self, path: Path) -> np.ndarray:
        """The event stream of one file of this reader's format."""
        return read_event_file(self.reader, path)

    def frames(self, events: np.ndarray, where: str) -> np.ndarray:
        """Event counts ``float32 [T, 2, H, W]`` of one stream."""
        shape = frame_shape(self.sensor_size, self.time_steps, self.downsample)
        try:
            cells = event_cells(events, self.sensor_size, self.time_steps, self.mode, self.downsample)
        except DataError as exc:
            raise DataError(f"{where}: {exc}") from None
        return np.bincount(cells, minlength=int(np.prod(shape))).astype(np.float32).reshape(shape)

    def from_file(self, path: Path) -> torch.Tensor:
        """One event file as a batch of one input ``[1, T, 2, H, W]``."""
        return torch.from_numpy(self.frames(self.read(path), str(path))).unsqueeze(0)


Preprocess = ImagePreprocess | EventPreprocess | VibrationPreprocess


def preprocess_from_dict(raw: dict[str, Any], where: str = "checkpoint") -> Preprocess:
    """The preprocessing a checkpoint keeps (``to_dict()`` of one of the three kinds)."""
    if not isinstance(raw, dict):
        raise DataError(f"{where}: the preprocessing record is a {type(raw).__name__}, expected a dict")
    values = dict(raw)
    kind = values.pop("kind", "vibration")
    try:
        if kind == "image":
            return ImagePreprocess(**values)
        if kind == "events":
            return EventPreprocess(**values)
        if kind == "vibration":
            return VibrationPreprocess(**values)
    except (TypeError, ParameterError) as exc:
        raise DataError(f"{where}: unreadable {shown(kind)} preprocessing {shown(raw)} ({exc})") from None
    raise DataError(f"{where}: unknown preprocessing kind {shown(kind)} (expected image, events or vibration)")
