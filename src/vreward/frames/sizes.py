"""Image sizes of a batch, read from the dataset columns TRL passes to rewards as keywords."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from vreward.frames.convert import Sizes


def image_sizes(columns: Mapping[str, Any], n: int) -> Sizes | None:
    """(widths, heights), each (n,) float64, of each row's image from the dataset columns, or None.

    Read from ``width`` and ``height``, else ``image_size`` (``(width, height)``), else ``image`` (a PIL image,
    a ``{"width", "height"}`` dict, a ``{"path" | "bytes"}`` dict or a path, read with pillow), else ``images``
    (the first image of each row).
    """
    if "width" in columns and "height" in columns:
        return _as_sizes(columns["width"], n, "width"), _as_sizes(columns["height"], n, "height")
    if "image_size" in columns:
        sizes = [_size_of(v, i, "image_size") for i, v in enumerate(_rows(columns["image_size"], n, "image_size"))]
    elif "image" in columns:
        sizes = [_size_of(v, i, "image") for i, v in enumerate(_rows(columns["image"], n, "image"))]
    elif "images" in columns:
        sizes = [_size_of(v[0] if isinstance(v, (list, tuple)) and v else v, i, "images")
                 for i, v in enumerate(_rows(columns["images"], n, "images"))]
    else:
        return None
    return np.array([w for w, _ in sizes], float), np.array([h for _, h in sizes], float)


def _rows(values: Any, n: int, name: str) -> list:
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__len__") or len(values) != n:
        raise ValueError(f"column `{name}` must be a list with one entry per completion ({n})")
    return list(values)


def _as_sizes(values: Any, n: int, name: str) -> np.ndarray:
    arr = np.asarray(_rows(values, n, name), dtype=float)
    if arr.shape != (n,) or not (np.isfinite(arr).all() and (arr > 0).all()):
        raise ValueError(f"column `{name}` must hold one positive number per completion")
    return arr


def _size_of(value: Any, row: int, name: str) -> tuple[float, float]:
    """(width, height) from a PIL image, a {width, height} dict, a (width, height) pair, or an image path."""
    size = getattr(value, "size", None)
    if isinstance(size, tuple) and len(size) == 2:
        return float(size[0]), float(size[1])
    if isinstance(value, Mapping):
        if "width" in value and "height" in value:
            return float(value["width"]), float(value["height"])
        value = value.get("path") or value.get("bytes")
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return float(value[0]), float(value[1])
    if isinstance(value, (str, bytes)):
        try:
            import io

            from PIL import Image
        except ImportError:
            raise ValueError(f"row {row}: reading the size of `{name}` needs pillow (pip install pillow)") from None
        try:
            with Image.open(value if isinstance(value, str) else io.BytesIO(value)) as im:
                return float(im.size[0]), float(im.size[1])
        except OSError as exc:
            raise ValueError(f"row {row}: cannot read image size from `{name}`: {exc}") from None
    raise ValueError(f"row {row}: cannot read an image size from `{name}` ({type(value).__name__})")
