"""Segmentation rewards: the IoU of the answer's polygon with the true mask, or a point inside it.

The true mask is the ``solution``: a COCO RLE (``{"size": [h, w], "counts": ...}``, compressed or not) or
polygons in image pixels (``[x1, y1, x2, y2, x3, y3, ...]`` or a list of them, with the image's ``width`` and
``height`` columns), as a value or as its JSON text. The answer's region is its polygon: a bracketed list of at
least three ``x, y`` vertices (flat, ``[x1, y1, x2, y2, x3, y3, ...]``, or as points ``[[x1, y1], [x2, y2],
...]``), else its first box (rasterized), in the model's frame (``coords``; pixels by default). Both are
rasterized by pycocotools.

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

from vreward.frames import frame_extents
from vreward.parsing import ParsedBatch
from vreward.reasons import REASON_CODE, ZeroReason
from vreward.rewards.base import Reward, RewardBatch, Scored, answer_reason_codes
from vreward.rewards.points import answer_clicks
from vreward.rewards.reading import number_groups
from vreward.rewards.settings import MaskSettings
from vreward.solution import SolutionError, raise_first

MAX_VERTICES = 2048  # vertices of an answer's polygons, in all
_NO_SHAPE = REASON_CODE[ZeroReason.NO_SHAPE.value]
_NO_OVERLAP = REASON_CODE[ZeroReason.NO_MASK_OVERLAP.value]
_OUTSIDE = REASON_CODE[ZeroReason.OUTSIDE_MASK.value]
_NO_POINT = REASON_CODE[ZeroReason.NO_POINT.value]


def answer_polygons(text: str) -> list[list[float]]:
    """The polygons of an answer (flat vertex lists of at least 3 vertices), else its first box as a polygon."""
    groups = number_groups(text)
    polygons = [g[:2 * MAX_VERTICES] for g in groups if len(g) >= 6 and len(g) % 2 == 0]
    if not polygons:
        pairs = [v for g in groups if len(g) == 2 for v in g]
        if len(pairs) >= 6:
            polygons = [pairs[:2 * MAX_VERTICES]]
    if not polygons:
        box = next((g for g in groups if len(g) == 4), None)
        if box is not None:
            x1, y1, x2, y2 = box
            polygons = [[x1, y1, x2, y1, x2, y2, x1, y2]]
    return polygons


def read_masks(columns: Mapping[str, Any], n: int, strict: bool) -> tuple[list[dict | None], dict[int, str]]:
    """Each row's true mask as a compressed RLE (None where it cannot be read) and the problem of each such row."""
    from vreward.evaluate.grounding import to_rle
    from vreward.frames import image_sizes

    solutions = columns.get("solution")
    if solutions is None or isinstance(solutions, (str, bytes, Mapping)) or not hasattr(solutions, "__len__"):
        raise SolutionError("no ground truth: pass the dataset's `solution` column (one mask per completion)")
    if len(solutions) != n:
        raise SolutionError(f"`solution` has {len(solutions)} rows but there are {n} completions")
    try:
        sizes = image_sizes(columns, n)
    except ValueError:
        sizes = None
    out: list[dict | None] = []
    problems: dict[int, str] = {}
    for i, s in enumerate(solutions):
        size = (int(sizes[1][i]), int(sizes[0][i])) if sizes is not None else None
        try:
            value = json.loads(s) if isinstance(s, str) else s
            out.append(to_rle(value, size, "mask"))
        except (ValueError, TypeError) as exc:
            problems[i] = str(exc)[:200]
            out.append(None)
    if strict and problems:
        raise_first(problems)
    return out, problems


class MaskIoUReward(Reward):
    """Mask IoU of the answer's polygon, or point-in-mask (see the module docstring)."""

    default_name = "mask_iou_reward"
    settings_class = MaskSettings
    settings: MaskSettings

    def _score(self, parsed: ParsedBatch, kwargs: dict[str, Any]) -> Scored:
        from pycocotools import mask as mask_utils

        n = len(parsed)
        masks, problems = read_masks(kwargs, n, self.settings.strict)
        codes = answer_reason_codes(parsed)
        scores = np.zeros(n)
        overlap = np.zeros((2, n))  # intersection and union in pixels (mask answers), for cIoU
        clicks = answer_clicks(parsed, "centre")[0] if self.settings.answer == "point" else None
        for i in np.flatnonzero(codes == 0).tolist():
            truth = masks[i]
            if truth is None:
                continue
            h, w = (int(v) for v in truth["size"])
            sx, sy = self._pixels_per_unit(w, h)
            if clicks is not None:
                x, y = clicks[i]
                if np.isnan(x):
                    codes[i] = _NO_POINT
                    continue
                col, row = int(np.floor(x * sx)), int(np.floor(y * sy))
                inside = 0 <= col < w and 0 <= row < h and bool(mask_utils.decode(truth)[row, col])
                scores[i] = float(inside)
                codes[i] = 0 if inside else _OUTSIDE
                continue
            polygons = answer_polygons(parsed.answer(i) or "")
            if not polygons:
                codes[i] = _NO_SHAPE
                continue
            pixels = [np.clip(np.asarray(p) * np.tile([sx, sy], len(p) // 2), -1.0, max(w, h) + 1.0).tolist()
                      for p in polygons]
            pred = mask_utils.merge(mask_utils.frPyObjects(pixels, h, w))
            inter = float(mask_utils.area(mask_utils.merge([pred, truth], intersect=True)))
            union = float(mask_utils.area(pred)) + float(mask_utils.area(truth)) - inter
            overlap[:, i] = inter, union
            scores[i] = inter / union if union > 0 else 0.0
            if scores[i] <= 0.0:
                codes[i] = _NO_OVERLAP
        return Scored(scores, codes, overlap, problems)

    def _pixels_per_unit(self, w: int, h: int) -> tuple[float, float]:
        """Image pixels per unit of the model's frame (1 when no frame is given: the answer is in pixels)."""
        if self.settings.coords is None:
            return 1.0, 1.0
        sizes = (np.array([float(w)]), np.array([float(h)]))
        ex, ey = frame_extents(self.settings.coords, sizes, 1, self.settings.min_pixels, self.settings.max_pixels)
        return w / float(ex[0]), h / float(ey[0])

    def signals(self, result: RewardBatch) -> dict[str, float]:
        return {"no_shape_share": float((result.codes == _NO_SHAPE).mean())} if len(result.codes) else {}


def make_mask_iou_reward(settings: MaskSettings | None = None, **options: Any) -> MaskIoUReward:
    """Mask IoU reward with options (see :class:`MaskSettings`)."""
    return MaskIoUReward.from_options(settings, **options)


mask_iou_reward = make_mask_iou_reward()
