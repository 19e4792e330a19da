"""Hand-verified reward cases of the paper's definitions (vreward.visual_rft), including every quirk of the
reference code that vreward fixes. The hardened defaults have their own cases in test_rewards_defaults.py."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from pydantic import ValidationError

import vreward
from vreward import FrameMismatchWarning, SolutionError
from vreward.visual_rft import (
    accuracy_reward,
    confidence_reward,
    format_reward,
    giou_reward,
    iou_reward,
    make_accuracy_reward,
    make_confidence_reward,
    make_giou_reward,
    make_iou_reward,
)


def det(*items: tuple[list[float], float]) -> str:
    body = ", ".join(f"{{'Position': {list(b)}, 'Confidence': {c}}}" for b, c in items)
    return f"<think>looking</think><answer>[{body}]</answer>"


def gt(*boxes: list[float]) -> str:
    return "<answer>[" + ", ".join(f"{{'Position': {list(b)}, 'Confidence': 1}}" for b in boxes) + "]</answer>"


A = [0, 0, 10, 10]


def test_iou_reward_divides_by_max_of_counts():
    c = det((A, 0.9), ([50, 50, 60, 60], 0.3))
    assert iou_reward([c], solution=[gt(A)]) == [0.5]
    assert confidence_reward([c], solution=[gt(A)]) == [pytest.approx((0.9 + 0.7) / 2)]


def test_greedy_takes_predictions_by_confidence_and_hungarian_maximizes():
    p1, p2 = [0, 0, 10, 9], [0, 0, 10, 8]  # IoU 0.9 and 0.8 with A
    c = det((p1, 0.5), (p2, 0.9))
    assert iou_reward([c], solution=[gt(A)]) == [pytest.approx(0.8 / 2)]
    assert confidence_reward([c], solution=[gt(A)]) == [pytest.approx((0.9 + 0.5) / 2)]
    hungarian = make_iou_reward(matching="hungarian")
    assert hungarian([c], solution=[gt(A)]) == [pytest.approx(0.9 / 2)]


def test_greedy_ties_keep_the_first_prediction_and_first_ground_truth():
    c = det(([0, 0, 10, 8], 0.9), ([0, 0, 10, 9], 0.9))
    m = vreward.rewards.detection.match_detections(
        vreward.parse_completions([c]), {"solution": [gt(A, A)]}, iou_reward.settings)
    assert m.gt_index.tolist() == [0, 1]


def test_threshold_is_strict():
    c = det(([0, 0, 10, 5], 0.9))  # IoU exactly 0.5
    detail = iou_reward.explain([c], solution=[gt(A)])[0]
    assert (detail.score, detail.reason) == (0.0, "no_match")
    assert make_iou_reward(threshold=0.4)([c], solution=[gt(A)]) == [0.5]


def test_exact_duplicates_are_dropped_first_kept():
    c = det((A, 0.9), (A, 0.2))
    assert iou_reward([c], solution=[gt(A)]) == [1.0]
    assert confidence_reward([c], solution=[gt(A)]) == [pytest.approx(0.9)]
    keep_all = make_iou_reward(drop_duplicates=False)
    assert keep_all([c], solution=[gt(A)]) == [0.5]


def test_no_ground_truth_objects():
    empty = "<think>none</think><answer>No Objects</answer>"
    boxes = det((A, 0.9))
    sol = ["<answer>No Objects</answer>"] * 2
    assert iou_reward([empty, boxes], solution=sol) == [1.0, 0.0]
    assert confidence_reward([empty, boxes], solution=sol) == [1.0, 0.0]
    assert iou_reward.explain([boxes], solution=sol[:1])[0].reason == "boxes_on_empty"
    assert iou_reward(["<answer>[]</answer>"], solution=["[]"]) == [1.0]


def test_no_objects_when_there_are_objects_is_a_miss_not_a_crash():
    for text in ("<think>x</think><answer>No Objects</answer>", "<think>x</think><answer>[]</answer>"):
        d = iou_reward.explain([text], solution=[gt(A)])[0]
        assert (d.score, d.reason) == (0.0, "missed_objects")
        assert confidence_reward([text], solution=[gt(A)]) == [0.0]


def test_newline_inside_answer_still_scores():
    # the reference reads <answer>(.*?)</answer> without DOTALL: a newline zeroed the IoU while format said 1
    c = "<think>x</think>\n<answer>[{'Position': [0, 0, 10, 10],\n  'Confidence': 0.9}]\n</answer>"
    assert iou_reward([c], solution=[gt(A)]) == [1.0]
    assert format_reward([c]) == [1.0]


def test_no_objects_mixed_into_a_list_keeps_the_boxes():
    c = "<think>x</think><answer>[{'Position': [0, 0, 10, 10], 'Confidence': 0.9}, 'No Objects']</answer>"
    assert iou_reward([c], solution=[gt(A)]) == [1.0]


def test_confidences_are_clipped_and_missing_ones_count_as_certain():
    c = det((A, 1.5), ([50, 50, 60, 60], -0.5))
    assert confidence_reward([c], solution=[gt(A)]) == [1.0]
    no_conf = "<think>x</think><answer>[{'bbox_2d': [0, 0, 10, 10]}, {'bbox_2d': [50, 50, 60, 60]}]</answer>"
    assert confidence_reward([no_conf], solution=[gt(A)]) == [0.5]
    assert make_confidence_reward(missing_confidence=0.5)([no_conf], solution=[gt(A)]) == [0.5]


def test_label_aware_matching_when_both_sides_carry_labels():
    pred = '<think>x</think><answer>```json\n[{"bbox_2d": [0, 0, 10, 10], "label": "dog"}]\n```</answer>'
    sol = ['[{"bbox_2d": [0, 0, 10, 10], "label": "cat"}]']
    assert iou_reward([pred], solution=sol) == [0.0]
    assert make_iou_reward(match_labels=False)([pred], solution=sol) == [1.0]
    same = pred.replace("dog", "Cat")
    assert iou_reward([same], solution=sol) == [1.0]
    # ground truth without labels (Visual-RFT): labels on the prediction do not matter
    assert iou_reward([pred], solution=[gt(A)]) == [1.0]


def test_coordinate_frames_are_converted():
    pred = det(([0, 0, 500, 500], 0.9))
    sol = ["[0, 0, 320, 240]"]
    r = make_iou_reward(coords="qwen2vl", solution_coords="pixels")
    assert r([pred], solution=sol, width=[640], height=[480]) == [1.0]
    assert r([pred], solution=sol, image_size=[(640, 480)]) == [1.0]
    with pytest.raises(ValueError, match="width"):
        r([pred], solution=sol)


def test_qwen25vl_frame_follows_the_processor_resize_rule():
    assert vreward.frames.smart_resize(500, 1000) == (504, 1008)
    pred = det(([0, 0, 504, 252], 0.9))
    r = make_iou_reward(coords="qwen25vl", solution_coords="pixels")
    assert r([pred], solution=["[0, 0, 500, 250]"], width=[1000], height=[500]) == [pytest.approx(1.0)]


def test_frame_mismatch_is_warned_once_with_the_fix():
    r = make_iou_reward()
    pred = det(([0.1, 0.1, 0.5, 0.5], 0.9))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r([pred], solution=[gt([100, 100, 500, 500])])
        r([pred + " "], solution=[gt([100, 100, 500, 500])])
    frame_warnings = [w for w in caught if issubclass(w.category, FrameMismatchWarning)]
    assert len(frame_warnings) == 1
    assert "coords='unit'" in str(frame_warnings[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_iou_reward()([det((A, 0.9))], solution=[gt(A)])


def test_format_reward_matches_the_reference_regex():
    cases = {
        "<think>a</think><answer>b</answer>": 1.0,
        "<think>a</think>\n\n <answer>b\nc</answer>": 1.0,
        "<think>a</think><answer>b</answer>\n": 0.0,
        " <think>a</think><answer>b</answer>": 0.0,
        "<think>a</think>x<answer>b</answer>": 0.0,
        "<answer>b</answer>": 0.0,
        "<think></think><answer></answer>": 1.0,
    }
    assert format_reward(list(cases)) == list(cases.values())
    assert format_reward([[{"role": "assistant", "content": "<think>a</think><answer>b</answer>"}]]) == [1.0]
    assert format_reward.explain([None])[0].reason == "not_text"


def test_accuracy_reward_closes_the_reference_holes():
    sol = ["<answer>Black_and_white_Warbler</answer>"]
    assert accuracy_reward(["<think>x</think><answer>black and white warbler</answer>"], solution=sol) == [1.0]
    assert accuracy_reward(["<answer></answer>"], solution=sol) == [0.0]
    assert accuracy_reward.explain(["<answer> </answer>"], solution=sol)[0].reason == "empty_answer"
    several = accuracy_reward.explain(["<answer>Cardinal or Black and white warbler</answer>"], solution=sol)[0]
    assert (several.score, several.reason) == (0.0, "several_classes")
    assert accuracy_reward(["<answer>F/A-18</answer>"], solution=["F/A-18"]) == [1.0]
    assert accuracy_reward(["<answer>Cardinal</answer>"], solution=sol) == [0.0]
    assert make_accuracy_reward(match="exact")(["<answer>a black and white warbler</answer>"], solution=sol) == [0.0]
    classes = ("rose", "desert-rose", "tulip")
    r = make_accuracy_reward(classes=classes)
    assert r(["<answer>desert-rose</answer>", "<answer>rose, tulip</answer>"], solution=["desert-rose", "rose"]) \
        == [1.0, 0.0]


def test_giou_reward_paper_and_unit_scales():
    same = "<think>x</think><answer>[0, 0, 1, 1]</answer>"
    apart = "<think>x</think><answer>[0, 0, 1, 1]</answer>"
    assert giou_reward([same], solution=["[0, 0, 1, 1]"]) == [2.0]
    assert make_giou_reward(scale="unit")([same], solution=["[0, 0, 1, 1]"]) == [1.0]
    # IoU 0, enclosing box 9, union 2: GIoU = -7/9
    assert giou_reward([apart], solution=["[2, 2, 3, 3]"]) == [pytest.approx(2 / 9)]


def test_malformed_ground_truth_names_the_row():
    strict = make_iou_reward(strict=True)
    with pytest.raises(SolutionError, match=r"solution row 1: .*wrong_arity"):
        strict([det((A, 0.9))] * 2, solution=[gt(A), "[1, 2, 3]"])
    with pytest.raises(SolutionError, match=r"solution row 0: degenerate"):
        strict([det((A, 0.9))], solution=["[10, 10, 0, 0]"])
    with pytest.raises(SolutionError, match="2 rows but there are 1"):
        iou_reward([det((A, 0.9))], solution=[gt(A), gt(A)])
    with pytest.raises(SolutionError, match="no ground truth"):
        iou_reward([det((A, 0.9))])


def test_structured_ground_truth():
    c = det((A, 0.9))
    for sol in ([0, 0, 10, 10], [[0, 0, 10, 10]], np.array([[0, 0, 10, 10]]), {"Position": A},
                [{"bbox_2d": A, "label": "cat"}]):
        assert iou_reward([c], solution=[sol]) == [1.0], sol


def test_bad_configuration_fails_when_built():
    with pytest.raises(ValidationError, match="threshold"):
        make_iou_reward(threshold=1.5)
    with pytest.raises(ValidationError, match="matching"):
        make_iou_reward(matching="optimal")
    with pytest.raises(ValidationError, match="treshold"):
        make_iou_reward(treshold=0.5)
    with pytest.raises(ValidationError, match="coords"):
        make_iou_reward(coords="qwen3")
    with pytest.raises(ValidationError, match="min_pixels"):
        make_giou_reward(min_pixels=10, max_pixels=5)


def test_trl_keyword_convention_and_names():
    logged: dict[str, list] = {}
    kwargs = dict(prompts=[[{"role": "user", "content": "find"}]], completion_ids=[[1, 2]], solution=[gt(A)],
                  image_id=[7], trainer_state=None, log_metric=lambda k, v: logged.setdefault(k, []).append(v),
                  log_extra=lambda k, v: logged.setdefault(k, []).extend(v))
    completions = [[{"role": "assistant", "content": det((A, 0.9))}]]
    for r, expected in ((iou_reward, 1.0), (confidence_reward, 0.9), (format_reward, 1.0)):
        out = r(completions=completions, **kwargs)
        assert out == [expected] and all(type(x) is float for x in out)
    assert [iou_reward.__name__, confidence_reward.__name__] == ["iou_reward", "confidence_reward"]
    assert make_iou_reward(name="iou_75", threshold=0.75).__name__ == "iou_75"
    assert logged["iou_reward_reason"] == [""]
    assert logged["iou_reward/zero_reasons_frac"] == [0.0]


def test_a_batch_is_parsed_once_for_several_rewards(monkeypatch):
    import vreward.parsing as parsing

    calls = []
    real = parsing._scan
    monkeypatch.setattr(parsing, "_scan", lambda texts, tag, *syntax: calls.append(texts) or real(texts, tag, *syntax))
    completions = [det((A, 0.9)), det(([1, 1, 9, 9], 0.41))]
    sol = [gt(A), gt(A)]
    for r in (iou_reward, confidence_reward, format_reward):
        r(list(completions), solution=list(sol))
    assert sum(texts == completions for texts in calls) == 1


def test_every_zero_has_a_reason():
    completions = [det((A, 0.9)), "junk", "<answer>[1,2]</answer>", det(([50, 50, 60, 60], 0.9)),
                   "<answer>[nan, 1, 2, 3]</answer>", "<answer>[{'Position': [0, 0, 10, 10], 'Conf", None, 42]
    sol = [gt(A)] * len(completions)
    for r in (iou_reward, confidence_reward, format_reward, giou_reward):
        for d in r.explain(completions, solution=sol):
            assert (d.score > 0) == (d.reason is None), (r.__name__, d)


def test_repeated_solutions_are_parsed_once_and_laid_out_per_row():
    # GRPO repeats each prompt's solution once per generation
    sol_a = '[{"bbox_2d": [0, 0, 10, 10], "label": "cat"}, {"bbox_2d": [20, 20, 30, 30], "label": "dog"}]'
    sol_b = "[5, 5, 15, 15]"
    solutions = [sol_a, sol_b, sol_a, sol_b, sol_a]
    gt = vreward.parse_solutions(solutions)
    assert gt.counts.tolist() == [2, 1, 2, 1, 2]
    assert gt.boxes[gt.offsets[4]:gt.offsets[5]].tolist() == [[0, 0, 10, 10], [20, 20, 30, 30]]
    assert gt.labels == ["cat", "dog", None, "cat", "dog", None, "cat", "dog"]
    assert len(gt.parsed) == 2
    with pytest.raises(SolutionError, match=r"solution row 3: "):
        vreward.parse_solutions([sol_a, sol_b, sol_a, "[1, 2]", "[1, 2]"])


def test_columns_may_be_any_sized_collection():
    import numpy as np

    c = det((A, 0.9))
    assert iou_reward((c,), solution=np.array([gt(A)], dtype=object)) == [1.0]
    r = make_iou_reward(coords="qwen2vl", solution_coords="pixels")
    assert r([det(([0, 0, 500, 500], 0.9))], solution=("[0, 0, 320, 240]",), width=np.array([640]),
             height=np.array([480])) == [1.0]
    with pytest.raises(SolutionError, match="must be a list"):
        iou_reward([c], solution=gt(A))
