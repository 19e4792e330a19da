"""Pairwise IoU / GIoU between two sets of axis-aligned boxes ``(x1, y1, x2, y2)``.

A box is *valid* iff its four coordinates are finite, ``x2 > x1``, ``y2 > y1`` and its area
``(x2 - x1) * (y2 - y1)`` is finite (so e.g. boxes with 1e308-sized coordinates whose area
overflows are invalid).  Invalid (degenerate, NaN, infinite) boxes overlap nothing: their IoU is 0
and their GIoU is -1 against any box, themselves included.

For valid boxes the IoU is computed operation-for-operation like the Visual-RFT reference, so it
equals a plain-Python float computation bit for bit; when the union is not finite or ``<= 0`` the
IoU is 0.  GIoU is ``iou - (C - union) / C`` with ``C`` the area of the smallest enclosing box (or
just ``iou`` when ``C`` is not finite or ``<= 0``, or when ``union`` overflows); it lies in
``[-1, 1]``.  Only boxes with coordinates around 1e154 and beyond can overflow.

numba is imported lazily, on the first call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vreward.arrays import as_boxes, read_only

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["box_giou", "box_iou"]


def _output(out: np.ndarray | None, n: int, m: int, fn: str) -> np.ndarray:
    if out is None:
        return np.empty((n, m), dtype=np.float64)
    if not isinstance(out, np.ndarray) or out.shape != (n, m) or out.dtype != np.float64 or \
            not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"{fn}: `out` must be a writeable C-contiguous float64 array of shape ({n}, {m})")
    return out


def _matrix(a: ArrayLike, b: ArrayLike, out: np.ndarray | None, giou: bool, fn: str) -> np.ndarray:
    aa = as_boxes(a, fn, "a")
    bb = as_boxes(b, fn, "b")
    result = _output(out, aa.shape[0], bb.shape[0], fn)
    if result.size:
        from vreward import _kernels

        _kernels.pairwise(read_only(aa), read_only(bb), giou, result, np.empty((5, bb.shape[0])))
    return result


def box_iou(a: ArrayLike, b: ArrayLike, out: np.ndarray | None = None) -> np.ndarray:
    """IoU matrix between boxes ``a`` (N, 4) and ``b`` (M, 4); returns (N, M) float64.

    Invalid boxes (see module docstring) have IoU 0 with everything. ``out`` (a C-contiguous float64 (N, M)
    array) receives the result instead of a new array: reusing it saves the page faults of a fresh allocation,
    which dominate for large matrices.
    """
    return _matrix(a, b, out, False, "box_iou")


def box_giou(a: ArrayLike, b: ArrayLike, out: np.ndarray | None = None) -> np.ndarray:
    """Generalized IoU matrix between boxes ``a`` (N, 4) and ``b`` (M, 4); returns (N, M) float64.

    Values lie in ``[-1, 1]``; invalid boxes (see module docstring) have GIoU -1 with everything. ``out`` as in
    :func:`box_iou`.
    """
    return _matrix(a, b, out, True, "box_giou")
