"""The COCO evaluator backends of the detection metrics: pycocotools and faster-coco-eval, behind one interface.

:func:`make_evaluator` is the one place that turns ``"auto"``, ``"faster-coco-eval"`` or ``"pycocotools"``
into a :class:`CocoEvaluator`; its :meth:`~CocoEvaluator.evaluate` runs COCOeval's bbox evaluation of an
(N, 7) detection array against a :class:`~vreward.evaluate.coco_truth.CocoTruth` and returns the accumulated
arrays (:class:`Evaluation`). Both backends give the same numbers; faster-coco-eval is ~10x faster and
implements LVIS's federated rules. The libraries are imported when first used.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import importlib.util
import io
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, get_args

import numpy as np

from vreward.evaluate.coco_truth import CocoTruth
from vreward.evaluate.gc_pause import gc_paused

EvaluatorName = Literal["auto", "faster-coco-eval", "pycocotools"]
EVALUATORS: tuple[str, ...] = get_args(EvaluatorName)
LVIS_MAX_DETS = 300  # LVIS: at most 300 detections per image (all categories together), by score
# One detection per row of an (N, 7) float64 array, pycocotools' numpy layout (pixels, box as x, y, w, h):
DETECTION_FIELDS = ("image_id", "x", "y", "w", "h", "score", "category_id")
_KEY_STRIDE = 1 << 31  # (image id, category id) packed in one int64; COCO ids are below 2**31


@dataclass(frozen=True)
class Evaluation:
    """What one COCOeval run accumulated, in its ``params`` order (T IoU thresholds, R recall points,
    K categories, A area ranges all / small / medium / large, M maxDets settings)::

        precision   [T, R, K, A, M]  interpolated precision, -1 where undefined
        recall      [T, K, A, M]     recall, -1 where undefined
        iou_thrs    [T]
        rec_thrs    [R]
        max_dets    [M]
        coco_stats  [12]             COCOeval.summarize's stats; None under LVIS rules (summarized by the caller)
    """

    precision: np.ndarray
    recall: np.ndarray
    iou_thrs: np.ndarray
    rec_thrs: np.ndarray
    max_dets: tuple[int, ...]
    coco_stats: list[float] | None

    @property
    def max_det_index(self) -> int:
        """Position in M of the largest maxDets (COCO's 100, LVIS's 300), the one AP is reported at."""
        return self.max_dets.index(max(self.max_dets))


class CocoEvaluator(ABC):
    """A COCO evaluator library: builds its ground-truth object once per :class:`CocoTruth` and runs bbox
    evaluations against it."""

    name: ClassVar[str]  # as ``evaluator=`` names it (and ``pip install`` it)
    module: ClassVar[str]  # the module it is imported as
    supports_lvis: ClassVar[bool]

    def __init__(self) -> None:
        self._gt: tuple[CocoTruth, Any] | None = None

    @classmethod
    def installed(cls) -> bool:
        """Whether the library can be imported (without importing it)."""
        return importlib.util.find_spec(cls.module) is not None

    def evaluate(self, truth: CocoTruth, dets: np.ndarray, img_ids: list[int], cat_ids: list[int],
                 lvis: bool = False) -> Evaluation:
        """COCOeval's bbox evaluation of ``dets`` [N, 7] (:data:`DETECTION_FIELDS`) on the images ``img_ids``
        and categories ``cat_ids``; with ``lvis``, LVIS's federated rules at maxDets 300 (the caller keeps each
        image's 300 best detections).

        The cyclic garbage collector is paused meanwhile: the evaluators build a few hundred thousand small
        dicts and lists, none of them cyclic, and full collections over them cost more than the evaluation.
        """
        if lvis and not self.supports_lvis:
            raise ValueError(f"{self.name} has no LVIS rules")
        if self._gt is None or self._gt[0] is not truth:
            self._gt = (truth, self._load(truth))
        with gc_paused():
            ev = self._run(truth, self._gt[1], dets, list(img_ids), list(cat_ids), lvis)
            evaluation = Evaluation(
                precision=np.asarray(ev.eval["precision"], np.float64),
                recall=np.asarray(ev.eval["recall"], np.float64),
                iou_thrs=np.asarray(ev.params.iouThrs, np.float64),
                rec_thrs=np.asarray(ev.params.recThrs, np.float64),
                max_dets=tuple(ev.params.maxDets),
                coco_stats=None if lvis else np.asarray(ev.stats, np.float64)[:12].tolist())
            del ev  # freed while the collector is still paused
        return evaluation

    @abstractmethod
    def _load(self, truth: CocoTruth) -> Any:
        """The library's COCO object of the ground truth (``truth.data``)."""

    @abstractmethod
    def _run(self, truth: CocoTruth, gt: Any, dets: np.ndarray, img_ids: list[int], cat_ids: list[int],
             lvis: bool) -> Any:
        """The library's COCOeval object after evaluate, accumulate (and, for COCO, summarize)."""


