"""Vision components: ``ImageLoader`` and seeded image augmentors.

The loader reads an image file named by a record, decodes it with Pillow, resizes it and
scales it to ``[0, 1]``. The augmentors are plain functions of one data record; the
pipeline calls them in TRAIN only and hands each call a NumPy ``Generator`` seeded from
``dataset.seed``, the pass and the record's position, so augmentation is reproducible.
Every augmentor returns new arrays and never changes the data record it was given.

Nothing here imports TensorFlow: decoding is Pillow's (it releases the GIL, so the
engine's parallel record workers decode in parallel), the augmentors are NumPy.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from PIL import Image, UnidentifiedImageError

from barrage.api import DataRecord, Record, RecordLoader, RecordMode
from barrage.plugin_kit import positive_int, replace_parts

# Pillow mode each channel count converts to, for images of 8 bits per channel.
CHANNEL_MODES = {1: "L", 3: "RGB", 4: "RGBA"}
# Greyscale modes of more than 8 bits (16-bit PNGs open as one of them) and their scale.
WIDE_GREY_MODES = {"I;16": 65535.0, "I;16B": 65535.0, "I;16L": 65535.0, "I": 65535.0, "F": 1.0}


class ImageLoader(RecordLoader):
    """Loads the image file a record names, and its label.

    Params:
        path_key: record key holding the image path (default ``"path"``).
        input: network input name of the image (default ``"image"``).
        label_key: record key holding the label (default ``"label"``); not read while
            scoring.
        output: network output name of the label (default ``"label"``).
        image_size: ``[height, width]`` every image is resized to (bilinear).
        channels: 1 (grey), 3 (RGB) or 4 (RGBA); images are converted to it.
        directory: joined in front of relative paths (default: as given, i.e. relative
            to the working directory).
        classes: optional list of label values; a label becomes its index in the list
            (an unknown label is an error naming the record). Without it the label is
            used as is (e.g. integer class ids).

    Yields ``x = {input: float32 array [height, width, channels] in [0, 1]}`` and
    ``y = {output: label}``. PNG, JPEG, GIF (first frame) and BMP files decode.
    """

    def __init__(
        self,
        mode: RecordMode,
        path_key: str = "path",
        input: str = "image",
        label_key: Optional[str] = "label",
        output: str = "label",
        image_size: Sequence[int] = (32, 32),
        channels: int = 3,
        directory: Optional[str] = None,
        classes: Optional[Sequence[Any]] = None,
    ):
        super().__init__(mode)
        for param, value in (("path_key", path_key), ("input", input), ("output", output)):
            if not isinstance(value, str) or not value:
                raise TypeError(f"ImageLoader '{param}' must be a non-empty string, got {value!r}")
        if label_key is None and self.mode is not RecordMode.SCORE:
            raise ValueError("ImageLoader needs 'label_key' to train")
        if not isinstance(image_size, (list, tuple)) or len(image_size) != 2:
            raise ValueError(f"ImageLoader 'image_size' must be [height, width], got {image_size!r}")
        self.image_size: Tuple[int, int] = tuple(  # type: ignore[assignment]
            positive_int(v, "ImageLoader 'image_size' entries") for v in image_size
        )
        if channels not in (1, 3, 4):
            raise ValueError(f"ImageLoader 'channels' must be 1, 3 or 4, got {channels!r}")
        if classes is not None and (not isinstance(classes, (list, tuple)) or not classes):
            raise ValueError(f"ImageLoader 'classes' must be a non-empty list of label values, got {classes!r}")
        self.path_key, self.input, self.label_key, self.output = path_key, input, label_key, output
        self.channels = channels
        self.directory = directory
        self.classes = list(classes) if classes is not None else None
        self._class_ids: Dict[Any, int] = {value: index for index, value in enumerate(self.classes or [])}
        if len(self._class_ids) != len(self.classes or []):
            raise ValueError(f"ImageLoader 'classes' lists a value twice: {self.classes}")

    def image_path(self, record: Record) -> str:
        """The file the record names, with ``directory`` in front of a relative path."""
        path = record[self.path_key]
        if not isinstance(path, (str, os.PathLike)):
            raise ValueError(f"ImageLoader: '{self.path_key}' must hold a file path, got {path!r}")
        path = os.fspath(path)
        if self.directory and not os.path.isabs(path):
            path = os.path.join(self.directory, path)
        return path

    def read_image(self, path: str) -> np.ndarray:
        """Decode, resize and scale one image file to float32 ``[height, width, channels]``."""
        if not os.path.isfile(path):
            raise FileNotFoundError(f"ImageLoader: no image file at {path!r}")
        try:
            with Image.open(path) as image:
                pixels = self.scaled_pixels(image)
        except (UnidentifiedImageError, OSError) as exc:
            raise ValueError(f"ImageLoader: {path!r} is not a readable image: {exc}") from None
        if pixels.shape[:2] != self.image_size:
            pixels = resize(pixels, self.image_size)
        return np.clip(pixels, 0.0, 1.0).astype(np.float32)

    def scaled_pixels(self, image: Image.Image) -> np.ndarray:
        """The first frame as float32 ``[height, width, channels]`` in ``[0, 1]``.

        8-bit images (and palettes) convert to the wanted mode; greyscale images of 16
        bits are scaled by their own range, then copied into every colour channel (with
        an opaque alpha channel for RGBA).
        """
        if image.mode not in WIDE_GREY_MODES:
            converted = np.asarray(image.convert(CHANNEL_MODES[self.channels]), dtype=np.float32) / 255.0
            return converted.reshape(converted.shape[:2] + (self.channels,))
        grey = np.asarray(image, dtype=np.float32) / WIDE_GREY_MODES[image.mode]
        colours = np.repeat(grey[..., None], 1 if self.channels == 1 else 3, axis=-1)
        if self.channels == 4:
            colours = np.concatenate([colours, np.ones_like(grey[..., None])], axis=-1)
        return colours

    def label(self, record: Record) -> Any:
        value = record[self.label_key]  # type: ignore[index]
        if self.classes is None:
            return np.asarray(value)
        if isinstance(value, np.generic):
            value = value.item()
        if value not in self._class_ids:
            raise ValueError(f"ImageLoader: label {value!r} is not one of the classes {self.classes}")
        return np.asarray(self._class_ids[value], dtype=np.int32)

    def load(self, record: Record) -> DataRecord:
        x = {self.input: self.read_image(self.image_path(record))}
        if self.mode is RecordMode.SCORE:
            return (x,)
        return (x, {self.output: self.label(record)})


def resize(pixels: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """``pixels`` ``[h, w, c]`` resized to ``size`` (height, width), channel by channel,
    with Pillow's bilinear filter on float values (no rounding to 8 bits)."""
    height, width = size
    channels = [  # a 2-D float32 array is Pillow's mode "F"
        np.asarray(Image.fromarray(np.ascontiguousarray(pixels[..., c], dtype=np.float32)).resize(
            (width, height), Image.Resampling.BILINEAR
        ))
        for c in range(pixels.shape[-1])
    ]
    return np.stack(channels, axis=-1)


