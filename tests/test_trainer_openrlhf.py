"""vreward's reward server called by OpenRLHF's own reward client (OpenRLHF 0.11.2 from PyPI).

``openrlhf.utils.agent.SingleTurnAgentExecutor.execute`` tokenizes the prompt with the model's processor (for a
Qwen2-VL prompt, ``openrlhf.utils.vlm_utils.process_prompt_with_images`` expands each ``<|image_pad|>`` into one
token per image patch), takes the response from the generation engine, decodes prompt + response with special
tokens kept and posts it, one sample per request, to ``--reward.remote_url``. The processor is the project's
tiny Qwen2-VL processor (``vreward_train.tiny``); the vLLM engine is replaced by one that answers fixed token
ids (OpenRLHF's code from the processor call to the parsed reward runs unchanged).
"""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("PIL")
pytest.importorskip("transformers")
agent = pytest.importorskip("openrlhf.utils.agent", reason="OpenRLHF is not installed (scripts/test.sh installs "
                            "openrlhf==0.11.2 from constraints.txt)")

from PIL import Image  # noqa: E402

from serving import serving  # noqa: E402
from vreward.composite import make_task_reward  # noqa: E402
from vreward.server import create_app  # noqa: E402
from vreward_train.tiny import build_tiny_processor  # noqa: E402

QUESTION = ("Detect all objects of the category 'cat'. Output the thinking process in <think> </think> and the "
            "final answer in <answer> </answer> tags.")
RESPONSE = "<think>One cat.</think><answer>[{'Position': [10, 10, 50, 50], 'Confidence': 0.8}]</answer>"
LABEL = "<answer>[{'Position': [10, 10, 50, 50], 'Confidence': 1}]</answer>"


class FixedEngine:
    """Stands in for OpenRLHF's vLLM engine: answers the same response token ids to every prompt."""

    def __init__(self, token_ids):
        self.token_ids = token_ids

    async def generate(self, prompt_token_ids, sampling_params, multi_modal_data=None):
        self.prompt_token_ids = prompt_token_ids
        output = SimpleNamespace(token_ids=self.token_ids, text="", finish_reason="stop", logprobs=None)
        return SimpleNamespace(outputs=[output])


@pytest.fixture(scope="module")
def processor():
    return build_tiny_processor()


@pytest.fixture(scope="module")
def prompt(processor):
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]
    return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def _execute(url, processor, prompt, label, response=RESPONSE):
    """One rollout through OpenRLHF's single-turn executor, its reward fetched from ``url``."""
    executor = agent.SingleTurnAgentExecutor(remote_rm_url=url)
    engine = FixedEngine(processor.tokenizer(response + "<|im_end|>", add_special_tokens=False)["input_ids"])
    params = SimpleNamespace(max_tokens=256, logprobs=None)
    image = Image.new("RGB", (224, 224), (200, 30, 30))
    output = asyncio.run(executor.execute(prompt, label, params, 4096, processor, engine, images=[image]))
    return output, engine


def test_vision_rollouts_score_like_vreward(processor, prompt):
    """Before: the expanded image pads kept the prompt from being a prefix of the query, so the whole query was
    scored (format 0: 1.96 instead of 2.96 on every Qwen-VL rollout), and scores repeated the 0-3 total."""
    with serving(create_app(task="detection")) as client:
        output, engine = _execute(f"{client.base_url}/openrlhf", processor, prompt, LABEL)
    image_pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert engine.prompt_token_ids.count(image_pad) > 1  # OpenRLHF's processor call expanded the placeholder
    expected = make_task_reward("detection").score_all([RESPONSE], solution=[LABEL])
    assert output["reward"] == pytest.approx(expected.total.tolist()) == [pytest.approx(2.96)]
    # dynamic filtering's range is [0, 1]: the total over its range, [-2, 3] for detection's default rewards
    assert output["scores"] == pytest.approx([(2.96 + 2) / 5])
    logs = output["extra_logs"]
    assert logs["format_reward"] == [1.0] and logs["prompt_not_prefix"] == [0.0] and logs["label_error"] == [0.0]


def test_missing_label_key_scores_zero_and_keeps_training(processor, prompt):
    """Before: OpenRLHF without --label_key posts "" labels, answered 422, retried 5 times, then failed."""
    with serving(create_app(task="detection")) as client:
        output, _ = _execute(f"{client.base_url}/openrlhf", processor, prompt, "")
        assert client.get("/metrics", params={"format": "json"}).json()["label_errors"] == 1
    assert output["reward"] == [0.0] and output["extra_logs"]["label_error"] == [1.0]


def test_strict_mode_message_reaches_openrlhfs_log(processor, prompt, monkeypatch):
    """OpenRLHF logs the aiohttp exception (status and reason phrase): the strict refusal says why in it."""
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logger = logging.getLogger(agent.__name__)
    logger.addHandler(handler)
    sleep = asyncio.sleep
    monkeypatch.setattr(asyncio, "sleep", lambda seconds: sleep(0))  # OpenRLHF waits 1 s between its 5 tries
    try:
        with serving(create_app(task="detection", strict=True)) as client:
            output, _ = _execute(f"{client.base_url}/openrlhf", processor, prompt, "")
    finally:
        logger.removeHandler(handler)
    assert output["reward"] is None  # OpenRLHF gave up on the reward
    refused = [r for r in records if "422" in r]
    assert refused and "`labels[0]` is empty: start OpenRLHF with --data.label_key" in refused[0], records
