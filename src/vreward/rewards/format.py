"""Format reward: the whole completion is <think>...</think>, optional whitespace, <answer>...</answer>."""

from __future__ import annotations

from typing import Any

import numpy as np

from vreward.parsing import ParsedBatch
from vreward.reasons import REASON_CODE, STATUS_NOT_TEXT, ParseReason, ZeroReason
from vreward.rewards.base import Reward, Scored
from vreward.rewards.settings import FormatSettings


class FormatReward(Reward):
    """1.0 when ``re.fullmatch(r"<think>.*?</think>\\s*<answer>.*?</answer>", text, re.DOTALL)``, else 0.0."""

    default_name = "format_reward"
    settings_class = FormatSettings
    settings: FormatSettings

    def _score(self, parsed: ParsedBatch, kwargs: dict[str, Any]) -> Scored:
        scores = parsed.format_ok.astype(np.float64)
        not_text = parsed.status == STATUS_NOT_TEXT
        codes = np.where(parsed.format_ok, 0, np.where(not_text, REASON_CODE[ParseReason.NOT_TEXT.value],
                                                       REASON_CODE[ZeroReason.FORMAT.value])).astype(np.int8)
        return Scored(scores, codes)


def make_format_reward(settings: FormatSettings | None = None, **options: Any) -> FormatReward:
    """Format reward (the only option is ``name``)."""
    return FormatReward.from_options(settings, **options)


format_reward = make_format_reward()
