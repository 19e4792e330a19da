"""Progress of long stages (warm-up, GRPO, generation): a tqdm bar on standard error when it is a terminal, else
one line per tenth of the stage (logs stay readable, free of carriage returns)."""

from __future__ import annotations

import sys
from typing import Any, TextIO

LINES = 10  # lines a stage prints without a terminal


class LineProgress:
    """A progress bar's interface that prints ``desc: done/total  postfix`` to ``file`` (default: standard error)
    each time another tenth is done; :meth:`write` prints a message to standard output, as ``tqdm.write``."""

    def __init__(self, total: int, desc: str, file: TextIO | None = None):
        self.total = total
        self.desc = desc
        self.file = file
        self.n = 0
        self.postfix = ""
        self._next = self._step()

    def _step(self) -> int:
        return max(1, -(-self.total // LINES))

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.n >= self._next or self.n == self.total:
            print(f"{self.desc}: {self.n}/{self.total}  {self.postfix}".rstrip(), file=self.file or sys.stderr,
                  flush=True)
            self._next = (self.n // self._step() + 1) * self._step()

    def set_postfix_str(self, text: str) -> None:
        self.postfix = text

    def write(self, text: str) -> None:
        print(text, flush=True)

    def close(self) -> None:
        pass


class SilentBar(LineProgress):
    """Nothing printed but :meth:`write`."""

    def update(self, n: int = 1) -> None:
        self.n += n


def progress_bar(total: int, desc: str, unit: str = " steps", enabled: bool | None = True) -> Any:
    """A tqdm bar of ``total`` on standard error when it is a terminal, else :class:`LineProgress`;
    ``enabled=False``: :class:`SilentBar`."""
    if not enabled:
        return SilentBar(total, desc)
    if sys.stderr.isatty():
        try:
            from tqdm import tqdm

            return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True)
        except ImportError:
            pass
    return LineProgress(total, desc)
