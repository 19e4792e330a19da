"""The evaluation report: ``report.md`` and a self-contained ``report.html`` of a ``vreward score`` run.

Both hold the summary (counts, parse outcomes, reward means, the task's metrics), one histogram per reward,
the task's figures and a gallery of the worst-scored samples. Model text is hostile input: it is escaped
everywhere (HTML entities in the HTML, code fences longer than any backtick run in the Markdown) and
truncated. Every file is written atomically (:func:`vreward.atomic.write_atomic`).

matplotlib (Agg, no pyplot state) and pillow are imported only when a plot or an image is made.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from vreward.atomic import write_atomic
from vreward.evaluate.base import Figure, Sample

MAX_COMPLETION_CHARS = 2000  # completion text shown per gallery sample
MAX_TABLE_ROWS = 50  # rows of a list-of-records table (e.g. per-class accuracy) shown in the report
GALLERY_WIDTH = 512  # gallery images are resized to at most this width (and 4x that height)
PREDICTED_COLOR = (230, 25, 25)
TRUTH_COLOR = (20, 180, 40)


# --------------------------------------------------------------------------------------------- figure helpers


def new_figure(width: float = 6.4, height: float = 4.0):
    """A matplotlib figure on an Agg canvas (no pyplot global state, safe in threads)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Any, path: Path, dpi: int = 100) -> bytes:
    """Render a matplotlib figure to PNG and write it atomically at ``path``; returns the PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    data = buf.getvalue()
    write_atomic(path, data)
    return data


def safe_name(name: str) -> str:
    """A file-name-safe form of ``name`` (letters, digits, ``_``, ``-``, ``.``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "unnamed"


# --------------------------------------------------------------------------------------------- text helpers


def printable(text: str) -> str:
    """``text`` with control and other non-printable characters written as escapes (terminal-safe).

    Newlines and tabs are kept only by :func:`clean_text`; this is for one-line cells.
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def clean_text(text: str) -> str:
    """Multi-line text safe to embed: other control characters escaped, lone surrogates replaced."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    out = []
    for c in text:
        if c in "\n\t" or c.isprintable() or unicodedata.category(c) in ("Zs",):
            out.append(c)
        else:
            out.append(c.encode("unicode_escape").decode("ascii"))
    return "".join(out)


def truncate(text: str, limit: int = MAX_COMPLETION_CHARS) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n… ({len(text) - limit} more characters)"


def format_value(value: Any) -> str:
    """One table cell: floats with 4 decimals, None as '-', everything else as text (made printable)."""
    if value is None:
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return f"{v:.4f}" if math.isfinite(v) else str(v)
    if isinstance(value, Mapping):
        return ", ".join(f"{format_value(k)}: {format_value(v)}" for k, v in value.items()) or "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(v) for v in value) or "-"
    return printable(str(value))


def format_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> list[str]:
    """Lines of an aligned plain-text table (numbers right-aligned, text left-aligned, cells printable)."""
    cells = [[format_value(h) for h in headers]] + [[format_value(v) for v in row] for row in rows]
    ncol = max(len(r) for r in cells)
    cells = [r + [""] * (ncol - len(r)) for r in cells]
    numeric = [all(_is_number(row[j]) for row in rows if j < len(row)) and len(rows) > 0 for j in range(ncol)]
    widths = [max(len(r[j]) for r in cells) for j in range(ncol)]

    def line(r: list[str]) -> str:
        parts = [r[j].rjust(widths[j]) if numeric[j] else r[j].ljust(widths[j]) for j in range(ncol)]
        return "  ".join(parts).rstrip()

    return [line(cells[0]), "  ".join("-" * w for w in widths)] + [line(r) for r in cells[1:]]


def _is_number(v: Any) -> bool:
    return v is None or (isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool))


# ------------------------------------------------------------------------------------------ report content


@dataclass
class _Table:
    headers: list[str]
    rows: list[list[Any]]
    note: str = ""


@dataclass
class _Image:
    title: str
    file: Path  # under out_dir
    data: bytes
    caption: str = ""


@dataclass
class _SampleBlock:
    index: int
    sample: Sample
    image: _Image | None
    image_note: str = ""


@dataclass
class _Section:
    title: str
    blocks: list[Any] = field(default_factory=list)  # str (a paragraph), _Table, _Image, _SampleBlock


_KNOWN = ("parse", "rewards", "metrics")


