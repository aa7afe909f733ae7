"""Drawing digit sequences: a shard's sequences drawn from its seed, then rendered. No Beam.

Each digit occupies a box (28 columns, or `round(28 * aspect)` with a writer's aspect,
`pipelines.render.params`); inside it the digit may be varied as handwriting varies
(`pipelines.render.handwriting`), and boxes are combined by pixel maximum.

`render_shard` renders a shard's sequences in order, `BATCH` at a time. Layouts with no writer or
scan option (`RenderParams.digit_by_digit`) are varied one digit at a time
(`render_each`: `handwriting.vary_each`, the bytes of `handwriting.vary` per digit); the others
together (`render_batch`), their elastic noise drawn from a generator seeded by the shard's seed
and the batch's number, so a record depends on the plan and the seed alone. With `scan`, a
record's image is its paper image (`RenderedSequence.scan`, `pipelines.render.paper.scan`)
normalised as image files are, and it has no `digit_left` (box columns do not survive the paper).

With `font_fraction`, a string may instead be written in a font (`SequenceSpec.font`): each of
its digits is that font file's glyph of the digit MNIST drew for it (`pipelines.render.fonts`),
varied as MNIST digits are, and the glyphs are laid out by their ink (`ink_layout`). Such a
record has no `source_index` and no `digit_left`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np

from digitseq.pipelines.render import handwriting, paper
from digitseq.pipelines.render.fonts import FontGlyphs
from digitseq.pipelines.render.mnist import IMAGE_SIZE, MnistSplit
from digitseq.pipelines.render.params import FONT_GAP, FONT_MARGIN, RenderParams
from digitseq.pipelines.render.planning import SPLIT_CODES, ShardPlan

BATCH = 128
"""Sequences rendered together by `render_batch`; part of what a record's noise depends on."""


@dataclasses.dataclass(frozen=True)
class WriterSpec:
    """A string's writer and scan values (`RenderParams` writer and scan fields)."""

    scale: float
    slant: float
    box: int  # columns of each digit's box, round(28 * aspect)
    aspect: float
    stroke: float
    drift: np.ndarray  # rows each digit moves with the baseline
    spacing: np.ndarray  # columns added after each digit but the last
    elastic: np.ndarray  # per digit
    look: paper.ScanLook | None


@dataclasses.dataclass(frozen=True)
class SequenceSpec:
    """Everything needed to draw one sequence: which digits, where, and how each is varied."""

    plan: ShardPlan
    record_id: str
    rows: np.ndarray  # positions of the digits in the split's loaded arrays
    gaps: np.ndarray  # blank columns after each digit but the last
    shifts: np.ndarray  # vertical shift of each digit
    overlaps: np.ndarray  # columns each digit but the last shares with the next
    scales: np.ndarray  # per digit, see RenderParams
    rotations: np.ndarray
    slants: np.ndarray
    thickness: np.ndarray
    writer: WriterSpec | None = None
    font: int | None = None  # the font file (`FontGlyphs.files`) writing it, None: MNIST

    @property
    def digit_left(self) -> np.ndarray:
        """The left column of each digit's box (before any scan)."""
        if self.writer is None:
            return np.concatenate([[0], np.cumsum(IMAGE_SIZE + self.gaps - self.overlaps)])
        advance = self.writer.box + self.gaps - self.overlaps + self.writer.spacing
        return np.concatenate([[0], np.cumsum(np.maximum(advance, 1))])


@dataclasses.dataclass(frozen=True)
class RenderedSequence:
    plan: ShardPlan
    record_id: str
    image: np.ndarray  # uint8 [28, width]
    label: tuple[int, ...]
    source_index: tuple[int, ...] | None  # None for a string written in a font
    digit_left: tuple[int, ...] | None
    scan: np.ndarray | None = None  # with RenderParams.scan: the paper image `image` came from
    squeezed: bool = False  # the normalised scan was wider than the bucket and resized to it


