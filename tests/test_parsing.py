"""Unit tests of the completion parser: one per supported format and quirk, with exact expected values.

Every case asserts the boxes (coordinates, confidence, label, in order), the reason and the dropped counts.
"""

from __future__ import annotations

import numpy as np
import pytest

from vreward import ParseReason, parse_completion, parse_completions
from vreward.parsing import ParsedBatch, _encode, _scan_arrays, completion_text, parse_texts

R = ParseReason


def boxes(p):
    return [(b.xyxy, b.confidence, b.label) for b in p.boxes]


def check(text, expected, reason=R.OK, dropped=None, **kwargs):
    """Parse ``text`` and compare boxes as (xyxy, confidence, label) tuples, reason and dropped counts."""
    p = parse_completion(text, **kwargs)
    assert boxes(p) == [(tuple(float(v) for v in xyxy), conf, label) for xyxy, conf, label in expected]
    assert p.reason is reason
    assert p.dropped == (dropped or {})
    return p


def wrap(answer: str) -> str:
    return f"<think>I look at the image.</think>\n<answer>{answer}</answer>"


# ---------------------------------------------------------------------------------------------- Visual-RFT


def test_visual_rft_single_quotes():
    p = check(wrap("[{'Position': [254, 12, 400, 300], 'Confidence': 0.9}, "
                   "{'Position': [10.5, 20, 30, 40.25], 'Confidence': 0.75}]"),
              [((254, 12, 400, 300), 0.9, None), ((10.5, 20, 30, 40.25), 0.75, None)])
    assert p.format_ok and p.answer_closed and p.usable
    assert p.think == "I look at the image."


def test_visual_rft_double_quotes():
    check(wrap('[{"Position": [1, 2, 3, 4], "Confidence": 0.5}, '
               '{"Position": [5, 6, 7, 8], "Confidence": 0.25}]'),
          [((1, 2, 3, 4), 0.5, None), ((5, 6, 7, 8), 0.25, None)])


def test_visual_rft_mixed_quotes():
    check(wrap("""[{'Position': [1, 2, 3, 4], "Confidence": 0.5}, """
               """{"Position": [5, 6, 7, 8], 'Confidence': 1}]"""),
          [((1, 2, 3, 4), 0.5, None), ((5, 6, 7, 8), 1.0, None)])


def test_apostrophe_inside_single_quoted_string():
    check(wrap("[{'Position': [1, 2, 3, 4], 'Confidence': 0.9, 'label': 'men's shoe'}, "
               "{'Position': [5, 6, 7, 8], 'Confidence': 0.8, 'label': 'it's a 'cat''}]"),
          [((1, 2, 3, 4), 0.9, "men's shoe"), ((5, 6, 7, 8), 0.8, "it's a 'cat'")])


def test_lowercase_and_odd_keys():
    check(wrap("[{'position': [1, 2, 3, 4], 'confidence': 0.9}, {'POSITION': [5, 6, 7, 8], 'conf': 0.1}, "
               "{Position: [9, 10, 11, 12], Confidence: 0.3}, "
               "{'bounding-box': [13, 14, 15, 16], 'Score': 0.4}]"),
          [((1, 2, 3, 4), 0.9, None), ((5, 6, 7, 8), 0.1, None), ((9, 10, 11, 12), 0.3, None),
           ((13, 14, 15, 16), 0.4, None)])


def test_integer_float_and_quoted_confidences():
    p = check(wrap("[{'Position': [1, 2, 3, 4], 'Confidence': 1}, "
                   "{'Position': [5, 6, 7, 8], 'Confidence': 0}, "
                   "{'Position': [1, 2, 3, 4], 'Confidence': '0.5'}, "
                   "{'Position': [1, 2, 3, 4], 'Confidence': 'high'}, "
                   "{'Position': [1, 2, 3, 4], 'Confidence': 1.0e-1}]"),
              [((1, 2, 3, 4), 1.0, None), ((5, 6, 7, 8), 0.0, None), ((1, 2, 3, 4), 0.5, None),
               ((1, 2, 3, 4), None, None), ((1, 2, 3, 4), 0.1, None)])
    assert isinstance(p.boxes[0].confidence, float)