def _summary_sections(summary: Mapping[str, Any]) -> list[_Section]:
    sections = []
    overview = [[k, v] for k, v in summary.items() if _scalar(v)]
    sections.append(_Section("Overview", [_Table(["field", "value"], overview)] if overview else []))
    records = summary.get("records")
    parse = summary.get("parse")
    if isinstance(parse, Mapping) and parse:
        total = records if isinstance(records, (int, np.integer)) and records > 0 else sum(parse.values())
        rows = [[k, v, (v / total if total else None)] for k, v in parse.items()]
        sections.append(_Section("Parse outcomes", [_Table(["reason", "count", "fraction"], rows)]))
    rewards = summary.get("rewards")
    if isinstance(rewards, Mapping) and rewards:
        keys: list[str] = []
        for r in rewards.values():
            if isinstance(r, Mapping):
                keys += [k for k in r if k not in keys]
        rows = [[name] + [r.get(k) if isinstance(r, Mapping) else None for k in keys]
                for name, r in rewards.items()]
        sections.append(_Section("Rewards", [_Table(["reward", *keys], rows)]))
    metrics = summary.get("metrics")
    if isinstance(metrics, Mapping):
        sections.append(_Section("Task metrics", _metric_blocks(metrics)))
    for key, value in summary.items():
        if key in _KNOWN or _scalar(value) or not value:
            continue
        if isinstance(value, Mapping):
            sections.append(_Section(str(key), _metric_blocks(value)))
        elif isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
            sections.append(_Section(str(key), _metric_blocks({str(key): value})))
    return sections


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, int, float, bool, np.generic))


def _metric_blocks(metrics: Mapping[str, Any]) -> list[Any]:
    """A metrics dict as tables: scalars (nested dicts flattened to dotted names), then record lists."""
    flat: list[list[Any]] = []
    lists: list[tuple[str, list]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            if not value:
                flat.append([prefix, "-"])
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(value, (list, tuple)) and value and all(isinstance(x, Mapping) for x in value):
            lists.append((prefix, list(value)))
        else:
            flat.append([prefix, value])

    walk("", metrics)
    blocks: list[Any] = []
    if flat:
        blocks.append(_Table(["metric", "value"], flat))
    for name, items in lists:
        headers: list[str] = []
        for x in items:
            headers += [str(k) for k in x if str(k) not in headers]
        shown = items[:MAX_TABLE_ROWS]
        note = f"{name} (first {len(shown)} of {len(items)})" if len(items) > len(shown) else name
        blocks.append(_Table(headers, [[x.get(h) for h in headers] for x in shown], note))
    return blocks


def _reward_histograms(out_dir: Path, reward_scores: Mapping[str, Any]) -> list[_Image]:
    images = []
    for name, scores in reward_scores.items():
        values = np.asarray(scores, dtype=float).ravel()
        values = values[np.isfinite(values)]
        fig = new_figure(5.5, 3.4)
        ax = fig.subplots()
        if values.size:
            lo, hi = min(0.0, float(values.min())), max(1.0, float(values.max()))
            ax.hist(values, bins=40, range=(lo, hi), color="#4c72b0")
            ax.set_title(f"{name}: mean {values.mean():.4f}, n={values.size}")
        else:
            ax.set_title(f"{name}: no scores")
        ax.set_xlabel("score")
        ax.set_ylabel("completions")
        path = out_dir / f"reward_{safe_name(name)}.png"
        data = save_figure(fig, path)
        images.append(_Image(f"{name}", path, data, f"Distribution of {name} over all completions."))
    return images


def _task_figures(figures: Sequence[Figure]) -> tuple[list[_Image], list[str]]:
    images, notes = [], []
    for f in figures:
        try:
            data = Path(f.path).read_bytes()
        except OSError as exc:
            notes.append(f"figure {f.title!r} could not be read: {exc}")
            continue
        images.append(_Image(f.title, Path(f.path), data, f.caption))
    return images, notes


def draw_sample(sample: Sample, path: Path, max_width: int = GALLERY_WIDTH) -> bytes | None:
    """Draw the sample's image with predicted (red) and true (green) boxes, at most ``max_width`` wide.

    Returns the PNG bytes (also written at ``path``), or None when the sample has no readable image.
    """
    return draw_boxes(sample.image_path, [(sample.truth, TRUTH_COLOR), (sample.predicted, PREDICTED_COLOR)], path,
                      max_width)


def draw_boxes(image_path: str | None, layers: Sequence[tuple[Sequence[Sequence[float]], tuple[int, int, int]]],
               path: Path, max_width: int = GALLERY_WIDTH) -> bytes | None:
    """Draw the image at ``image_path`` with each layer's boxes (image pixels) in its colour, layers in order, at
    most ``max_width`` wide. Returns the PNG bytes (also written at ``path``), or None when the image is missing
    or unreadable. Boxes that are not four finite numbers are skipped."""
    if not image_path or not os.path.isfile(image_path):
        return None
    from PIL import Image, ImageDraw

    try:
        with Image.open(image_path) as im:
            width, height = im.size
            im.thumbnail((max_width, 4 * max_width))
            im = im.convert("RGB")
    except Exception:  # unreadable, truncated or decompression-bomb images are skipped, never fatal
        return None
    sx, sy = im.width / width, im.height / height
    draw = ImageDraw.Draw(im)
    line = max(2, round(im.width / 200))
    for boxes, color in layers:
        for box in boxes:
            try:
                x1, y1, x2, y2 = (float(v) for v in box)
            except (TypeError, ValueError):
                continue
            if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
                continue
            x1, x2 = sorted((x1 * sx, x2 * sx))
            y1, y2 = sorted((y1 * sy, y2 * sy))
            # clamp to a little beyond the image so PIL never sees huge numbers
            x1, x2 = (min(max(v, -10.0), im.width + 10.0) for v in (x1, x2))
            y1, y2 = (min(max(v, -10.0), im.height + 10.0) for v in (y1, y2))
            draw.rectangle((x1, y1, x2, y2), outline=color, width=line)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    data = buf.getvalue()
    write_atomic(path, data)
    return data


def _gallery(out_dir: Path, samples: Sequence[Sample]) -> list[_SampleBlock]:
    blocks = []
    for k, s in enumerate(samples):
        image = None
        note = ""
        if s.image_path:
            path = out_dir / "gallery" / f"sample_{k:03d}_line{int(s.line)}.png"
            data = draw_sample(s, path)
            if data is not None:
                image = _Image(f"line {s.line}", path, data)
            else:
                note = "image not found or not readable"
        blocks.append(_SampleBlock(k, s, image, note))
    return blocks


# --------------------------------------------------------------------------------------------- rendering


def _md_cell(value: Any) -> str:
    text = format_value(value)
    text = html.escape(text, quote=False).replace("|", "\\|").replace("`", "\\`")
    return text.replace("*", "\\*").replace("_", "\\_").replace("[", "\\[").replace("]", "\\]")


def _md_text(text: str) -> str:
    return _md_cell(text.replace("\n", " "))


def _md_table(t: _Table) -> list[str]:
    lines = [f"*{_md_text(t.note)}*", ""] if t.note else []
    if not t.rows:
        return lines + ["(none)", ""]
    lines.append("| " + " | ".join(_md_cell(h) for h in t.headers) + " |")
    lines.append("|" + "|".join("---" for _ in t.headers) + "|")
    lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in t.rows]
    return lines + [""]