def make_specs(
    plan: ShardPlan,
    params: RenderParams,
    *,
    seed: int,
    pool: np.ndarray,
    font_files: np.ndarray | None = None,
) -> Iterator[SequenceSpec]:
    """The shard's sequences, drawn from the shard's own seed.

    The draws are made in a fixed order (digits, gaps, shifts, overlaps, then the variation, then
    the writer and scan values, then which strings a font writes and with which of
    `font_files`, the split's files), so turning on an option leaves the values drawn before it
    unchanged.
    """
    rng = np.random.default_rng(
        np.random.SeedSequence([seed, 1, SPLIT_CODES[plan.split], plan.length, plan.shard])
    )
    per_digit, per_pair = (plan.count, plan.length), (plan.count, plan.length - 1)
    rows = pool[rng.integers(0, len(pool), size=per_digit)]
    gaps = rng.integers(params.gap[0], params.gap[1] + 1, size=per_pair)
    shifts = rng.integers(-params.jitter, params.jitter + 1, size=per_digit)
    overlaps = rng.integers(params.overlap[0], params.overlap[1] + 1, size=per_pair)
    scales = rng.uniform(*params.scale, size=per_digit)
    rotations = rng.uniform(*params.rotation, size=per_digit)
    slants = rng.uniform(*params.slant, size=per_digit)
    thickness = rng.integers(params.thickness[0], params.thickness[1] + 1, size=per_digit)
    writers = [None] * plan.count if params.digit_by_digit else _draw_writers(rng, params, plan)
    fonts = [None] * plan.count
    if params.font_fraction:
        in_font = rng.random(plan.count) < params.font_fraction
        chosen = font_files[rng.integers(0, len(font_files), size=plan.count)]
        fonts = [int(f) if use else None for use, f in zip(in_font, chosen)]
    for i in range(plan.count):
        yield SequenceSpec(
            plan=plan,
            record_id=f"{plan.split}/{plan.start + i:08d}",
            rows=rows[i],
            gaps=gaps[i],
            shifts=shifts[i],
            overlaps=overlaps[i],
            scales=scales[i],
            rotations=rotations[i],
            slants=slants[i],
            thickness=thickness[i],
            writer=writers[i],
            font=fonts[i],
        )


def _draw_writers(
    rng: np.random.Generator, params: RenderParams, plan: ShardPlan
) -> list[WriterSpec]:
    count, length = plan.count, plan.length
    writer_scale = rng.uniform(*params.writer_scale, size=count)
    writer_slant = rng.uniform(*params.writer_slant, size=count)
    aspect = rng.uniform(*params.aspect, size=count)
    stroke = rng.uniform(*params.stroke, size=count)
    baseline = rng.uniform(*params.baseline, size=count)
    spacing = rng.uniform(*params.spacing, size=count)
    jitter = rng.uniform(-params.spacing_jitter, params.spacing_jitter, size=(count, length - 1))
    elastic = rng.uniform(*params.elastic, size=(count, length))
    looks = paper.draw_looks(rng, params, count) if params.scan else [None] * count
    along = np.arange(length) / (length - 1) - 0.5 if length > 1 else np.zeros(1)
    drift = np.floor(baseline[:, None] * along[None, :] + 0.5).astype(np.int64)
    columns = np.floor(IMAGE_SIZE * (spacing[:, None] + jitter) + 0.5).astype(np.int64)
    boxes = np.floor(IMAGE_SIZE * aspect + 0.5).astype(np.int64)
    return [
        WriterSpec(
            scale=float(writer_scale[i]),
            slant=float(writer_slant[i]),
            box=int(boxes[i]),
            aspect=float(aspect[i]),
            stroke=float(stroke[i]),
            drift=drift[i],
            spacing=columns[i],
            elastic=elastic[i],
            look=looks[i],
        )
        for i in range(count)
    ]


