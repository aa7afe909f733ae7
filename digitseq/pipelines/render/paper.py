"""A rendered string put on paper the way a scanner or phone delivers it, then normalised as image
files are (`RenderParams.scan`).

`scan(image, look)` takes a rendered string (uint8 `[28, width]`, white ink on black) and returns
the grey image a scan of it could be (uint8, dark ink on light paper, any size), a pure function
of its arguments: the string gets `look.margin` of its height of paper on every side (more above
and below when tilted, so the tilt cuts nothing off), turns `look.tilt` degrees and is resampled
so its 28-row band is `look.height` rows high, in one bilinear sampling (a scan pixel's centre
mapped back into the string); blurred by a Gaussian of `look.blur` scan pixels, widened by the
smoothing a smaller scan's pixel area would add (`(1 - factor^2) / 6` pixels squared of variance
when it shrinks), so a low height loses detail; inked (`look.ink` where a pixel is fully
covered, `look.paper` where it is bare, linear in between), given a smooth paper texture (a random
grid point every `TEXTURE_CELL` pixels, linear in between, at most `look.texture` levels either
way) and pixel noise (uniform, at most `look.noise` levels either way), rounded to 8 bits and, if
`look.jpeg`, JPEG-compressed at that quality in memory. The texture and the noise come from
`look.seed` alone.

`scan_batch(strings, looks)` gives the same bytes for many strings: it sorts them by scan size and
resamples, blurs, inks and textures `GROUP` at a time in one traced TensorFlow call (the strings
padded to the group's largest, each with its own map and Gaussian; nothing of one string reaches
another's pixels), then adds each string's noise and JPEG on its own. The render job scans a batch
of strings at a time this way.

`to_record(paper, max_width)` is that image as a record's image: exactly
`pipelines.images.normalize` (the function `digitseq ingest` and `digitseq predict` apply to image
files, default polarity and crop), so an image file holding `scan(...)` (PNG) is normalised by
the image path to the same pixels. A result wider than `max_width` (a string whose ink is unusually
short for its length, or a noise pixel that widened the crop) is resized to `max_width` columns,
antialiased, so the bucket boundary holds; `squeezed` says so.

Assumptions: the contrast between paper and ink (at least `params.MIN_SCAN_CONTRAST` levels) is
well above the texture and noise (at most 6 and 8 levels), so the normalisation's crop finds the
ink, not the paper. TensorFlow's CPU kernels (the projective transform, the depthwise convolution,
the resizes) and libjpeg-turbo give the same bytes on every worker of one software build, as the
image path already assumes.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence

import numpy as np

from digitseq.pipelines import images
from digitseq.pipelines.render import handwriting
from digitseq.pipelines.render.mnist import IMAGE_SIZE
from digitseq.pipelines.render.params import RenderParams

TEXTURE_CELL = 8
"""Scan pixels per cell of the texture's random grid."""
TEXTURE_STREAM, NOISE_STREAM = 0, 1
"""A look's seed starts two random streams, `[seed, stream]`: its texture grid and its noise."""
GROUP = 16
"""Strings resampled together (`scan_batch`): sorted by scan size, so a group pads little."""


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
    integers = {
        name: rng.integers(low, high + 1, size=count)
        for name, (low, high) in (
            ("height", params.scan_height),
            ("ink", params.scan_ink),
            ("paper", params.scan_paper),
        )
    }
    floats = {
        name: rng.uniform(*values, size=count)
        for name, values in (
            ("noise", params.scan_noise),
            ("texture", params.scan_texture),
            ("blur", params.scan_blur),
        )
    }
    jpeg = rng.integers(params.scan_jpeg[0], params.scan_jpeg[1] + 1, size=count)
    margin = rng.uniform(*params.scan_margin, size=count)
    tilt = rng.uniform(*params.scan_tilt, size=count)
    seeds = rng.integers(0, 2**63, size=count)
    return [
        ScanLook(
            height=int(integers["height"][i]),
            ink=int(integers["ink"][i]),
            paper=int(integers["paper"][i]),
            noise=float(floats["noise"][i]),
            texture=float(floats["texture"][i]),
            blur=float(floats["blur"][i]),
            jpeg=int(jpeg[i]),
            margin=float(margin[i]),
            tilt=float(tilt[i]),
            seed=int(seeds[i]),
        )
        for i in range(count)
    ]