def test_confidence_before_position_and_missing():
    check(wrap("[{'Confidence': 0.7, 'Position': [1, 2, 3, 4]}, {'Position': [5, 6, 7, 8]}]"),
          [((1, 2, 3, 4), 0.7, None), ((5, 6, 7, 8), None, None)])


def test_nested_lists_and_extra_closing_brackets():
    check(wrap("[[{'Position': [1, 2, 3, 4], 'Confidence': 0.9}], "
               "[{'Position': [5, 6, 7, 8], 'Confidence': 0.8}]]]]"),
          [((1, 2, 3, 4), 0.9, None), ((5, 6, 7, 8), 0.8, None)])
    check(wrap("[{'Position': [[1, 2, 3, 4]], 'Confidence': 0.3}]"), [((1, 2, 3, 4), 0.3, None)])
    check(wrap("[[[1, 2, 3, 4]], [[5, 6, 7, 8]]]"), [((1, 2, 3, 4), None, None), ((5, 6, 7, 8), None, None)])


def test_trailing_commas():
    check(wrap("[{'Position': [1, 2, 3, 4,], 'Confidence': 0.9,}, "
               "{'Position': [5, 6, 7, 8], 'Confidence': 0.8},]"),
          [((1, 2, 3, 4), 0.9, None), ((5, 6, 7, 8), 0.8, None)])


def test_literal_ellipsis_item():
    check(wrap("[{'Position': [1, 2, 3, 4], 'Confidence': 0.9}, ..., "
               "{'Position': [5, 6, 7, 8], 'Confidence': 0.5}]"),
          [((1, 2, 3, 4), 0.9, None), ((5, 6, 7, 8), 0.5, None)])
    check(wrap("[{'Position': [1, 2, 3, 4], 'Confidence': 0.9}, ...]"), [((1, 2, 3, 4), 0.9, None)])


@pytest.mark.parametrize("answer", ['"No Objects"', "No Objects", "'No Objects'", "no objects.", "No objects",
                                    "NO_OBJECTS", "None", "[]", "{}", "[ ]", '["No Objects"]',
                                    "There are no objects in this image."])
def test_no_objects(answer):
    p = check(wrap(answer), [], R.NO_OBJECTS)
    assert p.usable and p.format_ok


def test_no_objects_mixed_into_a_list_boxes_count():
    check(wrap("[\"No Objects\", {'Position': [1, 2, 3, 4], 'Confidence': 0.9}]"),
          [((1, 2, 3, 4), 0.9, None)])
    check(wrap("No Objects. [{'Position': [1, 2, 3, 4], 'Confidence': 0.9}]"), [((1, 2, 3, 4), 0.9, None)])


def test_latex_escaped_braces():
    check(wrap("[\\{'Position': [1, 2, 3, 4], 'Confidence': 0.9\\}, "
               "\\{'Position': [5, 6, 7, 8], 'Confidence': 0.8\\}]"),
          [((1, 2, 3, 4), 0.9, None), ((5, 6, 7, 8), 0.8, None)])
    check(wrap("\\[\\{'Position': \\[1, 2, 3, 4\\], 'Confidence': 0.9\\}\\]"), [((1, 2, 3, 4), 0.9, None)])


def test_multi_line_answer():
    check("<think>\nstep 1\nstep 2\n</think>\n\n<answer>\n[\n  {'Position': [1, 2, 3, 4],\n"
          "   'Confidence': 0.9},\n  {'Position': [5, 6, 7, 8],\n   'Confidence': 0.8}\n]\n</answer>",
          [((1, 2, 3, 4), 0.9, None), ((5, 6, 7, 8), 0.8, None)])


