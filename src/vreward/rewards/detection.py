"""Detection rewards (Visual-RFT): IoU reward and confidence reward over greedy box matching."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from vreward.frames import SIZED_FRAMES, convert_boxes, frame_extent, image_sizes
from vreward.parsing import ParsedBatch
from vreward.reasons import REASON_CODE, ZeroReason
from vreward.rewards.base import Reward, RewardBatch, parse_reason_codes
from vreward.rewards.frame_check import check_frames
from vreward.rewards.settings import DetectionSettings
from vreward.solution import GroundTruth, parse_solutions


@dataclass(frozen=True)
class DetectionMatch:
    """Matching of one batch: which predictions count, which ground truth each matched, and row totals."""

    keep: np.ndarray  # (P,) predictions that count (duplicates dropped)
    gt_index: np.ndarray  # (P,) matched ground-truth row or -1
    iou: np.ndarray  # (P,) IoU of the match, 0 when unmatched
    rows: np.ndarray  # (P,) completion of each prediction
    order: np.ndarray  # (P,) predictions in matching order: by row, then descending confidence (stable)
    n_pred: np.ndarray  # (B,) counted predictions per completion
    n_gt: np.ndarray  # (B,) ground-truth boxes per completion
    gt: GroundTruth
    frame_messages: list[tuple[str, str]]  # coordinate-frame mismatches the batch shows


_MATCH_CACHE: OrderedDict[tuple, tuple[Any, ...]] = OrderedDict()


def match_detections(parsed: ParsedBatch, kwargs: dict[str, Any], settings: DetectionSettings,
                     reward: Reward | None = None) -> DetectionMatch:
    """Match a parsed batch against its ``solution`` column; shared by the IoU and confidence rewards.

    The result is cached, so the IoU and confidence rewards of one TRL step make one matching call.
    """
    gt = parse_solutions(kwargs.get("solution"), len(parsed))
    key = (id(parsed), id(gt), settings.threshold, settings.matching, settings.match_labels,
           settings.drop_duplicates, settings.missing_confidence, settings.coords, settings.solution_coords,
           settings.min_pixels, settings.max_pixels)
    hit = _MATCH_CACHE.get(key)
    if hit is not None and hit[0] is parsed and hit[1] is gt and not _needs_sizes(settings):
        match = hit[2]
    else:
        match = _match(parsed, gt, kwargs, settings)
        _MATCH_CACHE[key] = (parsed, gt, match)
        if len(_MATCH_CACHE) > 8:
            _MATCH_CACHE.popitem(last=False)
    if reward is not None:
        for message_key, message in match.frame_messages:
            reward._warn_once(message_key, message)
    return match


def _match(parsed: ParsedBatch, gt: GroundTruth, kwargs: dict[str, Any], settings: DetectionSettings):
    gt_boxes, extents = _ground_truth_in_model_frame(gt, settings, kwargs, len(parsed))
    from vreward.matching import dedup_arrays, match_arrays

    boxes, offsets = parsed.boxes, parsed.offsets
    keep = dedup_arrays(boxes, offsets) if settings.drop_duplicates else np.ones(len(boxes), bool)
    scores = np.where(np.isnan(parsed.confidences), settings.missing_confidence, parsed.confidences)
    labels = _label_ids(parsed, gt) if settings.match_labels else None
    no_labels = np.zeros(0, np.int64)
    result = match_arrays(boxes, scores, offsets, np.ascontiguousarray(gt_boxes), gt.offsets, settings.threshold,
                          settings.matching, no_labels if labels is None else labels[0],
                          no_labels if labels is None else labels[1], labels is not None, keep)
    rows = np.repeat(np.arange(len(parsed)), parsed.counts)
    order = np.lexsort((-scores, rows))
    return DetectionMatch(keep=keep, gt_index=result.gt_index, iou=result.iou, rows=rows, order=order,
                          n_pred=np.bincount(rows[keep], minlength=len(parsed)), n_gt=gt.counts, gt=gt,
                          frame_messages=list(check_frames(boxes, offsets, gt_boxes, settings.coords, extents)))


def _needs_sizes(settings: DetectionSettings) -> bool:
    p, s = settings.coords, settings.solution_coords
    return p is not None and s is not None and p != s and (p in SIZED_FRAMES or s in SIZED_FRAMES)


def _ground_truth_in_model_frame(gt: GroundTruth, settings, kwargs: dict[str, Any], n: int):
    """Ground-truth boxes mapped into the model's frame (unchanged when both frames are the same)."""
    p, s = settings.coords, settings.solution_coords
    sized = p in SIZED_FRAMES or s in SIZED_FRAMES
    sizes = image_sizes(kwargs, n) if sized else None
    extents = None
    if p is not None:
        extents = frame_extent(p, sizes, n, settings.min_pixels, settings.max_pixels)
    if p is None or s is None or p == s:
        return gt.boxes, extents
    src = frame_extent(s, sizes, n, settings.min_pixels, settings.max_pixels)
    return convert_boxes(gt.boxes, gt.offsets, src, extents), extents


