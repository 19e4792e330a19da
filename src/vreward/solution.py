"""Ground truth (the ``solution`` column): Visual-RFT strings, bare box lists, or structured Python data.

Malformed ground truth is a data error: :class:`SolutionError` names the row and the problem instead of
letting the row silently score 0.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from vreward.cache import BoundedCache, ContentKey
from vreward.parsing import ParsedBatch, parse_texts


class SolutionError(ValueError):
    """A ground-truth row that cannot be read (names the row and the problem; ``row`` is its index)."""

    def __init__(self, message: str, row: int | None = None):
        super().__init__(message)
        self.row = row


@dataclass(frozen=True)
class GroundTruth:
    """Ground-truth boxes of a batch: row ``i`` owns ``boxes[offsets[i]:offsets[i+1]]``.

    ``parsed`` is the parse of the batch's distinct solution texts (GRPO repeats each prompt's solution once
    per generation); ``box_source`` maps each box to its row in ``parsed``; ``key`` identifies the batch by its
    content (the solution texts).
    """

    boxes: np.ndarray
    offsets: np.ndarray
    parsed: ParsedBatch
    box_source: np.ndarray
    key: ContentKey

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def has_labels(self) -> bool:
        return self.parsed.has_labels

    @cached_property
    def labels(self) -> list[str | None]:
        """Label of every box (decoded on first use)."""
        distinct = self.parsed.labels
        return [distinct[k] for k in self.box_source.tolist()]


def solution_text(solution: Any, row: int) -> str:
    """Text form of one solution: strings as they are, structured data (lists, dicts, arrays) as JSON."""
    if isinstance(solution, str):
        return solution
    if isinstance(solution, np.ndarray):
        solution = solution.tolist()
    if isinstance(solution, (list, tuple, dict)):
        try:
            return json.dumps(solution, default=_json_number, allow_nan=True)
        except (TypeError, ValueError) as exc:
            raise SolutionError(f"solution row {row}: cannot read {type(solution).__name__} value: {exc}",
                                row) from None
    raise SolutionError(f"solution row {row}: expected a string, a list or a dict, got {type(solution).__name__}",
                        row)


def _json_number(value: Any) -> float:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"unsupported value {value!r}")


_GROUND_TRUTHS: BoundedCache[GroundTruth] = BoundedCache("ground truths", 8)


def parse_solutions(solutions: Sequence[Any] | None, n: int | None = None) -> GroundTruth:
    """Parse and validate the ground truth of a batch (cached for repeated identical batches).

    A row is valid when it holds at least one box, or says "No Objects" / ``[]``, with every box finite and
    non-degenerate (x2 > x1, y2 > y1) and nothing unreadable beside. Raises :class:`SolutionError` otherwise.
    """
    if solutions is None:
        raise SolutionError("no ground truth: pass the dataset's `solution` column (solution=[...])")
    if isinstance(solutions, (str, bytes, dict)) or not hasattr(solutions, "__len__"):
        raise SolutionError(f"`solution` must be a list with one entry per completion, got {type(solutions).__name__}")
    if not isinstance(solutions, (list, tuple)):
        solutions = list(solutions)  # e.g. a datasets Column
    if n is not None and len(solutions) != n:
        raise SolutionError(f"`solution` has {len(solutions)} rows but there are {n} completions")
    if set(map(type, solutions)) <= {str}:
        texts = list(solutions)
    else:
        texts = [s if type(s) is str else solution_text(s, i) for i, s in enumerate(solutions)]
    key = ContentKey(tuple(texts))
    return _GROUND_TRUTHS.get_or_compute(key, lambda: _parse_distinct(texts, key))


def _parse_distinct(texts: list[str], key: ContentKey) -> GroundTruth:
    """Parse each distinct text once and lay the result out row by row."""
    distinct = list(dict.fromkeys(texts))
    index = {t: i for i, t in enumerate(distinct)}
    rows = np.fromiter(map(index.__getitem__, texts), np.int64, len(texts))
    parsed = parse_texts(distinct, require_answer_tag=False)
    first_row = np.zeros(len(distinct), np.int64)
    first_row[rows[::-1]] = np.arange(len(rows))[::-1]  # the first row of each distinct text
    _validate(parsed, distinct, first_row)
    counts = parsed.counts[rows]
    offsets = np.zeros(len(texts) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    box_source = np.repeat(parsed.offsets[:-1][rows] - offsets[:-1], counts) + np.arange(offsets[-1])
    boxes = parsed.boxes[box_source]
    boxes.flags.writeable = False
    return GroundTruth(boxes=boxes, offsets=offsets, parsed=parsed, box_source=box_source, key=key)


def _validate(parsed: ParsedBatch, texts: list[str], first_row: np.ndarray) -> None:
    """Raise :class:`SolutionError` for the first bad row (``first_row`` maps a parsed row to its batch row)."""
    b = parsed.boxes
    bad_box = ~(np.isfinite(b).all(axis=1) & (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1]))
    bad_rows = set(np.flatnonzero(~parsed.usable | parsed.dropped_counts.any(axis=1)).tolist())
    if bad_box.any():
        rows = np.searchsorted(parsed.offsets, np.flatnonzero(bad_box), side="right") - 1
        bad_rows.update(rows.tolist())
    if not bad_rows:
        return
    distinct_row = min(bad_rows, key=lambda u: first_row[u])
    row = int(first_row[distinct_row])
    p = parsed[distinct_row]
    if not p.usable:
        problem = f"no box could be read ({p.reason.value})"
    elif p.dropped:
        problem = "unreadable items " + ", ".join(f"{k}={v}" for k, v in p.dropped.items())
    else:
        box = next(bx for bx in p.boxes if not (np.isfinite(bx.xyxy).all() and bx.x2 > bx.x1 and bx.y2 > bx.y1))
        problem = f"degenerate or non-finite box {list(box.xyxy)} (needs x2 > x1 and y2 > y1)"
    more = f" ({len(bad_rows) - 1} more bad solutions)" if len(bad_rows) > 1 else ""
    text = texts[distinct_row]
    snippet = text if len(text) <= 120 else text[:117] + "..."
    raise SolutionError(f"solution row {row}: {problem}{more}: {snippet!r}", row)


def solution_answers(solutions: Sequence[Any] | None, n: int | None = None) -> list[str]:
    """Answer text of each solution (inside ``<answer>...</answer>`` when present), for classification."""
    if solutions is None:
        raise SolutionError("no ground truth: pass the dataset's `solution` column (solution=[...])")
    if n is not None and len(solutions) != n:
        raise SolutionError(f"`solution` has {len(solutions)} rows but there are {n} completions")
    out = []
    for i, s in enumerate(solutions):
        if not isinstance(s, str):
            raise SolutionError(f"solution row {i}: expected a class name string, got {type(s).__name__}", i)
        a = s.find("<answer>")
        if a >= 0:
            b = s.find("</answer>", a + 8)
            s = s[a + 8:] if b < 0 else s[a + 8:b]
        s = s.strip()
        if not s:
            raise SolutionError(f"solution row {i}: empty class name", i)
        out.append(s)
    return out
