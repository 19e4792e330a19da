"""Detection metrics against COCO / LVIS ground truth: COCOeval bbox AP / AR of saved model outputs.

Visual-RFT evaluates a detector VLM by prompting once per (image, category), converting the model's boxes to
pixels of the image and feeding the model's own confidence to COCOeval as the detection score.
:class:`DetectionMetrics` does that for ``vreward score``: it supplies the ground truth the rewards need
(``solution``, ``width``, ``height`` columns built from the GT file), collects every predicted box of every
batch in numpy arrays, and runs the COCO evaluator once at the end (faster-coco-eval or pycocotools; LVIS's
federated rules with ``lvis=True``).

The jobs around it have their own modules: :mod:`~vreward.evaluate.coco_truth` reads and checks the GT file,
:mod:`~vreward.evaluate.coco_eval` holds the evaluator backends, :mod:`~vreward.evaluate.detection_report`
draws the table and the figure. pycocotools, faster_coco_eval and matplotlib are imported inside the
functions that use them, so importing this module stays light. See docs/evaluate-detection.md.
"""

from __future__ import annotations

import math
import operator
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from vreward.evaluate.base import Figure, Record, RecordError, Sample
from vreward.evaluate.coco_eval import (
    DETECTION_FIELDS,
    EVALUATORS,
    LVIS_MAX_DETS,
    Evaluation,
    make_evaluator,
)
from vreward.evaluate.coco_truth import CocoTruth
from vreward.evaluate.detection_report import metrics_table, pr_curves_figure
from vreward.frames import QWEN25VL_MAX_PIXELS, QWEN25VL_MIN_PIXELS, check_frame, to_pixels
from vreward.parsing import ParsedBatch
from vreward.rewards.base import RewardBatch

__all__ = ["COCO_STATS", "EVALUATORS", "LVIS_MAX_DETS", "LVIS_STATS", "OUTSIDE_SLACK", "DetectionMetrics"]

COCO_STATS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
LVIS_STATS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf", "AR@300", "ARs@300", "ARm@300",
              "ARl@300")
OUTSIDE_SLACK = 1.0  # pixels a box may extend beyond the image before it counts as outside


