"""Multi-object detection schemes of published visual-RL work, over one one-to-one (Hungarian) matching.

``make_detection_reward(scheme=...)`` builds each as published (docs/rewards/detection_f1.md gives the sources and
where vreward differs); ``detection_f1_reward`` is the recommended one. Per completion, with P predicted boxes,
G ground-truth boxes, TP of them matched one-to-one at IoU above the threshold t (the matching maximises the
summed IoU of the pairs above t; duplicates are predictions like any other), and ``ious`` the matched IoUs:

* ``f1``: ``2 TP / (P + G)``, in [0, 1]: every miss and every extra box (a duplicate included) costs.
* ``perception_r1`` (Perception-R1, arXiv 2504.07954): ``F1 + mean(ious) - (FP / P + FN / G) / 2``, in [-1, 2].
* ``v_triune`` (V-Triune, arXiv 2505.18129): ``sum(ious) / G * 0.6 ** |P - G|``, in [0, 1], with the dynamic IoU
  threshold (schedule ``v_triune_iou``: 0.85, 0.95 from 10% of training, 0.99 from 25%).
* ``vision_r1`` (Vision-R1, arXiv 2503.18013): recall ``TP / G`` plus precision ``mean(ious)`` (over the
  predictions that match), in [0, 2], the threshold raised from 0.5 to 0.75 halfway (schedule
  ``vision_r1_iou``).
* ``odlength`` (VLM-R1's ``odLength_reward``, arXiv 2504.07615): COCO mAP@[0.5:0.95] of the answer (boxes in
  the order written, as with the published score 1.0 for every box) times ``min(1, G / P)``, in [0, 1].

No ground truth: "No Objects" scores 1, boxes 0; "No Objects" against objects 0 (every scheme).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vreward.parsing import ParsedBatch
from vreward.reasons import ZeroReason
from vreward.rewards.base import Reward, RewardBatch, Scored
from vreward.rewards.detection import DetectionMatch, empty_cases, label_ids, match_detections
from vreward.rewards.settings import DetectionSchemeSettings, DetectionSettings
from vreward.schedules import PRESET_SCHEDULES, Schedule, resolve

# The published threshold of each scheme (None: odlength averages COCO's thresholds).
SCHEME_THRESHOLDS: dict[str, float | Schedule | None] = {
    "f1": 0.5, "perception_r1": 0.5, "v_triune": PRESET_SCHEDULES["v_triune_iou"],
    "vision_r1": PRESET_SCHEDULES["vision_r1_iou"], "odlength": None,
}
SCORE_RANGES: dict[str, tuple[float, float]] = {
    "f1": (0.0, 1.0), "perception_r1": (-1.0, 2.0), "v_triune": (0.0, 1.0), "vision_r1": (0.0, 2.0),
    "odlength": (0.0, 1.0),
}
V_TRIUNE_SIZE_BASE = 0.6  # the penalty 0.6 ** |#predictions - #ground truth|
COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
COCO_RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)
COCO_MAX_DETECTIONS = 100


@dataclass(frozen=True)
class SchemeEvidence:
    """What a scheme computed: the matching (at ``threshold``; at 0.5 for odlength's details), per-row counts
    (B,) of matches, and the parts of the score (B,) by name."""

    match: DetectionMatch
    threshold: float
    n_matched: np.ndarray
    parts: dict[str, np.ndarray]


class DetectionSchemeReward(Reward):
    """One published multi-object scheme (``settings.scheme``), see the module docstring."""

    default_name = "detection_f1_reward"
    settings_class = DetectionSchemeSettings
    settings: DetectionSchemeSettings

    @property
    def score_range(self) -> tuple[float, float]:
        return SCORE_RANGES[self.settings.scheme]

    @property
    def threshold(self) -> float | Schedule | None:
        """The threshold in force: the option, else the scheme's published one."""
        t = self.settings.threshold
        return SCHEME_THRESHOLDS[self.settings.scheme] if t is None else t

    def _score(self, parsed: ParsedBatch, kwargs: dict[str, Any]) -> Scored:
        scheme = self.settings.scheme
        t = self.threshold
        threshold = 0.5 if t is None else resolve(t, kwargs)
        m = match_detections(parsed, kwargs, self._matching(threshold), self)
        n = len(parsed)
        hit = m.gt_index >= 0
        tp = np.bincount(m.rows[hit], minlength=n).astype(np.float64)
        iou_sum = np.bincount(m.rows[hit], weights=m.iou[hit], minlength=n)
        p, g = m.n_pred.astype(np.float64), m.n_gt.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.where(p + g > 0, 2.0 * tp / (p + g), 0.0)
            mean_iou = np.where(tp > 0, iou_sum / tp, 0.0)
            recall = np.where(g > 0, tp / g, 0.0)
            if scheme == "f1":
                parts = {"f1": f1}
                scores = f1.copy()
            elif scheme == "perception_r1":
                fp_rate = np.where(p > 0, (p - tp) / p, 0.0)
                fn_rate = 1.0 - recall
                parts = {"f1": f1, "mean_iou": mean_iou, "fp_rate": fp_rate, "fn_rate": fn_rate}
                scores = f1 + mean_iou - (fp_rate + fn_rate) / 2.0
            elif scheme == "v_triune":
                size = V_TRIUNE_SIZE_BASE ** np.abs(p - g)
                completeness = np.where(g > 0, iou_sum / g, 0.0)
                parts = {"iou_completeness": completeness, "size_penalty": size}
                scores = completeness * size
            elif scheme == "vision_r1":
                parts = {"recall": recall, "precision": mean_iou}
                scores = recall + mean_iou
            else:
                ap = coco_map_rows(parsed, m, self.settings.match_labels and self.settings.require_labels)
                length = np.where(p > 0, np.minimum(1.0, g / np.maximum(p, 1.0)), 1.0)
                parts = {"map": ap, "length": length}
                scores = ap * length
        codes = empty_cases(parsed, m.n_gt, scores, ZeroReason.NO_MATCH)
        return Scored(scores, codes, SchemeEvidence(m, threshold, tp, parts), m.gt.problems)

    def _matching(self, threshold: float) -> DetectionSettings:
        s = self.settings
        return DetectionSettings(threshold=threshold, matching="hungarian", match_labels=s.match_labels,
                                 require_labels=s.require_labels, drop_duplicates=False, strict=s.strict,
                                 coords=s.coords, solution_coords=s.solution_coords, min_pixels=s.min_pixels,
                                 max_pixels=s.max_pixels)

    def _details(self, result: RewardBatch, i: int) -> dict[str, Any]:
        e: SchemeEvidence = result.evidence
        lo, hi = int(result.parsed.offsets[i]), int(result.parsed.offsets[i + 1])
        return {"scheme": self.settings.scheme, "threshold": e.threshold, "n_ground_truth": int(e.match.n_gt[i]),
                "n_predictions": int(e.match.n_pred[i]), "n_matched": int(e.n_matched[i]),
                "matched_iou": [float(x) for x, g in zip(e.match.iou[lo:hi], e.match.gt_index[lo:hi]) if g >= 0],
                **{name: float(v[i]) for name, v in e.parts.items()}}

    def signals(self, result: RewardBatch) -> dict[str, float]:
        e: SchemeEvidence = result.evidence
        if not len(e.n_matched):
            return {}
        n_pred = e.match.n_pred
        extra = np.where(n_pred > 0, (n_pred - e.n_matched) / np.maximum(n_pred, 1), 0.0)
        return {"threshold": e.threshold, "predicted_boxes_mean": float(n_pred.mean()),
                "ground_truth_boxes_mean": float(e.match.n_gt.mean()), "unmatched_share_mean": float(extra.mean())}


def coco_map_rows(parsed: ParsedBatch, m: DetectionMatch, labels_required: bool) -> np.ndarray:
    """(B,) COCO mAP@[0.5:0.95] of each completion's boxes (in the order written) against its ground truth.

    As pycocotools' ``COCOeval`` scores one image whose detections all have score 1.0 (VLM-R1's
    ``calculate_map``): classes are the ground truth's labels (one class without labels); a detection of a class
    the ground truth lacks is dropped; per class and threshold, each detection in turn takes the unmatched box of
    highest IoU at least the threshold; precision made monotone, read at 101 recall points; classes with objects
    but no detection count 0. No detection left: 0.
    """
    from vreward.geometry import box_iou

    n = len(parsed)
    out = np.zeros(n)
    ids = label_ids(parsed, m.gt, labels_required)
    gt_boxes = m.gt.boxes
    for i in np.flatnonzero((m.n_pred > 0) & (m.n_gt > 0)).tolist():
        lo, hi = int(parsed.offsets[i]), int(parsed.offsets[i + 1])
        glo, ghi = int(m.gt.offsets[i]), int(m.gt.offsets[i + 1])
        pred_ids = ids[0][lo:hi] if ids is not None else np.zeros(hi - lo, np.int64)
        true_ids = ids[1][glo:ghi] if ids is not None else np.zeros(ghi - glo, np.int64)
        out[i] = coco_ap(parsed.boxes[lo:hi], pred_ids, gt_boxes[glo:ghi], true_ids, box_iou)
    return out


def coco_ap(pred: np.ndarray, pred_ids: np.ndarray, gt: np.ndarray, gt_ids: np.ndarray, box_iou) -> float:
    """COCO AP@[0.5:0.95] of one image (see :func:`coco_map_rows`); 0 when no detection has a true class."""
    classes = np.unique(gt_ids)
    if not np.isin(pred_ids, classes).any():
        return 0.0
    aps = []
    for c in classes.tolist():
        d = pred[pred_ids == c][:COCO_MAX_DETECTIONS]
        g = gt[gt_ids == c]
        if not len(d):
            aps.append(0.0)
            continue
        ious = box_iou(d, g)
        per_t = []
        for t in COCO_IOU_THRESHOLDS.tolist():
            taken = np.zeros(len(g), bool)
            tp = np.zeros(len(d))
            for k in range(len(d)):
                best, cur = -1, min(t, 1 - 1e-10)
                for j in range(len(g)):
                    if taken[j] or ious[k, j] < cur:
                        continue
                    cur, best = ious[k, j], j
                if best >= 0:
                    taken[best] = True
                    tp[k] = 1.0
            tps = np.cumsum(tp)
            recall = tps / len(g)
            precision = np.maximum.accumulate((tps / np.arange(1, len(d) + 1))[::-1])[::-1]
            at = np.searchsorted(recall, COCO_RECALL_THRESHOLDS, side="left")
            per_t.append(float(np.where(at < len(d), precision[np.minimum(at, len(d) - 1)], 0.0).mean()))
        aps.append(float(np.mean(per_t)))
    return float(np.mean(aps))


def make_detection_reward(scheme: str = "f1", settings: DetectionSchemeSettings | None = None,
                          **options: Any) -> DetectionSchemeReward:
    """A published multi-object scheme by name (``"f1"``, ``"perception_r1"``, ``"v_triune"``, ``"vision_r1"``,
    ``"odlength"``), named ``<scheme>_detection_reward`` unless ``name`` is given; options as
    :class:`DetectionSchemeSettings` (``threshold`` a number or a schedule)."""
    options.setdefault("name", None if scheme == "f1" else f"{scheme}_detection_reward")
    return DetectionSchemeReward.from_options(settings, scheme=scheme, **options)


def make_detection_f1_reward(settings: DetectionSchemeSettings | None = None, **options: Any) -> DetectionSchemeReward:
    """The recommended multi-object reward: one-to-one F1 at the IoU threshold (options as
    :class:`DetectionSchemeSettings`)."""
    return DetectionSchemeReward.from_options(settings, **options)


detection_f1_reward = make_detection_f1_reward()
