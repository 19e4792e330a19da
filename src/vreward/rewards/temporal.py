"""Temporal grounding reward for video: the temporal IoU of the answer's "start to end" intervals.

Times are seconds (``12.5``, ``12.5s``) or clock times (``01:02`` is 62 s, ``1:02:03.5``); consecutive times pair
into intervals (``12.5 to 20``, ``[12.5, 20]``, ``00:12 - 00:20``, several intervals in one answer). The score is
the temporal IoU of the union of the answer's intervals with the union of the true ones,

    tIoU = |P ∩ T| / |P ∪ T|                                                in [0, 1]

(one interval each: the usual tIoU). ``penalize_distance`` is Time-R1's reward (arXiv 2503.13377): ``tIoU *
(1 - |s - s*| / D) * (1 - |e - e*| / D)`` for one interval per side, ``D`` the video's duration (the
``duration_column``); it separates answers of equal IoU by how far their ends are. The whole video as the answer
earns the true segment's share of the video, no more.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from vreward.parsing import AnswerBatch, TextSpans
from vreward.reasons import REASON_CODE, ZeroReason
from vreward.rewards.base import RewardBatch, Scored, TextReward, answer_codes
from vreward.rewards.reading import Values, read_values, times
from vreward.rewards.settings import TemporalSettings
from vreward.solution import distinct_solutions, solution_text

MAX_INTERVALS = 64
_NO_INTERVAL = REASON_CODE[ZeroReason.NO_INTERVAL.value]
_NO_OVERLAP = REASON_CODE[ZeroReason.NO_TEMPORAL_OVERLAP.value]

Intervals = list[tuple[float, float]]


def read_intervals(text: str) -> Intervals:
    """The intervals of ``text``: its times (seconds, or ``m:ss`` / ``h:mm:ss``) paired in order."""
    found = times(text, 2 * MAX_INTERVALS)
    return [(found[k], found[k + 1]) for k in range(0, len(found) - 1, 2)]


def merged(intervals: Intervals) -> Intervals:
    """The union of ``intervals`` as disjoint sorted intervals (empty and inverted ones left out)."""
    out: Intervals = []
    for s, e in sorted(iv for iv in intervals if iv[1] > iv[0]):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def temporal_iou(pred: Intervals, truth: Intervals) -> float:
    """|P ∩ T| / |P ∪ T| of two sets of intervals (0 when the union is empty)."""
    a, b = merged(pred), merged(truth)
    inter, i, j = 0.0, 0, 0
    while i < len(a) and j < len(b):
        inter += max(0.0, min(a[i][1], b[j][1]) - max(a[i][0], b[j][0]))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    union = sum(e - s for s, e in a) + sum(e - s for s, e in b) - inter
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class IntervalBatch:
    """The intervals of each row of a batch (its times paired in order): row ``i`` owns ``starts[offsets[i]:
    offsets[i + 1]]`` and the same ``ends``."""

    starts: np.ndarray
    ends: np.ndarray
    offsets: np.ndarray

    @classmethod
    def of(cls, read: Values) -> IntervalBatch:
        counts = read.counts // 2
        offsets = np.zeros(len(counts) + 1, np.int64)
        np.cumsum(counts, out=offsets[1:])
        at = np.repeat(read.offsets[:-1] - 2 * offsets[:-1], counts) + 2 * np.arange(offsets[-1])
        return cls(read.values[at], read.values[at + 1], offsets)

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)

    def row(self, i: int) -> Intervals:
        lo, hi = self.offsets[i], self.offsets[i + 1]
        return list(zip(self.starts[lo:hi].tolist(), self.ends[lo:hi].tolist()))

    def firsts(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The first interval's start and end of each row of ``rows`` (rows with one)."""
        at = self.offsets[rows]
        return self.starts[at], self.ends[at]


@dataclass(frozen=True)
class TemporalEvidence:
    """The predicted intervals of each row and their tIoU with the true ones (0 where the row is not scored), before
    the distance penalty."""

    intervals: IntervalBatch
    tiou: np.ndarray


