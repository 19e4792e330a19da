"""Format reward: the whole completion is <think>...</think>, optional whitespace, <answer>...</answer>."""

from __future__ import annotations

from typing import Any

import numpy as np

from vreward.parsing import ParsedBatch
from vreward.reasons import ParseReason, ZeroReason
from vreward.rewards.base import Reward
from vreward.rewards.settings import FormatSettings


class FormatReward(Reward):
    """1.0 when ``re.fullmatch(r"<think>.*?</think>\\s*<answer>.*?</answer>", text, re.DOTALL)``, else 0.0."""

    default_name = "format_reward"
    settings: FormatSettings

    def _score(self, parsed: ParsedBatch, kwargs: dict[str, Any]) -> tuple[np.ndarray, list[str | None]]:
        scores = parsed.format_ok.astype(np.float64)
        not_text = ParseReason.NOT_TEXT.value
        reasons = [None if ok else (not_text if t is None else ZeroReason.FORMAT.value)
                   for ok, t in zip(parsed.format_ok.tolist(), parsed.texts)]
        return scores, reasons
