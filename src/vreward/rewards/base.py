"""The reward protocol shared by every reward: TRL's calling convention plus explanations."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar, NamedTuple, TypeVar

import numpy as np

from vreward.parsing import ParsedBatch, ParsedCompletion, completion_texts, parse_texts
from vreward.reasons import PARSE_REASON_CODES, PARSE_REASONS, REASON_CODE, REASON_NAMES, ParseReason, ZeroReason
from vreward.rewards.settings import RewardSettings
from vreward.sources import log_by_source, source_names

_PARSE_REASON_CODES = np.array(PARSE_REASON_CODES, np.int8)
_BAD_GROUND_TRUTH = REASON_CODE[ZeroReason.BAD_GROUND_TRUTH.value]
_REASON_TEXTS = tuple(name or "" for name in REASON_NAMES)  # as TRL's log_extra shows them ("" for no reason)
R = TypeVar("R", bound="Reward")


class FrameMismatchWarning(UserWarning):
    """The numbers show that predictions and ground truth are not in the same coordinate frame."""


class GroundTruthWarning(UserWarning):
    """Some ground-truth rows cannot be read: they score 0 with reason ``bad_ground_truth``."""


class Scored(NamedTuple):
    """What a reward computes for a parsed batch: scores (B,), reason codes (B,), its evidence, and the rows whose
    ground truth cannot be read (row -> problem; they are scored 0 with reason ``bad_ground_truth``)."""

    scores: np.ndarray
    codes: np.ndarray
    evidence: Any = None
    bad_truth: Mapping[int, str] = {}


@dataclass(frozen=True)
class RewardBatch:
    """Scores of a batch and, for every row scored 0 (or its minimum), the reason why.

    ``codes`` index ``vreward.reasons.REASON_NAMES`` (0: no reason); ``reasons`` spells them out; ``parsed`` is
    the batch's parse (made on first use by rewards that do not need boxes; ``family``: the model family it is
    read in); ``evidence`` is what the reward that made this batch computed on the way (e.g. its box matching),
    read by its ``explain``.
    """

    scores: np.ndarray
    codes: np.ndarray
    texts: list[str | None]
    require_answer_tag: bool
    parsed_batch: ParsedBatch | None = None
    evidence: Any = None
    family: str | None = None

    @cached_property
    def reasons(self) -> list[str | None]:
        return list(map(REASON_NAMES.__getitem__, self.codes.tolist()))

    @cached_property
    def parsed(self) -> ParsedBatch:
        if self.parsed_batch is not None:
            return self.parsed_batch
        return parse_texts(self.texts, require_answer_tag=self.require_answer_tag, family=self.family)


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
    A reward holds only its settings, its name and the frame warnings it has given: it pickles, and one object
    may score from many threads at once.
    """

    default_name: ClassVar[str]
    settings_class: ClassVar[type[RewardSettings]]
    settings: RewardSettings

    def __init__(self, settings: RewardSettings):
        if not isinstance(settings, self.settings_class):
            raise TypeError(f"{type(self).__name__} takes {self.settings_class.__name__}, "
                            f"got {type(settings).__name__}")
        self.settings = settings
        self.__name__ = settings.name or self.default_name
        self._warned: set[str] = set()

    @classmethod
    def from_options(cls: type[R], settings: RewardSettings | None = None, **options: Any) -> R:
        """A reward with ``settings`` (default: the defaults) and ``options`` changed, validated."""
        return cls(cls.settings_class.from_options(settings, **options))

    def __repr__(self) -> str:
        changed = self.settings.model_dump(exclude_defaults=True)
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    def __call__(self, completions: Sequence[Any], **kwargs: Any) -> list[float]:
        result = self.score(completions, **kwargs)
        log_metric = kwargs.get("log_metric")
        if callable(log_metric) and len(result.codes):
            log_metric(f"{self.__name__}/zero_reasons_frac", np.count_nonzero(result.codes) / len(result.codes))
            for key, value in self.signals(result).items():
                log_metric(f"{self.__name__}/{key}", value)
            sources = source_names(kwargs, self.settings.source_column, len(result.codes))
            if sources is not None:
                log_by_source(log_metric, self.__name__, result.scores, result.codes, sources)
        log_extra = kwargs.get("log_extra")
        if callable(log_extra):
            log_extra(f"{self.__name__}_reason", list(map(_REASON_TEXTS.__getitem__, result.codes.tolist())))
        return result.scores.tolist()

    def score(self, completions: Sequence[Any], **kwargs: Any) -> RewardBatch:
        """Score a batch; returns scores as an array and the reason of every zero."""
        texts = completion_texts(completions)
        tag = self.settings.require_answer_tag
        family = getattr(self.settings, "family", None)  # frame-aware rewards read the family's native syntax
        parsed = parse_texts(texts, require_answer_tag=tag, family=family)
        scored = self._score(parsed, kwargs)
        self.zero_bad_truth(scored.scores, scored.codes, scored.bad_truth)
        return RewardBatch(scores=scored.scores, codes=scored.codes, texts=texts, require_answer_tag=tag,
                           parsed_batch=parsed, evidence=scored.evidence, family=family)

    def explain(self, completions: Sequence[Any], **kwargs: Any) -> list[RewardDetail]:
        """Score a batch and explain each row: score, reason (None for a positive score) and parse result."""
        result = self.score(completions, **kwargs)
        return [RewardDetail(score=float(s), reason=r, parsed=result.parsed[i], details=self._details(result, i))
                for i, (s, r) in enumerate(zip(result.scores.tolist(), result.reasons))]

    @property
    def score_range(self) -> tuple[float, float]:
        """The lowest and highest score this reward gives (for normalizing totals, e.g. OpenRLHF's ``scores``)."""
        return (0.0, 1.0)

    def signals(self, result: RewardBatch) -> dict[str, float]:
        """Batch statistics that show a policy starting to game this reward (logged with TRL's ``log_metric``)."""
        return {}

    def _score(self, parsed: ParsedBatch, kwargs: dict[str, Any]) -> Scored:
        """Scores, reason codes and evidence of a parsed batch."""
        raise NotImplementedError

    def _details(self, result: RewardBatch, i: int) -> dict[str, Any]:
        return {}

    def warn_once(self, key: str, message: str, category: type[Warning] = FrameMismatchWarning) -> None:
        """Warn ``message`` the first time this reward meets ``key``."""
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(f"{self.__name__}: {message}", category, stacklevel=4)

    def zero_bad_truth(self, scores: np.ndarray, codes: np.ndarray, problems: Mapping[int, str]) -> None:
        """Score the rows whose ground truth cannot be read 0 with reason ``bad_ground_truth`` (in place), and
        warn the first time (the problem of the first such row, and how many there are in this batch)."""
        if not problems:
            return
        rows = np.fromiter(problems, np.int64, len(problems))
        scores[rows] = 0.0
        codes[rows] = _BAD_GROUND_TRUTH
        first = min(problems)
        self.warn_once("bad-ground-truth", f"{len(problems)} of {len(scores)} rows have ground truth that cannot "
                       f"be read; they score 0 (reason bad_ground_truth). Row {first}: {problems[first]}",
                       GroundTruthWarning)


def parse_reason_codes(parsed: ParsedBatch) -> np.ndarray:
    """Per row: the reason code of a parse failure, 0 where the row is usable."""
    return _PARSE_REASON_CODES[parsed.status]


_NO_TEXT_STATUSES = np.array([PARSE_REASONS.index(r) for r in (ParseReason.NOT_TEXT, ParseReason.NO_ANSWER_TAG,
                                                               ParseReason.EMPTY_ANSWER)], np.int8)


def answer_reason_codes(parsed: ParsedBatch) -> np.ndarray:
    """Per row: the reason code of a row with no answer text (not text, no answer tag, empty answer), else 0 (for
    rewards that read the answer's text, not its boxes)."""
    codes = parse_reason_codes(parsed)
    codes[~np.isin(parsed.status, _NO_TEXT_STATUSES)] = 0
    return codes
