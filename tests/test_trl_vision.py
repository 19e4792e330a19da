"""The rewards TRL computes while training a vision model are vreward's scores of the same completions.

A tiny Qwen2-VL (``vreward_train.tiny``, built locally), warmed up on the answer format so that its completions
earn rewards, trains two GRPO steps with TRL's ``GRPOTrainer`` on the drawn-shapes detection set
(``vreward_train.train.build_trainer``). Spies around the reward functions record what TRL passed and got; each
recorded batch is scored again by a fresh reward with the same settings, and TRL's logged means are checked
against the recorded rewards.
"""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("datasets")

from vreward_train.config import load_config  # noqa: E402
from vreward_train.synthetic import make_shapes_dataset  # noqa: E402
from vreward_train.tiny import build_tiny_model  # noqa: E402
from vreward_train.train import build_trainer  # noqa: E402

pytestmark = [pytest.mark.filterwarnings("ignore::vreward.FrameMismatchWarning"),
              pytest.mark.filterwarnings("ignore::FutureWarning")]

STEPS = 2


class Spy:
    """A reward function that records TRL's calls (completions, keywords, returned rewards)."""

    def __init__(self, func):
        self.func = func
        self.__name__ = func.__name__
        self.calls: list[tuple[list, dict, list[float]]] = []

    def __call__(self, completions, **kwargs):
        rewards = self.func(completions, **kwargs)
        self.calls.append((completions, kwargs, rewards))
        return rewards


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trl_vision")
    shapes = make_shapes_dataset(tmp / "shapes", n_train=8, n_test=0, seed=0)
    model = build_tiny_model(tmp / "model", family="qwen2vl", seed=0)
    config = load_config(None, ["task=detection", f"model.path={model}", f"data.path={shapes}",
                                f"output_dir={tmp / 'run'}", "grpo.per_device_train_batch_size=4",
                                "grpo.num_generations=4", "grpo.max_completion_length=96",
                                "grpo.learning_rate=1e-3", "grpo.logging_steps=1", "grpo.seed=0",
                                f"grpo.max_steps={STEPS}", "grpo.extra={disable_tqdm: true}", "warmup.steps=100",
                                "warmup.learning_rate=3e-3"])
    trainer = build_trainer(config)
    spies = [Spy(func) for func in trainer.reward_funcs]
    trainer.reward_funcs[:] = spies
    trainer.train()
    return trainer, spies


def test_rewards_during_training_are_vrewards_scores(trained):
    trainer, spies = trained
    assert [s.__name__ for s in spies] == ["iou_reward", "confidence_reward", "format_reward"]
    for spy in spies:
        assert len(spy.calls) == STEPS
        fresh = type(spy.func).from_options(spy.func.settings)  # a new reward, the same settings
        for completions, kwargs, rewards in spy.calls:
            assert [part["type"] for part in kwargs["prompts"][0][0]["content"]] == ["image", "text"]
            assert "image" in kwargs and len(kwargs["solution"]) == len(completions) == 4
            assert fresh(completions, solution=kwargs["solution"], image=kwargs["image"]) == rewards


def test_trl_logs_the_rewards_it_got(trained):
    trainer, spies = trained
    logged = [entry for entry in trainer.state.log_history if "rewards/format_reward/mean" in entry]
    assert len(logged) == STEPS
    for spy in spies:
        for entry, (_, _, rewards) in zip(logged, spy.calls):
            assert entry[f"rewards/{spy.__name__}/mean"] == pytest.approx(sum(rewards) / len(rewards))


def test_the_warmed_up_model_earns_rewards(trained):
    """Non-zero rewards, so the comparison above is not one of zeros (a random model earns none)."""
    _, spies = trained
    format_rewards = [r for _, _, rewards in spies[2].calls for r in rewards]
    assert sum(format_rewards) > 0, format_rewards
