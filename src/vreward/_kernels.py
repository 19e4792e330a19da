"""Numba kernels for box geometry and matching.

Everything here is compiled with :data:`JIT_OPTIONS` (cached on disk, numpy error model) and works
on plain C-contiguous ``float64`` / ``int64`` / ``bool`` arrays; no Python objects are touched
inside a kernel.  This module imports numba at import time, so the public modules (``geometry``,
``matching``) import it lazily inside their functions: ``import vreward`` stays numba-free.

One file, by necessity: every kernel called here is defined here, with every constant it reads,
and this module imports nothing from vreward.  numba's disk cache checks a cached kernel against
its own source file only, so a kernel calling a kernel (or reading a constant) of another module
would keep running stale machine code after that module changed.
``tests/test_kernel_modules.py`` enforces it.

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
owns rows ``offsets[i]:offsets[i + 1]`` (``offsets`` has ``B + 1`` int64 entries).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Compile options of every kernel here: cached on disk, no exceptions (numpy error model). The scalar helpers are
# also inlined into their callers by numba (JIT_INLINE_OPTIONS).
JIT_OPTIONS = {"cache": True, "error_model": "numpy"}
JIT_INLINE_OPTIONS = {**JIT_OPTIONS, "inline": "always"}

_INF = np.inf
_SMALL_SORT = 16  # groups up to this size are insertion-sorted


# --------------------------------------------------------------------------------------------
# scalar helpers
# --------------------------------------------------------------------------------------------


@njit(**JIT_INLINE_OPTIONS)
def _box_area(x1: float, y1: float, x2: float, y2: float) -> float:
    """Area of a valid box, or -1.0 if the box is invalid (see module docstring)."""
    # ``x2 > x1`` is False for NaN, and together with finiteness checks covers every case.
    if not (np.isfinite(x1) and np.isfinite(y1) and np.isfinite(x2) and np.isfinite(y2)):
        return -1.0
    if not (x2 > x1 and y2 > y1):
        return -1.0
    area = (x2 - x1) * (y2 - y1)
    if not np.isfinite(area):
        return -1.0
    return area


@njit(**JIT_INLINE_OPTIONS)
def _iou_scalar(
    ax1: float, ay1: float, ax2: float, ay2: float, bx1: float, by1: float, bx2: float, by2: float
) -> float:
    area_a = _box_area(ax1, ay1, ax2, ay2)
    area_b = _box_area(bx1, by1, bx2, by2)
    if area_a < 0.0 or area_b < 0.0:
        return 0.0
    xi1 = ax1 if ax1 >= bx1 else bx1
    yi1 = ay1 if ay1 >= by1 else by1
    xi2 = ax2 if ax2 <= bx2 else bx2
    yi2 = ay2 if ay2 <= by2 else by2
    if xi2 <= xi1 or yi2 <= yi1:
        return 0.0
    inter = (xi2 - xi1) * (yi2 - yi1)
    union = area_a + area_b - inter
    if not (union > 0.0):
        return 0.0
    return inter / union  # union == inf gives exactly 0.0


@njit(**JIT_INLINE_OPTIONS)
def _iou_giou_scalar(
    ax1: float, ay1: float, ax2: float, ay2: float, bx1: float, by1: float, bx2: float, by2: float
) -> tuple[float, float]:
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
def _load_columns(
    gt_boxes: np.ndarray,
    glo: int,
    ng: int,
    gx1: np.ndarray,
    gy1: np.ndarray,
    gx2: np.ndarray,
    gy2: np.ndarray,
    garea: np.ndarray,
) -> None:
    """Copy box rows ``glo:glo+ng`` into columns; invalid boxes become (+inf, +inf, -inf, -inf), area -1."""
    for j in range(ng):
        gr = glo + j
        a = _box_area(gt_boxes[gr, 0], gt_boxes[gr, 1], gt_boxes[gr, 2], gt_boxes[gr, 3])
        garea[j] = a
        if a < 0.0:
            gx1[j] = _INF
            gy1[j] = _INF
            gx2[j] = -_INF
            gy2[j] = -_INF
        else:
            gx1[j] = gt_boxes[gr, 0]
            gy1[j] = gt_boxes[gr, 1]
            gx2[j] = gt_boxes[gr, 2]
            gy2[j] = gt_boxes[gr, 3]


@njit(**JIT_OPTIONS)
def _columns(b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split (M, 4) boxes into contiguous columns plus areas.

    Invalid boxes get coordinates (+inf, +inf, -inf, -inf) so that their intersection with
    anything is empty; their area is -1.
    """
    m = b.shape[0]
    x1 = np.empty(m)
    y1 = np.empty(m)
    x2 = np.empty(m)
    y2 = np.empty(m)
    area = np.empty(m)
    _load_columns(b, 0, m, x1, y1, x2, y2, area)
    return x1, y1, x2, y2, area