def scan(image: np.ndarray, look: ScanLook) -> np.ndarray:
    """The paper image of a rendered string (see the module docstring).

    Args:
      image: uint8 `[28, width]`, white ink on black.
      look: how it is scanned.

    Returns:
      uint8 `[rows, columns]`, dark ink on light paper.
    """
    return scan_batch([image], [look])[0]


def scan_batch(strings: Sequence[np.ndarray], looks: Sequence[ScanLook]) -> list[np.ndarray]:
    """`scan(strings[i], looks[i])` for every i, byte for byte: the resampling, blur, inking and
    texture of `GROUP` strings of similar scan size at a time (one TensorFlow call), then each
    string's noise, rounding and JPEG on its own."""
    import tensorflow as tf

    tilts = handwriting.inverse_matrices(
        scale=np.ones(len(looks)),
        slant=np.zeros(len(looks)),
        rotation=[look.tilt for look in looks],
        aspect=np.ones(len(looks)),
    )
    geometry = [_Geometry.of(image, look, tilt) for image, look, tilt in zip(strings, looks, tilts)]
    order = sorted(range(len(strings)), key=lambda i: geometry[i].size)
    papers: list[np.ndarray | None] = [None] * len(strings)
    for first in range(0, len(order), GROUP):
        group = order[first : first + GROUP]
        greys = _paper_group(
            [strings[i] for i in group], [looks[i] for i in group], [geometry[i] for i in group]
        )
        for i, grey in zip(group, greys):
            look = looks[i]
            noise = np.random.default_rng([look.seed, NOISE_STREAM]).random(
                size=grey.shape, dtype=np.float32
            )
            paper = handwriting.to_uint8(grey + np.float32(look.noise) * (2 * noise - 1))
            if look.jpeg:
                encoded = tf.io.encode_jpeg(paper[..., None], quality=look.jpeg)
                paper = tf.io.decode_jpeg(encoded, channels=1).numpy()[..., 0]
            papers[i] = paper
    return papers


@dataclasses.dataclass(frozen=True)
class _Geometry:
    """Where a string lands in its scan: the scan's size and the map back to the string."""

    size: tuple[int, int]
    transform: tuple[float, ...]
    """`ImageProjectiveTransformV3`'s 8 numbers: scan pixel `(x, y)` -> string pixel."""
    sigma: float

    @classmethod
    def of(cls, image: np.ndarray, look: ScanLook, tilt: np.ndarray) -> _Geometry:
        """`tilt`: `handwriting.inverse_matrices` of the look's tilt alone."""
        height, width = image.shape
        margin = int(round(look.margin * height))
        rise = int(math.ceil(width * abs(math.sin(math.radians(look.tilt))) / 2))
        cover = (height + 2 * (margin + rise), width + 2 * margin)
        factor = look.height / IMAGE_SIZE
        size = (max(1, int(round(cover[0] * factor))), max(1, int(round(cover[1] * factor))))
        scale_y, scale_x = size[0] / cover[0], size[1] / cover[1]
        # A scan pixel's centre in the paper (half-pixel centres, as an image resize has them),
        # as an offset from the paper's centre; turned back by the tilt; then in the string.
        offset_x = 0.5 / scale_x - 0.5 - (cover[1] - 1) / 2
        offset_y = 0.5 / scale_y - 0.5 - (cover[0] - 1) / 2
        centre_x = (cover[1] - 1) / 2 - margin
        centre_y = (cover[0] - 1) / 2 - margin - rise
        (a, b), (c, d) = tilt.tolist()
        transform = (
            a / scale_x,
            b / scale_y,
            a * offset_x + b * offset_y + centre_x,
            c / scale_x,
            d / scale_y,
            c * offset_x + d * offset_y + centre_y,
            0.0,
            0.0,
        )
        # Sampling a smaller scan bilinearly smooths less than its pixels' area would: the
        # missing variance, (1 - factor^2) / 6 scan pixels squared, joins the blur.
        lost = max(0.0, 1.0 - min(scale_x, scale_y) ** 2) / 6
        return cls(size=size, transform=transform, sigma=math.sqrt(look.blur**2 + lost))


