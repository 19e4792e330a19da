"""The per-task reward sets of vreward_train (no torch needed)."""

from __future__ import annotations

import pytest

from vreward_train import task_rewards


def test_task_reward_sets_and_overrides():
    funcs, weights = task_rewards("grounding", weights={"format": 0.5}, giou={"shaping": 0.1})
    assert [f.__name__ for f in funcs] == ["giou_reward", "format_reward"]
    assert weights == [1.0, 0.5]
    assert funcs[0].settings.shaping == 0.1
    paper, _ = task_rewards("grounding", preset="visual_rft", giou={"scale": "unit"})
    assert paper[0].settings.scale == "unit"


def test_bad_task_or_option_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown task 'pose'"):
        task_rewards("pose")
    with pytest.raises(ValueError, match="do not apply to task 'classification'"):
        task_rewards("classification", iou={"threshold": 0.7})


def test_composite_reward_is_the_weighted_sum_of_its_parts():
    import vreward
    from vreward.composite import CompositeReward, make_task_reward

    completions = ["<think>.</think><answer>[{'Position': [0, 0, 10, 10], 'Confidence': 0.9}]</answer>",
                   "<answer>[0, 0, 10, 5]</answer>"]
    solution = ["[0, 0, 10, 10]"] * 2
    reward = make_task_reward("detection", weights={"format": 0.5})
    got = reward.score_all(completions, solution=solution)
    expected = [1.0 * i + 1.0 * c + 0.5 * f for i, c, f in zip(vreward.iou_reward(completions, solution=solution),
                vreward.confidence_reward(completions, solution=solution), vreward.format_reward(completions))]
    assert reward(completions, solution=solution) == got.total.tolist() == expected
    assert got.parts["iou_reward"].reasons == [None, "no_match"]
    with pytest.raises(ValueError, match="names must differ"):
        CompositeReward([vreward.iou_reward, vreward.iou_reward])
    with pytest.raises(ValueError, match="2 weights for 1 rewards"):
        CompositeReward([vreward.iou_reward], [1.0, 2.0])
