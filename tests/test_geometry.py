"""Tests for vreward.geometry (box_iou / box_giou) against a plain-Python reference."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_geometry import ref_area, ref_giou, ref_iou
from vreward.geometry import box_giou, box_iou

SETTINGS = settings(max_examples=200, deadline=None)


# ---------------------------------------------------------------------------------------------
# reference (Visual-RFT IoU, plus the documented validity / GIoU rules)
# ---------------------------------------------------------------------------------------------


def ref_matrix(fn, a, b) -> np.ndarray:
    return np.array([[fn(x, y) for y in b] for x in a], dtype=np.float64).reshape(len(a), len(b))


# ---------------------------------------------------------------------------------------------
# strategies
# ---------------------------------------------------------------------------------------------

special = st.sampled_from(
    [0.0, -0.0, 1.0, 2.0, -1.0, 1e308, -1e308, 1e154, 1e-300, 5e-324, math.inf, -math.inf, math.nan]
)
grid = st.integers(-4, 12).map(float)
wild = st.floats(allow_nan=True, allow_infinity=True, width=64)
coord = st.one_of(grid, grid, grid, special, wild)
wild_box = st.tuples(coord, coord, coord, coord)


@st.composite
def valid_box(draw, lo: int = -1000, hi: int = 1000):
    """Valid box with integer-valued coordinates (exact arithmetic under shifts / 2^k scaling)."""
    x1 = draw(st.integers(lo, hi))
    y1 = draw(st.integers(lo, hi))
    w = draw(st.integers(1, 300))
    h = draw(st.integers(1, 300))
    return (float(x1), float(y1), float(x1 + w), float(y1 + h))


@st.composite
def valid_float_box(draw):
    x1 = draw(st.floats(-1e6, 1e6))
    y1 = draw(st.floats(-1e6, 1e6))
    w = draw(st.floats(1e-3, 1e6))
    h = draw(st.floats(1e-3, 1e6))
    return (x1, y1, x1 + w, y1 + h)


box_lists = st.lists(st.one_of(wild_box, valid_box(-5, 15), valid_float_box()), max_size=7)


# ---------------------------------------------------------------------------------------------
# property tests
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(box_lists, box_lists)
def test_iou_matches_reference_exactly(a, b):
    got = box_iou(np.array(a, dtype=np.float64).reshape(-1, 4), np.array(b, dtype=np.float64).reshape(-1, 4))
    want = ref_matrix(ref_iou, a, b)
    assert got.shape == (len(a), len(b))
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, want)


@SETTINGS
@given(box_lists, box_lists)
def test_giou_matches_reference_exactly(a, b):
    got = box_giou(np.array(a, dtype=np.float64).reshape(-1, 4), np.array(b, dtype=np.float64).reshape(-1, 4))
    want = ref_matrix(ref_giou, a, b)
    assert got.shape == (len(a), len(b))
    np.testing.assert_array_equal(got, want)


@SETTINGS
@given(box_lists, box_lists)
def test_symmetry_and_bounds(a, b):
    aa = np.array(a, dtype=np.float64).reshape(-1, 4)
    bb = np.array(b, dtype=np.float64).reshape(-1, 4)
    iou_ab, iou_ba = box_iou(aa, bb), box_iou(bb, aa)
    giou_ab, giou_ba = box_giou(aa, bb), box_giou(bb, aa)
    np.testing.assert_array_equal(iou_ab, iou_ba.T)
    np.testing.assert_array_equal(giou_ab, giou_ba.T)
    assert np.all(np.isfinite(iou_ab)) and np.all(np.isfinite(giou_ab))
    assert np.all((iou_ab >= 0.0) & (iou_ab <= 1.0))
    assert np.all((giou_ab >= -1.0) & (giou_ab <= 1.0))
    assert np.all(giou_ab <= iou_ab + 1e-12)


@SETTINGS
@given(st.lists(st.one_of(valid_box(), valid_float_box()), min_size=1, max_size=6))
def test_self_iou_is_one(boxes):
    arr = np.array(boxes, dtype=np.float64)
    np.testing.assert_array_equal(np.diag(box_iou(arr, arr)), 1.0)
    np.testing.assert_array_equal(np.diag(box_giou(arr, arr)), 1.0)


@SETTINGS
@given(
    st.lists(valid_box(), min_size=1, max_size=5),
    st.lists(valid_box(), min_size=1, max_size=5),
    st.integers(-10_000, 10_000),
    st.integers(-10_000, 10_000),
    st.integers(-6, 6),
)
def test_translation_and_scale_invariance(a, b, tx, ty, k):
    aa = np.array(a, dtype=np.float64)
    bb = np.array(b, dtype=np.float64)
    shift = np.array([tx, ty, tx, ty], dtype=np.float64)
    scale = 2.0**k  # power of two: exact
    for fn in (box_iou, box_giou):
        base = fn(aa, bb)
        np.testing.assert_array_equal(fn(aa + shift, bb + shift), base)
        np.testing.assert_array_equal(fn(aa * scale, bb * scale), base)


@SETTINGS
@given(
    st.tuples(coord, coord, coord, coord).filter(lambda b: ref_area(b) is None),
    st.lists(st.one_of(wild_box, valid_box()), min_size=1, max_size=5),
)
def test_invalid_boxes_overlap_nothing(bad, others):
    bad_arr = np.array([bad], dtype=np.float64)
    oth = np.array(others, dtype=np.float64)
    np.testing.assert_array_equal(box_iou(bad_arr, oth), 0.0)
    np.testing.assert_array_equal(box_iou(oth, bad_arr), 0.0)
    np.testing.assert_array_equal(box_giou(bad_arr, oth), -1.0)
    np.testing.assert_array_equal(box_giou(oth, bad_arr), -1.0)


@SETTINGS
@given(
    st.lists(valid_float_box(), min_size=1, max_size=8), st.lists(valid_float_box(), min_size=1, max_size=8)
)
def test_giou_equals_iou_for_nested_or_identical_hull(a, b):
    # GIoU never exceeds IoU, and equals it when one box contains the other.
    aa = np.array(a, dtype=np.float64)
    bb = np.array(b, dtype=np.float64)
    iou, giou = box_iou(aa, bb), box_giou(aa, bb)
    assert np.all(giou <= iou + 1e-12)
    outer = np.array([[-1e7, -1e7, 1e7, 1e7]])
    np.testing.assert_allclose(box_giou(aa, outer), box_iou(aa, outer), rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# unit tests
# ---------------------------------------------------------------------------------------------


def test_known_values():
    a = [[0, 0, 2, 2]]
    b = [[1, 1, 3, 3], [2, 0, 4, 2], [5, 5, 6, 6], [0, 0, 2, 2]]
    iou = box_iou(a, b)
    giou = box_giou(a, b)
    np.testing.assert_array_equal(iou, [[1 / 7, 0.0, 0.0, 1.0]])
    # touching boxes: enclosing box == union, so GIoU == 0; disjoint: 4+1 over 36
    np.testing.assert_allclose(giou, [[1 / 7 - 2 / 9, 0.0, -(36 - 5) / 36, 1.0]], rtol=0, atol=1e-15)


def test_overflowing_and_non_finite_boxes():
    huge = [0.0, 0.0, 1e308, 1e308]  # area overflows -> invalid
    neg_huge = [-1e308, -1e308, 1e308, 1e308]  # width overflows -> invalid
    nan = [0.0, 0.0, math.nan, 1.0]
    inf = [0.0, 0.0, math.inf, 1.0]
    ok = [0.0, 0.0, 1.0, 1.0]
    boxes = np.array([huge, neg_huge, nan, inf, ok])
    iou = box_iou(boxes, boxes)
    giou = box_giou(boxes, boxes)
    np.testing.assert_array_equal(iou[:4], 0.0)
    np.testing.assert_array_equal(iou[:, :4], 0.0)
    np.testing.assert_array_equal(giou[:4], -1.0)
    np.testing.assert_array_equal(giou[:, :4], -1.0)
    assert iou[4, 4] == 1.0 and giou[4, 4] == 1.0


def test_valid_box_whose_union_overflows_has_zero_iou():
    # area 1e308 is finite (valid box) but area + area overflows: IoU 0 per the reference rule.
    big = np.array([[0.0, 0.0, 1e154, 1e154]])
    assert box_iou(big, big)[0, 0] == 0.0
    assert box_giou(big, big)[0, 0] == 0.0  # union overflowed -> GIoU = IoU


def test_degenerate_boxes():
    boxes = np.array([[1, 1, 1, 2], [1, 1, 2, 1], [2, 2, 1, 1], [0, 0, 1, 1]], dtype=np.float64)
    iou = box_iou(boxes, boxes)
    np.testing.assert_array_equal(iou[:3], 0.0)
    np.testing.assert_array_equal(box_giou(boxes[:3], boxes), -1.0)


def test_empty_inputs_and_array_likes():
    assert box_iou(np.zeros((0, 4)), [[0, 0, 1, 1]]).shape == (0, 1)
    assert box_giou([[0, 0, 1, 1]], np.zeros((0, 4))).shape == (1, 0)
    assert box_iou([], []).shape == (0, 0)
    out = box_iou(np.array([[0, 0, 2, 2]], dtype=np.int32), [(0, 0, 1, 2)])
    assert out.dtype == np.float64 and out[0, 0] == 0.5
    # non-contiguous input
    big = np.arange(40, dtype=np.float64).reshape(5, 8)[:, ::2]
    big[:, 2:] += 10
    np.testing.assert_array_equal(box_iou(big, big), ref_matrix(ref_iou, big.tolist(), big.tolist()))


@pytest.mark.parametrize("fn", [box_iou, box_giou])
def test_shape_validation(fn):
    name = fn.__name__
    with pytest.raises(ValueError, match=rf"{name}: `a` must have shape \(N, 4\), got \(3, 5\)"):
        fn(np.zeros((3, 5)), np.zeros((1, 4)))
    with pytest.raises(ValueError, match=rf"{name}: `b` must have shape \(N, 4\), got \(4,\)"):
        fn(np.zeros((1, 4)), np.zeros(4))
    with pytest.raises(ValueError, match="numeric"):
        fn(np.array([["a", "b", "c", "d"]]), np.zeros((1, 4)))


def test_large_matrix_matches_reference_sample():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, (300, 2))
    wh = rng.uniform(1, 30, (300, 2))
    a = np.hstack([xy, xy + wh])
    a[::17] = a[::17, [2, 3, 0, 1]]  # some degenerate
    b = a[::-1].copy()
    iou, giou = box_iou(a, b), box_giou(a, b)
    for i, j in rng.integers(0, 300, (500, 2)):
        assert iou[i, j] == ref_iou(a[i], b[j])
        assert giou[i, j] == ref_giou(a[i], b[j])


def test_import_does_not_load_numba():
    code = (
        "import sys, vreward, vreward.geometry, vreward.matching; "
        "assert 'numba' not in sys.modules, 'numba imported at import time'"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_out_buffer_is_filled_and_validated():
    import pytest

    from vreward import box_giou, box_iou

    a = np.array([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 3.0]])
    out = np.full((2, 2), -7.0)
    assert box_iou(a, a, out=out) is out
    np.testing.assert_array_equal(out, box_iou(a, a))
    assert box_giou(a, a, out=out) is out
    with pytest.raises(ValueError, match="out"):
        box_iou(a, a, out=np.empty((2, 3)))
    with pytest.raises(ValueError, match="out"):
        box_iou(a, a, out=np.empty((2, 2), dtype=np.float32))
