"""Coordinate-frame mismatches evident from the numbers, reported with the frame or family they fit instead."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from vreward.arrays import largest_coordinates
from vreward.frames.families import FAMILIES, FamilySpec
from vreward.frames.table import frame_spec, same_frame

SAMPLE = 4096
# Fixed scales a model may answer in, smallest first: (largest value, words, frames of that scale).
SCALES: tuple[tuple[float, str, tuple[str, ...]], ...] = (
    (1.0, "0-1 units", ("unit",)),
    (100.0, "percent 0-100", ("percent",)),
    (1000.0, "0-1000 (or 0-999) relative coordinates", ("rel1000", "rel999")),
    (1024.0, "1024 location bins", ("bins1024",)),
)


def check_frames(pred: np.ndarray, pred_offsets: np.ndarray, gt: np.ndarray, coords: str | None,
                 extents: tuple[np.ndarray, np.ndarray] | None, family: FamilySpec | None = None,
                 gt_offsets: np.ndarray | None = None) -> Iterator[tuple[str, str]]:
    """Yield (key, message) for each mismatch the batch shows; silent when the numbers are consistent.

    ``pred`` (P, 4) / ``gt`` (G, 4) in the model's frame ``coords``, ``extents`` its per-row extents. A mismatch
    of frames shows on any sample of boxes: the first ``SAMPLE`` boxes of each side are read. With the model's
    ``family`` (and ``gt_offsets``) the messages name the family, and boxes that fit the ground truth far better
    with x and y swapped are reported (a family that writes y first answering x first, or the reverse).
    """
    all_pred, all_gt = pred, gt
    pred, gt = pred[:SAMPLE], gt[:SAMPLE]
    pred_max = largest_coordinates(pred)
    finite = np.isfinite(pred_max)  # boxes with four finite coordinates
    if not finite.any():
        return
    p_max = pred_max[finite]
    top = float(p_max.max())
    if coords is not None:
        expects = frame_spec(coords)
        who = f"family {family.name!r} ({family.title}, coords={family.frame!r})" if family else f"coords={coords!r}"
        largest = expects.largest
        if (largest is None or largest > 1.0) and 0.0 < top <= 1.0:
            yield ("unit", f"all predicted coordinates are <= 1 but {who} expects {expects.range}: the model answers "
                   f"in 0-1 units; use coords='unit'{_families_of(('unit',))}")
        elif largest == 1.0 and top > 1.5:
            yield ("not-unit", f"predicted coordinates reach {top:g} but {who} expects 0-1: "
                   f"these look like {_scale_of(p_max)}")
        elif largest is not None and largest > 1.0 and (p_max > largest * 1.02).mean() > 0.5:
            yield (f"beyond-{largest:g}", f"most predicted boxes extend beyond {largest:g} although {who} expects "
                   f"{expects.range}: these look like {_scale_of(p_max)}")
        elif largest is None and extents is not None:
            p = pred[finite]
            rows = np.repeat(np.arange(len(pred_offsets) - 1), np.diff(pred_offsets))[:SAMPLE][finite]
            beyond = (np.maximum(p[:, 0], p[:, 2]) > extents[0][rows] * 1.02) | \
                     (np.maximum(p[:, 1], p[:, 3]) > extents[1][rows] * 1.02)
            if beyond.mean() > 0.5:
                yield ("beyond-image", f"most predicted boxes extend beyond the image ({who}): Qwen2-VL, Qwen3-VL and "
                       "most families answer in 0-1000 (coords='rel1000'); Qwen2.5-VL in pixels of the resized "
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
    elif family is not None and gt_offsets is not None:
        yield from _axis_order(all_pred, pred_offsets, all_gt, gt_offsets, family)


def _scale_of(p_max: np.ndarray) -> str:
    """The smallest fixed scale holding most boxes, with the families answering in it; else pixels."""
    bulk = float(np.quantile(p_max, 0.9))
    for largest, words, frames in SCALES:
        if bulk <= largest * 1.02:
            return f"{words}{_families_of(frames)}"
    return ("pixels: Qwen2.5-VL (and MiMo-VL) answer in pixels of the resized image (family='qwen25vl', "
            "coords='qwen25vl'), coords='pixels' is the original image")


def _families_of(frames: tuple[str, ...]) -> str:
    names = [f"{spec.name!r}" for spec in FAMILIES.values() if any(same_frame(spec.frame, f) for f in frames)]
    coords = " or ".join(f"coords={f!r}" for f in frames)
    return f" ({coords}; families {', '.join(names)})" if names else f" ({coords})"


def _axis_order(pred: np.ndarray, pred_offsets: np.ndarray, gt: np.ndarray, gt_offsets: np.ndarray,
                family: FamilySpec) -> Iterator[tuple[str, str]]:
    """The first box of each row against its ground truth, as read and with x and y swapped (the rows whose
    boxes lie within the first ``SAMPLE`` of each side)."""
    from vreward.matching import paired_best_iou

    n = int(np.searchsorted(np.maximum(pred_offsets, gt_offsets), SAMPLE, side="right")) - 1
    if n < 3:
        return
    starts, g_offsets = pred_offsets[:n], gt_offsets[:n + 1]
    has = (np.diff(pred_offsets[:n + 1]) > 0) & (np.diff(g_offsets) > 0)
    if has.sum() < 3:
        return
    first = np.zeros((n, 4))
    first[has] = pred[starts[has]]
    truth = gt[:g_offsets[-1]]
    as_read = paired_best_iou(first, has, truth, g_offsets)[has]
    swapped = paired_best_iou(first[:, [1, 0, 3, 2]], has, truth, g_offsets)[has]
    if (swapped > as_read + 0.2).mean() > 0.5 and float(swapped.mean()) > 0.3:
        syntax = family.answer_syntax
        if syntax.y_first:
            message = (f"family {family.name!r} writes y before x ({syntax.boxes}), but most boxes fit the ground "
                       "truth far better read x first: the model writes x first")
        else:
            message = (f"most boxes fit the ground truth far better with x and y swapped: the model writes y before "
                       f"x, which family {family.name!r} ({family.title}) does not (PaliGemma does: "
                       "family='paligemma')")
        yield ("axis-order", message)