def _paper_group(
    strings: list[np.ndarray], looks: list[ScanLook], geometry: list[_Geometry]
) -> list[np.ndarray]:
    """The grey paper images (float32, before noise and rounding) of a group of strings."""
    rows = max(g.size[0] for g in geometry)
    columns = max(g.size[1] for g in geometry)
    width = max(image.shape[1] for image in strings)
    source = np.zeros((len(strings), IMAGE_SIZE, width, 1), np.float32)
    for i, image in enumerate(strings):
        source[i, :, : image.shape[1], 0] = image
    source /= 255
    taps = [handwriting.gaussian_taps(g.sigma) for g in geometry]
    reach = max(len(t) for t in taps) // 2
    kernel = np.zeros((len(strings), 2 * reach + 1), np.float32)
    for i, t in enumerate(taps):
        kernel[i, reach - len(t) // 2 : reach + len(t) // 2 + 1] = t
    grids = [
        np.random.default_rng([look.seed, TEXTURE_STREAM]).uniform(
            -1, 1, size=(g.size[0] // TEXTURE_CELL + 2, g.size[1] // TEXTURE_CELL + 2)
        )
        for look, g in zip(looks, geometry)
    ]
    grid_batch = np.zeros(
        (len(grids), rows // TEXTURE_CELL + 2, columns // TEXTURE_CELL + 2, 1), np.float32
    )
    for i, grid in enumerate(grids):
        grid_batch[i, : grid.shape[0], : grid.shape[1], 0] = grid
    ink, bare, texture = (
        np.array([getattr(look, field) for look in looks], np.float32)
        for field in ("ink", "paper", "texture")
    )
    greys = _paper_function()(
        source,
        np.array([g.transform for g in geometry], np.float32),
        np.array([rows, columns], np.int32),
        kernel,
        grid_batch,
        ink,
        bare,
        texture,
    ).numpy()
    return [greys[i, : g.size[0], : g.size[1]] for i, g in enumerate(geometry)]


@functools.cache
def _paper_function():
    """The traced group computation (once per process): resample, blur, ink, texture."""
    import tensorflow as tf

    spec = tf.TensorSpec
    scalar = spec([None], tf.float32)

    @tf.function(
        input_signature=[
            spec([None, None, None, 1], tf.float32),
            spec([None, 8], tf.float32),
            spec([2], tf.int32),
            spec([None, None], tf.float32),
            spec([None, None, None, 1], tf.float32),
            scalar,
            scalar,
            scalar,
        ]
    )
    def paper(source, transforms, shape, kernel, grids, ink, bare, texture):
        cover = tf.raw_ops.ImageProjectiveTransformV3(
            images=source,
            transforms=transforms,
            output_shape=shape,
            fill_value=0.0,
            interpolation="BILINEAR",
            fill_mode="CONSTANT",
        )[..., 0]
        # The blur: each string's own Gaussian, one axis after the other, zero outside its scan
        # (the strings are the channels of one depthwise convolution).
        channels = tf.transpose(cover, [1, 2, 0])[None]
        taps = tf.transpose(kernel)[:, None, :, None]
        channels = tf.nn.depthwise_conv2d(channels, taps, [1, 1, 1, 1], "SAME")
        channels = tf.nn.depthwise_conv2d(
            channels, tf.transpose(taps, [1, 0, 2, 3]), [1, 1, 1, 1], "SAME"
        )
        cover = tf.transpose(channels[0], [2, 0, 1])
        grey = bare[:, None, None] - (bare - ink)[:, None, None] * tf.clip_by_value(cover, 0, 1)
        # The texture: each grid point every TEXTURE_CELL pixels, linear in between.
        cells = (tf.shape(grids)[1:3] - 1) * TEXTURE_CELL + 1
        smooth = tf.raw_ops.ResizeBilinear(images=grids, size=cells, align_corners=True)
        return grey + texture[:, None, None] * smooth[:, : shape[0], : shape[1], 0]

    return paper


def to_record(paper: np.ndarray, max_width: int) -> tuple[np.ndarray, bool]:
    """A paper image -> the record's image (`pipelines.images.normalize`, as for image files),
    at most `max_width` columns; and whether it had to be squeezed to fit."""
    normalized = images.normalize(paper.astype(np.float32))
    if normalized.shape[1] <= max_width:
        return normalized, False
    resized = images.resize(normalized, normalized.shape[0], max_width)
    return handwriting.to_uint8(resized), True
