"""Reading numbers out of answer text for the rewards whose answers the box scanner does not keep (counts, time
intervals, polygons, rotated boxes). Model text is hostile: every pattern here is linear (no nested
repetition), and every reader stops after a bounded number of items."""

from __future__ import annotations

import math
import re

NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?(?![\w.])")
# A bracketed group holding nothing but numbers and separators: [1, 2, 3] or (1, 2, 3).
GROUP = re.compile(r"[\[(]([-+0-9.eE,\s]*)[\])]")
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
