"""The training report of a run: curves from the trainer's logs and a gallery of held-out predictions.

:func:`write_training_report` reads ``output_dir/log.jsonl`` (every entry TRL logged, plus the held-out
evaluations) and the held-out completions in ``output_dir/eval/``, and writes ``report.html`` (self-contained)
with one PNG per panel beside it:

* ``rewards.png``: each reward's mean over the step's sampled completions;
* ``zero_reasons.png``: per reward, the share of completions that scored zero for a reason;
* ``kl.png``: the KL to the reference model (TRL logs it only with ``grpo.beta`` > 0);
* ``completion_length.png``: mean, min and max completion length;
* ``heldout.png``: the held-out rewards, AP and AP50 at every evaluation;
* ``gallery/``: held-out images with the true boxes (green) and the predictions of the first (orange) and the
  last (blue) evaluation, and the table of held-out metrics before and after training.

Model text is escaped and truncated (``vreward.evaluate.report`` helpers); files are written atomically
(:mod:`vreward.atomic`).
Requires matplotlib and pillow (the ``eval`` extra).
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vreward.atomic import write_atomic
from vreward.evaluate.report import (
    TRUTH_COLOR,
    clean_text,
    draw_boxes,
    format_value,
    new_figure,
    save_figure,
    truncate,
)

LOG_FILE = "log.jsonl"
BEFORE_COLOR = (240, 150, 20)
AFTER_COLOR = (30, 90, 230)
GALLERY_SIZE = 8
GALLERY_WIDTH = 280
MAX_TEXT = 400  # characters of a completion shown in the gallery


@dataclass(frozen=True)
class Panel:
    """One figure of curves: the log keys it plots (``keys``) from the training or the evaluation entries."""

    name: str
    title: str
    ylabel: str
    keys: Callable[[str], bool]
    source: str = "train"  # "train": the entries with a loss; "eval": the held-out evaluations
    missing: str = "not logged"


PANELS = (
    Panel("rewards", "Reward means over the sampled completions", "mean reward",
          lambda k: k.startswith("rewards/") and k.endswith("/mean")),
    Panel("zero_reasons", "Share of sampled completions that scored zero, with a reason", "share",
          lambda k: k.endswith("/zero_reasons_frac")),
    Panel("kl", "KL to the reference model", "KL", lambda k: k == "kl",
          missing="not logged: TRL computes the KL only with grpo.beta > 0 (a reference model)"),
    Panel("completion_length", "Completion length", "tokens",
          lambda k: k in ("completions/mean_length", "completions/min_length", "completions/max_length")),
    Panel("heldout", "Held-out evaluation (greedy)", "score",
          lambda k: k.startswith("eval/") and (k.endswith("/mean") or k in ("eval/ap", "eval/ap50")), "eval",
          missing="no held-out evaluation: set eval.every_steps"),
)


def read_log(run_dir: Path) -> list[dict[str, Any]]:
    """The entries of ``run_dir/log.jsonl`` ([] when there is none)."""
    path = Path(run_dir) / LOG_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def training_entries(log: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [e for e in log if "loss" in e]


def eval_entries(log: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [e for e in log if any(k.startswith("eval/") for k in e)]


def series(entries: Sequence[Mapping[str, Any]], key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of ``key`` over ``entries``, skipping entries without a number for it."""
    points = [(int(e["step"]), float(e[key])) for e in entries if isinstance(e.get(key), (int, float))]
    return [s for s, _ in points], [v for _, v in points]


def before_after(log: Sequence[Mapping[str, Any]]) -> list[tuple[str, float | None, float | None]]:
    """(metric, first evaluation, last evaluation) for every held-out metric ([] with fewer than 2 evaluations)."""
    evals = eval_entries(log)
    if len(evals) < 2:
        return []
    first, last = evals[0], evals[-1]
    keys = [k for k in first if k.startswith("eval/")]
    return [(k.removeprefix("eval/"), first.get(k), last.get(k)) for k in keys]


# --------------------------------------------------------------------------------------------------- figures


