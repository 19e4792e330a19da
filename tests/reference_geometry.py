"""Plain-Python reference IoU / GIoU (Visual-RFT's operation order plus vreward's validity rules), for tests."""

from __future__ import annotations

import math


def ref_area(b: tuple[float, float, float, float]) -> float | None:
    x1, y1, x2, y2 = (float(v) for v in b)
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        return None
    if not (x2 > x1 and y2 > y1):
        return None
    area = (x2 - x1) * (y2 - y1)
    return area if math.isfinite(area) else None


def ref_iou(a, b) -> float:
    area_a, area_b = ref_area(a), ref_area(b)
    if area_a is None or area_b is None:
        return 0.0
    ax1, ay1, ax2, ay2 = (float(v) for v in a)
    bx1, by1, bx2, by2 = (float(v) for v in b)
    xi1 = max(ax1, bx1)
    yi1 = max(ay1, by1)
    xi2 = min(ax2, bx2)
    yi2 = min(ay2, by2)
    if xi2 <= xi1 or yi2 <= yi1:
        return 0.0
    inter = (xi2 - xi1) * (yi2 - yi1)
    union = area_a + area_b - inter
    if not (math.isfinite(union) and union > 0):
        return 0.0
    return inter / union


def ref_giou(a, b) -> float:
    area_a, area_b = ref_area(a), ref_area(b)
    if area_a is None or area_b is None:
        return -1.0
    ax1, ay1, ax2, ay2 = (float(v) for v in a)
    bx1, by1, bx2, by2 = (float(v) for v in b)
    xi1 = max(ax1, bx1)
    yi1 = max(ay1, by1)
    xi2 = min(ax2, bx2)
    yi2 = min(ay2, by2)
    inter = 0.0
    if xi2 > xi1 and yi2 > yi1:
        inter = (xi2 - xi1) * (yi2 - yi1)
    union = area_a + area_b - inter
    iou = inter / union if (math.isfinite(union) and union > 0) else 0.0
    c = (max(ax2, bx2) - min(ax1, bx1)) * (max(ay2, by2) - min(ay1, by1))
    if not (math.isfinite(c) and c > 0 and math.isfinite(union)):
        return iou
    return iou - (c - union) / c
