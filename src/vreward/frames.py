"""Coordinate frames: where the model's numbers live, and how to map ground truth into them.

* ``"qwen2vl"``: integers 0-1000 relative to the image (Qwen2-VL's grounding convention);
* ``"qwen25vl"``: absolute pixels of the image as resized by the Qwen2.5-VL processor (``smart_resize``);
* ``"pixels"``: absolute pixels of the original image;
* ``"unit"``: floats 0-1 relative to the image.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

Frame = Literal["qwen2vl", "qwen25vl", "pixels", "unit"]
SIZED_FRAMES = ("qwen25vl", "pixels")

# Defaults of the released Qwen2.5-VL checkpoints' preprocessor_config.json.
QWEN25VL_MIN_PIXELS = 3136
QWEN25VL_MAX_PIXELS = 12845056


def smart_resize(height: int, width: int, factor: int = 28, min_pixels: int = QWEN25VL_MIN_PIXELS,
                 max_pixels: int = QWEN25VL_MAX_PIXELS) -> tuple[int, int]:
    """The Qwen2-VL / Qwen2.5-VL processor's resize rule: (height, width) of the image the model sees."""
    if min(height, width) <= 0:
        raise ValueError(f"image size must be positive, got height={height}, width={width}")
    if max(height, width) / min(height, width) > 200:
        ratio = max(height, width) / min(height, width)
        raise ValueError(f"absolute aspect ratio must be smaller than 200, got {ratio}")
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def frame_extent(frame: Frame, sizes: tuple[np.ndarray, np.ndarray] | None, n: int,
                 min_pixels: int = QWEN25VL_MIN_PIXELS, max_pixels: int = QWEN25VL_MAX_PIXELS,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per-row extents (ex, ey) of ``frame``: a coordinate ``x`` in it is ``x / ex`` of the image width."""
    if frame == "qwen2vl":
        return np.full(n, 1000.0), np.full(n, 1000.0)
    if frame == "unit":
        return np.ones(n), np.ones(n)
    if sizes is None:
        raise ValueError(f"coordinate frame {frame!r} needs each image's size: pass the dataset column(s) "
                         f"{SIZE_COLUMNS}")
    widths, heights = sizes
    if frame == "pixels":
        return widths, heights
    resized = [smart_resize(int(h), int(w), min_pixels=min_pixels, max_pixels=max_pixels)
               for w, h in zip(widths.tolist(), heights.tolist())]
    return np.array([w for _, w in resized], float), np.array([h for h, _ in resized], float)


def convert_boxes(boxes: np.ndarray, offsets: np.ndarray, src: tuple[np.ndarray, np.ndarray],
                  dst: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Map ragged boxes from the frame with extents ``src`` to the frame with extents ``dst``."""
    rows = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    fx = np.stack([dst[0], dst[1], dst[0], dst[1]], axis=1)[rows]
    fs = np.stack([src[0], src[1], src[0], src[1]], axis=1)[rows]
    return boxes * fx / fs


SIZE_COLUMNS = "`width` and `height`, `image_size` (width, height), `image` or `images`"


def image_sizes(columns: Mapping[str, Any], n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(widths, heights) of each row's image from the dataset columns TRL passes as keywords, or None."""
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
