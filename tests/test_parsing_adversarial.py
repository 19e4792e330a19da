"""Adversarial completions: the parser must stay fast (linear), bounded in memory and never raise.

Each case runs under a generous wall-time bound (the scanner is warmed up first, so compilation is not timed).
"""

from __future__ import annotations

import random
import time

import numpy as np
import pytest

from vreward import ParseReason, parse_completion, parse_completions
from vreward.parsing import parse_texts
from vreward.reasons import STATUS_NOT_TEXT

R = ParseReason
LIMIT_S = 5.0


@pytest.fixture(scope="module", autouse=True)
def warm_up():
    parse_completion("<think>x</think><answer>[{'Position': [1, 2, 3, 4], 'Confidence': 0.9}]</answer>")


def timed(texts, **kwargs):
    """Parse (bypassing the batch cache), build every row's result, and check the time bound."""
    t0 = time.perf_counter()
    batch = parse_texts(list(texts) + [f"<cache-buster {time.perf_counter_ns()}>"], **kwargs)
    rows = [batch[i] for i in range(len(texts))]
    elapsed = time.perf_counter() - t0
    assert elapsed < LIMIT_S, f"took {elapsed:.2f} s"
    assert np.isfinite(batch.boxes).all()
    return rows


def junk(n: int, seed: int) -> str:
    rng = random.Random(seed)
    pieces = ["<answer>", "</answer>", "<think>", "</think>", "[", "]", "{", "}", "(", ")", "'", '"', ":",
              ",", "'Position'", "1", "-2.5e3", ".", "\\", " ", "\n", "nan", "<|", "|>", "No Objects", "é",
              "\ud800", "\x00"]
    out = []
    size = 0
    while size < n:
        if rng.random() < 0.5:
            s = rng.choice(pieces)
        else:
            s = "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randrange(1, 20)))
        out.append(s)
        size += len(s)
    return "".join(out)


@pytest.mark.parametrize("seed", range(3))
def test_one_megabyte_of_junk(seed):
    text = junk(1_000_000, seed)
    rows = timed([text, "<think>x</think><answer>" + text, "<answer>" + text + "</answer>"])
    rows += timed([text], require_answer_tag=False)
    for p in rows:
        assert isinstance(p.reason, ParseReason)


def test_one_megabyte_of_random_code_points():
    rng = random.Random(7)
    text = "".join(chr(rng.randrange(0, 0x110000)) for _ in range(1_000_000))
    timed(["<answer>" + text, text], require_answer_tag=False)


def test_hundred_thousand_boxes():
    item = "{'Position': [%d, 2, 30, 40.5], 'Confidence': 0.9}, "
    text = "<think>x</think><answer>[" + "".join(item % k for k in range(100_000)) + "]</answer>"
    p, = timed([text])
    assert p.reason is R.OK and len(p.boxes) == 100_000
    assert p.boxes[-1].xyxy == (99_999.0, 2.0, 30.0, 40.5) and p.boxes[-1].confidence == 0.9


def test_hundred_thousand_boxes_needing_python_floats():
    # every coordinate has more than 18 significant digits: each one is re-read by float()
    text = "<answer>" + "; ".join(f"0.12345678901234567890{k % 10}, 1e-330, 12345678901234567890123, 4"
                                  for k in range(100_000)) + "</answer>"
    p, = timed([text])
    assert len(p.boxes) == 100_000 and p.boxes[0].xyxy == (float("0.123456789012345678900"), 1e-330,
                                                          12345678901234567890123.0, 4.0)


def test_many_rows_with_many_boxes():
    rows = ["<answer>" + "[1, 2, 3, 4], " * (k % 50) + "</answer>" for k in range(5_000)]
    out = timed(rows)
    assert [len(p.boxes) for p in out] == [k % 50 for k in range(5_000)]


@pytest.mark.parametrize("opener", ["[", "{", "(", "[{", "{'a': [", "\\["])
def test_deep_nesting(opener):
    n = 100_000 // len(opener)
    p, q = timed(["<answer>" + opener * n + "1, 2, 3, 4", "<answer>" + opener * n + "</answer>"])
    assert p.reason is R.TOO_DEEP and q.reason is R.TOO_DEEP and not p.boxes
    # boxes before the deep part still count
    p, = timed(["<answer>[1, 2, 3, 4] " + opener * n + "</answer>"])
    assert p.reason is R.OK and [b.xyxy for b in p.boxes] == [(1.0, 2.0, 3.0, 4.0)]


@pytest.mark.parametrize("closer", ["]", "}", ")", "]}"])
def test_stray_closers(closer):
    p, = timed(["<answer>" + closer * 100_000 + "[1, 2, 3, 4]" + closer * 100_000 + "</answer>"])
    assert p.reason is R.OK and [b.xyxy for b in p.boxes] == [(1.0, 2.0, 3.0, 4.0)]


def test_deep_then_shallow_alternation():
    p, = timed(["<answer>" + ("[" * 60 + "]" * 60) * 2_000 + "[1, 2, 3, 4]</answer>"])
    assert p.reason is R.OK and len(p.boxes) == 1


