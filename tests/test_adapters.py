"""The verl and EasyR1 adapters, called the way each trainer calls them."""

from __future__ import annotations

import importlib.util
import sys
from functools import partial

import numpy as np
import pytest

import vreward.adapters.easyr1 as easyr1
import vreward.adapters.verl as verl
from vreward import make_giou_reward
from vreward.composite import make_task_reward
from vreward.visual_rft import make_giou_reward as paper_giou_reward

DET_OK = "<think>a cat</think><answer>[{'Position': [10, 10, 50, 50], 'Confidence': 0.8}]</answer>"
DET_HALF = "<think>a cat</think><answer>[{'Position': [10, 10, 50, 30], 'Confidence': 0.6}]</answer>"
DET_BAD = "no tags [10, 10, 50, 50]"
DET_GT = "<answer>[{'Position': [10, 10, 50, 50], 'Confidence': 1}]</answer>"
CLS_OK = "<think>petals</think><answer>rose</answer>"
CLS_BAD = "<think>petals</think><answer>tulip</answer>"
GRD = "<think>left</think><answer>[100, 100, 300, 200]</answer>"
GRD_GT = "[120, 100, 300, 220]"


def _load_by_path(module):
    """Load the adapter file the way verl and EasyR1 do: by path, under a foreign module name."""
    spec = importlib.util.spec_from_file_location(f"custom_module_{module.__name__.rsplit('.', 1)[-1]}",
                                                  module.__file__)
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = loaded
    try:
        spec.loader.exec_module(loaded)
    finally:
        del sys.modules[spec.name]
    return loaded


def _direct(task, completions, solutions, **columns):
    batch = make_task_reward(task).score_all(completions, solution=solutions, **columns)
    return batch.total.tolist(), {name: part.scores.tolist() for name, part in batch.parts.items()}


# ---------------------------------------------------------------- verl, per sample


def test_verl_compute_score_matches_make_task_reward():
    completions = [DET_OK, DET_HALF, DET_BAD]
    total, parts = _direct("detection", completions, [DET_GT] * 3)
    for i, c in enumerate(completions):
        result = verl.compute_score(data_source="coco_base65", solution_str=c, ground_truth=DET_GT,
                                    extra_info={"split": "train", "index": i})
        assert set(result) == {"score", "iou_reward", "confidence_reward", "format_reward", "bad_ground_truth"}
        assert result["score"] == pytest.approx(total[i])
        for name, scores in parts.items():
            assert result[name] == pytest.approx(scores[i])
        assert all(isinstance(v, float) for v in result.values())  # verl averages extra info: numbers only
    # IoU 1, confidence 1 - (1 - 0.8)**2 (Brier), format 1
    assert verl.compute_score("coco", DET_OK, DET_GT)["score"] == pytest.approx(1.0 + 0.96 + 1.0)
    assert verl.compute_score("coco", DET_OK, DET_GT, preset="visual_rft")["score"] == pytest.approx(1.0 + 0.8 + 1.0)


@pytest.mark.parametrize(("data_source", "task"), [
    ("coco_base65", "detection"), ("LVIS_rare", "detection"), ("ovd_test", "detection"), ("my_det", "detection"),
    ("flower102_4shot", "classification"), ("stanford_cars", "classification"), ("oxford_pets", "classification"),
    ("fgvc_aircraft", "classification"), ("cub200", "classification"), ("imagenet_cls", "classification"),
    ("lisa_grounding", "grounding"), ("refcoco_val", "grounding"), ("visual_ground", "grounding"),
    ("grounding", "grounding"), ("detection", "detection"),
])
def test_verl_task_from_data_source(data_source, task):
    assert verl.task_of(data_source) == task


def test_verl_task_from_extra_info_and_kwargs():
    # extra_info["task"] wins over data_source; the reward kwarg `task` over the data_source guess
    result = verl.compute_score("coco", CLS_OK, "rose", {"task": "classification"})
    assert set(result) == {"score", "accuracy_reward", "format_reward", "bad_ground_truth"}
    assert result["score"] == 2.0
    result = verl.compute_score("anything", CLS_BAD, "rose", None, task="classification")
    assert result == {"score": 1.0, "accuracy_reward": 0.0, "format_reward": 1.0, "bad_ground_truth": 0.0}
    assert verl.compute_score("flowers", DET_OK, DET_GT, {"task": "detection"}, task="classification")["score"] == \
        pytest.approx(2.96)