class PycocotoolsEvaluator(CocoEvaluator):
    """pycocotools' COCOeval, run unchanged on its own ``loadRes`` of the detections (its output silenced)."""

    name = "pycocotools"
    module = "pycocotools"
    supports_lvis = False

    def _load(self, truth: CocoTruth) -> Any:
        from pycocotools.coco import COCO

        coco = COCO()
        coco.dataset = truth.data
        with contextlib.redirect_stdout(io.StringIO()):
            coco.createIndex()
        return coco

    def _run(self, truth: CocoTruth, gt: Any, dets: np.ndarray, img_ids: list[int], cat_ids: list[int],
             lvis: bool) -> Any:
        from pycocotools.cocoeval import COCOeval

        anns = _result_annotations(dets)
        with contextlib.redirect_stdout(io.StringIO()):
            dt = gt.loadRes(anns) if anns else _empty_pycocotools_results(gt)
            ev = COCOeval(gt, dt, "bbox")
            ev.params.imgIds = img_ids
            ev.params.catIds = cat_ids
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        return ev


class FasterCocoEvaluator(CocoEvaluator):
    """faster-coco-eval's C++ matching and accumulation (``lvis_style`` for LVIS), with two shortcuts that change
    no number: the result object built as its ``loadRes`` would build it, and every (image, category) IoU
    matrix computed at once (:func:`cocoeval_ious`) instead of one Python call per pair."""

    name = "faster-coco-eval"
    module = "faster_coco_eval"
    supports_lvis = True

    def _load(self, truth: CocoTruth) -> Any:
        from faster_coco_eval import COCO

        return COCO(truth.data, print_function=_noop)

    def _run(self, truth: CocoTruth, gt: Any, dets: np.ndarray, img_ids: list[int], cat_ids: list[int],
             lvis: bool) -> Any:
        dt = _fce_results(gt, dets)
        ev = _precomputed_iou_eval_class()(gt, dt, "bbox", print_function=_noop, lvis_style=lvis)
        ev.params.imgIds = img_ids
        ev.params.catIds = cat_ids
        if lvis:
            ev.params.maxDets = [LVIS_MAX_DETS]
        ev.precomputed_ious = cocoeval_ious(truth, dets, img_ids, cat_ids, max(ev.params.maxDets))
        ev.evaluate()
        ev.accumulate()
        if not lvis:
            ev.summarize()
        return ev


_BACKENDS: tuple[type[CocoEvaluator], ...] = (FasterCocoEvaluator, PycocotoolsEvaluator)  # "auto" order


def make_evaluator(name: str = "auto", lvis: bool = False) -> CocoEvaluator:
    """The backend ``name`` names (``"auto"``: faster-coco-eval when installed, else pycocotools), with a clear
    error when it is unknown or not installed, or when ``lvis`` asks for rules it does not have."""
    if name not in EVALUATORS:
        raise ValueError(f"evaluator must be one of {EVALUATORS}, got {name!r}")
    if name == "auto":
        found = next((b for b in _BACKENDS if b.installed()), None)
        if found is None:
            raise ValueError("evaluator='auto' found neither faster-coco-eval nor pycocotools: "
                             "pip install faster-coco-eval (or pycocotools)")
    else:
        found = next(b for b in _BACKENDS if b.name == name)
        if not found.installed():
            raise ValueError(f"evaluator={name!r} is not installed: pip install {name}")
    if lvis and not found.supports_lvis:
        raise ValueError(f"lvis=True needs faster-coco-eval (its lvis_style evaluation implements LVIS's rules; "
                         f"{found.name} does not): pip install faster-coco-eval")
    return found()


