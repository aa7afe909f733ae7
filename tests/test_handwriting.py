"""Handwriting variation of single digits: each operation changes what it says, and nothing when
neutral. Digits come from the bundled MNIST sample."""

from __future__ import annotations

import numpy as np
import pytest

from digitseq.pipelines.render import handwriting

DIGITS = 20


@pytest.fixture(scope="module")
def digits(sample_mnist) -> np.ndarray:
    return sample_mnist.train.images[:DIGITS]


def _ink_box(image: np.ndarray, threshold: int = 64) -> tuple[int, int]:
    """Height and width of the box around pixels brighter than `threshold`."""
    rows, cols = np.nonzero(image > threshold)
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


def _mass(image: np.ndarray) -> int:
    return int(image.astype(np.int64).sum())


def test_neutral_values_change_nothing(digits):
    for digit in digits:
        np.testing.assert_array_equal(handwriting.vary(digit), digit)
        np.testing.assert_array_equal(handwriting.warp(digit, np.eye(2)), digit)
        np.testing.assert_array_equal(handwriting.thicken(digit, 0), digit)
        np.testing.assert_array_equal(handwriting.shift_vertically(digit, 0), digit)


def test_scaling_grows_and_shrinks_the_ink_box_about_the_centre(digits):
    for digit in digits:
        height, width = _ink_box(digit)
        bigger = _ink_box(handwriting.vary(digit, scale=1.25))
        smaller = _ink_box(handwriting.vary(digit, scale=0.75))
        assert bigger[0] > height and bigger[0] * bigger[1] > height * width
        assert smaller[0] < height and smaller[0] * smaller[1] < height * width
        assert _mass(handwriting.vary(digit, scale=1.25)) > _mass(digit)
        assert _mass(handwriting.vary(digit, scale=0.75)) < _mass(digit)


def test_thicker_strokes_have_more_ink_and_thinner_less(digits):
    for digit in digits:
        mass = _mass(digit)
        assert (
            _mass(handwriting.vary(digit, thickness=2))
            > _mass(handwriting.vary(digit, thickness=1))
            > mass
        )
        assert _mass(handwriting.vary(digit, thickness=-1)) < mass
        assert (
            _ink_box(handwriting.vary(digit, thickness=1), threshold=0)[1]
            >= _ink_box(digit, threshold=0)[1]
        )


@pytest.mark.parametrize(
    "change",
    [
        {"slant": 0.3},
        {"slant": -0.3},
        {"rotation": 12.0},
        {"rotation": -12.0},
        {"slant": 0.2, "rotation": 8.0},
    ],
)
def test_slant_and_rotation_change_the_image_but_keep_the_ink_mass(digits, change):
    for digit in digits:
        varied = handwriting.vary(digit, **change)
        assert not np.array_equal(varied, digit)
        assert _mass(varied) == pytest.approx(_mass(digit), rel=0.1)


def _column_of_ink(image: np.ndarray, rows: slice) -> float:
    """The mean column of the ink in `rows`."""
    part = image[rows].astype(np.float64)
    return float((part.sum(axis=0) * np.arange(image.shape[1])).sum() / part.sum())


def test_positive_slant_leans_the_top_right(digits):
    top, bottom = slice(0, 14), slice(14, 28)
    for digit in digits:
        lean = _column_of_ink(digit, top) - _column_of_ink(digit, bottom)
        slanted = handwriting.vary(digit, slant=0.4)
        assert _column_of_ink(slanted, top) - _column_of_ink(slanted, bottom) > lean + 2


def test_rotation_turns_counter_clockwise():
    dot = np.zeros((28, 28), np.uint8)
    dot[13:15, 22:24] = 255  # right of the centre
    turned = handwriting.vary(dot, rotation=90.0)
    rows, cols = np.nonzero(turned > 128)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (4, 5, 13, 14)  # above the centre


def test_shift_moves_rows_and_fills_with_background(digits):
    digit = digits[0]
    down, up = handwriting.vary(digit, shift=3), handwriting.vary(digit, shift=-2)
    np.testing.assert_array_equal(down[3:], digit[:-3])
    np.testing.assert_array_equal(up[:-2], digit[2:])
    assert not down[:3].any() and not up[-2:].any()


def test_inputs_are_left_untouched_and_results_are_uint8(digits):
    digit = digits[1].copy()
    result = handwriting.vary(digit, scale=1.1, slant=0.2, rotation=-5.0, thickness=-1, shift=2)
    np.testing.assert_array_equal(digit, digits[1])
    assert result.dtype == np.uint8 and result.shape == (28, 28)
