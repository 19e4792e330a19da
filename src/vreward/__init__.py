"""vreward: exact, fast and explainable verifiable rewards for visual reinforcement fine-tuning.

>>> from vreward import iou_reward
>>> iou_reward(["<think>.</think><answer>[{'Position': [0, 0, 10, 10], 'Confidence': 0.9}]</answer>"],
...            solution=["<answer>[{'Position': [0, 0, 10, 10], 'Confidence': 1}]</answer>"])
[1.0]

Public names load on first use (PEP 562), so ``import vreward`` stays light: numba, scipy and pydantic are
imported only by what needs them. The rewards' names (classes, settings, ``make_<name>_reward`` factories and
default ``<name>_reward`` instances) come from :mod:`vreward.registry`.
"""

from __future__ import annotations

import importlib
from typing import Any

from vreward.registry import public_rewards

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
    "CompositeReward": "vreward.composite",
    "make_task_reward": "vreward.composite",
    "normalize_label": "vreward.labels",
    "make_detection_reward": "vreward.rewards.multi_object",
    "LinearSchedule": "vreward.schedules",
    "PiecewiseSchedule": "vreward.schedules",
    **{name: "vreward.rewards.base" for name in ("FrameMismatchWarning", "Reward", "RewardBatch", "RewardDetail")},
    **public_rewards(),
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
