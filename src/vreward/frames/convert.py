"""Moving boxes between frames: ground truth into the model's frame, model boxes into image pixels.

Ragged layout: row ``i`` of a batch owns ``boxes[offsets[i]:offsets[i + 1]]`` (``boxes`` (N, 4) float64
``x1, y1, x2, y2``; ``offsets`` (B + 1,) int64). Image sizes are ``(widths, heights)``, two (B,) float64
arrays (see :func:`vreward.frames.image_sizes`). A frame of ``None`` means "the same as the other side".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from vreward.frames.resize import QWEN25VL_MAX_PIXELS, QWEN25VL_MIN_PIXELS, smart_resize
from vreward.frames.table import FrameSpec, frame_spec, same_frame

Sizes = tuple[np.ndarray, np.ndarray]
SIZE_COLUMNS = "`width` and `height`, `image_size` (width, height), `image` or `images`"


def resolve_frames(coords: str | None, solution_coords: str | None) -> tuple[str | None, str | None]:
    """(model frame, ground-truth frame) with ``None`` filled in from the other side."""
    return (coords if coords is not None else solution_coords,
            solution_coords if solution_coords is not None else coords)


def needs_conversion(coords: str | None, solution_coords: str | None) -> bool:
    """Whether ground truth in ``solution_coords`` must be mapped to be compared with boxes in ``coords``."""
    return coords is not None and solution_coords is not None and not same_frame(coords, solution_coords)


def needs_image_size(*frames: str | None) -> bool:
    """Whether any of ``frames`` depends on the image's size (pixel frames)."""
    return any(f is not None and frame_spec(f).needs_image_size for f in frames)


def frame_extents(frame: str, sizes: Sizes | None, n: int, min_pixels: int = QWEN25VL_MIN_PIXELS,
                  max_pixels: int = QWEN25VL_MAX_PIXELS) -> Sizes:
    """Per-row extents ``(ex, ey)``, each (n,): a coordinate ``x`` of ``frame`` is ``(x + ox) / ex`` of the image
    width, ``(ox, oy)`` its :func:`frame_offsets`."""
    spec = frame_spec(frame)
    if spec.extent == "fixed":
        return np.full(n, spec.fixed_extent), np.full(n, spec.fixed_extent)
    widths, heights = _sizes_for(frame, sizes)
    if spec.extent == "image":
        return widths, heights
    if spec.extent == "padded":
        side = np.maximum(widths, heights)
        return spec.fixed_extent * widths / side, spec.fixed_extent * heights / side
    resized = [smart_resize(int(h), int(w), min_pixels=min_pixels, max_pixels=max_pixels)
               for w, h in zip(widths.tolist(), heights.tolist())]
    return np.array([w for _, w in resized], float), np.array([h for h, _ in resized], float)


def frame_offsets(frame: str, sizes: Sizes | None, n: int) -> Sizes | None:
    """Per-row offsets ``(ox, oy)`` in frame units, each (n,), or None for a frame whose 0 is the image's edge.

    Bins read at their centre have offset 0.5; the padded square's offset is minus the padding before the image,
    ``-extent * (side - width) / (2 * side)``.
    """
    spec = frame_spec(frame)
    if spec.extent == "padded":
        widths, heights = _sizes_for(frame, sizes)
        side = np.maximum(widths, heights)
        return (-spec.fixed_extent * (side - widths) / (2.0 * side),
                -spec.fixed_extent * (side - heights) / (2.0 * side))
    if spec.offset == 0.0:
        return None
    return np.full(n, spec.offset), np.full(n, spec.offset)


def _sizes_for(frame: str, sizes: Sizes | None) -> Sizes:
    if sizes is None:
        raise ValueError(f"coordinate frame {frame!r} needs each image's size: pass the dataset column(s) "
                         f"{SIZE_COLUMNS}")
    return sizes


