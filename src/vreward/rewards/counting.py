"""Counting reward: the answer states one count, the true one.

The count is the one number the answer states (digits, or a number word from "zero" to "twenty" when it has no
digits); an answer stating different numbers ("1 2 3 4 5", "3 or 4") scores 0 (``several_numbers``): listing
counts is not counting. ``mode="exact"`` pays 1 for the true count (V-Triune / Perception-R1 counting);
``mode="relative"`` pays ``min(n, truth) / max(n, truth)`` (1 when both are 0). ``count_from="boxes"`` counts the
boxes the answer gives ("No Objects" is 0), for datasets that count by detecting. The ground truth is a
non-negative integer (a number, or text holding one).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from vreward.parsing import AnswerBatch, ParsedBatch
from vreward.reasons import REASON_CODE, ZeroReason
from vreward.rewards.base import Reward, RewardBatch, Scored, TextReward, answer_codes, parse_reason_codes
from vreward.rewards.reading import numbers, read_values
from vreward.rewards.settings import CountSettings
from vreward.solution import answer_of, distinct_solutions

NUMBER_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
MAX_NUMBERS = 64  # numbers read from one answer
_WORD = re.compile(r"[a-z]+")
_NO_NUMBER = REASON_CODE[ZeroReason.NO_NUMBER.value]
_SEVERAL = REASON_CODE[ZeroReason.SEVERAL_NUMBERS.value]
_WRONG = REASON_CODE[ZeroReason.WRONG_COUNT.value]


def number_words(answer: str) -> set[float]:
    """The distinct counts an answer states in words ("three")."""
    return {float(NUMBER_WORDS[w]) for w in _WORD.findall(answer.lower()[:10_000]) if w in NUMBER_WORDS}


def true_count(solution: Any) -> float:
    """The count a solution holds: a number, or text holding one (inside ``<answer>`` when tagged); a
    ``ValueError`` unless that is one non-negative integer."""
    if isinstance(solution, (int, float, np.integer, np.floating)) and not isinstance(solution, bool):
        values = [float(solution)]
    elif isinstance(solution, str):
        values = numbers(answer_of(solution), limit=2)
    else:
        values = []
    if len(values) != 1 or not math.isfinite(values[0]) or values[0] < 0 or values[0] != int(values[0]):
        raise ValueError(f"expected one non-negative integer count, got {solution!r:.80}")
    return values[0]


class CountReward(TextReward):
    """1 for the true count (or the relative credit ``min / max``), see the module docstring."""

    default_name = "count_reward"
    settings_class = CountSettings
    settings: CountSettings

    def score(self, completions: Sequence[Any], **kwargs: Any) -> RewardBatch:
        if self.settings.count_from == "boxes":  # counts what the box parse finds
            return Reward.score(self, completions, **kwargs)
        return super().score(completions, **kwargs)

    def _score(self, parsed: ParsedBatch, kwargs: dict[str, Any]) -> Scored:
        stated = np.full(len(parsed), np.nan)
        usable = parsed.usable
        stated[usable] = parsed.counts[usable]
        return self._scored(stated, parse_reason_codes(parsed), kwargs)

    def _score_answers(self, answers: AnswerBatch, kwargs: dict[str, Any]) -> Scored:
        codes = answer_codes(answers)
        read = read_values(answers.answers, "numbers", MAX_NUMBERS)
        counts = read.counts
        stated = np.full(len(answers), np.nan)
        has = np.flatnonzero((codes == 0) & (counts > 0))
        if len(has):
            starts = read.offsets[has]
            one = np.minimum.reduceat(read.values, starts) == np.maximum.reduceat(read.values, starts)
            stated[has[one]] = read.values[starts[one]]
            codes[has[~one]] = _SEVERAL
        for i in np.flatnonzero((codes == 0) & (counts == 0)).tolist():  # no digits: number words
            values = number_words(answers.answer(i) or "")
            if len(values) == 1:
                stated[i] = values.pop()
            else:
                codes[i] = _SEVERAL if values else _NO_NUMBER
        return self._scored(stated, codes, kwargs)

    def _scored(self, stated: np.ndarray, codes: np.ndarray, kwargs: dict[str, Any]) -> Scored:
        """Scores of the stated counts against the true ones."""
        distinct = distinct_solutions(kwargs.get("solution"), len(stated))
        counts, bad = distinct.read_each(true_count)
        truth = np.array([np.nan if c is None else c for c in counts], np.float64)[distinct.rows]
        with np.errstate(invalid="ignore", divide="ignore"):
            if self.settings.mode == "exact":
                scores = (stated == truth).astype(np.float64)
            else:
                hi, lo = np.maximum(stated, truth), np.minimum(stated, truth)
                scores = np.where(hi > 0, lo / hi, 1.0)
                scores = np.where(stated >= 0, scores, 0.0)
        scores = np.nan_to_num(scores, nan=0.0)
        codes[(codes == 0) & (scores <= 0.0)] = _WRONG
        return Scored(scores, codes, (stated, truth), distinct.row_problems(bad, self.settings.strict))

    def _details(self, result: RewardBatch, i: int) -> dict[str, Any]:
        stated, truth = result.evidence
        return {k: float(v[i]) for k, v in (("count", stated), ("truth", truth)) if not np.isnan(v[i])}

    def signals(self, result: RewardBatch) -> dict[str, float]:
        stated, truth = result.evidence
        ok = ~np.isnan(stated) & ~np.isnan(truth)
        if not ok.any():
            return {}
        return {"count_error_mean": float(np.abs(stated[ok] - truth[ok]).mean()),
                "several_numbers_share": float((result.codes == _SEVERAL).mean())}


def make_count_reward(settings: CountSettings | None = None, **options: Any) -> CountReward:
    """Counting reward with options (see :class:`CountSettings`)."""
    return CountReward.from_options(settings, **options)


count_reward = make_count_reward()
