"""Rotated-box reward (oriented detection, DOTA-style): polygon IoU of one-to-one matched rotated boxes.

A rotated box is ``[cx, cy, w, h, angle]`` (``angle`` in ``angle_unit``, counter-clockwise from the x axis) or its
four corners ``[x1, y1, x2, y2, x3, y3, x4, y4]`` (their convex hull); answer and ground truth may hold several.
Boxes are matched one-to-one to maximise the summed polygon IoU (shapely for the polygons, scipy's assignment):

    score = sum of matched IoUs / max(#predictions, #ground truth)             in [0, 1]

so extra boxes and missed objects both cost (Visual-RFT's IoU reward on polygons, with an optimal matching). A
box with a non-positive side, or a non-finite number, is a polygon of area 0 and overlaps nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vreward.parsing import AnswerBatch, TextSpans
from vreward.reasons import REASON_CODE, ZeroReason
from vreward.rewards.base import RewardBatch, Scored, TextReward, answer_codes
from vreward.rewards.reading import Values, number_groups, read_values
from vreward.rewards.settings import RotatedSettings
from vreward.solution import distinct_solutions, solution_text

MAX_BOXES = 256  # rotated boxes read from one answer
_NO_SHAPE = REASON_CODE[ZeroReason.NO_SHAPE.value]
_NO_MATCH = REASON_CODE[ZeroReason.NO_MATCH.value]


def rotated_corners(groups: list[list[float]], radians: bool) -> np.ndarray:
    """(K, 4, 2) corners of the 5- and 8-number groups (others are left out), at most MAX_BOXES."""
    return RotatedBoxes.of(Values.of([groups]), radians).corners


@dataclass(frozen=True)
class RotatedBoxes:
    """The rotated boxes of each row of a batch as corners: row ``i`` owns ``corners[offsets[i]:offsets[i + 1]]``
    ((K, 4, 2): ``[cx, cy, w, h, angle]`` boxes turned into corners, 8-number groups as they are; a box with a
    non-positive side is four points at the origin, of area 0)."""

    corners: np.ndarray
    offsets: np.ndarray

    @classmethod
    def of(cls, read: Values, radians: bool) -> RotatedBoxes:
        """The 5- and 8-number groups of each row (the first MAX_BOXES of them)."""
        starts = np.flatnonzero(read.first)
        sizes = np.diff(np.append(starts, len(read.values)))
        row = np.searchsorted(read.offsets, starts, side="right") - 1
        kept = (sizes == 5) | (sizes == 8)
        rank = np.cumsum(kept) - 1  # among the kept groups of the batch; minus those of earlier rows below
        first_kept = np.searchsorted(np.flatnonzero(kept), np.searchsorted(starts, read.offsets[:-1]))
        kept &= rank - first_kept[row] < MAX_BOXES
        starts, sizes, row = starts[kept], sizes[kept], row[kept]
        corners = np.zeros((len(starts), 4, 2))
        five = sizes == 5
        v = read.values[starts[five][:, None] + np.arange(5)]
        cx, cy, w, h, a = v.T
        a = a if radians else np.deg2rad(a)
        c, s = np.cos(a), np.sin(a)
        half = np.stack([np.stack([w, h], 1), np.stack([-w, h], 1), np.stack([-w, -h], 1), np.stack([w, -h], 1)],
                        1) / 2.0
        box = np.stack([cx[:, None] + half[:, :, 0] * c[:, None] - half[:, :, 1] * s[:, None],
                        cy[:, None] + half[:, :, 0] * s[:, None] + half[:, :, 1] * c[:, None]], 2)
        corners[five] = np.where(((w > 0) & (h > 0))[:, None, None], box, 0.0)
        corners[~five] = read.values[starts[~five][:, None] + np.arange(8)].reshape(-1, 4, 2)
        offsets = np.zeros(len(read.offsets), np.int64)
        np.cumsum(np.bincount(row, minlength=len(offsets) - 1), out=offsets[1:])
        return cls(corners, offsets)

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)


def hulls(corners: np.ndarray) -> np.ndarray:
    """The convex hull of each box's corners (K,) (shapely; of the corners as a ring, which GEOS hulls as it hulls
    them as points, in half the time)."""
    import shapely

    return shapely.convex_hull(shapely.polygons(corners))


def _areas(polygons: np.ndarray) -> np.ndarray:
    import shapely

    return shapely.area(polygons)


def polygon_ious(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of the polygons ``a[k]`` and ``b[k]`` (shapely, one vectorized call)."""
    import shapely

    inter = shapely.area(shapely.intersection(a, b))
    union = shapely.area(a) + shapely.area(b) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def matched_iou_sum(ious: np.ndarray) -> float:
    """The largest sum of IoUs of a one-to-one matching (scipy's linear_sum_assignment)."""
    from scipy.optimize import linear_sum_assignment

    r, c = linear_sum_assignment(ious, maximize=True)
    return float(ious[r, c].sum())


