"""Coordinate-frame mismatches evident from the numbers, reported with the fix."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from vreward.arrays import largest_coordinates
from vreward.frames.table import frame_spec

SAMPLE = 4096


def check_frames(pred: np.ndarray, pred_offsets: np.ndarray, gt: np.ndarray, coords: str | None,
                 extents: tuple[np.ndarray, np.ndarray] | None) -> Iterator[tuple[str, str]]:
    """Yield (key, message) for each mismatch the batch shows; silent when the numbers are consistent.

    A mismatch of frames shows on any sample of boxes: the first ``SAMPLE`` boxes of each side are read.
    """
    pred, gt = pred[:SAMPLE], gt[:SAMPLE]
    pred_max = largest_coordinates(pred)
    finite = np.isfinite(pred_max)  # boxes with four finite coordinates
    if not finite.any():
        return
    p_max = pred_max[finite]
    top = float(p_max.max())
    if coords is not None:
        if coords != "unit" and 0.0 < top <= 1.0:
            yield ("unit", f"all predicted coordinates are <= 1 but coords={coords!r} expects "
                   f"{frame_spec(coords).range}: the model answers in 0-1 units; use coords='unit'")
        elif coords == "unit" and top > 1.5:
            yield ("not-unit", f"predicted coordinates reach {top:g} but coords='unit' expects 0-1; Qwen2-VL "
                   "answers in 0-1000 (coords='qwen2vl'), Qwen2.5-VL in resized-image pixels (coords='qwen25vl')")
        elif coords == "qwen2vl" and (p_max > 1000.0 * 1.02).mean() > 0.5:
            yield ("beyond-1000", "most predicted boxes extend beyond 1000 although coords='qwen2vl' expects "
                   "0-1000: the model answers in pixels (Qwen2.5-VL); use coords='qwen25vl'")
        elif coords in ("pixels", "qwen25vl") and extents is not None:
            p = pred[finite]
            rows = np.repeat(np.arange(len(pred_offsets) - 1), np.diff(pred_offsets))[:SAMPLE][finite]
            beyond = (np.maximum(p[:, 0], p[:, 2]) > extents[0][rows] * 1.02) | \
                     (np.maximum(p[:, 1], p[:, 3]) > extents[1][rows] * 1.02)
            if beyond.mean() > 0.5:
                yield ("beyond-image", f"most predicted boxes extend beyond the image ({coords!r} frame): "
                       "Qwen2-VL answers in 0-1000 (coords='qwen2vl'); Qwen2.5-VL in pixels of the resized "
                       "image (coords='qwen25vl'), not of the original (coords='pixels')")
    g_max = largest_coordinates(gt)
    g_max = g_max[np.isfinite(g_max)]
    if not len(g_max):
        return
    g_top = float(g_max.max())
    if g_top > 10.0 and top <= 1.0:
        yield ("scale", "predictions are in 0-1 units but the ground truth is not: pass coords='unit' and "
               "solution_coords= the ground truth's frame")
    elif g_top <= 1.0 and (p_max > 10.0).mean() > 0.5:
        yield ("scale", "the ground truth is in 0-1 units but the predictions are not: pass "
               "solution_coords='unit' and coords= the model's frame")

