"""Pure-Python, one-completion-at-a-time reimplementation of the Visual-RFT reward semantics.

Written from the published definitions of the Visual-RFT (arXiv 2503.01785) reward functions for
detection (IoU and confidence rewards), classification (accuracy) and the shared format reward, to serve
as the baseline in the benchmarks and agreement checks. It reproduces the reference's behaviour,
quirks included: the answer regex has no DOTALL, ``'`` is replaced by ``"`` before ``json.loads``,
truncated answers are repaired by cutting at the last ``},``, keys are case-sensitive (``Position`` /
``Confidence``), and any exception scores 0.0.

The reference first tries ``math_verify`` (symbolic verification) and only then the box rewards; the
benchmarks run with it switched off (``math_verify`` is not installed), so that step is omitted here.
On detection answers it would not score anything anyway, but it costs time in the original.
"""

from __future__ import annotations

import json
import re
from typing import Any

Completion = list[dict[str, Any]]
Bbox = dict[str, Any]

_ANSWER_RE = re.compile(r"<answer>(.*?)</answer>")  # no DOTALL, as in the reference
_FORMAT_RE = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)


def extract_bbox(text: str) -> Any:
    """Decode the JSON list between ``<answer>`` and ``</answer>`` (or the end); None if absent or invalid."""
    start_tag, end_tag = "<answer>", "</answer>"
    if start_tag not in text:
        return None
    start = text.find(start_tag) + len(start_tag)
    end = text.find(end_tag)
    if end == -1:
        end = len(text)
    content = text[start:end]
    if not content.endswith("]"):
        content = content.rsplit("},", 1)[0] + "}]"
    content = content.replace("'", '"')
    try:
        return json.loads(content)
    except json.JSONDecodeError:
        return None


def calculate_iou(box1: list[float], box2: list[float]) -> float:
    """IoU of two ``[x1, y1, x2, y2]`` boxes, 0 when they do not intersect."""
    x1, y1, x2, y2 = box1
    x1_2, y1_2, x2_2, y2_2 = box2
    xi1 = max(x1, x1_2)
    yi1 = max(y1, y1_2)
    xi2 = min(x2, x2_2)
    yi2 = min(y2, y2_2)
    if xi2 <= xi1 or yi2 <= yi1:
        return 0.0
    inter = (xi2 - xi1) * (yi2 - yi1)
    area1 = (x2 - x1) * (y2 - y1)
    area2 = (x2_2 - x1_2) * (y2_2 - y1_2)
    union = area1 + area2 - inter
    return inter / union


def sort_and_calculate_iou(gt: list[Bbox], pred: list[Bbox], iou_threshold: float = 0.5) -> list[tuple]:
    """Greedy matching: predictions by descending confidence take their best unmatched ground-truth box."""
    pred_sorted = sorted(pred, key=lambda x: x["Confidence"], reverse=True)
    results: list[tuple] = []
    matched: set[int] = set()
    for p in pred_sorted:
        best_iou = 0
        best_j = -1
        for i, g in enumerate(gt):
            if i not in matched:
                iou = calculate_iou(g["Position"], p["Position"])
                if iou > best_iou:
                    best_iou = iou
                    best_j = i
        if best_iou > iou_threshold:
            results.append((best_iou, p["Confidence"]))
            matched.add(best_j)
        else:
            results.append((0, p["Confidence"]))
    return results


def remove_duplicates(bboxes: list[Bbox]) -> list[Bbox]:
    """Drop boxes whose ``Position`` repeats an earlier one (the first is kept)."""
    seen: set[tuple] = set()
    unique = []
    for b in bboxes:
        key = tuple(b["Position"])
        if key not in seen:
            seen.add(key)
            unique.append(b)
    return unique


def compute_reward_iou(results: list[tuple], len_gt: int) -> float:
    """Sum of matched IoUs over ``max(len_gt, len(results))``."""
    total = 0.0
    for iou, _conf in results:
        total += iou
    return total / len_gt if len_gt >= len(results) else total / len(results)


def compute_reward_confidence(results: list[tuple]) -> float:
    """Mean of ``conf`` on matches and ``(1 - iou) * (1 - conf)`` on misses."""
    total = 0.0
    for iou, conf in results:
        total += conf if iou != 0 else (1 - iou) * (1 - conf)
    return total / len(results)


