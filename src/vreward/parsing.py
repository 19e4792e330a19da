"""Parse model completions into typed results: format, think and answer text, boxes, and a reason.

>>> from vreward import parse_completion
>>> text = "<think>a cat</think><answer>[{'Position': [1, 2, 30, 40], 'Confidence': 0.9}]</answer>"
>>> p = parse_completion(text)
>>> p.format_ok, p.boxes[0].xyxy, p.boxes[0].confidence, p.reason
(True, (1.0, 2.0, 30.0, 40.0), 0.9, <ParseReason.OK: 'ok'>)

Parsing never raises on completion text and never evaluates it: a whole batch is encoded into one byte buffer
and read by one numba scan (:mod:`vreward._scan`), linear in the text's length. ``family=`` reads a model family's
native syntax (PaliGemma's ``<loc>`` tokens, InternVL's ``<ref>``/``<box>``, ...): its translator
(:mod:`vreward.frames.syntax`) first rewrites each native box into text the scanner reads; families whose
answers the scanner reads as written (Qwen2-VL, Qwen2.5-VL, Qwen3-VL, GLM, ...) parse exactly as without one.
"""

from __future__ import annotations

import itertools
import operator
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from vreward.cache import BoundedCache, ContentKey
from vreward.reasons import PARSE_REASONS, STATUS_NO_OBJECTS, STATUS_NOT_TEXT, STATUS_OK, ParseReason

if TYPE_CHECKING:
    from vreward._scan import ScanBoxes, ScanRows, Scratch
    from vreward.frames.syntax import AnswerSyntax


@dataclass(frozen=True, slots=True)
class Box:
    """One predicted box in the model's own coordinate frame."""

    x1: float
    y1: float
    x2: float
    y2: float
    confidence: float | None = None
    label: str | None = None

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)


@dataclass(frozen=True)
class ParsedCompletion:
    """Everything read from one completion.

    ``reason`` is ``OK`` when boxes were found, ``NO_OBJECTS`` for an explicit empty answer ("No Objects",
    ``[]``), and otherwise says why nothing usable was found. ``dropped`` counts items that were seen but not
    kept (wrong arity, points, non-finite numbers, items cut off by truncation).
    """

    text: str
    format_ok: bool
    think: str | None
    answer: str | None
    answer_closed: bool
    boxes: tuple[Box, ...]
    reason: ParseReason
    dropped: dict[str, int]

    @property
    def usable(self) -> bool:
        return self.reason.usable


# What ParsedBatch.dropped_counts counts, by column (the scanner's C_WRONG_ARITY ... C_TRUNCATED).
_DROP_NAMES = ("wrong_arity", "points", "non_finite", "truncated")


def completion_text(completion: Any) -> str | None:
    """The assistant text of a completion: a plain string, or TRL's conversational form.

    Conversational completions are lists of messages (``{"role": ..., "content": ...}``); the last assistant
    message counts, and a content given as a list of parts is the concatenation of its text parts. Anything
    else is not text (None).
    """
    if type(completion) is str:
        return completion
    if type(completion) is list and len(completion) == 1:  # TRL's usual form, on the hot path
        message = completion[0]
        if type(message) is dict:
            content = message.get("content")
            if type(content) is str and _is_assistant(message):
                return content
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    if not isinstance(completion, (list, tuple)) or not completion:
        return None
    message = None
    for m in reversed(completion):
        if isinstance(m, dict) and _is_assistant(m):
            message = m
            break
    if message is None:
        return None
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                if part.get("type", "text") == "text":
                    parts.append(part["text"])
        return "".join(parts)
    return None


def _is_assistant(message: dict) -> bool:
    """An assistant message: role "assistant", or no role at all."""
    role = message.get("role", "assistant")
    return type(role) is str and role == "assistant"


_first = operator.itemgetter(0)
_content = operator.itemgetter("content")


