"""Handwritten-looking digit strings drawn glyph by glyph from handwriting fonts, for
`bench/elsewhere.py`'s `hand` source.

Only the font families `pipelines.render.fonts.family_split` puts in the `test` split are used
(`test_families`): no digitseq model is trained on them, nor are recipes chosen on them. The
drawing here is deliberately not the training renderer's (which fits each glyph into MNIST's
28x28 box and warps it): a string is written by one "writer" (one family, any of its weights) at
a font size of its own, glyph after glyph on a baseline at the glyphs' real advance widths, each
glyph resized (+-10%), rotated (-8..8 degrees) and lifted or dropped (baseline jitter), the
spacing drawn per string from touching and overlapping (-0.12 em) to apart (+0.45 em), plus a
jitter per pair; overlapping ink is combined by its maximum (the darker pen wins). The string is
then cropped to its ink, given random margins, resized to a height of 20..80 pixels and put on
paper (`scan`): dark ink (grey 0..90) with uneven pressure on light paper (grey 190..255) with a
texture and uneven lighting, Gaussian blur 0..1.2 pixels, sensor noise, PNG or JPEG (quality
55..95). Everything comes from the `numpy` generator it is given, so a seed reproduces a set.
"""

from __future__ import annotations

import io
import os

import numpy as np

FONT_SUFFIXES = (".ttf", ".otf", ".woff", ".woff2")
FONT_SIZES = (36, 96)
"""Font size per string, pixels (inclusive range)."""
GLYPH_SCALE = 0.10
ROTATION = 8.0
BASELINE_JITTER = 0.03
"""Standard deviation of a glyph's vertical offset, as a fraction of the font size."""
SPACING = (-0.12, 0.45)
"""Extra space between glyphs per string, in em, from overlapping to apart."""
TIGHT = (0.4, 0.02)
"""A share of strings gets its spacing from SPACING[0]..TIGHT[1] em (narrow, touching writing),
the rest from TIGHT[1]..SPACING[1]."""
PAIR_JITTER = 0.03
"""Standard deviation of the spacing per pair of glyphs, em."""
MAX_OVERLAP = 0.35
"""Two neighbours' ink boxes overlap by at most this fraction of the narrower one's width."""
DOUBLED = 0.15
"""Share of strings made to hold a repeated adjacent digit ("11", "00") on top of the ones
uniform digits give."""
HEIGHTS = (20, 80)
INK, PAPER = (0, 90), (190, 255)
BLUR = 1.2
NOISE = 8.0
JPEG_QUALITY = (55, 95)


def test_families(location: str) -> dict[str, list[str]]:
    """`{family: [font paths]}` of the test-split families in `location` (one folder per family,
    as `tools/fetch_fonts.py` writes it), sorted; empty if there is none."""
    from digitseq.pipelines.render.fonts import family_split

    families = {}
    if not os.path.isdir(location):
        return families
    for family in sorted(os.listdir(location)):
        folder = os.path.join(location, family)
        if not os.path.isdir(folder) or family_split(family) != "test":
            continue
        files = sorted(
            os.path.join(folder, name)
            for name in os.listdir(folder)
            if name.lower().endswith(FONT_SUFFIXES)
        )
        if files:
            families[family] = files
    return families


def digits_of_string(rng: np.random.Generator) -> list[int]:
    """2..5 uniform digits; DOUBLED of the strings get one adjacent pair made equal."""
    digits = [int(d) for d in rng.integers(0, 10, size=int(rng.integers(2, 6)))]
    if rng.random() < DOUBLED:
        at = int(rng.integers(0, len(digits) - 1))
        digits[at + 1] = digits[at]
    return digits


