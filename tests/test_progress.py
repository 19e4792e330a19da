"""Progress bars show on a terminal only, and never need tqdm."""

from __future__ import annotations

import io
import sys

import pytest

from vreward.progress import progress_bar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_silent_unless_enabled_on_a_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    bar = progress_bar(True, desc="x", unit=" rows")
    bar.update(3)
    bar.close()
    assert sys.stderr.getvalue() == ""
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert type(progress_bar(False, desc="x", unit=" rows")) is type(bar)


def test_tqdm_on_a_terminal(monkeypatch):
    tqdm = pytest.importorskip("tqdm")
    monkeypatch.setattr(sys, "stderr", _Terminal())
    bar = progress_bar(True, desc="scoring", unit=" records", total=10)
    assert isinstance(bar, tqdm.tqdm)
    bar.update(10)
    bar.close()
    assert "scoring" in sys.stderr.getvalue()


def test_silent_without_tqdm(monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Terminal())
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm raises ImportError
    bar = progress_bar(True, desc="x", unit=" rows")
    bar.update(1)
    bar.close()
    assert sys.stderr.getvalue() == ""
