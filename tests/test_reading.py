"""The text rewards' readers: the scanner's answer pass finds the box parse's answers, its value pass reads what the
Python rules read (numbers, times, number groups) on hostile text, masks measured on runs equal pycocotools, and a
solution column is read once per distinct value."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vreward.masks import MaskRuns
from vreward.parsing import TextSpans, answer_batch, parse_texts
from vreward.rewards.reading import MAX_ITEMS, number_groups, numbers, read_values, times
from vreward.solution import SolutionError, distinct_solutions

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Pieces of answers where the rules' regexes backtrack, numbers are inexact or overflow, and text is not ASCII.
PIECES = ["1", "12", "12.5", "-3", "+4", ".5", "5.", "1e5", "1E-3", "e", "E", "1e", "x", "a", " ", ",", ":", "00:12",
          "1:02:03.5", "s", "sec", "secs", "seconds", "S", "[", "]", "(", ")", "{", "}", "\n", "\t", "\x1c", "\u00a0",
          "é", "五", "٣", "_", ".", "..", "1234567890", "123456789.123456789", "0.1234567890123456789", "1e400", "nan",
          "to", "2:345", "12:5:7:9", "<answer>", "</answer>", "<think>", "</think>"]
text = st.lists(st.sampled_from(PIECES), max_size=30).map("".join) | st.text(max_size=40)
RULES = {"numbers": lambda t, limit: [[v] for v in numbers(t, limit)],
         "times": lambda t, limit: [[v] for v in times(t, limit)], "groups": number_groups}


@SETTINGS
@given(st.lists(text | st.none(), min_size=1, max_size=8), st.sampled_from(sorted(RULES)),
       st.sampled_from([1, 3, 64, MAX_ITEMS]))
def test_the_value_scan_reads_what_the_python_rules_read(texts, rule, limit):
    read = read_values(TextSpans.of(texts), rule, limit)
    for i, t in enumerate(texts):
        assert read.items(i) == (RULES[rule](t, limit) if t is not None else [])


def test_the_value_scan_converts_numbers_exactly():
    rng = np.random.default_rng(0)
    values = rng.uniform(-1e6, 1e6, 2000) * 10.0 ** rng.integers(-12, 12, 2000)
    texts = [f"[{v!r}, {round(v, 3)}] {abs(v):.9f}s to {abs(round(v, 1))}" for v in values.tolist()]
    for rule in ("numbers", "times", "groups"):
        read = read_values(TextSpans.of(texts), rule)
        assert all(read.items(i) == RULES[rule](t, MAX_ITEMS) for i, t in enumerate(texts)), rule


@SETTINGS
@given(st.lists(text | st.none(), min_size=1, max_size=8), st.booleans())
def test_the_answer_pass_finds_the_box_parses_answers(texts, tag):
    answers = answer_batch(texts, require_answer_tag=tag)
    parsed = parse_texts(texts, require_answer_tag=tag)
    for i, t in enumerate(texts):
        if t is None:
            assert answers.status[i] == parsed.status[i] and answers.answer(i) is None
            continue
        assert answers.answer(i) == parsed.answer(i)
        box_status = parsed.reason(i).value
        text_status = parsed.reason_name(int(answers.status[i]))
        assert text_status == (box_status if box_status in ("no_answer_tag", "empty_answer") else "ok")
    assert answers.answers.texts() == [answers.answer(i) for i in range(len(texts))]


def test_masks_on_runs_equal_pycocotools():
    from pycocotools import mask as mask_utils

    rng = np.random.default_rng(1)
    masks = [mask_utils.encode(np.asfortranarray((rng.random((h, w)) < p).astype(np.uint8)))
             for h, w, p in [(7, 5, 0.5), (7, 5, 0.0), (7, 5, 1.0), (30, 40, 0.2), (30, 40, 0.9), (1, 1, 1.0)] * 3]
    runs = MaskRuns.of(masks)
    a, b = np.array([0, 1, 2, 3, 4, 0, 6, 9]), np.array([2, 0, 2, 4, 3, 6, 0, 10])
    inter, area_a, area_b = runs.overlaps(a, b)
    assert area_a.tolist() == [int(mask_utils.area(masks[k])) for k in a]
    assert area_b.tolist() == [int(mask_utils.area(masks[k])) for k in b]
    assert inter.tolist() == [int(mask_utils.area(mask_utils.merge([masks[i], masks[j]], intersect=True)))
                              for i, j in zip(a, b)]
    k, rows, cols = np.array([3, 4, 0, 5]), np.array([0, 29, 6, 0]), np.array([0, 39, 4, 0])
    assert runs.contains(k, rows, cols).tolist() == [bool(mask_utils.decode(masks[m])[r, c])
                                                     for m, r, c in zip(k, rows, cols)]
    with pytest.raises(ValueError, match="invalid RLE counts"):
        MaskRuns.of([{"size": [2, 2], "counts": b"\x01"}])


def test_a_solution_column_is_read_once_per_distinct_value():
    distinct = distinct_solutions(["3", "3", 3, "4", 3.0, [1, 2], [1, 2], True], 8)
    assert distinct.values == ["3", 3, "4", 3.0, [1, 2], True]
    assert distinct.rows.tolist() == [0, 0, 1, 2, 3, 4, 4, 5]
    counts, bad = distinct.read_each(lambda v: int(v) if not isinstance(v, (list, bool)) else int("x"))
    assert counts == [3, 3, 4, 3, None, None] and set(bad) == {4, 5}
    assert set(distinct.row_problems(bad, strict=False)) == {5, 6, 7}
    with pytest.raises(SolutionError, match="solution row 5"):
        distinct.row_problems(bad, strict=True)
    for column, message in [(None, "no ground truth"), ("3", "must be a list"), (["3"], "1 rows but there are 2")]:
        with pytest.raises(SolutionError, match=message):
            distinct_solutions(column, 2)
