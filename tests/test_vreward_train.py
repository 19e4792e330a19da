"""The per-task reward sets of vreward_train (no torch needed)."""

from __future__ import annotations

import pytest

from vreward_train import task_rewards


def test_task_reward_sets_and_overrides():
    funcs, weights = task_rewards("grounding", weights={"format": 0.5}, giou={"scale": "unit"})
    assert [f.__name__ for f in funcs] == ["giou_reward", "format_reward"]
    assert weights == [1.0, 0.5]
    assert funcs[0].settings.scale == "unit"


def test_bad_task_or_option_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown task 'segmentation'"):
        task_rewards("segmentation")
    with pytest.raises(ValueError, match="do not apply to task 'classification'"):
        task_rewards("classification", iou={"threshold": 0.7})
