"""vreward's reward functions inside TRL's real GRPOTrainer (CPU, tiny locally built Qwen2, no download).

Proves the rewards accept TRL's calling convention (``prompts``, conversational ``completions``,
``completion_ids``, every dataset column, ``trainer_state``, ``log_metric``, ``log_extra``), return one float
per completion, and show up in TRL's logs as ``rewards/<name>/mean``.
"""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
trl = pytest.importorskip("trl")
datasets = pytest.importorskip("datasets")
pytest.importorskip("transformers")

from transformers import TrainerState  # noqa: E402

from tiny_lm import build_tiny_qwen2, build_tiny_tokenizer  # noqa: E402
from vreward import ParseReason, confidence_reward, format_reward, iou_reward, parse_completions  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")

REWARD_NAMES = ("iou_reward", "confidence_reward", "format_reward")
QUESTION = (
    "Detect all objects belonging to the category '{}' in the image, and provide the bounding boxes. "
    "Output the thinking process in <think> </think> and final answer in <answer> </answer> tags."
)
ROWS = [
    ("cat", [10, 20, 300, 400], "img-0"),
    ("dog", [5, 6, 70, 80], "img-1"),
    ("bike", [100, 100, 200, 250], "img-2"),
    ("person", [0, 0, 50, 120], "img-3"),
]


class Recording:
    """Wraps a reward function and records every call TRL makes (kwargs and returned rewards)."""

    def __init__(self, func):
        self.func = func
        self.__name__ = func.__name__
        self.calls: list[dict] = []

    def __call__(self, completions, **kwargs):
        rewards = self.func(completions, **kwargs)
        self.calls.append({"completions": completions, "kwargs": kwargs, "rewards": rewards})
        return rewards


def _solution(box) -> str:
    return f"<answer>[{{'Position': {box}, 'Confidence': 1}}]</answer>"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from trl import GRPOConfig, GRPOTrainer

    tmp = tmp_path_factory.mktemp("grpo")
    tokenizer = build_tiny_tokenizer()
    model = build_tiny_qwen2(tokenizer, seed=0)
    tokenizer.save_pretrained(tmp / "model")
    model.save_pretrained(tmp / "model")

    dataset = datasets.Dataset.from_list(
        [
            {
                "prompt": [{"role": "user", "content": QUESTION.format(category)}],
                "solution": _solution(box),
                "image_id": image_id,
            }
            for category, box, image_id in ROWS
        ]
    )
    args = GRPOConfig(
        output_dir=str(tmp / "out"),
        per_device_train_batch_size=4,
        num_generations=4,  # generation_batch_size = 4 * 1 process * 1 step = one prompt group per step
        max_completion_length=16,
        max_steps=2,
        learning_rate=1e-3,
        logging_steps=1,
        bf16=False,
        fp16=False,
        activation_checkpointing=False,  # TRL defaults gradient (= activation) checkpointing on
        gradient_checkpointing=False,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        dataloader_pin_memory=False,
        seed=0,
    )
    recorder = Recording(iou_reward)
    trainer = GRPOTrainer(
        model=str(tmp / "model"),
        processing_class=tokenizer,
        reward_funcs=[recorder, confidence_reward, format_reward],
        args=args,
        train_dataset=dataset,
    )
    trainer.train()
    return trainer, recorder


def test_training_runs_and_logs_every_reward(trained):
    trainer, _ = trained
    assert trainer.reward_func_names == list(REWARD_NAMES)
    assert trainer.state.global_step == 2
    assert trainer.args.bf16 is False and trainer.args.gradient_checkpointing is False
    logged = [entry for entry in trainer.state.log_history if "rewards/iou_reward/mean" in entry]
    assert len(logged) == 2, trainer.state.log_history
    for entry in logged:
        for name in REWARD_NAMES:
            value = entry[f"rewards/{name}/mean"]
            assert math.isfinite(value) and 0.0 <= value <= 1.0, (name, value)
            assert math.isfinite(entry[f"rewards/{name}/std"])


