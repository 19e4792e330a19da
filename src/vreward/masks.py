"""Masks as COCO run-length encodings (RLE): read from RLE dicts, polygons and boxes (pycocotools rasterizes), and
compared by their runs. The one owner of masks for the segmentation reward (:mod:`vreward.rewards.masks`) and the
grounding metrics (:mod:`vreward.evaluate.grounding`).

A mask value is an RLE dict (``{"size": [h, w], "counts": ...}``, ``counts`` compressed bytes or text, or a list of
uncompressed runs) or polygons in image pixels (``[x1, y1, x2, y2, x3, y3, ...]`` or a list of them).
:func:`read_mask` checks one; :func:`rles` rasterizes many at once (every polygon of one image size in one
pycocotools call); :class:`MaskRuns` decodes compressed RLEs into runs (``vreward._rle``) for overlaps and pixel
lookups without rasterizing again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vreward.parsing import RowItems, resumed_scan


@dataclass(frozen=True)
class Polygons:
    """Polygons of an ``height`` x ``width`` image (image pixels, each a flat ``x, y`` list of at least 3 points),
    waiting to be rasterized by :func:`rles` (a mask of several polygons is their union)."""

    polygons: list[Any]
    height: int
    width: int


Mask = dict | Polygons  # a compressed RLE, or polygons to rasterize


def rle_total(counts: bytes) -> int:
    """Pixels covered by a compressed COCO RLE string (pycocotools' ``rleFrString`` decoding).

    Raises ValueError for characters outside the encoding, a truncated number, or a negative run length.
    """
    runs: list[int] = []
    p, n = 0, len(counts)
    while p < n:
        x, k, more = 0, 0, True
        while more:
            if p >= n:
                raise ValueError("truncated counts string")
            c = counts[p] - 48
            if not 0 <= c < 64:
                raise ValueError(f"invalid character {chr(counts[p])!r} in counts")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(runs) > 2:
            x += runs[-2]
        if x < 0:
            raise ValueError("negative run length in counts")
        runs.append(x)
    return sum(runs)


def read_mask(value: Any, size: tuple[int, int] | None, where: str) -> Mask:
    """A mask value checked: an RLE dict as a compressed RLE, polygons as :class:`Polygons` (``size`` (height,
    width) is needed for polygons and checked against an RLE's own ``size``). Raises ValueError naming ``where``
    and the problem."""
    if isinstance(value, dict):
        return _read_rle(value, size, where)
    if isinstance(value, (list, tuple)):
        polys = [value] if value and all(isinstance(v, (int, float)) for v in value) else list(value)
        clean = [_polygon(poly, where) for poly in polys]
        if not clean:
            raise ValueError(f"{where}: empty polygon list")
        if size is None:
            raise ValueError(f"{where}: a polygon mask needs the image size (`width` and `height` columns)")
        return Polygons(clean, *size)
    raise ValueError(f"{where}: expected a COCO RLE dict or a polygon list, got {type(value).__name__}")


def _polygon(poly: Any, where: str) -> list[float]:
    """A polygon's coordinates as floats (a ValueError unless at least 3 points of finite numbers)."""
    if isinstance(poly, (list, tuple)) and len(poly) >= 6 and not len(poly) % 2:
        try:
            if set(map(type, poly)) <= {int, float}:  # the usual case, at C speed
                clean = list(map(float, poly))
            elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in poly):
                clean = [float(v) for v in poly]
            else:
                clean = []
        except OverflowError:  # an integer beyond any float
            clean = []
        if clean and all(map(math.isfinite, clean)):
            return clean
    raise ValueError(f"{where}: a polygon is a list of at least 3 (x, y) points of finite numbers")


def _read_rle(value: dict, size: tuple[int, int] | None, where: str) -> dict:
    from pycocotools import mask as mask_utils

    if "counts" not in value or "size" not in value:
        raise ValueError(f"{where}: an RLE mask needs `counts` and `size`")
    try:
        h, w = (int(v) for v in value["size"])
    except (TypeError, ValueError):
        raise ValueError(f"{where}: RLE `size` must be [height, width], got {value['size']!r}") from None
    if h <= 0 or w <= 0:
        raise ValueError(f"{where}: RLE `size` must be positive, got {[h, w]}")
    if size is not None and (h, w) != tuple(size):
        raise ValueError(f"{where}: RLE size [height, width] {[h, w]} differs from the record's image size "
                         f"{list(size)}")
    counts = value["counts"]
    try:
        if isinstance(counts, list):
            if not all(isinstance(c, int) and c >= 0 for c in counts) or sum(counts) != h * w:
                raise ValueError("uncompressed counts must be non-negative integers summing to height * width")
            return mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w)
        if isinstance(counts, str):
            counts = counts.encode("ascii")
        if not isinstance(counts, bytes):
            raise ValueError(f"counts must be a string or a list, got {type(counts).__name__}")
        total = rle_total(counts)  # pycocotools' C code trusts the string: check it before any use
        if total != h * w:
            raise ValueError(f"counts cover {total} pixels, not height * width = {h * w}")
        return {"size": [h, w], "counts": counts}
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise ValueError(f"{where}: invalid RLE: {exc}") from None


