"""Format reward: the whole completion is <think>...</think>, optional whitespace, <answer>...</answer>."""

from __future__ import annotations

from typing import Any

import numpy as np

from vreward.parsing import ParsedBatch
from vreward.reasons import REASON_CODE, STATUS_NOT_TEXT, ParseReason, ZeroReason
from vreward.rewards.base import Reward
from vreward.rewards.settings import FormatSettings

_NOT_TEXT_STATUS = STATUS_NOT_TEXT


class FormatReward(Reward):
    """1.0 when ``re.fullmatch(r"<think>.*?</think>\\s*<answer>.*?</answer>", text, re.DOTALL)``, else 0.0."""

    default_name = "format_reward"
    settings: FormatSettings

    def _score(self, parsed: ParsedBatch, kwargs: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        scores = parsed.format_ok.astype(np.float64)
        not_text = parsed.status == parsed.status.dtype.type(_NOT_TEXT_STATUS)
        codes = np.where(parsed.format_ok, 0, np.where(not_text, REASON_CODE[ParseReason.NOT_TEXT.value],
                                                       REASON_CODE[ZeroReason.FORMAT.value])).astype(np.int8)
        return scores, codes
