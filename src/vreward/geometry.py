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

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["box_giou", "box_iou"]


def _as_boxes(x: ArrayLike, fn: str, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim == 2 and arr.shape[0] == 0 and arr.shape[1] in (0, 4):
        return np.zeros((0, 4), dtype=np.float64)
    if arr.ndim == 1 and arr.shape[0] == 0:
        return np.zeros((0, 4), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{fn}: `{name}` must have shape (N, 4), got {tuple(arr.shape)}")
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)):
        raise ValueError(f"{fn}: `{name}` must be numeric, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise ValueError(f"{fn}: `{name}` must be real-valued, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float64)


def box_iou(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """IoU matrix between boxes ``a`` (N, 4) and ``b`` (M, 4); returns (N, M) float64.

    Invalid boxes (see module docstring) have IoU 0 with everything.
    """
    aa = _as_boxes(a, "box_iou", "a")
    bb = _as_boxes(b, "box_iou", "b")
    out = np.empty((aa.shape[0], bb.shape[0]), dtype=np.float64)
    if out.size:
        from vreward import _kernels

        _kernels.pairwise_iou(aa, bb, out)
    return out


def box_giou(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Generalized IoU matrix between boxes ``a`` (N, 4) and ``b`` (M, 4); returns (N, M) float64.

    Values lie in ``[-1, 1]``; invalid boxes (see module docstring) have GIoU -1 with everything.
    """
    aa = _as_boxes(a, "box_giou", "a")
    bb = _as_boxes(b, "box_giou", "b")
    out = np.empty((aa.shape[0], bb.shape[0]), dtype=np.float64)
    if out.size:
        from vreward import _kernels

        _kernels.pairwise_giou(aa, bb, out)
    return out