@pytest.mark.parametrize("number, reason", [
    ("nan", R.NON_FINITE), ("inf", R.NON_FINITE), ("-inf", R.NON_FINITE), ("NaN", R.NON_FINITE),
    ("1e308", R.OK), ("-1e308", R.OK), ("1e99999", R.NON_FINITE), ("-1e99999", R.NON_FINITE),
    ("1e-99999", R.OK), ("1e999999999999999999999", R.NON_FINITE), ("1e-999999999999999999999", R.OK),
    ("9" * 10_000, R.NON_FINITE), ("0." + "9" * 10_000, R.OK), ("1" + "0" * 10_000 + "e-10000", R.OK),
    ("-" + "1" * 308, R.OK), ("0" * 10_000 + "1", R.OK), ("." + "0" * 10_000 + "1", R.OK),
    ("1" * 1_000_000, R.NON_FINITE), ("0." + "1" * 1_000_000, R.OK),
])
def test_extreme_numbers(number, reason):
    p, = timed([f"<answer>[{number}, 1, 2, 3]</answer>"])
    assert p.reason is reason
    if reason is R.OK:
        assert p.boxes[0].x1 == float(number)
    else:
        assert p.dropped == {"non_finite": 1}
    c, = timed([f"<answer>[{{'Position': [0, 0, 1, 1], 'Confidence': {number}}}]</answer>"])
    assert c.boxes[0].confidence == (float(number) if reason is R.OK else None)


def test_negative_and_inverted_coordinates_are_parsed_not_dropped():
    p, = timed(["<answer>[-10, -20, -5, -1], [300, 400, 100, 200], [5, 5, 5, 5], [-1e308, 0, 1e308, 0]"
                "</answer>"])
    assert [b.xyxy for b in p.boxes] == [(-10, -20, -5, -1), (300, 400, 100, 200), (5, 5, 5, 5),
                                         (-1e308, 0, 1e308, 0)]
    assert p.dropped == {}


def test_ten_thousand_answer_tags():
    rows = timed(["<think>x</think>" + "<answer>" * 10_000 + "[1, 2, 3, 4]",
                  "<think>x</think>" + "<answer>[1, 2, 3, 4]" * 10_000 + "</answer>",
                  "<think>x</think>" + "<answer>[1, 2, 3, 4]</answer>" * 10_000,
                  "<think>x</think>" + "</answer>" * 10_000 + "<answer>[5, 6, 7, 8]",
                  "<think>x</think>" + "<answer></answer" * 10_000])
    assert [len(p.boxes) for p in rows] == [1, 1, 1, 1, 0]
    assert rows[2].format_ok and not rows[0].format_ok


def test_ten_thousand_think_tags():
    rows = timed(["<think>" + "</think>" * 10_000 + "<answer>[1, 2, 3, 4]</answer>",
                  "<think>" + "</think> \u3000\n" * 10_000 + "<answer>[1, 2, 3, 4]</answer>",
                  "<think>" * 10_000 + "</think><answer>[1, 2, 3, 4]</answer>",
                  "<think>" + "</think>   " * 10_000,
                  "<think>[1, 2, 3, 4]" * 10_000])
    assert [p.format_ok for p in rows] == [True, True, True, False, False]
    assert [len(p.boxes) for p in rows] == [1, 1, 1, 0, 0]
    assert rows[4].reason is R.NO_ANSWER_TAG


def test_repetition_loops():
    item = "{'Position': [10, 20, 30, 40], 'Confidence': 0.9}, "
    rows = timed(["<think>x</think><answer>[" + item * 20_000,
                  "<think>" + "I need to check again. " * 50_000 + "</think><answer>[1, 2, 3, 4]</answer>",
                  "<think>x</think><answer>" + "No Objects " * 100_000 + "</answer>",
                  "<think>x</think><answer>" + "(1,2),(3,4)," * 50_000 + "</answer>",
                  "<think>x</think><answer>" + "[1, 2]" * 50_000 + "</answer>"])
    assert len(rows[0].boxes) == 20_000 and rows[0].dropped == {}
    assert len(rows[1].boxes) == 1
    assert rows[2].reason is R.NO_OBJECTS
    assert len(rows[3].boxes) == 50_000
    assert rows[4].reason is R.POINTS_NOT_BOXES and rows[4].dropped == {"points": 50_000}


@pytest.mark.parametrize("text", [
    "<answer>'" + "x" * 1_000_000,  # a string that never ends
    "<answer>" + "'" * 1_000_000,
    "<answer>" + "' " * 500_000,
    "<answer>" + '"\\' * 500_000,
    "<answer>{'" + "_" * 1_000_000 + "': [1, 2, 3, 4]}",  # a huge key
    "<answer>{" + "'a': " * 200_000 + "[1, 2, 3, 4]}",
    "<answer>" + "<|" * 500_000,
    "<answer>" + "<|object_ref_start|>" * 50_000 + "(1,2),(3,4)",
    "<answer>" + "no" * 500_000,
    "<answer>" + "-" * 1_000_000 + "1, 2, 3, 4",
    "<answer>" + "1." * 500_000,
    "<answer>" + "1e" * 500_000,
    "<answer>" + "\\" * 1_000_000,
    "<answer>" + "\u3000" * 300_000 + "[1, 2, 3, 4]",
])
def test_pathological_texts(text):
    timed([text, text + "</answer>"])
    timed([text], require_answer_tag=False)


def test_huge_batch_of_small_completions():
    rows = ["<think>x</think><answer>[{'Position': [1, 2, 3, 4], 'Confidence': 0.9}]</answer>"] * 50_000
    t0 = time.perf_counter()
    b = parse_completions(rows + [None])
    assert time.perf_counter() - t0 < LIMIT_S
    assert b.counts.sum() == 50_000 and b.status[-1] == STATUS_NOT_TEXT


def test_memory_is_proportional_to_the_boxes_found():
    # 10^6 digits and brackets but no box: no per-box arrays beyond the initial capacity
    b = parse_texts(["<answer>" + "[1, 2, 3]" * 100_000 + "</answer>"])
    assert b.boxes.shape == (0, 4) and b.dropped_counts[0, 0] == 100_000
    assert b.boxes.base is None or b.boxes.base.nbytes <= 16 * 4 * 8
