"""Image files -> the record contract's image: the one normalisation shared by ingest and predict.

`normalize_file(data)` takes the bytes of a PNG, JPEG, BMP or GIF (first frame) with 1 to 4
channels and returns a uint8 `[28, width]` image as the MNIST-rendered records have it: white ink
on black, the ink cropped with a margin, height 28, aspect ratio kept. Steps:

1. Decode (`tf.io.decode_image`); any alpha is composited over white, as viewers show it.
2. Grey: ITU-R 601 luma of RGB.
3. Polarity: the border pixels (the outer rows and columns) are background; a light border means
   dark ink on light paper, which is inverted (`invert="auto"`); `"yes"` / `"no"` force it.
4. Contrast: the border's median becomes 0 and the brightest pixel 255, so paper that is not
   white and ink that is not black come out as MNIST's black background and white strokes.
5. Crop (optional): to the box of pixels above `INK_LEVEL`, with margins in proportion to the
   box's height as the rendered strings have them (`MARGIN_Y` above and below, `MARGIN_X` left
   and right), so a model trained on renders sees digits of the size it learned.
6. Resize with antialiasing to `HEIGHT` rows, width scaled by the same factor (at least 1).

Assumptions: one line of digits per image, background dominating the border. An image with no
contrast at all (every pixel as light as the border) has no ink and is refused.
"""

from __future__ import annotations

import hashlib
from typing import Literal

import numpy as np

from digitseq.core.errors import InvalidInputError

HEIGHT = 28
INK_LEVEL = 64
"""After the contrast stretch: pixels above this are ink, for cropping."""
MARGIN_Y = 0.14
MARGIN_X = 0.3
"""Crop margins per side, as fractions of the ink box's height: the proportions of the rendered
strings (the measurements behind them: bench/README.md, "Ingest job")."""
MAX_PIXELS = 50_000_000
"""Larger images are refused as soon as they are decoded (the pixel count is known only then),
before any other work on them."""
INVERT_CHOICES = ("auto", "yes", "no")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
"""Files named so are image files (ingest, predict, report)."""
LUMA = np.array([0.299, 0.587, 0.114], np.float32)

Invert = Literal["auto", "yes", "no"]


def is_image(path: str) -> bool:
    return path.lower().endswith(IMAGE_SUFFIXES)


class NoInkError(InvalidInputError):
    """An image in which no pixel stands out from the background."""


def decode(data: bytes, *, where: str = "image") -> np.ndarray:
    """The file's pixels as float32 grey `[height, width]`, 0..255, alpha over white.

    Raises:
      InvalidInputError: not a PNG, JPEG, BMP or GIF, truncated or corrupt, empty or too large.
    """
    import tensorflow as tf

    try:
        image = tf.io.decode_image(data, expand_animations=False).numpy()
    except tf.errors.OpError as err:
        message = (getattr(err, "message", None) or str(err)).strip().splitlines()[-1]
        raise InvalidInputError(f"{where}: cannot decode ({message.split('} ')[-1]})") from None
    return grey(image, where=where)


def grey(image: np.ndarray, *, where: str = "image") -> np.ndarray:
    """An image array `[height, width]` or `[height, width, channels]` (1 grey, 2 grey and alpha,
    3 RGB, 4 RGBA; unsigned integers scaled from their range, floats taken as 0..255) -> float32
    grey `[height, width]`, 0..255, alpha over white.

    Raises:
      InvalidInputError: another rank or channel count, empty, too large, or not numbers.
    """
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or not 1 <= image.shape[-1] <= 4:
        raise InvalidInputError(
            f"{where}: an array of shape {list(image.shape)}, expected [height, width] or "
            "[height, width, channels] with 1 to 4 channels"
        )
    height, width, channels = image.shape
    if not height or not width:
        raise InvalidInputError(f"{where}: empty image ({height} x {width})")
    if height * width > MAX_PIXELS:
        raise InvalidInputError(
            f"{where}: {height} x {width} pixels, expected at most {MAX_PIXELS}"
        )
    if image.dtype == np.uint8:
        pixels = image.astype(np.float32)
    elif np.issubdtype(image.dtype, np.unsignedinteger):
        pixels = (image.astype(np.float32) / np.iinfo(image.dtype).max * 255).astype(np.uint8)
        pixels = pixels.astype(np.float32)
    elif np.issubdtype(image.dtype, np.floating) or np.issubdtype(image.dtype, np.integer):
        pixels = np.clip(image.astype(np.float32), 0.0, 255.0)
    else:
        raise InvalidInputError(f"{where}: pixels of type {image.dtype}, expected numbers")
    if channels in (2, 4):
        alpha = pixels[..., -1:] / 255.0
        pixels = pixels[..., :-1] * alpha + 255.0 * (1.0 - alpha)
    if pixels.shape[-1] == 3:
        return pixels @ LUMA
    return pixels[..., 0]


