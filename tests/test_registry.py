"""The registry is the one list of rewards and tasks: every row is reachable from every surface of vreward."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

import vreward
import vreward.adapters.easyr1 as easyr1
import vreward.adapters.verl as verl
from vreward.composite import make_task_reward
from vreward.registry import REWARDS, TASKS, build_reward, options_for, reward_spec, task_spec

ROOT = Path(__file__).resolve().parents[1]
# One completion and ground truth per task that each of the task's rewards scores above 0.
EXAMPLES = {
    "detection": ("<think>a cat</think><answer>[{'Position': [10, 10, 50, 50], 'Confidence': 0.8}]</answer>",
                  "[10, 10, 50, 50]"),
    "classification": ("<think>petals</think><answer>rose</answer>", "rose"),
    "grounding": ("<think>left</think><answer>[100, 100, 300, 200]</answer>", "[100, 100, 300, 200]"),
    "format": ("<think>.</think><answer>anything</answer>", "anything"),
    "gui": ("<think>the button</think><answer>[150, 70]</answer>", "[100, 50, 220, 90]"),
    "multi_object": ("<think>two</think><answer>[[10, 10, 50, 50], [60, 60, 90, 90]]</answer>",
                     "[[10, 10, 50, 50], [60, 60, 90, 90]]"),
    "counting": ("<think>I count</think><answer>3</answer>", "3"),
    "ocr": ("<think>I read</think><answer>STOP</answer>", "STOP"),
    "temporal": ("<think>it happens</think><answer>12.5 to 20</answer>", "12 to 20"),
    "segmentation": ("<think>its outline</think><answer>[0, 0, 40, 0, 40, 40, 0, 40]</answer>",
                     '{"size": [50, 50], "counts": [0, 2500]}'),
    "rotated": ("<think>tilted</think><answer>[100, 100, 40, 20, 30]</answer>", "[100, 100, 40, 20, 30]"),
}


def _choices(parser: argparse.ArgumentParser, command: str, option: str) -> tuple:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    return tuple(next(a for a in sub._actions if option in a.option_strings).choices)


def test_every_task_has_an_example_here():
    assert set(EXAMPLES) == set(TASKS)


@pytest.mark.parametrize("name", REWARDS)
def test_every_reward_is_public_with_its_factory_default_and_settings(name):
    spec = REWARDS[name]
    factory = getattr(vreward, spec.factory_name)
    default = getattr(vreward, spec.default_name)
    assert getattr(vreward, spec.reward) is spec.reward_class is type(default)
    assert getattr(vreward, spec.settings) is spec.settings_class
    assert default.__name__ == spec.default_name
    assert repr(factory()) == repr(default) == repr(build_reward(name))
    assert spec.tasks, f"reward {name} serves no task"
    assert (ROOT / spec.doc).is_file(), spec.doc
    assert set(spec.options) == set(spec.settings_class.model_fields)
    assert spec.frame_aware == ("coords" in spec.options)


def test_a_task_names_only_registered_rewards_and_its_primary():
    for spec in TASKS.values():
        assert set(spec.reward_names) <= set(REWARDS)
        assert spec.primary in spec.reward_names


def test_unknown_names_list_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown reward 'ioo'; choose one of \['iou'"):
        reward_spec("ioo")
    with pytest.raises(ValueError, match=r"unknown task 'segment'; choose one of \['detection'"):
        task_spec("segment")
    assert options_for("format", {"threshold": 0.7, "name": "f"}) == {"name": "f"}


@pytest.mark.parametrize("task", TASKS)
def test_every_task_reaches_the_composite_score_server_and_adapters(task):
    from vreward.evaluate.runner import ScoreConfig, build_rewards

    completion, truth = EXAMPLES[task]
    spec = TASKS[task]
    expected = [REWARDS[n].default_name for n in spec.reward_names]
    composite = make_task_reward(task)
    assert [r.__name__ for r in composite.rewards] == expected
    assert composite.weights == [w for _, w in spec.rewards]
    parts = composite.score_all([completion], solution=[truth]).parts
    assert all(part.scores[0] > 0 for part in parts.values()), parts

    scored = build_rewards(ScoreConfig(input=__file__, task=task), None)
    assert [r.__name__ for r in scored] == expected

    row = verl.compute_score(f"source_{task}", completion, truth, extra_info={"task": task})
    assert set(row) == {"score", *expected, "bad_ground_truth"}
    assert row["score"] == pytest.approx(float(composite([completion], solution=[truth])[0]))

    (result,) = easyr1.compute_score([{"response": completion, "ground_truth": truth, "response_length": 1}],
                                     task=task)
    assert result["accuracy"] > 0 and result["format"] == 1.0


@pytest.mark.parametrize("task", TASKS)
def test_every_task_is_served(task):
    pytest.importorskip("fastapi")
    from vreward.server import build_reward as server_reward

    assert [r.__name__ for r in server_reward(task).rewards] == [REWARDS[n].default_name
                                                                 for n in TASKS[task].reward_names]


def test_command_line_choices_are_the_registry():
    from vreward.cli import _parser

    assert _choices(_parser(), "score", "--task") == tuple(TASKS)
    assert _choices(_parser(), "serve", "--task") == tuple(TASKS)


def test_verl_all_keys_cover_every_reward():
    assert set(verl.ALL_REWARD_NAMES) == {spec.default_name for spec in REWARDS.values()}


def test_training_reads_the_registry():
    pytest.importorskip("transformers")
    from vreward_train.config import TrainConfig
    from vreward_train.prompts import TEMPLATES

    trainable = [t for t in TASKS if t in TEMPLATES]
    assert set(trainable) == set(TEMPLATES)
    for task in trainable:
        cfg = TrainConfig.model_validate({"task": task, "model": {"path": "m"}, "data": {"path": __file__},
                                          "output_dir": "x"})
        assert cfg.reward_names() == list(TASKS[task].reward_names)
        assert cfg.reward_weights() == [w for _, w in TASKS[task].rewards]
        for name in TASKS[task].reward_names:
            TrainConfig.model_validate({"task": task, "model": {"path": "m"}, "data": {"path": __file__},
                                        "output_dir": "x", "rewards": {"names": [name], "options": {name: {}}}})