def _md_link(path: Path, out_dir: Path) -> str:
    try:
        rel = Path(os.path.relpath(path, out_dir)).as_posix()
    except ValueError:  # another drive (Windows)
        rel = Path(path).as_posix()
    return quote(rel, safe="/._-")


def _md_fence(text: str) -> list[str]:
    run = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, run + 1)
    return [f"{fence}text", text, fence]


def _render_md(title: str, sections: list[_Section], out_dir: Path) -> str:
    lines = [f"# {_md_text(title)}", ""]
    for sec in sections:
        lines += [f"## {_md_text(sec.title)}", ""]
        for b in sec.blocks:
            if isinstance(b, str):
                lines += [_md_text(b), ""]
            elif isinstance(b, _Table):
                lines += _md_table(b)
            elif isinstance(b, _Image):
                lines += [f"### {_md_text(b.title)}", "", f"![{_md_text(b.title)}]({_md_link(b.file, out_dir)})", ""]
                if b.caption:
                    lines += [_md_text(b.caption), ""]
            elif isinstance(b, _SampleBlock):
                s = b.sample
                head = f"### {b.index + 1}. line {s.line}: score {format_value(s.score)}"
                head += f" ({_md_text(s.reason)})" if s.reason else ""
                lines += [head, ""]
                if s.label:
                    lines += [f"label: {_md_text(s.label)}", ""]
                if b.image is not None:
                    lines += [f"![line {s.line}]({_md_link(b.image.file, out_dir)})", "",
                              "red: predicted, green: ground truth", ""]
                elif b.image_note:
                    lines += [f"({_md_text(b.image_note)})", ""]
                lines += _md_fence(truncate(clean_text(s.completion))) + [""]
    return "\n".join(lines).rstrip() + "\n"


