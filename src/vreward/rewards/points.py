"""GUI grounding rewards for clicks: a point inside the target box, and GUI-G2's Gaussian point reward.

The click is the answer's first point (``[x, y]``, ``(x, y)``, ``{"point_2d": [x, y]}``, see
:class:`vreward.parsing.ParsedPoints`); an answer holding a box but no point clicks the box's centre (GUI-R1 /
GUI-G1 answer with boxes). Only the first point counts: repeating points, or listing a grid of them, clicks once.
The ground truth is the target's box (``solution``, in ``solution_coords``), mapped into the model's frame.

* click (GUI-R1 arXiv 2504.10458, UI-R1 arXiv 2503.21620, InfiGUI-R1 arXiv 2504.14239): 1 when the click lies
  inside a target box (edges included), else 0.
* gaussian point (GUI-G2 arXiv 2507.15846, ``ZJU-REAL/GUI-G2`` ``src/gui_g2/src/open_r1/gaussian_grpo.py``):
  ``exp(-((x - cx)**2 / sx**2 + (y - cy)**2 / sy**2) / 2)`` with ``(sx, sy) = alpha * (w, h)`` of the target,
  in (0, 1]; the best target box counts. It is not rounded (the published code rounds to 3 decimals, which turns
  every click farther than about 3.7 sigma into 0).

A box answer counts by its centre, so a box covering the screen clicks the screen's centre: it earns what a
click there earns, never the IoU-style credit that makes GUI-G1 (arXiv 2505.15810) boxes grow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vreward.parsing import ParsedBatch
from vreward.reasons import REASON_CODE, STATUS_NO_OBJECTS, ParseReason, ZeroReason
from vreward.rewards.base import Reward, RewardBatch, Scored, parse_reason_codes
from vreward.rewards.framing import batch_sizes, framed_truth
from vreward.rewards.settings import ClickSettings, GaussianPointSettings
from vreward.solution import GroundTruth, parse_solutions

_NO_POINT = REASON_CODE[ZeroReason.NO_POINT.value]
_BOXES_ON_EMPTY = REASON_CODE[ZeroReason.BOXES_ON_EMPTY.value]
_MISSED_TARGET = REASON_CODE[ZeroReason.MISSED_TARGET.value]
_FAR = REASON_CODE[ZeroReason.FAR_FROM_TARGET.value]
# Parse outcomes of a row without a click that say no more than "no point": read as no_point.
_SAYS_NOTHING_SPECIFIC = np.array([0, REASON_CODE[ParseReason.POINTS_NOT_BOXES.value],
                                   REASON_CODE[ParseReason.UNPARSEABLE.value]], np.int8)


@dataclass(frozen=True)
class Clicks:
    """Each row's click against its targets (NaN where there is no click or no target).

    ``xy`` (B, 2) the click in the model's frame; ``from_box`` (B,) it is a box's centre; ``hit`` (B,) inside a
    target box; ``distance`` (B,) to the nearest target centre in units of that target's size,
    ``hypot(dx / w, dy / h)``; ``dx``, ``dy`` (B,) the offsets from that target's centre over its width / height.
    """

    gt: GroundTruth
    xy: np.ndarray
    from_box: np.ndarray
    hit: np.ndarray
    distance: np.ndarray
    dx: np.ndarray
    dy: np.ndarray

    @property
    def has_click(self) -> np.ndarray:
        return ~np.isnan(self.xy[:, 0])


def answer_clicks(parsed: ParsedBatch, box_answers: str) -> tuple[np.ndarray, np.ndarray]:
    """Each row's click (B, 2) (NaN for none) and whether it is a box's centre (B,): the first point, else (with
    ``box_answers="centre"``) the centre of the first box."""
    n = len(parsed)
    pts = parsed.points
    xy = np.full((n, 2), np.nan)
    has_point = pts.counts > 0
    xy[has_point] = pts.points[pts.offsets[:-1][has_point]]
    from_box = np.zeros(n, bool)
    if box_answers == "centre":
        from_box = ~has_point & (parsed.counts > 0)
        first = parsed.boxes[parsed.offsets[:-1][from_box]]
        xy[from_box] = (first[:, :2] + first[:, 2:]) / 2.0
    return xy, from_box


def score_clicks(reward: Reward, parsed: ParsedBatch, kwargs: dict[str, Any], settings: ClickSettings) -> Clicks:
    """The batch's clicks against the targets of its ``solution`` column, in the model's frame."""
    n = len(parsed)
    gt = parse_solutions(kwargs.get("solution"), n, strict=settings.strict)
    xy, from_box = answer_clicks(parsed, settings.box_answers)
    has = ~np.isnan(xy[:, 0])
    as_boxes = np.ascontiguousarray(np.concatenate([xy[has], xy[has]], axis=1))
    offsets = np.concatenate(([0], np.cumsum(has))).astype(np.int64)
    gt_boxes, messages = framed_truth(parsed, gt, batch_sizes(kwargs, n, settings), settings, (as_boxes, offsets))
    for key, message in messages:
        reward.warn_once(key, message)
    rows = np.repeat(np.arange(n), gt.counts)
    p = xy[rows]
    g = np.asarray(gt_boxes, float).reshape(-1, 4)
    w, h = g[:, 2] - g[:, 0], g[:, 3] - g[:, 1]
    with np.errstate(invalid="ignore"):
        inside = (p[:, 0] >= g[:, 0]) & (p[:, 0] <= g[:, 2]) & (p[:, 1] >= g[:, 1]) & (p[:, 1] <= g[:, 3])
        dx = (p[:, 0] - (g[:, 0] + g[:, 2]) / 2.0) / w
        dy = (p[:, 1] - (g[:, 1] + g[:, 3]) / 2.0) / h
        dist = np.hypot(dx, dy)
    hit = np.zeros(n, bool)
    np.logical_or.at(hit, rows, inside)
    # per row, the target nearest to the click (the first on ties)
    nearest = np.full(n, -1, np.int64)
    if len(rows):
        order = np.lexsort((np.where(np.isnan(dist), np.inf, dist), rows))
        firsts = gt.offsets[:-1][gt.counts > 0]
        nearest[gt.counts > 0] = order[firsts]
    out = np.full((3, n), np.nan)
    chosen = (nearest >= 0) & has
    for k, values in enumerate((dist, dx, dy)):
        out[k, chosen] = values[nearest[chosen]]
    return Clicks(gt, xy, from_box, hit & has, out[0], out[1], out[2])


def click_codes(parsed: ParsedBatch, clicks: Clicks, scores: np.ndarray, otherwise: int) -> np.ndarray:
    """Reason codes of a click reward (scores set in place where the rules decide): parse failures; no click;
    no target ("No Objects" scores 1 there, a click 0); ``otherwise`` for a click scored 0."""
    codes = parse_reason_codes(parsed)
    has = clicks.has_click
    no_gt = clicks.gt.counts == 0
    said_none = parsed.status == STATUS_NO_OBJECTS
    scores[~has] = 0.0
    codes[~has & np.isin(codes, _SAYS_NOTHING_SPECIFIC)] = _NO_POINT
    codes[has] = 0
    scores[no_gt & said_none] = 1.0
    codes[no_gt & said_none] = 0
    scores[no_gt & has] = 0.0
    codes[no_gt & has] = _BOXES_ON_EMPTY
    codes[has & ~no_gt & (scores <= 0.0)] = otherwise
    return codes


class ClickReward(Reward):
    """1 when the answer's click (its first point, or its first box's centre) lies inside a target box."""

    default_name = "click_reward"
    settings_class = ClickSettings
    settings: ClickSettings

    def _score(self, parsed: ParsedBatch, kwargs: dict[str, Any]) -> Scored:
        clicks = score_clicks(self, parsed, kwargs, self.settings)
        scores = clicks.hit.astype(np.float64)
        return Scored(scores, click_codes(parsed, clicks, scores, _MISSED_TARGET), clicks, clicks.gt.problems)

    def _details(self, result: RewardBatch, i: int) -> dict[str, Any]:
        return click_details(result.evidence, i)

    def signals(self, result: RewardBatch) -> dict[str, float]:
        return click_signals(result.evidence)


class GaussianPointReward(Reward):
    """GUI-G2's point reward: a Gaussian of the click's offset from the target centre, sigma = alpha * size."""

    default_name = "gaussian_point_reward"
    settings_class = GaussianPointSettings
    settings: GaussianPointSettings

    def _score(self, parsed: ParsedBatch, kwargs: dict[str, Any]) -> Scored:
        clicks = score_clicks(self, parsed, kwargs, self.settings)
        a = self.settings.alpha
        with np.errstate(invalid="ignore", over="ignore"):
            scores = np.exp(-0.5 * ((clicks.dx / a) ** 2 + (clicks.dy / a) ** 2))
        scores = np.nan_to_num(scores, nan=0.0)
        return Scored(scores, click_codes(parsed, clicks, scores, _FAR), clicks, clicks.gt.problems)

    def _details(self, result: RewardBatch, i: int) -> dict[str, Any]:
        return click_details(result.evidence, i)

    def signals(self, result: RewardBatch) -> dict[str, float]:
        return click_signals(result.evidence)


def click_details(clicks: Clicks, i: int) -> dict[str, Any]:
    """Row ``i``: the click, whether it came from a box, and where it lies relative to the target."""
    if not clicks.has_click[i]:
        return {}
    out: dict[str, Any] = {"click": [float(v) for v in clicks.xy[i]], "from_box": bool(clicks.from_box[i])}
    if not np.isnan(clicks.distance[i]):
        out.update(inside=bool(clicks.hit[i]), distance=float(clicks.distance[i]))
    return out


def click_signals(clicks: Clicks) -> dict[str, float]:
    """Batch statistics of clicking: the hit rate, clicks given as boxes, and the mean distance to the target
    (a policy collapsing onto the screen centre or onto box answers shows here)."""
    has = clicks.has_click & ~np.isnan(clicks.distance)
    if not has.any():
        return {}
    return {"hit_share": float(clicks.hit[has].mean()), "box_answer_share": float(clicks.from_box[has].mean()),
            "distance_mean": float(clicks.distance[has].mean())}


def make_click_reward(settings: ClickSettings | None = None, **options: Any) -> ClickReward:
    """Click reward with options (see :class:`ClickSettings`)."""
    return ClickReward.from_options(settings, **options)


def make_gaussian_point_reward(settings: GaussianPointSettings | None = None, **options: Any) -> GaussianPointReward:
    """Gaussian point reward with options (see :class:`GaussianPointSettings`)."""
    return GaussianPointReward.from_options(settings, **options)


click_reward = make_click_reward()
gaussian_point_reward = make_gaussian_point_reward()
