"""Where the reference code reads a completion correctly, the visual_rft preset's scores equal it to the last bit.

The reference (benchmarks/reference_visual_rft.py, a pure-Python reimplementation of Visual-RFT's reward code)
differs deliberately on the cases listed in docs/differences.md; those are excluded here by construction:
rows the reference scores 0, rows with empty ground truth, and rows where vreward dropped unreadable items.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import reference_visual_rft as ref  # noqa: E402
import vreward  # noqa: E402
import vreward.visual_rft as paper  # noqa: E402
from corpus import make_corpus  # noqa: E402


@pytest.fixture(scope="module")
def corpus():
    return make_corpus(3000, seed=11)


def _comparable(completions, solutions, reference_scores):
    parsed = vreward.parse_completions(completions)
    empty_gt = vreward.parse_solutions(solutions).counts == 0
    return [i for i, r in enumerate(reference_scores)
            if r > 0 and not empty_gt[i] and not parsed[i].dropped]


def test_iou_reward_equals_reference_bit_for_bit(corpus):
    completions, solutions = corpus
    expected = ref.accuracy_reward_iou(completions, solutions)
    got = paper.iou_reward(completions, solution=solutions)
    rows = _comparable(completions, solutions, expected)
    assert len(rows) > 1000
    assert [got[i] for i in rows] == [expected[i] for i in rows]


def test_confidence_reward_equals_reference_bit_for_bit(corpus):
    completions, solutions = corpus
    expected = ref.accuracy_reward_confidence(completions, solutions)
    got = paper.confidence_reward(completions, solution=solutions)
    rows = _comparable(completions, solutions, expected)
    assert len(rows) > 1000
    assert [got[i] for i in rows] == [expected[i] for i in rows]


def test_format_reward_equals_reference_everywhere(corpus):
    completions, _ = corpus
    assert paper.format_reward(completions) == ref.format_reward(completions)


def test_vreward_reads_what_the_reference_misses(corpus):
    completions, solutions = corpus
    expected = ref.accuracy_reward_iou(completions, solutions)
    explained = paper.iou_reward.explain(completions, solution=solutions)
    rescued = [d for r, d in zip(expected, explained) if r == 0 and d.score > 0]
    assert rescued, "the corpus contains answers only vreward reads (newlines, lowercase keys, No Objects)"
    assert all(d.reason is None for d in rescued)
