"""Progress bars: tqdm on a terminal, silence otherwise (in logs, pipes, or without tqdm installed)."""

from __future__ import annotations

import sys
from typing import Protocol


class Progress(Protocol):
    """What the callers use of a tqdm bar."""

    def update(self, n: int) -> None: ...

    def close(self) -> None: ...


class _Silent:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(enabled: bool, *, desc: str, unit: str, total: int | None = None) -> Progress:
    """A tqdm bar on stderr when ``enabled``, stderr is a terminal and tqdm is installed; else one that shows
    nothing."""
    if not enabled or not sys.stderr.isatty():
        return _Silent()
    try:
        from tqdm import tqdm
    except ImportError:
        return _Silent()
    return tqdm(total=total, unit=unit, desc=desc, file=sys.stderr)
