"""vreward's ms-swift plugin loaded and called by ms-swift's own code (ms-swift 4.6.0 from PyPI).

ms-swift loads ``--external_plugins`` files with ``swift.utils.import_external_file``, resolves
``--reward_funcs`` names through its ``orms`` registry (``swift.rlhf_trainers.utils.resolve_reward_funcs``) and
scores GRPO samples with ``swift.rl_core.grpo_algorithm.compute_rewards_per_func`` (plain-string completions,
every dataset column and ``trainer_state`` as keywords; async rewards gathered with ``asyncio.run``).
"""

from __future__ import annotations

import sys
import types

import pytest

pytest.importorskip("torch")
rewards = pytest.importorskip("swift.rewards", reason="ms-swift is not installed (scripts/test.sh installs "
                              "ms-swift from constraints.txt)")

from swift.rl_core.data import GRPOSample  # noqa: E402
from swift.rl_core.grpo_algorithm import compute_rewards_per_func  # noqa: E402
from swift.rlhf_trainers.utils import resolve_reward_funcs  # noqa: E402
from swift.utils import import_external_file  # noqa: E402

import vreward.adapters.swift as plugin  # noqa: E402
from vreward import make_giou_reward  # noqa: E402
from vreward.composite import make_task_reward  # noqa: E402

DET = ["<think>a cat</think><answer>[{'Position': [10, 10, 50, 50], 'Confidence': 0.8}]</answer>",
       "<think>a cat</think><answer>[{'Position': [10, 10, 50, 30], 'Confidence': 0.6}]</answer>",
       "no tags [10, 10, 50, 50]"]
DET_GT = "<answer>[{'Position': [10, 10, 50, 50], 'Confidence': 1}]</answer>"
GROUNDING = "<think>left</think><answer>[100, 100, 300, 200]</answer>"


def _samples(completions, **extra):
    """GRPO samples as ms-swift's rollout leaves them: the completion is the last message."""
    return [GRPOSample(messages=[{"role": "user", "content": "Detect the cat."},
                                 {"role": "assistant", "content": c}],
                       extra={k: v[i] for k, v in extra.items()}) for i, c in enumerate(completions)]


@pytest.fixture(scope="module")
def registered():
    """The plugin file loaded by ms-swift's loader, as --external_plugins does."""
    import_external_file(plugin.__file__)
    return rewards.orms


def test_plugin_registers_every_reward_and_task(registered):
    for name in ("iou", "confidence", "format", "accuracy", "giou", "detection", "classification", "grounding"):
        assert f"vreward_{name}" in registered and f"vreward_{name}_async" in registered
    assert registered["vreward_iou"] is plugin.VRewardIou  # a by-path load binds the package's classes


def test_ms_swift_scores_the_solution_column(registered):
    names = ["vreward_iou", "vreward_confidence_async", "vreward_format", "vreward_detection_async"]
    funcs, func_names = resolve_reward_funcs(names, args=None)
    assert func_names == ["VRewardIou", "VRewardConfidenceAsync", "VRewardFormat", "VRewardDetectionAsync"]
    table = compute_rewards_per_func(_samples(DET, solution=[DET_GT] * 3), funcs, None, device="cpu",
                                     trainer_state=None)
    expected = make_task_reward("detection").score_all(DET, solution=[DET_GT] * 3)
    for column, name in enumerate(["iou_reward", "confidence_reward", "format_reward"]):
        assert table[:, column].tolist() == pytest.approx(expected.parts[name].scores.tolist())
    assert table[:, 3].tolist() == pytest.approx(expected.total.tolist())


def test_ms_swift_objects_column_is_the_ground_truth(registered):
    """ms-swift's grounding datasets carry boxes in ``objects``; bbox_type is the frame of those boxes (the
    model's frame is the reward's ``coords`` option: here Qwen2-VL's 0-1000)."""
    registered["vreward_giou_qwen2vl"] = plugin.reward_class("giou", coords="qwen2vl")
    objects = [{"ref": ["the cat"], "bbox": [[120, 100, 300, 220]], "bbox_type": "norm1000"},
               {"ref": ["the cat"], "bbox": [[0.12, 0.1, 0.3, 0.22]], "bbox_type": "norm1"}]
    expected = make_giou_reward()([GROUNDING], solution=["[120, 100, 300, 220]"])[0]
    assert 0 < expected < 2
    funcs, _ = resolve_reward_funcs(["vreward_giou"], args=None)
    table = compute_rewards_per_func(_samples([GROUNDING], objects=objects[:1]), funcs, None, device="cpu")
    assert table[0, 0].item() == pytest.approx(expected)
    funcs, _ = resolve_reward_funcs(["vreward_giou_qwen2vl"], args=None)
    table = compute_rewards_per_func(_samples([GROUNDING] * 2, objects=objects), funcs, None, device="cpu")
    assert table[:, 0].tolist() == pytest.approx([expected, expected])  # 0-1 boxes met the model's 0-1000


def test_reward_class_with_options(registered):
    registered["vreward_iou_75"] = plugin.reward_class("iou", threshold=0.75)
    funcs, _ = resolve_reward_funcs(["vreward_iou_75"], args=None)
    table = compute_rewards_per_func(_samples(DET[:2], solution=[DET_GT] * 2), funcs, None, device="cpu")
    assert table[:, 0].tolist() == pytest.approx([1.0, 0.0])  # IoU 0.5 is not above 0.75


def test_register_falls_back_to_the_v3_import_path(monkeypatch):
    """ms-swift 3 keeps ``orms`` in ``swift.plugin``; v4 moved it to ``swift.rewards``."""
    legacy = types.ModuleType("swift.plugin")
    legacy.orms = {}
    monkeypatch.setitem(sys.modules, "swift.rewards", None)  # import fails as on ms-swift 3
    monkeypatch.setitem(sys.modules, "swift.plugin", legacy)
    plugin.register()
    assert legacy.orms["vreward_detection"] is plugin.VRewardDetection
