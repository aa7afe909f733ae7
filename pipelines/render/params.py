"""How rendered sequences look: `RenderParams`, their range checks, and the named presets.

Each digit occupies a 28-column box; consecutive boxes are separated by blank gaps or overlap
(never both in one dataset), and where boxes overlap a pixel is the maximum of both digits. Inside
its box a digit may be varied as handwriting varies (`pipelines.render.handwriting`: scale, slant,
rotation, stroke thickness, vertical shift), so a sequence's width depends on its gaps and
overlaps alone: `28 * n + sum(gaps) - sum(overlaps)`. With every option at its default the digits
are the MNIST images side by side, pixel for pixel.

`PRESETS` names sets of options for common layouts; `preset_params` expands one and applies
explicit values on top.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pipelines.render.mnist import IMAGE_SIZE
from schemas.errors import ConfigError
from schemas.options import check_choice, check_finite, option

MODES = ("fixed", "variable")
PRESET_NAMES = ("plain", "touching", "pan001")
MAX_OVERLAP = IMAGE_SIZE - 1
MAX_ROTATION = 45.0
MAX_SLANT = 1.0
MAX_THICKNESS = 3
RANGES = ("gap", "overlap", "scale", "rotation", "slant", "thickness")
"""The `RenderParams` fields that are `(MIN, MAX)` ranges."""


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
            raise ConfigError("min_length", self.min_length,
                              f"expected at most max_length {self.max_length}",
                              others=["max_length"])
        if not 0 <= self.jitter < IMAGE_SIZE:
            raise ConfigError("jitter", self.jitter, f"expected 0..{IMAGE_SIZE - 1}")
        _check_range("gap", self.gap, "0 <= MIN <= MAX", low=0)
        _check_range("overlap", self.overlap, f"0 <= MIN <= MAX <= {MAX_OVERLAP}", low=0,
                     high=MAX_OVERLAP)
        _check_range("scale", self.scale, "0 < MIN <= MAX", low=0, open_low=True)
        _check_range("rotation", self.rotation, f"{-MAX_ROTATION:g} <= MIN <= MAX <= "
                     f"{MAX_ROTATION:g}", low=-MAX_ROTATION, high=MAX_ROTATION)
        _check_range("slant", self.slant, f"{-MAX_SLANT:g} <= MIN <= MAX <= {MAX_SLANT:g}",
                     low=-MAX_SLANT, high=MAX_SLANT)
        _check_range("thickness", self.thickness, f"{-MAX_THICKNESS} <= MIN <= MAX <= "
                     f"{MAX_THICKNESS}", low=-MAX_THICKNESS, high=MAX_THICKNESS)
        if self.gap != (0, 0) and self.overlap != (0, 0):
            raise ConfigError("gap", self.gap, f"digits are either apart or overlapping, but "
                              f"overlap is {_pair(self.overlap)} too; expected one of them 0,0",
                              others=["overlap"])

    @property
    def lengths(self) -> tuple[int, ...]:
        if self.mode == "fixed":
            return (self.length,)
        return tuple(range(self.min_length, self.max_length + 1))

    def max_width(self, length: int) -> int:
        """Widest image a sequence of `length` digits can have: its width bucket's boundary."""
        return IMAGE_SIZE * length + (self.gap[1] - self.overlap[0]) * (length - 1)


def _pair(values: tuple) -> str:
    return ",".join(f"{v:g}" for v in values)


def _check_range(name: str, values: tuple, expected: str, *, low: float,
                 high: float | None = None, open_low: bool = False) -> None:
    """Raises `ConfigError` naming field `name` unless `low <= MIN <= MAX <= high`."""
    least, most = values
    below = least <= low if open_low else least < low
    if below or least > most or (high is not None and most > high):
        raise ConfigError(name, _pair(values), f"expected {expected}")


PRESETS: dict[str, dict[str, Any]] = {  # keys: PRESET_NAMES
    "plain": {},
    "touching": {"overlap": (0, 12), "scale": (0.85, 1.15), "rotation": (-8.0, 8.0),
                 "slant": (-0.25, 0.25), "thickness": (0, 1), "jitter": 2},
    "pan001": {"overlap": (15, 15)},
}
"""Named layouts, as `RenderParams` fields. `plain`: the MNIST digits side by side (the course
practical's layout, every field at its default). `touching`: digits written close together, so
neighbours touch or overlap by up to 12 columns, each varied mildly (strokes only thickened, as
erosion can erase a digit). `pan001`: every pair of neighbours overlaps by exactly 15 columns, no
variation."""


def preset_params(preset: str = "plain", **fields: Any) -> RenderParams:
    """`RenderParams` from a preset, with `fields` (explicit values) replacing the preset's.

    Raises:
      ConfigError: unknown preset, or the resulting params are invalid.
    """
    return RenderParams(**{**PRESETS.get(preset, {}), **fields, "preset": preset})


LAYOUT_FIELDS = ("gap", "jitter", "overlap", "scale", "rotation", "slant", "thickness")
"""The `RenderParams` fields a preset may set."""