def warn_frames(reward: Reward, parsed: ParsedBatch, gt_boxes: np.ndarray, settings, extents) -> None:
    for key, message in check_frames(parsed.boxes, parsed.offsets, gt_boxes, settings.coords, extents):
        reward._warn_once(key, message)


def _label_ids(parsed: ParsedBatch, gt: GroundTruth) -> tuple[np.ndarray, np.ndarray] | None:
    """Integer label ids for label-aware matching, or None when one side carries no labels at all."""
    if not parsed.has_labels or not gt.has_labels:
        return None
    ids: dict[str, int] = {}
    gt_ids = np.array([_label_id(x, ids) for x in gt.labels], np.int64)
    pred_ids = np.array([_label_id(x, ids) for x in parsed.labels], np.int64)
    return pred_ids, gt_ids


def _label_id(label: str | None, ids: dict[str, int]) -> int:
    norm = _norm_label(label)
    return -1 if norm is None else ids.setdefault(norm, len(ids))


def _norm_label(label: str | None) -> str | None:
    if label is None:
        return None
    return " ".join(label.lower().replace("_", " ").replace("-", " ").split()) or None


_BOXES_ON_EMPTY = REASON_CODE[ZeroReason.BOXES_ON_EMPTY.value]
_MISSED_OBJECTS = REASON_CODE[ZeroReason.MISSED_OBJECTS.value]


def _empty_cases(parsed: ParsedBatch, match: DetectionMatch, scores: np.ndarray, otherwise: ZeroReason) -> np.ndarray:
    """Apply the no-ground-truth rules; returns the reason code of every zero (``otherwise`` for the rest)."""
    codes = parse_reason_codes(parsed)
    no_gt = match.n_gt == 0
    empty = parsed.explicit_empty
    scores[no_gt & empty] = 1.0
    scores[no_gt & ~empty] = 0.0
    scores[~parsed.usable] = 0.0
    scores[~no_gt & empty] = 0.0
    zero = parsed.usable & (scores <= 0.0)
    codes[zero] = np.where(no_gt[zero], _BOXES_ON_EMPTY,
                           np.where(empty[zero], _MISSED_OBJECTS, REASON_CODE[otherwise.value]))
    return codes


class IoUReward(Reward):
    """Visual-RFT IoU reward: sum of matched IoUs / max(#ground truth, #predictions)."""

    default_name = "iou_reward"
    settings: DetectionSettings

    def _score(self, parsed: ParsedBatch, kwargs: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        m = match_detections(parsed, kwargs, self.settings, self)
        # summed in matching order, as the reference does, so that equal inputs give equal bits
        iou_sum = np.bincount(m.rows[m.order], weights=m.iou[m.order], minlength=len(parsed))
        denom = np.maximum(m.n_gt, m.n_pred)
        scores = np.divide(iou_sum, denom, out=np.zeros(len(parsed)), where=denom > 0)
        np.minimum(scores, 1.0, out=scores)
        return scores, _empty_cases(parsed, m, scores, ZeroReason.NO_MATCH)

    def _details(self, result: RewardBatch, i: int) -> dict[str, Any]:
        return _match_details(result, i)


class ConfidenceReward(Reward):
    """Visual-RFT confidence reward: mean over predictions of c if matched, 1 - c if not."""

    default_name = "confidence_reward"
    settings: DetectionSettings

    def _score(self, parsed: ParsedBatch, kwargs: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        m = match_detections(parsed, kwargs, self.settings, self)
        c = np.where(np.isnan(parsed.confidences), self.settings.missing_confidence, parsed.confidences)
        c = np.clip(c, 0.0, 1.0)
        per_box = np.where(m.gt_index >= 0, c, 1.0 - c)
        kept = m.order[m.keep[m.order]]
        total = np.bincount(m.rows[kept], weights=per_box[kept], minlength=len(parsed))
        scores = np.divide(total, m.n_pred, out=np.zeros(len(parsed)), where=m.n_pred > 0)
        return scores, _empty_cases(parsed, m, scores, ZeroReason.CONFIDENCE)

    def _details(self, result: RewardBatch, i: int) -> dict[str, Any]:
        return _match_details(result, i)


def _match_details(result: RewardBatch, i: int) -> dict[str, Any]:
    hit = next((v[2] for v in reversed(_MATCH_CACHE.values()) if v[0] is result.parsed), None)
    if hit is None:
        return {}
    lo, hi = int(result.parsed.offsets[i]), int(result.parsed.offsets[i + 1])
    return {
        "n_ground_truth": int(hit.n_gt[i]),
        "n_predictions": int(hit.n_pred[i]),
        "duplicates_dropped": int((~hit.keep[lo:hi]).sum()),
        "matched_iou": [float(x) for x, g in zip(hit.iou[lo:hi], hit.gt_index[lo:hi]) if g >= 0],
    }