class DetectionMetrics:
    """COCO (or LVIS) bbox AP / AR of saved detection completions, accumulated batch by batch.

    Keyword arguments:

    * ``gt_path``: COCO instances JSON (``images`` with ``width``/``height``, ``annotations``, ``categories``),
      or an LVIS JSON with ``lvis=True`` (LVIS's federated evaluation rules; needs faster-coco-eval).
    * ``coords``: frame of the model's boxes (``"qwen2vl"`` 0-1000, ``"qwen25vl"`` resized pixels with
      ``min_pixels``/``max_pixels``, ``"pixels"``, ``"unit"``); boxes are converted to pixels of the image.
    * ``image_id_field`` / ``category_field``: record fields naming the GT image and the prompted category (an
      id, or a category name matched case-insensitively with ``_`` and spaces alike). A record without a
      category takes each box's own label (Qwen2.5-VL's ``"label"``), matched by name.
    * ``default_score``: detection score of a box that states no confidence (warned once: a constant score
      makes AP depend on the order of the detections).
    * ``evaluator``: ``"auto"`` (faster-coco-eval when installed, else pycocotools), ``"faster-coco-eval"`` or
      ``"pycocotools"``.
    * ``images``: ``"gt"`` evaluates on every image of the GT file (COCO's and Visual-RFT's convention: an
      image never scored counts its objects as missed); ``"scored"`` only on the images of the scored records.
    * ``categories``: ``"gt"`` (every GT category) or ``"scored"`` (the categories the records asked for, or
      the boxes named, in label mode).
    * ``solution_field``: the record field holding a record's own ground truth (then used instead of the GT
      file's boxes in the ``solution`` column; it must be in pixels, see :attr:`solution_coords`).

    ``truth`` is the loaded :class:`~vreward.evaluate.coco_truth.CocoTruth`, ``evaluator`` the name of the
    backend that runs.
    """

    solution_coords = "pixels"

    def __init__(self, *, gt_path: str | Path, lvis: bool = False, coords: str = "qwen2vl",
                 min_pixels: int = QWEN25VL_MIN_PIXELS, max_pixels: int = QWEN25VL_MAX_PIXELS,
                 image_id_field: str = "image_id", category_field: str = "category_id",
                 default_score: float = 1.0, evaluator: str = "auto", images: str = "gt",
                 categories: str = "gt", solution_field: str = "solution"):
        check_frame(coords, "coords")
        for name, value in (("min_pixels", min_pixels), ("max_pixels", max_pixels)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if min_pixels > max_pixels:
            raise ValueError(f"min_pixels ({min_pixels}) must not exceed max_pixels ({max_pixels})")
        for name, value in (("image_id_field", image_id_field), ("category_field", category_field),
                            ("solution_field", solution_field)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string, got {value!r}")
        if isinstance(default_score, bool) or not isinstance(default_score, (int, float, np.number)) \
                or not math.isfinite(default_score):
            raise ValueError(f"default_score must be a finite number, got {default_score!r}")
        if images not in ("gt", "scored"):
            raise ValueError(f"images must be 'gt' or 'scored', got {images!r}")
        if categories not in ("gt", "scored"):
            raise ValueError(f"categories must be 'gt' or 'scored', got {categories!r}")
        if not isinstance(lvis, bool):
            raise ValueError(f"lvis must be True or False, got {lvis!r}")
        self._backend = make_evaluator(evaluator, lvis)
        self.evaluator = self._backend.name
        self.gt_path = Path(gt_path)
        self.lvis = lvis
        self.coords = coords
        self.min_pixels, self.max_pixels = int(min_pixels), int(max_pixels)
        self.image_id_field, self.category_field = image_id_field, category_field
        self.solution_field = solution_field
        self.default_score = float(default_score)
        self.images, self.categories = images, categories
        self.truth = CocoTruth(self.gt_path, lvis)
        self._chunks: list[np.ndarray] = []
        self._scored_images: set[int] = set()
        self._scored_categories: set[int] = set()
        self._counts = {"records": 0, "boxes_outside_image": 0, "degenerate_boxes": 0, "unknown_labels": 0,
                        "default_score_used": 0}
        self._warned_default = False
        self._last: tuple[tuple[Record, ...], np.ndarray, np.ndarray] | None = None
        self._result: dict[str, Any] | None = None
        self._evaluation: Evaluation | None = None

    # ------------------------------------------------------------------------------------------------ records

    def _category_of(self, value: Any, line: int) -> int:
        """Category id of a record's category field (an id or a name)."""
        if isinstance(value, str):
            cid = self.truth.category_named(value)
            if cid is None:
                raise RecordError(line, f"category name {value!r} matches several categories of {self.gt_path}; "
                                        "give the category id")
            if cid >= 0:
                return cid
        as_int = _as_int_id(value)
        if as_int is not None and as_int in self.truth.cat_name:
            return as_int
        raise RecordError(line, f"{self.category_field} {value!r} is not a category of {self.gt_path}")

    def _label_category(self, label: str | None) -> int:
        """Category id of a box's own label; -1 when it names none (or several)."""
        if label is None:
            return -1
        cid = self.truth.category_named(label)
        return -1 if cid is None else cid

    def _image_position(self, rec: Record, value: Any) -> int:
        """Position in the GT images of a record's image id (an error naming the line when there is none)."""
        as_int = _as_int_id(value)
        p = self.truth.img_pos.get(as_int) if as_int is not None else None
        if p is None:
            if self.image_id_field not in rec.data:
                raise RecordError(rec.line, f"missing field {self.image_id_field!r} (the image id in {self.gt_path})")
            raise RecordError(rec.line, f"{self.image_id_field} {value!r} is not an image of {self.gt_path}")
        return p

    def _resolve(self, records: list[Record]) -> tuple[np.ndarray, np.ndarray]:
        """Per record: position of its image in the GT, and its category id (-1: take the boxes' labels)."""
        last = self._last
        if last is not None and len(last[0]) == len(records) and all(map(operator.is_, last[0], records)):
            return last[1], last[2]
        n = len(records)
        img_pos, cat_name = self.truth.img_pos, self.truth.cat_name
        datas = [rec.data for rec in records]
        id_values = [d.get(self.image_id_field) for d in datas]
        cat_values = [d.get(self.category_field) for d in datas]
        positions = None
        if set(map(type, id_values)) == {int}:  # the usual case, checked for the whole batch at once
            positions = list(map(img_pos.get, id_values))
            if None in positions:
                positions = None
        if positions is None:
            positions = [self._image_position(rec, value) for rec, value in zip(records, id_values)]
        pos = np.array(positions, np.int64).reshape(n)
        kinds = set(map(type, cat_values))
        if kinds == {int} and set(cat_values) <= cat_name.keys():
            cats = np.array(cat_values, np.int64)
        elif kinds == {type(None)}:
            cats = np.full(n, -1, np.int64)
        else:
            cats = np.array([-1 if c is None else c if type(c) is int and c in cat_name
                             else self._category_of(c, rec.line) for rec, c in zip(records, cat_values)],
                            np.int64).reshape(n)
        self._last = (tuple(records), pos, cats)
        return pos, cats

    def columns(self, records: list[Record]) -> dict[str, list[Any]]:
        """``width``/``height`` of every record's image and, when a record lacks its own, the ``solution``.

        The solution of a record is the non-crowd GT boxes of its (image, category) as the JSON text of
        ``[[x1, y1, x2, y2], ...]`` in pixels (``"[]"`` when there are none: "no objects"); of a record without
        a category, every non-crowd box of its image as ``[{"bbox_2d": [...], "label": name}, ...]``. Texts
        rather than lists, so that the rewards read them without re-encoding every row (``json.loads`` gives
        the lists back).
        """
        pos, cats = self._resolve(records)
        p = pos.tolist()
        widths, heights = self.truth.size_columns()
        ids = self.truth.img_ids[pos].tolist()
        out: dict[str, list[Any]] = {"width": [widths[k] for k in p], "height": [heights[k] for k in p]}
        field = self.solution_field
        if any(field not in rec.data for rec in records):
            by_pair = self.truth.solutions()
            by_image = self.truth.labelled_solutions() if (cats < 0).any() else {}
            empty = "[]"
            out["solution"] = [
                rec.data[field] if field in rec.data
                else (by_pair.get((iid, cid), empty) if cid >= 0 else by_image.get(iid, empty))
                for rec, iid, cid in zip(records, ids, cats.tolist())
            ]
        return out

    def add(self, records: list[Record], columns: dict[str, list[Any]], parsed: ParsedBatch,
            results: dict[str, RewardBatch]) -> None:
        """Convert the batch's boxes to pixels and keep them (with score, category and image) for COCOeval."""
        n = len(records)
        if len(parsed) != n:
            raise ValueError(f"parsed batch has {len(parsed)} rows for {n} records")
        pos, cats = self._resolve(records)
        self._result = None
        self._counts["records"] += n
        img_ids = self.truth.img_ids
        self._scored_images.update(img_ids[pos].tolist())
        self._scored_categories.update(c for c in set(cats.tolist()) if c >= 0)
        offsets = np.asarray(parsed.offsets, np.int64)
        counts = np.diff(offsets)
        rows = np.repeat(np.arange(n), counts)
        sel = np.flatnonzero(np.asarray(parsed.usable)[rows])  # boxes of rows that parsed
        if not len(sel):
            return
        widths, heights = self.truth.img_w[pos], self.truth.img_h[pos]
        boxes = np.asarray(parsed.boxes, np.float64)
        px = to_pixels(boxes[sel], _offsets_of(rows[sel], n), self.coords, (widths, heights), self.min_pixels,
                       self.max_pixels)
        r = rows[sel]
        w_img, h_img = widths[r], heights[r]
        x1, y1, x2, y2 = px[:, 0], px[:, 1], px[:, 2], px[:, 3]
        with np.errstate(invalid="ignore"):
            outside = (x1 < -OUTSIDE_SLACK) | (y1 < -OUTSIDE_SLACK) | (x2 > w_img + OUTSIDE_SLACK) \
                | (y2 > h_img + OUTSIDE_SLACK)
        self._counts["boxes_outside_image"] += int(outside.sum())
        bw, bh = x2 - x1, y2 - y1
        good = np.isfinite(px).all(axis=1) & (bw > 0) & (bh > 0)
        self._counts["degenerate_boxes"] += int((~good).sum())
        box_cat = cats[r]
        need_label = np.flatnonzero(box_cat < 0)
        if len(need_label):
            labels = parsed.labels
            cache: dict[str | None, int] = {}
            for j in need_label.tolist():
                label = labels[int(sel[j])]
                cid = cache.get(label)
                if cid is None:
                    cid = cache[label] = self._label_category(label)
                box_cat[j] = cid
            unknown = box_cat < 0
            self._counts["unknown_labels"] += int((unknown & good).sum())
            good &= ~unknown
            self._scored_categories.update(set(box_cat[good].tolist()))
        conf = np.asarray(parsed.confidences, np.float64)[sel]
        missing = np.isnan(conf) & good
        n_missing = int(missing.sum())
        if n_missing:
            conf = np.where(missing, self.default_score, conf)
            self._counts["default_score_used"] += n_missing
            if not self._warned_default:
                self._warned_default = True
                warnings.warn(
                    f"{n_missing} predicted boxes state no confidence: they get default_score="
                    f"{self.default_score}. A constant score makes COCO AP depend on the order of the "
                    f"detections (ties are ranked in input order); AP is only meaningful with real confidences",
                    UserWarning, stacklevel=2)
        good &= np.isfinite(conf)
        k = np.flatnonzero(good)
        chunk = np.empty((len(k), len(DETECTION_FIELDS)), np.float64)
        chunk[:, 0] = img_ids[pos[r[k]]]
        chunk[:, 1] = x1[k]
        chunk[:, 2] = y1[k]
        chunk[:, 3] = bw[k]
        chunk[:, 4] = bh[k]
        chunk[:, 5] = conf[k]
        chunk[:, 6] = box_cat[k]
        if len(chunk):
            self._chunks.append(chunk)

    # ---------------------------------------------------------------------------------------------- evaluation

    def detections(self) -> np.ndarray:
        """All kept detections as an (N, 7) array [image_id, x, y, w, h, score, category_id] (pixels, xywh)."""
        if not self._chunks:
            return np.zeros((0, len(DETECTION_FIELDS)), np.float64)
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks)]
        return self._chunks[0]

    def finalize(self) -> dict[str, Any]:
        """Run COCOeval (bbox) on everything added; returns the metrics (JSON-serializable, stable keys)."""
        if self._result is not None:
            return self._result
        dets = self.detections()
        img_ids = sorted(self.truth.img_pos) if self.images == "gt" else sorted(self._scored_images)
        cat_ids = sorted(self.truth.cat_name) if self.categories == "gt" else sorted(self._scored_categories)
        in_eval = np.isin(dets[:, 0], img_ids) & np.isin(dets[:, 6], cat_ids)
        dets = dets[in_eval]
        over_max = 0
        if self.lvis:
            dets, over_max = _limit_per_image(dets, LVIS_MAX_DETS)
        ev = self._backend.evaluate(self.truth, dets, img_ids, cat_ids, self.lvis)
        self._evaluation = ev
        if self.lvis:
            stats = _lvis_stats(ev, [self.truth.cat_freq[c] for c in cat_ids])
        else:
            stats = dict(zip(COCO_STATS, ev.coco_stats))
        self._result = {
            "evaluator": self.evaluator,
            "rules": "lvis" if self.lvis else "coco",
            "stats": stats,
            "per_category": self._per_category(dets, img_ids, cat_ids, ev),
            "detections": int(len(dets)),
            "boxes_outside_image": self._counts["boxes_outside_image"],
            "degenerate_boxes": self._counts["degenerate_boxes"],
            "unknown_labels": self._counts["unknown_labels"],
            "default_score_used": self._counts["default_score_used"],
            "over_max_dets_per_image": over_max,
            "records": self._counts["records"],
            "images": self.images,
            "n_images": len(img_ids),
            "n_categories": len(cat_ids),
            "gt_path": str(self.gt_path),
            "coords": self.coords,
        }
        return self._result

    def _per_category(self, dets: np.ndarray, img_ids: list[int], cat_ids: list[int],
                      ev: Evaluation) -> list[dict[str, Any]]:
        """Per evaluated category: AP and AP50 (area all, largest maxDets), GT boxes counted, detections."""
        truth = self.truth
        in_imgs = np.isin(truth.ann_img, img_ids)
        counted = in_imgs if self.lvis else in_imgs & ~truth.ann_crowd
        n_gt = dict(zip(*np.unique(truth.ann_cat[counted], return_counts=True)))
        n_det = dict(zip(*np.unique(dets[:, 6].astype(np.int64), return_counts=True)))
        m = ev.max_det_index
        out = []
        for k, cid in enumerate(cat_ids):
            p = ev.precision[:, :, k, 0, m]
            p50 = p[0]
            row = {
                "id": cid,
                "name": truth.cat_name[cid],
                "AP": float(p[p > -1].mean()) if (p > -1).any() else -1.0,
                "AP50": float(p50[p50 > -1].mean()) if (p50 > -1).any() else -1.0,
                "n_gt": int(n_gt.get(cid, 0)),
                "n_det": int(n_det.get(cid, 0)),
            }
            if self.lvis:
                row["frequency"] = truth.cat_freq[cid]
            out.append(row)
        return out

    # ------------------------------------------------------------------------------------------------- report

    def table(self) -> list[str]:
        """The summary stats and a per-category table (top and bottom 10 by AP when there are many)."""
        return metrics_table(self.finalize())

    def figures(self, out_dir: Path) -> list[Figure]:
        """Precision-recall curves (area all, mean over categories) at IoU 0.50, 0.75 and 0.50:0.95 (PNG)."""
        self.finalize()  # sets self._evaluation
        return [pr_curves_figure(self._evaluation, out_dir)]

    def samples_pixels(self, sample: Sample, columns_row: dict[str, Any]) -> Sample:
        """Fill the sample's predicted and true boxes in image pixels, and its category name."""
        from vreward.parsing import parse_completions
        from vreward.solution import parse_solutions

        width, height = columns_row.get("width"), columns_row.get("height")
        if width is None or height is None:
            p = self.truth.img_pos.get(_as_int_id(columns_row.get(self.image_id_field)))
            if p is None:
                return sample
            width, height = self.truth.img_w[p], self.truth.img_h[p]
        sizes = (np.array([float(width)]), np.array([float(height)]))
        parsed = parse_completions([sample.completion])
        if not parsed.usable[0] or not parsed.counts[0]:
            loose = parse_completions([sample.completion], require_answer_tag=False)
            parsed = loose if loose.counts[0] else parsed
        boxes = to_pixels(np.asarray(parsed.boxes, np.float64), np.asarray(parsed.offsets), self.coords, sizes,
                          self.min_pixels, self.max_pixels)
        sample.predicted = boxes.tolist()
        truth = columns_row.get("solution", columns_row.get(self.solution_field))
        if truth is not None:
            try:
                sample.truth = parse_solutions([truth]).boxes.tolist()
            except ValueError:
                sample.truth = []
        cat = columns_row.get(self.category_field)
        if cat is not None:
            try:
                sample.label = self.truth.cat_name[self._category_of(cat, sample.line)]
            except ValueError:
                sample.label = str(cat)
        return sample


