"""Segmentation rewards: the IoU of the answer's polygon with the true mask, or a point inside it.

The true mask is the ``solution``: a COCO RLE (``{"size": [h, w], "counts": ...}``, compressed or not) or
polygons in image pixels (``[x1, y1, x2, y2, x3, y3, ...]`` or a list of them, with the image's ``width`` and
``height`` columns), as a value or as its JSON text. The answer's region is its polygon: a bracketed list of at
least three ``x, y`` vertices (flat, ``[x1, y1, x2, y2, x3, y3, ...]``, or as points ``[[x1, y1], [x2, y2],
...]``), else its first box (rasterized), in the model's frame (``coords``; pixels by default). Both are
rasterized by pycocotools (:mod:`vreward.masks`).

* ``answer="mask"``: ``|A ∩ M| / |A ∪ M|``, in [0, 1] (mask IoU, LISA's gIoU per sample). A point answer is
  not a region (``no_shape``): a click inside the mask cannot earn the IoU of a perfect mask.
* ``answer="point"``: 1 when the answer's first point (or its first box's centre) lies inside the mask
  (point-in-mask, for SAM-style point prompts), else 0.

A region covering the whole image earns the mask's share of the image, no more.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson

from vreward.frames import frame_extents
from vreward.masks import MaskRuns, Polygons, read_mask, rles
from vreward.parsing import AnswerBatch
from vreward.reasons import REASON_CODE, ZeroReason
from vreward.rewards.base import RewardBatch, Scored, TextReward, answer_codes
from vreward.rewards.points import answer_clicks
from vreward.rewards.reading import Values, read_values
from vreward.rewards.settings import MaskSettings
from vreward.solution import distinct_solutions, raise_first

MAX_VERTICES = 2048  # vertices of one polygon of an answer
_NO_SHAPE = REASON_CODE[ZeroReason.NO_SHAPE.value]
_NO_OVERLAP = REASON_CODE[ZeroReason.NO_MASK_OVERLAP.value]
_OUTSIDE = REASON_CODE[ZeroReason.OUTSIDE_MASK.value]
_NO_POINT = REASON_CODE[ZeroReason.NO_POINT.value]


def answer_polygons(groups: Values) -> Values:
    """Each answer's polygons (flat vertex lists) from its number groups: the groups of an even number of at least 6
    numbers (3 vertices; the first MAX_VERTICES of each), else its 2-number groups as the vertices of one polygon
    (when there are at least 3; the first MAX_VERTICES), else its first 4-number group as a box's polygon."""
    n = len(groups.offsets) - 1
    starts = np.flatnonzero(groups.first)
    sizes = np.diff(np.append(starts, len(groups.values)))
    row = np.searchsorted(groups.offsets, starts, side="right") - 1
    flat = (sizes >= 6) & (sizes % 2 == 0)
    has_flat = np.bincount(row[flat], minlength=n) > 0
    pair = (sizes == 2) & ~has_flat[row]
    has_pairs = np.bincount(row[pair], minlength=n) >= 3
    pair &= has_pairs[row]
    box = (sizes == 4) & ~has_flat[row] & ~has_pairs[row]
    box = np.flatnonzero(box)[np.unique(row[box], return_index=True)[1]]  # the first box of each row
    # every value of every polygon: (the polygon's key, the value's place in it, where it is in ``groups``); a
    # polygon's key is where its first group starts, so that sorting keeps the rows and their polygons in order
    length = np.minimum(sizes[flat], 2 * MAX_VERTICES)
    flat_place = _places(length)
    pair = np.flatnonzero(pair)
    rank = np.arange(len(pair)) - np.searchsorted(row[pair], row[pair])  # each pair's place among its row's pairs
    pair = pair[rank < MAX_VERTICES]
    rank = rank[rank < MAX_VERTICES]
    row_first = starts[pair][np.searchsorted(row[pair], row[pair])]
    key = np.concatenate([np.repeat(starts[flat], length), np.repeat(row_first, 2), np.repeat(starts[box], 8)])
    place = np.concatenate([flat_place, (2 * rank[:, None] + np.arange(2)).reshape(-1),
                            np.tile(np.arange(8), len(box))])
    source = np.concatenate([np.repeat(starts[flat], length) + flat_place,
                             (starts[pair][:, None] + np.arange(2)).reshape(-1),
                             (starts[box][:, None] + np.array([0, 1, 2, 1, 2, 3, 0, 3])).reshape(-1)])
    order = np.lexsort((place, key))
    value_row = np.searchsorted(groups.offsets, key[order], side="right") - 1
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(value_row, minlength=n), out=offsets[1:])
    return Values(groups.values[source[order]], offsets, place[order] == 0)


