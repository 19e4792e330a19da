"""Counting reward: the answer states one count, the true one.

The count is the one number the answer states (digits, or a number word from "zero" to "twenty" when it has no
digits); an answer stating different numbers ("1 2 3 4 5", "3 or 4") scores 0 (``several_numbers``): listing
counts is not counting. ``mode="exact"`` pays 1 for the true count (V-Triune / Perception-R1 counting);
``mode="relative"`` pays ``min(n, truth) / max(n, truth)`` (1 when both are 0). ``count_from="boxes"`` counts the
boxes the answer gives ("No Objects" is 0), for datasets that count by detecting. The ground truth is a
non-negative integer (a number, or text holding one).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from vreward.parsing import ParsedBatch
from vreward.reasons import REASON_CODE, ZeroReason
from vreward.rewards.base import Reward, RewardBatch, Scored, answer_reason_codes, parse_reason_codes
from vreward.rewards.reading import numbers
from vreward.rewards.settings import CountSettings
from vreward.solution import SolutionError, raise_first

NUMBER_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
_WORD = re.compile(r"[a-z]+")
_NO_NUMBER = REASON_CODE[ZeroReason.NO_NUMBER.value]
_SEVERAL = REASON_CODE[ZeroReason.SEVERAL_NUMBERS.value]
_WRONG = REASON_CODE[ZeroReason.WRONG_COUNT.value]


def stated_counts(answer: str) -> set[float]:
    """The distinct numbers an answer states: its numbers, else its number words."""
    values = set(numbers(answer, limit=64))
    if not values:
        values = {float(NUMBER_WORDS[w]) for w in _WORD.findall(answer.lower()[:10_000]) if w in NUMBER_WORDS}
    return values


def read_counts(solutions: Sequence[Any] | None, n: int, strict: bool) -> tuple[np.ndarray, dict[int, str]]:
    """The true count of each row (B,) (NaN where it cannot be read) and the problem of each such row."""
    if solutions is None or isinstance(solutions, (str, bytes, Mapping)) or not hasattr(solutions, "__len__"):
        raise SolutionError("no ground truth: pass the dataset's `solution` column (solution=[...]) with one count "
                            "per completion")
    if len(solutions) != n:
        raise SolutionError(f"`solution` has {len(solutions)} rows but there are {n} completions")
    out = np.full(n, np.nan)
    problems: dict[int, str] = {}
    for i, s in enumerate(solutions):
        if isinstance(s, (int, float, np.integer, np.floating)) and not isinstance(s, bool):
            values = [float(s)]
        elif isinstance(s, str):
            a = s.find("<answer>")
            values = numbers(s[a + 8:s.find("</answer>", a + 8) if "</answer>" in s[a + 8:] else None]
                             if a >= 0 else s, limit=2)
        else:
            values = []
        if len(values) != 1 or values[0] < 0 or values[0] != int(values[0]):
            problems[i] = f"expected one non-negative integer count, got {s!r:.80}"
        else:
            out[i] = values[0]
    if strict and problems:
        raise_first(problems)
    return out, problems


class CountReward(Reward):
    """1 for the true count (or the relative credit ``min / max``), see the module docstring."""

    default_name = "count_reward"
    settings_class = CountSettings
    settings: CountSettings

    def _score(self, parsed: ParsedBatch, kwargs: dict[str, Any]) -> Scored:
        n = len(parsed)
        truth, problems = read_counts(kwargs.get("solution"), n, self.settings.strict)
        codes = parse_reason_codes(parsed)
        stated = np.full(n, np.nan)
        if self.settings.count_from == "boxes":
            usable = parsed.usable
            stated[usable] = parsed.counts[usable]
        else:
            codes = answer_reason_codes(parsed)
            for i in np.flatnonzero(codes == 0).tolist():
                answer = parsed.answer(i) or ""
                values = stated_counts(answer)
                if len(values) == 1:
                    stated[i] = values.pop()
                else:
                    codes[i] = _SEVERAL if values else _NO_NUMBER
        with np.errstate(invalid="ignore", divide="ignore"):
            if self.settings.mode == "exact":
                scores = (stated == truth).astype(np.float64)
            else:
                hi, lo = np.maximum(stated, truth), np.minimum(stated, truth)
                scores = np.where(hi > 0, lo / hi, 1.0)
                scores = np.where(stated >= 0, scores, 0.0)
        scores = np.nan_to_num(scores, nan=0.0)
        codes[(codes == 0) & (scores <= 0.0)] = _WRONG
        return Scored(scores, codes, (stated, truth), problems)

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