# ---------------------------------------------------------------------------------------------- Qwen2.5-VL


def test_qwen25_json_in_fences_with_labels():
    check(wrap('```json\n[\n\t{"bbox_2d": [12, 34, 56, 78], "label": "cat"},\n\t{"bbox_2d": [1, 2, 3, 4], '
               '"label": "dog"}\n]\n```'),
          [((12, 34, 56, 78), None, "cat"), ((1, 2, 3, 4), None, "dog")])


def test_qwen25_json_without_fences_label_first_with_score():
    check(wrap('[{"label": "cat", "bbox_2d": [12, 34, 56, 78], "score": 0.8}, '
               '{"bbox_2d": [1, 2, 3, 4], "label": "dog", "confidence": 0.6}]'),
          [((12, 34, 56, 78), 0.8, "cat"), ((1, 2, 3, 4), 0.6, "dog")])


def test_qwen25_label_escapes_are_decoded():
    check(wrap('[{"bbox_2d": [1, 2, 3, 4], "label": "a \\"big\\" cat"}, {"bbox_2d": [5, 6, 7, 8], '
               '"label": "\\u732b"}, {"bbox_2d": [9, 10, 11, 12], "label": "  spaced  "}, '
               '{"bbox_2d": [13, 14, 15, 16], "label": ""}]'),
          [((1, 2, 3, 4), None, 'a "big" cat'), ((5, 6, 7, 8), None, "猫"), ((9, 10, 11, 12), None, "spaced"),
           ((13, 14, 15, 16), None, None)])


def test_dict_keyed_by_category_lists_of_boxes():
    check(wrap('{"cat": [[1, 2, 3, 4], [5, 6, 7, 8]], "dog": [[9, 10, 11, 12]]}'),
          [((1, 2, 3, 4), None, "cat"), ((5, 6, 7, 8), None, "cat"), ((9, 10, 11, 12), None, "dog")])


def test_dict_keyed_by_category_one_box_per_key():
    # regression: the second and later single boxes of the object were dropped silently
    check(wrap('{"cat": [1, 2, 3, 4], "dog": [5, 6, 7, 8], "traffic light": [9, 10, 11, 12]}'),
          [((1, 2, 3, 4), None, "cat"), ((5, 6, 7, 8), None, "dog"),
           ((9, 10, 11, 12), None, "traffic light")])
    check(wrap('{"cat": [1, 2, 3, 4], "dog": [[5, 6, 7, 8], [9, 10, 11, 12]], "bird": [13, 14, 15, 16]}'),
          [((1, 2, 3, 4), None, "cat"), ((5, 6, 7, 8), None, "dog"), ((9, 10, 11, 12), None, "dog"),
           ((13, 14, 15, 16), None, "bird")])


def test_container_keys():
    check(wrap('{"objects": [{"bbox_2d": [1, 2, 3, 4], "label": "cat"}, '
               '{"bbox_2d": [5, 6, 7, 8], "label": "dog"}]}'),
          [((1, 2, 3, 4), None, "cat"), ((5, 6, 7, 8), None, "dog")])


def test_two_box_fields_in_one_object_keep_the_first():
    check(wrap('{"Position": [1, 2, 3, 4], "bbox": [5, 6, 7, 8], "Confidence": 0.5}'),
          [((1, 2, 3, 4), 0.5, None)])


# ------------------------------------------------------------------------------------------------ Qwen2-VL


def test_qwen2_parenthesised_points():
    check(wrap("(10,20),(30,40)"), [((10, 20, 30, 40), None, None)])
    check(wrap("(10, 20), (30, 40) and (0.5,0.25),(0.75,1.0)"),
          [((10, 20, 30, 40), None, None), ((0.5, 0.25, 0.75, 1.0), None, None)])


