"""Font families as a digit source: each font file's ten digit glyphs as 28x28 images like MNIST's.

A font directory (`digitseq render --fonts DIR`, local or any scheme `core.storage` admits)
holds one folder per family with that family's font files (TTF, OTF, WOFF, WOFF2; several weights
of a family go in its folder); a font file directly in DIR is a family of its own, named by its
file name without the suffix; names starting with a dot are skipped. `tools/fetch_fonts.py` fills
such a directory from npm's `@fontsource` packages.

Families are split between train, validation and test as MNIST writers are: by the family's
name alone (`family_split`: the SHA-256 of the name, modulo 100, below 15 test, below 30
validation, else train), so a family's split never depends on which other families a directory
holds, and the validation and test splits always measure families the train split never saw.

Every glyph is drawn large (`DRAW_SIZE` pixels), cropped to its ink, reduced to fit a 20x20 box
keeping its aspect, its ink scaled so its darkest pixel is 255, and centred by its centre of mass
in a 28x28 box: the way MNIST's digits were made from NIST's. Loading reads every file once, on
the launcher, and checks it (`load`); the render job's workers get the glyph images, not the
files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
from collections.abc import Mapping

import numpy as np

from digitseq.core import storage
from digitseq.core.errors import InvalidInputError
from digitseq.pipelines.render.mnist import IMAGE_SIZE
from digitseq.schemas import dataset

FONT_SUFFIXES = (".ttf", ".otf", ".woff", ".woff2")
DRAW_SIZE = 128
"""Font size, in pixels, at which glyphs are drawn before they are reduced to MNIST's size."""
GLYPH_BOX = 20
"""The glyph's ink fits a box this many pixels square, as MNIST's digits do."""
TEST_BELOW, VALIDATION_BELOW = 15, 30
"""`family_split`'s thresholds on the name's hash modulo 100."""
_MISSING = "\uffff"  # a code point no font maps: what a font draws for a character it lacks


@dataclasses.dataclass(frozen=True)
class FontGlyphs:
    """The digit glyphs of a font directory.

    Attributes:
      location: the directory they were read from.
      files: each font file's path relative to `location`, sorted.
      families: each file's family.
      images: uint8 `[len(files), 10, 28, 28]`, white ink on black; `images[f, d]` is digit `d`
        in file `f`.
      sha256: each file's SHA-256, for the dataset's metadata.
    """

    location: str
    files: tuple[str, ...]
    families: tuple[str, ...]
    images: np.ndarray
    sha256: tuple[str, ...]

    def split_files(self, split: str) -> np.ndarray:
        """Indices of the files whose family belongs to `split`."""
        return np.array(
            [i for i, family in enumerate(self.families) if family_split(family) == split], np.int64
        )

    def split_families(self) -> dict[str, list[str]]:
        """The families of each split, sorted."""
        found = {split: set() for split in dataset.SPLITS}
        for family in self.families:
            found[family_split(family)].add(family)
        return {split: sorted(names) for split, names in found.items()}

    def check_splits(self, counts: Mapping[str, int]) -> None:
        """Fails unless every split asked for sequences has a family of its own."""
        families = self.split_families()
        empty = [split for split, count in counts.items() if count and not families[split]]
        if empty:
            have = ", ".join(f"{split} {len(names)}" for split, names in families.items())
            count = len(set(self.families))
            raise InvalidInputError(
                f"--fonts {self.location}: the {' and '.join(empty)} split"
                f"{'s' if len(empty) > 1 else ''} would get no font family; each split asked "
                f"for sequences needs at least 1 family of its own (families go to splits by "
                f"name), and the {count} famil{'y' if count == 1 else 'ies'} here give"
                f"{'s' if count == 1 else ''} {have}"
            )

    def metadata(self) -> dict:
        """What `metadata.json` records of the fonts: location, families per split, files."""
        return {
            "location": self.location,
            "families": self.split_families(),
            "sha256": dict(zip(self.files, self.sha256)),
        }


def family_split(family: str) -> str:
    """The split a font family belongs to, from its name alone."""
    bucket = int(hashlib.sha256(family.encode("utf-8")).hexdigest()[:8], 16) % 100
    if bucket < TEST_BELOW:
        return "test"
    return "validation" if bucket < VALIDATION_BELOW else "train"


