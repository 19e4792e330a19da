"""Reasoning-grounding reward: Acc@IoU credit with a bounded GIoU shaping term.

The paper's reward (GIoU + 1 in [0, 2], kept in :mod:`vreward.visual_rft`) pays any box that encloses the target
at least 1, so the whole image or a huge box beats an honest near miss on the neighbouring object, and on large
targets the whole image beats a slightly-off answer. The default pays what Acc@IoU counts:

    IoU > threshold:  shaping + (1 - shaping) * IoU          in (shaping + (1 - shaping) * threshold, 1]
    otherwise:        shaping * clip((1 + GIoU) / (1 + near_giou), 0, 1)        in [0, shaping]

A box that is right (IoU above the threshold, 0.5 by default as in Acc@0.5) earns more the tighter it is; a box
that is not right earns at most ``shaping`` (0.2), the whole of it once it is near the target (GIoU at least
``near_giou``, -0.5: on the neighbouring object, or around the target), less the farther away it is. Enclosing
boxes that miss the threshold earn exactly what a near miss earns, never more, and never what a right box earns.
The first box of the answer counts (grounding asks for one); with several ground-truth boxes the best counts.
No ground-truth box: an explicit "No Objects" scores 1, any box 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vreward.parsing import ParsedBatch
from vreward.reasons import ZeroReason
from vreward.rewards.base import Reward, RewardBatch, Scored
from vreward.rewards.detection import empty_cases
from vreward.rewards.framing import batch_sizes, framed_truth
from vreward.rewards.settings import FrameSettings, GroundingSettings
from vreward.solution import GroundTruth, parse_solutions


@dataclass(frozen=True)
class FirstBoxOverlap:
    """The answer's first box against the ground truth, per row (NaN where there is no box or no ground truth):
    best IoU (B,), best GIoU (B,), and its area over the first ground-truth box's area (B,)."""

    gt: GroundTruth
    iou: np.ndarray
    giou: np.ndarray
    area_ratio: np.ndarray


def first_box_overlaps(reward: Reward, parsed: ParsedBatch, kwargs: dict[str, Any],
                       settings: FrameSettings) -> FirstBoxOverlap:
    """The overlaps of each answer's first box with its ground truth, in the model's frame (frame mismatches
    warned once)."""
    from vreward.matching import paired_best

    n = len(parsed)
    gt = parse_solutions(kwargs.get("solution"), n, strict=settings.strict)
    gt_boxes, frame_messages = framed_truth(parsed, gt, batch_sizes(kwargs, n, settings), settings)
    for key, message in frame_messages:
        reward.warn_once(key, message)
    has_pred = parsed.counts > 0
    first = np.zeros((n, 4))
    first[has_pred] = parsed.boxes[parsed.offsets[:-1][has_pred]]
    iou, giou = paired_best(first, has_pred, gt_boxes, gt.offsets)
    first_gt = np.full((n, 4), np.nan)
    has_gt = gt.counts > 0
    first_gt[has_gt] = gt_boxes[gt.offsets[:-1][has_gt]]
    with np.errstate(all="ignore"):
        ratio = _area(first) / _area(first_gt)
    ratio[~has_pred | ~np.isfinite(ratio)] = np.nan
    return FirstBoxOverlap(gt, iou, giou, ratio)


def _area(boxes: np.ndarray) -> np.ndarray:
    return np.maximum(boxes[:, 2] - boxes[:, 0], 0.0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0.0)


class GIoUReward(Reward):
    """Acc@IoU credit plus a GIoU shaping term bounded by ``shaping`` (see the module docstring)."""

    default_name = "giou_reward"
    settings_class = GroundingSettings
    settings: GroundingSettings

    def _score(self, parsed: ParsedBatch, kwargs: dict[str, Any]) -> Scored:
        overlap = first_box_overlaps(self, parsed, kwargs, self.settings)
        s = self.settings
        iou = np.nan_to_num(overlap.iou, nan=0.0)
        near = np.clip((1.0 + np.nan_to_num(overlap.giou, nan=-1.0)) / (1.0 + s.near_giou), 0.0, 1.0)
        scores = np.where(iou > s.threshold, s.shaping + (1.0 - s.shaping) * iou, s.shaping * near)
        return Scored(scores, empty_cases(parsed, overlap.gt.counts, scores, ZeroReason.NO_OVERLAP), overlap,
                      overlap.gt.problems)

    def _details(self, result: RewardBatch, i: int) -> dict[str, Any]:
        return overlap_details(result.evidence, result.parsed, i, self.settings.threshold)

    def signals(self, result: RewardBatch) -> dict[str, float]:
        return overlap_signals(result.evidence, self.settings.threshold)


def overlap_details(overlap: FirstBoxOverlap, parsed: ParsedBatch, i: int, threshold: float) -> dict[str, Any]:
    """Row ``i``: boxes given, and the first box's IoU, GIoU and size against the ground truth."""
    details: dict[str, Any] = {"n_predicted_boxes": int(parsed.counts[i])}
    if not np.isnan(overlap.iou[i]):
        details.update(iou=float(overlap.iou[i]), giou=float(overlap.giou[i]), right=bool(overlap.iou[i] > threshold),
                       area_ratio=float(overlap.area_ratio[i]))
    return details


def overlap_signals(overlap: FirstBoxOverlap, threshold: float) -> dict[str, float]:
    """Batch statistics that show box-size hacking (GUI-G1, arXiv 2505.15810: IoU-style rewards inflate boxes)."""
    scored = ~np.isnan(overlap.iou)
    if not scored.any():
        return {}
    ratio = overlap.area_ratio[scored & ~np.isnan(overlap.area_ratio)]
    iou = overlap.iou[scored]
    out = {"right_share": float((iou > threshold).mean()), "iou_mean": float(iou.mean())}
    if len(ratio):
        out.update(area_ratio_median=float(np.median(ratio)), oversized_share=float((ratio > 2.0).mean()))
    return out


def make_giou_reward(settings: GroundingSettings | None = None, **options: Any) -> GIoUReward:
    """Grounding reward with options (see :class:`GroundingSettings`)."""
    return GIoUReward.from_options(settings, **options)


giou_reward = make_giou_reward()