def test_qwen2_box_tokens_and_object_refs():
    check(wrap("<|object_ref_start|>the cat<|object_ref_end|><|box_start|>(10,20),(30,40)<|box_end|>"),
          [((10, 20, 30, 40), None, "the cat")])
    check(wrap("<|object_ref_start|>cats<|object_ref_end|><|box_start|>(1,2),(3,4)<|box_end|>"
               "<|box_start|>(5,6),(7,8)<|box_end|> and <|object_ref_start|>dog<|object_ref_end|>"
               "<|box_start|>(9,10),(11,12)<|box_end|>"),
          [((1, 2, 3, 4), None, "cats"), ((5, 6, 7, 8), None, "cats"), ((9, 10, 11, 12), None, "dog")])
    check(wrap("<|box_start|>(10,20),(30,40)<|box_end|>"), [((10, 20, 30, 40), None, None)])


def test_bare_list_and_bare_numbers():
    check(wrap("[12, 34, 56, 78]"), [((12, 34, 56, 78), None, None)])
    check(wrap("12,34,56,78"), [((12, 34, 56, 78), None, None)])
    check(wrap("The cat is at 12, 34, 56, 78."), [((12, 34, 56, 78), None, None)])
    check(wrap("cat: 1,2,3,4 dog: 5,6,7,8"), [((1, 2, 3, 4), None, "cat"), ((5, 6, 7, 8), None, "dog")])


def test_unit_floats_negative_and_inverted_coordinates_are_kept():
    check(wrap("[0.12, 0.5, 0.33, 0.75]"), [((0.12, 0.5, 0.33, 0.75), None, None)])
    check(wrap("[-5, 10, 3, -2.5]"), [((-5, 10, 3, -2.5), None, None)])
    check(wrap("[{'Position': [300, 400, 100, 200], 'Confidence': 0.9}]"),
          [((300, 400, 100, 200), 0.9, None)])
    check(wrap("[0, 0, 0, 0]"), [((0, 0, 0, 0), None, None)])


def test_points_where_a_box_was_asked():
    check(wrap("[10, 20]"), [], R.POINTS_NOT_BOXES, {"points": 1})
    check(wrap("[[10, 20], [30, 40]]"), [], R.POINTS_NOT_BOXES, {"points": 2})
    check(wrap("(10, 20)"), [], R.POINTS_NOT_BOXES, {"points": 1})
    check(wrap("[{'Position': [10, 20], 'Confidence': 0.9}]"), [], R.POINTS_NOT_BOXES, {"points": 1})


def test_wrong_arity():
    check(wrap("[1, 2, 3]"), [], R.WRONG_ARITY, {"wrong_arity": 1})
    check(wrap("[1, 2, 3, 4, 5]"), [], R.WRONG_ARITY, {"wrong_arity": 1})
    check(wrap("[1, 2, 3, 4], [1, 2, 3, 4, 5, 6]"), [((1, 2, 3, 4), None, None)], dropped={"wrong_arity": 1})


# ---------------------------------------------------------------------------------------------- truncation


def test_missing_closing_answer_tag():
    p = check("<think>a</think><answer>[{'Position': [1, 2, 3, 4], 'Confidence': 0.9}]",
              [((1, 2, 3, 4), 0.9, None)])
    assert not p.answer_closed and not p.format_ok


def test_cut_inside_an_item():
    items = "[{'Position': [1, 2, 3, 4], 'Confidence': 0.9}, {'Position': [5, 6, 7, 8], 'Confidence': 0.8}, "
    kept = [((1, 2, 3, 4), 0.9, None), ((5, 6, 7, 8), 0.8, None)]
    for cut in ("{'Position': [9, 10, 11", "{'Position': [9, 10, 11, 12",
                "{'Position': [9, 10, 11, 12], 'Conf", "{'Position': [9, 10, 11, 12], 'Confidence': 0.",
                "{", "{'Posi", "[9, 10"):
        p = check("<think>a</think><answer>" + items + cut, kept, dropped={"truncated": 1})
        assert not p.answer_closed
    # cut between items: nothing lost
    check("<think>a</think><answer>" + items, kept)


