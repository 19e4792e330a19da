"""Fine-grained classification reward (Visual-RFT): the answer names the true class.

Both strings are normalized as in Visual-RFT (lowercase, spaces and underscores removed); by default the
answer is right when either contains the other. Two reference holes are closed: an empty answer (the empty
string is contained in every label) and an answer naming several classes ("A or B or C") both score 0.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from vreward.parsing import answer_text, completion_texts
from vreward.reasons import REASON_CODE, ParseReason, ZeroReason
from vreward.rewards.base import Reward, RewardBatch
from vreward.rewards.settings import ClassificationSettings
from vreward.solution import solution_answers

# Separators that list alternatives; one that occurs in the true class name itself (e.g. "F/A-18") is ignored.
_SEPARATORS = (re.compile(r"\bor\b", re.IGNORECASE), re.compile(r"\band/or\b", re.IGNORECASE),
               re.compile(r"\bvs\.?\b", re.IGNORECASE), re.compile(r"[,;|/\n]"))
_SEPARATOR_HINT = re.compile(r"[,;|/\n]|\bor\b|\bvs\b", re.IGNORECASE)


def normalize_class(text: str) -> str:
    """Visual-RFT's normalization: lowercase, spaces and underscores removed."""
    return text.replace(" ", "").replace("_", "").lower()


def strip_answer(text: str) -> str:
    """An answer without surrounding whitespace, final punctuation, quotes, backticks and Markdown emphasis
    (``'**Boeing 747.**'`` -> ``'Boeing 747'``), before :func:`normalize_class`."""
    return text.strip().strip(".!\"'`*").strip()


def names_several(answer: str, truth: str, classes: tuple[str, ...] | None) -> bool:
    """Whether the answer names more than one class.

    With the class list: two or more class names occur in the answer (a name inside a longer matched name
    does not count). Without it: the answer splits into two or more non-empty parts on a separator (``or``,
    ``and/or``, ``vs``, ``,``, ``;``, ``|``, ``/``, newline) that the true class name does not itself contain.
    """
    if classes is not None:
        norm = normalize_class(answer)
        found = {normalize_class(c) for c in classes if normalize_class(c) in norm}
        found = {c for c in found if not any(c != o and c in o for o in found)}
        return len(found) >= 2
    if _SEPARATOR_HINT.search(answer) is None:
        return False  # no separator at all: the common case, one scan instead of one per separator
    for sep in _SEPARATORS:
        if sep.search(truth):
            continue
        parts = [p for p in sep.split(answer) if re.search(r"\w", p)]
        if len(parts) >= 2:
            return True
    return False


class AccuracyReward(Reward):
    """1.0 when the answer names the true class (see the module docstring), else 0.0."""

    default_name = "accuracy_reward"
    settings_class = ClassificationSettings
    settings: ClassificationSettings

    def score(self, completions: Sequence[Any], **kwargs: Any) -> RewardBatch:
        # Text answers need no box scan: the answer is found with the scanner's rule by str methods.
        texts = completion_texts(completions)
        tag = self.settings.require_answer_tag
        truths = solution_answers(kwargs.get("solution"), len(texts))
        classes = self.settings.classes
        exact = self.settings.match == "exact"
        scores = np.zeros(len(texts))
        reasons: list[str | None] = []
        normalized = {t: normalize_class(strip_answer(t)) for t in set(truths)}  # GRPO repeats each truth
        for i, (text, truth) in enumerate(zip(texts, truths)):
            answer = answer_text(text, require_answer_tag=tag)
            if answer is None:
                reasons.append(ParseReason.NOT_TEXT.value if text is None else ParseReason.NO_ANSWER_TAG.value)
                continue
            answer = strip_answer(answer)
            a, t = normalize_class(answer), normalized[truth]
            if not a:
                reasons.append(ParseReason.EMPTY_ANSWER.value)
            elif names_several(answer, truth, classes):
                reasons.append(ZeroReason.SEVERAL_CLASSES.value)
            elif (a == t) if exact else (t in a or a in t):
                scores[i] = 1.0
                reasons.append(None)
            else:
                reasons.append(ZeroReason.WRONG_CLASS.value)
        codes = np.array([REASON_CODE[r] for r in reasons], np.int8)
        return RewardBatch(scores=scores, codes=codes, texts=texts, require_answer_tag=tag)


def make_accuracy_reward(settings: ClassificationSettings | None = None, **options: Any) -> AccuracyReward:
    """Classification accuracy reward with options (see :class:`ClassificationSettings`)."""
    return AccuracyReward.from_options(settings, **options)


accuracy_reward = make_accuracy_reward()
