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
    height, width = image.shape
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    ys, xs = np.mgrid[0:height, 0:width]
    offsets = np.stack([xs.ravel() - centre[0], ys.ravel() - centre[1]])
    source_x, source_y = np.linalg.inv(matrix) @ offsets + centre[:, None]
    return _to_uint8(_bilinear(image.astype(np.float64), source_x, source_y).reshape(height, width))


def _bilinear(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Values of `image` at float positions `(x, y)`, zero outside the image."""
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    fx, fy = x - x0, y - y0
    total = np.zeros_like(x)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            total += wy * wx * _pixels(image, x0 + dx, y0 + dy)
    return total


def _pixels(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """`image[y, x]` where inside the image, 0 elsewhere."""
    height, width = image.shape
    inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    values = np.zeros(x.shape, image.dtype)
    values[inside] = image[y[inside], x[inside]]
    return values


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
    out[max(dy, 0):height + min(dy, 0), max(dx, 0):width + min(dx, 0)] = \
        image[max(-dy, 0):height - max(dy, 0), max(-dx, 0):width - max(dx, 0)]
    return out


def shift_vertically(image: np.ndarray, shift: int) -> np.ndarray:
    """`image` moved down by `shift` rows (up if negative), zero-filled."""
    return _shifted(image, shift, 0)


def vary(digit: np.ndarray, *, scale: float = 1.0, slant: float = 0.0, rotation: float = 0.0,
         thickness: int = 0, shift: int = 0) -> np.ndarray:
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
    image = digit
    if (scale, slant, rotation) != (1.0, 0.0, 0.0):
        image = warp(image, affine_matrix(scale=scale, slant=slant, rotation=rotation))
    if thickness:
        image = thicken(image, thickness)
    if shift:
        image = shift_vertically(image, shift)
    return image
