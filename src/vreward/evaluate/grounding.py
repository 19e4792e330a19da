"""Grounding metrics: referring-expression grounding (VLM-R1 Acc@0.5) and reasoning grounding (LISA gIoU/cIoU).

Per sample, the first predicted box is compared with the ground-truth box (the best IoU over the ground
truth's boxes), both in the model's frame. Box-level metrics: Acc@t (IoU strictly above t, VLM-R1's
``iou > 0.5``), mean IoU, gIoU (mean of per-sample IoU, LISA) and cIoU (sum of intersections over sum of
unions, LISA; pixel areas when the image sizes are known). When the records carry a ground-truth mask, the
same metrics on masks (pycocotools RLE): the predicted mask when the record has one, else the predicted box
rasterized. See docs/evaluate-grounding-classification.md.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from vreward.evaluate.base import Figure, Record, RecordError, Sample
from vreward.frames import (
    QWEN25VL_MAX_PIXELS,
    QWEN25VL_MIN_PIXELS,
    check_frame,
    image_sizes,
    needs_conversion,
    needs_image_size,
    pixels_per_unit,
    resolve_frames,
    to_pixels,
    truth_in_model_frame,
)
from vreward.parsing import ParsedBatch
from vreward.reasons import PARSE_REASONS, ZeroReason
from vreward.rewards.base import RewardBatch
from vreward.solution import parse_solutions

CURVE_THRESHOLDS = np.round(np.linspace(0.0, 0.99, 100), 2)  # Acc vs threshold curve of the figures


def threshold_key(t: float) -> str:
    """Key of a threshold in the metrics dict: ``repr`` of the float (0.5 -> "0.5", 0.75 -> "0.75")."""
    return repr(float(t))


def box_overlaps(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row-wise (iou, intersection, union) of boxes ``pred`` (K, 4) and ``gt`` (K, 4), ``(x1, y1, x2, y2)``.

    Same operations and validity rule as :func:`vreward.box_iou`: a box with a non-finite coordinate,
    ``x2 <= x1``, ``y2 <= y1`` or a non-finite area has area 0 and overlaps nothing; the IoU is 0 unless the
    boxes overlap with a positive union.
    """
    with np.errstate(all="ignore"):
        pa = _areas(pred)
        ga = _areas(gt)
        xi1 = np.maximum(pred[:, 0], gt[:, 0])
        yi1 = np.maximum(pred[:, 1], gt[:, 1])
        xi2 = np.minimum(pred[:, 2], gt[:, 2])
        yi2 = np.minimum(pred[:, 3], gt[:, 3])
        inter = (xi2 - xi1) * (yi2 - yi1)
        union = np.maximum(pa, 0.0) + np.maximum(ga, 0.0) - inter
        ok = (pa >= 0) & (ga >= 0) & (xi2 > xi1) & (yi2 > yi1) & (union > 0.0) & np.isfinite(inter)
        inter = np.where(ok, inter, 0.0)
        union = np.maximum(pa, 0.0) + np.maximum(ga, 0.0) - inter
        iou = np.where(ok, inter / np.where(ok, union, 1.0), 0.0)
    return iou, inter, union


def _areas(b: np.ndarray) -> np.ndarray:
    """Area of each box, -1 for invalid boxes (non-finite, degenerate, or non-finite area)."""
    with np.errstate(all="ignore"):
        area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        valid = np.isfinite(b).all(axis=1) & (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1]) & np.isfinite(area)
    return np.where(valid, area, -1.0)


def summarize_ious(iou: np.ndarray, inter: np.ndarray, union: np.ndarray, has_truth: np.ndarray,
                   thresholds: Sequence[float]) -> dict[str, Any]:
    """Acc@t, mean IoU, gIoU and cIoU of per-sample arrays (see the module docstring for the conventions)."""
    n = len(iou)
    acc = {threshold_key(t): (float((iou > t).mean()) if n else None) for t in thresholds}
    sum_union = float(union.sum())
    return {
        "acc": acc,
        "mean_iou": float(iou[has_truth].mean()) if has_truth.any() else None,
        "giou": float(iou.mean()) if n else None,
        "ciou": float(inter.sum()) / sum_union if sum_union > 0 else None,
    }


