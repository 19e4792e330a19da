"""Rotated-box reward (oriented detection, DOTA-style): polygon IoU of one-to-one matched rotated boxes.

A rotated box is ``[cx, cy, w, h, angle]`` (``angle`` in ``angle_unit``, counter-clockwise from the x axis) or its
four corners ``[x1, y1, x2, y2, x3, y3, x4, y4]`` (their convex hull); answer and ground truth may hold several.
Boxes are matched one-to-one to maximise the summed polygon IoU (shapely for the polygons, scipy's assignment):

    score = sum of matched IoUs / max(#predictions, #ground truth)             in [0, 1]

so extra boxes and missed objects both cost (Visual-RFT's IoU reward on polygons, with an optimal matching). A
box with a non-positive side, or a non-finite number, is a polygon of area 0 and overlaps nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vreward.parsing import ParsedBatch
from vreward.reasons import REASON_CODE, ZeroReason
from vreward.rewards.base import Reward, RewardBatch, Scored, answer_reason_codes
from vreward.rewards.reading import number_groups
from vreward.rewards.settings import RotatedSettings
from vreward.solution import SolutionError, raise_first, solution_text

MAX_BOXES = 256  # rotated boxes read from one answer
_NO_SHAPE = REASON_CODE[ZeroReason.NO_SHAPE.value]
_NO_MATCH = REASON_CODE[ZeroReason.NO_MATCH.value]


def rotated_corners(groups: list[list[float]], radians: bool) -> np.ndarray:
    """(K, 4, 2) corners of the 5- and 8-number groups (others are left out)."""
    out = []
    for g in groups:
        if len(g) == 5:
            cx, cy, w, h, a = g
            a = a if radians else np.deg2rad(a)
            c, s = np.cos(a), np.sin(a)
            half = np.array([[w, h], [-w, h], [-w, -h], [w, -h]]) / 2.0
            out.append(np.stack([cx + half[:, 0] * c - half[:, 1] * s, cy + half[:, 0] * s + half[:, 1] * c], 1)
                       if w > 0 and h > 0 else np.zeros((4, 2)))
        elif len(g) == 8:
            out.append(np.asarray(g, float).reshape(4, 2))
        if len(out) >= MAX_BOXES:
            break
    return np.asarray(out, float).reshape(-1, 4, 2)


def polygon_ious(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(K, L) IoU of the convex hulls of corner sets ``a`` (K, 4, 2) and ``b`` (L, 4, 2) (shapely)."""
    import shapely

    pa = shapely.convex_hull(shapely.multipoints(a))
    pb = shapely.convex_hull(shapely.multipoints(b))
    inter = shapely.area(shapely.intersection(pa[:, None], pb[None, :]))
    union = shapely.area(pa)[:, None] + shapely.area(pb)[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def matched_iou_sum(ious: np.ndarray) -> float:
    """The largest sum of IoUs of a one-to-one matching (scipy's linear_sum_assignment)."""
    from scipy.optimize import linear_sum_assignment

    r, c = linear_sum_assignment(ious, maximize=True)
    return float(ious[r, c].sum())


class RotatedIoUReward(Reward):
    """Summed polygon IoU of one-to-one matched rotated boxes over max(#predictions, #ground truth)."""

    default_name = "rotated_iou_reward"
    settings_class = RotatedSettings
    settings: RotatedSettings

    def _score(self, parsed: ParsedBatch, kwargs: dict[str, Any]) -> Scored:
        n = len(parsed)
        radians = self.settings.angle_unit == "radians"
        truths, problems = self._truths(kwargs.get("solution"), n, radians)
        codes = answer_reason_codes(parsed)
        scores = np.zeros(n)
        counts = np.zeros(n, np.int64)
        for i in np.flatnonzero(codes == 0).tolist():
            if truths[i] is None:
                continue
            pred = rotated_corners(number_groups(parsed.answer(i) or ""), radians)
            counts[i] = len(pred)
            if not len(pred):
                codes[i] = _NO_SHAPE
                continue
            scores[i] = matched_iou_sum(polygon_ious(pred, truths[i])) / max(len(pred), len(truths[i]))
            if scores[i] <= 0.0:
                codes[i] = _NO_MATCH
        return Scored(scores, codes, counts, problems)

    def _truths(self, solutions: Any, n: int, radians: bool) -> tuple[list[np.ndarray | None], dict[int, str]]:
        if solutions is None or isinstance(solutions, (str, bytes, dict)) or not hasattr(solutions, "__len__"):
            raise SolutionError("no ground truth: pass the dataset's `solution` column (solution=[...])")
        if len(solutions) != n:
            raise SolutionError(f"`solution` has {len(solutions)} rows but there are {n} completions")
        out: list[np.ndarray | None] = []
        problems: dict[int, str] = {}
        for i, s in enumerate(solutions):
            text = solution_text(s)
            groups = number_groups(text) if text is not None else []
            if text is not None and not groups:  # a bare [cx, cy, w, h, angle] list as JSON: "[1, 2, 3, 4, 5]"
                groups = number_groups(f"[{text}]")
            corners = rotated_corners(groups, radians)
            self_iou = polygon_ious(corners, corners).diagonal() if len(corners) else np.zeros(0)  # 0: no area
            if not len(corners) or not (self_iou > 0).all():
                problems[i] = f"expected rotated boxes [cx, cy, w, h, angle] or 4 corners of positive area: {s!r:.80}"
                out.append(None)
            else:
                out.append(corners)
        if self.settings.strict and problems:
            raise_first(problems)
        return out, problems

    def _details(self, result: RewardBatch, i: int) -> dict[str, Any]:
        return {"n_predicted_boxes": int(result.evidence[i])}


def make_rotated_iou_reward(settings: RotatedSettings | None = None, **options: Any) -> RotatedIoUReward:
    """Rotated-box IoU reward with options (see :class:`RotatedSettings`)."""
    return RotatedIoUReward.from_options(settings, **options)


rotated_iou_reward = make_rotated_iou_reward()
