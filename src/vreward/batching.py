"""Scoring rows that arrive one at a time: grouped into batches, and micro-batched for asyncio callers.

Trainers' current reward paths hand vreward one sample per call (verl's reward loop, OpenRLHF's single-sample
requests, many concurrent ones). One ``score_all`` call costs a parse, a kernel call and array set-up per
reward: about 300 µs for a batch of one against about 6 µs a row in a batch of a thousand. :func:`score_rows`
scores rows of any mix of rewards and columns with one ``score_all`` per group; :class:`RowBatcher` collects the
rows awaited concurrently in one event loop and scores them together, so the per-row cost stays close to the
batched kernel's.

>>> import asyncio
>>> from vreward.composite import make_task_reward
>>> reward = make_task_reward("format")
>>> async def two_rows():
...     batcher = RowBatcher()
...     return await asyncio.gather(batcher.score(Row(reward, "<think>.</think><answer>x</answer>", {})),
...                                 batcher.score(Row(reward, "no tags", {})))
>>> [r.total for r in asyncio.run(two_rows())]
[1.0, 0.0]
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from vreward.composite import CompositeReward

# The reason the core rewards give a row whose ground truth cannot be read (counted and surfaced by the adapters
# and the server).
BAD_GROUND_TRUTH = "bad_ground_truth"


class Row(NamedTuple):
    """One completion to score with ``reward``; ``columns`` are its reward keywords (``solution``, sizes)."""

    reward: CompositeReward
    completion: Any
    columns: Mapping[str, Any]


class RowScore(NamedTuple):
    """A row's weighted total, the total on [0, 1] (``CompositeReward.normalized``), each reward's score and
    reason by reward name, and whether a reward scored it 0 because its ground truth cannot be read."""

    total: float
    normalized: float
    scores: dict[str, float]
    reasons: dict[str, str | None]
    bad_ground_truth: bool


def score_rows(rows: Sequence[Row]) -> list[RowScore]:
    """Every row's score, with one ``score_all`` call per group of rows sharing a reward and column names.

    Errors of the rewards (a ``SolutionError`` for unreadable ground truth, bad columns) propagate.
    """
    results: list[RowScore | None] = [None] * len(rows)
    for indices in _groups(rows).values():
        for i, result in zip(indices, _score_group([rows[i] for i in indices])):
            results[i] = result
    return results  # type: ignore[return-value]


def score_rows_isolated(rows: Sequence[Row]) -> list[RowScore | Exception]:
    """:func:`score_rows`, except that a group that raises is scored row by row: each row gets its score or the
    exception its own scoring raises (a ``SolutionError`` for its ground truth), never another row's."""
    results: list[RowScore | Exception | None] = [None] * len(rows)
    for indices in _groups(rows).values():
        for i, result in zip(indices, _score_group_isolated([rows[i] for i in indices])):
            results[i] = result
    return results  # type: ignore[return-value]


def _groups(rows: Sequence[Row]) -> dict[tuple[int, tuple[str, ...]], list[int]]:
    groups: dict[tuple[int, tuple[str, ...]], list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault((id(row.reward), tuple(row.columns)), []).append(i)
    return groups


def _score_group(rows: Sequence[Row]) -> list[RowScore]:
    """Rows of one reward with the same column names, scored by one ``score_all`` call."""
    reward = rows[0].reward
    batch = reward.score_all([row.completion for row in rows],
                             **{n: [row.columns[n] for row in rows] for n in rows[0].columns})
    names = list(batch.parts)
    reasons = [part.reasons for part in batch.parts.values()]
    bad = np.zeros(len(rows), bool)
    for part in reasons:
        bad |= np.array([r == BAD_GROUND_TRUTH for r in part], bool)
    return [RowScore(total, norm, dict(zip(names, row_scores)), dict(zip(names, row_reasons)), row_bad)
            for total, norm, row_scores, row_reasons, row_bad in zip(
                batch.total.tolist(), reward.normalized(batch.total).tolist(),
                zip(*(part.scores.tolist() for part in batch.parts.values())), zip(*reasons), bad.tolist())]


def _score_group_isolated(rows: Sequence[Row]) -> list[RowScore | Exception]:
    try:
        return list(_score_group(rows))
    except Exception as exc:  # noqa: BLE001 - handed to the rows that raise
        if len(rows) == 1:
            return [exc]
        return [result for row in rows for result in _score_group_isolated([row])]


class RowBatcher:
    """Scores the rows awaited concurrently in one event loop together.

    The first row awaited schedules a flush (on the loop's next iteration, or ``window_s`` later to gather the
    rows of callers that arrive spread out, such as verl's reward loop, whose rows wait on a thread pool's
    decoding first); every row awaited until then joins it, up to ``max_rows``. A flush scores inline on the
    loop (no thread hop) with :func:`score_rows`; a group that raises is scored row by row, so an error reaches
    only the callers of the rows that cause it. One batcher serves any number of event loops (each has its own
    queue); it is used from each loop's own thread only, as asyncio objects are.
    """

    def __init__(self, window_s: float = 0.0, max_rows: int = 4096):
        if window_s < 0 or max_rows < 1:
            raise ValueError(f"window_s must be >= 0 and max_rows >= 1, got {window_s} and {max_rows}")
        self.window_s = window_s
        self.max_rows = max_rows
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[tuple[Row, asyncio.Future]]] = \
            weakref.WeakKeyDictionary()

    async def score(self, row: Row) -> RowScore:
        """The row's score, computed with the other rows awaited on this loop meanwhile."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[RowScore] = loop.create_future()
        queue = self._queues.setdefault(loop, [])
        queue.append((row, future))
        if len(queue) >= self.max_rows:
            self._flush(loop)
        elif len(queue) == 1:
            if self.window_s > 0:
                loop.call_later(self.window_s, self._flush, loop)
            else:
                loop.call_soon(self._flush, loop)
        return await future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        pending = self._queues.pop(loop, [])
        if not pending:
            return  # already flushed at max_rows
        for (_, future), result in zip(pending, score_rows_isolated([row for row, _ in pending])):
            if future.done():  # a caller that was cancelled meanwhile
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