def _places(lengths: np.ndarray) -> np.ndarray:
    """``0 ... lengths[k] - 1`` for every ``k``, concatenated."""
    return np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)


def _mask_value(solution: Any) -> Any:
    """A solution as a mask value: JSON text decoded (orjson; the standard library for what orjson refuses, such
    as NaN, so that both read the same)."""
    if not isinstance(solution, str):
        return solution
    try:
        return orjson.loads(solution)
    except orjson.JSONDecodeError:
        return json.loads(solution)


class MaskIoUReward(TextReward):
    """Mask IoU of the answer's polygon, or point-in-mask (see the module docstring)."""

    default_name = "mask_iou_reward"
    settings_class = MaskSettings
    settings: MaskSettings

    def _score_answers(self, answers: AnswerBatch, kwargs: dict[str, Any]) -> Scored:
        n = len(answers)
        truths, truth_of, problems = self._truths(kwargs, n)
        codes = answer_codes(answers)
        rows = np.flatnonzero((codes == 0) & (truth_of >= 0))
        sizes = np.array([t["size"] for t in truths], np.int64).reshape(-1, 2)[truth_of[rows]]  # (height, width)
        sx, sy = self._pixels_per_unit(sizes[:, 1], sizes[:, 0])
        scores = np.zeros(n)
        overlap = np.zeros((2, n))  # intersection and union in pixels (mask answers), for cIoU
        if self.settings.answer == "point":
            clicks = answer_clicks(answers, "centre").xy[rows]
            has = ~np.isnan(clicks[:, 0])
            codes[rows[~has]] = _NO_POINT
            rows, sizes, sx, sy, clicks = rows[has], sizes[has], sx[has], sy[has], clicks[has]
            col, row = np.floor(clicks[:, 0] * sx), np.floor(clicks[:, 1] * sy)
            inside = (col >= 0) & (col < sizes[:, 1]) & (row >= 0) & (row < sizes[:, 0])
            inside[inside] = MaskRuns.of(truths).contains(truth_of[rows][inside], row[inside], col[inside])
            scores[rows] = inside
            codes[rows[~inside]] = _OUTSIDE
            return Scored(scores, codes, overlap, problems)
        polygons = answer_polygons(read_values(answers.answers, "groups"))
        shaped = polygons.counts[rows] > 0
        codes[rows[~shaped]] = _NO_SHAPE
        rows, sizes, sx, sy = rows[shaped], sizes[shaped], sx[shaped], sy[shaped]
        drawn = rles(_in_pixels(polygons, rows, sx, sy, sizes))
        k = np.arange(len(rows))
        inter, area_pred, area_truth = MaskRuns.of(drawn + truths).overlaps(k, len(drawn) + truth_of[rows])
        union = (area_pred + area_truth - inter).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            scores[rows] = np.where(union > 0, inter / union, 0.0)
        overlap[:, rows] = inter, union
        codes[rows[scores[rows] <= 0.0]] = _NO_OVERLAP
        return Scored(scores, codes, overlap, problems)

    def _truths(self, columns: Mapping[str, Any], n: int) -> tuple[list[dict], np.ndarray, dict[int, str]]:
        """The distinct true masks (compressed RLEs) of a batch, each row's mask among them (-1 where it cannot be
        read), and the problem of each such row. A polygon mask is read per image size."""
        from vreward.frames import image_sizes

        distinct = distinct_solutions(columns.get("solution"), n)
        try:
            sizes = image_sizes(columns, n)
        except ValueError:
            sizes = None
        if sizes is None:
            keys = np.stack([distinct.rows, np.zeros(n, np.int64), np.zeros(n, np.int64)], 1)
        else:
            keys = np.stack([distinct.rows, sizes[1].astype(np.int64), sizes[0].astype(np.int64)], 1)
        unique, inverse = np.unique(keys, axis=0, return_inverse=True)
        masks, bad = [], {}
        for k, (value, h, w) in enumerate(unique.tolist()):
            try:
                masks.append(read_mask(_mask_value(distinct.values[value]), None if sizes is None else (h, w), "mask"))
            except (ValueError, TypeError) as exc:
                bad[k] = str(exc)[:200]
                masks.append(None)
        read = rles([m for m in masks if m is not None])
        index = np.cumsum([m is not None for m in masks]) - 1
        truth_of = np.where(np.isin(np.arange(len(masks)), list(bad)), -1, index)[inverse.reshape(-1)]
        problems = {i: bad[k] for i, k in enumerate(inverse.reshape(-1).tolist()) if k in bad} if bad else {}
        if self.settings.strict and problems:
            raise_first(problems)
        return read, truth_of, problems

    def _pixels_per_unit(self, w: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Image pixels per unit of the model's frame (1 when no frame is given: the answer is in pixels)."""
        if self.settings.coords is None:
            return np.ones(len(w)), np.ones(len(w))
        sizes = (w.astype(np.float64), h.astype(np.float64))
        ex, ey = frame_extents(self.settings.coords, sizes, len(w), self.settings.min_pixels, self.settings.max_pixels)
        return w / ex, h / ey

    def signals(self, result: RewardBatch) -> dict[str, float]:
        return {"no_shape_share": float((result.codes == _NO_SHAPE).mean())} if len(result.codes) else {}


def _in_pixels(polygons: Values, rows: np.ndarray, sx: np.ndarray, sy: np.ndarray,
               sizes: np.ndarray) -> list[Polygons]:
    """The polygons of ``rows`` in image pixels (``sizes`` (height, width) per row), clipped to [-1, the image's
    longer side + 1] so the rasterizer never sees huge numbers."""
    lo, hi = polygons.offsets[rows], polygons.offsets[rows + 1]
    take = np.repeat(lo, hi - lo) + _places(hi - lo)
    of_row = np.repeat(np.arange(len(rows)), hi - lo)
    first = polygons.first[take]
    starts = np.flatnonzero(first)
    place = np.arange(len(take)) - starts[np.cumsum(first) - 1]
    scale = np.where(place % 2 == 0, sx[of_row], sy[of_row])
    values = np.clip(polygons.values[take] * scale, -1.0, (sizes.max(axis=1) + 1.0)[of_row])
    flat = values.tolist()  # pycocotools reads lists faster than arrays
    bounds = starts.tolist() + [len(flat)]
    pieces = [flat[a:b] for a, b in zip(bounds, bounds[1:])]
    ends = np.cumsum(np.bincount(of_row[starts], minlength=len(rows))).tolist()
    return [Polygons(pieces[a:b], h, w) for a, b, (h, w) in zip([0] + ends[:-1], ends, sizes.tolist())]


def make_mask_iou_reward(settings: MaskSettings | None = None, **options: Any) -> MaskIoUReward:
    """Mask IoU reward with options (see :class:`MaskSettings`)."""
    return MaskIoUReward.from_options(settings, **options)


mask_iou_reward = make_mask_iou_reward()