def completion_texts(completions: Sequence[Any]) -> list[str | None]:
    """:func:`completion_text` of every completion of a batch.

    Batches of TRL's usual form (one assistant message with string content per completion) and of plain
    strings are read with C-level ``map`` calls; anything else goes through :func:`completion_text` per item.
    """
    kinds = set(map(type, completions))
    if kinds == {str}:
        return list(completions)
    if kinds == {list} and set(map(len, completions)) == {1}:
        messages = list(map(_first, completions))
        if set(map(type, messages)) == {dict}:
            n = len(messages)
            roles = list(map(dict.get, messages, itertools.repeat("role", n), itertools.repeat("assistant", n)))
            if set(map(type, roles)) == {str} and set(roles) == {"assistant"}:
                try:
                    texts = list(map(_content, messages))
                except KeyError:
                    texts = []
                if set(map(type, texts)) == {str}:
                    return texts
    return [completion_text(c) for c in completions]


def answer_text(text: str | None, *, require_answer_tag: bool = True) -> str | None:
    """The answer of one completion, by the scanner's rule, without reading boxes (for text answers).

    After the first ``</think>``: the last complete ``<answer>...</answer>`` block, else the text after the
    last ``<answer>``; without any tag None, or (``require_answer_tag=False``) the text after ``</think>``
    (nothing when a ``<think>`` was never closed). Equals ``parse_completion(text).answer``.
    """
    if text is None:
        return None
    t = text.find("</think>")
    base = 0 if t < 0 else t + 8
    last_close = text.rfind("</answer>")
    p = text.rfind("<answer>", base, last_close) if last_close >= base else -1
    if p >= 0:
        return text[p + 8:text.find("</answer>", p + 8)]
    p = text.rfind("<answer>", base)
    if p >= 0:
        return text[p + 8:]
    if require_answer_tag:
        return None
    if t < 0 and "<think>" in text:
        return ""
    return text[base:]


def answer_texts(texts: Sequence[str | None], *, require_answer_tag: bool = True) -> list[str | None]:
    """:func:`answer_text` of every text of a batch: the usual answer (one complete block after the thinking) is
    found by C-level ``map`` calls, the others by :func:`answer_text`."""
    if None in texts:
        return [answer_text(text, require_answer_tag=require_answer_tag) for text in texts]
    opens = list(map(str.rfind, texts, itertools.repeat("<answer>")))  # the last <answer>
    thinks = list(map(str.find, texts, itertools.repeat("</think>")))
    starts = [p + 8 for p in opens]
    ends = list(map(str.find, texts, itertools.repeat("</answer>"), starts))
    # after the thinking and closed: the last complete block (answer_text's rule)
    return [text[s:e] if t < p and e >= s else answer_text(text, require_answer_tag=require_answer_tag)
            for text, t, p, s, e in zip(texts, thinks, opens, starts, ends)]