def test_verl_unknown_task_errors():
    with pytest.raises(ValueError, match=r"data_source 'gsm8k'.*extra_info\['task'\]"):
        verl.compute_score("gsm8k", DET_OK, DET_GT, {})
    with pytest.raises(ValueError, match="unknown task 'pose'"):
        verl.compute_score("coco", DET_OK, DET_GT, {"task": "pose"})


def test_verl_image_size_and_frames_from_extra_info():
    # Qwen2.5-VL boxes (pixels of the resized image) against pixel ground truth need each row's image size
    reward = make_giou_reward(coords="qwen25vl", solution_coords="pixels")
    for info in ({"width": 1280, "height": 960}, {"image_size": [1280, 960]}, {"image_size": (1280, 960)}):
        info = {**info, "coords": "qwen25vl", "solution_coords": "pixels"}
        result = verl.compute_score("refcoco", GRD, GRD_GT, info)
        expected = reward([GRD], solution=[GRD_GT], width=[1280], height=[960])[0]
        assert result["giou_reward"] == pytest.approx(expected)
        assert result["score"] == pytest.approx(expected + 1.0)
    # the frames may come from reward_kwargs instead
    kw = verl.compute_score("refcoco", GRD, GRD_GT, {"width": 1280, "height": 960}, coords="qwen25vl",
                            solution_coords="pixels")
    assert kw["giou_reward"] == pytest.approx(expected)


def test_verl_reward_kwargs_as_verl_passes_them():
    # verl wraps the function: raw_fn(*args, **kwargs, **reward_kwargs)
    reward_kwargs = {"weights": {"format": 0.5}, "options": {"iou": {"threshold": 0.75}}}
    fn = partial(verl.compute_score, **reward_kwargs)
    result = fn(data_source="coco", solution_str=DET_HALF, ground_truth=DET_GT, extra_info=None)
    direct = make_task_reward("detection", {"format": 0.5}, iou={"threshold": 0.75})
    assert result["score"] == pytest.approx(direct([DET_HALF], solution=[DET_GT])[0])
    assert result["iou_reward"] == 0.0  # IoU 0.5 is not above 0.75
    # newer verl may pass extra keywords: ignored
    assert verl.compute_score("coco", DET_OK, DET_GT, None, reward_router_address=None)["iou_reward"] == 1.0


def test_verl_reward_objects_are_cached():
    a = verl.task_reward("detection", {"format": 0.5}, {"iou": {"threshold": 0.75}})
    b = verl.task_reward("detection", {"format": 0.5}, {"iou": {"threshold": 0.75}})
    assert a is b
    assert verl.task_reward("detection") is not a


def test_verl_loaded_by_path():
    module = _load_by_path(verl)
    assert module.compute_score("coco", DET_OK, DET_GT, None) == verl.compute_score("coco", DET_OK, DET_GT, None)


# ---------------------------------------------------------------- verl, batch


def _verl_batch():
    """A mixed batch as verl's BatchRewardManager passes it: numpy object arrays from non_tensor_batch."""
    data_sources = np.array(["coco", "coco", "flowers", "refcoco", "coco", "flowers", "refcoco"], dtype=object)
    solution_strs = [DET_OK, DET_BAD, CLS_OK, GRD, DET_HALF, CLS_BAD, DET_BAD]
    ground_truths = [DET_GT, DET_GT, "rose", GRD_GT, DET_GT, "rose", GRD_GT]
    extra_infos = np.array([{"index": i, "width": 640, "height": 480} for i in range(7)], dtype=object)
    return data_sources, solution_strs, ground_truths, extra_infos


