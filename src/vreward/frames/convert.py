"""Moving boxes between frames: ground truth into the model's frame, model boxes into image pixels.

Ragged layout: row ``i`` of a batch owns ``boxes[offsets[i]:offsets[i + 1]]`` (``boxes`` (N, 4) float64
``x1, y1, x2, y2``; ``offsets`` (B + 1,) int64). Image sizes are ``(widths, heights)``, two (B,) float64
arrays (see :func:`vreward.frames.image_sizes`). A frame of ``None`` means "the same as the other side".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vreward.frames.resize import QWEN25VL_MAX_PIXELS, QWEN25VL_MIN_PIXELS, smart_resize
from vreward.frames.table import frame_spec

Sizes = tuple[np.ndarray, np.ndarray]
SIZE_COLUMNS = "`width` and `height`, `image_size` (width, height), `image` or `images`"


def resolve_frames(coords: str | None, solution_coords: str | None) -> tuple[str | None, str | None]:
    """(model frame, ground-truth frame) with ``None`` filled in from the other side."""
    return (coords if coords is not None else solution_coords,
            solution_coords if solution_coords is not None else coords)


def needs_conversion(coords: str | None, solution_coords: str | None) -> bool:
    """Whether ground truth in ``solution_coords`` must be mapped to be compared with boxes in ``coords``."""
    return coords is not None and solution_coords is not None and coords != solution_coords


def needs_image_size(*frames: str | None) -> bool:
    """Whether any of ``frames`` depends on the image's size (pixel frames)."""
    return any(f is not None and frame_spec(f).needs_image_size for f in frames)


def frame_extents(frame: str, sizes: Sizes | None, n: int, min_pixels: int = QWEN25VL_MIN_PIXELS,
                  max_pixels: int = QWEN25VL_MAX_PIXELS) -> Sizes:
    """Per-row extents ``(ex, ey)``, each (n,): a coordinate ``x`` of ``frame`` is ``x / ex`` of the image width."""
    spec = frame_spec(frame)
    if spec.extent == "fixed":
        return np.full(n, spec.fixed_extent), np.full(n, spec.fixed_extent)
    if sizes is None:
        raise ValueError(f"coordinate frame {frame!r} needs each image's size: pass the dataset column(s) "
                         f"{SIZE_COLUMNS}")
    widths, heights = sizes
    if spec.extent == "image":
        return widths, heights
    resized = [smart_resize(int(h), int(w), min_pixels=min_pixels, max_pixels=max_pixels)
               for w, h in zip(widths.tolist(), heights.tolist())]
    return np.array([w for _, w in resized], float), np.array([h for h, _ in resized], float)


def scale_boxes(boxes: np.ndarray, offsets: np.ndarray, src: Sizes, dst: Sizes) -> np.ndarray:
    """Ragged boxes from a frame with per-row extents ``src`` to one with extents ``dst``: ``x * dst / src``."""
    rows = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    fx = np.stack([dst[0], dst[1], dst[0], dst[1]], axis=1)[rows]
    fs = np.stack([src[0], src[1], src[0], src[1]], axis=1)[rows]
    return boxes * fx / fs


def convert_boxes(boxes: np.ndarray, offsets: np.ndarray, from_frame: str, to_frame: str, sizes: Sizes | None,
                  min_pixels: int = QWEN25VL_MIN_PIXELS, max_pixels: int = QWEN25VL_MAX_PIXELS) -> np.ndarray:
    """Ragged boxes of ``from_frame`` written in ``to_frame`` (the same array when the frames are equal)."""
    if from_frame == to_frame:
        return boxes
    n = len(offsets) - 1
    src = frame_extents(from_frame, sizes, n, min_pixels, max_pixels)
    dst = frame_extents(to_frame, sizes, n, min_pixels, max_pixels)
    return scale_boxes(boxes, offsets, src, dst)


def to_pixels(boxes: np.ndarray, offsets: np.ndarray, frame: str, sizes: Sizes,
              min_pixels: int = QWEN25VL_MIN_PIXELS, max_pixels: int = QWEN25VL_MAX_PIXELS) -> np.ndarray:
    """Ragged model boxes of ``frame`` in pixels of the original images (for metrics and drawing)."""
    if frame == "pixels":
        return boxes
    n = len(offsets) - 1
    src = frame_extents(frame, sizes, n, min_pixels, max_pixels)
    return scale_boxes(boxes, offsets, src, sizes)


def pixels_per_unit(frame: str, sizes: Sizes, n: int, min_pixels: int = QWEN25VL_MIN_PIXELS,
                    max_pixels: int = QWEN25VL_MAX_PIXELS) -> Sizes:
    """Per-row image pixels per unit of ``frame`` along x and y (areas scale by their product)."""
    ex, ey = frame_extents(frame, sizes, n, min_pixels, max_pixels)
    return sizes[0] / ex, sizes[1] / ey


def truth_in_model_frame(boxes: np.ndarray, offsets: np.ndarray, coords: str | None, solution_coords: str | None,
                         sizes: Sizes | None, min_pixels: int = QWEN25VL_MIN_PIXELS,
                         max_pixels: int = QWEN25VL_MAX_PIXELS) -> tuple[np.ndarray, Sizes | None]:
    """Ground-truth boxes mapped into the model's frame, and the model frame's per-row extents.

    The boxes come back unchanged when no conversion is needed (a frame is ``None`` or both are equal); the
    extents are ``None`` when the model's frame is not known (``coords`` is ``None``).
    """
    n = len(offsets) - 1
    extents = frame_extents(coords, sizes, n, min_pixels, max_pixels) if coords is not None else None
    if not needs_conversion(coords, solution_coords):
        return boxes, extents
    src = frame_extents(solution_coords, sizes, n, min_pixels, max_pixels)
    return scale_boxes(boxes, offsets, src, extents), extents


def box_to_frame(box: Sequence[float], width: int, height: int, frame: str = "qwen2vl",
                 min_pixels: int = QWEN25VL_MIN_PIXELS, max_pixels: int = QWEN25VL_MAX_PIXELS) -> list:
    """An ``[x1, y1, x2, y2]`` box in pixels of a ``width`` x ``height`` image, written in ``frame`` the way a
    model of that frame writes it (for ground truth and training targets; Visual-RFT's data uses ``qwen2vl``).

    Integer frames round (``round(v / size * extent)``); ``unit`` keeps 3 decimals. Results are clipped to the
    frame, and a box that rounding collapses (``x2 <= x1``) is widened by one step so it stays non-degenerate.
    """
    sizes = (np.array([float(width)]), np.array([float(height)]))
    ex, ey = (float(e[0]) for e in frame_extents(frame, sizes, 1, min_pixels, max_pixels))
    x1, y1, x2, y2 = (float(v) for v in box)
    if frame == "unit":
        out = [round(min(max(v / s, 0.0), 1.0), 3) for v, s in ((x1, width), (y1, height), (x2, width),
                                                                  (y2, height))]
        step = 0.001
    else:
        scaled = [x1, y1, x2, y2] if frame == "pixels" else [x1 / width * ex, y1 / height * ey, x2 / width * ex,
                                                               y2 / height * ey]
        out = [min(max(round(v), 0), int(e)) for v, e in zip(scaled, (ex, ey, ex, ey))]
        step = 1
    for lo, hi, extent in ((0, 2, ex), (1, 3, ey)):
        if out[hi] <= out[lo]:
            if out[lo] + step <= extent:
                out[hi] = round(out[lo] + step, 3) if frame == "unit" else out[lo] + step
            else:
                out[lo] = round(out[hi] - step, 3) if frame == "unit" else out[hi] - step
    return out

