"""Property tests of the completion parser (hypothesis).

* it never raises, whatever the completion (text, nested data printed as text, non-text objects), and its
  arrays are always consistent; a row parses the same alone or in a batch;
* boxes written in every supported format parse back exactly, in order, with their confidences and labels;
* ``format_ok`` is ``re.fullmatch(r"<think>.*?</think>\\s*<answer>.*?</answer>", text, re.DOTALL)``;
* numbers equal Python's ``float`` of their text;
* the cached native scanner and the numba dispatcher agree.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from vreward import ParseReason, parse_completion, parse_completions
from vreward._scan import KEY_CLASSES
from vreward.parsing import _encode, _scan_arrays, parse_texts

SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FORMAT = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)

FRAGMENTS = ["<think>", "</think>", "<answer>", "</answer>", "[", "]", "{", "}", "(", ")", "'Position'",
             '"Position"', "'Confidence'", '"bbox_2d"', '"label"', ":", ",", " ", "\n", "'", '"', "\\", "...",
             "1", "-2.5", "0.75", "1e308", "1e999", "nan", "inf", "No Objects", "<|box_start|>",
             "<|box_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "```json", "\u2003", "\x85", "\xa0",
             "\u3000", "é", "猫", "\ud800", "\udfff", "\x00"]
any_char = st.characters(codec=None, exclude_categories=())  # every code point, lone surrogates included
fragment_text = st.lists(st.sampled_from(FRAGMENTS) | st.text(any_char, max_size=6), max_size=40).map("".join)
texts = st.text(any_char, max_size=200) | fragment_text

# -------------------------------------------------------------------------------------------- never raises


def check_batch(batch, n):
    """Invariants of any parse result."""
    assert len(batch) == n
    offsets = batch.offsets
    assert offsets[0] == 0 and (np.diff(offsets) >= 0).all() and offsets[-1] == len(batch.boxes)
    assert batch.boxes.shape == (offsets[-1], 4) and batch.confidences.shape == (offsets[-1],)
    assert np.isfinite(batch.boxes).all()
    conf = batch.confidences
    assert np.isfinite(conf[~np.isnan(conf)]).all()
    assert len(batch.labels) == offsets[-1]
    for i in range(n):
        p = batch[i]
        assert (p.reason is ParseReason.OK) == (len(p.boxes) > 0)
        assert p.usable == (p.reason in (ParseReason.OK, ParseReason.NO_OBJECTS))
        assert all(v > 0 for v in p.dropped.values())
        assert isinstance(p.format_ok, bool)
        if p.answer is not None:
            assert isinstance(p.answer, str)


@SETTINGS
@given(st.lists(texts, max_size=8), st.booleans())
def test_never_raises_on_text(batch, tag):
    check_batch(parse_completions(batch, require_answer_tag=tag), len(batch))


@SETTINGS
@given(st.lists(texts, min_size=1, max_size=6), st.booleans())
def test_a_row_parses_the_same_alone_or_in_a_batch(batch, tag):
    together = parse_texts(batch, require_answer_tag=tag)
    for i, text in enumerate(batch):
        alone = parse_texts([text], require_answer_tag=tag)[0]
        assert together[i] == alone


json_data = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(any_char, max_size=10),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=8), children, max_size=5) | st.tuples(children, children),
    max_leaves=30)


@SETTINGS
@given(json_data, st.sampled_from(["str", "repr", "json"]), st.booleans())
def test_never_raises_on_data_printed_as_text(data, how, tag):
    if how == "json":
        text = json.dumps(data, ensure_ascii=False)
    else:
        text = str(data) if how == "str" else repr(data)
    batch = parse_completions([text, f"<think>x</think><answer>{text}</answer>", f"<answer>{text}"],
                              require_answer_tag=tag)
    check_batch(batch, 3)


odd_values = st.none() | st.integers() | st.floats() | st.text(max_size=20) | st.binary(max_size=5)
parts = st.lists(st.dictionaries(st.sampled_from(["type", "text"]), odd_values, max_size=2), max_size=3)
messages = st.lists(st.dictionaries(st.sampled_from(["role", "content", "type", "text"]), odd_values | parts,
                                    max_size=4), max_size=4)
completions = (st.none() | st.integers() | st.floats() | st.binary(max_size=10) | texts | messages
               | st.dictionaries(st.text(max_size=5), odd_values, max_size=3) | st.tuples(texts))


@SETTINGS
@given(st.lists(completions, max_size=6))
def test_never_raises_on_any_completion(batch):
    check_batch(parse_completions(batch), len(batch))


# ---------------------------------------------------------------------------------------------- round trip

coordinate = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(0, 1),
    st.floats(-1e4, 1e4),
    st.integers(-2000, 2000),
    st.integers(-10**30, 10**30),
).map(lambda v: repr(v) if isinstance(v, float) else str(v))
box_texts = st.lists(coordinate, min_size=4, max_size=4)
confidence = st.one_of(
    st.floats(0, 1), st.sampled_from([0, 1]), st.floats(allow_nan=False, allow_infinity=False)
).map(lambda v: repr(v) if isinstance(v, float) else str(v))

_KEYWORDS = {k for ks in KEY_CLASSES.values() for k in ks}
label = (st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzABCXYZ éß猫кот_-0123456789"), min_size=1,
                 max_size=15)
         .map(str.strip).filter(lambda s: s and re.sub(r"[ _-]", "", s.lower()) not in _KEYWORDS))
word_label = label.filter(lambda s: not any(c.isdigit() for c in s))


def expected(box):
    return tuple(float(v) for v in box)


def parsed(text, **kwargs):
    p = parse_completion(text, **kwargs)
    return p, [(b.xyxy, b.confidence, b.label) for b in p.boxes]


@SETTINGS
@given(st.lists(st.tuples(box_texts, confidence), min_size=1, max_size=6),
       st.sampled_from(["''", '""', "'\"", "\"'"]), st.sampled_from(["Position", "position", "POSITION"]),
       st.sampled_from(["Confidence", "confidence"]), st.sampled_from([", ", ",", ",\n  "]), st.booleans())
def test_round_trip_visual_rft(items, quotes, pos_key, conf_key, sep, trailing_comma):
    q1, q2 = quotes
    body = sep.join(f"{{{q1}{pos_key}{q1}: [{', '.join(box)}], {q2}{conf_key}{q2}: {c}}}" for box, c in items)
    text = f"<think>look</think>\n<answer>[{body}{',' if trailing_comma else ''}]</answer>"
    p, got = parsed(text)
    want = [(expected(box), float(c) if math.isfinite(float(c)) else None, None) for box, c in items]
    assert got == want and p.reason is ParseReason.OK and p.dropped == {} and p.format_ok


@SETTINGS
@given(st.lists(st.tuples(box_texts, label, st.none() | confidence), min_size=1, max_size=6), st.booleans(),
       st.sampled_from(["score", "confidence"]), st.booleans())
def test_round_trip_qwen25_json(items, fenced, score_key, ascii_only):
    objects = []
    for box, lab, c in items:
        obj = {"bbox_2d": "@BOX@" + ", ".join(box) + "@", "label": lab}
        if c is not None:
            obj[score_key] = "@NUM@" + c + "@"
        objects.append(obj)
    # numbers are spliced in as written (json.dumps would re-format big integers and floats)
    body = json.dumps(objects, indent=2, ensure_ascii=ascii_only)
    body = re.sub(r'"@BOX@([^@]*)@"', r"[\1]", body)
    body = re.sub(r'"@NUM@([^@]*)@"', r"\1", body)
    text = "<think>x</think><answer>" + (f"```json\n{body}\n```" if fenced else body) + "</answer>"
    p, got = parsed(text)
    want = [(expected(box), None if c is None or not math.isfinite(float(c)) else float(c), lab)
            for box, lab, c in items]
    assert got == want and p.reason is ParseReason.OK and p.dropped == {}


@SETTINGS
@given(st.dictionaries(label, st.tuples(st.lists(box_texts, min_size=1, max_size=3), st.booleans()),
                       min_size=1, max_size=5))
def test_round_trip_dict_keyed_by_category(categories):
    parts = []
    want = []
    for lab, (bxs, single) in categories.items():
        if single and len(bxs) == 1:
            parts.append(f'"{lab}": [{", ".join(bxs[0])}]')
        else:
            parts.append(f'"{lab}": [' + ", ".join(f"[{', '.join(b)}]" for b in bxs) + "]")
        want.extend((expected(b), None, lab) for b in bxs)
    p, got = parsed("<think>x</think><answer>{" + ", ".join(parts) + "}</answer>")
    assert got == want and p.reason is ParseReason.OK and p.dropped == {}


@SETTINGS
@given(st.lists(st.tuples(box_texts, st.none() | word_label), min_size=1, max_size=5), st.booleans(),
       st.sampled_from(["", " ", "\n"]))
def test_round_trip_qwen2_grounding(items, tokens, sep):
    parts = []
    want = []
    current = None
    for box, lab in items:
        x1, y1, x2, y2 = box
        pts = f"({x1},{y1}),({x2},{y2})" if sep != " " else f"({x1}, {y1}), ({x2}, {y2})"
        if tokens:
            pts = f"<|box_start|>{pts}<|box_end|>"
        if lab is not None:
            current = lab
            pts = f"<|object_ref_start|>{lab}<|object_ref_end|>{pts}"
        parts.append(pts)
        want.append((expected(box), None, current))
    p, got = parsed("<think>x</think><answer>" + sep.join(parts) + "</answer>")
    assert got == want and p.reason is ParseReason.OK and p.dropped == {}


@SETTINGS
@given(st.lists(box_texts, min_size=1, max_size=6), st.sampled_from([", ", "\n", " and ", "; "]),
       st.sampled_from(["", "The boxes are ", "```\n"]))
def test_round_trip_bare_lists(bxs, sep, prefix):
    body = sep.join(f"[{', '.join(b)}]" for b in bxs)
    p, got = parsed(f"<think>x</think><answer>{prefix}{body}</answer>")
    assert got == [(expected(b), None, None) for b in bxs] and p.reason is ParseReason.OK


@SETTINGS
@given(st.lists(box_texts, min_size=1, max_size=4), st.sampled_from([",", ", "]),
       st.sampled_from(["\n", "; "]), st.booleans())
def test_round_trip_bare_numbers(bxs, comma, sep, tags):
    body = sep.join(comma.join(b) for b in bxs)
    text = f"<think>x</think><answer>{body}.</answer>" if tags else f"The box is {body}."
    p, got = parsed(text, require_answer_tag=tags)
    assert got == [(expected(b), None, None) for b in bxs] and p.reason is ParseReason.OK


# ----------------------------------------------------------------------------------------------- format_ok

WHITESPACE = [" ", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\x85", "\xa0", "\u1680",
              "\u2000", "\u2003", "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000",
              "\u200b", "\u180e", "\ufeff"]  # the last three are not whitespace
TAG_PARTS = ["<think>", "</think>", "<answer>", "</answer>", "<think", "answer>", "</", "<", ">", "x", "é",
             "\ud800"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(TAG_PARTS + WHITESPACE), max_size=12).map("".join), min_size=1,
                max_size=10))
def test_format_ok_is_the_regex(batch):
    got = parse_completions(batch).format_ok.tolist()
    assert got == [FORMAT.fullmatch(t) is not None for t in batch]


@SETTINGS
@given(st.text(any_char, max_size=30), st.sampled_from(WHITESPACE), st.text(any_char, max_size=30))
def test_format_ok_is_the_regex_around_a_valid_completion(think, ws, answer):
    for text in (f"<think>{think}</think>{ws}<answer>{answer}</answer>",
                 f"<think>{think}</think><answer>{answer}"):
        assert parse_completion(text).format_ok == (FORMAT.fullmatch(text) is not None)


# ------------------------------------------------------------------------------------------------- numbers


def number_parses_exactly(text):
    value = float(text)
    p = parse_completion(f"<answer>[{text}, 0, 0, 0]</answer>")
    if math.isfinite(value):
        assert p.reason is ParseReason.OK and p.boxes[0].x1 == value, (text, p.boxes)
        assert math.copysign(1, p.boxes[0].x1) == math.copysign(1, value)
    else:
        assert p.reason is ParseReason.NON_FINITE and p.dropped == {"non_finite": 1}
    c = parse_completion(f"<answer>[{{'Position': [0, 0, 1, 1], 'Confidence': {text}}}]</answer>").boxes[0]
    assert c.confidence == (value if math.isfinite(value) else None)


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False))
def test_floats(x):
    number_parses_exactly(repr(x))
    number_parses_exactly(f"{x:.25e}" if math.isfinite(x) else repr(x))


@SETTINGS
@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_decimals(d):
    text = str(d)
    assume("E" not in text or abs(int(text.split("E")[1])) < 10**5)
    number_parses_exactly(text)
    number_parses_exactly(f"{d:f}" if abs(d.adjusted()) < 400 else text)


@SETTINGS
@given(st.sampled_from(["", "-", "+"]), st.text("0123456789", min_size=1, max_size=400),
       st.none() | st.text("0123456789", max_size=400), st.none() | st.integers(-500, 500),
       st.sampled_from(["e", "E"]))
def test_long_digit_strings(sign, whole, frac, exp, e):
    text = sign + whole + ("" if frac is None else "." + frac) + ("" if exp is None else f"{e}{exp:+d}")
    number_parses_exactly(text)


_EDGES = [2**53 - 1, 2**53, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 10**18 - 1, 10**18, 10**19 - 1, 10**19]
mantissas = st.integers(0, 10**20) | st.builds(lambda m, d: m + d, st.sampled_from(_EDGES),
                                               st.integers(-3, 3))


@SETTINGS
@given(mantissas, st.integers(0, 21), st.integers(-30, 30) | st.none(), st.booleans())
def test_mantissas_around_the_fast_path_limits(mantissa, point, exp, negative):
    digits = str(mantissa)
    point = min(point, len(digits))
    text = ("-" if negative else "") + digits[:len(digits) - point] + "." + digits[len(digits) - point:]
    number_parses_exactly(text + ("" if exp is None else f"e{exp}"))
    number_parses_exactly(("-" if negative else "") + digits)


@SETTINGS
@given(st.integers(-(10**40), 10**40), st.integers(-330, 330))
def test_near_the_limits(mantissa, exp):
    number_parses_exactly(f"{mantissa}e{exp}")
    number_parses_exactly(str(Decimal(mantissa).scaleb(exp - 290)))


# ----------------------------------------------------------------------------------------- native vs numba


@SETTINGS
@given(st.lists(texts | st.lists(st.sampled_from(FRAGMENTS), max_size=60).map("".join), max_size=8),
       st.booleans(), st.integers(1, 20))
def test_growing_the_box_arrays_mid_scan_changes_nothing(batch, tag, cap):
    buf, starts, ends = _encode(batch)
    arr = np.frombuffer(buf, np.uint8)
    small_rows, small_found = _scan_arrays(arr, starts, ends, tag, cap=cap)
    roomy_rows, roomy_found = _scan_arrays(arr, starts, ends, tag, cap=100_000)
    for a, b in zip((*small_rows, *small_found), (*roomy_rows, *roomy_found), strict=True):
        np.testing.assert_array_equal(a, b)


@SETTINGS
@given(st.lists(st.sampled_from(["<think>", "</think>", "<answer>", "</answer>", "a", " ", "\n", "[1, 2, 3, 4]"]),
                max_size=14).map("".join), st.booleans())
def test_answer_text_follows_the_scanner_rule(text, tag):
    from vreward.parsing import answer_text, parse_completion

    assert answer_text(text, require_answer_tag=tag) == parse_completion(text, require_answer_tag=tag).answer


@SETTINGS
@given(st.lists(st.lists(st.sampled_from(["<think>", "</think>", "<answer>", "</answer>", "<", "a", " ", "\n"]),
                         max_size=14).map("".join) | st.none(), max_size=8), st.booleans())
def test_answer_texts_of_a_batch_are_each_texts_answer_text(batch, tag):
    from vreward.parsing import answer_text, answer_texts

    assert answer_texts(batch, require_answer_tag=tag) == [answer_text(t, require_answer_tag=tag) for t in batch]
    strings = [t for t in batch if t is not None]  # the map path (a None sends the batch through answer_text)
    assert answer_texts(strings, require_answer_tag=tag) == [answer_text(t, require_answer_tag=tag) for t in strings]