def rles(masks: Sequence[Mask]) -> list[dict]:
    """Compressed RLEs of ``masks``: RLEs as they are, polygons rasterized by pycocotools, all polygons of one image
    size in one call (a mask of several polygons is their union, pycocotools' ``merge``)."""
    from pycocotools import mask as mask_utils

    out: list[dict | None] = [m if isinstance(m, dict) else None for m in masks]
    by_size: dict[tuple[int, int], list[int]] = {}
    for k, m in enumerate(masks):
        if isinstance(m, Polygons):
            by_size.setdefault((m.height, m.width), []).append(k)
    for (h, w), ks in by_size.items():
        drawn = iter(mask_utils.frPyObjects([p for k in ks for p in masks[k].polygons], h, w))
        for k in ks:
            parts = [next(drawn) for _ in masks[k].polygons]
            out[k] = parts[0] if len(parts) == 1 else mask_utils.merge(parts)
    return out  # type: ignore[return-value]


def to_rle(value: Any, size: tuple[int, int] | None, where: str) -> dict:
    """A compressed COCO RLE from an RLE dict (``counts`` a string or a list) or polygons (image pixels).

    ``size`` (height, width) is needed for polygons and checked against an RLE's own ``size``.
    """
    return rles([read_mask(value, size, where)])[0]


def box_rle(box: np.ndarray, h: int, w: int) -> dict:
    """The box ``(x1, y1, x2, y2)`` (image pixels) rasterized as a COCO RLE of an ``h`` x ``w`` image.

    pycocotools' rasterization (``frPyObjects`` of the box as ``[x, y, width, height]``); a degenerate or
    non-finite box is an empty mask; parts outside the image are clipped.
    """
    from pycocotools import mask as mask_utils

    x1, y1, x2, y2 = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)) or x2 <= x1 or y2 <= y1:
        x1 = y1 = x2 = y2 = 0.0
    # clip far-away coordinates so the polygon rasterizer never sees huge numbers
    x1, x2 = (min(max(v, -1.0), w + 1.0) for v in (x1, x2))
    y1, y2 = (min(max(v, -1.0), h + 1.0) for v in (y1, y2))
    return mask_utils.frPyObjects(np.array([[x1, y1, x2 - x1, y2 - y1]], np.float64), h, w)[0]


@dataclass(frozen=True)
class MaskRuns:
    """Compressed RLEs decoded into runs (``vreward._rle``): mask ``k`` owns ``runs[offsets[k]:offsets[k + 1]]``,
    an image of ``heights[k]`` rows."""

    runs: np.ndarray
    offsets: np.ndarray
    heights: np.ndarray

    @classmethod
    def of(cls, masks: Sequence[dict]) -> MaskRuns:
        """The runs of compressed RLEs (pycocotools' or checked by :func:`read_mask`; a ValueError for counts
        that do not decode)."""
        from vreward._rle import decode_into

        counts = [m["counts"] if isinstance(m["counts"], bytes) else m["counts"].encode("ascii") for m in masks]
        lengths = np.fromiter(map(len, counts), np.int64, len(counts))
        ends = np.cumsum(lengths)
        arr = np.frombuffer(b"".join(counts), np.uint8)
        # a run takes a character at least: the runs fit in as many slots as there are characters
        found = resumed_scan(lambda row, out: decode_into(arr, ends - lengths, ends, row, out.offsets, out.flags,
                                                          *out.items),
                             RowItems.allocate(len(masks), max(16, int(lengths.sum())), ((), np.int64)),
                             lambda out: out.offsets, "RLE decoder")
        if not found.flags.all():  # flags: valid counts
            raise ValueError(f"invalid RLE counts of mask {int(np.argmin(found.flags))}")
        heights = np.array([int(m["size"][0]) for m in masks], np.int64)
        return cls(found.items[0][:int(found.offsets[-1])], found.offsets, heights)

    def overlaps(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pixels of the intersection of masks ``a[k]`` and ``b[k]``, and of each, (K,) each."""
        from vreward._rle import overlaps_into

        a, b = np.ascontiguousarray(a, np.int64), np.ascontiguousarray(b, np.int64)
        inter, area_a, area_b = (np.empty(len(a), np.int64) for _ in range(3))
        if overlaps_into(self.runs, self.offsets, a, b, inter, area_a, area_b) != len(a):
            raise ValueError("mask index out of range")
        return inter, area_a, area_b

    def contains(self, masks: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Whether pixel (``rows[k]``, ``cols[k]``) lies in mask ``masks[k]`` (the pixel inside its image)."""
        from vreward._rle import pixels_into

        masks = np.ascontiguousarray(masks, np.int64)
        index = np.ascontiguousarray(cols, np.int64) * self.heights[masks] + np.asarray(rows, np.int64)
        out = np.empty(len(masks), np.bool_)
        if pixels_into(self.runs, self.offsets, masks, index, out) != len(masks):
            raise ValueError("mask index out of range")
        return out
