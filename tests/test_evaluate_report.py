"""The Markdown/HTML report: contents, escaping of model text, drawn gallery images, atomic writes."""

from __future__ import annotations

import base64
import os
import re

import numpy as np
import pytest

from vreward.atomic import write_atomic
from vreward.evaluate.base import Figure, Sample
from vreward.evaluate.report import format_table, write_report

pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")

HOSTILE = "<think>x</think><answer><script>alert('pwned')</script> <img src=x onerror=alert(1)> ```` | *</answer>"

SUMMARY = {
    "input": "outputs.jsonl",
    "task": "grounding",
    "records": 4,
    "parse": {"ok": 3, "no_answer_tag": 1},
    "rewards": {"giou_reward": {"mean": 0.75, "zero_reasons": {"no_answer_tag": 1}},
                "format_reward": {"mean": 0.5, "zero_reasons": {"format": 2}}},
    "metrics": {"samples": 4, "box": {"acc": {"0.5": 0.5}, "mean_iou": 0.4, "giou": 0.4, "ciou": 0.35},
                "mask": None, "failures": {"no_answer_tag": 1},
                "per_class": [{"class": "<b>cat</b>", "n": 2, "accuracy": 0.5}]},
}


def _png(path, size=(800, 400)):
    Image.new("RGB", size, (255, 255, 255)).save(path)
    return str(path)


def _samples(tmp_path):
    image = _png(tmp_path / "img.png")
    return [
        Sample(line=7, score=0.0, reason="no_overlap", completion=HOSTILE, image_path=image,
               predicted=[[100, 100, 300, 200]], truth=[[400, 40, 700, 360]], label="cat </p><script>"),
        Sample(line=9, score=0.1, reason=None, completion="plain", image_path=str(tmp_path / "missing.png")),
        Sample(line=11, score=0.2, reason=None, completion="x" * 5000),
    ]


def _write(tmp_path, figures=()):
    out = tmp_path / "report"
    scores = {"giou_reward": np.array([0.0, 1.0, 2.0, 0.5]), "format_reward": np.array([0.0, 1.0, 0.0, 1.0])}
    return out, write_report(out, SUMMARY, list(figures), scores, _samples(tmp_path), title="run <script>x</script>")


def test_files_and_contents(tmp_path):
    out, (md, html) = _write(tmp_path)
    assert md == out / "report.md" and html == out / "report.html"
    text = md.read_text()
    for needle in ("## Parse outcomes", "no\\_answer\\_tag", "## Rewards", "giou\\_reward", "0.7500",
                   "box.acc.0.5", "## Reward distributions", "## Worst-scored samples", "line 7", "no\\_overlap"):
        assert needle in text, needle
    assert (out / "reward_giou_reward.png").is_file() and (out / "reward_format_reward.png").is_file()
    assert "](reward_giou_reward.png)" in text
    page = html.read_text()
    assert page.count("data:image/png;base64,") == 3  # two reward histograms, one drawn sample
    assert "(4 more characters)" not in page and "(3000 more characters)" in page  # truncated completion
    assert "image not found or not readable" in page


def test_html_escapes_model_text(tmp_path):
    _, (md, html) = _write(tmp_path)
    page = html.read_text()
    assert "<script" not in page.lower()
    assert "onerror=alert" not in page.replace("&lt;img src=x onerror=alert(1)&gt;", "")
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in page
    assert "&lt;b&gt;cat&lt;/b&gt;" in page  # data in tables too
    assert "run &lt;script&gt;x&lt;/script&gt;" in page  # and the title
    assert "default-src 'none'" in page  # and a content security policy that allows no script at all
    text = md.read_text()
    # in the Markdown the completion sits in a code fence longer than any backtick run it contains
    assert "`````text\n" + HOSTILE + "\n`````" in text
    assert "<script" not in text.replace(HOSTILE, "").lower()


def test_gallery_image_drawn_with_boxes(tmp_path):
    out, (_, html) = _write(tmp_path)
    drawn = sorted((out / "gallery").iterdir())
    assert [p.name for p in drawn] == ["sample_000_line7.png"]
    with Image.open(drawn[0]) as im:
        assert im.size == (512, 256)  # 800x400 resized to 512 wide
        px = im.convert("RGB").load()
        scale = 512 / 800
        red = px[int(200 * scale), int(100 * scale)]  # top edge of the predicted box
        green = px[int(550 * scale), int(40 * scale)]  # top edge of the true box
        white = px[int(200 * scale), int(150 * scale)]  # inside the predicted box
    assert red[0] > 200 and red[1] < 80 and red[2] < 80
    assert green[1] > 150 and green[0] < 80 and green[2] < 100
    assert white == (255, 255, 255)
    # the HTML embeds the same picture
    page = html.read_text()
    data = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    assert drawn[0].read_bytes() in [base64.b64decode(d) for d in data]


def test_task_figures_are_linked_and_embedded(tmp_path):
    fig = tmp_path / "report" / "grounding_iou_hist.png"
    fig.parent.mkdir()
    _png(fig, (20, 10))
    missing = tmp_path / "nope.png"
    out, (md, html) = _write(tmp_path, [Figure("IoU histogram", fig, "per-sample IoU"),
                                        Figure("gone", missing)])
    assert "![IoU histogram](grounding_iou_hist.png)" in md.read_text()
    page = html.read_text()
    assert base64.b64encode(fig.read_bytes()).decode() in page
    assert "could not be read" in page


def test_atomic_writes_leave_no_temporary_files(tmp_path, monkeypatch):
    out, _ = _write(tmp_path)
    leftovers = [p for p in out.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".")]
    assert leftovers == []
    assert (out / "report.html").stat().st_mode & 0o044 == 0o044  # readable by others, unlike mkstemp's 0600
    # a failure while moving the file into place leaves the old file and no temporary file
    target = tmp_path / "a.txt"
    target.write_text("old")

    def broken(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError):
        write_atomic(target, b"new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["a.txt", "img.png"]


def test_unreadable_image_is_skipped(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    s = Sample(line=1, score=0.0, reason=None, completion="c", image_path=str(bad), predicted=[[0, 0, 1, 1]])
    _, html = write_report(tmp_path / "r", {"records": 1}, [], {}, [s], "t")
    assert "image not found or not readable" in html.read_text()


def test_format_table():
    lines = format_table([["cat", 3, 0.5], ["a\x1b[31mred", 12, None]], ["class", "n", "accuracy"])
    assert lines == ["class          n  accuracy",
                     "------------  --  --------",
                     "cat            3    0.5000",
                     "a\\x1b[31mred  12         -"]  # control characters are shown, not sent to the terminal
    assert all("\x1b" not in line for line in lines)


def test_report_bytes_are_valid_utf8_with_surrogates(tmp_path):
    s = Sample(line=1, score=0.0, reason=None, completion="bad \ud800 surrogate \x00 nul")
    md, html = write_report(tmp_path / "r", {"records": 1}, [], {"r": np.zeros(3)}, [s], "t")
    page = html.read_bytes().decode("utf-8")
    assert "\x00" not in page and "\\x00" in page
    assert "surrogate" in md.read_bytes().decode("utf-8")