def test_verl_batch_equals_per_sample():
    data_sources, solution_strs, ground_truths, extra_infos = _verl_batch()
    batch = verl.compute_score_batch(data_sources=data_sources, solution_strs=solution_strs,
                                     ground_truths=ground_truths, extra_infos=extra_infos)
    single = [verl.compute_score(s, c, g, e) for s, c, g, e in zip(data_sources, solution_strs, ground_truths,
                                                                      extra_infos)]
    assert len(batch) == 7
    for b, s in zip(batch, single):
        assert b.keys() == s.keys()
        assert b == pytest.approx(s)
    # and both equal the composite rewards called directly per task
    total, parts = _direct("detection", [DET_OK, DET_BAD, DET_HALF], [DET_GT] * 3)
    assert [batch[i]["score"] for i in (0, 1, 4)] == pytest.approx(total)
    assert [batch[i]["iou_reward"] for i in (0, 1, 4)] == pytest.approx(parts["iou_reward"])


def test_verl_batch_one_call_per_reward_per_group(monkeypatch):
    from vreward.composite import CompositeReward

    calls = []
    original = CompositeReward.score_all

    def counting(self, completions, **kwargs):
        calls.append((self.__name__, len(completions)))
        return original(self, completions, **kwargs)

    monkeypatch.setattr(CompositeReward, "score_all", counting)
    verl.compute_score_batch(*_verl_batch())
    assert sorted(calls) == [("classification_reward", 2), ("detection_reward", 3), ("grounding_reward", 2)]


def test_verl_batch_all_keys_and_as_float():
    data_sources, solution_strs, ground_truths, extra_infos = _verl_batch()
    rows = verl.compute_score_batch(data_sources, solution_strs, ground_truths, extra_infos, all_keys=True)
    keys = {"score", "bad_ground_truth", *verl.ALL_REWARD_NAMES}  # every registry reward
    assert all(set(r) == keys for r in rows) and {"iou_reward", "accuracy_reward", "giou_reward"} <= keys
    assert rows[0]["accuracy_reward"] == 0.0 and rows[2]["iou_reward"] == 0.0
    floats = verl.compute_score_batch(data_sources, solution_strs, ground_truths, extra_infos, as_float=True)
    assert floats == pytest.approx([r["score"] for r in rows])
    assert set(verl.compute_score_batch(data_sources, solution_strs, ground_truths, None)[2]) == {
        "score", "accuracy_reward", "format_reward", "bad_ground_truth"}


def test_verl_batch_without_extra_infos_and_length_check():
    result = verl.compute_score_batch(["coco"], [DET_OK], [DET_GT], None)
    assert result[0]["score"] == pytest.approx(2.96)
    with pytest.raises(ValueError, match="one of each per sample"):
        verl.compute_score_batch(["coco"], [DET_OK, DET_OK], [DET_GT], None)


# ---------------------------------------------------------------- EasyR1