class RotatedIoUReward(TextReward):
    """Summed polygon IoU of one-to-one matched rotated boxes over max(#predictions, #ground truth)."""

    default_name = "rotated_iou_reward"
    settings_class = RotatedSettings
    settings: RotatedSettings

    def _score_answers(self, answers: AnswerBatch, kwargs: dict[str, Any]) -> Scored:
        n = len(answers)
        radians = self.settings.angle_unit == "radians"
        truth, truth_rows, problems = self._truths(kwargs.get("solution"), n, radians)
        codes = answer_codes(answers)
        pred = RotatedBoxes.of(read_values(answers.answers, "groups"), radians)
        codes[(codes == 0) & (pred.counts == 0)] = _NO_SHAPE
        rows = np.flatnonzero((codes == 0) & (truth.counts[truth_rows] > 0))
        # every (predicted box, true box) pair of each scored row, in row-major order
        p_counts, t_counts = pred.counts[rows], truth.counts[truth_rows[rows]]
        pairs = p_counts * t_counts
        pair_row = np.repeat(np.arange(len(rows)), pairs)
        k = np.arange(pairs.sum()) - np.repeat(np.cumsum(pairs) - pairs, pairs)
        p = pred.offsets[rows][pair_row] + k // t_counts[pair_row]
        t = truth.offsets[truth_rows[rows]][pair_row] + k % t_counts[pair_row]
        ious = polygon_ious(hulls(pred.corners)[p], truth.hulls[t])
        scores = np.zeros(n)
        single = pairs == 1
        scores[rows[single]] = ious[(np.cumsum(pairs) - 1)[single]]
        for r, at, size, cols in zip(rows[~single].tolist(), (np.cumsum(pairs) - pairs)[~single].tolist(),
                                     pairs[~single].tolist(), t_counts[~single].tolist()):
            scores[r] = matched_iou_sum(ious[at:at + size].reshape(-1, cols)) / max(size // cols, cols)
        codes[(codes == 0) & (scores <= 0.0)] = _NO_MATCH
        return Scored(scores, codes, pred.counts, problems)

    def _truths(self, solutions: Any, n: int, radians: bool) -> tuple[TrueBoxes, np.ndarray, dict[int, str]]:
        """The true boxes of each distinct solution, each row's distinct solution, and the rows' problems."""
        distinct = distinct_solutions(solutions, n)
        texts = [solution_text(s) for s in distinct.values]
        read = read_values(TextSpans.of(texts), "groups")
        bare = [k for k, text in enumerate(texts) if text is not None and read.counts[k] == 0]
        if bare:  # a bare [cx, cy, w, h, angle] list as JSON, "[1, 2, 3, 4, 5]", reads as five numbers
            read = read.replaced({k: number_groups(f"[{texts[k]}]") for k in bare})
        boxes = RotatedBoxes.of(read, radians)
        shapes = hulls(boxes.corners)
        no_area = np.repeat(np.arange(len(texts)), boxes.counts)[~(_areas(shapes) > 0)]
        bad = {k: f"expected rotated boxes [cx, cy, w, h, angle] or 4 corners of positive area: "
                  f"{distinct.values[k]!r:.80}"
               for k in sorted(set(np.flatnonzero(boxes.counts == 0).tolist()) | set(no_area.tolist()))}
        counts = boxes.counts.copy()
        counts[list(bad)] = 0
        offsets = np.zeros(len(counts) + 1, np.int64)
        np.cumsum(counts, out=offsets[1:])
        keep = np.repeat(counts > 0, boxes.counts)
        return TrueBoxes(shapes[keep], offsets), distinct.rows, distinct.row_problems(bad, self.settings.strict)

    def _details(self, result: RewardBatch, i: int) -> dict[str, Any]:
        return {"n_predicted_boxes": int(result.evidence[i])}


@dataclass(frozen=True)
class TrueBoxes:
    """The true boxes of each distinct solution as polygons: solution ``k`` owns ``hulls[offsets[k]:offsets[k + 1]]``
    (none when it cannot be read)."""

    hulls: np.ndarray
    offsets: np.ndarray

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)


def make_rotated_iou_reward(settings: RotatedSettings | None = None, **options: Any) -> RotatedIoUReward:
    """Rotated-box IoU reward with options (see :class:`RotatedSettings`)."""
    return RotatedIoUReward.from_options(settings, **options)


rotated_iou_reward = make_rotated_iou_reward()
