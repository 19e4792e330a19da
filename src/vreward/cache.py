"""The one kind of cache on the scoring path: small, bounded, keyed by content, safe under threads.

TRL calls a task's rewards one after another on the same batch, so the IoU, confidence and format rewards of a
step share one parse, one ground-truth parse and one matching through these caches. Keys are the batch's
content (texts, settings, image sizes), never object identities, so a hit is always the result the call would
compute; values are immutable. :func:`clear_caches` empties them all.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")
_MISSING = object()
_ALL: list[BoundedCache] = []


class ContentKey:
    """A hashable key made of a batch's content (its texts and options), hashed once.

    Keys of larger keys (a matching is keyed by the keys of its parse and ground truth) then cost nothing to
    hash again; equality compares the content itself.
    """

    __slots__ = ("_hash", "parts")

    def __init__(self, *parts: Hashable):
        self.parts = parts
        self._hash = hash(parts)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return self is other or (isinstance(other, ContentKey) and self._hash == other._hash
                                 and self.parts == other.parts)

    def __repr__(self) -> str:
        return f"ContentKey(<{len(self.parts)} parts>, hash={self._hash})"


class BoundedCache(Generic[V]):
    """An LRU map of at most ``size`` content keys to computed values; every operation holds a lock.

    The value is computed outside the lock: two threads missing the same key at once both compute it (the
    results are equal) and the later one is kept.
    """

    def __init__(self, name: str, size: int):
        if size < 1:
            raise ValueError(f"cache size must be positive, got {size}")
        self.name = name
        self.size = size
        self._items: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()
        _ALL.append(self)

    def __repr__(self) -> str:
        return f"BoundedCache({self.name!r}, size={self.size}, items={len(self._items)})"

    def __len__(self) -> int:
        return len(self._items)

    def get_or_compute(self, key: Hashable, compute: Callable[[], V]) -> V:
        """The value cached under ``key``, else ``compute()`` (then cached)."""
        with self._lock:
            value = self._items.get(key, _MISSING)
            if value is not _MISSING:
                self._items.move_to_end(key)
                return value  # type: ignore[return-value]
        value = compute()
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def clear_caches() -> None:
    """Empty every scoring cache (parses, ground truth, matchings)."""
    for cache in _ALL:
        cache.clear()