class TemporalIoUReward(TextReward):
    """Temporal IoU of the answer's intervals with the true ones (Time-R1's distance penalty as an option)."""

    default_name = "temporal_iou_reward"
    settings_class = TemporalSettings
    settings: TemporalSettings

    def _score_answers(self, answers: AnswerBatch, kwargs: dict[str, Any]) -> Scored:
        n = len(answers)
        truths, problems = self._truths(kwargs.get("solution"), n)
        durations = self._durations(kwargs, n) if self.settings.penalize_distance else None
        codes = answer_codes(answers)
        preds = IntervalBatch.of(read_values(answers.answers, "times", 2 * MAX_INTERVALS))
        codes[(codes == 0) & (preds.counts == 0)] = _NO_INTERVAL
        scored = np.flatnonzero((codes == 0) & (truths.counts > 0))
        single = (preds.counts[scored] == 1) & (truths.counts[scored] == 1)
        tiou = np.zeros(n)
        rows = scored[single]
        (s, e), (ts, te) = preds.firsts(rows), truths.firsts(rows)
        inter = np.where(e > s, np.maximum(0.0, np.minimum(e, te) - np.maximum(s, ts)), 0.0)
        union = np.where(e > s, e - s, 0.0) + (te - ts) - inter
        with np.errstate(invalid="ignore", divide="ignore"):
            tiou[rows] = np.where(union > 0, inter / union, 0.0)
        for i in scored[~single].tolist():
            tiou[i] = temporal_iou(preds.row(i), truths.row(i))
        scores = tiou.copy()
        if durations is not None:
            (s, e), (ts, te) = preds.firsts(scored), truths.firsts(scored)
            d = durations[scored]
            scores[scored] *= np.maximum(0.0, 1.0 - np.abs(s - ts) / d) * np.maximum(0.0, 1.0 - np.abs(e - te) / d)
        codes[(codes == 0) & (scores <= 0.0)] = _NO_OVERLAP
        return Scored(scores, codes, TemporalEvidence(preds, tiou), problems)

    def _truths(self, solutions: Any, n: int) -> tuple[IntervalBatch, dict[int, str]]:
        """Each row's true intervals (text, or a list of numbers) and the problem of each row without one."""
        distinct = distinct_solutions(solutions, n)
        read = IntervalBatch.of(read_values(TextSpans.of([solution_text(s) for s in distinct.values]), "times",
                                            2 * MAX_INTERVALS))
        inverted = np.repeat(np.arange(len(distinct.values)), read.counts)[read.ends <= read.starts]
        bad = {k: f"expected 'start to end' intervals with end > start, got {distinct.values[k]!r:.80}"
               for k in sorted(set(np.flatnonzero(read.counts == 0).tolist()) | set(inverted.tolist()))}
        counts = np.where(np.isin(np.arange(len(read.counts)), list(bad)), 0, read.counts)[distinct.rows]
        offsets = np.zeros(n + 1, np.int64)
        np.cumsum(counts, out=offsets[1:])
        at = np.repeat(read.offsets[:-1][distinct.rows] - offsets[:-1], counts) + np.arange(offsets[-1])
        truths = IntervalBatch(read.starts[at], read.ends[at], offsets)
        return truths, distinct.row_problems(bad, self.settings.strict)

    def _durations(self, columns: Mapping[str, Any], n: int) -> np.ndarray:
        name = self.settings.duration_column
        values = columns.get(name)
        try:
            d = np.asarray(values, float)
        except (TypeError, ValueError):
            d = np.zeros(0)
        if values is None or d.shape != (n,) or not (np.isfinite(d).all() and (d > 0).all()):
            raise ValueError(f"penalize_distance needs column `{name}`: one positive video duration (seconds) per "
                             "completion")
        return d

    def _details(self, result: RewardBatch, i: int) -> dict[str, Any]:
        return {"intervals": [list(iv) for iv in result.evidence.intervals.row(i)]}

    def signals(self, result: RewardBatch) -> dict[str, float]:
        preds = result.evidence.intervals
        lengths = [sum(e - s for s, e in merged(preds.row(i))) for i in np.flatnonzero(preds.counts).tolist()]
        return {"predicted_length_mean": float(np.mean(lengths))} if lengths else {}


def make_temporal_iou_reward(settings: TemporalSettings | None = None, **options: Any) -> TemporalIoUReward:
    """Temporal IoU reward with options (see :class:`TemporalSettings`)."""
    return TemporalIoUReward.from_options(settings, **options)


temporal_iou_reward = make_temporal_iou_reward()
