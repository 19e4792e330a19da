"""The answer-syntax translators read hostile text: they never raise, keep every answer tag where it was, and run
in linear time on adversarial input (property tests with hypothesis, and timed worst cases)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vreward.frames import FAMILIES, SYNTAXES
from vreward.frames.syntax import MAX_LABEL
from vreward.parsing import parse_completion, parse_texts

TRANSLATED = [name for name, syntax in SYNTAXES.items() if syntax.translate is not None]
FAMILY_OF = {spec.syntax: name for name, spec in reversed(list(FAMILIES.items()))}
ANSWER_TAGS = ("<answer>", "</answer>", "<think>", "</think>")
LIMIT_S = 5.0

# Fragments of every native syntax, of the canonical text and of the answer format, for generated texts.
FRAGMENTS = ["<answer>", "</answer>", "<think>", "</think>", "<ref>", "</ref>", "<box>", "</box>", "<point>",
             "</point>", "<|ref|>", "<|/ref|>", "<|det|>", "<|/det|>", "<|object_ref_start|>", "<|object_ref_end|>",
             "<|box_start|>", "<|box_end|>", "<loc0256>", "<loc1023>", "<loc", "<loc_12>", "<loc_", "<seg012>",
             "<point x=\"", "<points coords=\"", "\" y=\"", "\" alt=\"", "\">", "<points", "</points>", "<1>", "<999>",
             "[", "]", "[[", "]]", ",", ";", " ", "\n", "\"", "'", "\\", "=", "<", ">", "/", "-", ".", "cat", "猫", "0",
             "1", "12.5", "999", "1e308", "nan", "\ud800"]
texts = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)), max_size=60).map("".join)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("name", TRANSLATED)
@SETTINGS
@given(text=texts)
def test_translators_never_raise_and_keep_the_answer_tags(name, text):
    out = SYNTAXES[name].translate(text)
    assert isinstance(out, str)
    assert [out.count(tag) for tag in ANSWER_TAGS] == [text.count(tag) for tag in ANSWER_TAGS]
    assert len(out) <= 64 * len(text) + 16


@pytest.mark.parametrize("name", TRANSLATED)
@SETTINGS
@given(text=texts)
def test_family_parse_never_raises(name, text):
    family = FAMILY_OF[name]
    for tag in (True, False):
        parsed = parse_completion(text, family=family, require_answer_tag=tag)
        assert all(np.isfinite(b.xyxy).all() for b in parsed.boxes)
        assert parsed.format_ok == parse_completion(text, require_answer_tag=tag).format_ok


@pytest.mark.parametrize("name", TRANSLATED)
def test_text_without_the_syntax_is_left_alone(name):
    text = "<think>a [1, 2, 3, 4] box</think><answer>[{'Position': [1, 2, 3, 4], 'Confidence': 0.5}]</answer>"
    assert SYNTAXES[name].translate(text) == text


ADVERSARIAL = {
    "paligemma": ["<loc0" * 100_000, "<loc0000>" * 100_000, "<loc0001>" * 4 + " " * 200_000 + ";",
                  "<loc0001>" * 4 + "<seg001> " * 50_000],
    "florence2": ["<loc_" * 100_000, "<loc_1>" * 100_000, "x" * 200_000 + "<loc_1>" * 4, ">" * 100_000 + "<loc_1>"],
    "internvl": ["<ref>" * 100_000, "<box>" * 100_000, "<ref>a</ref><box>[[1, 2, 3, 4]]" * 30_000,
                 "<box>" + "[" * 100_000 + "</box>", "<box>" + "1 " * 100_000 + "</box>"],
    "minicpmv": ["<point>" * 100_000, "<ref>" + "x" * 200_000 + "</ref><box>1 2 3 4</box>"],
    "deepseekvl2": ["<|det|>[[" * 100_000, "<|ref|>a<|/ref|><|det|>[[1,2,3,4]]<|/det|>" * 20_000],
    "rexomni": ["<|box_start|><1>" * 100_000, "<|box_start|>" + "<1>," * 100_000 + "<|box_end|>"],
    "molmo": ["<point " * 100_000, "<point " + "a" * 200_000 + ">", '<point x="' * 100_000,
              "<points " + 'x1="1" y1="2" ' * 30_000 + ">", '<point x="1" y="2">' + "</point>" * 100_000],
    "molmo2": ['<points coords="' + "1 " * 200_000 + '">', '<points coords="1 1 5 5">' * 50_000],
}


@pytest.mark.parametrize(("name", "case"), [(n, i) for n, cases in ADVERSARIAL.items() for i in range(len(cases))])
def test_adversarial_native_text_is_parsed_in_bounded_time(name, case):
    text = ADVERSARIAL[name][case]
    parse_completion("<answer>[1, 2, 3, 4]</answer>")  # the scanner compiled
    t0 = time.perf_counter()
    out = SYNTAXES[name].translate(text)
    parsed = parse_texts([f"<answer>{text}</answer>", f"<cache-buster {time.perf_counter_ns()}>"],
                         family=FAMILY_OF[name])
    elapsed = time.perf_counter() - t0
    assert elapsed < LIMIT_S, f"took {elapsed:.2f} s"
    assert len(out) <= 64 * len(text) and np.isfinite(parsed.boxes).all()


def test_long_labels_are_cut_so_the_canonical_text_stays_bounded():
    text = "<ref>" + "x" * 10_000 + "</ref><box>[" + "[1, 2, 3, 4], " * 1000 + "]</box>"
    out = SYNTAXES["internvl"].translate(text)
    assert out.count("x" * MAX_LABEL) == 1000 and "x" * (MAX_LABEL + 1) not in out
    assert len(out) < 300 * 1000


def test_labels_are_escaped_and_never_swallow_answer_tags():
    tricky = '<answer><ref>a "quoted" \\ label</ref><box>[[1, 2, 3, 4]]</box></answer>'
    assert parse_completion(tricky, family="internvl").boxes[0].label == 'a "quoted" \\ label'
    swallow = "<answer><ref>x</answer><box>[[1, 2, 3, 4]]</box><answer>[5, 6, 7, 8]</answer>"
    parsed = parse_completion(swallow, family="internvl")
    assert [b.xyxy for b in parsed.boxes] == [(5.0, 6.0, 7.0, 8.0)]
    region = "<answer><box>[[1, 2, 3, 4]]</answer></box>"
    assert SYNTAXES["internvl"].translate(region) == region
