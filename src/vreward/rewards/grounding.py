"""Reasoning-grounding reward (Visual-RFT / LISA): GIoU of the predicted box with the ground truth."""

from __future__ import annotations

from typing import Any

import numpy as np

from vreward.parsing import ParsedBatch
from vreward.reasons import ZeroReason
from vreward.rewards.base import Reward, RewardBatch, Scored
from vreward.rewards.detection import empty_cases
from vreward.rewards.framing import batch_sizes, framed_truth
from vreward.rewards.settings import GroundingSettings
from vreward.solution import parse_solutions


class GIoUReward(Reward):
    """GIoU + 1 in [0, 2] (the paper's scale) or (GIoU + 1) / 2 in [0, 1] with ``scale='unit'``.

    The first box of the answer counts (grounding asks for one); with several ground-truth boxes the best
    GIoU counts. No ground-truth box: an explicit "No Objects" scores the maximum, any box 0.
    """

    default_name = "giou_reward"
    settings_class = GroundingSettings
    settings: GroundingSettings

    @property
    def score_range(self) -> tuple[float, float]:
        return (0.0, 2.0 if self.settings.scale == "paper" else 1.0)

    def _score(self, parsed: ParsedBatch, kwargs: dict[str, Any]) -> Scored:
        from vreward.matching import paired_best

        n = len(parsed)
        gt = parse_solutions(kwargs.get("solution"), n)
        gt_boxes, frame_messages = framed_truth(parsed, gt, batch_sizes(kwargs, n, self.settings), self.settings)
        for key, message in frame_messages:
            self.warn_once(key, message)
        has_pred = parsed.counts > 0
        first = np.zeros((n, 4))
        first[has_pred] = parsed.boxes[parsed.offsets[:-1][has_pred]]
        _, giou = paired_best(first, has_pred, gt_boxes, gt.offsets)
        top = self.score_range[1]
        scores = np.nan_to_num((giou + 1.0) * (top / 2.0), nan=0.0)
        return Scored(scores, empty_cases(parsed, gt.counts, scores, ZeroReason.NO_OVERLAP, top=top), giou)

    def _details(self, result: RewardBatch, i: int) -> dict[str, Any]:
        return {"n_predicted_boxes": int(result.parsed.counts[i])}


def make_giou_reward(settings: GroundingSettings | None = None, **options: Any) -> GIoUReward:
    """Grounding GIoU reward with options (see :class:`GroundingSettings`)."""
    return GIoUReward.from_options(settings, **options)


giou_reward = make_giou_reward()