class ParsedBatch(Sequence[ParsedCompletion]):
    """Parse results of a whole batch, kept as arrays (structure of arrays) for the reward kernels.

    Row ``i`` owns boxes ``offsets[i]:offsets[i+1]``. ``confidences`` holds NaN where none was given.
    ``dropped_counts`` (B, 4) counts the items of each row seen but not kept, by column: wrong_arity, points,
    non_finite, truncated (the keys of :attr:`ParsedCompletion.dropped`). Indexing (``batch[i]``) builds the
    :class:`ParsedCompletion` of one row. ``key`` identifies the batch by its content (texts,
    ``require_answer_tag`` and the answer syntax translated from), for caches of what is computed from it.
    ``texts`` are the texts as read: after the family's translator, when it has one.
    """

    def __init__(self, texts: list[str | None], buf: bytes, rows: ScanRows, found: ScanBoxes, key: ContentKey):
        self.key = key
        self.texts = texts
        self._buf = buf
        self.format_ok = rows.format_ok
        self._answer_start = rows.answer_start
        self._answer_end = rows.answer_end
        self._answer_closed = rows.answer_closed
        self.status = rows.status
        self.dropped_counts = rows.dropped
        self.offsets = rows.offsets
        self.boxes = found.boxes
        self.confidences = found.confidences
        self._label_start = found.label_start
        self._label_end = found.label_end
        if None in texts:
            self.status[np.fromiter((t is None for t in texts), bool, len(texts))] = STATUS_NOT_TEXT
        if found.slow.any():
            _exact_numbers(buf, self.boxes, self.confidences, found.spans, found.slow)
        for a in (self.format_ok, self.status, self.dropped_counts, self.offsets, self.boxes, self.confidences):
            a.flags.writeable = False

    def __len__(self) -> int:
        return len(self.texts)

    @cached_property
    def counts(self) -> np.ndarray:
        """Boxes per row."""
        return np.diff(self.offsets)

    @cached_property
    def usable(self) -> np.ndarray:
        """Rows with boxes or an explicit "No Objects"."""
        return (self.status == STATUS_OK) | (self.status == STATUS_NO_OBJECTS)

    @cached_property
    def explicit_empty(self) -> np.ndarray:
        """Rows that answered "No Objects" (or an empty list)."""
        return self.status == STATUS_NO_OBJECTS

    def reason(self, i: int) -> ParseReason:
        return PARSE_REASONS[int(self.status[i])]

    @staticmethod
    def reason_name(code: int) -> str:
        """The reason value of a status code (``batch.reason_name(batch.status[i])``)."""
        return PARSE_REASONS[code].value

    @cached_property
    def has_labels(self) -> bool:
        """Whether any box carries a label."""
        return bool((self._label_start >= 0).any())

    @cached_property
    def labels(self) -> list[str | None]:
        """Label of every box (decoded on first use)."""
        buf = self._buf
        return [
            _clean_label(buf[s:e].decode("utf-8", "replace")) if s >= 0 else None
            for s, e in zip(self._label_start.tolist(), self._label_end.tolist(), strict=True)
        ]

    @cached_property
    def points(self) -> ParsedPoints:
        """The points of every answer (``[x, y]``, ``(x, y)``, ``{"point_2d": [x, y]}``...), read on first use by a
        second scan of the answer spans; box rewards never pay for it. See :class:`ParsedPoints`."""
        return _scan_points(self._buf, self._answer_start, self._answer_end)

    def answer(self, i: int) -> str | None:
        s = int(self._answer_start[i])
        if s < 0:
            return None
        return self._buf[s:int(self._answer_end[i])].decode("utf-8", "replace")

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        text = self.texts[i]
        lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
        labels = self.labels[lo:hi] if hi > lo else []
        boxes = tuple(
            Box(*xyxy, confidence=None if c != c else c, label=label)  # c != c: NaN, no confidence
            for xyxy, c, label in zip(self.boxes[lo:hi].tolist(), self.confidences[lo:hi].tolist(), labels,
                                      strict=True)
        )
        return ParsedCompletion(
            text=text if text is not None else "",
            format_ok=bool(self.format_ok[i]),
            think=_think_text(text) if text is not None else None,
            answer=self.answer(i),
            answer_closed=bool(self._answer_closed[i]),
            boxes=boxes,
            reason=self.reason(i),
            dropped={name: int(n) for name, n in zip(_DROP_NAMES, self.dropped_counts[i], strict=True) if n},
        )


@dataclass(frozen=True)
class ParsedPoints:
    """The points of a batch's answers: row ``i`` owns ``points[offsets[i]:offsets[i + 1]]`` ((Q, 2) float64,
    ``x, y`` in the model's frame, in the order written).

    A point is a two-number list or parenthesised pair: ``[x, y]``, ``(x, y)``, the value of any key
    (``{"point_2d": [x, y]}``, ``'click': (x, y)``, ``"coordinate": [x, y]``). Two parenthesised points side by
    side, ``(x1, y1), (x2, y2)``, are a box (Qwen2-VL), not points; numbers that are not finite drop the point.
    The box parse is unchanged (its reason for a row with points only stays ``points_not_boxes``).
    """

    points: np.ndarray
    offsets: np.ndarray

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)


