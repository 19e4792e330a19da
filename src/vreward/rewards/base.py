"""The reward protocol shared by every reward: TRL's calling convention plus explanations."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

import numpy as np

from vreward.parsing import ParsedBatch, ParsedCompletion, completion_texts, parse_texts
from vreward.reasons import PARSE_REASON_CODES, REASON_NAMES
from vreward.rewards.settings import RewardSettings

_PARSE_REASON_CODES = np.array(PARSE_REASON_CODES, np.int8)


class FrameMismatchWarning(UserWarning):
    """The numbers show that predictions and ground truth are not in the same coordinate frame."""


@dataclass(frozen=True)
class RewardBatch:
    """Scores of a batch and, for every row scored 0 (or its minimum), the reason why.

    ``codes`` index ``vreward.reasons.REASON_NAMES`` (0: no reason); ``reasons`` spells them out; ``parsed`` is
    the batch's parse (made on first use by rewards that do not need boxes).
    """

    scores: np.ndarray
    codes: np.ndarray
    texts: list[str | None]
    require_answer_tag: bool
    parsed_batch: ParsedBatch | None = None

    @cached_property
    def reasons(self) -> list[str | None]:
        return [REASON_NAMES[c] for c in self.codes.tolist()]

    @cached_property
    def parsed(self) -> ParsedBatch:
        if self.parsed_batch is not None:
            return self.parsed_batch
        return parse_texts(self.texts, require_answer_tag=self.require_answer_tag)


@dataclass(frozen=True)
class RewardDetail:
    """One completion's score with its explanation."""

    score: float
    reason: str | None
    parsed: ParsedCompletion
    details: dict[str, Any] = field(default_factory=dict)


class Reward:
    """A reward function object: ``reward(completions, **kwargs) -> list[float]``.

    Called the way TRL's GRPOTrainer calls reward functions: dataset columns arrive as keywords (the ground
    truth in ``solution``), unknown keywords are ignored. ``explain`` gives the reason behind every zero.
    """

    default_name: ClassVar[str]
    settings: RewardSettings

    def __init__(self, settings: RewardSettings):
        self.settings = settings
        self.__name__ = settings.name or self.default_name
        self._warned: set[str] = set()

    def __repr__(self) -> str:
        changed = self.settings.model_dump(exclude_defaults=True)
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    def __call__(self, completions: Sequence[Any], **kwargs: Any) -> list[float]:
        result = self.score(completions, **kwargs)
        log_metric = kwargs.get("log_metric")
        if callable(log_metric) and len(result.codes):
            log_metric(f"{self.__name__}/zero_reasons_frac", float((result.codes != 0).mean()))
        log_extra = kwargs.get("log_extra")
        if callable(log_extra):
            log_extra(f"{self.__name__}_reason", [r or "" for r in result.reasons])
        return result.scores.tolist()

    def score(self, completions: Sequence[Any], **kwargs: Any) -> RewardBatch:
        """Score a batch; returns scores as an array and the reason of every zero."""
        texts = completion_texts(completions)
        tag = self.settings.require_answer_tag
        parsed = parse_texts(texts, require_answer_tag=tag)
        scores, codes = self._score(parsed, kwargs)
        return RewardBatch(scores=scores, codes=codes, texts=texts, require_answer_tag=tag, parsed_batch=parsed)

    def explain(self, completions: Sequence[Any], **kwargs: Any) -> list[RewardDetail]:
        """Score a batch and explain each row: score, reason (None for a positive score) and parse result."""
        result = self.score(completions, **kwargs)
        return [RewardDetail(score=float(s), reason=r, parsed=result.parsed[i], details=self._details(result, i))
                for i, (s, r) in enumerate(zip(result.scores.tolist(), result.reasons))]

    def _score(self, parsed: ParsedBatch, kwargs: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """Scores and reason codes of a parsed batch."""
        raise NotImplementedError

    def _details(self, result: RewardBatch, i: int) -> dict[str, Any]:
        return {}

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(f"{self.__name__}: {message}", FrameMismatchWarning, stacklevel=4)


def parse_reason_codes(parsed: ParsedBatch) -> np.ndarray:
    """Per row: the reason code of a parse failure, 0 where the row is usable."""
    return _PARSE_REASON_CODES[parsed.status]