class GroundingMetrics:
    """Box- (and mask-) level grounding metrics, accumulated batch by batch (see the module docstring).

    ``coords``/``solution_coords``/``min_pixels``/``max_pixels``: frames as in :func:`vreward.make_giou_reward`
    (None: the same as the other side). ``thresholds``: the t of Acc@t, each in (0, 1). ``mask_field``: the
    record field holding the ground-truth mask (COCO RLE dict, compressed or not, or polygons, in image
    pixels); ``predicted_mask_field``: the record field holding a predicted mask (same forms).
    ``require_answer_tag``: as the rewards' option, for reading the boxes of gallery samples.
    """

    def __init__(self, *, coords: str | None = None, solution_coords: str | None = None,
                 thresholds: Sequence[float] = (0.5,), min_pixels: int = QWEN25VL_MIN_PIXELS,
                 max_pixels: int = QWEN25VL_MAX_PIXELS, mask_field: str | None = "mask",
                 predicted_mask_field: str | None = "predicted_mask", require_answer_tag: bool = True):
        for name, frame in (("coords", coords), ("solution_coords", solution_coords)):
            if frame is not None:
                check_frame(frame, name)
        if isinstance(thresholds, (int, float)):
            thresholds = (thresholds,)
        ts: list[float] = []
        for t in thresholds:
            if isinstance(t, bool) or not isinstance(t, (int, float, np.integer, np.floating)) or \
                    not (math.isfinite(float(t)) and 0.0 < float(t) < 1.0):
                raise ValueError(f"every threshold must be a number strictly between 0 and 1, got {t!r}")
            if float(t) not in ts:
                ts.append(float(t))
        if not ts:
            raise ValueError("thresholds must not be empty")
        if not (0 < min_pixels <= max_pixels):
            raise ValueError(f"need 0 < min_pixels <= max_pixels, got {min_pixels} and {max_pixels}")
        self.coords = coords
        self.solution_coords = solution_coords
        self.thresholds = tuple(ts)
        self.min_pixels = int(min_pixels)
        self.max_pixels = int(max_pixels)
        self.mask_field = mask_field
        self.predicted_mask_field = predicted_mask_field
        self.require_answer_tag = require_answer_tag
        self._box: dict[str, list[np.ndarray]] = {"iou": [], "inter": [], "union": [], "has_truth": []}
        self._mask: dict[str, list[np.ndarray]] = {"iou": [], "inter": [], "union": [], "has_truth": []}
        self._mask_sources: Counter = Counter()
        self._failures: Counter = Counter()
        self._area_units: set[str] = set()
        self._result: dict[str, Any] | None = None

    @property
    def model_frame(self) -> str | None:
        return resolve_frames(self.coords, self.solution_coords)[0]

    @property
    def truth_frame(self) -> str | None:
        return resolve_frames(self.coords, self.solution_coords)[1]

    # ------------------------------------------------------------------------------------------- protocol

    def columns(self, records: list[Record]) -> dict[str, list[Any]]:
        return {}

    def add(self, records: list[Record], columns: dict[str, list[Any]], parsed: ParsedBatch,
            results: dict[str, RewardBatch]) -> None:
        n = len(parsed)
        if n == 0:
            return
        gt = parse_solutions(columns.get("solution"), n)
        p, s = self.model_frame, self.truth_frame
        needs_sizes = needs_conversion(p, s) and needs_image_size(p, s)
        wants_sizes = p is not None or self._has_field(records, columns, self.mask_field)
        sizes = self._sizes(columns, n, required=needs_sizes) if needs_sizes or wants_sizes else None
        gt_boxes = gt.boxes
        if needs_conversion(p, s):
            gt_boxes, _ = truth_in_model_frame(gt.boxes, gt.offsets, p, s, sizes, self.min_pixels, self.max_pixels)
        # Areas in image pixels when the model frame and the image sizes are known, else in the frame's units.
        if p is not None and sizes is not None:
            sx, sy = pixels_per_unit(p, sizes, n, self.min_pixels, self.max_pixels)
            area_scale = sx * sy
            self._area_units.add("pixels")
        else:
            area_scale = np.ones(n)
            self._area_units.add(f"frame ({p})" if p is not None else "frame (unspecified)")

        usable = np.asarray(parsed.usable)
        has_pred = usable & (parsed.counts > 0)
        first = np.full((n, 4), np.nan)
        first[has_pred] = parsed.boxes[parsed.offsets[:-1][has_pred]]
        gt_counts = gt.counts
        has_truth = gt_counts > 0

        iou = np.zeros(n)
        inter = np.zeros(n)
        union = np.zeros(n)
        if len(gt_boxes):
            rows = np.repeat(np.arange(n), gt_counts)
            box_iou, box_inter, box_union = box_overlaps(first[rows], np.asarray(gt_boxes, float))
            order = np.lexsort((-box_iou, rows))  # per row, the best IoU first (ties: the first GT box)
            best = order[gt.offsets[:-1][has_truth]]
            idx = np.flatnonzero(has_truth)
            iou[idx] = box_iou[best]
            inter[idx] = box_inter[best]
            union[idx] = box_union[best]
            # no usable box: the union is the area of the (first) ground-truth box
            no_pred = idx[~has_pred[idx]]
            union[no_pred] = np.maximum(_areas(np.asarray(gt_boxes, float)[gt.offsets[:-1][no_pred]]), 0.0)
        empty_ok = ~has_truth & usable & ~has_pred  # "No Objects" when there is none: correct (LISA: 1.0)
        iou[empty_ok] = 1.0
        boxes_on_empty = ~has_truth & has_pred
        union[boxes_on_empty] = np.maximum(_areas(first[boxes_on_empty]), 0.0)
        inter *= area_scale
        union *= area_scale
        self._failures.update(self._reasons(parsed, usable, has_pred, has_truth, iou))
        for key, value in (("iou", iou), ("inter", inter), ("union", union), ("has_truth", has_truth)):
            self._box[key].append(value)
        self._add_masks(records, columns, n, has_pred, first, sizes)
        self._result = None

    def finalize(self) -> dict[str, Any]:
        box = {k: np.concatenate(v) if v else np.zeros(0) for k, v in self._box.items()}
        n = len(box["iou"])
        box_metrics = summarize_ious(box["iou"], box["inter"], box["union"], box["has_truth"].astype(bool),
                                     self.thresholds)
        units = sorted(self._area_units)
        box_metrics["area_unit"] = units[0] if len(units) == 1 else ("mixed: " + ", ".join(units) if units else None)
        mask_metrics = None
        if self._mask["iou"]:
            m = {k: np.concatenate(v) for k, v in self._mask.items()}
            if len(m["iou"]):
                mask_metrics = {"samples": int(len(m["iou"])),
                                **summarize_ious(m["iou"], m["inter"], m["union"], m["has_truth"].astype(bool),
                                                 self.thresholds),
                                "area_unit": "pixels",
                                "predicted_from": {"mask": self._mask_sources["mask"],
                                                   "box": self._mask_sources["box"],
                                                   "none": self._mask_sources["none"]}}
        self._result = {
            "samples": int(n),
            "box": box_metrics,
            "mask": mask_metrics,
            "failures": dict(self._failures.most_common()),
        }
        self._ious = box["iou"]
        self._mask_ious = np.concatenate(self._mask["iou"]) if self._mask["iou"] else np.zeros(0)
        return self._result

    def table(self) -> list[str]:
        from vreward.evaluate.report import format_table

        r = self._result if self._result is not None else self.finalize()
        keys = [threshold_key(t) for t in self.thresholds]
        headers = ["level", "samples", *(f"Acc@{k}" for k in keys), "mean IoU", "gIoU", "cIoU"]
        rows = [["box", r["samples"], *(r["box"]["acc"][k] for k in keys), r["box"]["mean_iou"], r["box"]["giou"],
                 r["box"]["ciou"]]]
        if r["mask"] is not None:
            m = r["mask"]
            rows.append(["mask", m["samples"], *(m["acc"][k] for k in keys), m["mean_iou"], m["giou"], m["ciou"]])
        lines = format_table(rows, headers)
        lines.append(f"cIoU areas: {r['box']['area_unit']}")
        if r["failures"]:
            lines.append("IoU 0 because: " + ", ".join(f"{k} {v}" for k, v in r["failures"].items()))
        return lines

    def figures(self, out_dir: Path) -> list[Figure]:
        from vreward.evaluate.report import new_figure, save_figure

        if self._result is None:
            self.finalize()
        out_dir = Path(out_dir)
        figs = []
        series = [("box", self._ious)] + ([("mask", self._mask_ious)] if len(self._mask_ious) else [])

        fig = new_figure(6.0, 3.6)
        ax = fig.subplots()
        ax.hist([v for _, v in series], bins=20, range=(0.0, 1.0), label=[k for k, _ in series])
        ax.set_xlabel("IoU (first predicted box vs ground truth)")
        ax.set_ylabel("samples")
        ax.legend()
        path = out_dir / "grounding_iou_hist.png"
        save_figure(fig, path)
        figs.append(Figure("IoU histogram", path, "Per-sample IoU; unparseable answers count as 0."))

        fig = new_figure(6.0, 3.6)
        ax = fig.subplots()
        for name, values in series:
            curve = (values[None, :] > CURVE_THRESHOLDS[:, None]).mean(axis=1) if len(values) else \
                np.zeros(len(CURVE_THRESHOLDS))
            ax.plot(CURVE_THRESHOLDS, curve, label=name)
        for t in self.thresholds:
            ax.axvline(t, color="#999", linestyle=":", linewidth=1)
        ax.set_xlabel("IoU threshold t")
        ax.set_ylabel("Acc@t (fraction with IoU > t)")
        ax.set_ylim(0.0, 1.0)
        ax.set_xlim(0.0, 1.0)
        ax.legend()
        path = out_dir / "grounding_acc_vs_threshold.png"
        save_figure(fig, path)
        figs.append(Figure("Acc vs IoU threshold", path, "Fraction of samples whose IoU is strictly above t."))
        return figs

    def samples_pixels(self, sample: Sample, columns_row: dict[str, Any]) -> Sample:
        """The sample with its first predicted box and all ground-truth boxes in image pixels.

        The predicted box is read from ``sample.completion``; when that text yields no usable box (it may have
        been cut short) the first of ``sample.predicted``, taken in the model's frame, is used. Needs the image
        size (``width``/``height`` etc. in the row, else read from ``sample.image_path``) unless neither frame
        is set, in which case the boxes are taken as image pixels. Without a usable size the sample is
        returned unchanged.
        """
        from vreward.parsing import parse_completion

        p, s = self.model_frame, self.truth_frame
        parsed = parse_completion(sample.completion, require_answer_tag=self.require_answer_tag)
        if parsed.usable and parsed.boxes:
            pred = [list(parsed.boxes[0].xyxy)]
        elif parsed.usable or not sample.predicted:
            pred = []
        else:
            pred = [list(sample.predicted[0])]
        try:
            gt = parse_solutions([columns_row.get("solution")], 1)
            truth = np.asarray(gt.boxes, float)
        except ValueError:
            truth = np.zeros((0, 4))
        if p is None:  # neither frame given: the numbers are taken as image pixels
            return replace(sample, predicted=pred, truth=truth.tolist())
        sizes = self._row_sizes(columns_row, sample)
        if sizes is None:
            return sample
        out = []
        for boxes, frame in ((np.asarray(pred, float).reshape(-1, 4), p), (truth, s)):
            offsets = np.array([0, len(boxes)])
            out.append(to_pixels(boxes, offsets, frame, sizes, self.min_pixels, self.max_pixels).tolist())
        return replace(sample, predicted=out[0], truth=out[1])

    # ------------------------------------------------------------------------------------------- helpers

    @staticmethod
    def _sizes(columns: dict[str, list[Any]], n: int, required: bool) -> tuple[np.ndarray, np.ndarray] | None:
        if required:
            return image_sizes(columns, n)  # raises, naming the columns, when a frame conversion needs them
        try:
            return image_sizes(columns, n)
        except ValueError:
            return None

    def _row_sizes(self, columns_row: dict[str, Any], sample: Sample) -> tuple[np.ndarray, np.ndarray] | None:
        try:
            sizes = image_sizes({k: [v] for k, v in columns_row.items()}, 1)
        except ValueError:
            sizes = None
        if sizes is None and sample.image_path:
            try:
                from PIL import Image

                with Image.open(sample.image_path) as im:
                    sizes = (np.array([float(im.size[0])]), np.array([float(im.size[1])]))
            except Exception:
                sizes = None
        return sizes

    @staticmethod
    def _reasons(parsed: ParsedBatch, usable: np.ndarray, has_pred: np.ndarray, has_truth: np.ndarray,
                 iou: np.ndarray) -> Counter:
        """Why each sample with IoU 0 failed: the parse reason, or what the answer got wrong."""
        out: Counter = Counter()
        status = np.asarray(parsed.status)
        for code, count in zip(*np.unique(status[~usable], return_counts=True)):
            out[PARSE_REASONS[int(code)].value] += int(count)
        out[ZeroReason.MISSED_OBJECTS.value] += int((usable & ~has_pred & has_truth).sum())
        out[ZeroReason.BOXES_ON_EMPTY.value] += int((has_pred & ~has_truth).sum())
        out[ZeroReason.NO_OVERLAP.value] += int((has_pred & has_truth & (iou <= 0.0)).sum())
        return Counter({k: v for k, v in out.items() if v})

    @staticmethod
    def _has_field(records: list[Record], columns: dict[str, list[Any]], name: str | None) -> bool:
        if not name:
            return False
        if name in columns:
            return any(v is not None for v in columns[name])
        return any(r.data.get(name) is not None for r in records)

    def _field(self, records: list[Record], columns: dict[str, list[Any]], name: str | None, n: int) -> list[Any]:
        if not name:
            return [None] * n
        values = columns.get(name)
        if isinstance(values, (list, tuple)) and len(values) == n:
            return list(values)
        return [r.data.get(name) for r in records] if len(records) == n else [None] * n

    def _add_masks(self, records: list[Record], columns: dict[str, list[Any]], n: int, has_pred: np.ndarray,
                   first: np.ndarray, sizes: tuple[np.ndarray, np.ndarray] | None) -> None:
        truths = self._field(records, columns, self.mask_field, n)
        rows = [i for i, m in enumerate(truths) if m is not None]
        if not rows:
            return
        from pycocotools import mask as mask_utils

        preds = self._field(records, columns, self.predicted_mask_field, n)
        iou = np.zeros(len(rows))
        inter = np.zeros(len(rows))
        union = np.zeros(len(rows))
        has_truth = np.zeros(len(rows), bool)
        for k, i in enumerate(rows):
            line = records[i].line if i < len(records) else i + 1
            size = (int(sizes[1][i]), int(sizes[0][i])) if sizes is not None else None  # (height, width)
            try:
                gt = to_rle(truths[i], size, f"`{self.mask_field}`")
                h, w = (int(v) for v in gt["size"])
                given = None if preds[i] is None else to_rle(preds[i], (h, w), f"`{self.predicted_mask_field}`")
            except ValueError as exc:
                raise RecordError(line, str(exc)) from None
            if given is not None:
                pred = given
                self._mask_sources["mask"] += 1
            elif has_pred[i]:
                pred = box_rle(self._box_to_pixels(first[i], h, w), h, w)
                self._mask_sources["box"] += 1
            else:
                pred = box_rle(np.zeros(4), h, w)
                self._mask_sources["none"] += 1
            if [int(v) for v in pred["size"]] != [h, w]:
                raise RecordError(line, f"predicted mask size {list(pred['size'])} differs from the ground-truth "
                                        f"mask size {[h, w]}")
            a_gt = float(mask_utils.area(gt))
            a_pred = float(mask_utils.area(pred))
            both = float(mask_utils.area(mask_utils.merge([pred, gt], intersect=True)))
            inter[k] = both
            union[k] = a_gt + a_pred - both
            iou[k] = both / union[k] if union[k] > 0 else 1.0  # both empty: correct (LISA's no-object rule)
            has_truth[k] = a_gt > 0
        for key, value in (("iou", iou), ("inter", inter), ("union", union), ("has_truth", has_truth)):
            self._mask[key].append(value)

    def _box_to_pixels(self, box: np.ndarray, h: int, w: int) -> np.ndarray:
        """A box of the model's frame in pixels of an image ``w`` x ``h`` (no frame given: already pixels)."""
        p = self.model_frame
        box = np.asarray(box, float)
        if p is None:
            return box
        sizes = (np.array([float(w)]), np.array([float(h)]))
        return to_pixels(box.reshape(1, 4), np.array([0, 1]), p, sizes, self.min_pixels, self.max_pixels)[0]