def test_cut_before_any_complete_item():
    check("<think>a</think><answer>[{'Position': [1, 2, 3", [], R.TRUNCATED, {"truncated": 1})
    check("<think>a</think><answer>[", [], R.TRUNCATED, {"truncated": 1})
    check("<think>a</think><answer>(10, 20), (30, 4", [], R.TRUNCATED, {"truncated": 1})
    check("<think>a</think><answer>12, 34, 56, 78", [], R.TRUNCATED, {"truncated": 1})


def test_repetition_loop_cut():
    item = "{'Position': [1, 2, 3, 4], 'Confidence': 0.9}, "
    check("<think>a</think><answer>[" + item * 500 + "{'Position': [1, 2", [((1, 2, 3, 4), 0.9, None)] * 500,
          dropped={"truncated": 1})


def test_closed_answer_with_unclosed_brackets_reads_them_as_closed():
    check(wrap("[{'Position': [1, 2, 3, 4], 'Confidence': 0.9"), [((1, 2, 3, 4), 0.9, None)])
    check(wrap("[1, 2, 3, 4"), [((1, 2, 3, 4), None, None)])
    check(wrap("[{'Position': [1, 2, 3, 4], 'Confidence': 0.9}, {'Position': [5, 6"),
          [((1, 2, 3, 4), 0.9, None)], dropped={"points": 1})


def test_several_answer_blocks_last_complete_counts():
    check("<think>a</think><answer>[1, 2, 3, 4]</answer><answer>[5, 6, 7, 8]</answer>",
          [((5, 6, 7, 8), None, None)])
    # an unclosed block after a complete one does not count
    p = check("<think>a</think><answer>[1, 2, 3, 4]</answer><answer>[5, 6, 7, 8]",
              [((1, 2, 3, 4), None, None)])
    assert p.answer_closed and not p.format_ok
    # no complete block: the text after the last <answer>
    check("<think>a</think><answer>[1, 2, 3, 4]<answer>[5, 6, 7, 8]", [((5, 6, 7, 8), None, None)])


def test_boxes_inside_think_are_never_read():
    p = check("<think>maybe [1, 2, 3, 4] <answer>[9, 9, 9, 9]</answer></think><answer>[5, 6, 7, 8]</answer>",
              [((5, 6, 7, 8), None, None)])
    assert p.format_ok and p.think == "maybe [1, 2, 3, 4] <answer>[9, 9, 9, 9]</answer>"
    check("<think>a <answer>[1, 2, 3, 4]</answer></think>", [], R.NO_ANSWER_TAG)
    check("<think>a</think>[1, 2, 3, 4]", [], R.NO_ANSWER_TAG)


# ---------------------------------------------------------------------------------------- tags and reasons


def test_require_answer_tag_false():
    check("[1, 2, 3, 4]", [((1, 2, 3, 4), None, None)], require_answer_tag=False)
    check("<think>[9, 9, 9, 9]</think>[1, 2, 3, 4]", [((1, 2, 3, 4), None, None)], require_answer_tag=False)
    check("<think>a</think><answer>[1, 2, 3, 4]</answer>", [((1, 2, 3, 4), None, None)],
          require_answer_tag=False)
    # regression: a <think> never closed is all reasoning, its boxes are not an answer
    p = check("<think>I think it is at [1, 2, 3, 4]", [], R.EMPTY_ANSWER, require_answer_tag=False)
    assert p.think == "I think it is at [1, 2, 3, 4]"


