"""Kernels on COCO run-length encodings (RLE): decoding compressed counts, overlaps of two masks, pixel lookups.

A mask of an ``h`` x ``w`` image is a list of run lengths over its pixels in column-major order, alternately
background and foreground, starting with background (COCO's RLE). Its compressed form (pycocotools' ``counts``
bytes) writes each run as a little-endian sequence of 5-bit groups, offset by 48 into printable ASCII, bit 0x20
meaning "more groups follow" and bit 0x10 of the last group the sign; from the fourth run on, each run is written
as its difference from the run two before.

One file, like ``vreward._scan`` and ``vreward._kernels``: every kernel here calls only kernels and reads only
constants of this module (numba's disk cache checks a kernel against its own source file only;
``tests/test_kernel_modules.py``). Kernels allocate nothing: callers pass the output arrays.
"""

from __future__ import annotations

import numpy as np
from numba import njit

JIT_OPTIONS = {"cache": True, "error_model": "numpy", "_nrt": False}

CHAR_OFFSET = 48  # compressed counts are written from '0'
GROUP_BITS = 5
GROUP_MASK = 0x1F
MORE_BIT = 0x20
SIGN_BIT = 0x10
CHAR_RANGE = 64  # characters '0' ... 'o'
DELTA_FROM = 3  # runs from this index on are written as differences from the run DELTA_BACK before
DELTA_BACK = 2
MAX_GROUPS = 12  # 5-bit groups of one run (60 bits); longer is no valid mask


@njit(**JIT_OPTIONS)
def _decode_one(buf, s, e, runs, nq):
    """Decode the counts ``buf[s:e]`` into runs from row ``nq``. Returns (the row after the last run, valid):
    invalid for a character outside the encoding, a truncated number, or a negative run; runs past the capacity
    are counted (each ends at a character without MORE_BIT), not decoded."""
    start = nq
    p = s
    while p < e:
        x = np.int64(0)
        k = 0
        more = True
        while more:
            if p >= e:
                return nq, False
            c = np.int64(buf[p]) - CHAR_OFFSET
            if c < 0 or c >= CHAR_RANGE or k >= MAX_GROUPS:
                return nq, False
            x |= (c & GROUP_MASK) << (GROUP_BITS * k)
            more = (c & MORE_BIT) != 0
            p += 1
            k += 1
            if not more and (c & SIGN_BIT) != 0:
                x |= np.int64(-1) << (GROUP_BITS * k)
        if nq < runs.shape[0]:
            if nq - start >= DELTA_FROM:
                x += runs[nq - DELTA_BACK]
            if x < 0:
                return nq, False
            runs[nq] = x
        nq += 1
    return nq, True


@njit(**JIT_OPTIONS)
def _spans_in(buf, starts, ends):
    """Every span ``starts[r]:ends[r]`` lies in ``buf``."""
    for r in range(starts.shape[0]):
        if not 0 <= starts[r] <= ends[r] <= buf.shape[0]:
            return False
    return True


@njit(**JIT_OPTIONS)
def decode_into(buf, starts, ends, row0, offsets, valid, runs):
    """Decode the compressed counts ``buf[starts[r]:ends[r]]`` of rows ``r >= row0`` into caller-owned arrays: row
    r owns ``runs[offsets[r]:offsets[r + 1]]``; ``valid[r]`` is False (and the row empty) for counts that are not
    a valid encoding. ``offsets[row0]`` must hold the runs before ``row0``.

    Returns the number of rows done: ``len(starts)``, or the first row whose runs did not fit (``offsets[r + 1]``
    then holds the capacity needed); -1 (nothing written) when an array is too small or a span is out of the buffer."""
    nrows = starts.shape[0]
    cap = runs.shape[0]
    if ends.shape[0] < nrows or offsets.shape[0] < nrows + 1 or valid.shape[0] < nrows or not 0 <= row0 <= nrows \
            or not _spans_in(buf, starts, ends):
        return -1
    nq = offsets[row0]
    for r in range(row0, nrows):
        end_nq, ok = _decode_one(buf, starts[r], ends[r], runs, nq)
        if end_nq > cap:
            offsets[r + 1] = end_nq
            return r
        valid[r] = ok
        if ok:
            nq = end_nq
        offsets[r + 1] = nq
    return nrows


@njit(**JIT_OPTIONS)
def _area(runs, lo, hi):
    total = np.int64(0)
    for k in range(lo + 1, hi, 2):
        total += runs[k]
    return total


@njit(**JIT_OPTIONS)
def _intersection(runs, a_lo, a_hi, b_lo, b_hi):
    """Pixels in the foreground of both masks ``runs[a_lo:a_hi]`` and ``runs[b_lo:b_hi]``."""
    total = np.int64(0)
    i = a_lo
    j = b_lo
    left_a = runs[i] if i < a_hi else np.int64(0)
    left_b = runs[j] if j < b_hi else np.int64(0)
    while i < a_hi and j < b_hi:
        if left_a == 0:
            i += 1
            if i < a_hi:
                left_a = runs[i]
            continue
        if left_b == 0:
            j += 1
            if j < b_hi:
                left_b = runs[j]
            continue
        step = min(left_a, left_b)
        if (i - a_lo) % 2 == 1 and (j - b_lo) % 2 == 1:
            total += step
        left_a -= step
        left_b -= step
    return total


@njit(**JIT_OPTIONS)
def overlaps_into(runs, offsets, a, b, inter, area_a, area_b):
    """For each pair ``k`` of masks (rows ``a[k]`` and ``b[k]`` of the runs ``runs[offsets[r]:offsets[r + 1]]``):
    the pixels of their intersection and of each. Returns the number of pairs, -1 when an array is too small."""
    n = a.shape[0]
    if b.shape[0] < n or inter.shape[0] < n or area_a.shape[0] < n or area_b.shape[0] < n:
        return -1
    rows = offsets.shape[0] - 1
    for k in range(n):
        if not (0 <= a[k] < rows and 0 <= b[k] < rows):
            return -1
        a_lo, a_hi = offsets[a[k]], offsets[a[k] + 1]
        b_lo, b_hi = offsets[b[k]], offsets[b[k] + 1]
        inter[k] = _intersection(runs, a_lo, a_hi, b_lo, b_hi)
        area_a[k] = _area(runs, a_lo, a_hi)
        area_b[k] = _area(runs, b_lo, b_hi)
    return n


@njit(**JIT_OPTIONS)
def pixels_into(runs, offsets, rows, index, out):
    """Whether pixel ``index[k]`` (column-major) lies in the foreground of mask ``rows[k]``; False past the
    mask's end. Returns the number of lookups, -1 when an array is too small or a row is out of range."""
    n = rows.shape[0]
    if index.shape[0] < n or out.shape[0] < n:
        return -1
    nrows = offsets.shape[0] - 1
    for k in range(n):
        r = rows[k]
        if not 0 <= r < nrows:
            return -1
        at = np.int64(0)
        inside = False
        for q in range(offsets[r], offsets[r + 1]):
            at += runs[q]
            if index[k] < at:
                inside = (q - offsets[r]) % 2 == 1
                break
        out[k] = inside
    return n
