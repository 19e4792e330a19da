"""Numba kernels for box geometry and matching.

Everything here is compiled with :data:`JIT_OPTIONS` (cached on disk, numpy error model, no numba runtime) and
works on plain C-contiguous ``float64`` / ``int64`` / ``bool`` arrays; no Python objects are touched inside a
kernel, and no kernel allocates: the caller passes every output and scratch array (``vreward.matching`` and
``vreward.geometry`` size them). This module imports numba at import time, so the public modules (``geometry``,
``matching``) import it lazily inside their functions: ``import vreward`` stays numba-free.

One file, by necessity: every kernel called here is defined here, with every constant it reads,
and this module imports nothing from vreward.  numba's disk cache checks a cached kernel against
its own source file only, so a kernel calling a kernel (or reading a constant) of another module
would keep running stale machine code after that module changed.
``tests/test_kernel_modules.py`` enforces it.

Compiled once: numba compiles a kernel once per distinct argument types, so every kernel is called with one set of
types. The callers pass input arrays read-only (a writeable array is another type) and the helpers are called with
``int64`` counts that are never literals (``np.int64(0)``, not ``0``: a literal is a type of its own). The helpers
are plain kernels, not ``inline="always"``: LLVM inlines them into their callers, and numba types each once
instead of once per call site. A call compiles only the kernels it runs: the rewards' detection matching is one
kernel (:func:`match_greedy`, duplicates dropped and the score order computed on the way).

Box convention: ``(x1, y1, x2, y2)``.  A box is *valid* iff its four coordinates are finite,
``x2 > x1``, ``y2 > y1`` and its area ``(x2 - x1) * (y2 - y1)`` is finite.  Invalid boxes overlap
nothing: IoU 0 and GIoU -1 against anything (including themselves).

For valid boxes the arithmetic follows the Visual-RFT reference operation by operation, so results
equal a plain-Python float computation bit for bit::

    xi1 = max(ax1, bx1); yi1 = max(ay1, by1); xi2 = min(ax2, bx2); yi2 = min(ay2, by2)
    if xi2 <= xi1 or yi2 <= yi1: iou = 0
    else: inter = (xi2 - xi1) * (yi2 - yi1); union = areaA + areaB - inter; iou = inter / union

(``iou = 0`` when ``union`` is not finite or ``<= 0``).  GIoU is ``iou - (C - union) / C`` with
``C`` the area of the smallest enclosing box (``union`` uses ``inter = 0`` for disjoint boxes);
when ``C`` is not finite or ``<= 0``, or ``union`` overflowed to inf, the GIoU is ``iou``.

Ragged batch layout: the boxes of all completions are concatenated row-wise and completion ``i``
owns rows ``offsets[i]:offsets[i + 1]`` (``offsets`` has ``B + 1`` int64 entries).  Scratch of a
batch is sized by its largest completion: ``P`` predictions and ``G`` ground-truth boxes at most.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# Compile options of every kernel here: cached on disk, no exceptions (numpy error model), no numba runtime (the
# kernels allocate nothing).
JIT_OPTIONS = {"cache": True, "error_model": "numpy", "_nrt": False}

_INF = np.inf


# --------------------------------------------------------------------------------------------
# scalar helpers
# --------------------------------------------------------------------------------------------


@njit(**JIT_OPTIONS)
def _box_area(x1: float, y1: float, x2: float, y2: float) -> float:
    """Area of a valid box, or -1.0 if the box is invalid (see module docstring)."""
    # ``x2 > x1`` is False for NaN, and together with finiteness checks covers every case.
    if not (math.isfinite(x1) and math.isfinite(y1) and math.isfinite(x2) and math.isfinite(y2)):
        return -1.0
    if not (x2 > x1 and y2 > y1):
        return -1.0
    area = (x2 - x1) * (y2 - y1)
    if not math.isfinite(area):
        return -1.0
    return area


@njit(**JIT_OPTIONS)
def _iou_giou(
    ax1: float, ay1: float, ax2: float, ay2: float, bx1: float, by1: float, bx2: float, by2: float
) -> tuple[float, float]:
    """IoU and GIoU of two boxes: (0, -1) when either is invalid."""
    area_a = _box_area(ax1, ay1, ax2, ay2)
    area_b = _box_area(bx1, by1, bx2, by2)
    if area_a < 0.0 or area_b < 0.0:
        return 0.0, -1.0
    xi1 = ax1 if ax1 >= bx1 else bx1
    yi1 = ay1 if ay1 >= by1 else by1
    xi2 = ax2 if ax2 <= bx2 else bx2
    yi2 = ay2 if ay2 <= by2 else by2
    inter = 0.0
    if xi2 > xi1 and yi2 > yi1:
        inter = (xi2 - xi1) * (yi2 - yi1)
    union = area_a + area_b - inter
    iou = 0.0
    if union > 0.0:
        iou = inter / union
    cx1 = ax1 if ax1 <= bx1 else bx1
    cy1 = ay1 if ay1 <= by1 else by1
    cx2 = ax2 if ax2 >= bx2 else bx2
    cy2 = ay2 if ay2 >= by2 else by2
    c = (cx2 - cx1) * (cy2 - cy1)
    if c > 0.0 and c < _INF and union < _INF:
        return iou, iou - (c - union) / c
    return iou, iou


# --------------------------------------------------------------------------------------------
# pairwise matrices
# --------------------------------------------------------------------------------------------


@njit(**JIT_OPTIONS)
def _load_columns(b: np.ndarray, cols: np.ndarray) -> None:
    """Boxes (M, 4) as the columns ``cols`` (5, M): x1, y1, x2, y2, area. An invalid box becomes
    (+inf, +inf, -inf, -inf), area -1, so that its intersection with anything is empty."""
    for j in range(b.shape[0]):
        a = _box_area(b[j, 0], b[j, 1], b[j, 2], b[j, 3])
        cols[4, j] = a
        if a < 0.0:
            cols[0, j] = _INF
            cols[1, j] = _INF
            cols[2, j] = -_INF
            cols[3, j] = -_INF
        else:
            cols[0, j] = b[j, 0]
            cols[1, j] = b[j, 1]
            cols[2, j] = b[j, 2]
            cols[3, j] = b[j, 3]


@njit(**JIT_OPTIONS)
def pairwise(a: np.ndarray, b: np.ndarray, giou: bool, out: np.ndarray, cols: np.ndarray) -> None:
    """Fill ``out[i, j]`` with the IoU (or with ``giou`` the GIoU) of ``a[i]`` and ``b[j]``; a (N, 4), b (M, 4),
    out (N, M), scratch cols (5, M)."""
    _load_columns(b, cols)
    bx1 = cols[0]
    by1 = cols[1]
    bx2 = cols[2]
    by2 = cols[3]
    barea = cols[4]
    for i in range(a.shape[0]):
        row = out[i]
        ax1 = a[i, 0]
        ay1 = a[i, 1]
        ax2 = a[i, 2]
        ay2 = a[i, 3]
        area_a = _box_area(ax1, ay1, ax2, ay2)
        if area_a < 0.0:
            for j in range(b.shape[0]):
                row[j] = -1.0 if giou else 0.0
        elif not giou:
            for j in range(b.shape[0]):
                xi1 = ax1 if ax1 > bx1[j] else bx1[j]
                yi1 = ay1 if ay1 > by1[j] else by1[j]
                xi2 = ax2 if ax2 < bx2[j] else bx2[j]
                yi2 = ay2 if ay2 < by2[j] else by2[j]
                inter = (xi2 - xi1) * (yi2 - yi1)
                union = area_a + barea[j] - inter
                iou = inter / union
                ok = (xi2 > xi1) & (yi2 > yi1) & (union > 0.0)
                row[j] = iou if ok else 0.0
        else:
            for j in range(b.shape[0]):
                b1 = bx1[j]
                b2 = by1[j]
                b3 = bx2[j]
                b4 = by2[j]
                xi1 = ax1 if ax1 >= b1 else b1
                yi1 = ay1 if ay1 >= b2 else b2
                xi2 = ax2 if ax2 <= b3 else b3
                yi2 = ay2 if ay2 <= b4 else b4
                overlap = (xi2 > xi1) & (yi2 > yi1)
                inter = (xi2 - xi1) * (yi2 - yi1)
                inter = inter if overlap else 0.0
                union = area_a + barea[j] - inter
                iou = inter / union
                iou = iou if union > 0.0 else 0.0
                cx1 = ax1 if ax1 <= b1 else b1
                cy1 = ay1 if ay1 <= b2 else b2
                cx2 = ax2 if ax2 >= b3 else b3
                cy2 = ay2 if ay2 >= b4 else b4
                c = (cx2 - cx1) * (cy2 - cy1)
                g = iou - (c - union) / c
                g = g if (c > 0.0) & (c < _INF) & (union < _INF) else iou
                row[j] = g if barea[j] >= 0.0 else -1.0


# --------------------------------------------------------------------------------------------
# sorting (an index sort, allocation-free given scratch)
# --------------------------------------------------------------------------------------------


@njit(**JIT_OPTIONS)
def _sort_by_keys(idx: np.ndarray, n: int, tmp: np.ndarray, keys: np.ndarray) -> None:
    """Stable ascending sort of ``idx[:n]`` by the rows ``keys[idx[k]]``, compared lexicographically (keys must be
    NaN-free). Bottom-up merge sort, O(n log n); ``tmp`` holds ``n`` entries."""
    width = 1
    in_tmp = False
    while width < n:
        src = tmp if in_tmp else idx
        dst = idx if in_tmp else tmp
        for lo in range(0, n, 2 * width):
            mid = lo + width if lo + width < n else n
            hi = lo + 2 * width if lo + 2 * width < n else n
            p = lo
            q = mid
            for k in range(lo, hi):
                take_q = p >= mid
                if not take_q and q < hi:
                    # the right run goes first only when strictly smaller (stability)
                    a = src[p]
                    b = src[q]
                    c = 0
                    while c < keys.shape[1] and keys[a, c] == keys[b, c]:
                        c += 1
                    take_q = c < keys.shape[1] and keys[b, c] < keys[a, c]
                if take_q:
                    dst[k] = src[q]
                    q += 1
                else:
                    dst[k] = src[p]
                    p += 1
        in_tmp = not in_tmp
        width *= 2
    if in_tmp:
        for k in range(n):
            idx[k] = tmp[k]


# --------------------------------------------------------------------------------------------
# greedy matching (with duplicates dropped and the score order)
# --------------------------------------------------------------------------------------------


@njit(**JIT_OPTIONS)
def match_greedy(
    pred_boxes: np.ndarray,
    pred_scores: np.ndarray,
    pred_offsets: np.ndarray,
    gt_boxes: np.ndarray,
    gt_offsets: np.ndarray,
    threshold: float,
    pred_labels: np.ndarray,
    gt_labels: np.ndarray,
    use_labels: bool,
    drop_duplicates: bool,
    keep: np.ndarray,
    match_gt: np.ndarray,
    match_iou: np.ndarray,
    order: np.ndarray,
    ints: np.ndarray,
    box_keys: np.ndarray,
    score_keys: np.ndarray,
    cols: np.ndarray,
    block: np.ndarray,
    taken: np.ndarray,
) -> None:
    """Visual-RFT greedy matching per completion.

    ``keep`` (P,) bool is the active mask on entry; with ``drop_duplicates`` every exact coordinate duplicate of
    an earlier active box of its completion is cleared from it (``==`` on all four coordinates, so
    ``-0.0 == 0.0``; a box with a NaN coordinate equals nothing and stays).  ``order`` (P,) receives each
    completion's rows by descending score (stable; NaN scores count as -inf): the matching's visiting order.
    Predictions still in ``keep`` are visited in that order; each takes the still-free GT with the highest IoU
    (first on ties, IoU 0 never selects) and is matched iff that IoU is strictly greater than ``threshold``:
    ``match_gt`` (P,) int64 gets the GT row or -1, ``match_iou`` (P,) float64 the IoU or 0.  With
    ``use_labels`` a pair whose labels are both != -1 and differ has IoU 0 (``pred_labels`` / ``gt_labels`` may
    be empty otherwise).

    Scratch: ``ints`` (3, P), ``box_keys`` (P, 4), ``score_keys`` (P, 1), ``cols`` (5, P), ``block`` (P * G,),
    ``taken`` (G,), with P and G the largest prediction and ground-truth counts of a completion.
    """
    idx = ints[0]
    tmp = ints[1]
    cand = ints[2]  # row of each candidate, in visiting order
    for r in range(pred_boxes.shape[0]):
        match_gt[r] = -1
        match_iou[r] = 0.0
    for g in range(pred_offsets.shape[0] - 1):
        plo = pred_offsets[g]
        m = pred_offsets[g + 1] - plo
        if drop_duplicates and m > 1:
            n = np.int64(0)
            for k in range(m):
                r = plo + k
                for c in range(4):
                    box_keys[k, c] = pred_boxes[r, c]
                if keep[r] and not (math.isnan(pred_boxes[r, 0]) or math.isnan(pred_boxes[r, 1])
                                    or math.isnan(pred_boxes[r, 2]) or math.isnan(pred_boxes[r, 3])):
                    idx[n] = k
                    n += 1
            _sort_by_keys(idx, n, tmp, box_keys)
            # equal boxes are adjacent, the first written first: the others are duplicates
            for s in range(1, n):
                a = idx[s - 1]
                b = idx[s]
                if (box_keys[a, 0] == box_keys[b, 0] and box_keys[a, 1] == box_keys[b, 1]
                        and box_keys[a, 2] == box_keys[b, 2] and box_keys[a, 3] == box_keys[b, 3]):
                    keep[plo + b] = False
        for k in range(m):
            s = pred_scores[plo + k]
            score_keys[k, 0] = _INF if math.isnan(s) else -s
            idx[k] = k
        _sort_by_keys(idx, m, tmp, score_keys)
        for k in range(m):
            order[plo + k] = plo + idx[k]
        glo = gt_offsets[g]
        ng = gt_offsets[g + 1] - glo
        if ng == 0:
            continue
        # Candidates: kept predictions with a valid box, in visiting order (invalid boxes can never match and
        # never take a GT, so leaving them out does not change the result).
        n = np.int64(0)
        for k in range(m):
            r = order[plo + k]
            if keep[r]:
                a = _box_area(pred_boxes[r, 0], pred_boxes[r, 1], pred_boxes[r, 2], pred_boxes[r, 3])
                if a >= 0.0:
                    cand[n] = r
                    for c in range(4):
                        cols[c, n] = pred_boxes[r, c]
                    cols[4, n] = a
                    n += 1
        if n == 0:
            continue
        cx1 = cols[0]
        cy1 = cols[1]
        cx2 = cols[2]
        cy2 = cols[3]
        carea = cols[4]
        # IoU block (branch-free, vectorisable over candidates); invalid GTs are marked taken.
        for j in range(ng):
            gr = glo + j
            b1 = gt_boxes[gr, 0]
            b2 = gt_boxes[gr, 1]
            b3 = gt_boxes[gr, 2]
            b4 = gt_boxes[gr, 3]
            area_b = _box_area(b1, b2, b3, b4)
            taken[j] = area_b < 0.0
            if area_b < 0.0:
                continue
            base = j * n
            for i in range(n):
                ax1 = cx1[i]
                ay1 = cy1[i]
                ax2 = cx2[i]
                ay2 = cy2[i]
                xi1 = ax1 if ax1 > b1 else b1
                yi1 = ay1 if ay1 > b2 else b2
                xi2 = ax2 if ax2 < b3 else b3
                yi2 = ay2 if ay2 < b4 else b4
                inter = (xi2 - xi1) * (yi2 - yi1)
                union = carea[i] + area_b - inter
                iou = inter / union
                ok = (xi2 > xi1) & (yi2 > yi1) & (union > 0.0)
                block[base + i] = iou if ok else 0.0
            if use_labels:
                lg = gt_labels[gr]
                if lg != -1:
                    for i in range(n):
                        lp = pred_labels[cand[i]]
                        if lp != -1 and lp != lg:
                            block[base + i] = 0.0
        n_free = 0
        for j in range(ng):
            if not taken[j]:
                n_free += 1
        for i in range(n):
            if n_free == 0:
                break
            best = 0.0
            jbest = -1
            for j in range(ng):
                v = block[j * n + i]
                v = 0.0 if taken[j] else v
                upd = v > best
                best = v if upd else best
                jbest = j if upd else jbest
            if jbest >= 0 and best > threshold:
                r = cand[i]
                match_gt[r] = glo + jbest
                match_iou[r] = best
                taken[jbest] = True
                n_free -= 1


# --------------------------------------------------------------------------------------------
# hungarian support: weight blocks
# --------------------------------------------------------------------------------------------


@njit(**JIT_OPTIONS)
def hungarian_blocks(
    pred_boxes: np.ndarray,
    pred_offsets: np.ndarray,
    gt_boxes: np.ndarray,
    gt_offsets: np.ndarray,
    threshold: float,
    pred_labels: np.ndarray,
    gt_labels: np.ndarray,
    use_labels: bool,
    active: np.ndarray,
    row_offsets: np.ndarray,
    block_offsets: np.ndarray,
    rows: np.ndarray,
    weights: np.ndarray,
    needs_solver: np.ndarray,
    match_gt: np.ndarray,
    match_iou: np.ndarray,
    row_count: np.ndarray,
    col_count: np.ndarray,
) -> None:
    """Fill the per-completion weight blocks for optimal matching into one flat buffer.

    The caller sizes the buffers: completion ``g`` has ``na_g`` active predictions (0 if it has no
    GT) and ``ng_g`` GTs; ``row_offsets`` (B+1,) is the cumsum of ``na_g`` and ``block_offsets``
    (B+1,) the cumsum of ``na_g * ng_g``.  Block ``g`` (``na_g x ng_g``, row-major) lives at
    ``weights[block_offsets[g]:block_offsets[g+1]]`` and its rows are the global pred indices
    ``rows[row_offsets[g]:row_offsets[g+1]]``.  A weight is the IoU if it is > 0, > ``threshold``
    and the labels are compatible, else 0.

    Completions whose positive-weight graph decomposes (every row, or every column, has at most
    one positive entry) are solved here exactly: the optimum takes the best entry of each column
    (resp. row), first on ties.  Their result is written into ``match_gt``/``match_iou`` and
    ``needs_solver[g]`` is False; the others get ``needs_solver[g]`` True and must be solved by an
    assignment solver.  ``weights`` is fully written; ``match_gt``/``match_iou`` are reset.
    Scratch: ``row_count`` (P,) and ``col_count`` (G,) int64.
    """
    for r in range(pred_boxes.shape[0]):
        match_gt[r] = -1
        match_iou[r] = 0.0
    for g in range(pred_offsets.shape[0] - 1):
        needs_solver[g] = False
        glo = gt_offsets[g]
        ng = gt_offsets[g + 1] - glo
        r_lo = row_offsets[g]
        na = row_offsets[g + 1] - r_lo
        if na == 0 or ng == 0:
            continue
        base = block_offsets[g]
        for j in range(ng):
            col_count[j] = 0
        i = 0
        for r in range(pred_offsets[g], pred_offsets[g + 1]):
            if not active[r]:
                continue
            rows[r_lo + i] = r
            cnt = 0
            for j in range(ng):
                gr = glo + j
                w = _iou_giou(pred_boxes[r, 0], pred_boxes[r, 1], pred_boxes[r, 2], pred_boxes[r, 3],
                              gt_boxes[gr, 0], gt_boxes[gr, 1], gt_boxes[gr, 2], gt_boxes[gr, 3])[0]
                if use_labels:
                    lp = pred_labels[r]
                    lg = gt_labels[gr]
                    if lp != -1 and lg != -1 and lp != lg:
                        w = 0.0
                if not (w > 0.0 and w > threshold):
                    w = 0.0
                weights[base + i * ng + j] = w
                if w > 0.0:
                    cnt += 1
                    col_count[j] += 1
            row_count[i] = cnt
            i += 1
        rows_simple = True
        for i in range(na):
            if row_count[i] > 1:
                rows_simple = False
                break
        cols_simple = True
        for j in range(ng):
            if col_count[j] > 1:
                cols_simple = False
                break
        if rows_simple:
            # each prediction has at most one candidate GT: every GT takes its best prediction
            for j in range(ng):
                if col_count[j] == 0:
                    continue
                best = 0.0
                ibest = -1
                for i in range(na):
                    w = weights[base + i * ng + j]
                    if w > best:
                        best = w
                        ibest = i
                r = rows[r_lo + ibest]
                match_gt[r] = glo + j
                match_iou[r] = best
        elif cols_simple:
            # each GT has at most one candidate prediction: every prediction takes its best GT
            for i in range(na):
                if row_count[i] == 0:
                    continue
                best = 0.0
                jbest = -1
                for j in range(ng):
                    w = weights[base + i * ng + j]
                    if w > best:
                        best = w
                        jbest = j
                r = rows[r_lo + i]
                match_gt[r] = glo + jbest
                match_iou[r] = best
        else:
            needs_solver[g] = True


# --------------------------------------------------------------------------------------------
# grounding: one predicted box per completion
# --------------------------------------------------------------------------------------------


@njit(**JIT_OPTIONS)
def paired_best(
    pred: np.ndarray,
    has_pred: np.ndarray,
    gt_boxes: np.ndarray,
    gt_offsets: np.ndarray,
    out_iou: np.ndarray,
    out_giou: np.ndarray,
) -> None:
    """``out_iou[i]`` / ``out_giou[i]`` = max over completion i's GT boxes of IoU / GIoU with
    ``pred[i]`` (each maximised independently); NaN when ``has_pred[i]`` is False or no GT."""
    for i in range(pred.shape[0]):
        glo = gt_offsets[i]
        ghi = gt_offsets[i + 1]
        if not has_pred[i] or ghi == glo:
            out_iou[i] = np.nan
            out_giou[i] = np.nan
            continue
        best_iou = -_INF
        best_giou = -_INF
        for gr in range(glo, ghi):
            iou, giou = _iou_giou(pred[i, 0], pred[i, 1], pred[i, 2], pred[i, 3],
                                  gt_boxes[gr, 0], gt_boxes[gr, 1], gt_boxes[gr, 2], gt_boxes[gr, 3])
            if iou > best_iou:
                best_iou = iou
            if giou > best_giou:
                best_giou = giou
        out_iou[i] = best_iou
        out_giou[i] = best_giou