def _lvis_stats(ev: Evaluation, frequencies: list[str]) -> dict[str, float]:
    """LVIS's summary (lvis-api ``LVISEval.summarize``): AP by IoU, area and frequency group; AR@300.
    ``frequencies``: ``"r"``, ``"c"`` or ``"f"`` of each evaluated category, in the evaluation's order."""
    precision, recall, iou_thrs = ev.precision, ev.recall, ev.iou_thrs
    groups = {f: [k for k, g in enumerate(frequencies) if g == f] for f in "rcf"}

    def mean(s: np.ndarray) -> float:
        v = s[s > -1]
        return float(np.mean(v)) if v.size else -1.0

    def ap(area: int = 0, iou: float | None = None, cats: list[int] | None = None) -> float:
        s = precision[:, :, :, area, 0]
        if iou is not None:
            s = s[np.where(iou == iou_thrs)[0]]
        if cats is not None:
            s = s[:, :, cats]
        return mean(s)

    def ar(area: int = 0) -> float:
        return mean(recall[:, :, area, 0])

    return {"AP": ap(), "AP50": ap(iou=0.5), "AP75": ap(iou=0.75), "APs": ap(1), "APm": ap(2), "APl": ap(3),
            "APr": ap(cats=groups["r"]), "APc": ap(cats=groups["c"]), "APf": ap(cats=groups["f"]),
            "AR@300": ar(), "ARs@300": ar(1), "ARm@300": ar(2), "ARl@300": ar(3)}


def _as_int_id(value: Any) -> int | None:
    """An integer id from an int, an integral float or a string of digits; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        return int(value)
    if isinstance(value, str):
        s = value.strip()
        if s.lstrip("-").isdigit():
            return int(s)
    return None


def _offsets_of(rows: np.ndarray, n: int) -> np.ndarray:
    """Row offsets of boxes sorted by row (``rows`` non-decreasing)."""
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=offsets[1:])
    return offsets


def _limit_per_image(dets: np.ndarray, max_dets: int) -> tuple[np.ndarray, int]:
    """LVIS's per-image cap: the ``max_dets`` best-scored detections of each image (ties in input order)."""
    if not len(dets):
        return dets, 0
    idx = np.arange(len(dets))
    order = np.lexsort((idx, -dets[:, 5], dets[:, 0]))  # by image, then score descending, then input order
    img_sorted = dets[order, 0]
    starts = np.flatnonzero(np.r_[True, img_sorted[1:] != img_sorted[:-1]])
    rank = idx - np.repeat(starts, np.diff(np.r_[starts, len(dets)]))
    keep = np.zeros(len(dets), bool)
    keep[order[rank < max_dets]] = True
    return dets[keep], int((~keep).sum())