def test_trl_calling_convention(trained):
    _, recorder = trained
    assert len(recorder.calls) == 2  # one generation batch per optimizer step
    solutions = {_solution(box): image_id for _, box, image_id in ROWS}
    for call in recorder.calls:
        completions, kwargs, rewards = call["completions"], call["kwargs"], call["rewards"]
        n = len(completions)
        assert n == 4
        assert {"prompts", "completion_ids", "solution", "image_id", "trainer_state", "log_metric",
                "log_extra"} <= set(kwargs)
        assert len(kwargs["prompts"]) == len(kwargs["completion_ids"]) == n
        assert len(kwargs["solution"]) == len(kwargs["image_id"]) == n
        # one prompt group: the same row repeated num_generations times, extra columns passed through
        assert len(set(kwargs["solution"])) == 1 and len(set(kwargs["image_id"])) == 1
        assert solutions[kwargs["solution"][0]] == kwargs["image_id"][0]
        assert kwargs["prompts"][0][0]["role"] == "user"
        assert isinstance(kwargs["trainer_state"], TrainerState)
        assert callable(kwargs["log_metric"]) and callable(kwargs["log_extra"])
        for ids in kwargs["completion_ids"]:
            assert isinstance(ids, list) and all(isinstance(t, int) for t in ids)
        # conversational completions: [{"role": "assistant", "content": text}]
        assert all(c[-1]["role"] == "assistant" and isinstance(c[-1]["content"], str) for c in completions)
        assert isinstance(rewards, list) and len(rewards) == n
        assert all(type(r) is float for r in rewards)


def test_random_model_scores_zero_with_reasons(trained):
    _, recorder = trained
    for call in recorder.calls:
        completions, kwargs = call["completions"], call["kwargs"]
        batch = parse_completions(completions)
        assert len(batch) == len(completions)
        for i, completion in enumerate(completions):
            text = completion[-1]["content"]
            reason = batch.reason(i)
            assert not reason.usable, (text, reason)
            if "<answer>" not in text:
                assert reason is ParseReason.NO_ANSWER_TAG, (text, reason)
        assert call["rewards"] == [0.0] * len(completions)
        assert format_reward(completions, **kwargs) == [0.0] * len(completions)
        assert confidence_reward(completions, **kwargs) == [0.0] * len(completions)


def test_rewards_score_correct_answers_under_trl_kwargs(trained):
    """The kwargs TRL passed, with the completions replaced by right answers, give full rewards."""
    _, recorder = trained
    kwargs = dict(recorder.calls[0]["kwargs"])
    n = len(kwargs["solution"])
    right = [[{"role": "assistant", "content": f"<think>I see it.</think>{s}"}] for s in kwargs["solution"]]
    wrong = [[{"role": "assistant", "content": "no answer here"}] for _ in range(n)]
    assert iou_reward(right, **kwargs) == pytest.approx([1.0] * n)
    assert format_reward(right, **kwargs) == pytest.approx([1.0] * n)
    assert confidence_reward(right, **kwargs) == pytest.approx([1.0] * n)
    assert iou_reward(wrong, **kwargs) == [0.0] * n


def test_reward_diagnostics_reach_trl_logs(trained):
    """Rewards report why they scored zero through TRL's ``log_metric`` and ``log_extra`` hooks."""
    trainer, _ = trained
    logged = [entry for entry in trainer.state.log_history if "rewards/iou_reward/mean" in entry]
    for entry in logged:
        for name in REWARD_NAMES:
            # every completion of the random model fails to parse, so every reward is zero for a reason
            assert entry[f"{name}/zero_reasons_frac"] == pytest.approx(1.0), sorted(entry)
    extra = trainer._logs["extra"]  # TRL's completions-table columns (private, pinned TRL version)
    for name in REWARD_NAMES:
        reasons = list(extra[f"{name}_reason"])
        assert len(reasons) == 4 and all(isinstance(r, str) and r for r in reasons), (name, reasons)
    assert set(extra["iou_reward_reason"]) <= {r.value for r in ParseReason if not r.usable}
