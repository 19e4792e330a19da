"""The Visual-RFT rewards with TRL's calling convention: ``f(completions, **kwargs) -> list[float]``."""

from __future__ import annotations

from typing import Any

from vreward.rewards.base import FrameMismatchWarning, Reward, RewardBatch, RewardDetail
from vreward.rewards.classification import AccuracyReward
from vreward.rewards.detection import ConfidenceReward, IoUReward
from vreward.rewards.format import FormatReward
from vreward.rewards.grounding import GIoUReward
from vreward.rewards.settings import (
    ClassificationSettings,
    DetectionSettings,
    FormatSettings,
    GroundingSettings,
)


def make_iou_reward(settings: DetectionSettings | None = None, **options: Any) -> IoUReward:
    """IoU reward with options (see :class:`DetectionSettings`), e.g. ``make_iou_reward(threshold=0.75)``."""
    return IoUReward(_settings(DetectionSettings, settings, options))


def make_confidence_reward(settings: DetectionSettings | None = None, **options: Any) -> ConfidenceReward:
    """Confidence reward with options (see :class:`DetectionSettings`)."""
    return ConfidenceReward(_settings(DetectionSettings, settings, options))


def make_format_reward(settings: FormatSettings | None = None, **options: Any) -> FormatReward:
    """Format reward (the only option is ``name``)."""
    return FormatReward(_settings(FormatSettings, settings, options))


def make_accuracy_reward(settings: ClassificationSettings | None = None, **options: Any) -> AccuracyReward:
    """Classification accuracy reward with options (see :class:`ClassificationSettings`)."""
    return AccuracyReward(_settings(ClassificationSettings, settings, options))


def make_giou_reward(settings: GroundingSettings | None = None, **options: Any) -> GIoUReward:
    """Grounding GIoU reward with options (see :class:`GroundingSettings`)."""
    return GIoUReward(_settings(GroundingSettings, settings, options))


def _settings(cls, settings, options):
    if settings is not None:
        if not isinstance(settings, cls):
            raise TypeError(f"settings must be a {cls.__name__}, got {type(settings).__name__}")
        return settings.model_copy(update=options) if not options else cls(**{**settings.model_dump(), **options})
    return cls(**options)


iou_reward = make_iou_reward()
confidence_reward = make_confidence_reward()
format_reward = make_format_reward()
accuracy_reward = make_accuracy_reward()
giou_reward = make_giou_reward()

__all__ = [
    "AccuracyReward", "ClassificationSettings", "ConfidenceReward", "DetectionSettings", "FormatReward",
    "FormatSettings", "FrameMismatchWarning", "GIoUReward", "GroundingSettings", "IoUReward", "Reward",
    "RewardBatch", "RewardDetail", "accuracy_reward", "confidence_reward", "format_reward", "giou_reward",
    "iou_reward", "make_accuracy_reward", "make_confidence_reward", "make_format_reward", "make_giou_reward",
    "make_iou_reward",
]
