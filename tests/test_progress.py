"""Progress bars show on a terminal only (or, with lines=True, as a line per tenth in logs), and never need
tqdm."""

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


def test_lines_mode_prints_a_line_per_tenth_without_a_terminal(monkeypatch, capsys):
    bar = progress_bar(True, desc="warm-up", unit=" steps", total=25, lines=True)
    for step in range(25):
        bar.set_postfix_str(f"loss {step}")
        bar.update(1)
    bar.write("a message")
    bar.close()
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert lines[0] == "warm-up: 3/25  loss 2" and lines[-1] == "warm-up: 25/25  loss 24"
    assert len(lines) == 9 and bar.n == 25  # every third step (a tenth, rounded up), and the last
    assert captured.out == "a message\n"
    # without a total, or disabled, nothing but messages
    for quiet in (progress_bar(True, desc="x", unit=" rows", lines=True),
                  progress_bar(False, desc="x", unit=" rows", total=5, lines=True)):
        quiet.update(5)
        quiet.write("still said")
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == "still said\nstill said\n"


def test_lines_mode_is_a_bar_on_a_terminal(monkeypatch):
    tqdm = pytest.importorskip("tqdm")
    monkeypatch.setattr(sys, "stderr", _Terminal())
    bar = progress_bar(True, desc="GRPO", unit=" steps", total=4, lines=True)
    assert isinstance(bar, tqdm.tqdm)
    bar.set_postfix_str("loss 0.1")
    bar.update(4)
    bar.close()
    assert "GRPO" in sys.stderr.getvalue() and "loss 0.1" in sys.stderr.getvalue()
