"""A rendered string put on paper the way a scanner or phone delivers it, then normalised as image
files are (`RenderParams.scan`).

`scan(image, look)` takes a rendered string (uint8 `[28, width]`, white ink on black) and returns
the grey image a scan of it could be (uint8, dark ink on light paper, any size), a pure function
of its arguments: the string gets `look.margin` of its height of paper on every side (more above
and below when tilted, so the tilt cuts nothing off), turns `look.tilt` degrees, is resampled so
its 28-row band is `look.height` rows high (antialiased bilinear, so a low height loses detail),
blurred (Gaussian, `look.blur` scan pixels), inked (`look.ink` where a pixel is fully covered,
`look.paper` where it is bare, linear in between), given a smooth paper texture (a coarse random
grid linearly interpolated, at most `look.texture` levels either way) and pixel noise (uniform, at
most `look.noise` levels either way), rounded to 8 bits and, if `look.jpeg`, JPEG-compressed at
that quality in memory. The noise comes from `look.seed` alone.

`to_record(paper, max_width)` is that image as a record's image: exactly
`pipelines.images.normalize` (the function `digitseq ingest` and `digitseq predict` apply to image
files, default polarity and crop), so an image file holding `scan(...)` (PNG) is normalised by
the image path to the same pixels. A result wider than `max_width` (a string whose ink is unusually
short for its length, or a noise pixel that widened the crop) is resized to `max_width` columns,
antialiased, so the bucket boundary holds; `squeezed` says so.

Assumptions: the contrast between paper and ink (at least `params.MIN_SCAN_CONTRAST` levels) is
well above the texture and noise (at most 6 and 8 levels), so the normalisation's crop finds the
ink, not the paper. TensorFlow's CPU resize and libjpeg-turbo give the same bytes on every worker
of one software build, as the image path already assumes.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from pipelines import images
from pipelines.render import handwriting
from pipelines.render.mnist import IMAGE_SIZE
from pipelines.render.params import RenderParams

TEXTURE_CELL = 8
"""Scan pixels per cell of the texture's random grid."""


@dataclasses.dataclass(frozen=True)
class ScanLook:
    """How one string is scanned; `RenderParams`'s `scan_*` fields say the ranges."""

    height: int
    ink: int
    paper: int
    noise: float
    texture: float
    blur: float
    jpeg: int
    margin: float
    tilt: float
    seed: int


def draw_looks(rng: np.random.Generator, params: RenderParams, count: int) -> list[ScanLook]:
    """`count` looks drawn from `rng` in a fixed order, field by field."""
    integers = {name: rng.integers(low, high + 1, size=count) for name, (low, high) in (
        ("height", params.scan_height), ("ink", params.scan_ink), ("paper", params.scan_paper))}
    floats = {name: rng.uniform(*values, size=count) for name, values in (
        ("noise", params.scan_noise), ("texture", params.scan_texture),
        ("blur", params.scan_blur))}
    jpeg = rng.integers(params.scan_jpeg[0], params.scan_jpeg[1] + 1, size=count)
    margin = rng.uniform(*params.scan_margin, size=count)
    tilt = rng.uniform(*params.scan_tilt, size=count)
    seeds = rng.integers(0, 2 ** 63, size=count)
    return [ScanLook(height=int(integers["height"][i]), ink=int(integers["ink"][i]),
                     paper=int(integers["paper"][i]), noise=float(floats["noise"][i]),
                     texture=float(floats["texture"][i]), blur=float(floats["blur"][i]),
                     jpeg=int(jpeg[i]), margin=float(margin[i]), tilt=float(tilt[i]),
                     seed=int(seeds[i]))
            for i in range(count)]


def scan(image: np.ndarray, look: ScanLook) -> np.ndarray:
    """The paper image of a rendered string (see the module docstring).

    Args:
      image: uint8 `[28, width]`, white ink on black.
      look: how it is scanned.

    Returns:
      uint8 `[rows, columns]`, dark ink on light paper.
    """
    import tensorflow as tf

    rng = np.random.default_rng(look.seed)
    height, width = image.shape
    margin = int(round(look.margin * height))
    rise = int(math.ceil(width * abs(math.sin(math.radians(look.tilt))) / 2))
    cover = np.pad(image, ((margin + rise, margin + rise), (margin, margin)))
    if look.tilt:
        inverse = handwriting.inverse_matrices(scale=[1.0], slant=[0.0], rotation=[look.tilt],
                                               aspect=[1.0])
        cover = handwriting.warp_batch(cover[None], inverse, np.array([cover.shape[1]]),
                                       cover.shape[1])[0]
    cover = cover.astype(np.float32) / 255
    factor = look.height / IMAGE_SIZE
    size = [max(1, int(round(cover.shape[0] * factor))), max(1, int(round(cover.shape[1] * factor)))]
    cover = images.resize(cover, *size)
    if look.blur > 0:
        cover = blur(cover, look.blur)
    grey = look.paper - (look.paper - look.ink) * np.clip(cover, 0, 1)
    grid = rng.uniform(-1, 1, size=(size[0] // TEXTURE_CELL + 2, size[1] // TEXTURE_CELL + 2))
    texture = _upsample(grid, size[0], axis=0)
    texture = _upsample(texture, size[1], axis=1)
    grey = grey + look.texture * texture + rng.uniform(-look.noise, look.noise, size=size)
    paper = handwriting.to_uint8(grey)
    if look.jpeg:
        encoded = tf.io.encode_jpeg(paper[..., None], quality=look.jpeg)
        paper = tf.io.decode_jpeg(encoded, channels=1).numpy()[..., 0]
    return paper


def blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """`image` smoothed by a Gaussian of `sigma` pixels (cut at 4 sigmas, zero outside), one axis
    after the other, tap by tap (element-wise, so every worker sums in the same order)."""
    reach = int(4 * sigma + 0.5)
    taps = [math.exp(-0.5 * (d / sigma) ** 2) for d in range(-reach, reach + 1)]
    taps = [t / sum(taps) for t in taps]
    result = image.astype(np.float64)
    for axis in (0, 1):
        padded = np.pad(result, [(reach, reach) if a == axis else (0, 0) for a in (0, 1)])
        total = np.zeros_like(result)
        for offset, weight in enumerate(taps):
            window = [slice(offset, offset + result.shape[axis]) if a == axis else slice(None)
                      for a in (0, 1)]
            total += weight * padded[tuple(window)]
        result = total
    return result


def _upsample(grid: np.ndarray, size: int, *, axis: int) -> np.ndarray:
    """`grid` linearly interpolated to `size` samples along `axis`, its ends at the ends."""
    positions = np.linspace(0, grid.shape[axis] - 1, size)
    below = np.minimum(np.floor(positions).astype(np.int64), grid.shape[axis] - 2)
    weight = positions - below
    low, high = np.take(grid, below, axis=axis), np.take(grid, below + 1, axis=axis)
    weight = weight[:, None] if axis == 0 else weight[None, :]
    return low * (1 - weight) + high * weight


def to_record(paper: np.ndarray, max_width: int) -> tuple[np.ndarray, bool]:
    """A paper image -> the record's image (`pipelines.images.normalize`, as for image files),
    at most `max_width` columns; and whether it had to be squeezed to fit."""
    normalized = images.normalize(paper.astype(np.float32))
    if normalized.shape[1] <= max_width:
        return normalized, False
    resized = images.resize(normalized, normalized.shape[0], max_width)
    return handwriting.to_uint8(resized), True
