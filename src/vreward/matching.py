"""Batch matching of predicted boxes to ground-truth boxes, for whole batches of completions.

Ragged batch layout: the predicted boxes of all ``B`` completions are concatenated into
``pred_boxes (P, 4)`` and completion ``i`` owns rows ``pred_offsets[i]:pred_offsets[i + 1]``
(``pred_offsets`` has ``B + 1`` non-decreasing entries, ``pred_offsets[0] == 0`` and
``pred_offsets[-1] == P``); the ground truth uses the same layout with ``gt_boxes (G, 4)`` and
``gt_offsets (B + 1,)``.  Every completion is matched independently.

IoU semantics are those of :mod:`vreward.geometry` (invalid boxes overlap nothing).  numba is
imported on the first call, scipy only by optimal matching when a completion needs its solver.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from vreward.arrays import as_boxes, read_only

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = [
    "MatchResult",
    "dedup_keep",
    "match_batch",
    "paired_best",
    "paired_best_giou",
    "paired_best_iou",
]


# The kernels' empty inputs, read-only as every input of a kernel (vreward.arrays.read_only).
_NO_BOXES = np.zeros((0, 4))
_NO_LABELS = np.zeros(0, dtype=np.int64)
for _empty in (_NO_BOXES, _NO_LABELS):
    _empty.flags.writeable = False


@dataclass(frozen=True)
class MatchResult:
    """Per-prediction matching result.

    ``gt_index[p]`` is the global GT row matched to prediction ``p`` (or -1) and ``iou[p]`` the IoU
    of that pair (0.0 where unmatched).
    """

    gt_index: np.ndarray  # (P,) int64
    iou: np.ndarray  # (P,) float64

    @property
    def matched(self) -> np.ndarray:
        """(P,) bool mask of matched predictions."""
        return self.gt_index >= 0


# ---------------------------------------------------------------------------------------------
# validation helpers
# ---------------------------------------------------------------------------------------------


def _offsets(x: ArrayLike, n_rows: int, fn: str, name: str, rows_name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1 or arr.shape[0] < 1:
        raise ValueError(f"{fn}: `{name}` must be a 1-D array of B + 1 >= 1 offsets, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{fn}: `{name}` must have an integer dtype, got {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    if arr[0] != 0:
        raise ValueError(f"{fn}: `{name}[0]` must be 0, got {arr[0]}")
    if arr[-1] != n_rows:
        raise ValueError(
            f"{fn}: `{name}[-1]` must equal the number of rows of `{rows_name}` ({n_rows}), got {arr[-1]}"
        )
    if arr.shape[0] > 1 and np.any(np.diff(arr) < 0):
        raise ValueError(f"{fn}: `{name}` must be non-decreasing")
    return arr


def _vector(x: ArrayLike, n: int, fn: str, name: str, kind: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{fn}: `{name}` must have shape ({n},), got {tuple(arr.shape)}")
    if kind == "bool":
        if arr.dtype != np.bool_:
            raise ValueError(f"{fn}: `{name}` must have dtype bool, got {arr.dtype}")
        return np.ascontiguousarray(arr, dtype=np.bool_)
    if kind == "int":
        if n and not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{fn}: `{name}` must have an integer dtype, got {arr.dtype}")
        return np.ascontiguousarray(arr, dtype=np.int64)
    if n and not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"{fn}: `{name}` must be a real numeric array, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------


def dedup_keep(pred_boxes: ArrayLike, pred_offsets: ArrayLike) -> np.ndarray:
    """(P,) bool mask that drops exact duplicate boxes within each completion.

    Two boxes are duplicates when all four coordinates compare equal as float64 (``-0.0 == 0.0``;
    a box with a NaN coordinate equals nothing and is always kept).  The first occurrence (lowest
    row) is kept.  O(P log P).
    """
    fn = "dedup_keep"
    boxes = as_boxes(pred_boxes, fn, "pred_boxes")
    offsets = _offsets(pred_offsets, boxes.shape[0], fn, "pred_offsets", "pred_boxes")
    keep = np.ones(boxes.shape[0], dtype=np.bool_)
    no_truth = np.zeros(offsets.shape[0], dtype=np.int64)
    match_arrays(boxes, np.zeros(boxes.shape[0]), offsets, _NO_BOXES, no_truth, 0.5, "greedy", _NO_LABELS,
                 _NO_LABELS, False, keep, True)
    return keep


def match_batch(
    pred_boxes: ArrayLike,
    pred_scores: ArrayLike,
    pred_offsets: ArrayLike,
    gt_boxes: ArrayLike,
    gt_offsets: ArrayLike,
    *,
    threshold: float = 0.5,
    method: Literal["greedy", "hungarian"] = "greedy",
    pred_labels: ArrayLike | None = None,
    gt_labels: ArrayLike | None = None,
    active: ArrayLike | None = None,
) -> MatchResult:
    """Match predictions to ground truth, independently per completion.

    ``method="greedy"`` (Visual-RFT): active predictions are visited by descending score (stable on
    ties; NaN scores count as -inf); each takes the still-unmatched GT of its completion with the
    highest IoU (lowest index on ties; an IoU of 0 never selects) and is matched iff that IoU is
    strictly greater than ``threshold``.

    ``method="hungarian"``: a one-to-one assignment maximising the summed IoU over pairs whose IoU
    is > 0 and > ``threshold`` (other pairs weigh 0 and are never matches); scores are ignored.

    ``pred_labels`` (P,) / ``gt_labels`` (G,) are int class ids, -1 meaning "no label"; when both
    are given a pair whose labels are both != -1 and differ cannot match.  ``active`` (P,) bool
    (default all True, e.g. the :func:`dedup_keep` mask) excludes predictions from matching.
    """
    fn = "match_batch"
    if method not in ("greedy", "hungarian"):
        raise ValueError(f"{fn}: `method` must be 'greedy' or 'hungarian', got {method!r}")
    threshold = float(threshold)
    if np.isnan(threshold):
        raise ValueError(f"{fn}: `threshold` must not be NaN")
    pb = as_boxes(pred_boxes, fn, "pred_boxes")
    gb = as_boxes(gt_boxes, fn, "gt_boxes")
    n_pred = pb.shape[0]
    po = _offsets(pred_offsets, n_pred, fn, "pred_offsets", "pred_boxes")
    go = _offsets(gt_offsets, gb.shape[0], fn, "gt_offsets", "gt_boxes")
    if po.shape[0] != go.shape[0]:
        raise ValueError(
            f"{fn}: `pred_offsets` and `gt_offsets` must have the same length B + 1, "
            f"got {po.shape[0]} and {go.shape[0]}"
        )
    scores = _vector(pred_scores, n_pred, fn, "pred_scores", "float")
    if (pred_labels is None) != (gt_labels is None):
        raise ValueError(f"{fn}: pass both `pred_labels` and `gt_labels`, or neither")
    use_labels = pred_labels is not None
    if use_labels:
        pl = _vector(pred_labels, n_pred, fn, "pred_labels", "int")
        gl = _vector(gt_labels, gb.shape[0], fn, "gt_labels", "int")
    else:
        pl = gl = _NO_LABELS
    if active is None:
        keep = np.ones(n_pred, dtype=np.bool_)
    else:
        keep = _vector(active, n_pred, fn, "active", "bool").copy()
    return match_arrays(pb, scores, po, gb, go, threshold, method, pl, gl, use_labels, keep, False)[0]


def _largest(offsets: np.ndarray) -> int:
    """The largest number of rows one completion owns."""
    return int((offsets[1:] - offsets[:-1]).max()) if offsets.shape[0] > 1 else 0


def match_arrays(pb: np.ndarray, scores: np.ndarray, po: np.ndarray, gb: np.ndarray, go: np.ndarray,
                 threshold: float, method: str, pl: np.ndarray, gl: np.ndarray, use_labels: bool,
                 keep: np.ndarray, drop_duplicates: bool) -> tuple[MatchResult, np.ndarray]:
    """:func:`match_batch` on arrays already validated (contiguous float64 / int64 / bool, consistent shapes),
    for callers inside vreward that build the arrays themselves (the rewards), skipping the checks.

    ``keep`` (P,) bool, written in place, is the active mask; with ``drop_duplicates`` the duplicates of
    :func:`dedup_keep` are cleared from it first. Returns the matching and the visiting order of the greedy
    matching: (P,) rows, each completion's by descending score (stable; NaN as -inf).
    """
    n_pred = pb.shape[0]
    if n_pred == 0:
        return MatchResult(np.zeros(0, dtype=np.int64), np.zeros(0)), np.zeros(0, dtype=np.int64)

    from vreward import _kernels

    pb, scores, po, gb, go, pl, gl = map(read_only, (pb, scores, po, gb, go, pl, gl))
    pcap = _largest(po)
    # With optimal matching the greedy kernel only drops the duplicates and orders: it sees no ground truth.
    greedy_go = go if method == "greedy" else np.zeros(po.shape[0], dtype=np.int64)
    gcap = _largest(greedy_go)
    # The kernel writes every output; it allocates nothing (numpy's large allocations use huge pages).
    gt_index = np.empty(n_pred, dtype=np.int64)
    iou = np.empty(n_pred)
    order = np.empty(n_pred, dtype=np.int64)
    _kernels.match_greedy(
        pb, scores, po, gb, read_only(greedy_go), threshold, pl, gl, use_labels, drop_duplicates, keep,
        gt_index, iou, order, np.empty((3, pcap), dtype=np.int64), np.empty((pcap, 4)), np.empty((pcap, 1)),
        np.empty((5, pcap)), np.empty(pcap * gcap), np.empty(gcap, dtype=np.bool_),
    )  # fmt: skip
    if method == "greedy" or gb.shape[0] == 0:
        return MatchResult(gt_index, iou), order
    _hungarian(pb, po, gb, go, threshold, pl, gl, use_labels, keep, gt_index, iou, pcap)
    return MatchResult(gt_index, iou), order


def _hungarian(pb: np.ndarray, po: np.ndarray, gb: np.ndarray, go: np.ndarray, threshold: float, pl: np.ndarray,
               gl: np.ndarray, use_labels: bool, act: np.ndarray, gt_index: np.ndarray, iou: np.ndarray,
               pcap: int) -> None:
    """Optimal matching of the ``act`` predictions into ``gt_index`` / ``iou`` (scipy for the completions whose
    assignment does not decompose)."""
    from vreward import _kernels

    n_gt_per = np.diff(go)
    cum_active = np.concatenate(([0], np.cumsum(act, dtype=np.int64)))
    n_act_per = cum_active[po[1:]] - cum_active[po[:-1]]
    n_act_per[n_gt_per == 0] = 0
    row_offsets = np.concatenate(([0], np.cumsum(n_act_per))).astype(np.int64)
    block_offsets = np.concatenate(([0], np.cumsum(n_act_per * n_gt_per))).astype(np.int64)
    rows = np.empty(int(row_offsets[-1]), dtype=np.int64)
    weights = np.empty(int(block_offsets[-1]), dtype=np.float64)
    needs_solver = np.empty(po.shape[0] - 1, dtype=np.bool_)
    _kernels.hungarian_blocks(
        pb, po, gb, go, threshold, pl, gl, use_labels, read_only(act),
        read_only(row_offsets), read_only(block_offsets), rows, weights, needs_solver, gt_index, iou,
        np.empty(pcap, dtype=np.int64), np.empty(_largest(go), dtype=np.int64),
    )  # fmt: skip
    todo = np.flatnonzero(needs_solver)
    if todo.size:
        from scipy.optimize import linear_sum_assignment

        for g in todo.tolist():
            r_lo, r_hi = int(row_offsets[g]), int(row_offsets[g + 1])
            n_gt = int(n_gt_per[g])
            block = weights[block_offsets[g] : block_offsets[g + 1]].reshape(r_hi - r_lo, n_gt)
            r_idx, c_idx = linear_sum_assignment(block, maximize=True)
            w = block[r_idx, c_idx]
            pos = w > 0.0
            pred_rows = rows[r_lo + r_idx[pos]]
            gt_index[pred_rows] = go[g] + c_idx[pos]
            iou[pred_rows] = w[pos]


def paired_best(
    pred: ArrayLike, has_pred: ArrayLike, gt_boxes: ArrayLike, gt_offsets: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Best IoU and best GIoU of one predicted box per completion against its GT boxes.

    ``pred`` (B, 4) holds one box per completion (rows where ``has_pred`` (B,) bool is False are
    ignored); ``gt_boxes``/``gt_offsets`` is the ragged GT.  Returns ``(best_iou, best_giou)``, each
    (B,) float64: the max over the completion's GT boxes (maximised independently), NaN where
    ``has_pred`` is False or the completion has no GT.
    """
    fn = "paired_best"
    pb = as_boxes(pred, fn, "pred")
    b = pb.shape[0]
    hp = _vector(has_pred, b, fn, "has_pred", "bool")
    gb = as_boxes(gt_boxes, fn, "gt_boxes")
    go = _offsets(gt_offsets, gb.shape[0], fn, "gt_offsets", "gt_boxes")
    if go.shape[0] != b + 1:
        raise ValueError(f"{fn}: `gt_offsets` must have B + 1 = {b + 1} entries, got {go.shape[0]}")
    out_iou = np.empty(b, dtype=np.float64)
    out_giou = np.empty(b, dtype=np.float64)
    if b:
        from vreward import _kernels

        _kernels.paired_best(*map(read_only, (pb, hp, gb, go)), out_iou, out_giou)
    return out_iou, out_giou


def paired_best_iou(
    pred: ArrayLike, has_pred: ArrayLike, gt_boxes: ArrayLike, gt_offsets: ArrayLike
) -> np.ndarray:
    """(B,) max IoU of ``pred[i]`` over completion i's GT boxes; NaN if no pred or no GT."""
    return paired_best(pred, has_pred, gt_boxes, gt_offsets)[0]


def paired_best_giou(
    pred: ArrayLike, has_pred: ArrayLike, gt_boxes: ArrayLike, gt_offsets: ArrayLike
) -> np.ndarray:
    """(B,) max GIoU of ``pred[i]`` over completion i's GT boxes; NaN if no pred or no GT."""
    return paired_best(pred, has_pred, gt_boxes, gt_offsets)[1]