@njit(**JIT_OPTIONS)
def pairwise_iou(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out[i, j] = IoU(a[i], b[j])``; a (N, 4), b (M, 4), out (N, M), all C-contiguous."""
    n = a.shape[0]
    m = b.shape[0]
    bx1, by1, bx2, by2, barea = _columns(b)
    for i in range(n):
        row = out[i]
        ax1 = a[i, 0]
        ay1 = a[i, 1]
        ax2 = a[i, 2]
        ay2 = a[i, 3]
        area_a = _box_area(ax1, ay1, ax2, ay2)
        if area_a < 0.0:
            for j in range(m):
                row[j] = 0.0
            continue
        for j in range(m):
            xi1 = ax1 if ax1 > bx1[j] else bx1[j]
            yi1 = ay1 if ay1 > by1[j] else by1[j]
            xi2 = ax2 if ax2 < bx2[j] else bx2[j]
            yi2 = ay2 if ay2 < by2[j] else by2[j]
            inter = (xi2 - xi1) * (yi2 - yi1)
            union = area_a + barea[j] - inter
            iou = inter / union
            ok = (xi2 > xi1) & (yi2 > yi1) & (union > 0.0)
            row[j] = iou if ok else 0.0


@njit(**JIT_OPTIONS)
def pairwise_giou(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out[i, j] = GIoU(a[i], b[j])``; a (N, 4), b (M, 4), out (N, M), all C-contiguous."""
    n = a.shape[0]
    m = b.shape[0]
    bx1, by1, bx2, by2, barea = _columns(b)
    for i in range(n):
        row = out[i]
        ax1 = a[i, 0]
        ay1 = a[i, 1]
        ax2 = a[i, 2]
        ay2 = a[i, 3]
        area_a = _box_area(ax1, ay1, ax2, ay2)
        if area_a < 0.0:
            for j in range(m):
                row[j] = -1.0
            continue
        for j in range(m):
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
# sorting helpers (index sorts, allocation-free given scratch)
# --------------------------------------------------------------------------------------------


@njit(**JIT_INLINE_OPTIONS)
def _box_less(boxes: np.ndarray, i: int, j: int) -> bool:
    """Lexicographic ``boxes[i] < boxes[j]`` (no NaNs allowed)."""
    for c in range(4):
        u = boxes[i, c]
        v = boxes[j, c]
        if u < v:
            return True
        if v < u:
            return False
    return False


@njit(**JIT_OPTIONS)
def _sort_idx_by_box(idx: np.ndarray, n: int, tmp: np.ndarray, boxes: np.ndarray) -> None:
    """Stable ascending lexicographic sort of ``idx[:n]`` by ``boxes[idx]`` (bottom-up merge)."""
    # insertion sort runs of _SMALL_SORT, then merge
    for start in range(0, n, _SMALL_SORT):
        stop = min(start + _SMALL_SORT, n)
        for k in range(start + 1, stop):
            x = idx[k]
            p = k - 1
            while p >= start and _box_less(boxes, x, idx[p]):
                idx[p + 1] = idx[p]
                p -= 1
            idx[p + 1] = x
    width = _SMALL_SORT
    in_tmp = False
    while width < n:
        if in_tmp:
            src = tmp
            dst = idx
        else:
            src = idx
            dst = tmp
        for lo in range(0, n, 2 * width):
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            p = lo
            q = mid
            k = lo
            while p < mid and q < hi:
                if _box_less(boxes, src[q], src[p]):
                    dst[k] = src[q]
                    q += 1
                else:
                    dst[k] = src[p]
                    p += 1
                k += 1
            while p < mid:
                dst[k] = src[p]
                p += 1
                k += 1
            while q < hi:
                dst[k] = src[q]
                q += 1
                k += 1
        in_tmp = not in_tmp
        width *= 2
    if in_tmp:
        for k in range(n):
            idx[k] = tmp[k]


@njit(**JIT_OPTIONS)
def _sort_idx_desc(idx: np.ndarray, n: int, tmp: np.ndarray, key: np.ndarray) -> None:
    """Stable descending sort of ``idx[:n]`` by ``key[idx]`` (key must be NaN-free)."""
    for start in range(0, n, _SMALL_SORT):
        stop = min(start + _SMALL_SORT, n)
        for k in range(start + 1, stop):
            x = idx[k]
            kx = key[x]
            p = k - 1
            while p >= start and key[idx[p]] < kx:
                idx[p + 1] = idx[p]
                p -= 1
            idx[p + 1] = x
    width = _SMALL_SORT
    in_tmp = False
    while width < n:
        if in_tmp:
            src = tmp
            dst = idx
        else:
            src = idx
            dst = tmp
        for lo in range(0, n, 2 * width):
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            p = lo
            q = mid
            k = lo
            while p < mid and q < hi:
                if key[src[q]] > key[src[p]]:
                    dst[k] = src[q]
                    q += 1
                else:
                    dst[k] = src[p]
                    p += 1
                k += 1
            while p < mid:
                dst[k] = src[p]
                p += 1
                k += 1
            while q < hi:
                dst[k] = src[q]
                q += 1
                k += 1
        in_tmp = not in_tmp
        width *= 2
    if in_tmp:
        for k in range(n):
            idx[k] = tmp[k]


@njit(**JIT_OPTIONS)
def _max_group(offsets: np.ndarray) -> int:
    best = 0
    for i in range(offsets.shape[0] - 1):
        g = offsets[i + 1] - offsets[i]
        if g > best:
            best = g
    return best


# --------------------------------------------------------------------------------------------
# dedup
# --------------------------------------------------------------------------------------------


@njit(**JIT_OPTIONS)
def dedup_keep(pred_boxes: np.ndarray, pred_offsets: np.ndarray, keep: np.ndarray) -> None:
    """Per completion, set ``keep[r]`` False for exact coordinate duplicates after the first.

    Duplicates compare ``==`` on all four coordinates (so ``-0.0 == 0.0``); boxes with a NaN
    coordinate never equal anything and are always kept.  ``keep`` (P,) bool is fully written.
    O(P log P) via a stable lexicographic merge sort per completion.
    """
    for r in range(pred_boxes.shape[0]):
        keep[r] = True
    cap = _max_group(pred_offsets)
    idx = np.empty(cap, dtype=np.int64)
    tmp = np.empty(cap, dtype=np.int64)
    for g in range(pred_offsets.shape[0] - 1):
        lo = pred_offsets[g]
        hi = pred_offsets[g + 1]
        n = 0
        for r in range(lo, hi):
            if not (
                np.isnan(pred_boxes[r, 0])
                or np.isnan(pred_boxes[r, 1])
                or np.isnan(pred_boxes[r, 2])
                or np.isnan(pred_boxes[r, 3])
            ):
                idx[n] = r
                n += 1
        if n < 2:
            continue
        _sort_idx_by_box(idx, n, tmp, pred_boxes)
        # stable sort => within a run of equal boxes the first element has the smallest row index
        first = idx[0]
        for k in range(1, n):
            r = idx[k]
            if (
                pred_boxes[r, 0] == pred_boxes[first, 0]
                and pred_boxes[r, 1] == pred_boxes[first, 1]
                and pred_boxes[r, 2] == pred_boxes[first, 2]
                and pred_boxes[r, 3] == pred_boxes[first, 3]
            ):
                keep[r] = False
            else:
                first = r


# --------------------------------------------------------------------------------------------
# greedy matching
# --------------------------------------------------------------------------------------------


@njit(**JIT_OPTIONS)
def greedy_match(
    pred_boxes: np.ndarray,
    pred_scores: np.ndarray,
    pred_offsets: np.ndarray,
    gt_boxes: np.ndarray,
    gt_offsets: np.ndarray,
    threshold: float,
    pred_labels: np.ndarray,
    gt_labels: np.ndarray,
    use_labels: bool,
    active: np.ndarray,
    match_gt: np.ndarray,
    match_iou: np.ndarray,
) -> None:
    """Visual-RFT greedy matching per completion, written into ``match_gt`` (P,) int64 and
    ``match_iou`` (P,) float64 (fully overwritten).

    Active predictions are visited by descending score (stable; NaN scores count as -inf); each
    takes the still-free GT with the highest IoU (first on ties, IoU 0 never selects) and is
    matched iff that IoU is strictly greater than ``threshold``.  With ``use_labels`` a pair whose
    labels are both != -1 and differ has IoU 0.  ``pred_labels``/``gt_labels`` may be empty when
    ``use_labels`` is False.  Outputs are passed in (allocate them with numpy: numpy's large
    allocations use transparent huge pages, numba's do not, which costs page faults).
    """
    for r in range(pred_boxes.shape[0]):
        match_gt[r] = -1
        match_iou[r] = 0.0
    pcap = _max_group(pred_offsets)
    gcap = _max_group(gt_offsets)
    # per-completion scratch, allocated once
    cand = np.empty(pcap, dtype=np.int64)  # global row of each candidate (original order)
    okey = np.empty(pcap)  # sort key (score, NaN -> -inf)
    cx1 = np.empty(pcap)
    cy1 = np.empty(pcap)
    cx2 = np.empty(pcap)
    cy2 = np.empty(pcap)
    carea = np.empty(pcap)
    order = np.empty(pcap, dtype=np.int64)  # candidate positions by descending score
    tmp = np.empty(pcap, dtype=np.int64)
    taken = np.zeros(gcap, dtype=np.bool_)
    w = np.empty(pcap * gcap)  # IoU block, w[j * n + i]
    for g in range(pred_offsets.shape[0] - 1):
        plo = pred_offsets[g]
        phi = pred_offsets[g + 1]
        glo = gt_offsets[g]
        ng = gt_offsets[g + 1] - glo
        if ng == 0 or phi == plo:
            continue
        # Candidates: active predictions with a valid box (invalid boxes can never match and
        # never take a GT, so leaving them out does not change the result).
        n = 0
        for r in range(plo, phi):
            if active[r]:
                x1 = pred_boxes[r, 0]
                y1 = pred_boxes[r, 1]
                x2 = pred_boxes[r, 2]
                y2 = pred_boxes[r, 3]
                a = _box_area(x1, y1, x2, y2)
                if a >= 0.0:
                    s = pred_scores[r]
                    okey[n] = -_INF if np.isnan(s) else s
                    cand[n] = r
                    cx1[n] = x1
                    cy1[n] = y1
                    cx2[n] = x2
                    cy2[n] = y2
                    carea[n] = a
                    n += 1
        if n == 0:
            continue
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
                w[base + i] = iou if ok else 0.0
            if use_labels:
                lg = gt_labels[gr]
                if lg != -1:
                    for i in range(n):
                        lp = pred_labels[cand[i]]
                        if lp != -1 and lp != lg:
                            w[base + i] = 0.0
        if ng == 1:
            # Single GT: it goes to the first candidate in visiting order whose IoU qualifies,
            # i.e. the highest score (lowest position on ties) -- no sort needed.
            if taken[0]:
                continue
            ibest = -1
            kbest = -_INF
            for i in range(n):
                v = w[i]
                if v > 0.0 and v > threshold and (ibest < 0 or okey[i] > kbest):
                    ibest = i
                    kbest = okey[i]
            if ibest >= 0:
                match_gt[cand[ibest]] = glo
                match_iou[cand[ibest]] = w[ibest]
            continue
        # Stable descending order by score.  Small groups: branch-free rank sort.
        if n <= _SMALL_SORT:
            for i in range(n):
                ki = okey[i]
                rank = 0
                for j in range(n):
                    kj = okey[j]
                    rank += (kj > ki) | ((kj == ki) & (j < i))
                order[rank] = i
        else:
            for i in range(n):
                order[i] = i
            _sort_idx_desc(order, n, tmp, okey)
        n_free = 0
        for j in range(ng):
            if not taken[j]:
                n_free += 1
        for k in range(n):
            if n_free == 0:
                break
            i = order[k]
            best = 0.0
            jbest = -1
            for j in range(ng):
                v = w[j * n + i]
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
    """
    for r in range(pred_boxes.shape[0]):
        match_gt[r] = -1
        match_iou[r] = 0.0
    gcap = _max_group(gt_offsets)
    pcap = _max_group(pred_offsets)
    col_count = np.zeros(gcap, dtype=np.int64)
    row_count = np.zeros(pcap, dtype=np.int64)
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
                w = _iou_scalar(
                    pred_boxes[r, 0],
                    pred_boxes[r, 1],
                    pred_boxes[r, 2],
                    pred_boxes[r, 3],
                    gt_boxes[gr, 0],
                    gt_boxes[gr, 1],
                    gt_boxes[gr, 2],
                    gt_boxes[gr, 3],
                )
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
            iou, giou = _iou_giou_scalar(
                pred[i, 0],
                pred[i, 1],
                pred[i, 2],
                pred[i, 3],
                gt_boxes[gr, 0],
                gt_boxes[gr, 1],
                gt_boxes[gr, 2],
                gt_boxes[gr, 3],
            )
            if iou > best_iou:
                best_iou = iou
            if giou > best_giou:
                best_giou = giou
        out_iou[i] = best_iou
        out_giou[i] = best_giou