def cocoeval_ious(truth: CocoTruth, dets: np.ndarray, img_ids: list[int], cat_ids: list[int],
                  max_det: int) -> dict[tuple[int, int], np.ndarray]:
    """COCOeval's ``computeIoU`` of every (image id, category id) with detections and GT, all at once.

    Per pair, as COCOeval orders them: detections in input order sorted by descending score (stable), the
    first ``max_det`` kept; GT boxes in file order; IoU as pycocotools' ``bbIou`` computes it (crowd GT:
    intersection over the detection's area). Returns {pair: [D, G] IoU matrix}; empty when the ids do not
    pack into one int64 key (the evaluator then computes the IoUs itself).
    """
    ann_img, ann_cat = truth.ann_img, truth.ann_cat
    ids = (dets[:, 0], dets[:, 6], ann_img, ann_cat)
    if len(dets) and not all(((a >= 0) & (a < _KEY_STRIDE)).all() for a in ids):
        return {}
    img_ok = np.isin(ann_img, img_ids) & np.isin(ann_cat, cat_ids)
    g_idx = np.flatnonzero(img_ok)  # file order
    g_key = ann_img[g_idx] * _KEY_STRIDE + ann_cat[g_idx]
    g_idx = g_idx[np.argsort(g_key, kind="stable")]
    g_key = ann_img[g_idx] * _KEY_STRIDE + ann_cat[g_idx]
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
    G = truth.ann_box[g_rows]
    with np.errstate(invalid="ignore", divide="ignore"):
        # pycocotools maskApi.c bbIou, operation for operation
        da = D[:, 2] * D[:, 3]
        ga = G[:, 2] * G[:, 3]
        w = np.minimum(D[:, 2] + D[:, 0], G[:, 2] + G[:, 0]) - np.maximum(D[:, 0], G[:, 0])
        h = np.minimum(D[:, 3] + D[:, 1], G[:, 3] + G[:, 1]) - np.maximum(D[:, 1], G[:, 1])
        i = w * h
        u = np.where(truth.ann_crowd[g_rows], da, da + ga - i)
        iou = np.where((w > 0) & (h > 0), i / u, 0.0)
    keys = pairs.tolist()
    return {(k // _KEY_STRIDE, k % _KEY_STRIDE): iou[a:b].reshape(m, n)
            for k, a, b, m, n in zip(keys, starts.tolist(), ends.tolist(), dc.tolist(), gc_.tolist())}


def _noop(*args: Any, **kwargs: Any) -> None:
    return None


def _result_annotations(dets: np.ndarray) -> list[dict[str, Any]]:
    """Detections as COCO result dicts (what ``loadRes`` takes), with plain Python numbers."""
    if not len(dets):
        return []
    cols = dets[:, 1:6].T.tolist()
    img = dets[:, 0].astype(np.int64).tolist()
    cat = dets[:, 6].astype(np.int64).tolist()
    return [{"image_id": i, "category_id": c, "bbox": [x, y, w, h], "score": s}
            for i, c, x, y, w, h, s in zip(img, cat, *cols)]


def _empty_pycocotools_results(gt: Any) -> Any:
    """pycocotools' ``loadRes`` fails on an empty list: an empty result set over the same images."""
    from pycocotools.coco import COCO

    res = COCO()
    res.dataset = {"images": list(gt.dataset["images"]), "categories": copy.deepcopy(gt.dataset["categories"]),
                   "annotations": []}
    res.createIndex()
    return res


def _fce_results(gt: Any, dets: np.ndarray) -> Any:
    """faster-coco-eval's result object of the detections, as its ``loadRes`` builds it from result dicts:
    the GT's images and categories, and per detection ``area = w * h``, ``id`` = 1-based position,
    ``iscrowd = 0`` (without the polygon ``loadRes`` adds for segmentation, which bbox evaluation never reads).
    """
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


@functools.cache
def _precomputed_iou_eval_class() -> type:
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