def find_fonts(location: str) -> dict[str, str]:
    """`{relative path: family}` of the font files in `location` (see the module docstring).

    Raises:
      InvalidInputError: `location` is not a directory, or holds no font file.
    """
    import tensorflow as tf

    storage.ensure_filesystem(location)
    if not tf.io.gfile.isdir(location):
        raise InvalidInputError(f"--fonts {location}: not a directory")
    found = {}
    for entry in sorted(tf.io.gfile.listdir(location)):
        entry = entry.rstrip("/")
        if entry.startswith("."):  # hidden, e.g. a fetch cut short (tools/fetch_fonts.py)
            continue
        path = storage.join(location, entry)
        if tf.io.gfile.isdir(path):
            for name in sorted(tf.io.gfile.listdir(path)):
                if name.lower().endswith(FONT_SUFFIXES):
                    found[f"{entry}/{name}"] = entry
        elif entry.lower().endswith(FONT_SUFFIXES):
            found[entry] = os.path.splitext(entry)[0]
    if not found:
        raise InvalidInputError(
            f"--fonts {location}: no font file ({', '.join(FONT_SUFFIXES)}) "
            f"in it or in its family folders"
        )
    return found


def load(location: str) -> FontGlyphs:
    """Reads and checks every font file of `location` and draws its digits.

    Raises:
      InvalidInputError: naming the file: it is not a font Pillow's FreeType can open, or it lacks
        one of the ten digits.
    """
    if "://" not in location:
        location = os.path.abspath(os.path.expanduser(location))
    fonts = find_fonts(location)
    images, digests = [], []
    for relative in fonts:
        path = storage.join(location, relative)
        data = storage.read_bytes(path)
        images.append(draw_digits(data, name=path))
        digests.append(hashlib.sha256(data).hexdigest())
    return FontGlyphs(
        location=location,
        files=tuple(fonts),
        families=tuple(fonts.values()),
        images=np.stack(images),
        sha256=tuple(digests),
    )


def draw_digits(data: bytes, *, name: str) -> np.ndarray:
    """The ten digits of the font file `data` as uint8 `[10, 28, 28]` (see the module docstring).

    Raises:
      InvalidInputError: naming `name`: not a font, or a digit missing.
    """
    from PIL import ImageFont

    try:
        font = ImageFont.truetype(io.BytesIO(data), DRAW_SIZE)
    except OSError as err:
        raise InvalidInputError(f"font {name}: not a font file FreeType can open ({err})") from None
    missing_glyph = _draw(font, _MISSING)
    glyphs = []
    for digit in range(10):
        glyph = _draw(font, str(digit))
        if not glyph.any() or np.array_equal(glyph, missing_glyph):
            raise InvalidInputError(
                f"font {name}: has no glyph for the digit {digit}; expected all ten digits"
            )
        glyphs.append(to_mnist_box(glyph))
    return np.stack(glyphs)


def _draw(font, text: str) -> np.ndarray:
    """`text` drawn in `font`, white on black, cropped to its ink (empty if it has none)."""
    from PIL import Image, ImageDraw

    left, top, right, bottom = font.getbbox(text)
    canvas = Image.new("L", (max(1, right - left) + 4, max(1, bottom - top) + 4))
    ImageDraw.Draw(canvas).text((2 - left, 2 - top), text, fill=255, font=font)
    array = np.asarray(canvas)
    rows, columns = np.flatnonzero(array.max(1)), np.flatnonzero(array.max(0))
    if not len(rows):
        return np.zeros((0, 0), np.uint8)
    return array[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]


def to_mnist_box(ink: np.ndarray) -> np.ndarray:
    """A glyph cropped to its ink -> uint8 `[28, 28]`: fit into `GLYPH_BOX` square keeping its
    aspect, darkest pixel 255, centred by its centre of mass (clipped to stay in the box)."""
    from PIL import Image

    height, width = ink.shape
    factor = GLYPH_BOX / max(height, width)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    small = np.asarray(Image.fromarray(ink).resize(size, Image.LANCZOS), np.float64)
    small = np.clip(small * (255.0 / max(small.max(), 1.0)), 0, 255)
    rows, columns = np.mgrid[0 : small.shape[0], 0 : small.shape[1]]
    total = small.sum()
    centre_y, centre_x = (rows * small).sum() / total, (columns * small).sum() / total
    top = int(np.clip(round((IMAGE_SIZE - 1) / 2 - centre_y), 0, IMAGE_SIZE - small.shape[0]))
    left = int(np.clip(round((IMAGE_SIZE - 1) / 2 - centre_x), 0, IMAGE_SIZE - small.shape[1]))
    box = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    box[top : top + small.shape[0], left : left + small.shape[1]] = np.rint(small).astype(np.uint8)
    return box