def _scan_points(buf: bytes, starts: np.ndarray, ends: np.ndarray) -> ParsedPoints:
    """Run the point scanner over the answer spans, growing its arrays as the box scan does."""
    from vreward._scan import ScanPoints, scan_points_into

    arr = np.frombuffer(buf, np.uint8)
    n = len(starts)
    found = ScanPoints.allocate(n, max(16, 2 * n))
    row = 0
    while True:
        done = scan_points_into(arr, starts, ends, row, *found)
        if done == n:
            break
        if not row <= done < n:
            raise RuntimeError(f"the point scanner refused its arrays (returned {done})")
        nq, need = int(found.offsets[done]), int(found.offsets[done + 1])
        found = found.grown(max(2 * len(found.points), need + 16), nq)
        row = done
    total = int(found.offsets[n])
    points, spans, slow = found.points[:total], found.spans[:total], found.slow[:total]
    for q in np.flatnonzero(slow).tolist():  # numbers the scanner could not convert exactly
        points[q] = [float(buf[a:b]) for a, b in spans[q].tolist()]
    points.flags.writeable = False
    return ParsedPoints(points, found.offsets)


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "/": "/", "\\": "\\", '"': '"', "'": "'"}
_ESCAPE_RE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.DOTALL)


def _unescape(match: re.Match) -> str:
    e = match.group(1)
    if len(e) == 5:
        return chr(int(e[1:], 16))
    return _ESCAPES.get(e, match.group(0))


def _clean_label(s: str) -> str | None:
    """A label as written, without enclosing quotes and spaces, with JSON / Python string escapes decoded."""
    s = s.strip()
    while len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        s = s[1:-1].strip()
    if "\\" in s:
        s = _ESCAPE_RE.sub(_unescape, s)
        if any("\ud800" <= ch <= "\udfff" for ch in s):  # a surrogate pair written as two \u escapes
            s = s.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        s = s.strip()
    return s or None


def _think_text(text: str) -> str | None:
    a = text.find("<think>")
    if a < 0:
        return None
    b = text.find("</think>", a + 7)
    return text[a + 7:] if b < 0 else text[a + 7:b]


def _exact_numbers(buf: bytes, boxes: np.ndarray, conf: np.ndarray, spans: np.ndarray,
                   slow: np.ndarray) -> None:
    """Re-parse with Python's ``float`` the numbers the scanner could not convert exactly (whole boxes)."""
    rows = np.flatnonzero(slow)
    values = np.array([float(buf[s:e]) if s >= 0 else np.nan for s, e in spans[rows].reshape(-1, 2).tolist()],
                      np.float64).reshape(-1, 5)
    boxes[rows] = values[:, :4]
    has_conf = spans[rows, 4, 0] >= 0
    conf[rows[has_conf]] = values[has_conf, 4]


def _encode(texts: list[str | None]) -> tuple[bytes, np.ndarray, np.ndarray]:
    """All texts as one UTF-8 buffer with each text's byte span (None is an empty text)."""
    if None in texts:
        texts = ["" if t is None else t for t in texts]
    lengths = np.fromiter(map(len, texts), np.int64, len(texts))
    buf = "".join(texts).encode("utf-8", "surrogatepass")
    if len(buf) != int(lengths.sum()):  # not all ASCII: byte spans differ from character spans
        encoded = [t.encode("utf-8", "surrogatepass") for t in texts]
        lengths = np.fromiter(map(len, encoded), np.int64, len(encoded))
    ends = np.cumsum(lengths)
    return buf, ends - lengths, ends


_LOCAL = threading.local()


def _scratch() -> Scratch:
    """This thread's scratch arrays of the scanner (it initialises what it reads, so they are reused)."""
    scratch = getattr(_LOCAL, "scratch", None)
    if scratch is None:
        from vreward._scan import Scratch
        scratch = _LOCAL.scratch = Scratch.allocate()
    return scratch


