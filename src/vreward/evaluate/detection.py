"""Detection metrics against COCO / LVIS ground truth: COCOeval bbox AP / AR of saved model outputs.

Visual-RFT evaluates a detector VLM by prompting once per (image, category), converting the model's boxes to
pixels of the image and feeding the model's own confidence to COCOeval as the detection score.
:class:`DetectionMetrics` does that for ``vreward score``: it supplies the ground truth the rewards need
(``solution``, ``width``, ``height`` columns built from the GT file), collects every predicted box of every
batch in numpy arrays, and runs the COCO evaluator once at the end (faster-coco-eval or pycocotools; LVIS's
federated rules with ``lvis=True``).

pycocotools, faster_coco_eval and matplotlib are imported inside the functions that use them, so importing
this module stays light. See docs/evaluate-detection.md.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import io
import itertools
import json
import math
import operator
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from vreward.evaluate.base import Figure, Record, RecordError, Sample
from vreward.frames import QWEN25VL_MAX_PIXELS, QWEN25VL_MIN_PIXELS, check_frame, to_pixels
from vreward.labels import normalize_label
from vreward.parsing import ParsedBatch
from vreward.rewards.base import RewardBatch

EVALUATORS = ("auto", "faster-coco-eval", "pycocotools")
COCO_STATS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
LVIS_STATS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf", "AR@300", "ARs@300", "ARm@300",
              "ARl@300")
_STAT_HELP = {
    "AP": "IoU=0.50:0.95 area=all", "AP50": "IoU=0.50 area=all", "AP75": "IoU=0.75 area=all",
    "APs": "IoU=0.50:0.95 area=small", "APm": "IoU=0.50:0.95 area=medium", "APl": "IoU=0.50:0.95 area=large",
    "AR1": "maxDets=1", "AR10": "maxDets=10", "AR100": "maxDets=100", "ARs": "area=small maxDets=100",
    "ARm": "area=medium maxDets=100", "ARl": "area=large maxDets=100",
    "APr": "rare categories", "APc": "common categories", "APf": "frequent categories",
    "AR@300": "maxDets=300", "ARs@300": "area=small maxDets=300", "ARm@300": "area=medium maxDets=300",
    "ARl@300": "area=large maxDets=300",
}
LVIS_MAX_DETS = 300  # LVIS: at most 300 detections per image (all categories together), by score
OUTSIDE_SLACK = 1.0  # pixels a box may extend beyond the image before it counts as outside
_DET_COLUMNS = 7  # image_id, x, y, w, h, score, category_id (pycocotools' numpy layout)


def _noop(*args: Any, **kwargs: Any) -> None:
    return None


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


def _resolve_evaluator(evaluator: str) -> str:
    """The evaluator that will run: 'faster-coco-eval' or 'pycocotools' (a clear error when missing)."""
    import importlib.util

    have_fce = importlib.util.find_spec("faster_coco_eval") is not None
    have_pct = importlib.util.find_spec("pycocotools") is not None
    if evaluator == "auto":
        if have_fce:
            return "faster-coco-eval"
        if have_pct:
            return "pycocotools"
        raise ValueError("evaluator='auto' found neither faster-coco-eval nor pycocotools: "
                         "pip install faster-coco-eval (or pycocotools)")
    if evaluator == "faster-coco-eval" and not have_fce:
        raise ValueError("evaluator='faster-coco-eval' is not installed: pip install faster-coco-eval")
    if evaluator == "pycocotools" and not have_pct:
        raise ValueError("evaluator='pycocotools' is not installed: pip install pycocotools")
    return evaluator


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
        if evaluator not in EVALUATORS:
            raise ValueError(f"evaluator must be one of {EVALUATORS}, got {evaluator!r}")
        if images not in ("gt", "scored"):
            raise ValueError(f"images must be 'gt' or 'scored', got {images!r}")
        if categories not in ("gt", "scored"):
            raise ValueError(f"categories must be 'gt' or 'scored', got {categories!r}")
        if not isinstance(lvis, bool):
            raise ValueError(f"lvis must be True or False, got {lvis!r}")
        self.evaluator = _resolve_evaluator(evaluator)
        if lvis and self.evaluator != "faster-coco-eval":
            raise ValueError("lvis=True needs faster-coco-eval (its lvis_style evaluation implements LVIS's "
                             "rules; pycocotools does not): pip install faster-coco-eval")
        self.gt_path = Path(gt_path)
        self.lvis = lvis
        self.coords = coords
        self.min_pixels, self.max_pixels = int(min_pixels), int(max_pixels)
        self.image_id_field, self.category_field = image_id_field, category_field
        self.solution_field = solution_field
        self.default_score = float(default_score)
        self.images, self.categories = images, categories
        self._load_gt()
        self._chunks: list[np.ndarray] = []
        self._scored_images: set[int] = set()
        self._scored_categories: set[int] = set()
        self._counts = {"records": 0, "boxes_outside_image": 0, "degenerate_boxes": 0, "unknown_labels": 0,
                        "default_score_used": 0}
        self._warned_default = False
        self._last: tuple[tuple[Record, ...], np.ndarray, np.ndarray] | None = None
        self._solutions: dict[tuple[int, int], str] | None = None
        self._label_solutions: dict[int, str] | None = None
        self._sizes_py: tuple[list, list] | None = None
        self._result: dict[str, Any] | None = None
        self._precision: np.ndarray | None = None
        self._rec_thrs: np.ndarray | None = None
        self._max_det_index = 0

    # ----------------------------------------------------------------------------------------------- ground truth

    def _load_gt(self) -> None:
        path = self.gt_path
        if not path.is_file():
            raise FileNotFoundError(f"ground truth {path}: no such file")
        try:
            with path.open("rb") as f, _gc_paused():
                data = json.load(f)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"ground truth {path}: not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ValueError(f"ground truth {path}: expected a JSON object (COCO format), got {type(data).__name__}")
        for key in ("images", "annotations", "categories"):
            if not isinstance(data.get(key), list):
                raise ValueError(f"ground truth {path}: missing list field {key!r} (COCO instances format)")

        # images: id, width, height (and LVIS's federated lists)
        img_ids, widths, heights = [], [], []
        for k, img in enumerate(data["images"]):
            where = f"ground truth {path}: images[{k}]"
            if not isinstance(img, dict):
                raise ValueError(f"{where} is not an object")
            iid = img.get("id")
            if isinstance(iid, bool) or not isinstance(iid, int):
                raise ValueError(f"{where}: field 'id' must be an integer, got {iid!r}")
            w, h = img.get("width"), img.get("height")
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
                       for v in (w, h)):
                raise ValueError(f"{where} (id {iid}): fields 'width' and 'height' must be positive numbers, "
                                 f"got {w!r}, {h!r}")
            if self.lvis:
                for key in ("neg_category_ids", "not_exhaustive_category_ids"):
                    if not isinstance(img.get(key), list):
                        raise ValueError(f"{where} (id {iid}): LVIS ground truth needs a list field {key!r}")
            img_ids.append(iid)
            widths.append(float(w))
            heights.append(float(h))
        self._img_pos: dict[int, int] = {iid: k for k, iid in enumerate(img_ids)}
        if len(self._img_pos) != len(img_ids):
            dup = next(i for i in img_ids if img_ids.count(i) > 1)
            raise ValueError(f"ground truth {path}: image id {dup} appears more than once")
        self._img_ids = np.array(img_ids, np.int64)
        self._img_w = np.array(widths, np.float64)
        self._img_h = np.array(heights, np.float64)

        # categories: id, name (LVIS: frequency)
        self._cat_name: dict[int, str] = {}
        self._cat_freq: dict[int, str] = {}
        by_name: dict[str, int | None] = {}
        for k, cat in enumerate(data["categories"]):
            where = f"ground truth {path}: categories[{k}]"
            cid = cat.get("id") if isinstance(cat, dict) else None
            if isinstance(cid, bool) or not isinstance(cid, int):
                raise ValueError(f"{where}: field 'id' must be an integer, got {cid!r}")
            if cid in self._cat_name:
                raise ValueError(f"{where}: category id {cid} appears more than once")
            name = cat.get("name")
            name = str(cid) if not isinstance(name, str) else name
            self._cat_name[cid] = name
            norm = normalize_label(name)
            by_name[norm] = None if norm in by_name and by_name[norm] != cid else cid  # None: ambiguous
            if self.lvis:
                freq = cat.get("frequency")
                if freq not in ("r", "c", "f"):
                    raise ValueError(f"{where} (id {cid}): LVIS ground truth needs 'frequency' 'r', 'c' or 'f', "
                                     f"got {freq!r}")
                self._cat_freq[cid] = freq
        self._cat_by_name = by_name

        # annotations: validated, ids made usable by both evaluators, arrays kept for the solution column
        anns = data["annotations"]
        n = len(anns)
        columns = self._annotation_columns(anns)
        if columns is None:
            self._check_annotations(anns)  # raises, naming the first bad annotation
            raise ValueError(f"ground truth {path}: unreadable annotations")  # pragma: no cover
        img_list, cat_list, box_list = columns
        ann_img = np.array(img_list, np.int64).reshape(n)
        ann_cat = np.array(cat_list, np.int64).reshape(n)
        ann_box = np.array(box_list, np.float64).reshape(n, 4)
        ann_crowd = np.fromiter((bool(a.get("iscrowd", 0)) for a in anns), bool, n)
        missing_area = [a for a in anns if "area" not in a]
        for a in missing_area:  # bbox-only datasets: the box's area
            a["area"] = float(a["bbox"][2]) * float(a["bbox"][3])
        if not self.lvis:
            for a in anns:
                if "iscrowd" not in a:
                    a["iscrowd"] = 0  # pycocotools reads the key unconditionally
        ids = [a.get("id") for a in anns]
        renumber = not all(type(i) is int for i in ids) or 0 in set(ids) or len(set(ids)) != n
        if renumber:  # id 0 means "unmatched" inside COCOeval; duplicate ids overwrite each other
            for k, a in enumerate(anns):
                a["id"] = k + 1
        self._renumbered = renumber
        self._ann_img, self._ann_cat, self._ann_box, self._ann_crowd = ann_img, ann_cat, ann_box, ann_crowd
        self._data = data
        self._coco_gt = None

    def _annotation_columns(self, anns: list) -> tuple[list, list, list] | None:
        """image ids, category ids and boxes of every annotation, checked a column at a time (None: a problem)."""
        try:
            img = [a["image_id"] for a in anns]
            cat = [a["category_id"] for a in anns]
            box = [a["bbox"] for a in anns]
        except (KeyError, TypeError):
            return None
        number = {int, float}
        if not anns:
            return img, cat, box
        if set(map(type, img)) != {int} or not set(img) <= self._img_pos.keys():
            return None
        if set(map(type, cat)) != {int} or not set(cat) <= self._cat_name.keys():
            return None
        if set(map(type, box)) != {list} or set(map(len, box)) != {4}:
            return None
        if not set(map(type, itertools.chain.from_iterable(box))) <= number:
            return None
        return img, cat, box

    def _check_annotations(self, anns: list) -> None:
        """Raise a ValueError naming the first annotation that the evaluators cannot read."""
        img_ok, cat_ok = self._img_pos.keys(), self._cat_name.keys()
        number = (int, float)
        for k, ann in enumerate(anns):
            where = f"ground truth {self.gt_path}: annotations[{k}]"
            if not isinstance(ann, dict):
                raise ValueError(f"{where} is not an object")
            iid, cid, bbox = ann.get("image_id"), ann.get("category_id"), ann.get("bbox")
            if type(iid) is not int or iid not in img_ok:
                raise ValueError(f"{where}: image_id {iid!r} is not in 'images'")
            if type(cid) is not int or cid not in cat_ok:
                raise ValueError(f"{where}: category_id {cid!r} is not in 'categories'")
            if not (type(bbox) is list and len(bbox) == 4 and all(type(v) in number for v in bbox)):
                raise ValueError(f"{where}: field 'bbox' must be [x, y, width, height], got {bbox!r}")

    def _gt_coco(self):
        """The evaluator's COCO object of the ground truth (built once, on first use)."""
        if self._coco_gt is None:
            if self.evaluator == "faster-coco-eval":
                from faster_coco_eval import COCO

                self._coco_gt = COCO(self._data, print_function=_noop)
            else:
                from pycocotools.coco import COCO

                coco = COCO()
                coco.dataset = self._data
                with contextlib.redirect_stdout(io.StringIO()):
                    coco.createIndex()
                self._coco_gt = coco
        return self._coco_gt

    def _gt_boxes(self) -> dict[tuple[int, int], str]:
        """Non-crowd GT boxes of each (image, category): the JSON text of their [x1, y1, x2, y2] pixel lists."""
        if self._solutions is None:
            groups: dict[tuple[int, int], list[str]] = {}
            keep = self._solution_boxes_mask()
            b = self._ann_box[keep]
            x2, y2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
            # repr of a finite float is exactly what json.dumps writes
            texts = [f"[{a!r}, {c!r}, {e!r}, {f!r}]" for a, c, e, f in zip(b[:, 0].tolist(), b[:, 1].tolist(),
                                                                              x2.tolist(), y2.tolist())]
            for key, text in zip(zip(self._ann_img[keep].tolist(), self._ann_cat[keep].tolist()), texts):
                group = groups.get(key)
                if group is None:
                    groups[key] = [text]
                else:
                    group.append(text)
            self._solutions = {key: "[" + ", ".join(group) + "]" for key, group in groups.items()}
        return self._solutions

    def _gt_labelled_boxes(self) -> dict[int, str]:
        """Non-crowd GT boxes of each image with their category names, as JSON text (records without a
        category): ``[{"bbox_2d": [x1, y1, x2, y2], "label": name}, ...]``."""
        if self._label_solutions is None:
            groups: dict[int, list] = {}
            keep = self._solution_boxes_mask()
            b = self._ann_box[keep]
            xyxy = np.stack([b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]], axis=1).tolist()
            for iid, cid, box in zip(self._ann_img[keep].tolist(), self._ann_cat[keep].tolist(), xyxy):
                groups.setdefault(iid, []).append({"bbox_2d": box, "label": self._cat_name[cid]})
            self._label_solutions = {key: json.dumps(objs) for key, objs in groups.items()}
        return self._label_solutions

    def _solution_boxes_mask(self) -> np.ndarray:
        """GT boxes the rewards see: not crowd, finite, positive width and height."""
        b = self._ann_box
        return ~self._ann_crowd & np.isfinite(b).all(axis=1) & (b[:, 2] > 0) & (b[:, 3] > 0)

    # ------------------------------------------------------------------------------------------------ records

    def _category_of(self, value: Any, line: int) -> int:
        """Category id of a record's category field (an id or a name)."""
        if isinstance(value, str):
            cid = self._cat_by_name.get(normalize_label(value), -1)
            if cid is None:
                raise RecordError(line, f"category name {value!r} matches several categories of {self.gt_path}; "
                                        "give the category id")
            if cid >= 0:
                return cid
        as_int = _as_int_id(value)
        if as_int is not None and as_int in self._cat_name:
            return as_int
        raise RecordError(line, f"{self.category_field} {value!r} is not a category of {self.gt_path}")

    def _label_category(self, label: str | None) -> int:
        if label is None:
            return -1
        cid = self._cat_by_name.get(normalize_label(label), -1)
        return -1 if cid is None else cid

    def _image_position(self, rec: Record, value: Any) -> int:
        """Position in the GT images of a record's image id (an error naming the line when there is none)."""
        as_int = _as_int_id(value)
        p = self._img_pos.get(as_int) if as_int is not None else None
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
        datas = [rec.data for rec in records]
        id_values = [d.get(self.image_id_field) for d in datas]
        cat_values = [d.get(self.category_field) for d in datas]
        positions = None
        if set(map(type, id_values)) == {int}:  # the usual case, checked for the whole batch at once
            positions = list(map(self._img_pos.get, id_values))
            if None in positions:
                positions = None
        if positions is None:
            positions = [self._image_position(rec, value) for rec, value in zip(records, id_values)]
        pos = np.array(positions, np.int64).reshape(n)
        kinds = set(map(type, cat_values))
        if kinds == {int} and set(cat_values) <= self._cat_name.keys():
            cats = np.array(cat_values, np.int64)
        elif kinds == {type(None)}:
            cats = np.full(n, -1, np.int64)
        else:
            cats = np.array([-1 if c is None else c if type(c) is int and c in self._cat_name
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
        if self._sizes_py is None:
            self._sizes_py = (_int_if_whole(self._img_w), _int_if_whole(self._img_h))
        p = pos.tolist()
        widths, heights = self._sizes_py
        ids = self._img_ids[pos].tolist()
        out: dict[str, list[Any]] = {"width": [widths[k] for k in p], "height": [heights[k] for k in p]}
        field = self.solution_field
        if any(field not in rec.data for rec in records):
            by_pair = self._gt_boxes()
            by_image = self._gt_labelled_boxes() if (cats < 0).any() else {}
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
        self._scored_images.update(self._img_ids[pos].tolist())
        self._scored_categories.update(c for c in set(cats.tolist()) if c >= 0)
        offsets = np.asarray(parsed.offsets, np.int64)
        counts = np.diff(offsets)
        rows = np.repeat(np.arange(n), counts)
        sel = np.flatnonzero(np.asarray(parsed.usable)[rows])  # boxes of rows that parsed
        if not len(sel):
            return
        widths, heights = self._img_w[pos], self._img_h[pos]
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
        chunk = np.empty((len(k), _DET_COLUMNS), np.float64)
        chunk[:, 0] = self._img_ids[pos[r[k]]]
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
            return np.zeros((0, _DET_COLUMNS), np.float64)
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks)]
        return self._chunks[0]

    def finalize(self) -> dict[str, Any]:
        """Run COCOeval (bbox) on everything added; returns the metrics (JSON-serializable, stable keys)."""
        if self._result is not None:
            return self._result
        dets = self.detections()
        img_ids = sorted(self._img_pos) if self.images == "gt" else sorted(self._scored_images)
        cat_ids = sorted(self._cat_name) if self.categories == "gt" else sorted(self._scored_categories)
        in_eval = np.isin(dets[:, 0], img_ids) & np.isin(dets[:, 6], cat_ids)
        dets = dets[in_eval]
        over_max = 0
        if self.lvis:
            dets, over_max = _limit_per_image(dets, LVIS_MAX_DETS)
        precision, recall, stats, rec_thrs, max_det_index = self._evaluate(dets, img_ids, cat_ids)
        self._precision, self._rec_thrs, self._max_det_index = precision, rec_thrs, max_det_index
        per_category = self._per_category(dets, img_ids, cat_ids, precision)
        self._result = {
            "evaluator": self.evaluator,
            "rules": "lvis" if self.lvis else "coco",
            "stats": stats,
            "per_category": per_category,
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

    def _evaluate(self, dets: np.ndarray, img_ids: list[int], cat_ids: list[int]):
        """Run the evaluator; returns precision [TxRxKxAxM], recall [TxKxAxM], stats, recall thresholds, M index.

        The cyclic garbage collector is paused meanwhile: the evaluators build a few hundred thousand small
        dicts and lists, none of them cyclic, and full collections over them cost more than the evaluation.
        """
        gt = self._gt_coco()
        with _gc_paused():
            if self.evaluator == "faster-coco-eval":
                dt = _fce_results(gt, dets)
                ev = _fce_eval_class()(gt, dt, "bbox", print_function=_noop, lvis_style=self.lvis)
                ev.params.imgIds = list(img_ids)
                ev.params.catIds = list(cat_ids)
                if self.lvis:
                    ev.params.maxDets = [LVIS_MAX_DETS]
                ev.precomputed_ious = self._bbox_ious(dets, img_ids, cat_ids, max(ev.params.maxDets))
                ev.evaluate()
                ev.accumulate()
                if not self.lvis:
                    ev.summarize()
            else:
                from pycocotools.cocoeval import COCOeval

                anns = _result_annotations(dets)
                with contextlib.redirect_stdout(io.StringIO()):
                    dt = gt.loadRes(anns) if anns else _empty_results(gt)
                    ev = COCOeval(gt, dt, "bbox")
                    ev.params.imgIds = list(img_ids)
                    ev.params.catIds = list(cat_ids)
                    ev.evaluate()
                    ev.accumulate()
                    ev.summarize()
            precision = np.asarray(ev.eval["precision"], np.float64)
            recall = np.asarray(ev.eval["recall"], np.float64)
            rec_thrs = np.asarray(ev.params.recThrs, np.float64)
            iou_thrs = np.asarray(ev.params.iouThrs, np.float64)
            coco_stats = None if self.lvis else np.asarray(ev.stats, np.float64)[:12].tolist()
            max_dets = list(ev.params.maxDets)
            del ev, dt
        if self.lvis:
            return precision, recall, self._lvis_stats(precision, recall, iou_thrs, cat_ids), rec_thrs, 0
        stats = {name: float(v) for name, v in zip(COCO_STATS, coco_stats)}
        return precision, recall, stats, rec_thrs, max_dets.index(100)

    def _bbox_ious(self, dets: np.ndarray, img_ids: list[int], cat_ids: list[int],
                   max_det: int) -> dict[tuple[int, int], np.ndarray]:
        """COCOeval's ``computeIoU`` of every (image, category) with detections and GT, all at once.

        Per pair, as COCOeval orders them: detections in input order sorted by descending score (stable), the
        first ``max_det`` kept; GT boxes in file order; IoU as pycocotools' ``bbIou`` computes it (crowd GT:
        intersection over the detection's area).
        """
        ids = (dets[:, 0], dets[:, 6], self._ann_img, self._ann_cat)
        if len(dets) and not all(((a >= 0) & (a < _KEY_STRIDE)).all() for a in ids):
            return {}  # ids that do not pack into one int64 key: the evaluator computes the IoUs itself
        img_ok = np.isin(self._ann_img, img_ids) & np.isin(self._ann_cat, cat_ids)
        g_idx = np.flatnonzero(img_ok)  # file order
        g_key = self._ann_img[g_idx] * _KEY_STRIDE + self._ann_cat[g_idx]
        g_idx = g_idx[np.argsort(g_key, kind="stable")]
        g_key = self._ann_img[g_idx] * _KEY_STRIDE + self._ann_cat[g_idx]
        d_key = dets[:, 0].astype(np.int64) * _KEY_STRIDE + dets[:, 6].astype(np.int64)
        d_idx = np.lexsort((np.arange(len(dets)), -dets[:, 5], d_key))  # pair, score desc, input order
        d_key = d_key[d_idx]
        d_pairs, d_start, d_count = np.unique(d_key, return_index=True, return_counts=True)
        g_pairs, g_start, g_count = np.unique(g_key, return_index=True, return_counts=True)
        pairs, di, gi = np.intersect1d(d_pairs, g_pairs, assume_unique=True, return_indices=True)
        if not len(pairs):
            return {}
        dc = np.minimum(d_count[di], max_det)
        gc_ = g_count[gi]
        sizes = dc * gc_
        ends = np.cumsum(sizes)
        starts = ends - sizes
        pair_of = np.repeat(np.arange(len(pairs)), sizes)
        local = np.arange(int(ends[-1])) - starts[pair_of]
        d_rows = d_idx[d_start[di][pair_of] + local // gc_[pair_of]]
        g_rows = g_idx[g_start[gi][pair_of] + local % gc_[pair_of]]
        D = dets[d_rows, 1:5]
        G = self._ann_box[g_rows]
        with np.errstate(invalid="ignore", divide="ignore"):
            # pycocotools maskApi.c bbIou, operation for operation
            da = D[:, 2] * D[:, 3]
            ga = G[:, 2] * G[:, 3]
            w = np.minimum(D[:, 2] + D[:, 0], G[:, 2] + G[:, 0]) - np.maximum(D[:, 0], G[:, 0])
            h = np.minimum(D[:, 3] + D[:, 1], G[:, 3] + G[:, 1]) - np.maximum(D[:, 1], G[:, 1])
            i = w * h
            u = np.where(self._ann_crowd[g_rows], da, da + ga - i)
            iou = np.where((w > 0) & (h > 0), i / u, 0.0)
        keys = pairs.tolist()
        return {(k // _KEY_STRIDE, k % _KEY_STRIDE): iou[a:b].reshape(m, n)
                for k, a, b, m, n in zip(keys, starts.tolist(), ends.tolist(), dc.tolist(), gc_.tolist())}

    def _lvis_stats(self, precision: np.ndarray, recall: np.ndarray, iou_thrs: np.ndarray,
                    cat_ids: list[int]) -> dict[str, float]:
        """LVIS's summary (lvis-api ``LVISEval.summarize``): AP by IoU, area and frequency group; AR@300."""
        groups = {f: [k for k, c in enumerate(cat_ids) if self._cat_freq[c] == f] for f in "rcf"}

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

    def _per_category(self, dets: np.ndarray, img_ids: list[int], cat_ids: list[int],
                      precision: np.ndarray) -> list[dict[str, Any]]:
        in_imgs = np.isin(self._ann_img, img_ids)
        counted = in_imgs if self.lvis else in_imgs & ~self._ann_crowd
        n_gt = dict(zip(*np.unique(self._ann_cat[counted], return_counts=True)))
        n_det = dict(zip(*np.unique(dets[:, 6].astype(np.int64), return_counts=True)))
        m = self._max_det_index
        out = []
        for k, cid in enumerate(cat_ids):
            p = precision[:, :, k, 0, m]
            p50 = p[0]
            row = {
                "id": cid,
                "name": self._cat_name[cid],
                "AP": float(p[p > -1].mean()) if (p > -1).any() else -1.0,
                "AP50": float(p50[p50 > -1].mean()) if (p50 > -1).any() else -1.0,
                "n_gt": int(n_gt.get(cid, 0)),
                "n_det": int(n_det.get(cid, 0)),
            }
            if self.lvis:
                row["frequency"] = self._cat_freq[cid]
            out.append(row)
        return out

    # ------------------------------------------------------------------------------------------------- report

    def table(self) -> list[str]:
        """The summary stats and a per-category table (top and bottom 10 by AP when there are many)."""
        result = self.finalize()
        rules = "LVIS" if self.lvis else "COCO"
        lines = [f"{rules} bbox ({result['evaluator']}; {result['n_images']} images, {result['n_categories']} "
                 f"categories, {result['detections']} detections)"]
        for name, value in result["stats"].items():
            lines.append(f"  {name:<8} {_fmt(value):>7}   {_STAT_HELP.get(name, '')}")
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
        if len(with_ap) <= 20:
            lines += [row(c) for c in with_ap]
        else:
            lines += [row(c) for c in with_ap[:10]]
            lines.append(f"  ... {len(with_ap) - 20} more ...")
            lines += [row(c) for c in with_ap[-10:]]
        if without:
            lines.append(f"  ({without} categories without ground truth in the evaluated images: AP undefined)")
        return lines

    def figures(self, out_dir: Path) -> list[Figure]:
        """Precision-recall curves (area all, mean over categories) at IoU 0.50, 0.75 and 0.50:0.95 (PNG)."""
        self.finalize()
        precision, rec_thrs = self._precision, self._rec_thrs
        if precision is None or rec_thrs is None:
            return []
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        p = precision[:, :, :, 0, self._max_det_index]  # T x R x K
        curves = []
        for label, sel in (("IoU 0.50", p[:1]), ("IoU 0.75", p[5:6]), ("IoU 0.50:0.95", p)):
            valid = sel > -1
            total = np.where(valid, sel, 0.0).sum(axis=(0, 2))
            count = valid.sum(axis=(0, 2))
            y = np.divide(total, count, out=np.full(len(rec_thrs), np.nan), where=count > 0)
            ap = float(sel[valid].mean()) if valid.any() else float("nan")
            curves.append((label, y, ap))
        max_dets = LVIS_MAX_DETS if self.lvis else 100
        fig, ax = plt.subplots(figsize=(6, 4.2), dpi=96)
        fig.subplots_adjust(left=0.1, right=0.97, bottom=0.12, top=0.9)
        try:
            for label, y, ap in curves:
                ax.plot(rec_thrs, y, label=f"{label} (AP {ap:.3f})")
            ax.set_xlabel("recall")
            ax.set_ylabel("precision")
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1.02)
            ax.grid(alpha=0.3)
            ax.legend(loc="lower left")
            ax.set_title(f"Precision-recall (area all, maxDets {max_dets}, mean over categories)", fontsize=10)
            path = out_dir / "detection_pr_curves.png"
            fig.savefig(path)
        finally:
            plt.close(fig)
        return [Figure(title="Precision-recall curves", path=path,
                       caption="COCO's interpolated precision at 101 recall points, area all, "
                               f"maxDets {max_dets}, averaged over the categories with ground truth.")]

    def samples_pixels(self, sample: Sample, columns_row: dict[str, Any]) -> Sample:
        """Fill the sample's predicted and true boxes in image pixels, and its category name."""
        from vreward.parsing import parse_completions
        from vreward.solution import parse_solutions

        width, height = columns_row.get("width"), columns_row.get("height")
        if width is None or height is None:
            p = self._img_pos.get(_as_int_id(columns_row.get(self.image_id_field)))
            if p is None:
                return sample
            width, height = self._img_w[p], self._img_h[p]
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
                sample.label = self._cat_name[self._category_of(cat, sample.line)]
            except ValueError:
                sample.label = str(cat)
        return sample


def _offsets_of(rows: np.ndarray, n: int) -> np.ndarray:
    """Row offsets of boxes sorted by row (``rows`` non-decreasing)."""
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=offsets[1:])
    return offsets


def _int_if_whole(values: np.ndarray) -> list:
    out = values.tolist()
    return [int(v) if v.is_integer() else v for v in out]


def _fmt(value: float | None) -> str:
    return "-" if value is None or value < 0 else f"{value:.4f}"


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


def _result_annotations(dets: np.ndarray) -> list[dict[str, Any]]:
    """Detections as COCO result dicts (what ``loadRes`` takes), with plain Python numbers."""
    if not len(dets):
        return []
    cols = dets[:, 1:6].T.tolist()
    img = dets[:, 0].astype(np.int64).tolist()
    cat = dets[:, 6].astype(np.int64).tolist()
    return [{"image_id": i, "category_id": c, "bbox": [x, y, w, h], "score": s}
            for i, c, x, y, w, h, s in zip(img, cat, *cols)]


def _fce_results(gt, dets: np.ndarray):
    """faster-coco-eval's result object of the detections, as its ``loadRes`` builds it from result dicts:
    the GT's images and categories, and per detection ``area = w * h``, ``id`` = 1-based position,
    ``iscrowd = 0`` (without the polygon ``loadRes`` adds for segmentation, which bbox evaluation never reads).
    """
    import copy

    from faster_coco_eval import COCO

    cols = dets[:, 1:6].T.tolist()
    img = dets[:, 0].astype(np.int64).tolist()
    cat = dets[:, 6].astype(np.int64).tolist()
    area = (dets[:, 3] * dets[:, 4]).tolist()
    anns = [{"image_id": i, "category_id": c, "bbox": [x, y, w, h], "score": s, "area": a, "id": k, "iscrowd": 0}
            for k, (i, c, x, y, w, h, s, a) in enumerate(zip(img, cat, *cols, area), 1)]
    res = COCO(print_function=_noop)
    res.dataset = {"info": {}, "images": list(gt.dataset["images"]),
                   "categories": copy.deepcopy(gt.dataset["categories"]), "annotations": anns}
    res.createIndex()
    return res


_KEY_STRIDE = 1 << 31  # (image id, category id) packed in one int64; COCO ids are below 2**31


@functools.cache
def _fce_eval_class():
    """faster-coco-eval's evaluator, taking the IoU matrices of (image, category) pairs from
    ``precomputed_ious`` (computed for all pairs at once) instead of one Python call per pair."""
    from faster_coco_eval import COCOeval_faster

    class PrecomputedIoUEval(COCOeval_faster):
        precomputed_ious: dict | None = None

        def computeIoU(self, imgId, catId):  # noqa: N802 - the evaluator's method name
            table = self.precomputed_ious
            if table is not None and self.params.iouType == "bbox" and self.params.useCats:
                found = table.get((imgId, catId))
                if found is not None:
                    return found
            return super().computeIoU(imgId, catId)

    return PrecomputedIoUEval


@contextlib.contextmanager
def _gc_paused():
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _empty_results(gt):
    """pycocotools' ``loadRes`` fails on an empty list: an empty result set over the same images."""
    import copy

    from pycocotools.coco import COCO

    res = COCO()
    res.dataset = {"images": list(gt.dataset["images"]), "categories": copy.deepcopy(gt.dataset["categories"]),
                   "annotations": []}
    res.createIndex()
    return res