def test_reasons_without_boxes():
    check("no tags at all [1, 2, 3, 4]", [], R.NO_ANSWER_TAG)
    check("", [], R.NO_ANSWER_TAG)
    check(wrap("   \n\t "), [], R.EMPTY_ANSWER)
    check(wrap(""), [], R.EMPTY_ANSWER)
    check(wrap("The answer is a cat."), [], R.UNPARSEABLE)
    check(wrap("[" * 100 + "1, 2, 3, 4" + "]" * 100), [], R.TOO_DEEP)


def test_depth_limit_is_64():
    check(wrap("[" * 63 + "1, 2, 3, 4" + "]" * 63), [((1, 2, 3, 4), None, None)])
    check(wrap("[" * 65 + "1, 2, 3, 4" + "]" * 65), [], R.TOO_DEEP)


def test_reason_priority():
    check(wrap("[nan, 1, 2, 3], [1, 2], [1, 2, 3]"), [], R.NON_FINITE,
          {"non_finite": 1, "points": 1, "wrong_arity": 1})
    check(wrap("[1, 2], [1, 2, 3]"), [], R.POINTS_NOT_BOXES, {"points": 1, "wrong_arity": 1})
    check("<answer>[1, 2], [1, 2, 3], [4, 5, 6", [], R.TRUNCATED,
          {"points": 1, "wrong_arity": 1, "truncated": 1})


@pytest.mark.parametrize("completion", [None, 5, 3.5, b"<answer>[1,2,3,4]</answer>",
                                        {"role": "user", "content": "x"}, [],
                                        [{"role": "assistant", "content": None}], object()])
def test_not_text(completion):
    p = parse_completion(completion)
    assert p.reason is R.NOT_TEXT and p.boxes == () and not p.format_ok and p.text == "" and p.answer is None


