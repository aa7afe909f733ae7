"""How rendered sequences look: `RenderParams`, their range checks, and the named presets.

Each digit occupies a 28-column box; consecutive boxes are separated by blank gaps or overlap
(never both in one dataset), and where boxes overlap a pixel is the maximum of both digits. Inside
its box a digit may be varied as handwriting varies (`pipelines.render.handwriting`: scale, slant,
rotation, stroke thickness, vertical shift), so a sequence's width depends on its gaps and
overlaps alone: `28 * n + sum(gaps) - sum(overlaps)`. With every option at its default the digits
are the MNIST images side by side, pixel for pixel.

Writers and paper (every field neutral by default, so the layouts above render the same
bytes): a string may have a writer's style (`writer_scale`, `writer_slant`, `aspect` and `stroke`
drawn once per string, the per-digit `scale` and `slant` then acting as jitter around it), elastic
distortion, a drifting baseline and a `spacing` that varies within the string. A digit's box is
then `round(28 * aspect)` columns wide and consecutive boxes advance by at least one column, so a
sequence is `box + sum(max(1, box + gap - overlap + spacing))` columns wide. With `scan`, each
string is put on paper (`pipelines.render.paper`) and the record is that paper image normalised
by `pipelines.images.normalize`, as ingest and predict normalise image files; its width is then
whatever the normalisation makes of it, at most `max_width` (wider ones are squeezed to it).

`PRESETS` names sets of options for common layouts; `preset_params` expands one and applies
explicit values on top.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from digitseq.core.errors import ConfigError
from digitseq.core.options import check_choice, check_finite, option
from digitseq.pipelines.render.mnist import IMAGE_SIZE

MODES = ("fixed", "variable")
PRESET_NAMES = ("plain", "touching", "pan001", "writers", "scanned", "handwriting")
MAX_OVERLAP = IMAGE_SIZE - 1
MAX_ROTATION = 45.0
MAX_SLANT = 1.0
MAX_THICKNESS = 3
ASPECT_LIMITS = (0.5, 2.0)
STROKE_LIMITS = (-0.5, 2.0)
MAX_ELASTIC = 100.0
ELASTIC_SIGMA_LIMITS = (1.0, 10.0)
MAX_BASELINE = 8.0
SPACING_LIMITS = (-0.5, 1.0)
MAX_SPACING_JITTER = 0.5
SCAN_HEIGHT_LIMITS = (16, 200)
MIN_SCAN_PAPER = 160
MIN_SCAN_CONTRAST = 128
MAX_SCAN_NOISE = 8.0
MAX_SCAN_TEXTURE = 6.0
MAX_SCAN_BLUR = 2.0
SCAN_JPEG_LIMITS = (30, 100)
MAX_SCAN_MARGIN = 2.0
MAX_SCAN_TILT = 10.0
SCAN_WIDTH_FACTOR = 1.5
"""With `scan`, a bucket's boundary is this factor times the layout's (`max_width`)."""
RANGES = (
    "gap",
    "overlap",
    "scale",
    "rotation",
    "slant",
    "thickness",
    "writer_scale",
    "writer_slant",
    "aspect",
    "stroke",
    "elastic",
    "baseline",
    "spacing",
    "scan_height",
    "scan_ink",
    "scan_paper",
    "scan_noise",
    "scan_texture",
    "scan_blur",
    "scan_jpeg",
    "scan_margin",
    "scan_tilt",
)
"""The `RenderParams` fields that are `(MIN, MAX)` ranges."""
WRITER_FIELDS = (
    "writer_scale",
    "writer_slant",
    "aspect",
    "stroke",
    "elastic",
    "elastic_sigma",
    "baseline",
    "spacing",
    "spacing_jitter",
)
SCAN_FIELDS = (
    "scan",
    "scan_height",
    "scan_ink",
    "scan_paper",
    "scan_noise",
    "scan_texture",
    "scan_blur",
    "scan_jpeg",
    "scan_margin",
    "scan_tilt",
)
FONT_FIELDS = ("font_fraction",)
STYLE_FIELDS = WRITER_FIELDS + SCAN_FIELDS + FONT_FIELDS
"""The writer, paper and font fields: only the batched writer path draws them; `metadata()`
leaves them out while they hold their defaults, so the metadata of layouts without them does not
mention them."""
FONT_MARGIN = 4
"""Blank columns left and right of a string written in a font (about what an MNIST box leaves)."""
FONT_GAP = 4
"""Blank columns between two glyphs' ink in a font string at spacing 0 (an MNIST box pair leaves
about 8 between inks; glyph boxes are laid out by their ink, see `pipelines.render.drawing`)."""


@dataclasses.dataclass(frozen=True)
class RenderParams:
    """How sequences look.

    Ranges are `(MIN, MAX)` pairs, both ends included; each digit or pair of digits draws its own
    value uniformly from the range (integers for gap, overlap and thickness).

    Attributes:
      mode: `fixed` (every sequence `length` digits) or `variable` (`min_length`..`max_length`,
        uniformly).
      length: digits per sequence in fixed mode.
      min_length: shortest sequence in variable mode.
      max_length: longest sequence in variable mode.
      gap: blank columns between two consecutive digits' boxes, `0 <= MIN <= MAX`.
      jitter: largest vertical shift of a digit, in pixels, either way (0..27).
      overlap: columns two consecutive digits' boxes share, `0 <= MIN <= MAX <= 27`; overlapping
        pixels take the maximum of both digits. A dataset has gaps or overlaps, not both: a
        non-zero `gap` with a non-zero `overlap` is refused.
      scale: size factor of a digit about the centre of its box, `0 < MIN <= MAX` (1: as in MNIST).
      rotation: degrees a digit turns counter-clockwise, `-45 <= MIN <= MAX <= 45`.
      slant: horizontal shear of a digit: a row `d` rows above its box centre moves `slant * d`
        columns right (below it, left), `-1 <= MIN <= MAX <= 1` (0.3 leans about 17 degrees).
      thickness: grey dilation (> 0) or erosion (< 0) steps of a digit's strokes by the 3x3
        cross, `-3 <= MIN <= MAX <= 3`. MNIST strokes are a few pixels wide, so one erosion
        step already removes most of a digit's ink and can erase a thin one.
      writer_scale: size factor of a whole string (a writer's size), drawn per string,
        `0 < MIN <= MAX`; each digit's size is this times its own `scale`.
      writer_slant: shear of a whole string (a writer's slant), drawn per string, `-1 <= MIN <= MAX
        <= 1`; each digit's slant is this plus its own `slant`.
      aspect: digit width over height, drawn per string, `0.5 <= MIN <= MAX <= 2`: the digit is
        stretched horizontally by it and its box is `round(28 * aspect)` columns wide.
      stroke: stroke width change of a string (a pen), drawn per string, `-0.5 <= MIN <= MAX <=
        2`: above 0 fractional grey dilation (1 = one step of the 3x3 cross, 1.5 half way to the
        second; ink mass 1..1 + 2 * stroke times the original), below 0 a blend towards one
        erosion step that keeps at least `1 + stroke` of every pixel's ink (mass 1 + stroke..1
        times), so no digit is erased.
      elastic: elastic distortion strength per digit (Simard et al. 2003's alpha: pixels of
        displacement per unit of the smoothed uniform field), `0 <= MIN <= MAX <= 100`; 34 with
        sigma 4 moves pixels by about 1.4 pixels (standard deviation) and keeps a digit's ink
        mass within 0.5..1.6 of the original (stretched here, squeezed there).
      elastic_sigma: Gaussian smoothing of the displacement field, in pixels, 1..10 (smaller is
        more wobbly).
      baseline: rows the baseline drifts from the first digit to the last, drawn per string,
        `-8 <= MIN <= MAX <= 8` (positive: downwards; the first digit moves half of it up, the
        last half down), rounded per digit.
      spacing: a string's mean spacing between digit boxes as a fraction of the digit height 28,
        drawn per string, `-0.5 <= MIN <= MAX <= 1`: negative overlaps, positive leaves a gap
        (added to `gap` and `overlap`).
      spacing_jitter: largest change of `spacing` from one pair of digits to the next within a
        string, either way, `0..0.5` (of 28).
      scan: put each string on paper the way a scanner or phone delivers it (`scan_*` fields)
        and normalise that image with `pipelines.images.normalize`, as ingest and predict do.
      scan_height: rows a string's 28-row band has in the scan, drawn per string, `16 <= MIN <=
        MAX <= 200` (below 28 the scan loses resolution).
      scan_ink: grey level of the ink on paper, drawn per string, `0 <= MIN <= MAX`, MAX at most
        `scan_paper` MIN - 128.
      scan_paper: grey level of the paper, drawn per string, `160 <= MIN <= MAX <= 255`.
      scan_noise: largest pixel noise (uniform, either way) in grey levels, drawn per string,
        `0 <= MIN <= MAX <= 8`.
      scan_texture: largest paper texture (smooth blotches, either way) in grey levels, drawn per
        string, `0 <= MIN <= MAX <= 6`.
      scan_blur: Gaussian blur in scan pixels (sigma), drawn per string, `0 <= MIN <= MAX <= 2`.
      scan_jpeg: JPEG quality, drawn per string, `30 <= MIN <= MAX <= 100`; `0,0`: no JPEG.
      scan_margin: paper around the string on each side as a fraction of its height, drawn per
        string, `0 <= MIN <= MAX <= 2`.
      scan_tilt: degrees the string turns counter-clockwise on the paper, drawn per string, `-10
        <= MIN <= MAX <= 10`.
      font_fraction: share of strings written in a font family from the render's font directory
        (`RenderConfig.fonts`, `pipelines.render.fonts`) instead of MNIST digits, drawn per
        string, 0..1. A font string takes one font file of its split, every file equally likely
        (so a family shipping several weights is drawn more often), for all its digits (one
        writer), gets the same writer and per-digit variation as MNIST strings, and
        is laid out by its glyphs' ink: `FONT_GAP` columns plus the string's spacing (and
        `gap - overlap`) between one glyph's ink and the next.
      preset: the entry of `PRESETS` the other fields started from (recorded in metadata; the
        fields themselves are what was rendered, explicit values included).
    """

    mode: str = option("fixed", choices=MODES)
    length: int = 5
    min_length: int = 2
    max_length: int = 5
    gap: tuple[int, int] = (0, 0)
    jitter: int = 0
    overlap: tuple[int, int] = (0, 0)
    scale: tuple[float, float] = (1.0, 1.0)
    rotation: tuple[float, float] = (0.0, 0.0)
    slant: tuple[float, float] = (0.0, 0.0)
    thickness: tuple[int, int] = (0, 0)
    writer_scale: tuple[float, float] = (1.0, 1.0)
    writer_slant: tuple[float, float] = (0.0, 0.0)
    aspect: tuple[float, float] = (1.0, 1.0)
    stroke: tuple[float, float] = (0.0, 0.0)
    elastic: tuple[float, float] = (0.0, 0.0)
    elastic_sigma: float = 4.0
    baseline: tuple[float, float] = (0.0, 0.0)
    spacing: tuple[float, float] = (0.0, 0.0)
    spacing_jitter: float = 0.0
    scan: bool = False
    scan_height: tuple[int, int] = (20, 64)
    scan_ink: tuple[int, int] = (10, 90)
    scan_paper: tuple[int, int] = (220, 250)
    scan_noise: tuple[float, float] = (0.0, 3.0)
    scan_texture: tuple[float, float] = (0.0, 3.0)
    scan_blur: tuple[float, float] = (0.0, 0.7)
    scan_jpeg: tuple[int, int] = (50, 95)
    scan_margin: tuple[float, float] = (0.1, 0.6)
    scan_tilt: tuple[float, float] = (-2.0, 2.0)
    font_fraction: float = 0.0
    preset: str = option("plain", choices=PRESET_NAMES)

    def __post_init__(self):
        for name in RANGES:
            object.__setattr__(self, name, tuple(getattr(self, name)))
        check_finite(self)
        check_choice("mode", self.mode, MODES)
        check_choice("preset", self.preset, PRESET_NAMES)
        if self.mode == "fixed" and self.length < 1:
            raise ConfigError("length", self.length, "expected at least 1")
        if self.mode == "variable" and self.min_length < 1:
            raise ConfigError("min_length", self.min_length, "expected at least 1")
        if self.mode == "variable" and self.min_length > self.max_length:
            raise ConfigError(
                "min_length",
                self.min_length,
                f"expected at most max_length {self.max_length}",
                others=["max_length"],
            )
        if not 0 <= self.jitter < IMAGE_SIZE:
            raise ConfigError("jitter", self.jitter, f"expected 0..{IMAGE_SIZE - 1}")
        _check_range("gap", self.gap, "0 <= MIN <= MAX", low=0)
        _check_range(
            "overlap", self.overlap, f"0 <= MIN <= MAX <= {MAX_OVERLAP}", low=0, high=MAX_OVERLAP
        )
        _check_range("scale", self.scale, "0 < MIN <= MAX", low=0, open_low=True)
        _check_range(
            "rotation",
            self.rotation,
            f"{-MAX_ROTATION:g} <= MIN <= MAX <= {MAX_ROTATION:g}",
            low=-MAX_ROTATION,
            high=MAX_ROTATION,
        )
        _check_range(
            "slant",
            self.slant,
            f"{-MAX_SLANT:g} <= MIN <= MAX <= {MAX_SLANT:g}",
            low=-MAX_SLANT,
            high=MAX_SLANT,
        )
        _check_range(
            "thickness",
            self.thickness,
            f"{-MAX_THICKNESS} <= MIN <= MAX <= {MAX_THICKNESS}",
            low=-MAX_THICKNESS,
            high=MAX_THICKNESS,
        )
        self._check_writer()
        self._check_scan()
        if not 0 <= self.font_fraction <= 1:
            raise ConfigError("font_fraction", self.font_fraction, "expected 0..1")
        if self.gap != (0, 0) and self.overlap != (0, 0):
            raise ConfigError(
                "gap",
                self.gap,
                f"digits are either apart or overlapping, but "
                f"overlap is {_pair(self.overlap)} too; expected one of them 0,0",
                others=["overlap"],
            )

    def _check_writer(self) -> None:
        _check_range("writer_scale", self.writer_scale, "0 < MIN <= MAX", low=0, open_low=True)
        _check_range(
            "writer_slant",
            self.writer_slant,
            f"{-MAX_SLANT:g} <= MIN <= MAX <= {MAX_SLANT:g}",
            low=-MAX_SLANT,
            high=MAX_SLANT,
        )
        _check_limits("aspect", self.aspect, ASPECT_LIMITS)
        _check_limits("stroke", self.stroke, STROKE_LIMITS)
        _check_limits("elastic", self.elastic, (0, MAX_ELASTIC))
        low, high = ELASTIC_SIGMA_LIMITS
        if not low <= self.elastic_sigma <= high:
            raise ConfigError("elastic_sigma", self.elastic_sigma, f"expected {low:g}..{high:g}")
        _check_limits("baseline", self.baseline, (-MAX_BASELINE, MAX_BASELINE))
        _check_limits("spacing", self.spacing, SPACING_LIMITS)
        if not 0 <= self.spacing_jitter <= MAX_SPACING_JITTER:
            raise ConfigError(
                "spacing_jitter", self.spacing_jitter, f"expected 0..{MAX_SPACING_JITTER:g}"
            )

    def _check_scan(self) -> None:
        _check_limits("scan_height", self.scan_height, SCAN_HEIGHT_LIMITS)
        _check_limits("scan_paper", self.scan_paper, (MIN_SCAN_PAPER, 255))
        darkest = self.scan_paper[0] - MIN_SCAN_CONTRAST
        _check_range(
            "scan_ink",
            self.scan_ink,
            f"0 <= MIN <= MAX <= scan_paper MIN - {MIN_SCAN_CONTRAST} ({darkest})",
            low=0,
            high=darkest,
            others=["scan_paper"],
        )
        _check_limits("scan_noise", self.scan_noise, (0, MAX_SCAN_NOISE))
        _check_limits("scan_texture", self.scan_texture, (0, MAX_SCAN_TEXTURE))
        _check_limits("scan_blur", self.scan_blur, (0, MAX_SCAN_BLUR))
        if self.scan_jpeg != (0, 0):
            low, high = SCAN_JPEG_LIMITS
            _check_range(
                "scan_jpeg",
                self.scan_jpeg,
                f"0,0 (no JPEG) or {low} <= MIN <= MAX <= {high}",
                low=low,
                high=high,
            )
        _check_limits("scan_margin", self.scan_margin, (0, MAX_SCAN_MARGIN))
        _check_limits("scan_tilt", self.scan_tilt, (-MAX_SCAN_TILT, MAX_SCAN_TILT))

    @property
    def digit_by_digit(self) -> bool:
        """Every writer, scan and font field at its default: rendered digit by digit
        (`pipelines.render.drawing.render_each`)."""
        return all(getattr(self, name) == _DEFAULTS[name] for name in STYLE_FIELDS)

    @property
    def box_width(self) -> int:
        """The widest digit box: `round(28 * aspect MAX)`, half up."""
        return box_width(self.aspect[1])

    def metadata(self) -> dict[str, Any]:
        """The fields as `metadata.json` records them: `STYLE_FIELDS` only where they are not at
        their defaults (unless `scan` is on, which records every scan field)."""
        fields = dataclasses.asdict(self)
        for name in STYLE_FIELDS:
            if fields[name] == _DEFAULTS[name] and not (self.scan and name in SCAN_FIELDS):
                del fields[name]
        return fields

    @property
    def lengths(self) -> tuple[int, ...]:
        if self.mode == "fixed":
            return (self.length,)
        return tuple(range(self.min_length, self.max_length + 1))

    def layout_width(self, length: int) -> int:
        """Widest layout (before any scan) a sequence of `length` digits can have."""
        box = self.box_width
        most = (
            self.gap[1] - self.overlap[0] + spacing_columns(self.spacing[1] + self.spacing_jitter)
        )
        boxes = box + max(1, box + most) * (length - 1)
        if not self.font_fraction:
            return boxes
        glyphs = 2 * FONT_MARGIN + box * length + max(0, most + FONT_GAP) * (length - 1)
        return max(boxes, glyphs)

    def max_width(self, length: int) -> int:
        """Widest image a sequence of `length` digits can have: its width bucket's boundary
        (`layout_width`, times `SCAN_WIDTH_FACTOR` with `scan`)."""
        if self.scan:
            return math.ceil(SCAN_WIDTH_FACTOR * self.layout_width(length))
        return self.layout_width(length)


def box_width(aspect: float) -> int:
    """Columns of a digit box at `aspect` (width over height): `28 * aspect`, rounded half up."""
    return int(math.floor(IMAGE_SIZE * aspect + 0.5))


def spacing_columns(spacing: float) -> int:
    """Columns of a `spacing` (fraction of the digit height), rounded half up."""
    return int(math.floor(IMAGE_SIZE * spacing + 0.5))


def _pair(values: tuple) -> str:
    return ",".join(f"{v:g}" for v in values)


def _check_range(
    name: str,
    values: tuple,
    expected: str,
    *,
    low: float,
    high: float | None = None,
    open_low: bool = False,
    others: tuple[str, ...] | list[str] = (),
) -> None:
    """Raises `ConfigError` naming field `name` unless `low <= MIN <= MAX <= high`."""
    least, most = values
    below = least <= low if open_low else least < low
    if below or least > most or (high is not None and most > high):
        raise ConfigError(name, _pair(values), f"expected {expected}", others=others)


def _check_limits(name: str, values: tuple, limits: tuple[float, float]) -> None:
    """`_check_range` with both ends given, the message `expected LOW <= MIN <= MAX <= HIGH`."""
    low, high = limits
    _check_range(name, values, f"{low:g} <= MIN <= MAX <= {high:g}", low=low, high=high)


_WRITERS: dict[str, Any] = {
    "overlap": (0, 6),
    "scale": (0.95, 1.05),
    "rotation": (-4.0, 4.0),
    "slant": (-0.06, 0.06),
    "jitter": 1,
    "writer_scale": (0.8, 1.1),
    "writer_slant": (-0.3, 0.4),
    "aspect": (0.7, 1.25),
    "stroke": (-0.4, 1.5),
    "elastic": (0.0, 34.0),
    "baseline": (-3.0, 3.0),
    "spacing": (-0.2, 0.15),
    "spacing_jitter": 0.1,
}
"""The `writers` preset: each string in one writer's hand (the `scanned` preset puts it on paper)."""

PRESETS: dict[str, dict[str, Any]] = {  # keys: PRESET_NAMES
    "plain": {},
    "touching": {
        "overlap": (0, 12),
        "scale": (0.85, 1.15),
        "rotation": (-8.0, 8.0),
        "slant": (-0.25, 0.25),
        "thickness": (0, 1),
        "jitter": 2,
    },
    "pan001": {"overlap": (15, 15)},
    "writers": _WRITERS,
    "scanned": {**_WRITERS, "scan": True},
    "handwriting": {
        "overlap": (0, 6),
        "scale": (0.9, 1.1),
        "rotation": (-8.0, 8.0),
        "slant": (-0.1, 0.1),
        "jitter": 1,
        "writer_scale": (0.8, 1.1),
        "writer_slant": (-0.3, 0.4),
        "aspect": (0.6, 1.3),
        "stroke": (-0.4, 1.5),
        "elastic": (0.0, 34.0),
        "baseline": (-3.0, 3.0),
        "spacing": (-0.25, 0.3),
        "spacing_jitter": 0.1,
        "scan": True,
        "font_fraction": 0.5,
    },
}
"""Named layouts, as `RenderParams` fields. `plain`: the MNIST digits side by side (the course
practical's layout, every field at its default). `touching`: digits written close together, so
neighbours touch or overlap by up to 12 columns, each varied mildly (strokes only thickened, as
erosion can erase a digit). `pan001`: every pair of neighbours overlaps by exactly 15 columns, no
variation. `writers`: a touching-like layout written by many writers: each string has its own
size, slant, digit width, pen and spacing (overlapping to apart, varying along the string), a
drifting baseline, digits elastically distorted and jittered a little around the writer's style.
`scanned`: `writers` on paper, scanned (the `scan_*` defaults: grey ink and paper, texture, noise,
blur, 20..64 rows, JPEG 50..95, margins, tilt) and normalised as ingest and predict normalise
image files. `handwriting`: `scanned` with narrower to wider digits, more rotation and spacing, and
half of the strings written in font families instead of MNIST digits (needs the render's
`fonts`)."""


def preset_params(preset: str = "plain", **fields: Any) -> RenderParams:
    """`RenderParams` from a preset, with `fields` (explicit values) replacing the preset's.

    Raises:
      ConfigError: unknown preset, or the resulting params are invalid.
    """
    return RenderParams(**{**PRESETS.get(preset, {}), **fields, "preset": preset})


LAYOUT_FIELDS = (
    "gap",
    "jitter",
    "overlap",
    "scale",
    "rotation",
    "slant",
    "thickness",
    *STYLE_FIELDS,
)
"""The `RenderParams` fields a preset may set."""

_DEFAULTS = {field.name: field.default for field in dataclasses.fields(RenderParams)}