def _plot(panel: Panel, entries: Sequence[Mapping[str, Any]], out_dir: Path) -> tuple[Path, bytes] | None:
    keys = sorted({k for e in entries for k in e if panel.keys(k)})
    lines = [(k, *series(entries, k)) for k in keys]
    lines = [line for line in lines if line[1]]
    if not lines:
        return None
    fig = new_figure(6.4, 3.6)
    ax = fig.subplots()
    for key, steps, values in lines:
        ax.plot(steps, values, marker="o" if len(steps) < 30 else None, markersize=3, label=key)
    ax.set_title(panel.title)
    ax.set_xlabel("step")
    ax.set_ylabel(panel.ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    path = out_dir / f"{panel.name}.png"
    return path, save_figure(fig, path)


# --------------------------------------------------------------------------------------------------- gallery


@dataclass(frozen=True)
class GalleryItem:
    """A held-out row drawn with its true boxes and the first and last evaluation's predictions."""

    label: str
    image: bytes | None
    before: str
    after: str
    before_score: float
    after_score: float


def gallery(before: Path, after: Path, frames: Mapping[str, Any], out_dir: Path,
            limit: int = GALLERY_SIZE) -> list[GalleryItem]:
    """The first ``limit`` held-out rows of two evaluations (completions files), drawn under ``out_dir``.

    ``frames``: the box rewards' frame options (``family``, ``coords``, ``solution_coords``, ``min_pixels``,
    ``max_pixels``: :func:`vreward_train.train.reward_frames`); the completions are read in the family's syntax,
    and each row shows its IoU reward in both evaluations.
    """
    from vreward.frames import to_pixels
    from vreward.parsing import parse_completions
    from vreward.registry import build_reward
    from vreward.solution import parse_solutions

    rows_before = _records(before)[:limit]
    rows_after = {r["index"]: r for r in _records(after)}
    pairs = [(b, rows_after[b["index"]]) for b in rows_before if b["index"] in rows_after]
    if not pairs:
        return []
    sizes = (np.array([float(b["width"]) for b, _ in pairs]), np.array([float(b["height"]) for b, _ in pairs]))
    solutions = [b["solution"] for b, _ in pairs]
    iou = build_reward("iou", **frames)
    pixel_bounds = (frames["min_pixels"], frames["max_pixels"])
    truth = parse_solutions(solutions)
    truth_px = to_pixels(truth.boxes.astype(np.float64), truth.offsets, frames["solution_coords"], sizes,
                         *pixel_bounds)
    drawn: dict[str, tuple[np.ndarray, np.ndarray, list[float]]] = {}
    for name, k in (("before", 0), ("after", 1)):
        texts = [pair[k]["completion"] for pair in pairs]
        parsed = parse_completions(texts, family=frames.get("family"))
        boxes = to_pixels(np.asarray(parsed.boxes, np.float64), np.asarray(parsed.offsets), frames["coords"],
                          sizes, *pixel_bounds)
        scores = iou(texts, solution=solutions, width=sizes[0].tolist(), height=sizes[1].tolist())
        drawn[name] = (boxes, np.asarray(parsed.offsets), scores)
    items = []
    for i, (b, a) in enumerate(pairs):
        layers = [(_rows(truth_px, truth.offsets, i), TRUTH_COLOR)]
        layers += [(_rows(drawn[name][0], drawn[name][1], i), color)
                   for name, color in (("before", BEFORE_COLOR), ("after", AFTER_COLOR))]
        image = draw_boxes(b.get("image_path"), layers, out_dir / "gallery" / f"row_{b['index']:05d}.png",
                           GALLERY_WIDTH)
        label = f"row {b['index']}" + (f": {b['category']}" if b.get("category") else "")
        items.append(GalleryItem(label, image, b["completion"], a["completion"], drawn["before"][2][i],
                                 drawn["after"][2][i]))
    return items


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def _rows(boxes: np.ndarray, offsets: np.ndarray, i: int) -> list[list[float]]:
    return boxes[int(offsets[i]):int(offsets[i + 1])].tolist()


# --------------------------------------------------------------------------------------------------- writing


def eval_files(run_dir: Path) -> list[Path]:
    """The held-out completions files of a run, by step."""
    return sorted((Path(run_dir) / "eval").glob("step_*.jsonl"))


def write_training_report(run_dir: Path, frames: Mapping[str, Any] | None = None, out_dir: Path | None = None,
                          title: str | None = None) -> Path:
    """Write the report of the run in ``run_dir`` to ``out_dir`` (default ``run_dir/report``); returns the
    path of ``report.html``. ``frames`` (the box rewards' frame options) enables the gallery of held-out
    predictions when the run has two evaluations or more."""
    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir is not None else run_dir / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    log = read_log(run_dir)
    sources = {"train": training_entries(log), "eval": eval_entries(log)}
    parts = [f"<h1>{html.escape(title or f'vreward-train: {run_dir}')}</h1>",
             f"<p>{len(sources['train'])} logged training steps, {len(sources['eval'])} held-out evaluations.</p>"]
    table = before_after(log)
    if table:
        parts.append("<h2>Held-out metrics, first and last evaluation</h2>")
        parts.append(_table(["metric", f"step {sources['eval'][0]['step']}", f"step {sources['eval'][-1]['step']}",
                             "change"],
                            [[k, b, a, (a - b) if isinstance(a, (int, float)) and isinstance(b, (int, float))
                              else None] for k, b, a in table]))
    parts.append("<h2>Curves</h2>")
    for panel in PANELS:
        drawn = _plot(panel, sources[panel.source], out_dir)
        if drawn is None:
            parts.append(f"<h3>{html.escape(panel.title)}</h3><p class='note'>{html.escape(panel.missing)}</p>")
        else:
            parts.append(f"<figure>{_img(drawn[1], panel.title)}</figure>")
    files = eval_files(run_dir)
    if frames is not None and len(files) >= 2:
        items = gallery(files[0], files[-1], frames, out_dir)
        parts.append("<h2>Held-out predictions</h2><p class='note'>green: ground truth, orange: first evaluation "
                     f"({html.escape(files[0].stem)}), blue: last ({html.escape(files[-1].stem)}); the first "
                     f"{len(items)} held-out rows, IoU reward of each.</p>")
        parts += [_gallery_item(item) for item in items]
    page = ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src data:; "
            f"style-src 'unsafe-inline'\"><title>{html.escape(title or str(run_dir))}</title><style>{_CSS}</style>"
            "</head><body>\n" + "\n".join(parts) + "\n</body></html>\n")
    return write_atomic(out_dir / "report.html", page)