def _h(value: Any) -> str:
    return html.escape(format_value(value), quote=True)


def _html_table(t: _Table) -> str:
    note = f"<p class='note'>{html.escape(t.note)}</p>" if t.note else ""
    if not t.rows:
        return note + "<p>(none)</p>"
    head = "".join(f"<th>{_h(h)}</th>" for h in t.headers)
    body = "".join("<tr>" + "".join(f"<td>{_h(v)}</td>" for v in row) + "</tr>" for row in t.rows)
    return f"{note}<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html_img(img: _Image, alt: str) -> str:
    data = base64.b64encode(img.data).decode("ascii")
    return f"<img alt='{html.escape(alt, quote=True)}' src='data:image/png;base64,{data}'>"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f3f3f3}pre{background:#f7f7f7;border:1px solid #ddd;padding:8px;white-space:pre-wrap;
word-break:break-word;max-height:24em;overflow:auto}img{max-width:100%}.note{color:#666;font-style:italic}
.sample{border-top:1px solid #ddd;padding-top:.5em;margin-top:1em}figure{margin:1em 0}
"""


def _render_html(title: str, sections: list[_Section]) -> str:
    t = html.escape(title, quote=True)
    parts = ["<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
             "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src data:; "
             "style-src 'unsafe-inline'\">",
             f"<title>{t}</title><style>{_CSS}</style></head><body>", f"<h1>{t}</h1>"]
    for sec in sections:
        parts.append(f"<h2>{html.escape(sec.title)}</h2>")
        for b in sec.blocks:
            if isinstance(b, str):
                parts.append(f"<p>{html.escape(b)}</p>")
            elif isinstance(b, _Table):
                parts.append(_html_table(b))
            elif isinstance(b, _Image):
                cap = f"<figcaption>{html.escape(b.caption)}</figcaption>" if b.caption else ""
                parts.append(f"<figure><h3>{html.escape(b.title)}</h3>{_html_img(b, b.title)}{cap}</figure>")
            elif isinstance(b, _SampleBlock):
                s = b.sample
                reason = f" ({html.escape(s.reason)})" if s.reason else ""
                parts.append(f"<div class='sample'><h3>{b.index + 1}. line {_h(s.line)}: score {_h(s.score)}"
                             f"{reason}</h3>")
                if s.label:
                    parts.append(f"<p>label: {html.escape(s.label)}</p>")
                if b.image is not None:
                    parts.append(_html_img(b.image, f"line {s.line}"))
                    parts.append("<p class='note'>red: predicted, green: ground truth</p>")
                elif b.image_note:
                    parts.append(f"<p class='note'>{html.escape(b.image_note)}</p>")
                parts.append(f"<pre>{html.escape(truncate(clean_text(s.completion)), quote=True)}</pre></div>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(out_dir: Path, summary: dict, figures: list[Figure], reward_scores: dict[str, np.ndarray],
                 samples: list[Sample], title: str) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` (plus the PNGs the Markdown links to) under ``out_dir``.

    ``summary``: the run's summary; the keys ``records``, ``parse`` (reason -> count), ``rewards`` (name ->
    {mean, zero_reasons, ...}) and ``metrics`` (the task's ``finalize()``) get their own sections, other
    scalars go to the overview, other dicts to sections of their own. ``figures``: the task's plots (PNG
    files). ``reward_scores``: every completion's score per reward (one histogram each). ``samples``: the
    gallery, in the order given (worst first), boxes in image pixels. Returns (markdown path, html path).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sections = _summary_sections(summary)
    if reward_scores:
        sections.append(_Section("Reward distributions", list(_reward_histograms(out_dir, reward_scores))))
    task_images, notes = _task_figures(figures)
    if task_images or notes:
        sections.append(_Section("Task figures", [*task_images, *notes]))
    if samples:
        intro = (f"The {len(samples)} worst-scored samples; completions are shown as plain text, truncated to "
                 f"{MAX_COMPLETION_CHARS} characters.")
        sections.append(_Section("Worst-scored samples", [intro, *_gallery(out_dir, samples)]))
    md_path = write_atomic(out_dir / "report.md", _render_md(title, sections, out_dir))
    html_path = write_atomic(out_dir / "report.html", _render_html(title, sections))
    return md_path, html_path
