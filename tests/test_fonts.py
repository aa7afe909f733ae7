"""Font families as a digit source of the render job, and frames enough for narrow writing.

The fonts are three small OFL handwriting families shipped in `tests/data/fonts` (one per split
by name: poor-story train, ms-madi validation, liu-jian-mao-cao test) and a subset of one without
the digit 9 (`tests/data/font-without-nine`)."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from digitseq import cli
from digitseq.pipelines import images
from digitseq.pipelines.render import drawing, fonts, planning
from digitseq.pipelines.render import params as render_params
from digitseq.recognizer.config import ModelConfig
from digitseq.schemas import dataset
from tests.conftest import render
from tests.records import read_split

DATA = os.path.join(os.path.dirname(__file__), "data")
FONTS = os.path.join(DATA, "fonts")
WITHOUT_NINE = os.path.join(DATA, "font-without-nine")
FONT_FLAGS = [
    "--preset",
    "handwriting",
    "--mode",
    "variable",
    "--font-fraction",
    "1",
    "--fonts",
    FONTS,
    "--train",
    "24",
    "--validation",
    "8",
    "--test",
    "8",
    "--shards",
    "1",
    "--seed",
    "2",
]


@pytest.fixture(scope="module")
def glyphs() -> fonts.FontGlyphs:
    return fonts.load(FONTS)


def test_glyphs_are_mnist_shaped_and_every_family_belongs_to_one_split(glyphs):
    assert glyphs.images.shape == (3, 10, 28, 28) and glyphs.images.dtype == np.uint8
    assert glyphs.images.max(axis=(2, 3)).min() == 255  # every glyph inked to full white
    for image in glyphs.images.reshape(-1, 28, 28):  # ink inside MNIST's 20x20 box, 4 px margin
        rows, columns = np.flatnonzero(image.max(1)), np.flatnonzero(image.max(0))
        assert rows[-1] - rows[0] < 20 + 1 and columns[-1] - columns[0] < 20 + 1
    split = glyphs.split_families()
    assert split == {
        "train": ["poor-story"],
        "validation": ["ms-madi"],
        "test": ["liu-jian-mao-cao"],
    }
    files = {name: set(glyphs.split_files(name).tolist()) for name in dataset.SPLITS}
    assert set().union(*files.values()) == {0, 1, 2}
    assert sum(len(f) for f in files.values()) == 3  # no file in two splits
    np.testing.assert_array_equal(fonts.load(FONTS).images, glyphs.images)


def test_a_familys_split_depends_on_its_name_alone(tmp_path, glyphs):
    for family in ("poor-story", "ms-madi", "liu-jian-mao-cao"):
        shutil.copytree(os.path.join(FONTS, family), tmp_path / family)
    shutil.copytree(os.path.join(FONTS, "ms-madi"), tmp_path / ".ms-madi.partial")  # skipped
    for extra in ("caveat", "kalam", "itim"):  # other families beside them move nothing
        shutil.copytree(os.path.join(FONTS, "poor-story"), tmp_path / extra)
    more = fonts.load(str(tmp_path)).split_families()
    assert not any(name.startswith(".") for names in more.values() for name in names)
    for name, families in glyphs.split_families().items():
        assert set(families) <= set(more[name])
    assert fonts.family_split("caveat") == "validation" and fonts.family_split("kalam") == "test"


def test_font_strings_draw_only_their_splits_families_and_render_reproducibly(glyphs, sample_mnist):
    params = render_params.preset_params(
        "handwriting", mode="variable", font_fraction=0.5, scan=False
    )  # unscanned: the layout's own width
    for split in dataset.SPLITS:
        source = sample_mnist.test if split == "test" else sample_mnist.train
        pool = planning.digit_pool(source, split)
        allowed = set(glyphs.split_files(split).tolist())
        for plan in planning.plan_shards(params, {split: 60}, seed=4, shards=1):
            specs = list(
                drawing.make_specs(
                    plan, params, seed=4, pool=pool, font_files=glyphs.split_files(split)
                )
            )
            used = {spec.font for spec in specs} - {None}
            assert used and used <= allowed
            assert any(spec.font is None for spec in specs)  # the rest are MNIST strings
            first = list(
                drawing.render_shard(
                    plan, params, seed=4, pool=pool, mnist_split=source, fonts=glyphs
                )
            )
            again = list(
                drawing.render_shard(
                    plan, params, seed=4, pool=pool, mnist_split=source, fonts=glyphs
                )
            )
            for a, b, spec in zip(first, again, specs):
                np.testing.assert_array_equal(a.image, b.image)
                assert a.image.shape[1] <= plan.max_width
                assert (a.source_index is None) == (spec.font is not None)


def test_ink_layout_puts_the_given_blank_columns_between_glyphs(glyphs):
    one = glyphs.images[0, 1]
    first, last = np.flatnonzero(one.max(0))[[0, -1]]
    ink = last - first + 1
    apart = drawing.ink_layout(np.stack([one, one]), np.array([3]))
    gap = render_params.FONT_GAP + 3
    assert apart.shape[1] == 2 * render_params.FONT_MARGIN + 2 * ink + gap
    assert not apart[:, render_params.FONT_MARGIN + ink :][:, :gap].any()
    touching = drawing.ink_layout(np.stack([one, one]), np.array([-render_params.FONT_GAP]))
    assert touching.shape[1] == 2 * render_params.FONT_MARGIN + 2 * ink


def test_the_render_job_writes_font_strings_and_records_the_families(tmp_path):
    out = tmp_path / "fonts"
    assert render(out, *FONT_FLAGS) == 0
    metadata = dataset.load_metadata(str(out))
    assert metadata["fonts"]["families"] == {
        "train": ["poor-story"],
        "validation": ["ms-madi"],
        "test": ["liu-jian-mao-cao"],
    }
    assert metadata["params"]["font_fraction"] == 1.0
    records = read_split(str(out), "train")
    assert len(records) == 24 and all(
        r["source_index"] is None or not len(r["source_index"]) for r in records
    )
    again = tmp_path / "again"
    assert render(again, *FONT_FLAGS) == 0
    shards = sorted(p.relative_to(out) for p in out.rglob("*.gz"))
    assert shards and shards == sorted(p.relative_to(again) for p in again.rglob("*.gz"))
    for shard in shards:  # the same records, byte for byte
        assert (out / shard).read_bytes() == (again / shard).read_bytes()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--fonts", "EMPTY"], "no font file"),
        (["--fonts", "NOT_A_FONT"], "not-a-font.ttf: not a font file"),
        (["--fonts", WITHOUT_NINE], "poor-story-no-9.ttf: has no glyph for the digit 9"),
        (
            ["--fonts", os.path.join(FONTS, "poor-story")],
            "the train and test splits would get no font family; each split asked for sequences needs "
            "at least 1 family of its own (families go to splits by name), and the 1 family here "
            "gives train 0, validation 1, test 0",
        ),
        (["--fonts", FONTS, "--font-fraction", "1.5"], "--font-fraction 1.5: expected 0..1"),
        (["--fonts", FONTS, "--font-fraction", "nan"], "--font-fraction nan"),
        (["--fonts", FONTS, "--font-fraction", "inf"], "--font-fraction inf"),
        (
            ["--fonts", FONTS, "--preset", "scanned"],
            "no string would use them: expected --font-fraction above 0",
        ),
        (["--font-fraction", "0.5"], "--font-fraction 0.5: expected --fonts"),
    ],
)
def test_bad_fonts_are_one_line_before_the_job_starts(tmp_path, capsys, flags, message):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no fonts here")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "not-a-font.ttf").write_bytes(b"this is not a font" * 10)
    flags = [{"EMPTY": str(empty), "NOT_A_FONT": str(broken)}.get(f, f) for f in flags]
    if "--preset" not in flags:
        flags += ["--preset", "handwriting"]
    out = tmp_path / "out"
    assert (
        render(
            out, "--mode", "variable", "--train", "8", "--validation", "4", "--test", "4", *flags
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not out.exists() or not os.listdir(out)


def _narrow_ones(glyphs, count: int) -> np.ndarray:
    """`count` glyphs of 1 written closely (one blank column between inks), scanned as a user's
    image and normalised to the height the models read, as `digitseq predict` normalises image
    files (cropped to the ink, which then fills the 28 rows)."""
    one = glyphs.images[0, 1]
    string = drawing.ink_layout(
        np.stack([one] * count), np.full(count - 1, 1 - render_params.FONT_GAP)
    )
    paper = 255 - np.kron(string, np.ones((3, 3), np.uint8))  # dark ink, 84 rows high
    return images.normalize(paper)


def test_narrow_writing_keeps_a_frame_for_each_blank_between_equal_digits(glyphs):
    from digitseq.recognizer.model import layers

    image = _narrow_ones(glyphs, 5)
    needed = 9  # CTC: 1, blank, 1, blank, ... 1
    pooled_every_block = ModelConfig(arch="convctc", conv_blocks=3)
    two_width_pools = ModelConfig(arch="convctc", conv_blocks=3, width_pools=2)
    width = image.shape[1]
    assert int(layers.output_lengths(np.array([width]), pooled_every_block.downsample)[0]) < needed
    assert int(layers.output_lengths(np.array([width]), two_width_pools.downsample)[0]) >= needed


def test_width_pools_is_checked_against_the_blocks(capsys):
    assert (
        cli.run(
            [
                "train",
                "--data",
                "d",
                "--model-dir",
                "m",
                "--arch",
                "convctc",
                "--conv-blocks",
                "3",
                "--width-pools",
                "4",
            ]
        )
        == 2
    )
    assert "--width-pools 4: expected 0..3 (--conv-blocks)" in capsys.readouterr().err