_CSS = ("body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #ccc;padding:3px 8px}"
        "th{background:#f3f3f3}img{max-width:100%}.note{color:#666;font-style:italic}"
        ".item{display:inline-block;vertical-align:top;width:300px;margin:0 12px 16px 0}"
        f".item img{{width:{GALLERY_WIDTH}px;image-rendering:pixelated}}"
        "pre{background:#f7f7f7;border:1px solid #ddd;padding:4px;white-space:pre-wrap;word-break:break-word;"
        "font-size:11px}")


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(format_value(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(format_value(v))}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(data: bytes, alt: str) -> str:
    return (f"<img alt='{html.escape(alt, quote=True)}' "
            f"src='data:image/png;base64,{base64.b64encode(data).decode('ascii')}'>")


def _gallery_item(item: GalleryItem) -> str:
    image = _img(item.image, item.label) if item.image is not None else "<p class='note'>(image not found)</p>"
    texts = "".join(f"<p>{name}: IoU reward {score:.3f}</p><pre>{html.escape(truncate(clean_text(text), MAX_TEXT))}"
                    "</pre>" for name, score, text in (("first", item.before_score, item.before),
                                                        ("last", item.after_score, item.after)))
    return f"<div class='item'><h3>{html.escape(item.label)}</h3>{image}{texts}</div>"