class Writer:
    """Draws digit strings from a set of font families; caches the fonts it opens."""

    def __init__(self, families: dict[str, list[str]]):
        self.families = families
        self.names = sorted(families)
        self._fonts = {}

    def font(self, path: str, size: int):
        from PIL import ImageFont

        key = (path, size)
        if key not in self._fonts:
            self._fonts[key] = ImageFont.truetype(path, size)
        return self._fonts[key]

    def glyph(self, digit: int, path: str, size: int, rng: np.random.Generator):
        """One glyph, white ink on black, rotated about its ink centre; returns the image, the
        pen origin (x, y of the left end of the baseline) in it, the advance width and the ink's
        left and right edges relative to the origin."""
        from PIL import Image, ImageDraw, ImageFilter

        font = self.font(path, size)
        text = str(digit)
        left, top, right, bottom = font.getbbox(text, anchor="ls")
        origin = (int(0.8 * size), int(1.6 * size))
        canvas = Image.new("L", (int(2.8 * size), int(2.6 * size)))
        ImageDraw.Draw(canvas).text(origin, text, fill=255, font=font, anchor="ls")
        if rng.random() < 0.25:  # a broader pen
            canvas = canvas.filter(ImageFilter.MaxFilter(3))
        centre = (origin[0] + (left + right) / 2, origin[1] + (top + bottom) / 2)
        canvas = canvas.rotate(
            float(rng.uniform(-ROTATION, ROTATION)), resample=Image.BICUBIC, center=centre
        )
        return np.asarray(canvas), origin, font.getlength(text), left, right

    def write(self, rng: np.random.Generator) -> tuple[np.ndarray, str, str]:
        """One string: (ink uint8, white on black, cropped to the ink; label; family)."""
        family = self.names[int(rng.integers(len(self.names)))]
        files = self.families[family]
        path = files[int(rng.integers(len(files)))]
        digits = digits_of_string(rng)
        size = int(rng.integers(FONT_SIZES[0], FONT_SIZES[1] + 1))
        if rng.random() < TIGHT[0]:
            spacing = rng.uniform(SPACING[0], TIGHT[1])
        else:
            spacing = rng.uniform(TIGHT[1], SPACING[1])
        slope = np.tan(np.radians(rng.uniform(-2.5, 2.5)))
        glyphs = []
        for digit in digits:
            glyph_size = max(8, round(size * rng.uniform(1 - GLYPH_SCALE, 1 + GLYPH_SCALE)))
            glyphs.append(self.glyph(digit, path, glyph_size, rng))
        height = int(3.5 * size)
        baseline = int(2.0 * size)
        width = int(sum(g[2] for g in glyphs) + len(glyphs) * (SPACING[1] + 0.2) * size + 4 * size)
        canvas = np.zeros((height, width), np.uint8)
        pen = 1.5 * size
        previous = None
        for image, origin, advance, left, right in glyphs:
            if previous is not None:
                p_pen, p_advance, p_left, p_right = previous
                pen = p_pen + p_advance + (spacing + rng.normal(0, PAIR_JITTER)) * size
                overlap = (p_pen + p_right) - (pen + left)
                limit = MAX_OVERLAP * max(1.0, min(p_right - p_left, right - left))
                if overlap > limit:
                    pen += overlap - limit
            y = baseline - slope * pen + rng.normal(0, BASELINE_JITTER) * size
            x0, y0 = int(round(pen)) - origin[0], int(round(y)) - origin[1]
            h, w = image.shape
            cx0, cy0 = max(0, x0), max(0, y0)
            cx1, cy1 = min(width, x0 + w), min(height, y0 + h)
            if cx1 > cx0 and cy1 > cy0:
                region = canvas[cy0:cy1, cx0:cx1]
                np.maximum(region, image[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0], out=region)
            previous = (pen, advance, left, right)
        rows = np.flatnonzero(canvas.max(1) > 24)
        columns = np.flatnonzero(canvas.max(0) > 24)
        ink = canvas[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]
        return ink, "".join(map(str, digits)), family


def _smooth_field(shape: tuple[int, int], cells: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth noise of standard deviation ~1 over `shape`, varying over about `cells` pixels."""
    from PIL import Image

    small = (max(2, int(shape[1] / cells) + 2), max(2, int(shape[0] / cells) + 2))
    noise = rng.normal(0, 1, size=(small[1], small[0])).astype(np.float32)
    field = Image.fromarray(noise, mode="F").resize((shape[1], shape[0]), Image.BICUBIC)
    return np.asarray(field)


def scan(ink: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    """White-on-black `ink` cropped to its ink -> the bytes and suffix of a scanned image."""
    from PIL import Image, ImageFilter

    ink_height = ink.shape[0]
    top, bottom = (int(ink_height * rng.uniform(0.04, 0.4)) for _ in range(2))
    left, right = (int(ink_height * rng.uniform(0.04, 0.7)) for _ in range(2))
    padded = np.zeros((ink.shape[0] + top + bottom, ink.shape[1] + left + right), np.uint8)
    padded[top : top + ink.shape[0], left : left + ink.shape[1]] = ink
    height = int(rng.integers(HEIGHTS[0], HEIGHTS[1] + 1))
    width = max(height // 2, round(padded.shape[1] * height / padded.shape[0]))
    resample = (Image.BILINEAR, Image.BICUBIC, Image.LANCZOS)[int(rng.integers(3))]
    alpha = (
        np.asarray(Image.fromarray(padded).resize((width, height), resample), np.float32) / 255.0
    )
    shape = alpha.shape
    paper = float(rng.uniform(*PAPER))
    paper_field = (
        paper
        + rng.uniform(0, 6) * _smooth_field(shape, rng.uniform(4, 16), rng)
        + rng.uniform(0, 3) * rng.normal(0, 1, size=shape)  # grain
        + rng.uniform(-10, 10) * np.linspace(-1, 1, shape[1])[None, :]  # lighting
        + rng.uniform(-6, 6) * np.linspace(-1, 1, shape[0])[:, None]
    )
    pen = float(rng.uniform(*INK))
    pressure = np.clip(1 - rng.uniform(0, 0.3) * np.abs(_smooth_field(shape, 12, rng)), 0.5, 1)
    grey = paper_field + (pen - paper_field) * np.clip(alpha * pressure, 0, 1)
    image = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8))
    radius = float(rng.uniform(0, BLUR))
    if radius > 0.05:
        image = image.filter(ImageFilter.GaussianBlur(radius))
    grey = np.asarray(image, np.float32) + rng.normal(0, rng.uniform(0, NOISE), size=shape)
    image = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    if rng.random() < 0.5:
        image.save(buffer, format="PNG")
        return buffer.getvalue(), ".png"
    image.save(
        buffer, format="JPEG", quality=int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1))
    )
    return buffer.getvalue(), ".jpg"
