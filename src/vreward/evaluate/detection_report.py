"""How the detection metrics are shown: the terminal table and the precision-recall figure of the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vreward.evaluate.base import Figure
from vreward.evaluate.coco_eval import Evaluation

STAT_HELP = {
    "AP": "IoU=0.50:0.95 area=all", "AP50": "IoU=0.50 area=all", "AP75": "IoU=0.75 area=all",
    "APs": "IoU=0.50:0.95 area=small", "APm": "IoU=0.50:0.95 area=medium", "APl": "IoU=0.50:0.95 area=large",
    "AR1": "maxDets=1", "AR10": "maxDets=10", "AR100": "maxDets=100", "ARs": "area=small maxDets=100",
    "ARm": "area=medium maxDets=100", "ARl": "area=large maxDets=100",
    "APr": "rare categories", "APc": "common categories", "APf": "frequent categories",
    "AR@300": "maxDets=300", "ARs@300": "area=small maxDets=300", "ARm@300": "area=medium maxDets=300",
    "ARl@300": "area=large maxDets=300",
}
SHOWN_CATEGORIES = 10  # with more than twice this many categories with AP, the table shows the top and bottom


def metrics_table(result: dict[str, Any]) -> list[str]:
    """The summary stats with their definitions, the counts of set-aside boxes, and a per-category table (top
    and bottom :data:`SHOWN_CATEGORIES` by AP when there are many); ``result`` as ``finalize`` returns it."""
    rules = "LVIS" if result["rules"] == "lvis" else "COCO"
    lines = [f"{rules} bbox ({result['evaluator']}; {result['n_images']} images, {result['n_categories']} "
             f"categories, {result['detections']} detections)"]
    for name, value in result["stats"].items():
        lines.append(f"  {name:<8} {_fmt(value):>7}   {STAT_HELP.get(name, '')}")
    notes = [f"{k.replace('_', ' ')}: {result[k]}" for k in
             ("boxes_outside_image", "degenerate_boxes", "unknown_labels", "default_score_used",
              "over_max_dets_per_image") if result[k]]
    if notes:
        lines.append("  " + "; ".join(notes))
    cats = result["per_category"]
    if not cats:
        return lines
    header = f"  {'category':<28} {'id':>5} {'AP':>7} {'AP50':>7} {'n_gt':>7} {'n_det':>7}"
    lines += ["", header, "  " + "-" * (len(header) - 2)]

    def row(c: dict[str, Any]) -> str:
        name = c["name"] if len(c["name"]) <= 28 else c["name"][:27] + "~"
        return f"  {name:<28} {c['id']:>5} {_fmt(c['AP']):>7} {_fmt(c['AP50']):>7} {c['n_gt']:>7} " \
               f"{c['n_det']:>7}"

    with_ap = sorted((c for c in cats if c["AP"] >= 0), key=lambda c: -c["AP"])
    without = len(cats) - len(with_ap)
    k = SHOWN_CATEGORIES
    if len(with_ap) <= 2 * k:
        lines += [row(c) for c in with_ap]
    else:
        lines += [row(c) for c in with_ap[:k]]
        lines.append(f"  ... {len(with_ap) - 2 * k} more ...")
        lines += [row(c) for c in with_ap[-k:]]
    if without:
        lines.append(f"  ({without} categories without ground truth in the evaluated images: AP undefined)")
    return lines


def pr_curves_figure(evaluation: Evaluation, out_dir: Path) -> Figure:
    """Precision-recall curves (area all, largest maxDets, mean over the categories with GT) at IoU 0.50, 0.75
    and 0.50:0.95, written to ``out_dir/detection_pr_curves.png``."""
    from vreward.evaluate.report import new_figure, save_figure

    rec_thrs = evaluation.rec_thrs
    m = evaluation.max_det_index
    max_dets = evaluation.max_dets[m]
    p = evaluation.precision[:, :, :, 0, m]  # T x R x K
    curves = []
    for label, sel in (("IoU 0.50", p[:1]), ("IoU 0.75", p[5:6]), ("IoU 0.50:0.95", p)):
        valid = sel > -1
        total = np.where(valid, sel, 0.0).sum(axis=(0, 2))
        count = valid.sum(axis=(0, 2))
        y = np.divide(total, count, out=np.full(len(rec_thrs), np.nan), where=count > 0)
        ap = float(sel[valid].mean()) if valid.any() else float("nan")
        curves.append((label, y, ap))
    fig = new_figure(6.0, 4.2)
    ax = fig.subplots()
    for label, y, ap in curves:
        ax.plot(rec_thrs, y, label=f"{label} (AP {ap:.3f})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    ax.set_title(f"Precision-recall (area all, maxDets {max_dets}, mean over categories)", fontsize=10)
    path = Path(out_dir) / "detection_pr_curves.png"
    save_figure(fig, path, dpi=96)
    return Figure(title="Precision-recall curves", path=path,
                  caption="COCO's interpolated precision at 101 recall points, area all, "
                          f"maxDets {max_dets}, averaged over the categories with ground truth.")


def _fmt(value: float | None) -> str:
    return "-" if value is None or value < 0 else f"{value:.4f}"