def _student_answer(content: str) -> str:
    m = _ANSWER_RE.search(content)
    student = m.group(1).strip() if m else content.strip()
    student = "<answer>" + student + "</answer>"
    return student.replace("[[", "[").replace("]]", "]").replace("\n", "")


def _iou_results(content: str, sol: str) -> tuple[list[tuple], int] | None:
    """Matching results and the ground-truth count, or None when the answer is unusable (reward 0)."""
    gt = extract_bbox(sol.strip())
    pred = extract_bbox(_student_answer(content))
    if pred is None or type(pred[0]) is not dict:
        return None
    pred = remove_duplicates(pred)
    return sort_and_calculate_iou(gt, pred), len(gt)


def accuracy_reward_iou(completions: list[Completion], solution: list[str], **kwargs: Any) -> list[float]:
    """Visual-RFT detection IoU reward, clipped to [0, 1]."""
    rewards = []
    for completion, sol in zip(completions, solution, strict=False):
        reward = 0.0
        try:
            out = _iou_results(completion[0]["content"], sol)
            if out is not None:
                reward = min(max(compute_reward_iou(*out), 0.0), 1.0)
        except Exception:
            reward = 0.0
        rewards.append(reward)
    return rewards


def accuracy_reward_confidence(
    completions: list[Completion], solution: list[str], **kwargs: Any
) -> list[float]:
    """Visual-RFT detection confidence reward, clipped to [0, 1]."""
    rewards = []
    for completion, sol in zip(completions, solution, strict=False):
        reward = 0.0
        try:
            out = _iou_results(completion[0]["content"], sol)
            if out is not None:
                reward = min(max(compute_reward_confidence(out[0]), 0.0), 1.0)
        except Exception:
            reward = 0.0
        rewards.append(reward)
    return rewards


def format_reward(completions: list[Completion], **kwargs: Any) -> list[float]:
    """1.0 iff the whole completion is ``<think>...</think> <answer>...</answer>``."""
    return [1.0 if _FORMAT_RE.fullmatch(c[0]["content"]) else 0.0 for c in completions]


def accuracy_reward_classification(
    completions: list[Completion], solution: list[str], **kwargs: Any
) -> list[float]:
    """Visual-RFT classification reward: normalised substring match either way round."""
    rewards = []
    for completion, sol in zip(completions, solution, strict=False):
        reward = 0.0
        try:
            content = completion[0]["content"]
            m = _ANSWER_RE.search(sol)
            gt = m.group(1).strip() if m else sol.strip()
            m = _ANSWER_RE.search(content)
            student = m.group(1).strip() if m else content.strip()
            gt = gt.replace(" ", "").replace("_", "").lower()
            student = student.replace(" ", "").replace("_", "").lower()
            if gt in student or student in gt:
                reward = 1.0
        except Exception:
            reward = 0.0
        rewards.append(reward)
    return rewards


def calculate_giou(box1: list[float], box2: list[float]) -> float:
    """GIoU of two ``[x1, y1, x2, y2]`` boxes: IoU minus the enclosing box's share not covered by the union."""
    (x1, y1, x2, y2), (u1, v1, u2, v2) = box1, box2
    width, height = min(x2, u2) - max(x1, u1), min(y2, v2) - max(y1, v1)
    inter = width * height if width > 0 and height > 0 else 0.0
    union = (x2 - x1) * (y2 - y1) + (u2 - u1) * (v2 - v1) - inter
    enclosing = (max(x2, u2) - min(x1, u1)) * (max(y2, v2) - min(y1, v1))
    return inter / union - (enclosing - union) / enclosing


def accuracy_reward_giou(completions: list[Completion], solution: list[str], **kwargs: Any) -> list[float]:
    """The paper's grounding reward, GIoU + 1 in [0, 2], with this module's answer reading: the first predicted
    box against its best ground-truth box (not in the published Visual-RFT code: the definition of
    ``vreward.visual_rft.giou_reward`` written the way the detection rewards above are)."""
    rewards = []
    for completion, sol in zip(completions, solution, strict=False):
        reward = 0.0
        try:
            gt = extract_bbox(sol.strip())
            pred = extract_bbox(_student_answer(completion[0]["content"]))
            if pred is not None and type(pred[0]) is dict:
                box = pred[0]["Position"]
                reward = max(calculate_giou(box, g["Position"]) for g in gt) + 1.0
        except Exception:
            reward = 0.0
        rewards.append(reward)
    return rewards


DETECTION_REWARDS = (accuracy_reward_iou, accuracy_reward_confidence, format_reward)