def render_shard(
    plan: ShardPlan,
    params: RenderParams,
    *,
    seed: int,
    pool: np.ndarray,
    mnist_split: MnistSplit,
    fonts: FontGlyphs | None = None,
) -> Iterator[RenderedSequence]:
    """The shard's sequences, rendered in order (see the module docstring); `fonts` is needed
    when `params.font_fraction` is above 0."""
    if params.font_fraction and fonts is None:
        raise ValueError(f"font_fraction {params.font_fraction} needs the font glyphs (fonts)")
    font_files = fonts.split_files(plan.split) if params.font_fraction else None
    specs = make_specs(plan, params, seed=seed, pool=pool, font_files=font_files)
    batch: list[SequenceSpec] = []
    number = 0
    for spec in specs:
        batch.append(spec)
        if len(batch) == BATCH:
            yield from _render(batch, mnist_split, params, plan, seed, number, fonts)
            batch, number = [], number + 1
    if batch:
        yield from _render(batch, mnist_split, params, plan, seed, number, fonts)


def _render(
    specs: list[SequenceSpec],
    mnist_split: MnistSplit,
    params: RenderParams,
    plan: ShardPlan,
    seed: int,
    number: int,
    fonts: FontGlyphs | None,
) -> list[RenderedSequence]:
    if params.digit_by_digit:
        return render_each(specs, mnist_split)
    return render_batch(specs, mnist_split, params, noise=_noise(plan, seed, number), fonts=fonts)


def _noise(plan: ShardPlan, seed: int, number: int) -> np.random.Generator:
    return np.random.default_rng(
        np.random.SeedSequence([seed, 2, SPLIT_CODES[plan.split], plan.length, plan.shard, number])
    )


def render_batch(
    specs: list[SequenceSpec],
    mnist_split: MnistSplit,
    params: RenderParams,
    *,
    noise: np.random.Generator,
    fonts: FontGlyphs | None = None,
) -> list[RenderedSequence]:
    """Sequences of one length with writer values (`make_specs` of params with a style field), their
    digits (MNIST's, or a font's glyphs of the same digits) varied together: warped (scale,
    slant, rotation, aspect, elastic displacement drawn from `noise`), thickened in whole steps,
    stroked, shifted (jitter and baseline), composed by pixel maximum at their boxes' columns (a
    font's glyphs by `ink_layout`) and, with `params.scan`, scanned and normalised."""
    length = len(specs[0].rows)
    writers = [spec.writer for spec in specs]

    def per_digit(values) -> np.ndarray:
        return np.repeat(np.asarray(values), length)

    canvas = params.box_width
    widths = per_digit([w.box for w in writers])
    inverse = handwriting.inverse_matrices(
        scale=np.concatenate([w.scale * s.scales for w, s in zip(writers, specs)]),
        slant=np.concatenate([w.slant + s.slants for w, s in zip(writers, specs)]),
        rotation=np.concatenate([s.rotations for s in specs]),
        aspect=per_digit([w.aspect for w in writers]),
    )
    digits = mnist_split.images[np.concatenate([s.rows for s in specs])]
    for number, spec in enumerate(specs):
        if spec.font is not None:
            digits[number * length : (number + 1) * length] = fonts.images[
                spec.font, mnist_split.labels[spec.rows]
            ]
    displacement = None
    if params.elastic[1] > 0:
        field = noise.random(size=(len(digits), 2, IMAGE_SIZE, canvas), dtype=np.float32)
        field = field * 2 - 1
        displacement = handwriting.elastic_field(
            field, np.concatenate([w.elastic for w in writers]), params.elastic_sigma
        )
    varied = handwriting.warp_batch(digits, inverse, widths, canvas, displacement)
    varied = handwriting.thicken_batch(varied, np.concatenate([s.thickness for s in specs]))
    varied = handwriting.stroke_batch(varied, per_digit([w.stroke for w in writers]))
    varied = varied * (np.arange(canvas)[None, None, :] < widths[:, None, None])
    varied = handwriting.to_uint8(
        handwriting.shift_batch(
            varied, np.concatenate([s.shifts + w.drift for w, s in zip(writers, specs)])
        )
    )
    strings = []
    for number, spec in enumerate(specs):
        box, lefts = spec.writer.box, spec.digit_left.tolist()
        glyphs = varied[number * length : (number + 1) * length, :, :box]
        if spec.font is not None:
            strings.append(ink_layout(glyphs, spec.gaps - spec.overlaps + spec.writer.spacing))
            continue
        image = np.zeros((IMAGE_SIZE, lefts[-1] + box), np.uint8)
        for left, digit in zip(lefts, glyphs):
            window = image[:, left : left + box]
            np.maximum(window, digit, out=window)
        strings.append(image)
    scans: list[np.ndarray | None] = [None] * len(specs)
    if params.scan:
        scans = paper.scan_batch(strings, [spec.writer.look for spec in specs])
    rendered = []
    for spec, image, scanned in zip(specs, strings, scans):
        squeezed = False
        if scanned is not None:
            image, squeezed = paper.to_record(scanned, spec.plan.max_width)
        in_font = spec.font is not None
        rendered.append(
            RenderedSequence(
                plan=spec.plan,
                record_id=spec.record_id,
                image=image,
                label=tuple(mnist_split.labels[spec.rows].tolist()),
                source_index=None if in_font else tuple(mnist_split.indices[spec.rows].tolist()),
                digit_left=None
                if scanned is not None or in_font
                else tuple(spec.digit_left.tolist()),
                scan=scanned,
                squeezed=squeezed,
            )
        )
    return rendered


