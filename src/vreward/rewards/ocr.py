"""OCR reward: one minus the normalized edit distance of the answer to the true text.

    score = 1 - lev(answer, truth) / max(len(answer), len(truth))          in [0, 1]

over characters (``unit="char"``, the CER-style reward of V-Triune and Perception-R1) or words (``"word"``,
WER-style), with rapidfuzz's Levenshtein distance (C++, one batch call). Normalizing by the longer of the two
keeps the score bounded and makes padding and repetition cost: the true text written twice scores 0.5, the
true text followed by as much junk scores 0.5, an empty answer 0. By default both texts are compared lowercase
with runs of whitespace as one space and surrounding whitespace and quotes removed (``normalize``).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from vreward.parsing import ParsedBatch
from vreward.reasons import REASON_CODE, ZeroReason
from vreward.rewards.base import Reward, RewardBatch, Scored, answer_reason_codes
from vreward.rewards.settings import OCRSettings
from vreward.solution import read_answers

_SPACES = re.compile(r"\s+")
_WRONG = REASON_CODE[ZeroReason.WRONG_TEXT.value]
_EMPTY = REASON_CODE["empty_answer"]


def normalize_text(text: str) -> str:
    """Lowercase, runs of whitespace as one space, surrounding whitespace and quotes removed."""
    return _SPACES.sub(" ", text).strip().strip("\"'`").strip().lower()


class OCRReward(Reward):
    """``1 - normalized edit distance`` of the answer to the true text (see the module docstring)."""

    default_name = "ocr_reward"
    settings_class = OCRSettings
    settings: OCRSettings

    def _score(self, parsed: ParsedBatch, kwargs: dict[str, Any]) -> Scored:
        from rapidfuzz.distance import Levenshtein
        from rapidfuzz.process import cpdist

        n = len(parsed)
        truths, problems = read_answers(kwargs.get("solution"), n, strict=self.settings.strict)
        codes = answer_reason_codes(parsed)
        answers = [parsed.answer(i) for i in range(n)]
        prep = normalize_text if self.settings.normalize else str.strip
        a = [prep(x) if x is not None else "" for x in answers]
        b = [prep(t) if t is not None else "" for t in truths]
        codes[(codes == 0) & np.array([not x for x in a], bool)] = _EMPTY
        if self.settings.unit == "word":
            a, b = [x.split() for x in a], [x.split() for x in b]
        distance = cpdist(a, b, scorer=Levenshtein.normalized_distance, workers=1, dtype=np.float64) if n \
            else np.zeros(0)
        scores = np.where(codes == 0, 1.0 - distance, 0.0)
        scores[[i for i, t in enumerate(truths) if t is None]] = 0.0
        codes[(codes == 0) & (scores <= 0.0)] = _WRONG
        return Scored(scores, codes, distance, problems)

    def _details(self, result: RewardBatch, i: int) -> dict[str, Any]:
        return {"normalized_edit_distance": float(result.evidence[i])}

    def signals(self, result: RewardBatch) -> dict[str, float]:
        ok = result.codes == 0
        return {"edit_distance_mean": float(result.evidence[ok].mean())} if ok.any() else {}


def make_ocr_reward(settings: OCRSettings | None = None, **options: Any) -> OCRReward:
    """OCR reward with options (see :class:`OCRSettings`)."""
    return OCRReward.from_options(settings, **options)


ocr_reward = make_ocr_reward()
