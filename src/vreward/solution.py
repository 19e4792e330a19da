"""Ground truth (the ``solution`` column): Visual-RFT strings, bare box lists, or structured Python data.

Malformed ground truth is a data error: :class:`SolutionError` names the row and the problem instead of
letting the row silently score 0.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from vreward.arrays import largest_coordinates
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
    content (the solution texts). ``problems`` names the rows whose ground truth cannot be read (row -> what is
    wrong); those rows own no boxes.
    """

    boxes: np.ndarray
    offsets: np.ndarray
    parsed: ParsedBatch
    box_source: np.ndarray
    key: ContentKey
    problems: Mapping[int, str] = field(default_factory=dict)

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


def solution_text(solution: Any) -> str | None:
    """Text form of one solution: strings as they are, structured data (lists, dicts, arrays) as JSON; None
    for a value that is none of these."""
    if isinstance(solution, str):
        return solution
    if isinstance(solution, np.ndarray):
        solution = solution.tolist()
    if isinstance(solution, (list, tuple, dict)):
        try:
            return json.dumps(solution, default=_json_number, allow_nan=True)
        except (TypeError, ValueError):
            return None
    return None


def _json_number(value: Any) -> float:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"unsupported value {value!r}")


_GROUND_TRUTHS: BoundedCache[GroundTruth] = BoundedCache("ground truths", 8)


def parse_solutions(solutions: Sequence[Any] | None, n: int | None = None, *, strict: bool = True) -> GroundTruth:
    """Parse and validate the ground truth of a batch (cached for repeated identical batches).

    A row is valid when it holds at least one box, or says "No Objects" / ``[]``, with every box finite and
    non-degenerate (x2 > x1, y2 > y1) and nothing unreadable beside. ``strict`` raises :class:`SolutionError`
    for the first invalid row; otherwise invalid rows own no boxes and are named in ``problems`` (rewards then
    score them 0 with reason ``bad_ground_truth``). A column of the wrong shape always raises.
    """
    texts = _solution_texts(solutions, n)
    key = ContentKey(tuple(texts))
    gt = _GROUND_TRUTHS.get_or_compute(key, lambda: _parse_distinct(texts, key))
    if strict and gt.problems:
        raise_first(gt.problems)
    return gt


def raise_first(problems: Mapping[int, str]) -> None:
    """Raise :class:`SolutionError` for the first bad row of ``problems`` (row -> message)."""
    row = min(problems)
    more = f" ({len(problems) - 1} more bad solutions)" if len(problems) > 1 else ""
    raise SolutionError(f"solution row {row}: {problems[row]}{more}", row)


def _solution_texts(solutions: Sequence[Any] | None, n: int | None) -> list[Any]:
    """The column as a list (a ``SolutionError`` when it is missing or of the wrong shape), strings kept, other
    values as their JSON text where they have one."""
    if solutions is None:
        raise SolutionError("no ground truth: pass the dataset's `solution` column (solution=[...])")
    if isinstance(solutions, (str, bytes, dict)) or not hasattr(solutions, "__len__"):
        raise SolutionError(f"`solution` must be a list with one entry per completion, got {type(solutions).__name__}")
    if not isinstance(solutions, (list, tuple)):
        solutions = list(solutions)  # e.g. a datasets Column
    if n is not None and len(solutions) != n:
        raise SolutionError(f"`solution` has {len(solutions)} rows but there are {n} completions")
    if set(map(type, solutions)) <= {str}:
        return list(solutions)
    return [s if type(s) is str else _Unreadable.of(s) for s in solutions]


@dataclass(frozen=True)
class _Unreadable:
    """A solution value that is no text and has no JSON text (kept apart by its type name and repr)."""

    kind: str
    shown: str

    @classmethod
    def of(cls, value: Any) -> str | _Unreadable:
        text = solution_text(value)
        return text if text is not None else cls(type(value).__name__, repr(value)[:80])