def ink_layout(glyphs: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Glyphs `uint8 [n, 28, box]` laid out by their ink: between one glyph's last inked column
    and the next one's first, `FONT_GAP + spacing[i]` blank columns (negative: the inks
    overlap), each glyph's ink starting at least one column after the previous one's; combined
    by pixel maximum, with `FONT_MARGIN` blank columns left and right of all the ink."""
    spans = []
    for glyph in glyphs:
        inked = np.flatnonzero(glyph.max(0))
        spans.append((int(inked[0]), int(inked[-1])) if len(inked) else (0, glyph.shape[1] - 1))
    starts = [FONT_MARGIN]  # each glyph's first inked column in the string
    for (first, last), gap in zip(spans, spacing.tolist()):
        starts.append(max(starts[-1] + 1, starts[-1] + last - first + 1 + FONT_GAP + gap))
    lefts = [start - first for start, (first, _) in zip(starts, spans)]
    offset = glyphs.shape[2]  # room for a glyph whose box starts left of column 0
    ink_end = max(start + last - first for start, (first, last) in zip(starts, spans))
    image = np.zeros((IMAGE_SIZE, offset + max(lefts) + glyphs.shape[2] + FONT_MARGIN), np.uint8)
    for left, glyph in zip(lefts, glyphs):
        window = image[:, offset + left : offset + left + glyph.shape[1]]
        np.maximum(window, glyph, out=window)
    return image[:, offset : offset + ink_end + 1 + FONT_MARGIN]


def render_each(specs: list[SequenceSpec], mnist_split: MnistSplit) -> list[RenderedSequence]:
    """Sequences without writer values (`make_specs` of `digit_by_digit` params): each digit varied inside
    its 28-column box by its own values (`handwriting.vary_each`), boxes combined by pixel
    maximum."""
    varied = handwriting.vary_each(
        mnist_split.images[np.concatenate([s.rows for s in specs])],
        scale=np.concatenate([s.scales for s in specs]),
        slant=np.concatenate([s.slants for s in specs]),
        rotation=np.concatenate([s.rotations for s in specs]),
        thickness=np.concatenate([s.thickness for s in specs]),
        shift=np.concatenate([s.shifts for s in specs]),
    )
    rendered, first = [], 0
    for spec in specs:
        lefts = spec.digit_left.tolist()
        image = np.zeros((IMAGE_SIZE, lefts[-1] + IMAGE_SIZE), np.uint8)
        for left, digit in zip(lefts, varied[first : first + len(lefts)]):
            box = image[:, left : left + IMAGE_SIZE]
            np.maximum(box, digit, out=box)
        first += len(lefts)
        rendered.append(
            RenderedSequence(
                plan=spec.plan,
                record_id=spec.record_id,
                image=image,
                label=tuple(mnist_split.labels[spec.rows].tolist()),
                source_index=tuple(mnist_split.indices[spec.rows].tolist()),
                digit_left=tuple(lefts),
            )
        )
    return rendered
