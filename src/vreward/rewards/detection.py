"""Detection rewards: the IoU reward and a calibrated confidence reward, over one greedy box matching.

The IoU reward is Visual-RFT's (arXiv 2503.01785, eq. 3: the matched IoUs summed over max(#ground truth,
#predictions)), with one hole closed: when the ground truth carries labels, a predicted box without a label (or
with ``""``) matches none of them (``require_labels``), so leaving labels out no longer scores like a perfect
answer. The confidence reward replaces the paper's (mean over predictions of ``c`` if matched, ``1 - c`` if
not; in :mod:`vreward.visual_rft`) by a Brier-style proper score:

    score = sum over predictions of [m - (c - m)**2]  /  ((#predictions + #ground truth) / 2)

with ``m`` 1 for a matched prediction and 0 otherwise, ``c`` its confidence in [0, 1]. A matched box earns
``1 - (1 - c)**2``, an unmatched one ``-c**2``. The denominator does not depend on which boxes match, so the
expected credit of a box that is right with probability ``p`` is ``2pc - c**2`` times a constant, largest at
``c = p``: stating one's true confidence pays best. Boxes that match nothing earn nothing at confidence 0 and
cost at any other (the paper pays 1.0 for one junk box at confidence 0); padding an answer with junk lowers its
score, and missed objects lower it too. The score is 1 when every object is found by one box at confidence 1,
and lies in [-2, 1]: negative when confident misses outweigh the hits.
See docs/rewards/confidence.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from vreward.cache import BoundedCache, ContentKey
from vreward.labels import normalize_label
from vreward.parsing import ParsedBatch
from vreward.reasons import REASON_CODE, ZeroReason
from vreward.rewards.base import Reward, RewardBatch, Scored, parse_reason_codes
from vreward.rewards.framing import batch_sizes, framed_truth
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
    frame_messages: tuple[tuple[str, str], ...]  # coordinate-frame mismatches the batch shows

    @cached_property
    def signals(self) -> dict[str, float]:
        """Batch shares that show box hacking: completions with boxes that match nothing, box counts (the IoU and
        confidence rewards of a step log them from one matching)."""
        n = len(self.n_pred)
        if not n:
            return {}
        unmatched = np.bincount(self.rows[self.keep & (self.gt_index < 0)], minlength=n)
        return {"unmatched_boxes_share": np.count_nonzero(unmatched) / n,
                "predicted_boxes_mean": np.count_nonzero(self.keep) / n,  # the mean of n_pred
                "ground_truth_boxes_mean": len(self.gt.boxes) / n}  # the mean of n_gt


# The IoU and confidence rewards of one TRL step (called one after the other) share one matching.
_MATCHES: BoundedCache[DetectionMatch] = BoundedCache("detection matches", 8)
_MATCH_OPTIONS = ("threshold", "matching", "match_labels", "require_labels", "drop_duplicates", "missing_confidence",
                  "coords", "solution_coords", "min_pixels", "max_pixels",
                  "family")


def match_detections(parsed: ParsedBatch, kwargs: dict[str, Any], settings: DetectionSettings,
                     reward: Reward | None = None) -> DetectionMatch:
    """Match a parsed batch against its ``solution`` column (warning ``reward``'s frame mismatches once)."""
    gt = parse_solutions(kwargs.get("solution"), len(parsed), strict=settings.strict)
    sizes = batch_sizes(kwargs, len(parsed), settings)
    key = ContentKey(parsed.key, gt.key, tuple(getattr(settings, name) for name in _MATCH_OPTIONS),
                     None if sizes is None else (sizes[0].tobytes(), sizes[1].tobytes()))
    match = _MATCHES.get_or_compute(key, lambda: _match(parsed, gt, sizes, settings))
    if reward is not None:
        for message_key, message in match.frame_messages:
            reward.warn_once(message_key, message)
    return match


def _match(parsed: ParsedBatch, gt: GroundTruth, sizes, settings: DetectionSettings) -> DetectionMatch:
    from vreward.matching import match_arrays

    gt_boxes, frame_messages = framed_truth(parsed, gt, sizes, settings)
    scores = np.where(np.isnan(parsed.confidences), settings.missing_confidence, parsed.confidences)
    labels = label_ids(parsed, gt, settings.require_labels) if settings.match_labels else None
    no_labels = np.zeros(0, np.int64)
    keep = np.ones(len(parsed.boxes), bool)
    result, order = match_arrays(parsed.boxes, scores, parsed.offsets, np.ascontiguousarray(gt_boxes), gt.offsets,
                                 settings.threshold, settings.matching, no_labels if labels is None else labels[0],
                                 no_labels if labels is None else labels[1], labels is not None, keep,
                                 settings.drop_duplicates)
    rows = np.repeat(np.arange(len(parsed)), parsed.counts)
    return DetectionMatch(keep=keep, gt_index=result.gt_index, iou=result.iou, rows=rows, order=order,
                          n_pred=np.bincount(rows[keep], minlength=len(parsed)), n_gt=gt.counts, gt=gt,
                          frame_messages=frame_messages)


# Label id of a predicted box without a label that may match no labelled ground truth (the matching kernels
# keep apart any two ids that are not -1 and differ; -1 is "no label", matching anything).
_UNLABELLED = -2


def label_ids(parsed: ParsedBatch, gt: GroundTruth, require_labels: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """Integer label ids (P,) and (G,) for label-aware matching, or None when labels cannot matter: the ground
    truth carries none, or the predictions carry none and ``require_labels`` is off."""
    if not gt.has_labels or not (parsed.has_labels or require_labels):
        return None
    ids: dict[str, int] = {}
    gt_ids = np.array([_label_id(x, ids, -1) for x in gt.labels], np.int64)
    unlabelled = _UNLABELLED if require_labels else -1
    pred_ids = np.array([_label_id(x, ids, unlabelled) for x in parsed.labels], np.int64)
    return pred_ids, gt_ids


def _label_id(label: str | None, ids: dict[str, int], unlabelled: int) -> int:
    norm = normalize_label(label)
    return unlabelled if norm is None else ids.setdefault(norm, len(ids))


_BOXES_ON_EMPTY = REASON_CODE[ZeroReason.BOXES_ON_EMPTY.value]
_MISSED_OBJECTS = REASON_CODE[ZeroReason.MISSED_OBJECTS.value]
_CONFIDENCE = REASON_CODE[ZeroReason.CONFIDENCE.value]
_NO_MATCH = REASON_CODE[ZeroReason.NO_MATCH.value]


def empty_cases(parsed: ParsedBatch, n_gt: np.ndarray, scores: np.ndarray, otherwise: ZeroReason,
                top: float = 1.0) -> np.ndarray:
    """Apply the no-ground-truth rules in place; returns the reason code of every zero (``otherwise`` for the
    rest): no ground truth and "No Objects" scores ``top``, boxes there 0; "No Objects" against objects 0."""
    codes = parse_reason_codes(parsed)
    no_gt = n_gt == 0
    empty = parsed.explicit_empty  # "No Objects" rows, all usable
    scores[no_gt | empty | ~parsed.usable] = 0.0
    scores[no_gt & empty] = top
    zero = parsed.usable & (scores <= 0.0)
    codes[zero] = np.where(no_gt[zero], _BOXES_ON_EMPTY,
                           np.where(empty[zero], _MISSED_OBJECTS, REASON_CODE[otherwise.value]))
    return codes


class IoUReward(Reward):
    """Visual-RFT IoU reward: sum of matched IoUs / max(#ground truth, #predictions)."""

    default_name = "iou_reward"
    settings_class = DetectionSettings
    settings: DetectionSettings

    def _score(self, parsed: ParsedBatch, kwargs: dict[str, Any]) -> Scored:
        m = match_detections(parsed, kwargs, self.settings, self)
        # summed in matching order, as the reference does, so that equal inputs give equal bits
        iou_sum = np.bincount(m.rows, weights=m.iou[m.order], minlength=len(parsed))  # rows[order] is rows
        denom = np.maximum(m.n_gt, m.n_pred)
        scores = np.divide(iou_sum, denom, out=np.zeros(len(parsed)), where=denom > 0)
        np.minimum(scores, 1.0, out=scores)
        return Scored(scores, empty_cases(parsed, m.n_gt, scores, ZeroReason.NO_MATCH), m, m.gt.problems)

    def _details(self, result: RewardBatch, i: int) -> dict[str, Any]:
        return match_details(result.evidence, result.parsed, i)

    def signals(self, result: RewardBatch) -> dict[str, float]:
        return dict(result.evidence.signals)


def confidences(parsed: ParsedBatch, settings: DetectionSettings) -> np.ndarray:
    """(P,) each predicted box's confidence clipped to [0, 1], ``missing_confidence`` where none is stated."""
    c = np.where(np.isnan(parsed.confidences), settings.missing_confidence, parsed.confidences)
    return np.clip(c, 0.0, 1.0)


class ConfidenceReward(Reward):
    """Brier-style confidence reward: ``sum of m - (c - m)**2`` over the mean of the prediction and object counts
    (module docstring); in [-2, 1]."""

    default_name = "confidence_reward"
    settings_class = DetectionSettings
    settings: DetectionSettings

    @property
    def score_range(self) -> tuple[float, float]:
        return (-2.0, 1.0)

    def _score(self, parsed: ParsedBatch, kwargs: dict[str, Any]) -> Scored:
        m = match_detections(parsed, kwargs, self.settings, self)
        c = confidences(parsed, self.settings)
        hit = (m.gt_index >= 0).astype(np.float64)
        credit = hit - (c - hit) ** 2
        kept = m.order[m.keep[m.order]]
        n = len(parsed)
        total = np.bincount(m.rows[kept], weights=credit[kept], minlength=n)
        n_matched = np.bincount(m.rows[kept], weights=hit[kept], minlength=n)
        denom = (m.n_pred + m.n_gt) / 2.0
        scores = np.divide(total, denom, out=np.zeros(n), where=denom > 0)
        codes = empty_cases(parsed, m.n_gt, scores, ZeroReason.CONFIDENCE)
        codes[(codes == _CONFIDENCE) & (n_matched == 0)] = _NO_MATCH
        return Scored(scores, codes, m, m.gt.problems)

    def _details(self, result: RewardBatch, i: int) -> dict[str, Any]:
        return match_details(result.evidence, result.parsed, i)

    def signals(self, result: RewardBatch) -> dict[str, float]:
        return {**result.evidence.signals, **confidence_signals(result.parsed, result.evidence)}


def confidence_signals(parsed: ParsedBatch, match: DetectionMatch) -> dict[str, float]:
    """A summary of the stated confidences (a policy gaming a confidence reward pushes them to 0 or 1)."""
    stated = parsed.confidences[match.keep]
    stated = stated[~np.isnan(stated)]
    n = len(stated)
    if not n:
        return {}
    mean = stated.sum() / n
    deviation = stated - mean
    # numpy's mean and std, step by step (the same operations, without their dispatch)
    return {"confidence_mean": float(mean), "confidence_std": float(np.sqrt((deviation * deviation).sum() / n)),
            "confidence_at_most_0.05": np.count_nonzero(stated <= 0.05) / n,
            "confidence_at_least_0.95": np.count_nonzero(stated >= 0.95) / n}


def match_details(match: DetectionMatch, parsed: ParsedBatch, i: int) -> dict[str, Any]:
    """Row ``i`` of a matching: counts, duplicates dropped and the IoU of every matched prediction."""
    lo, hi = int(parsed.offsets[i]), int(parsed.offsets[i + 1])
    return {
        "n_ground_truth": int(match.n_gt[i]),
        "n_predictions": int(match.n_pred[i]),
        "duplicates_dropped": int((~match.keep[lo:hi]).sum()),
        "matched_iou": [float(x) for x, g in zip(match.iou[lo:hi], match.gt_index[lo:hi]) if g >= 0],
    }


def make_iou_reward(settings: DetectionSettings | None = None, **options: Any) -> IoUReward:
    """IoU reward with options (see :class:`DetectionSettings`), e.g. ``make_iou_reward(threshold=0.75)``."""
    return IoUReward.from_options(settings, **options)


def make_confidence_reward(settings: DetectionSettings | None = None, **options: Any) -> ConfidenceReward:
    """Confidence reward with options (see :class:`DetectionSettings`)."""
    return ConfidenceReward.from_options(settings, **options)


iou_reward = make_iou_reward()
confidence_reward = make_confidence_reward()
