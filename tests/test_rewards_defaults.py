"""The default rewards: each rule closes an attack on the paper's definitions, and honest variations still pay."""

from __future__ import annotations

import warnings

import pytest

import vreward
import vreward.visual_rft as paper
from vreward import (
    SolutionError,
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
from vreward.rewards.base import GroundTruthWarning

A, B = [0, 0, 10, 10], [20, 0, 30, 10]


def det(*items) -> str:
    body = ", ".join(f"{{'Position': {list(b)}, 'Confidence': {c}}}" for b, c in items)
    return f"<think>looking</think><answer>[{body}]</answer>"


def ans(text: str) -> str:
    return f"<think>looking</think><answer>{text}</answer>"


# ------------------------------------------------------------------------------------------------ confidence


def test_confidence_is_a_brier_score_over_the_mean_of_the_counts():
    # one hit at 0.9 and one miss at 0.3, one object: (1 - 0.1**2 - 0.3**2) / ((2 + 1) / 2)
    c = det((A, 0.9), ([50, 50, 60, 60], 0.3))
    assert confidence_reward([c], solution=[str(A)]) == [pytest.approx((0.99 - 0.09) / 1.5)]
    assert confidence_reward([det((A, 1.0))], solution=[str(A)]) == [1.0]
    assert confidence_reward.score_range == (-2.0, 1.0)


def test_junk_at_confidence_zero_earns_nothing():
    junk = det(([50, 50, 60, 60], 0.0))
    assert paper.confidence_reward([junk], solution=[str(A)]) == [1.0]  # the paper pays it all
    d = confidence_reward.explain([junk], solution=[str(A)])[0]
    assert (d.score, d.reason) == (0.0, "no_match")
    assert confidence_reward([det(([50, 50, 60, 60], 1.0))], solution=[str(A)]) == [-1.0]


def test_padding_with_junk_and_missing_objects_lower_the_score():
    honest = det((A, 0.9))  # one of two objects found
    padded = det((A, 0.9), ([50, 50, 52, 52], 0.0), ([60, 60, 62, 62], 0.0))
    two = [f"[{A}, {B}]"]
    assert paper.confidence_reward([padded], solution=two)[0] > paper.confidence_reward([honest], solution=two)[0]
    assert confidence_reward([padded], solution=two)[0] < confidence_reward([honest], solution=two)[0]
    assert confidence_reward([honest], solution=two)[0] < confidence_reward([det((A, 0.9), (B, 0.9))],
                                                                          solution=two)[0]


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_the_true_confidence_pays_best_in_expectation(p):
    box = [0, 0, 10, 9]  # IoU 0.9 with A, 0 with B

    def expected(c: float) -> float:
        hit, miss = confidence_reward([det((box, c))] * 2, solution=[str(A), str(B)])
        return p * hit + (1 - p) * miss

    honest = expected(p)
    assert all(expected(c) < honest for c in (0.0, p - 0.1, p + 0.1, 1.0))


def test_no_objects_rules_are_the_same():
    empty = ans("No Objects")
    assert confidence_reward([empty, det((A, 0.9))], solution=["No Objects"] * 2) == [1.0, 0.0]
    assert confidence_reward.explain([empty], solution=[str(A)])[0].reason == "missed_objects"


# ------------------------------------------------------------------------------------------------ labels


def test_a_box_without_a_label_matches_no_labelled_object():
    sol = ['[{"bbox_2d": [0, 0, 10, 10], "label": "cat"}]']
    unlabelled = ans('[{"bbox_2d": [0, 0, 10, 10]}]')
    empty_label = ans('[{"bbox_2d": [0, 0, 10, 10], "label": ""}]')
    right = ans('[{"bbox_2d": [0, 0, 10, 10], "label": "Cat"}]')
    assert iou_reward([unlabelled, empty_label, right], solution=sol * 3) == [0.0, 0.0, 1.0]
    assert paper.iou_reward([unlabelled, empty_label], solution=sol * 2) == [1.0, 1.0]
    assert make_iou_reward(require_labels=False)([unlabelled], solution=sol) == [1.0]
    # ground truth without labels (Visual-RFT): labels on the predictions do not matter
    assert iou_reward([right, unlabelled], solution=[str(A)] * 2) == [1.0, 1.0]


def test_one_normalization_for_labels():
    sol = ['[{"bbox_2d": [0, 0, 10, 10], "label": "hot dog"}]']
    assert iou_reward([ans('[{"bbox_2d": [0, 0, 10, 10], "label": "Hot-Dog"}]')], solution=sol) == [1.0]
    assert vreward.normalize_label(" Hot-Dog ") == vreward.normalize_label("hot_dog") == "hot dog"


# ------------------------------------------------------------------------------------------------ format


@pytest.mark.parametrize(("text", "problem", "paper_score"), [
    ("<think>a</think><answer>b</answer>" * 2, "a tag repeated or nested", 1.0),
    ("<think>a</think><answer>b</answer>" * 200, "a tag repeated or nested", 1.0),
    ("<think><think>a</think></think><answer>b</answer>", "a tag repeated or nested", 1.0),
    ("<think>a<answer>b</answer></think><answer>b</answer>", "a tag repeated or nested", 1.0),
    ("<think></think><answer>b</answer>", "empty thinking", 1.0),
    ("<think> \n\t</think><answer>b</answer>", "empty thinking", 1.0),
    ("<think>a</think><answer> </answer>", "empty answer", 1.0),
    ("<think>a</think> so: <answer>b</answer>", "text between </think> and <answer>", 0.0),
    ("<answer>b</answer>", "not <think>…</think><answer>…</answer>", 0.0),
    ("<think>a</think><answer>b</answer> and more", "not <think>…</think><answer>…</answer>", 0.0),
])
def test_format_attacks_score_zero(text, problem, paper_score):
    assert paper.format_reward([text]) == [paper_score]
    d = format_reward.explain([text])[0]
    assert (d.score, d.reason, d.details) == (0.0, "format", {"problem": problem})


def test_harmless_format_variations_pay():
    for text in ("<think>a</think><answer>b</answer>\n", "  <think>a</think>\n\n<answer>b</answer>",
                 "<think>line\nline</think> <answer>[1, 2,\n 3, 4]</answer>"):
        assert format_reward([text]) == [1.0], text
    assert format_reward([None, 42]) == [0.0, 0.0]
    assert format_reward.explain([None])[0].reason == "not_text"


# ------------------------------------------------------------------------------------------------ classification

CUB = ("American crow", "Fish crow", "Common raven", "Blue jay")


@pytest.mark.parametrize(("answer", "reason"), [
    ("Fish crow and American crow and Common raven", "several_classes"),
    ("Fish crow & American crow", "several_classes"),
    ("Fish crow + American crow", "several_classes"),
    ("Fish crow American crow", "extra_words"),
    ("Fish crow\tAmerican crow", "several_classes"),
    ("Fish crow - American crow - Common raven", "several_classes"),
    ("- Fish crow\n- American crow", "several_classes"),
    (" ".join(CUB), "extra_words"),
    ("crow", "wrong_class"),
    ("A", "wrong_class"),
    ("definitely not an American crow", "negated"),
    ("American crow-like", "wrong_class"),
    ("", "empty_answer"),
])
def test_classification_attacks_score_zero_without_a_class_list(answer, reason):
    d = accuracy_reward.explain([ans(answer)], solution=["American crow"])[0]
    assert (d.score, d.reason) == (0.0, reason), answer


def test_the_paper_pays_for_the_classification_attacks():
    paid = ["Fish crow and American crow", "Fish crow American crow", "crow", "A", "definitely not an American crow",
            "American crow-like", " ".join(CUB)]
    assert paper.accuracy_reward([ans(a) for a in paid], solution=["American crow"] * len(paid)) == [1.0] * len(paid)


@pytest.mark.parametrize(("answer", "reason"), [
    ("Fish crow American crow", "several_classes"),
    ("It is a Fish crow, not an American crow", "several_classes"),
    ("Common raven", "wrong_class"),
    ("not an American crow", "negated"),
])
def test_a_class_list_finds_every_class_named(answer, reason):
    with_option = make_accuracy_reward(classes=CUB)
    assert with_option.explain([ans(answer)], solution=["American crow"])[0].reason == reason
    from_column = accuracy_reward.explain([ans(answer)], solution=["American crow"], classes=[list(CUB)])[0]
    assert from_column.reason == reason


@pytest.mark.parametrize("answer", ["American crow", "american crow\n", "American-crow", "AMERICAN CROW",
                                    "This is an American crow.", "The bird in the image is an American crow!",
                                    "**American crow**"])
def test_harmless_classification_variations_pay(answer):
    assert accuracy_reward([ans(answer)], solution=["American crow"]) == [1.0]
    assert make_accuracy_reward(classes=CUB)([ans(answer)], solution=["American crow"]) == [1.0]


def test_free_sentences_need_the_class_list_or_extra_words():
    sentence = ans("It is an American crow, judging by its beak")
    assert accuracy_reward([sentence], solution=["American crow"]) == [0.0]
    assert make_accuracy_reward(classes=CUB)([sentence], solution=["American crow"]) == [1.0]
    assert make_accuracy_reward(extra_words=("judging by beak",))([sentence], solution=["American crow"]) == [1.0]
    # a name inside a longer class names the longer class
    flowers = make_accuracy_reward(classes=("rose", "desert rose"))
    assert flowers([ans("a desert rose"), ans("a rose")], solution=["rose"] * 2) == [0.0, 1.0]
    assert accuracy_reward([ans("F/A-18"), ans("black and white warbler")],
                           solution=["F/A-18", "Black_and_white_Warbler"]) == [1.0, 1.0]


# ------------------------------------------------------------------------------------------------ grounding


def test_grounding_pays_acc_at_iou_plus_a_bounded_shaping_term():
    sol = ["[100, 100, 200, 200]"]
    right = ans("[100, 100, 200, 190]")  # IoU 0.9
    assert giou_reward([right], solution=sol) == [pytest.approx(0.2 + 0.8 * 0.9)]
    near = ans("[210, 100, 310, 200]")  # disjoint neighbour, GIoU = -10/210
    whole = ans("[0, 0, 2000, 2000]")  # encloses the target, IoU 0.0025
    far = ans("[1900, 1900, 2000, 2000]")
    scores = giou_reward([near, whole, far], solution=sol * 3)
    assert scores[0] == scores[1] == pytest.approx(0.2) and 0.0 < scores[2] < 0.2
    assert paper.giou_reward([whole], solution=sol)[0] > paper.giou_reward([near], solution=sol)[0]  # the hole
    assert make_giou_reward(threshold=0.95)([right], solution=sol) == [pytest.approx(0.2)]
    assert giou_reward([ans("No Objects"), right], solution=["No Objects"] * 2) == [1.0, 0.0]


def test_a_large_target_is_judged_by_iou():
    sol = ["[10, 10, 990, 990]"]  # 96% of a 1000 x 1000 image
    whole, tight = ans("[0, 0, 1000, 1000]"), ans("[10, 10, 990, 985]")
    assert giou_reward([tight], solution=sol)[0] > giou_reward([whole], solution=sol)[0]


# ------------------------------------------------------------------------------------------------ bad ground truth


def test_an_unreadable_label_scores_zero_and_training_goes_on():
    completions = [det((A, 0.9))] * 3
    sol = [str(A), "[1, 2, 3]", "[10, 10, 0, 0]"]
    for reward in (iou_reward, confidence_reward, giou_reward, paper.iou_reward):
        with pytest.warns(GroundTruthWarning, match=r"2 of 3 rows .* Row 1: no box could be read"):
            got = reward.explain(completions, solution=sol)
        assert [d.reason for d in got][1:] == ["bad_ground_truth"] * 2 and got[0].score > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        accuracy_reward([ans("rose")], solution=["rose"])
    with pytest.warns(GroundTruthWarning):
        assert accuracy_reward.explain([ans("rose")] * 2, solution=["rose", 3])[1].reason == "bad_ground_truth"
    with pytest.raises(SolutionError, match=r"solution row 1: .*\(1 more bad solutions\)"):
        make_iou_reward(strict=True)(completions, solution=sol)
    with pytest.raises(SolutionError, match="2 rows but there are 3"):
        iou_reward(completions, solution=sol[:2])  # a column of the wrong shape is a configuration error


# ------------------------------------------------------------------------------------------------ signals


def test_hacking_signals_are_logged_through_trl():
    logged: dict[str, float] = {}
    completions = [det((A, 1.0), ([50, 50, 60, 60], 0.0)), ans("No Objects")]
    confidence_reward(completions, solution=[str(A)] * 2, log_metric=logged.__setitem__)
    assert logged["confidence_reward/unmatched_boxes_share"] == 0.5
    assert logged["confidence_reward/predicted_boxes_mean"] == 1.0
    assert logged["confidence_reward/confidence_at_most_0.05"] == 0.5
    assert logged["confidence_reward/confidence_at_least_0.95"] == 0.5
    accuracy_reward([ans("tulip or rose"), ans("rose")], solution=["rose", "rose"], log_metric=logged.__setitem__)
    assert logged["accuracy_reward/several_classes_share"] == 0.5
    giou_reward([ans("[0, 0, 1000, 1000]")], solution=["[0, 0, 10, 10]"], log_metric=logged.__setitem__)
    assert logged["giou_reward/oversized_share"] == 1.0 and logged["giou_reward/right_share"] == 0.0


def test_every_default_differs_from_the_paper_where_documented():
    for name in ("iou", "confidence", "format", "accuracy", "giou"):
        assert type(getattr(vreward, f"{name}_reward")) is not type(getattr(paper, f"{name}_reward")), name
    with pytest.raises(Exception, match="scale"):
        make_giou_reward(scale="unit")
    assert make_confidence_reward(missing_confidence=0.5).settings.require_labels