def _inputs(responses, ground_truths):
    return [{"response": r, "response_length": len(r) // 4, "ground_truth": g}
            for r, g in zip(responses, ground_truths)]


def test_easyr1_detection():
    assert easyr1.REWARD_TYPE == "batch" and easyr1.REWARD_NAME
    responses = [DET_OK, DET_HALF, DET_BAD]
    _, parts = _direct("detection", responses, [DET_GT] * 3)
    scores = easyr1.compute_score(_inputs(responses, [DET_GT] * 3))
    for i, s in enumerate(scores):
        assert set(s) == {"overall", "format", "accuracy", "iou", "confidence", "bad_ground_truth"}
        assert s["accuracy"] == pytest.approx(parts["iou_reward"][i])
        assert s["format"] == pytest.approx(parts["format_reward"][i])
        assert s["confidence"] == pytest.approx(parts["confidence_reward"][i])
        assert s["overall"] == pytest.approx(0.9 * s["accuracy"] + 0.1 * s["format"])
    mixed = easyr1.compute_score(_inputs(responses, [DET_GT] * 3), format_weight=0.5, confidence_weight=0.5)
    for i, s in enumerate(mixed):
        acc = 0.5 * parts["iou_reward"][i] + 0.5 * parts["confidence_reward"][i]
        assert s["accuracy"] == pytest.approx(acc)
        assert s["overall"] == pytest.approx(0.5 * acc + 0.5 * parts["format_reward"][i])


def test_easyr1_classification_and_grounding():
    scores = easyr1.compute_score(_inputs([CLS_OK, CLS_BAD, "rose"], ["rose"] * 3), task="classification")
    assert [s["accuracy"] for s in scores] == [1.0, 0.0, 0.0]  # no <answer> tag: not read
    assert [s["format"] for s in scores] == [1.0, 1.0, 0.0]
    grd = easyr1.compute_score(_inputs([GRD], [GRD_GT]), task="grounding", format_weight=0.0)[0]
    default = make_giou_reward()([GRD], solution=[GRD_GT])[0]
    assert grd["accuracy"] == pytest.approx(default) and grd["giou"] == pytest.approx(default) and 0 < default <= 1
    assert grd["overall"] == pytest.approx(default)
    grd = easyr1.compute_score(_inputs([GRD], [GRD_GT]), task="grounding", format_weight=0.0, preset="visual_rft")[0]
    unit = paper_giou_reward(scale="unit")([GRD], solution=[GRD_GT])[0]
    assert grd["accuracy"] == pytest.approx(unit) and grd["giou"] == pytest.approx(unit) and 0 < unit <= 1
    paper = easyr1.compute_score(_inputs([GRD], [GRD_GT]), task="grounding", options={"giou": {"scale": "paper"}},
                                 preset="visual_rft")
    assert paper[0]["accuracy"] == pytest.approx(2 * unit)  # paper scale: GIoU + 1, unit: (GIoU + 1) / 2


def test_easyr1_as_easyr1_calls_it():
    # EasyR1: reward_fn = partial(module.compute_score, **reward_function_kwargs); reward_fn(reward_inputs)
    module = _load_by_path(easyr1)
    assert module.REWARD_TYPE == "batch"
    fn = partial(module.compute_score, format_weight=0.2, task="detection", coords="qwen2vl")
    inputs = _inputs([DET_OK], ["[10, 10, 50, 50]"])
    assert fn(inputs) == easyr1.compute_score(inputs, format_weight=0.2, task="detection", coords="qwen2vl")
    assert fn([]) == []
    with pytest.raises(ValueError, match="batch"):
        module.compute_score(inputs[0])
    with pytest.raises(ValueError, match="format_weight"):
        easyr1.compute_score(inputs, format_weight=1.5)


def test_easyr1_image_size_keys():
    inputs = [{**i, "width": 1280, "height": 960} for i in _inputs([GRD], [GRD_GT])]
    got = easyr1.compute_score(inputs, task="grounding", coords="qwen25vl", solution_coords="pixels")[0]
    expected = make_giou_reward(coords="qwen25vl", solution_coords="pixels")(
        [GRD], solution=[GRD_GT], width=[1280], height=[960])[0]
    assert got["giou"] == pytest.approx(expected)


def test_easyr1_strips_end_of_turn_tokens():
    """EasyR1 with skip_special_tokens=false leaves <|im_end|> on the response: format scored 0 before."""
    (plain,) = easyr1.compute_score(_inputs([DET_OK], [DET_GT]))
    (kept,) = easyr1.compute_score(_inputs([DET_OK + "<|im_end|>\n<|endoftext|>"], [DET_GT]))
    assert kept == plain and kept["format"] == 1.0


def test_easyr1_two_list_calls_name_the_minimum_version():
    """EasyR1 revisions of April to June 2025 call batch functions with (responses, ground_truths)."""
    with pytest.raises(TypeError, match=r"v0\.3\.1"):
        easyr1.compute_score([DET_OK], [DET_GT])


def test_adapters_loaded_by_path_are_the_package_objects_and_pickle():
    """verl, EasyR1 and ms-swift load the files under names of their own; pickling (verl's remote and prime
    managers, process pools) failed before on the by-path copy's lru_cache'd helper."""
    import pickle

    from vreward.adapters import swift

    for package_module, names in ((verl, ("compute_score", "compute_score_async", "compute_score_batch")),
                                  (easyr1, ("compute_score",)), (swift, ("VRewardDetection",))):
        loaded = _load_by_path(package_module)
        for name in names:
            assert getattr(loaded, name) is getattr(package_module, name)
            assert pickle.loads(pickle.dumps(getattr(loaded, name))) is getattr(package_module, name)
    assert verl.compute_score("coco", DET_OK, DET_GT, None, as_float=True) == pytest.approx(2.96)