def scale_boxes(boxes: np.ndarray, offsets: np.ndarray, src: Sizes, dst: Sizes) -> np.ndarray:
    """Ragged boxes from a frame with per-row extents ``src`` to one with extents ``dst``: ``x * dst / src``."""
    rows = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    fx = np.stack([dst[0], dst[1], dst[0], dst[1]], axis=1)[rows]
    fs = np.stack([src[0], src[1], src[0], src[1]], axis=1)[rows]
    return boxes * fx / fs


def remap_boxes(boxes: np.ndarray, offsets: np.ndarray, src: Sizes, dst: Sizes, src_offsets: Sizes | None,
                dst_offsets: Sizes | None) -> np.ndarray:
    """Ragged boxes from a frame of extents ``src`` and offsets ``src_offsets`` to one of ``dst`` /
    ``dst_offsets``: ``(x + o_src) * dst / src - o_dst`` (exactly :func:`scale_boxes` when neither has offsets)."""
    if src_offsets is None and dst_offsets is None:
        return scale_boxes(boxes, offsets, src, dst)
    n = len(offsets) - 1
    zeros = (np.zeros(n), np.zeros(n))
    rows = np.repeat(np.arange(n), np.diff(offsets))

    def per_box(pair: Sizes) -> np.ndarray:
        return np.stack([pair[0], pair[1], pair[0], pair[1]], axis=1)[rows]

    return (boxes + per_box(src_offsets or zeros)) * per_box(dst) / per_box(src) - per_box(dst_offsets or zeros)


def convert_boxes(boxes: np.ndarray, offsets: np.ndarray, from_frame: str, to_frame: str, sizes: Sizes | None,
                  min_pixels: int = QWEN25VL_MIN_PIXELS, max_pixels: int = QWEN25VL_MAX_PIXELS) -> np.ndarray:
    """Ragged boxes of ``from_frame`` written in ``to_frame`` (the same array when the frames are equal)."""
    if same_frame(from_frame, to_frame):
        return boxes
    n = len(offsets) - 1
    src = frame_extents(from_frame, sizes, n, min_pixels, max_pixels)
    dst = frame_extents(to_frame, sizes, n, min_pixels, max_pixels)
    return remap_boxes(boxes, offsets, src, dst, frame_offsets(from_frame, sizes, n),
                       frame_offsets(to_frame, sizes, n))


def to_pixels(boxes: np.ndarray, offsets: np.ndarray, frame: str, sizes: Sizes,
              min_pixels: int = QWEN25VL_MIN_PIXELS, max_pixels: int = QWEN25VL_MAX_PIXELS) -> np.ndarray:
    """Ragged model boxes of ``frame`` in pixels of the original images (for metrics and drawing)."""
    if same_frame(frame, "pixels"):
        return boxes
    n = len(offsets) - 1
    src = frame_extents(frame, sizes, n, min_pixels, max_pixels)
    return remap_boxes(boxes, offsets, src, sizes, frame_offsets(frame, sizes, n), None)


def pixels_per_unit(frame: str, sizes: Sizes, n: int, min_pixels: int = QWEN25VL_MIN_PIXELS,
                    max_pixels: int = QWEN25VL_MAX_PIXELS) -> Sizes:
    """Per-row image pixels per unit of ``frame`` along x and y (areas scale by their product)."""
    ex, ey = frame_extents(frame, sizes, n, min_pixels, max_pixels)
    return sizes[0] / ex, sizes[1] / ey


def truth_in_model_frame(boxes: np.ndarray, offsets: np.ndarray, coords: str | None, solution_coords: str | None,
                         sizes: Sizes | None, min_pixels: int = QWEN25VL_MIN_PIXELS,
                         max_pixels: int = QWEN25VL_MAX_PIXELS) -> tuple[np.ndarray, Sizes | None]:
    """Ground-truth boxes mapped into the model's frame, and the model frame's per-row extents.

    The boxes come back unchanged when no conversion is needed (a frame is ``None`` or both are the same); the
    extents are ``None`` when the model's frame is not known (``coords`` is ``None``).
    """
    n = len(offsets) - 1
    extents = frame_extents(coords, sizes, n, min_pixels, max_pixels) if coords is not None else None
    if not needs_conversion(coords, solution_coords):
        return boxes, extents
    src = frame_extents(solution_coords, sizes, n, min_pixels, max_pixels)
    return remap_boxes(boxes, offsets, src, extents, frame_offsets(solution_coords, sizes, n),
                       frame_offsets(coords, sizes, n)), extents


