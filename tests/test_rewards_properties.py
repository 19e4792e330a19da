"""Rewards never raise on model text, and stay in their ranges."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from vreward import accuracy_reward, confidence_reward, format_reward, giou_reward, iou_reward

FRAGMENTS = ["<think>", "</think>", "<answer>", "</answer>", "[", "]", "{", "}", "(", ")", ",", ":", "'", '"',
             "'Position'", "'Confidence'", '"bbox_2d"', "No Objects", "nan", "1e308", "-3", "0.5", "12", "\\{",
             "<|box_start|>", "...", "\n", " "]
texts = st.one_of(st.text(max_size=300), st.lists(st.sampled_from(FRAGMENTS), max_size=60).map("".join))
completions = st.one_of(texts, st.lists(st.fixed_dictionaries({"role": st.just("assistant"), "content": texts}),
                                        min_size=1, max_size=2), st.none(), st.integers())
SOLUTION = ("<answer>[{'Position': [10, 20, 300, 400], 'Confidence': 1}, "
            "{'Position': [5, 5, 50, 50], 'Confidence': 1}]</answer>")


@settings(max_examples=300, deadline=None)
@given(st.lists(completions, min_size=1, max_size=8))
def test_rewards_never_raise_and_stay_in_range(batch):
    solution = [SOLUTION] * len(batch)
    for reward, top in ((iou_reward, 1.0), (confidence_reward, 1.0), (format_reward, 1.0), (giou_reward, 2.0)):
        scores = reward(batch, solution=solution)
        assert len(scores) == len(batch)
        assert all(0.0 <= s <= top for s in scores)
    assert all(s in (0.0, 1.0) for s in accuracy_reward(batch, solution=["tabby cat"] * len(batch)))