def box_rle(box: np.ndarray, h: int, w: int) -> dict:
    """The box ``(x1, y1, x2, y2)`` (image pixels) rasterized as a COCO RLE of an ``h`` x ``w`` image.

    pycocotools' rasterization (``frPyObjects`` of the box as ``[x, y, width, height]``); a degenerate or
    non-finite box is an empty mask; parts outside the image are clipped.
    """
    from pycocotools import mask as mask_utils

    x1, y1, x2, y2 = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)) or x2 <= x1 or y2 <= y1:
        x1 = y1 = x2 = y2 = 0.0
    # clip far-away coordinates so the polygon rasterizer never sees huge numbers
    x1, x2 = (min(max(v, -1.0), w + 1.0) for v in (x1, x2))
    y1, y2 = (min(max(v, -1.0), h + 1.0) for v in (y1, y2))
    return mask_utils.frPyObjects(np.array([[x1, y1, x2 - x1, y2 - y1]], np.float64), h, w)[0]


def rle_total(counts: bytes) -> int:
    """Pixels covered by a compressed COCO RLE string (pycocotools' ``rleFrString`` decoding).

    Raises ValueError for characters outside the encoding, a truncated number, or a negative run length.
    """
    runs: list[int] = []
    p, n = 0, len(counts)
    while p < n:
        x, k, more = 0, 0, True
        while more:
            if p >= n:
                raise ValueError("truncated counts string")
            c = counts[p] - 48
            if not 0 <= c < 64:
                raise ValueError(f"invalid character {chr(counts[p])!r} in counts")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(runs) > 2:
            x += runs[-2]
        if x < 0:
            raise ValueError("negative run length in counts")
        runs.append(x)
    return sum(runs)


