"""Format reward: one non-empty ``<think>…</think>``, then one non-empty ``<answer>…</answer>``, nothing else.

The paper's rule (``re.fullmatch(r"<think>.*?</think>\\s*<answer>.*?</answer>", text, re.DOTALL)``, kept in
:mod:`vreward.visual_rft`) pays 1.0 for completions that do none of the task: the two blocks repeated (twice or 200
times, the lazy groups swallow the repeats), nested tags, answer tags inside the thinking, an empty or
whitespace-only thinking, an empty answer. The default rule closes each of them:

* the text, without surrounding whitespace, starts with ``<think>`` and ends with ``</answer>``;
* each of the four tags occurs exactly once (no repeated, nested or misplaced block);
* only whitespace lies between ``</think>`` and ``<answer>``;
* the thinking and the answer each hold something other than whitespace.

It reads the text with ``str`` methods only (linear time, no regex, no scan), so it costs nothing next to the
box rewards and needs no compiler. ``explain`` names the rule a completion broke (``details["problem"]``).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from vreward.parsing import completion_texts
from vreward.reasons import REASON_CODE, ParseReason, ZeroReason
from vreward.rewards.base import Reward, RewardBatch
from vreward.rewards.settings import FormatSettings

THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE = "<think>", "</think>", "<answer>", "</answer>"
_NOT_TEXT = REASON_CODE[ParseReason.NOT_TEXT.value]
_FORMAT = REASON_CODE[ZeroReason.FORMAT.value]


def format_problem(text: str) -> str | None:
    """Which rule of the default format ``text`` breaks (None: well-formed)."""
    body = text  # a text starting with <think> and ending with </answer> has no surrounding whitespace to strip
    if not (body.startswith(THINK_OPEN) and body.endswith(ANSWER_CLOSE)):
        body = text.strip()
        if not (body.startswith(THINK_OPEN) and body.endswith(ANSWER_CLOSE)):
            return "not <think>…</think><answer>…</answer>"
    think_end = body.find(THINK_CLOSE)
    answer_start = body.find(ANSWER_OPEN)
    # Each tag once. When the text holds four "<" and all four tags are there, those are the tags' (one count of
    # "<" instead of one of each tag).
    tags_once = body.count("<") == 4 and think_end > 0 and answer_start > 0
    if not tags_once and (body.count(THINK_OPEN) != 1 or body.count(THINK_CLOSE) != 1
                          or body.count(ANSWER_OPEN) != 1 or body.count(ANSWER_CLOSE) != 1):
        return "a tag repeated or nested"
    between = think_end + len(THINK_CLOSE)
    if answer_start < think_end or (answer_start > between and not body[between:answer_start].isspace()):
        return "text between </think> and <answer>"
    # A block is blank when it is empty or all whitespace; one that starts with text is settled by its first
    # character, without copying it.
    think, answer, end = len(THINK_OPEN), answer_start + len(ANSWER_OPEN), len(body) - len(ANSWER_CLOSE)
    if think >= think_end or (body[think].isspace() and body[think:think_end].isspace()):
        return "empty thinking"
    if answer >= end or (body[answer].isspace() and body[answer:end].isspace()):
        return "empty answer"
    return None


class FormatReward(Reward):
    """1.0 for exactly one non-empty thinking block followed by exactly one non-empty answer block, else 0.0."""

    default_name = "format_reward"
    settings_class = FormatSettings
    settings: FormatSettings
    problem: ClassVar[Callable[[str], str | None]] = staticmethod(format_problem)  # the rule (None: well-formed)

    def score(self, completions: Sequence[Any], **kwargs: Any) -> RewardBatch:
        texts = completion_texts(completions)
        not_text = [i for i, text in enumerate(texts) if text is None] if None in texts else []
        problems = [None if text is None else self.problem(text) for text in texts] if not_text else \
            list(map(self.problem, texts))
        ok = np.fromiter(map(operator.not_, problems), bool, len(texts))  # a problem is a non-empty string
        ok[not_text] = False
        codes = np.where(ok, 0, _FORMAT).astype(np.int8)
        codes[not_text] = _NOT_TEXT
        return RewardBatch(scores=ok.astype(np.float64), codes=codes, texts=texts,
                           require_answer_tag=self.settings.require_answer_tag, evidence=problems)

    def _details(self, result: RewardBatch, i: int) -> dict[str, Any]:
        problem = result.evidence[i]
        return {"problem": problem} if problem is not None else {}


def make_format_reward(settings: FormatSettings | None = None, **options: Any) -> FormatReward:
    """Format reward (its only option is ``name``)."""
    return FormatReward.from_options(settings, **options)


format_reward = make_format_reward()
