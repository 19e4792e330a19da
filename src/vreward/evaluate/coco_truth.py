"""COCO / LVIS ground truth for the detection metrics: read once, checked, made usable by both evaluators.

:class:`CocoTruth` reads a COCO instances file (or an LVIS file), checks every part the evaluators and the
rewards read (an error names the file and the entry: ``images[3]``, ``annotations[12]``), repairs what would
make COCOeval silently wrong, and keeps the images, categories and annotations as numpy arrays. It also
builds the rewards' ground truth: the JSON text of the boxes of each (image, category), or of each image
with their labels. See docs/evaluate-detection.md ("GT file checks and repairs").
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from vreward.evaluate.gc_pause import gc_paused
from vreward.labels import normalize_label


def read_coco_json(path: str | Path) -> dict[str, Any]:
    """The parsed COCO (or LVIS) instances file ``path``: a JSON object with ``images``, ``annotations`` and
    ``categories`` lists; a ``FileNotFoundError`` or ``ValueError`` naming the file and the problem otherwise."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ground truth {path}: no such file")
    try:
        with path.open("rb") as f, gc_paused():
            data = json.load(f)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"ground truth {path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"ground truth {path}: expected a JSON object (COCO format), got {type(data).__name__}")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise ValueError(f"ground truth {path}: missing list field {key!r} (COCO instances format)")
    return data


