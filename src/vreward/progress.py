"""Progress bars: tqdm on a terminal; otherwise silence, or with ``lines`` one line per tenth of the total (logs
stay readable, free of carriage returns).

Every long stage uses :func:`progress_bar`: ``vreward score`` and ``vreward-train generate`` (a bar on a
terminal, nothing in logs), the supervised warm-up and GRPO of ``vreward-train`` (``lines=True``: a log shows
how far they are).
"""

from __future__ import annotations

import sys
from typing import Protocol, TextIO

LINES = 10  # lines a stage prints without a terminal, with lines=True


class Progress(Protocol):
    """What the callers use of a tqdm bar."""

    n: int

    def update(self, n: int) -> None: ...

    def set_postfix_str(self, text: str) -> None: ...

    def write(self, text: str) -> None: ...

    def close(self) -> None: ...


class _Silent:
    """Shows no progress; :meth:`write` still prints its message to standard output, as ``tqdm.write``."""

    def __init__(self) -> None:
        self.n = 0

    def update(self, n: int) -> None:
        self.n += n

    def set_postfix_str(self, text: str) -> None:
        pass

    def write(self, text: str) -> None:
        print(text, flush=True)

    def close(self) -> None:
        pass


class LineProgress(_Silent):
    """Prints ``desc: done/total  postfix`` to ``file`` (default: standard error) each time another tenth of
    ``total`` is done, and when the last is."""

    def __init__(self, total: int, desc: str, file: TextIO | None = None):
        super().__init__()
        self.total = total
        self.desc = desc
        self.file = file
        self.postfix = ""
        self._step = max(1, -(-total // LINES))
        self._next = self._step

    def update(self, n: int) -> None:
        self.n += n
        if self.n >= self._next or self.n == self.total:
            print(f"{self.desc}: {self.n}/{self.total}  {self.postfix}".rstrip(), file=self.file or sys.stderr,
                  flush=True)
            self._next = (self.n // self._step + 1) * self._step

    def set_postfix_str(self, text: str) -> None:
        self.postfix = text


def progress_bar(enabled: bool, *, desc: str, unit: str, total: int | None = None,
                 lines: bool = False) -> Progress:
    """A tqdm bar on stderr when ``enabled``, stderr is a terminal and tqdm is installed. Otherwise one that
    shows nothing, or with ``lines`` (and a ``total``, ``enabled``) a :class:`LineProgress`."""
    if not enabled:
        return _Silent()
    if sys.stderr.isatty():
        try:
            from tqdm import tqdm
        except ImportError:
            pass
        else:
            return tqdm(total=total, unit=unit, desc=desc, file=sys.stderr, dynamic_ncols=True)
    return LineProgress(total, desc) if lines and total is not None else _Silent()
