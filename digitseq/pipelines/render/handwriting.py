"""Handwriting variation of one digit image: pure numpy functions, no Beam, no scipy or OpenCV.

Every function takes a `uint8 [28, 28]` digit (any square or rectangular `uint8` image works) and
returns a `uint8` image of the same shape; the input is never modified. The digit stays in its
box: ink moved outside the box is cut off, and uncovered pixels are background (0).

Geometry uses image coordinates, x to the right and y downwards, about the centre of the box
(`(size - 1) / 2`, 13.5 for MNIST):

- scale `s` multiplies every distance from the centre by `s` (above 1 the digit grows);
- slant `k` is a horizontal shear, `x' = x - k * y`: positive `k` leans the top to the right, as
  italic writing does (`k = 1` is a 45 degree lean);
- rotation `a` degrees turns the digit counter-clockwise as seen on screen.

The warp maps each output pixel back into the source and samples it bilinearly (zero outside),
then rounds half to even and clips to 0..255. Stroke thickness changes by grey dilation (thicker)
or erosion (thinner) with the 3x3 cross, one step per pixel of stroke boundary, background (0)
outside the box. With every parameter at its neutral value (scale 1, slant 0, rotation 0,
thickness 0, shift 0) the result equals the input (`vary` then returns the input itself).

The results depend only on the arguments: the same numbers give the same bytes on every worker
(numpy's element-wise float arithmetic is IEEE and the angle's sine and cosine are computed once,
by Python's `math`).
"""

from __future__ import annotations

import math

import numpy as np

_CROSS = ((-1, 0), (1, 0), (0, -1), (0, 1))


def affine_matrix(*, scale: float = 1.0, slant: float = 0.0, rotation: float = 0.0) -> np.ndarray:
    """The 2x2 matrix taking a source offset `(x, y)` from the centre to its output offset.

    Scaling comes first, then the slant, then the rotation.
    """
    angle = math.radians(rotation)
    cos, sin = math.cos(angle), math.sin(angle)
    rotate = np.array([[cos, sin], [-sin, cos]])
    shear = np.array([[1.0, -slant], [0.0, 1.0]])
    return rotate @ shear @ (scale * np.eye(2))