class CocoTruth:
    """A COCO (or, with ``lvis=True``, LVIS) ground-truth file, checked and repaired.

    Arrays, in file order (I images, A annotations)::

        img_ids    [I]     int64    image ids
        img_w      [I]     float64  image widths in pixels
        img_h      [I]     float64  image heights in pixels
        ann_img    [A]     int64    image id of each annotation
        ann_cat    [A]     int64    category id of each annotation
        ann_box    [A, 4]  float64  box as x, y, width, height in pixels
        ann_crowd  [A]     bool     iscrowd

    Lookups: ``img_pos`` (image id -> position in ``img_ids``), ``cat_name`` (category id -> name, in file
    order), ``cat_freq`` (LVIS: category id -> ``"r"``, ``"c"`` or ``"f"``) and :meth:`category_named`.
    ``data`` is the parsed file with the repairs: an annotation without ``area`` gets ``w * h``; COCO: one
    without ``iscrowd`` gets 0 (pycocotools reads the key unconditionally); annotation ids that are not
    distinct positive integers are renumbered 1..A in file order (id 0 means "unmatched" inside COCOeval,
    duplicate ids overwrite each other). The evaluators read ``data`` as is.
    """

    def __init__(self, path: str | Path, lvis: bool = False):
        self.path = Path(path)
        self.lvis = lvis
        data = read_coco_json(self.path)
        self._read_images(data["images"])
        self._read_categories(data["categories"])
        self._read_annotations(data["annotations"])
        self.data = data
        self._solutions: dict[tuple[int, int], str] | None = None
        self._labelled_solutions: dict[int, str] | None = None
        self._size_columns: tuple[list, list] | None = None

    # ------------------------------------------------------------------------------------------- reading

    def _read_images(self, images: list) -> None:
        """id, width, height of every image (and LVIS's federated lists)."""
        img_ids, widths, heights = [], [], []
        for k, img in enumerate(images):
            where = f"ground truth {self.path}: images[{k}]"
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
        self.img_pos: dict[int, int] = {iid: k for k, iid in enumerate(img_ids)}
        if len(self.img_pos) != len(img_ids):
            dup = next(i for i in img_ids if img_ids.count(i) > 1)
            raise ValueError(f"ground truth {self.path}: image id {dup} appears more than once")
        self.img_ids = np.array(img_ids, np.int64)
        self.img_w = np.array(widths, np.float64)
        self.img_h = np.array(heights, np.float64)

    def _read_categories(self, categories: list) -> None:
        """id and name of every category (LVIS: its frequency)."""
        self.cat_name: dict[int, str] = {}
        self.cat_freq: dict[int, str] = {}
        by_name: dict[str, int | None] = {}
        for k, cat in enumerate(categories):
            where = f"ground truth {self.path}: categories[{k}]"
            cid = cat.get("id") if isinstance(cat, dict) else None
            if isinstance(cid, bool) or not isinstance(cid, int):
                raise ValueError(f"{where}: field 'id' must be an integer, got {cid!r}")
            if cid in self.cat_name:
                raise ValueError(f"{where}: category id {cid} appears more than once")
            name = cat.get("name")
            name = str(cid) if not isinstance(name, str) else name
            self.cat_name[cid] = name
            norm = normalize_label(name)
            by_name[norm] = None if norm in by_name and by_name[norm] != cid else cid  # None: ambiguous
            if self.lvis:
                freq = cat.get("frequency")
                if freq not in ("r", "c", "f"):
                    raise ValueError(f"{where} (id {cid}): LVIS ground truth needs 'frequency' 'r', 'c' or 'f', "
                                     f"got {freq!r}")
                self.cat_freq[cid] = freq
        self._cat_by_name = by_name

    def _read_annotations(self, anns: list) -> None:
        """Annotations checked a column at a time (one by one only to name a bad one), then repaired."""
        n = len(anns)
        columns = self._annotation_columns(anns)
        if columns is None:
            self._check_annotations(anns)  # raises, naming the first bad annotation
            raise ValueError(f"ground truth {self.path}: unreadable annotations")  # pragma: no cover
        img_list, cat_list, box_list = columns
        self.ann_img = np.array(img_list, np.int64).reshape(n)
        self.ann_cat = np.array(cat_list, np.int64).reshape(n)
        self.ann_box = np.array(box_list, np.float64).reshape(n, 4)
        self.ann_crowd = np.fromiter((bool(a.get("iscrowd", 0)) for a in anns), bool, n)
        missing_area = [a for a in anns if "area" not in a]
        for a in missing_area:  # bbox-only datasets: the box's area
            a["area"] = float(a["bbox"][2]) * float(a["bbox"][3])
        if not self.lvis:
            for a in anns:
                if "iscrowd" not in a:
                    a["iscrowd"] = 0  # pycocotools reads the key unconditionally
        ids = [a.get("id") for a in anns]
        if not all(type(i) is int for i in ids) or 0 in set(ids) or len(set(ids)) != n:
            for k, a in enumerate(anns):
                a["id"] = k + 1

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
        if set(map(type, img)) != {int} or not set(img) <= self.img_pos.keys():
            return None
        if set(map(type, cat)) != {int} or not set(cat) <= self.cat_name.keys():
            return None
        if set(map(type, box)) != {list} or set(map(len, box)) != {4}:
            return None
        if not set(map(type, itertools.chain.from_iterable(box))) <= number:
            return None
        return img, cat, box

    def _check_annotations(self, anns: list) -> None:
        """Raise a ValueError naming the first annotation that the evaluators cannot read."""
        img_ok, cat_ok = self.img_pos.keys(), self.cat_name.keys()
        number = (int, float)
        for k, ann in enumerate(anns):
            where = f"ground truth {self.path}: annotations[{k}]"
            if not isinstance(ann, dict):
                raise ValueError(f"{where} is not an object")
            iid, cid, bbox = ann.get("image_id"), ann.get("category_id"), ann.get("bbox")
            if type(iid) is not int or iid not in img_ok:
                raise ValueError(f"{where}: image_id {iid!r} is not in 'images'")
            if type(cid) is not int or cid not in cat_ok:
                raise ValueError(f"{where}: category_id {cid!r} is not in 'categories'")
            if not (type(bbox) is list and len(bbox) == 4 and all(type(v) in number for v in bbox)):
                raise ValueError(f"{where}: field 'bbox' must be [x, y, width, height], got {bbox!r}")

    # ------------------------------------------------------------------------------------------- lookups

    def category_named(self, name: str) -> int | None:
        """Id of the category called ``name`` (case-insensitive, ``_`` and spaces alike: :func:`normalize_label`);
        -1 when no category has that name, None when several do."""
        return self._cat_by_name.get(normalize_label(name), -1)

    def size_columns(self) -> tuple[list, list]:
        """Widths and heights of the images (in ``img_ids`` order) as Python numbers, ints where whole."""
        if self._size_columns is None:
            self._size_columns = (_int_if_whole(self.img_w), _int_if_whole(self.img_h))
        return self._size_columns

    # ------------------------------------------------------------------------------------ rewards' truth

    def solutions(self) -> dict[tuple[int, int], str]:
        """Non-crowd boxes of each (image id, category id) as the JSON text of ``[[x1, y1, x2, y2], ...]``
        (pixels); pairs without boxes are absent."""
        if self._solutions is None:
            groups: dict[tuple[int, int], list[str]] = {}
            keep = self._solution_boxes_mask()
            b = self.ann_box[keep]
            x2, y2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
            # repr of a finite float is exactly what json.dumps writes
            texts = [f"[{a!r}, {c!r}, {e!r}, {f!r}]" for a, c, e, f in zip(b[:, 0].tolist(), b[:, 1].tolist(),
                                                                              x2.tolist(), y2.tolist())]
            for key, text in zip(zip(self.ann_img[keep].tolist(), self.ann_cat[keep].tolist()), texts):
                group = groups.get(key)
                if group is None:
                    groups[key] = [text]
                else:
                    group.append(text)
            self._solutions = {key: "[" + ", ".join(group) + "]" for key, group in groups.items()}
        return self._solutions

    def labelled_solutions(self) -> dict[int, str]:
        """Non-crowd boxes of each image id with their category names, as the JSON text of
        ``[{"bbox_2d": [x1, y1, x2, y2], "label": name}, ...]`` (pixels); images without boxes are absent."""
        if self._labelled_solutions is None:
            groups: dict[int, list] = {}
            keep = self._solution_boxes_mask()
            b = self.ann_box[keep]
            xyxy = np.stack([b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]], axis=1).tolist()
            for iid, cid, box in zip(self.ann_img[keep].tolist(), self.ann_cat[keep].tolist(), xyxy):
                groups.setdefault(iid, []).append({"bbox_2d": box, "label": self.cat_name[cid]})
            self._labelled_solutions = {key: json.dumps(objs) for key, objs in groups.items()}
        return self._labelled_solutions

    def _solution_boxes_mask(self) -> np.ndarray:
        """[A] the boxes the rewards see: not crowd, finite, positive width and height."""
        b = self.ann_box
        return ~self.ann_crowd & np.isfinite(b).all(axis=1) & (b[:, 2] > 0) & (b[:, 3] > 0)


def _int_if_whole(values: np.ndarray) -> list:
    out = values.tolist()
    return [int(v) if v.is_integer() else v for v in out]