def border(grey: np.ndarray) -> np.ndarray:
    """The outer rows and columns of `grey`."""
    return np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])


def normalize(
    grey: np.ndarray, *, invert: Invert = "auto", crop: bool = True, where: str = "image"
) -> np.ndarray:
    """Grey pixels `[h, w]` (0..255, any polarity) -> uint8 `[HEIGHT, width]`, white ink on black.

    Raises:
      NoInkError: the image has no ink (no pixel differs from the background).
    """
    edge = border(grey)
    flip = float(np.mean(edge)) > 127.5 if invert == "auto" else invert == "yes"
    if flip:
        grey, edge = 255.0 - grey, 255.0 - edge
    background, peak = float(np.median(edge)), float(grey.max())
    if peak - background < 1.0:
        raise NoInkError(
            f"{where}: no ink (every pixel within 1 level of the background {background:.0f})"
        )
    stretched = np.clip((grey - background) * (255.0 / (peak - background)), 0.0, 255.0)
    if crop:
        stretched = crop_to_ink(stretched)
    height, width = stretched.shape
    new_width = max(1, int(round(width * HEIGHT / height)))
    resized = resize(stretched, HEIGHT, new_width)
    return np.clip(np.round(resized), 0, 255).astype(np.uint8)


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """`image` float `[h, w]` resized to float32 `[height, width]`: bilinear with antialiasing,
    exactly `tf.image.resize(..., antialias=True)`, whose kernel (`ScaleAndTranslate`, a triangle
    filter scaled by `height / h` and `width / w`, no translation) this calls directly: one eager
    op instead of the wrapper's or a `tf.function`'s per-call Python."""
    import tensorflow as tf

    size = np.array([height, width], np.int32)
    resized = tf.raw_ops.ScaleAndTranslate(
        images=np.asarray(image, np.float32)[None, ..., None],
        size=size,
        scale=size.astype(np.float32) / np.array(image.shape, np.float32),
        translation=np.zeros(2, np.float32),
        kernel_type="triangle",
        antialias=True,
    )
    return resized.numpy()[0, ..., 0]


def crop_to_ink(image: np.ndarray) -> np.ndarray:
    """`image` cut to its ink box (pixels above `INK_LEVEL`) and padded by `MARGIN_Y` and
    `MARGIN_X` of the box's height."""
    rows = np.flatnonzero((image > INK_LEVEL).any(axis=1))
    columns = np.flatnonzero((image > INK_LEVEL).any(axis=0))
    if not len(rows):
        return image
    box = image[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]
    height = box.shape[0]
    vertical, horizontal = int(round(MARGIN_Y * height)), int(round(MARGIN_X * height))
    return np.pad(box, ((vertical, vertical), (horizontal, horizontal)))


def normalize_file(
    data: bytes, *, invert: Invert = "auto", crop: bool = True, where: str = "image"
) -> np.ndarray:
    """The bytes of an image file -> uint8 `[HEIGHT, width]` (see the module docstring)."""
    return normalize(decode(data, where=where), invert=invert, crop=crop, where=where)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
