"""Reasoning-grounding reward (Visual-RFT / LISA): GIoU of the predicted box with the ground truth."""

from __future__ import annotations

from typing import Any

import numpy as np

from vreward.parsing import ParsedBatch
from vreward.reasons import REASON_CODE, ZeroReason
from vreward.rewards.base import Reward, RewardBatch, parse_reason_codes
from vreward.rewards.detection import _ground_truth_in_model_frame, warn_frames
from vreward.rewards.settings import GroundingSettings
from vreward.solution import parse_solutions


class GIoUReward(Reward):
    """GIoU + 1 in [0, 2] (the paper's scale) or (GIoU + 1) / 2 in [0, 1] with ``scale='unit'``.

    The first box of the answer counts (grounding asks for one); with several ground-truth boxes the best
    GIoU counts. No ground-truth box: an explicit "No Objects" scores the maximum, any box 0.
    """

    default_name = "giou_reward"
    settings: GroundingSettings

    def _score(self, parsed: ParsedBatch, kwargs: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        from vreward.matching import paired_best

        n = len(parsed)
        gt = parse_solutions(kwargs.get("solution"), n)
        gt_boxes, extents = _ground_truth_in_model_frame(gt, self.settings, kwargs, n)
        warn_frames(self, parsed, gt_boxes, self.settings, extents)
        has_pred = parsed.counts > 0
        first = np.zeros((n, 4))
        first[has_pred] = parsed.boxes[parsed.offsets[:-1][has_pred]]
        _, giou = paired_best(first, has_pred, gt_boxes, gt.offsets)
        top = 2.0 if self.settings.scale == "paper" else 1.0
        scores = np.nan_to_num((giou + 1.0) * (top / 2.0), nan=0.0)
        codes = parse_reason_codes(parsed)
        no_gt = gt.counts == 0
        scores[no_gt] = np.where(parsed.explicit_empty[no_gt], top, 0.0)
        scores[~parsed.usable] = 0.0
        zero = parsed.usable & (scores <= 0.0)
        codes[zero] = np.where(no_gt[zero], REASON_CODE[ZeroReason.BOXES_ON_EMPTY.value],
                               np.where(parsed.explicit_empty[zero], REASON_CODE[ZeroReason.MISSED_OBJECTS.value],
                                        REASON_CODE[ZeroReason.NO_OVERLAP.value]))
        return scores, codes

    def _details(self, result: RewardBatch, i: int) -> dict[str, Any]:
        return {"n_predicted_boxes": int(result.parsed.counts[i])}