def _parse_distinct(texts: list[Any], key: ContentKey) -> GroundTruth:
    """Parse each distinct text once and lay the result out row by row."""
    distinct = list(dict.fromkeys(texts))
    index = {t: i for i, t in enumerate(distinct)}
    rows = np.fromiter(map(index.__getitem__, texts), np.int64, len(texts))
    parsed = parse_texts([t if isinstance(t, str) else "" for t in distinct], require_answer_tag=False)
    bad = _problems(parsed, distinct)
    counts = parsed.counts[rows]
    if bad:
        counts[np.fromiter((r in bad for r in rows.tolist()), bool, len(rows))] = 0
    offsets = np.zeros(len(texts) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    box_source = np.repeat(parsed.offsets[:-1][rows] - offsets[:-1], counts) + np.arange(offsets[-1])
    boxes = parsed.boxes[box_source]
    boxes.flags.writeable = False
    problems = {i: bad[int(r)] for i, r in enumerate(rows.tolist()) if int(r) in bad} if bad else {}
    return GroundTruth(boxes=boxes, offsets=offsets, parsed=parsed, box_source=box_source, key=key,
                       problems=problems)


def _problems(parsed: ParsedBatch, texts: list[Any]) -> dict[int, str]:
    """What is wrong with each invalid distinct solution (by its row in ``parsed``)."""
    b = parsed.boxes
    bad_box = ~(np.isfinite(largest_coordinates(b)) & (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1]))
    dropped = parsed.dropped_counts.any(axis=1) if parsed.dropped_counts.any() else False
    bad_rows = set(np.flatnonzero(~parsed.usable | dropped).tolist())
    if bad_box.any():
        bad_rows.update((np.searchsorted(parsed.offsets, np.flatnonzero(bad_box), side="right") - 1).tolist())
    bad_rows.update(i for i, t in enumerate(texts) if isinstance(t, _Unreadable))
    return {u: _problem(parsed, texts[u], u) for u in sorted(bad_rows)}


def _problem(parsed: ParsedBatch, text: Any, u: int) -> str:
    if isinstance(text, _Unreadable):
        return f"expected a string, a list or a dict, got {text.kind}: {text.shown}"
    p = parsed[u]
    if not p.usable:
        problem = f"no box could be read ({p.reason.value})"
    elif p.dropped:
        problem = "unreadable items " + ", ".join(f"{k}={v}" for k, v in p.dropped.items())
    else:
        box = next(bx for bx in p.boxes if not (np.isfinite(bx.xyxy).all() and bx.x2 > bx.x1 and bx.y2 > bx.y1))
        problem = f"degenerate or non-finite box {list(box.xyxy)} (needs x2 > x1 and y2 > y1)"
    snippet = text if len(text) <= 120 else text[:117] + "..."
    return f"{problem}: {snippet!r}"


def read_answers(solutions: Sequence[Any] | None, n: int | None = None,
                 *, strict: bool = True) -> tuple[list[str | None], dict[int, str]]:
    """Answer text of each solution (inside ``<answer>...</answer>`` when present), for classification, and the
    problem of each row that has none (not a string, or empty): ``strict`` raises :class:`SolutionError` for the
    first, otherwise its answer is None."""
    if solutions is None:
        raise SolutionError("no ground truth: pass the dataset's `solution` column (solution=[...])")
    if isinstance(solutions, (str, bytes, dict)) or not hasattr(solutions, "__len__"):
        raise SolutionError(f"`solution` must be a list with one entry per completion, got {type(solutions).__name__}")
    if n is not None and len(solutions) != n:
        raise SolutionError(f"`solution` has {len(solutions)} rows but there are {n} completions")
    if set(map(type, solutions)) <= {str}:  # the usual column: each distinct name read once (GRPO repeats them)
        names = {s: _class_name(s) for s in set(solutions)}
        out = list(map(names.__getitem__, solutions))
    else:
        out = [_class_name(s) if isinstance(s, str) else None for s in solutions]
    problems = {i: "empty class name" if isinstance(s, str) else f"expected a class name string, got {type(s).__name__}"
                for i, (s, name) in enumerate(zip(solutions, out)) if name is None} if None in out else {}
    if strict and problems:
        raise_first(problems)
    return out, problems


def _class_name(solution: str) -> str | None:
    """The answer of a solution string (inside ``<answer>...</answer>`` when present), stripped; None when empty."""
    a = solution.find("<answer>")
    if a >= 0:
        b = solution.find("</answer>", a + 8)
        solution = solution[a + 8:] if b < 0 else solution[a + 8:b]
    return solution.strip() or None


def solution_answers(solutions: Sequence[Any] | None, n: int | None = None) -> list[str]:
    """Answer text of each solution (``read_answers`` that raises :class:`SolutionError` for a bad row)."""
    return read_answers(solutions, n)[0]  # type: ignore[return-value]
