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

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from vreward.parsing import ParsedBatch
from vreward.reasons import REASON_CODE, ZeroReason
from vreward.rewards.base import Reward, RewardBatch, Scored, answer_reason_codes
from vreward.rewards.settings import TemporalSettings
from vreward.solution import SolutionError, raise_first, solution_text

TIME = re.compile(r"(?<![\w.:])(\d{1,9}(?::\d{1,2}){0,2}(?:\.\d{1,9})?)(?:\s?(?:s|sec|secs|seconds)\b)?(?![\w:])")
MAX_INTERVALS = 64
_NO_INTERVAL = REASON_CODE[ZeroReason.NO_INTERVAL.value]
_NO_OVERLAP = REASON_CODE[ZeroReason.NO_TEMPORAL_OVERLAP.value]

Intervals = list[tuple[float, float]]


def read_intervals(text: str) -> Intervals:
    """The intervals of ``text``: its times (seconds, or ``m:ss`` / ``h:mm:ss``) paired in order."""
    times = []
    for match in TIME.finditer(text):
        seconds = 0.0
        for part in match.group(1).split(":"):
            seconds = seconds * 60.0 + float(part)
        times.append(seconds)
        if len(times) >= 2 * MAX_INTERVALS:
            break
    return [(times[k], times[k + 1]) for k in range(0, len(times) - 1, 2)]


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


def read_truth_intervals(solutions: Sequence[Any] | None, n: int, strict: bool) -> tuple[list[Intervals],
                                                                                         dict[int, str]]:
    """Each row's true intervals (text, or a list of numbers) and the problem of each row without one."""
    if solutions is None or isinstance(solutions, (str, bytes, Mapping)) or not hasattr(solutions, "__len__"):
        raise SolutionError("no ground truth: pass the dataset's `solution` column (solution=[...])")
    if len(solutions) != n:
        raise SolutionError(f"`solution` has {len(solutions)} rows but there are {n} completions")
    out: list[Intervals] = []
    problems: dict[int, str] = {}
    for i, s in enumerate(solutions):
        text = solution_text(s)
        intervals = read_intervals(text) if text is not None else []
        if not intervals or any(e <= st for st, e in intervals):
            problems[i] = f"expected 'start to end' intervals with end > start, got {s!r:.80}"
            intervals = []
        out.append(intervals)
    if strict and problems:
        raise_first(problems)
    return out, problems


class TemporalIoUReward(Reward):
    """Temporal IoU of the answer's intervals with the true ones (Time-R1's distance penalty as an option)."""

    default_name = "temporal_iou_reward"
    settings_class = TemporalSettings
    settings: TemporalSettings

    def _score(self, parsed: ParsedBatch, kwargs: dict[str, Any]) -> Scored:
        n = len(parsed)
        truths, problems = read_truth_intervals(kwargs.get("solution"), n, self.settings.strict)
        durations = self._durations(kwargs, n) if self.settings.penalize_distance else None
        codes = answer_reason_codes(parsed)
        scores = np.zeros(n)
        preds: list[Intervals] = [[] for _ in range(n)]
        for i in np.flatnonzero(codes == 0).tolist():
            preds[i] = read_intervals(parsed.answer(i) or "")
            if not preds[i]:
                codes[i] = _NO_INTERVAL
                continue
            scores[i] = temporal_iou(preds[i], truths[i])
            if durations is not None and truths[i]:
                (s, e), (ts, te) = preds[i][0], truths[i][0]
                d = durations[i]
                scores[i] *= max(0.0, 1.0 - abs(s - ts) / d) * max(0.0, 1.0 - abs(e - te) / d)
        codes[(codes == 0) & (scores <= 0.0)] = _NO_OVERLAP
        return Scored(scores, codes, preds, problems)

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
        return {"intervals": [list(iv) for iv in result.evidence[i]]}

    def signals(self, result: RewardBatch) -> dict[str, float]:
        lengths = [sum(e - s for s, e in merged(p)) for p in result.evidence if p]
        return {"predicted_length_mean": float(np.mean(lengths))} if lengths else {}


def make_temporal_iou_reward(settings: TemporalSettings | None = None, **options: Any) -> TemporalIoUReward:
    """Temporal IoU reward with options (see :class:`TemporalSettings`)."""
    return TemporalIoUReward.from_options(settings, **options)


temporal_iou_reward = make_temporal_iou_reward()
