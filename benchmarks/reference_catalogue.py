"""Plain-Python ports of the published reward code behind the catalogue, one completion at a time, for
``bench_catalogue.py``: each reads the answer with the regex its source uses and scores it in Python.

Sources: GUI-G2's ``gaussian_point_reward`` (``ZJU-REAL/GUI-G2``, ``src/gui_g2/src/open_r1/gaussian_grpo.py``: the
predicted box's centre, sigma = 0.5 * target size, rounded to 3 decimals); a GUI-R1-style click (a point regex,
inside the box edges included); VLM-R1's ``odLength_reward`` (pycocotools' ``COCOeval`` per completion, every score
1.0, times min(1, G / P)); a Hungarian multi-object F1 (scipy per completion, IoU in Python); counting by the first
integer; OCR by a Python Levenshtein table; temporal IoU of "S to E"; mask IoU by pycocotools per sample; rotated
IoU by shapely polygons per pair.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re

BOX = re.compile(r"\[(\s*-?\d*\.?\d+\s*),\s*(\s*-?\d*\.?\d+\s*),\s*(\s*-?\d*\.?\d+\s*),\s*(\s*-?\d*\.?\d+\s*)\]")
POINT = re.compile(r"\[\s*(-?\d*\.?\d+)\s*,\s*(-?\d*\.?\d+)\s*\]")
ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
INTEGER = re.compile(r"\d+")
SPAN = re.compile(r"(\d+\.?\d*)\s*to\s*(\d+\.?\d*)")


def _answer(text: str) -> str:
    found = ANSWER.findall(text)
    return found[-1].strip() if found else text


def gaussian_point(completions: list[str], solutions: list[list[float]]) -> list[float]:
    out = []
    for text, gt in zip(completions, solutions):
        reward = 0.0
        match = BOX.search(_answer(text))
        try:
            if match:
                x1, y1, x2, y2 = (float(match.group(k)) for k in range(1, 5))
                gx1, gy1, gx2, gy2 = gt
                sx, sy = 0.5 * (gx2 - gx1), 0.5 * (gy2 - gy1)
                dx = (x1 + x2) / 2 - (gx1 + gx2) / 2
                dy = (y1 + y2) / 2 - (gy1 + gy2) / 2
                reward = round(math.exp(-0.5 * (dx * dx / (sx * sx) + dy * dy / (sy * sy))), 3)
        except Exception:
            pass
        out.append(reward)
    return out


def click(completions: list[str], solutions: list[list[float]]) -> list[float]:
    out = []
    for text, (x1, y1, x2, y2) in zip(completions, solutions):
        match = POINT.search(_answer(text))
        ok = False
        if match:
            x, y = float(match.group(1)), float(match.group(2))
            ok = x1 <= x <= x2 and y1 <= y <= y2
        out.append(1.0 if ok else 0.0)
    return out


def _boxes(text: str) -> list[list[float]]:
    try:
        return [list(map(float, b)) for b in json.loads(_answer(text))]
    except Exception:
        return []


def _iou(a: list[float], b: list[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def detection_f1(completions: list[str], solutions: list[list[list[float]]], threshold: float = 0.5) -> list[float]:
    from scipy.optimize import linear_sum_assignment

    out = []
    for text, gt in zip(completions, solutions):
        pred = _boxes(text)
        if not pred or not gt:
            out.append(1.0 if not pred and not gt else 0.0)
            continue
        m = [[_iou(p, g) if _iou(p, g) > threshold else 0.0 for g in gt] for p in pred]
        rows, cols = linear_sum_assignment(m, maximize=True)
        tp = sum(1 for r, c in zip(rows, cols) if m[r][c] > 0)
        out.append(2 * tp / (len(pred) + len(gt)))
    return out


def odlength(completions: list[str], solutions: list[list[list[float]]]) -> list[float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    out = []
    for text, gt in zip(completions, solutions):
        pred = _boxes(text)
        if not pred or not gt:
            out.append(1.0 if not pred and not gt else 0.0)
            continue
        with contextlib.redirect_stdout(io.StringIO()):
            coco = COCO()
            coco.dataset = {"images": [{"id": 0, "width": 2048, "height": 2048}], "categories": [{"id": 0}],
                            "annotations": [{"id": k + 1, "image_id": 0, "category_id": 0, "iscrowd": 0,
                                             "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                                             "area": (b[2] - b[0]) * (b[3] - b[1])} for k, b in enumerate(gt)]}
            coco.createIndex()
            dets = coco.loadRes([{"image_id": 0, "category_id": 0, "score": 1.0,
                                  "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]]} for b in pred])
            ev = COCOeval(coco, dets, "bbox")
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        out.append(ev.stats[0] * (1.0 if len(gt) >= len(pred) else len(gt) / len(pred)))
    return out


def count(completions: list[str], solutions: list[int]) -> list[float]:
    out = []
    for text, gt in zip(completions, solutions):
        match = INTEGER.search(_answer(text))
        out.append(1.0 if match and int(match.group()) == gt else 0.0)
    return out


def _levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def ocr(completions: list[str], solutions: list[str]) -> list[float]:
    out = []
    for text, gt in zip(completions, solutions):
        a, b = _answer(text).lower(), gt.lower()
        longest = max(len(a), len(b))
        out.append(1.0 - _levenshtein(a, b) / longest if longest else 1.0)
    return out


def temporal(completions: list[str], solutions: list[tuple[float, float]]) -> list[float]:
    out = []
    for text, (ts, te) in zip(completions, solutions):
        match = SPAN.search(_answer(text))
        if not match:
            out.append(0.0)
            continue
        s, e = float(match.group(1)), float(match.group(2))
        inter = max(0.0, min(e, te) - max(s, ts))
        union = max(e, te) - min(s, ts)
        out.append(inter / union if union > 0 else 0.0)
    return out


def mask_iou(completions: list[str], solutions: list[list[float]], h: int, w: int) -> list[float]:
    from pycocotools import mask as mask_utils

    out = []
    for text, poly in zip(completions, solutions):
        try:
            pred = json.loads(_answer(text))
            a = mask_utils.merge(mask_utils.frPyObjects([pred], h, w))
            b = mask_utils.merge(mask_utils.frPyObjects([poly], h, w))
            out.append(float(mask_utils.iou([a], [b], [0])[0, 0]))
        except Exception:
            out.append(0.0)
    return out


def _rotated_polygon(cx: float, cy: float, w: float, h: float, angle: float):
    from shapely.geometry import Polygon

    a = math.radians(angle)
    c, s = math.cos(a), math.sin(a)
    corners = [(dx * c - dy * s + cx, dx * s + dy * c + cy) for dx, dy in
               ((w / 2, h / 2), (-w / 2, h / 2), (-w / 2, -h / 2), (w / 2, -h / 2))]
    return Polygon(corners)


def rotated_iou(completions: list[str], solutions: list[list[float]]) -> list[float]:
    out = []
    for text, gt in zip(completions, solutions):
        try:
            pred = _rotated_polygon(*json.loads(_answer(text)))
            true = _rotated_polygon(*gt)
            inter = pred.intersection(true).area
            out.append(inter / (pred.area + true.area - inter))
        except Exception:
            out.append(0.0)
    return out