def test_conversational_completions():
    msgs = [{"role": "user", "content": "find the cat"},
            {"role": "assistant", "content": [{"type": "text", "text": "<think>a</think><answer>[1, 2, "},
                                              {"type": "image"}, {"type": "text", "text": "3, 4]</answer>"}]}]
    p = parse_completion(msgs)
    assert boxes(p) == [((1.0, 2.0, 3.0, 4.0), None, None)] and p.format_ok
    assert completion_text({"content": "<answer>x</answer>"}) == "<answer>x</answer>"
    two = [{"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}]
    assert completion_text(two) == "b"


# ------------------------------------------------------------------------------------------------- numbers


@pytest.mark.parametrize("text", [
    "0.1", "0.3", "1e-7", "123456789012345678901", "9948049956023769203", "-9530590067401554809",
    "+9756198538152.110469", "0.1234567890123456789", "1.7976931348623157e308", "1.7976931348623158e308",
    "-1.797693134862315807937e308", "2.2250738585072014e-308", "4.9e-324", "1e-400", "00012.5000",
    ".5", "5.", "-.25e+2", "1" + "0" * 400 + "e-400", "0." + "0" * 500 + "1e500", "123456789" * 30,
])
def test_numbers_equal_python_float(text):
    p = parse_completion(wrap(f"[{text}, 1, 2, 3]"))
    assert p.reason is R.OK
    assert p.boxes[0].x1 == float(text)
    p = parse_completion(wrap(f"[{{'Position': [1, 2, 3, 4], 'Confidence': {text}}}]"))
    assert p.boxes[0].confidence == float(text)


@pytest.mark.parametrize("text", ["1.7976931348623159e308", "1e309", "-1e400", "1e99999", "nan", "NaN",
                                  "inf", "-inf", "Infinity", "-Infinity", "1" * 400,
                                  "17976931348623159" + "0" * 292])
def test_non_finite_boxes_are_dropped(text):
    assert not np.isfinite(float(text))
    check(wrap(f"[{text}, 1, 2, 3]"), [], R.NON_FINITE, {"non_finite": 1})
    check(wrap(f"[1, 2, 3, 4], [0, 0, {text}, 1]"), [((1, 2, 3, 4), None, None)], dropped={"non_finite": 1})


@pytest.mark.parametrize("text", ["1e999", "-1e999", "inf", "nan", "'1e999'", "'nan'"])
def test_non_finite_confidence_is_none(text):
    # regression: a numeric infinite confidence was kept as inf (the words nan / inf gave None)
    check(wrap(f"[{{'Position': [1, 2, 3, 4], 'Confidence': {text}}}]"), [((1, 2, 3, 4), None, None)])


# -------------------------------------------------------------------------------------------------- format


@pytest.mark.parametrize("text, ok", [
    ("<think>a</think><answer>b</answer>", True),
    ("<think></think><answer></answer>", True),
    ("<think>a</think> \n\t<answer>b</answer>", True),
    ("<think>a</think>\u2003\x85\xa0\u3000\u2028\x1c<answer>b</answer>", True),
    ("<think>a</think>\u200b<answer>b</answer>", False),  # zero-width space is not whitespace
    ("<think>a</think>x<answer>b</answer>", False),
    (" <think>a</think><answer>b</answer>", False),
    ("<think>a</think><answer>b</answer> ", False),
    ("<think>a</think><answer>b", False),
    ("<answer>b</answer>", False),
    ("<think>a</think><think>b</think><answer>c</answer>", True),
    ("<think>a</think>x</think><answer>c</answer>", True),
    ("<think>a</think><answer>b</answer><answer>c</answer>", True),
    ("<think>a</think><answer></answer", False),
    ("<think></think><answer>", False),
])
def test_format_ok(text, ok):
    import re

    assert (re.fullmatch(r"<think>.*?</think>\s*<answer>.*?</answer>", text, re.DOTALL) is not None) is ok
    assert parse_completion(text).format_ok is ok


# ----------------------------------------------------------------------------------------------- batch API


def test_parsed_batch_arrays():
    texts = [wrap("[1, 2, 3, 4], [5, 6, 7, 8]"), None, wrap("No Objects"), wrap("[1, 2]"),
             wrap("[{'Position': [9, 10, 11, 12], 'Confidence': 0.5, 'label': 'cat'}]")]
    b = parse_completions(texts)
    assert isinstance(b, ParsedBatch) and len(b) == 5
    assert b.offsets.tolist() == [0, 2, 2, 2, 2, 3]
    assert b.counts.tolist() == [2, 0, 0, 0, 1]
    assert b.boxes.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]
    assert np.isnan(b.confidences[:2]).all() and b.confidences[2] == 0.5
    assert b.labels == [None, None, "cat"]
    assert b.usable.tolist() == [True, False, True, False, True]
    assert b.explicit_empty.tolist() == [False, False, True, False, False]
    assert [b.reason(i) for i in range(5)] == [R.OK, R.NOT_TEXT, R.NO_OBJECTS, R.POINTS_NOT_BOXES, R.OK]
    assert b.answer(0) == "[1, 2, 3, 4], [5, 6, 7, 8]" and b.answer(1) is None
    assert b[-1].boxes[0].label == "cat" and [p.reason for p in b[1:3]] == [R.NOT_TEXT, R.NO_OBJECTS]
    with pytest.raises(IndexError):
        b[5]
    assert not b.boxes.flags.writeable and not b.status.flags.writeable


def test_empty_batch():
    b = parse_completions([])
    assert len(b) == 0 and b.boxes.shape == (0, 4) and b.offsets.tolist() == [0]


def test_identical_batches_are_parsed_once():
    texts = [wrap("[1, 2, 3, 4]"), wrap("[5, 6, 7, 8]")]
    assert parse_texts(list(texts)) is parse_texts(list(texts))
    assert parse_texts(list(texts), require_answer_tag=False) is not parse_texts(list(texts))


def test_growing_box_arrays_resumes_the_scan():
    texts = [wrap("[1, 2, 3, 4], " * k + "[5, 6, 7, 8]") for k in (0, 7, 30, 2, 100)] + [None, wrap("x")]
    buf, starts, ends = _encode(texts)
    arr = np.frombuffer(buf, np.uint8)
    ref_rows, ref_found = _scan_arrays(arr, starts, ends, True)
    for cap in (1, 2, 5, 40):
        rows, found = _scan_arrays(arr, starts, ends, True, cap=cap)
        for a, b in zip((*rows, *found), (*ref_rows, *ref_found), strict=True):
            np.testing.assert_array_equal(a, b)
    assert ref_rows.offsets.tolist() == [0, 1, 9, 40, 43, 144, 144, 144]


# --------------------------------------------------------------------------------------- scanner internals


def test_reason_codes_match_the_scanner():
    from vreward import _scan, reasons

    assert len(reasons.PARSE_REASONS) == len(set(reasons.PARSE_REASONS)) == len(ParseReason)
    for reason in ParseReason:
        assert getattr(_scan, reason.name) == reasons.PARSE_REASONS.index(reason), reason
    statuses = {name: code for name, code in vars(reasons).items() if name.startswith("STATUS_")}
    assert statuses and all(code == getattr(_scan, name[len("STATUS_"):]) for name, code in statuses.items())
    assert [r for r in reasons.PARSE_REASONS if r.usable] == [ParseReason.OK, ParseReason.NO_OBJECTS]


def test_scanner_whitespace_is_python_isspace():
    from vreward._scan import _space_len

    for cp in [*range(0x3100), *range(0xD7F0, 0xE010), 0xFEFF, 0x1F600, 0x10FFFF]:
        encoded = np.frombuffer(chr(cp).encode("utf-8", "surrogatepass"), np.uint8)
        assert _space_len(encoded, 0, len(encoded)) == (len(encoded) if chr(cp).isspace() else 0), hex(cp)
        assert len(encoded) == 1 or _space_len(encoded, 0, len(encoded) - 1) == 0, hex(cp)  # cut short


def test_dropped_columns_match_the_scanner():
    from vreward import _scan, parsing

    assert [getattr(_scan, "C_" + name.upper()) for name in parsing._DROP_NAMES] == list(range(_scan.N_DROPPED))


def test_scanner_refuses_arrays_that_are_too_small():
    from vreward._scan import ScanBoxes, ScanRows, Scratch, scan_into

    texts = [wrap("[1, 2, 3, 4]")]
    buf, starts, ends = _encode(texts)
    arr = np.frombuffer(buf, np.uint8)
    rows, found, scratch = ScanRows.allocate(1), ScanBoxes.allocate(4), Scratch.allocate()
    shallow = scratch._replace(level_ints=np.zeros((10, scratch.level_ints.shape[1]), np.int64))
    short = found._replace(slow=np.zeros(3, bool))

    def scan(ends, found, scratch):
        return scan_into(arr, starts, ends, True, 0, tuple(rows), tuple(found), tuple(scratch))

    assert scan(ends, found, scratch) == 1
    assert scan(ends, found, shallow) == -1  # level_ints shallower than the depth limit
    assert scan(ends, short, scratch) == -1
    assert scan(np.array([len(buf) + 1]), found, scratch) == -1




def test_batch_text_extraction_equals_the_per_item_rule():
    from vreward.parsing import completion_text, completion_texts

    batches = [
        ["a", "b"],
        [[{"role": "assistant", "content": "x"}], [{"content": "y"}]],
        [[{"role": "assistant", "content": "x"}], [{"role": "user", "content": "y"}]],
        [[{"role": "assistant", "content": [{"type": "text", "text": "x"}]}]],
        [[{"role": "assistant"}], [{"role": "assistant", "content": "y"}]],
        [[{"role": "user", "content": "q"}, {"role": "assistant", "content": "z"}]],
        ["s", [{"role": "assistant", "content": "t"}], None, 3],
        [],
    ]
    for batch in batches:
        assert completion_texts(batch) == [completion_text(c) for c in batch], batch