def to_rle(value: Any, size: tuple[int, int] | None, where: str) -> dict:
    """A compressed COCO RLE from an RLE dict (``counts`` a string or a list) or polygons (image pixels).

    ``size`` (height, width) is needed for polygons and checked against an RLE's own ``size``.
    """
    from pycocotools import mask as mask_utils

    if isinstance(value, dict):
        if "counts" not in value or "size" not in value:
            raise ValueError(f"{where}: an RLE mask needs `counts` and `size`")
        try:
            h, w = (int(v) for v in value["size"])
        except (TypeError, ValueError):
            raise ValueError(f"{where}: RLE `size` must be [height, width], got {value['size']!r}") from None
        if h <= 0 or w <= 0:
            raise ValueError(f"{where}: RLE `size` must be positive, got {[h, w]}")
        if size is not None and (h, w) != tuple(size):
            raise ValueError(f"{where}: RLE size [height, width] {[h, w]} differs from the record's image size "
                             f"{list(size)}")
        counts = value["counts"]
        try:
            if isinstance(counts, list):
                if not all(isinstance(c, int) and c >= 0 for c in counts) or sum(counts) != h * w:
                    raise ValueError("uncompressed counts must be non-negative integers summing to height * width")
                return mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w)
            if isinstance(counts, str):
                counts = counts.encode("ascii")
            if not isinstance(counts, bytes):
                raise ValueError(f"counts must be a string or a list, got {type(counts).__name__}")
            total = rle_total(counts)  # pycocotools' C code trusts the string: check it before any use
            if total != h * w:
                raise ValueError(f"counts cover {total} pixels, not height * width = {h * w}")
            return {"size": [h, w], "counts": counts}
        except (ValueError, TypeError, UnicodeEncodeError) as exc:
            raise ValueError(f"{where}: invalid RLE: {exc}") from None
    if isinstance(value, (list, tuple)):
        polys = [value] if value and all(isinstance(v, (int, float)) for v in value) else list(value)
        clean = []
        for poly in polys:
            if not isinstance(poly, (list, tuple)) or len(poly) < 6 or len(poly) % 2 or \
                    not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                            for v in poly):
                raise ValueError(f"{where}: a polygon is a list of at least 3 (x, y) points of finite numbers")
            clean.append([float(v) for v in poly])
        if not clean:
            raise ValueError(f"{where}: empty polygon list")
        if size is None:
            raise ValueError(f"{where}: a polygon mask needs the image size (`width` and `height` columns)")
        h, w = size
        return mask_utils.merge(mask_utils.frPyObjects(clean, h, w))
    raise ValueError(f"{where}: expected a COCO RLE dict or a polygon list, got {type(value).__name__}")
