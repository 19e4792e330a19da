"""vreward: exact, fast and explainable verifiable rewards for visual reinforcement fine-tuning.

>>> from vreward import iou_reward
>>> iou_reward(["<think>.</think><answer>[{'Position': [0, 0, 10, 10], 'Confidence': 0.9}]</answer>"],
...            solution=["<answer>[{'Position': [0, 0, 10, 10], 'Confidence': 1}]</answer>"])
[1.0]

Public names load on first use (PEP 562), so ``import vreward`` stays light: numba, scipy and pydantic are
imported only by what needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "box_iou": "vreward.geometry",
    "box_giou": "vreward.geometry",
    "Box": "vreward.parsing",
    "ParsedBatch": "vreward.parsing",
    "ParsedCompletion": "vreward.parsing",
    "parse_completion": "vreward.parsing",
    "parse_completions": "vreward.parsing",
    "ParseReason": "vreward.reasons",
    "ZeroReason": "vreward.reasons",
    "GroundTruth": "vreward.solution",
    "SolutionError": "vreward.solution",
    "parse_solutions": "vreward.solution",
    **{name: "vreward.rewards" for name in (
        "AccuracyReward", "ClassificationSettings", "ConfidenceReward", "DetectionSettings", "FormatReward",
        "FormatSettings", "FrameMismatchWarning", "GIoUReward", "GroundingSettings", "IoUReward", "Reward",
        "RewardBatch", "RewardDetail", "accuracy_reward", "confidence_reward", "format_reward", "giou_reward",
        "iou_reward", "make_accuracy_reward", "make_confidence_reward", "make_format_reward",
        "make_giou_reward", "make_iou_reward")},
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vreward' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
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
