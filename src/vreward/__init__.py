"""vreward: exact, fast and explainable verifiable rewards for visual reinforcement fine-tuning.

>>> from vreward import iou_reward
>>> iou_reward(["<think>.</think><answer>[{'Position': [0, 0, 10, 10], 'Confidence': 0.9}]</answer>"],
...            solution=["<answer>[{'Position': [0, 0, 10, 10], 'Confidence': 1}]</answer>"])
[1.0]
"""

from vreward.geometry import box_giou, box_iou
from vreward.parsing import Box, ParsedBatch, ParsedCompletion, parse_completion, parse_completions
from vreward.reasons import ParseReason, ZeroReason
from vreward.rewards import (
    AccuracyReward,
    ClassificationSettings,
    ConfidenceReward,
    DetectionSettings,
    FormatReward,
    FormatSettings,
    FrameMismatchWarning,
    GIoUReward,
    GroundingSettings,
    IoUReward,
    Reward,
    RewardBatch,
    RewardDetail,
    accuracy_reward,
    confidence_reward,
    format_reward,
    giou_reward,
    iou_reward,
    make_accuracy_reward,
    make_confidence_reward,
    make_format_reward,
    make_giou_reward,
    make_iou_reward,
)
from vreward.solution import GroundTruth, SolutionError, parse_solutions

__version__ = "0.1.0"

__all__ = [
    "AccuracyReward", "Box", "ClassificationSettings", "ConfidenceReward", "DetectionSettings", "FormatReward",
    "FormatSettings", "FrameMismatchWarning", "GIoUReward", "GroundTruth", "GroundingSettings", "IoUReward",
    "ParseReason", "ParsedBatch", "ParsedCompletion", "Reward", "RewardBatch", "RewardDetail", "SolutionError",
    "ZeroReason", "accuracy_reward", "box_giou", "box_iou", "confidence_reward", "format_reward", "giou_reward",
    "iou_reward", "make_accuracy_reward", "make_confidence_reward", "make_format_reward", "make_giou_reward",
    "make_iou_reward", "parse_completion", "parse_completions", "parse_solutions",
]