def box_to_frame(box: Sequence[float], width: int, height: int, frame: str = "qwen2vl",
                 min_pixels: int = QWEN25VL_MIN_PIXELS, max_pixels: int = QWEN25VL_MAX_PIXELS) -> list:
    """An ``[x1, y1, x2, y2]`` box in pixels of a ``width`` x ``height`` image, written in ``frame`` the way a
    model of that frame writes it (for ground truth and training targets; Visual-RFT's data uses ``qwen2vl``).

    Integer frames round (``round(v / size * extent)``), others keep the frame's decimals (``unit`` 3); bin frames
    write the bin holding the value. Results are clipped to the frame, and a box that rounding collapses
    (``x2 <= x1``) is widened by one step so it stays non-degenerate.
    """
    spec = frame_spec(frame)
    geometry = _geometry(frame, width, height, min_pixels, max_pixels)
    x1, y1, x2, y2 = (float(v) for v in box)
    out = [_frame_value(v, size, *axis, spec) for v, size, axis in
           ((x1, width, geometry[0]), (y1, height, geometry[1]), (x2, width, geometry[0]), (y2, height, geometry[1]))]
    step = 10.0 ** -spec.decimals if spec.decimals else 1
    for lo, hi, (_, _, top) in ((0, 2, geometry[0]), (1, 3, geometry[1])):
        if out[hi] <= out[lo]:
            if out[lo] + step <= top:
                out[hi] = round(out[lo] + step, spec.decimals) if spec.decimals else out[lo] + step
            else:
                out[lo] = round(out[hi] - step, spec.decimals) if spec.decimals else out[hi] - step
    return out


def point_to_frame(point: Sequence[float], width: int, height: int, frame: str = "qwen2vl",
                   min_pixels: int = QWEN25VL_MIN_PIXELS, max_pixels: int = QWEN25VL_MAX_PIXELS) -> list:
    """An ``[x, y]`` point in pixels of a ``width`` x ``height`` image, written in ``frame`` as
    :func:`box_to_frame` writes a corner."""
    spec = frame_spec(frame)
    gx, gy = _geometry(frame, width, height, min_pixels, max_pixels)
    x, y = (float(v) for v in point)
    return [_frame_value(x, width, *gx, spec), _frame_value(y, height, *gy, spec)]


def _geometry(frame: str, width: int, height: int, min_pixels: int,
              max_pixels: int) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """Per axis (x, y) of one image: (extent, offset, largest value) of ``frame``."""
    spec = frame_spec(frame)
    sizes = (np.array([float(width)]), np.array([float(height)]))
    extents = [float(e[0]) for e in frame_extents(frame, sizes, 1, min_pixels, max_pixels)]
    offsets = frame_offsets(frame, sizes, 1)
    shifts = [0.0, 0.0] if offsets is None else [float(o[0]) for o in offsets]
    tops = [spec.largest if spec.largest is not None else e for e in extents]
    return (extents[0], shifts[0], tops[0]), (extents[1], shifts[1], tops[1])


def _frame_value(v: float, size: float, extent: float, offset: float, top: float, spec: FrameSpec) -> float | int:
    """Pixel coordinate ``v`` of an image side of ``size`` pixels as a model of frame ``spec`` writes it."""
    value = v if spec.extent == "image" else v / size * extent - offset
    if spec.quantization == "bin":
        return int(math.floor(min(max(value + offset, 0.0), top)))
    if spec.decimals:
        return round(min(max(value, 0.0), top), spec.decimals)
    return min(max(round(value), 0), int(top))