def warp(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """`image` transformed by the 2x2 `matrix` about its centre, sampled bilinearly.

    Args:
      image: `uint8 [height, width]`.
      matrix: from `affine_matrix`; must be invertible.
    """
    return _warp_each(image[None], matrix[None])[0]


def _warp_each(images: np.ndarray, matrices) -> np.ndarray:
    """`warp` of each image of `uint8 [n, height, width]` by its own matrix `[n, 2, 2]`, with the
    bytes `warp` gives each alone: the stacked inverse and product run LAPACK and BLAS matrix by
    matrix, and the sampling is element-wise."""
    count, height, width = images.shape
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    ys, xs = np.mgrid[0:height, 0:width]
    offsets = np.stack([xs.ravel() - centre[0], ys.ravel() - centre[1]])
    sources = np.linalg.inv(np.asarray(matrices, np.float64)) @ offsets + centre[:, None]
    values = _bilinear(images.astype(np.float64), sources[:, 0], sources[:, 1])
    return _to_uint8(values).reshape(count, height, width)


def _bilinear(images: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Values of each of `images` `[n, height, width]` at float positions `(x[i], y[i])`
    (`[n, k]`), zero outside the image."""
    count, height, width = images.shape
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1))).ravel()
    first = np.arange(count)[:, None] * ((height + 2) * (width + 2))
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    fx, fy = x - x0, y - y0
    total = np.zeros_like(x)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        row = first + (np.clip(y0 + dy, -1, height) + 1) * (width + 2)
        for dx, wx in ((0, 1 - fx), (1, fx)):
            # Positions outside the image land on the zero border.
            total += wy * wx * np.take(padded, row + np.clip(x0 + dx, -1, width) + 1)
    return total


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def thicken(image: np.ndarray, steps: int) -> np.ndarray:
    """Grey dilation (`steps` > 0) or erosion (`steps` < 0) by the 3x3 cross, `|steps|` times."""
    result = image.copy()
    combine = np.maximum if steps > 0 else np.minimum
    for _ in range(abs(steps)):
        neighbours = [_shifted(result, dy, dx) for dy, dx in _CROSS]
        result = combine.reduce([result, *neighbours])
    return result


def _shifted(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """`image` moved by `dy` rows and `dx` columns, zero-filled."""
    height, width = image.shape
    out = np.zeros_like(image)
    out[max(dy, 0) : height + min(dy, 0), max(dx, 0) : width + min(dx, 0)] = image[
        max(-dy, 0) : height - max(dy, 0), max(-dx, 0) : width - max(dx, 0)
    ]
    return out


def shift_vertically(image: np.ndarray, shift: int) -> np.ndarray:
    """`image` moved down by `shift` rows (up if negative), zero-filled."""
    return _shifted(image, shift, 0)


def vary(
    digit: np.ndarray,
    *,
    scale: float = 1.0,
    slant: float = 0.0,
    rotation: float = 0.0,
    thickness: int = 0,
    shift: int = 0,
) -> np.ndarray:
    """One digit as someone might have written it: warped, thickened or thinned, shifted.

    Args:
      digit: `uint8 [28, 28]`.
      scale: size factor about the box centre, > 0.
      slant: horizontal shear (positive leans the top right).
      rotation: degrees counter-clockwise.
      thickness: dilation (> 0) or erosion (< 0) steps.
      shift: rows down (up if negative).

    Returns:
      A new image, or `digit` itself when every value is neutral.
    """
    if (scale, slant, rotation, thickness, shift) == (1.0, 0.0, 0.0, 0, 0):
        return digit
    return vary_each(
        digit[None],
        scale=[scale],
        slant=[slant],
        rotation=[rotation],
        thickness=[thickness],
        shift=[shift],
    )[0]


def vary_each(digits: np.ndarray, *, scale, slant, rotation, thickness, shift) -> np.ndarray:
    """`vary` of every digit of `uint8 [n, 28, 28]` with its own values (sequences of n), computed
    together and byte for byte what `vary` gives digit by digit: the warped digits are sampled
    together, then thickened and shifted by the batched steps below (exact on uint8)."""
    result = np.array(digits, np.uint8)
    scale, slant, rotation, thickness, shift = (
        np.asarray(v) for v in (scale, slant, rotation, thickness, shift)
    )
    warped = np.flatnonzero((scale != 1.0) | (slant != 0.0) | (rotation != 0.0))
    if len(warped):
        result[warped] = _warp_each(
            result[warped],
            np.stack(
                [
                    affine_matrix(
                        scale=float(scale[i]), slant=float(slant[i]), rotation=float(rotation[i])
                    )
                    for i in warped.tolist()
                ]
            ),
        )
    result = thicken_batch(result, thickness)
    return shift_batch(result, shift) if shift.any() else result


# Many digits at a time: writers' styles, elastic distortion, continuous stroke width.
# `vary_batch` renders a batch of digits with one set of numpy operations per step, in float32.
# It is not the per-digit path above: its bytes differ from `vary`'s for the same values, so the
# layouts that need none of its options (`RenderParams.digit_by_digit`) keep `vary`.

ELASTIC_TRUNCATE = 4.0
"""The Gaussian kernel of the elastic field is cut at this many sigmas (as scipy's default)."""
DISPLACEMENT_STEP = 2.0**-10
"""Displacements are rounded to this many pixels, so the matrix products that smooth them (whose
summation order may depend on the BLAS build) give the same field on every worker."""
_PAD = 2


def gaussian_taps(sigma: float) -> list[float]:
    """The taps of a Gaussian of `sigma` pixels at offsets `-reach..reach`, cut at
    `ELASTIC_TRUNCATE` sigmas and summing to 1 (`[1.0]`, no smoothing, when `sigma` is 0)."""
    if sigma <= 0:
        return [1.0]
    reach = int(ELASTIC_TRUNCATE * sigma + 0.5)
    taps = [math.exp(-0.5 * (d / sigma) ** 2) for d in range(-reach, reach + 1)]
    total = sum(taps)
    return [t / total for t in taps]


def gaussian_matrix(size: int, sigma: float) -> np.ndarray:
    """`[size, size]` matrix `G` with `G @ v` the Gaussian smoothing of `v` (zero outside, cut at
    `ELASTIC_TRUNCATE` sigmas): the filter Simard et al. and most implementations use."""
    taps = gaussian_taps(sigma)
    reach = len(taps) // 2
    index = np.arange(size)
    distance = index[:, None] - index[None, :]
    weights = np.zeros((size, size))
    for d, value in zip(range(-reach, reach + 1), taps):
        weights[distance == d] = value
    return weights


def elastic_field(noise: np.ndarray, alpha: np.ndarray, sigma: float) -> np.ndarray:
    """Simard et al.'s displacement fields: `alpha` times `noise` smoothed by a Gaussian.

    Args:
      noise: `[n, 2, height, width]` uniform in -1..1 (x and y components), float32.
      alpha: `[n]` strengths, pixels per unit of the smoothed field.
      sigma: the Gaussian's standard deviation, pixels.

    Returns:
      float32 `[n, 2, height, width]` displacements in pixels, rounded to `DISPLACEMENT_STEP`.
    """
    count, parts, height, width = noise.shape
    rows = gaussian_matrix(height, sigma).astype(np.float32)
    columns = gaussian_matrix(width, sigma).astype(np.float32)
    along = (noise.reshape(-1, width) @ columns.T).reshape(count * parts, height, width)
    smoothed = rows @ along.transpose(1, 0, 2).reshape(height, -1)
    smoothed = smoothed.reshape(height, count, parts, width).transpose(1, 2, 0, 3)
    field = (
        smoothed
        * (np.asarray(alpha, np.float32) / np.float32(DISPLACEMENT_STEP))[:, None, None, None]
    )
    return np.round(field) * np.float32(DISPLACEMENT_STEP)


def inverse_matrices(
    *, scale: np.ndarray, slant: np.ndarray, rotation: np.ndarray, aspect: np.ndarray
) -> np.ndarray:
    """`[n, 2, 2]` inverses of `affine_matrix(...) @ diag(aspect, 1)` per digit: the map from an
    output offset back to its source offset (the aspect stretches before slant and rotation)."""
    angles = [math.radians(a) for a in np.asarray(rotation, np.float64).tolist()]
    cos = np.array([math.cos(a) for a in angles])
    sin = np.array([math.sin(a) for a in angles])
    scale, slant = np.asarray(scale, np.float64), np.asarray(slant, np.float64)
    across = np.asarray(aspect, np.float64) * scale
    forward = np.stack(
        [
            np.stack([cos * across, sin * scale - cos * slant * scale], -1),
            np.stack([-sin * across, cos * scale + sin * slant * scale], -1),
        ],
        -2,
    )
    a, b = forward[:, 0, 0], forward[:, 0, 1]
    c, d = forward[:, 1, 0], forward[:, 1, 1]
    det = a * d - b * c
    return np.stack([np.stack([d, -b], -1), np.stack([-c, a], -1)], -2) / det[:, None, None]


def warp_batch(
    digits: np.ndarray,
    inverse: np.ndarray,
    widths: np.ndarray,
    canvas: int,
    displacement: np.ndarray | None = None,
) -> np.ndarray:
    """Each digit warped into the left `widths[i]` columns of a `[height, canvas]` box.

    An output pixel at offset `o` from its box centre (`((widths[i] - 1) / 2, (height - 1) / 2)`),
    moved by `displacement` if given, samples the source bilinearly at `inverse[i] @ o` from the
    source centre (zero outside the source). Columns at and right of `widths[i]` are 0.

    Args:
      digits: uint8 `[n, height, width]` (floats are rounded to uint8 first).
      inverse: `[n, 2, 2]` from `inverse_matrices`.
      widths: `[n]` box widths, at most `canvas`.
      canvas: output columns.
      displacement: float32 `[n, 2, height, canvas]` (x, y) from `elastic_field`, or None.

    Returns:
      float32 `[n, height, canvas]`, 0..255.
    """
    count, height, width = digits.shape
    inverse = inverse.astype(np.float32)
    dx = (
        np.arange(canvas, dtype=np.float32)[None, None, :]
        - ((np.asarray(widths, np.float32) - 1) / 2)[:, None, None]
    )
    dy = (np.arange(height, dtype=np.float32) - np.float32((height - 1) / 2))[None, :, None]
    if displacement is not None:
        dx, dy = dx + displacement[:, 0], dy + displacement[:, 1]
    matrix = [inverse[:, i, j][:, None, None] for i in (0, 1) for j in (0, 1)]
    source_x = matrix[0] * dx + matrix[1] * dy + np.float32((width - 1) / 2)
    source_y = matrix[2] * dx + matrix[3] * dy + np.float32((height - 1) / 2)
    np.clip(source_x, -1.5, width - 0.5, out=source_x)
    np.clip(source_y, -1.5, height - 0.5, out=source_y)
    x0, y0 = np.floor(source_x), np.floor(source_y)
    source_x -= x0
    source_y -= y0
    stride, rows = width + 2 * _PAD, height + 2 * _PAD
    padded = np.pad(to_uint8(digits), ((0, 0), (_PAD, _PAD + 1), (_PAD, _PAD)))
    flat = np.pad(padded.reshape(count, -1), ((0, 0), (0, 1)))
    # The four neighbours of every source pixel packed into one uint32, so one gather fetches all.
    corners = (
        np.stack(
            [
                flat[:, : rows * stride],
                flat[:, 1 : rows * stride + 1],
                flat[:, stride : (rows + 1) * stride],
                flat[:, stride + 1 : (rows + 1) * stride + 1],
            ],
            -1,
        )
        .view(np.uint32)
        .ravel()
    )
    base = np.arange(count, dtype=np.int64) * (rows * stride) + _PAD * stride + _PAD
    index = (y0 * stride + x0).astype(np.int64) + base[:, None, None]
    packed = np.take(corners, index.ravel())
    values = packed.view(np.uint8).reshape(-1, 4).T.astype(np.float32).reshape(4, *index.shape)
    top = values[1] - values[0]
    top *= source_x
    top += values[0]
    bottom = values[3] - values[2]
    bottom *= source_x
    bottom += values[2]
    bottom -= top
    bottom *= source_y
    top += bottom
    top *= np.arange(canvas)[None, None, :] < np.asarray(widths)[:, None, None]
    return top


def _cross(images: np.ndarray, combine) -> np.ndarray:
    """One grey dilation (`np.maximum`) or erosion (`np.minimum`) step by the 3x3 cross of every
    image of `[n, height, width]`, zero outside."""
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    result = images.copy()
    for dy, dx in _CROSS:
        combine(
            result,
            padded[:, 1 + dy : padded.shape[1] - 1 + dy, 1 + dx : padded.shape[2] - 1 + dx],
            out=result,
        )
    return result


def thicken_batch(images: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """`thicken` with its own whole number of `steps` per image of `[n, height, width]`."""
    if not np.any(steps):
        return images
    result = images.copy()
    for sign, combine in ((1, np.maximum), (-1, np.minimum)):
        for step in range(1, int(max(0, (sign * steps).max(initial=0))) + 1):
            chosen = sign * steps >= step
            result[chosen] = _cross(result[chosen], combine)
    return result


def stroke_batch(images: np.ndarray, stroke: np.ndarray) -> np.ndarray:
    """Strokes made continuously thinner or bolder, per image of `[n, height, width]` (float).

    `stroke` `s >= 0` blends the `floor(s)`-th and next grey dilation by the 3x3 cross with
    weights `1 - frac(s)` and `frac(s)`; `-1 < s < 0` blends the image with its erosion,
    `(1 + s) * image - s * erosion`, so every pixel keeps at least `1 + s` of its ink.
    """
    stroke = np.asarray(stroke, np.float64)
    if not stroke.any():
        return images
    lower = np.floor(stroke).astype(np.int64)
    levels = [_cross(images, np.minimum), images]
    for _ in range(int(lower.max()) + 1):
        levels.append(_cross(levels[-1], np.maximum))
    stack = np.stack(levels)
    chosen = np.arange(len(images))
    weight = (stroke - lower).astype(np.float32)[:, None, None]
    return stack[lower + 1, chosen] * (1 - weight) + stack[lower + 2, chosen] * weight


def shift_batch(images: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Each image of `[n, height, width]` moved down by its `shifts[i]` rows, zero-filled."""
    height = images.shape[1]
    rows = np.arange(height)[None, :] - np.asarray(shifts)[:, None]
    inside = (rows >= 0) & (rows < height)
    moved = np.take_along_axis(images, np.clip(rows, 0, height - 1)[:, :, None], axis=1)
    return moved * inside[:, :, None].astype(images.dtype)


def to_uint8(values: np.ndarray) -> np.ndarray:
    """Rounded half to even and clipped to 0..255."""
    return _to_uint8(values)