# -- augmentors -----------------------------------------------------------------------


def _image(data_record: DataRecord, input: str, who: str) -> np.ndarray:
    inputs = data_record[0]
    if input not in inputs:
        raise ValueError(f"{who}: no input '{input}' (inputs: {sorted(inputs)})")
    image = np.asarray(inputs[input])
    if image.ndim != 3:
        raise ValueError(f"{who}: input '{input}' must be one image [height, width, channels], got shape {image.shape}")
    return image


def _with_image(data_record: DataRecord, input: str, image: np.ndarray) -> DataRecord:
    return replace_parts(data_record, {0: {input: image.astype(np.float32, copy=False)}})


def random_flip(
    data_record: DataRecord, *, rng: np.random.Generator, probability: float = 0.5,
    horizontal: bool = True, input: str = "image",
) -> DataRecord:
    """Mirror the image left-right (``horizontal``) or top-bottom with ``probability``."""
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"random_flip: 'probability' must be in [0, 1], got {probability!r}")
    image = _image(data_record, input, "random_flip")
    if rng.random() >= probability:
        return data_record
    return _with_image(data_record, input, np.flip(image, axis=1 if horizontal else 0).copy())


def random_crop(
    data_record: DataRecord, *, rng: np.random.Generator, padding: int = 4, input: str = "image",
) -> DataRecord:
    """Pad every side with ``padding`` zero pixels, then cut a window of the original size."""
    if not isinstance(padding, int) or isinstance(padding, bool) or padding < 0:
        raise ValueError(f"random_crop: 'padding' must be a non-negative integer, got {padding!r}")
    image = _image(data_record, input, "random_crop")
    height, width = image.shape[:2]
    padded = np.pad(image, ((padding, padding), (padding, padding), (0, 0)))
    top, left = rng.integers(0, 2 * padding + 1, size=2)
    return _with_image(data_record, input, padded[top:top + height, left:left + width].copy())


def random_brightness(
    data_record: DataRecord, *, rng: np.random.Generator, max_delta: float = 0.1, input: str = "image",
) -> DataRecord:
    """Add one uniform offset in ``[-max_delta, max_delta]`` to every pixel, clipped to [0, 1]."""
    if not 0.0 <= max_delta <= 1.0:
        raise ValueError(f"random_brightness: 'max_delta' must be in [0, 1], got {max_delta!r}")
    image = _image(data_record, input, "random_brightness")
    delta = rng.uniform(-max_delta, max_delta)
    return _with_image(data_record, input, np.clip(image + delta, 0.0, 1.0))
