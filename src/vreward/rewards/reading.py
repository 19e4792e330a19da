"""Reading numbers out of answer text for the rewards whose answers the box scanner does not keep (counts, time
intervals, polygons, rotated boxes). Model text is hostile: every pattern here is linear (no nested
repetition), and every reader stops after a bounded number of items.

Each rule is written once, as a regex read by Python (:func:`numbers`, :func:`times`, :func:`number_groups`);
:func:`read_values` reads a whole batch with the scanner's fast path of the rule (``vreward._scan``,
``scan_values_into``), which hands to the regex every text it cannot read exactly as the regex does (text that is
not ASCII, a place where the regex would backtrack, an inexact number), so both always agree.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from vreward.parsing import RowItems, TextSpans, resumed_scan

NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?(?![\w.])")
# A bracketed group holding nothing but numbers and separators: [1, 2, 3] or (1, 2, 3).
GROUP = re.compile(r"[\[(]([-+0-9.eE,\s]*)[\])]")
# A time: seconds (12.5, 12.5s, 12 seconds) or a clock time (01:02 is 62 s, 1:02:03.5).
TIME = re.compile(r"(?<![\w.:])(\d{1,9}(?::\d{1,2}){0,2}(?:\.\d{1,9})?)(?:\s?(?:s|sec|secs|seconds)\b)?(?![\w:])")
MAX_ITEMS = 4096  # numbers / groups read from one answer; the rest is ignored


def numbers(text: str, limit: int = MAX_ITEMS) -> list[float]:
    """The finite numbers of ``text`` in order (at most ``limit``), read as Python reads them."""
    out = []
    for match in NUMBER.finditer(text):
        value = float(match.group())
        if math.isfinite(value):
            out.append(value)
            if len(out) >= limit:
                break
    return out


def number_groups(text: str, limit: int = MAX_ITEMS) -> list[list[float]]:
    """The innermost bracketed groups of numbers of ``text`` (``[1, 2, 3]``, ``(4, 5)``), each as its numbers
    (a group with a non-finite number is left out); at most ``limit`` groups."""
    out = []
    for match in GROUP.finditer(text):
        body = match.group(1)
        values = numbers(body)
        if values and len(values) == len(NUMBER.findall(body)):
            out.append(values)
            if len(out) >= limit:
                break
    return out


def times(text: str, limit: int = MAX_ITEMS) -> list[float]:
    """The times of ``text`` in seconds, in order (at most ``limit``): ``12.5`` (``12.5s``, ``12.5 seconds``),
    ``m:ss`` and ``h:mm:ss`` (``01:02`` is 62)."""
    out = []
    for match in TIME.finditer(text):
        seconds = 0.0
        for part in match.group(1).split(":"):
            seconds = seconds * 60.0 + float(part)
        out.append(seconds)
        if len(out) >= limit:
            break
    return out


Items = list[list[float]]  # what a text holds: its items, each a list of numbers (one number for numbers, times)


@dataclass(frozen=True)
class Values:
    """What a reader read from each text of a batch: text ``i`` owns ``values[offsets[i]:offsets[i + 1]]``;
    ``first`` marks the first number of each item (every number but for groups)."""

    values: np.ndarray
    offsets: np.ndarray
    first: np.ndarray

    @classmethod
    def of(cls, rows: Sequence[Items]) -> Values:
        """The values of texts holding ``rows``' items."""
        empty = cls(np.zeros(0), np.zeros(len(rows) + 1, np.int64), np.zeros(0, bool))
        return empty.replaced(dict(enumerate(rows)))

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)

    def row(self, i: int) -> list[float]:
        return self.values[self.offsets[i]:self.offsets[i + 1]].tolist()

    def items(self, i: int) -> Items:
        """Text ``i``'s items (its groups, for :func:`number_groups`)."""
        lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
        cuts = np.flatnonzero(self.first[lo:hi]).tolist() + [hi - lo]
        values = self.values[lo:hi].tolist()
        return [values[a:b] for a, b in zip(cuts, cuts[1:])]

    def replaced(self, rows: Mapping[int, Items]) -> Values:
        """These values with the rows of ``rows`` (empty here) holding its items."""
        values, first = [], []
        at = 0
        for i in sorted(rows):
            cut = int(self.offsets[i])
            flat = [v for item in rows[i] for v in item]
            values += [self.values[at:cut], np.asarray(flat, np.float64)]
            first += [self.first[at:cut], np.asarray([k == 0 for item in rows[i] for k in range(len(item))], bool)]
            at = cut
        values.append(self.values[at:])
        first.append(self.first[at:])
        counts = self.counts
        counts[list(rows)] = [sum(map(len, items)) for items in rows.values()]
        offsets = np.zeros(len(counts) + 1, np.int64)
        np.cumsum(counts, out=offsets[1:])
        return Values(np.concatenate(values), offsets, np.concatenate(first))


# The Python rule of each name read_values takes, giving a text's items.
_PYTHON_RULES: dict[str, Callable[[str, int], Items]] = {
    "numbers": lambda text, limit: [[v] for v in numbers(text, limit)],
    "times": lambda text, limit: [[v] for v in times(text, limit)],
    "groups": number_groups,
}


def read_values(spans: TextSpans, rule: str, limit: int = MAX_ITEMS) -> Values:
    """``numbers``, ``times`` or ``number_groups`` (``rule``: "numbers", "times", "groups") of every text of a
    batch, at most ``limit`` items a text: one scan of the batch, the Python rule for the texts it hands over."""
    from vreward import _scan

    kind = {"numbers": _scan.VALUES_NUMBERS, "times": _scan.VALUES_TIMES, "groups": _scan.VALUES_GROUPS}[rule]
    arr = np.frombuffer(spans.buf, np.uint8)
    n = len(spans)
    found = resumed_scan(
        lambda row, out: _scan.scan_values_into(arr, spans.starts, spans.ends, kind, limit, row, out.offsets,
                                                out.flags, *out.items),
        RowItems.allocate(n, max(16, 4 * n), ((), np.float64), ((), np.bool_)), lambda out: out.offsets,
        "value scanner")
    total = int(found.offsets[n])
    values, first = (a[:total] for a in found.items)
    read = Values(values, found.offsets, first)
    handed = np.flatnonzero(found.flags).tolist()  # the rows the scan hands to the Python rule
    if not handed:
        return read
    python_rule = _PYTHON_RULES[rule]
    return read.replaced({i: python_rule(spans.text(i) or "", limit) for i in handed})