def _scan_arrays(arr: np.ndarray, starts: np.ndarray, ends: np.ndarray, require_answer_tag: bool,
                 cap: int | None = None) -> tuple[ScanRows, ScanBoxes]:
    """Run the scanner over a whole batch: its per-row and per-box arrays (see ``vreward._scan``).

    The kernel allocates nothing: the arrays are made here with room for ``cap`` boxes (4 per row), and when a
    row does not fit the scan stops there, the box arrays grow and the scan resumes at that row.
    """
    from vreward._scan import ScanBoxes, ScanRows, scan_into
    n = len(starts)
    rows = ScanRows.allocate(n)
    found = ScanBoxes.allocate(max(16, 4 * n) if cap is None else max(1, cap))
    scratch = _scratch()
    row = 0
    while True:
        done = scan_into(arr, starts, ends, bool(require_answer_tag), row, tuple(rows), tuple(found), tuple(scratch))
        if done == n:
            break
        if not row <= done < n:
            raise RuntimeError(f"the completion scanner refused its arrays (returned {done})")
        nb, need = int(rows.offsets[done]), int(rows.offsets[done + 1])
        found = found.grown(max(2 * len(found.boxes), need + 16), nb)
        row = done
    return rows, found.head(int(rows.offsets[n]))


def parse_key(texts: Sequence[str | None], require_answer_tag: bool, syntax: str | None = None) -> ContentKey:
    """The content key of a batch's parse (see :class:`vreward.cache.ContentKey`); ``syntax``: the answer syntax
    translated from (None: read as written)."""
    if syntax is None:
        return ContentKey(tuple(texts), bool(require_answer_tag))
    return ContentKey(tuple(texts), bool(require_answer_tag), syntax)


def translator(family: Any) -> AnswerSyntax | None:
    """The answer syntax whose translator reads ``family``'s answers (any :func:`vreward.families.detect` input),
    or None when the scanner reads them as written (or no family is given)."""
    if family is None:
        return None
    from vreward.frames.families import resolve_family

    syntax = resolve_family(family).answer_syntax
    return syntax if syntax.translate is not None else None


def _scan(texts: list[str | None], require_answer_tag: bool, syntax: AnswerSyntax | None = None) -> ParsedBatch:
    read = texts if syntax is None else [None if t is None else syntax.translate(t) for t in texts]
    buf, starts, ends = _encode(read)
    arr = np.frombuffer(buf, np.uint8)  # read-only, also when empty: one numba specialisation
    return ParsedBatch(read, buf, *_scan_arrays(arr, starts, ends, require_answer_tag),
                       parse_key(texts, require_answer_tag, None if syntax is None else syntax.name))


# Several rewards scoring the same batch (as TRL calls them, one after the other) parse it once.
_PARSES: BoundedCache[ParsedBatch] = BoundedCache("parsed batches", 8)


def parse_texts(texts: list[str | None], *, require_answer_tag: bool = True, family: Any = None) -> ParsedBatch:
    """Parse already extracted texts (None for a non-text completion), reusing a recent identical batch.

    ``family``: the model family whose native syntax the texts are in (a family name, ``model_type``, Hub id, ...).
    """
    texts = list(texts)
    syntax = translator(family)
    key = parse_key(texts, require_answer_tag, None if syntax is None else syntax.name)
    return _PARSES.get_or_compute(key, lambda: _scan(texts, require_answer_tag, syntax))


def parse_completions(completions: Sequence[Any], *, require_answer_tag: bool = True,
                      family: Any = None) -> ParsedBatch:
    """Parse a batch of completions (strings or TRL conversational messages).

    With ``require_answer_tag`` False, a completion without ``<answer>`` is read whole (after ``</think>``
    when there is one), for models that answer without tags. ``family`` as in :func:`parse_texts`.
    """
    return parse_texts(completion_texts(completions), require_answer_tag=require_answer_tag, family=family)


def parse_completion(completion: Any, *, require_answer_tag: bool = True, family: Any = None) -> ParsedCompletion:
    """Parse one completion; see :func:`parse_completions`."""
    return parse_completions([completion], require_answer_tag=require_answer_tag, family=family)[0]
