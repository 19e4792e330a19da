"""Trainer adapters and the OpenRLHF request mapping never raise on model text, and stay in range."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from vreward.adapters import easyr1, openrlhf, verl
from vreward.adapters.chat import strip_end
from vreward.composite import make_task_reward

FRAGMENTS = ["<think>", "</think>", "<answer>", "</answer>", "[", "]", "{", "}", "(", ")", ",", "'Position'",
             "'Confidence'", ":", "0.9", "12", "1e308", "nan", "No Objects", "<|im_end|>", "\n", " "]
texts = st.one_of(st.text(max_size=200), st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join))
SOLUTION = "<answer>[{'Position': [10, 20, 300, 400], 'Confidence': 1}]</answer>"
SETTINGS = settings(max_examples=150, deadline=None)


@SETTINGS
@given(st.lists(texts, min_size=1, max_size=6))
def test_verl_per_sample_and_batch_never_raise(responses):
    n = len(responses)
    batch = verl.compute_score_batch(data_sources=["coco"] * n, solution_strs=responses,
                                     ground_truths=[SOLUTION] * n, extra_infos=[None] * n)
    for response, row in zip(responses, batch):
        single = verl.compute_score("coco", response, SOLUTION, None)
        assert single == row
        assert math.isfinite(row["score"]) and 0.0 <= row["score"] <= 3.0


@SETTINGS
@given(st.lists(texts, min_size=1, max_size=6))
def test_easyr1_never_raises(responses):
    inputs = [{"response": r, "response_length": len(r), "ground_truth": SOLUTION} for r in responses]
    for row in easyr1.compute_score(inputs):
        assert all(0.0 <= row[key] <= 1.0 for key in ("overall", "format", "accuracy"))


@SETTINGS
@given(st.lists(st.tuples(texts, texts), min_size=1, max_size=6))
def test_openrlhf_requests_of_arbitrary_text_score_like_the_composite(pairs):
    prompts = [p for p, _ in pairs]
    body = {"query": [p + r for p, r in pairs], "prompts": prompts, "labels": [SOLUTION] * len(pairs)}
    rows = openrlhf.parse_request(body)
    completions = [row.completion for row in rows]
    expected = make_task_reward("detection").score_all(completions, solution=[row.solution for row in rows])
    assert completions == [strip_end(r) for _, r in pairs]
    assert all(row.prompt_found and row.label_error is None for row in rows)
    assert all(math.isfinite(x) and 0.0 <= x <= 3.0 for x in expected.total)


@SETTINGS
@given(st.lists(st.integers(1, 300), min_size=1, max_size=3), texts, texts)
def test_openrlhf_vision_queries_split_whatever_the_pad_expansion(pads, question, response):
    """The prompt's single <|image_pad|> per image matches any run of them in the query."""
    prompt = "<|im_start|>user\n" + "".join(f"<|vision_start|><|image_pad|><|vision_end|>{question}" for _ in pads) \
        + "<|im_end|>\n<|im_start|>assistant\n"
    query = "<|im_start|>user\n" + "".join(f"<|vision_start|>{'<|image_pad|>' * n}<|vision_end|>{question}"
                                            for n in pads) + "<|im_end|>\n<|im_start|>assistant\n" + response
    assert openrlhf.split_response(query, prompt) == (strip_end(response), True)
