"""Validation of the arrays the public geometry and matching functions take (one rule for every caller), and
the form the kernels take them in."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


def as_boxes(x: ArrayLike, fn: str, name: str) -> np.ndarray:
    """``x`` as C-contiguous float64 boxes of shape (N, 4); an empty input is (0, 4).

    Integer and floating dtypes are accepted; booleans, complex numbers, strings and objects are refused with a
    ``ValueError`` naming the function ``fn`` and the argument ``name``.
    """
    arr = np.asarray(x)
    if arr.size == 0 and (arr.ndim == 1 or (arr.ndim == 2 and arr.shape[1] in (0, 4))):
        return np.zeros((0, 4), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{fn}: `{name}` must have shape (N, 4), got {tuple(arr.shape)}")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"{fn}: `{name}` must be a real numeric array, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float64)


def read_only(a: np.ndarray) -> np.ndarray:
    """``a`` itself when it is read-only, else a read-only view of it: the kernels take their inputs read-only
    (to numba a writeable array is another type, compiled again)."""
    if a.flags.writeable:
        a = a.view()
        a.flags.writeable = False
    return a


def largest_coordinates(boxes: np.ndarray) -> np.ndarray:
    """(N,) the largest absolute coordinate of each of the boxes (N, 4), NaN for a box with a NaN: finite exactly
    for the boxes whose four coordinates are. Column operations, as a reduction along rows of four is slow in numpy."""
    a = np.abs(boxes)
    return np.maximum(np.maximum(a[:, 0], a[:, 1]), np.maximum(a[:, 2], a[:, 3]))
